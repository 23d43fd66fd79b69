// The receiving half of an encrypted channel: a small state machine over the
// bytes of each socket read. Each read is opened in one WASM call (every
// complete record), then the plaintext is scanned for frames in one more call.
// What does not complete is carried to the next read:
//   - a partial record (ciphertext, < 65537 bytes),
//   - a partial frame of at most PLAIN_CARRY_MAX bytes (plaintext), or
//   - a large frame being assembled straight into its own payload buffer, so
//     a 16 MiB message is copied once, not once per read.
import { bufferView } from '../core/bytes.js'
import { P4Error } from '../core/errors.js'
import { FrameError, HEADER_SIZE, HDR_FLAGS, HDR_HOPS, HDR_LENGTH, HDR_MSGID, HDR_PLUGIN, HDR_TYPE } from '../core/protocol.js'
import { channelScratch, OpenError, PLAIN_CARRY_MAX, type ChannelScratch } from '../wasm/channel.js'
import { DESC_WORDS, ScanStop } from '../wasm/frame.js'
import { openRecord } from './node-records.js'

/** One received frame. The payload is a view the receiver will not touch again. */
export interface Frame {
  type: number
  flags: number
  hops: number
  pluginId: number
  /** High and low 32 bits of the 64-bit message ID (no bigint on the hot path). */
  idHi: number
  idLo: number
  payload: Uint8Array
}

/** 2^53: the record counter stays an exact JS number; the session closes first. */
export const MAX_RECORDS = Number.MAX_SAFE_INTEGER

/**
 * Records (and sent payloads) of at least this many bytes go through
 * node:crypto; smaller ones through the WASM kernel. Set from the measured
 * crossover (bench/aead: node:crypto's fixed per-call cost against the WASM
 * kernel's throughput).
 */
export const DEFAULT_NODE_CRYPTO_THRESHOLD = 16 * 1024

interface BigFrame {
  type: number
  flags: number
  hops: number
  pluginId: number
  idHi: number
  idLo: number
  payload: Buffer
  filled: number
}

export class Receiver {
  counter = 0
  framesIn = 0
  recordsIn = 0
  private readonly key: Uint8Array
  private readonly maxPayload: number
  private readonly onFrame: (f: Frame) => void
  private cipherCarry: Uint8Array | null = null
  private plainCarry: Uint8Array | null = null
  private big: BigFrame | null = null
  private failed: P4Error | null = null
  private readonly s: ChannelScratch

  /** Records sealed at least this long are opened with node:crypto. */
  private readonly largeRecord: number

  constructor(key: Uint8Array, maxPayload: number, onFrame: (f: Frame) => void, largeRecord = DEFAULT_NODE_CRYPTO_THRESHOLD, scratch = channelScratch()) {
    this.key = key
    this.largeRecord = Math.max(16, largeRecord)
    this.maxPayload = maxPayload
    this.onFrame = onFrame
    this.s = scratch
  }

  /** True when bytes of an unfinished record or frame are held. */
  get midFrame(): boolean {
    return this.cipherCarry !== null || this.plainCarry !== null || this.big !== null
  }

  /**
   * Forgets a partial record (its Conn is gone; the peer sends the whole
   * record again on the next one). Frame state from records already opened
   * is kept: the record stream continues where it stopped.
   */
  dropPartialRecord(): void {
    this.cipherCarry = null
  }

  /** Bytes held between reads (for stats and memory bounds). */
  get buffered(): number {
    return (this.cipherCarry?.length ?? 0) + (this.plainCarry?.length ?? 0) + (this.big?.payload.length ?? 0)
  }

  /**
   * Feeds one read. Throws P4Error (DECRYPT_FAILED, BAD_FRAME,
   * MESSAGE_TOO_LARGE, NONCE_EXHAUSTED) on the first bad byte; the receiver
   * is unusable afterwards.
   */
  push(chunk: Uint8Array): void {
    if (this.failed) throw this.failed
    try {
      let from = 0
      while (from < chunk.length) {
        const s = this.s
        s.setKey(this.key)
        const inLen = s.loadCipher(this.cipherCarry, chunk, from)
        from += s.taken
        this.cipherCarry = null
        let at = 0
        for (;;) {
          // Every complete small record in one WASM call.
          const plainStart = this.plainCarry !== null ? s.loadPlain(this.plainCarry) : 0
          const records = s.open(this.counter, at, inLen - at, plainStart, Math.min(this.largeRecord - 1, 0xffff))
          this.counter += records
          this.recordsIn += records
          at += s.consumed
          if (s.error !== OpenError.NONE) throw this.recordError(s.error)
          if (s.plainLen > 0) {
            this.plainCarry = null
            this.plaintext(plainStart + s.plainLen)
          }
          // A complete large record: node:crypto opens it, then on again.
          if (inLen - at < 2) break
          const sealed = s.recordLength(at)
          if (sealed < this.largeRecord || inLen - at - 2 < sealed) break
          const pt = openRecord(this.key, this.counter, s.cipherView(at + 2, at + 2 + sealed))
          if (pt === null) throw this.recordError(OpenError.AUTH)
          this.counter++
          this.recordsIn++
          at += 2 + sealed
          this.plaintextFrom(pt)
          s.setKey(this.key)
        }
        if (this.counter >= MAX_RECORDS) throw new P4Error('NONCE_EXHAUSTED', 'receive nonce space exhausted')
        if (at < inLen) this.cipherCarry = s.cipherSlice(at, inLen)
      }
    } catch (err) {
      this.failed = err instanceof P4Error ? err : new P4Error('BAD_FRAME', 'receive failed', { cause: err })
      this.cipherCarry = this.plainCarry = null
      this.big = null
      throw this.failed
    }
  }

  private recordError(code: number): P4Error {
    return code === OpenError.AUTH
      ? new P4Error('DECRYPT_FAILED', `record ${this.counter} failed authentication (tampered, replayed or reordered)`)
      : new P4Error('BAD_FRAME', `record ${this.counter} has an invalid length`)
  }

  // Plaintext opened outside WASM: straight into a large frame's buffer, the
  // rest into the plaintext region for scanning.
  private plaintextFrom(pt: Uint8Array): void {
    let p = pt
    const big = this.big
    if (big !== null) {
      const take = Math.min(big.payload.length - big.filled, p.length)
      big.payload.set(take === p.length ? p : p.subarray(0, take), big.filled)
      big.filled += take
      p = p.subarray(take)
      if (big.filled < big.payload.length) return
      this.big = null
      this.deliver(big.type, big.flags, big.hops, big.pluginId, big.idHi, big.idLo, big.payload)
    }
    if (p.length === 0) return
    if (this.plainCarry === null && p.length > HEADER_SIZE && this.startBigFrom(p)) return
    const start = this.plainCarry !== null ? this.s.loadPlain(this.plainCarry) : 0
    this.plainCarry = null
    this.s.loadPlainAt(start, p)
    this.plaintext(start + p.length)
  }

  // Delivers frames from plaintext [0, total) of the scratch region.
  private plaintext(total: number): void {
    const s = this.s
    let pos = 0
    const big = this.big
    if (big !== null) {
      const take = Math.min(big.payload.length - big.filled, total)
      s.plainInto(0, take, big.payload, big.filled)
      big.filled += take
      pos = take
      if (big.filled < big.payload.length) return
      this.big = null
      this.deliver(big.type, big.flags, big.hops, big.pluginId, big.idHi, big.idLo, big.payload)
    }
    const scanner = s.scanner
    while (pos < total) {
      const count = s.scan(pos, total - pos, this.maxPayload)
      if (count > 0) {
        // One copy out for every complete frame of this scan; payloads are views of it.
        const out = s.plainCopy(pos, pos + scanner.consumed)
        const buf = out.buffer as ArrayBuffer
        const base = out.byteOffset + HEADER_SIZE
        // Descriptors read straight from WASM memory, not through an accessor
        // per field; words() again per frame, as a handler may grow memory.
        let d = scanner.wordBase
        for (let i = 0; i < count; i++, d += DESC_WORDS) {
          const w = scanner.words()
          const tfh = w[d + 1]!
          this.deliver(tfh & 0xff, (tfh >>> 8) & 0xff, tfh >>> 16, w[d + 2]!, w[d + 5]!, w[d + 4]!, bufferView(buf, base + w[d]!, w[d + 3]!))
        }
        pos += scanner.consumed
      }
      const stop = scanner.stop
      if (stop === ScanStop.LIMIT) continue
      if (stop === ScanStop.ERROR) {
        const e = scanner.error
        if (e === FrameError.TOO_LARGE) {
          throw new P4Error('MESSAGE_TOO_LARGE', `peer sent a frame larger than the ${this.maxPayload}-byte limit`)
        }
        throw new P4Error('BAD_FRAME', `malformed frame header (${['', 'bad version', 'bad type', 'bad flags'][e] ?? e})`)
      }
      if (pos === total) return
      if (stop === ScanStop.PAYLOAD && total - pos + scanner.needed > PLAIN_CARRY_MAX) {
        this.startBig(pos, total)
      } else {
        this.plainCarry = s.plainCopy(pos, total)
      }
      return
    }
  }

  // An opened record that begins a frame longer than itself (the first
  // record of a large send): only its header goes through the WASM scanner
  // (the same checks as every frame), and the payload bytes are copied
  // straight from the record into the frame's buffer: one copy, not two.
  // False (nothing consumed) for any other record.
  private startBigFrom(p: Uint8Array): boolean {
    const s = this.s
    s.loadPlainAt(0, p.subarray(0, HEADER_SIZE))
    if (s.scan(0, HEADER_SIZE, this.maxPayload) !== 0 || s.scanner.stop !== ScanStop.PAYLOAD) return false
    const dv = s.plainHeader(0)
    const length = dv.getUint32(HDR_LENGTH)
    if (length <= p.length - HEADER_SIZE || HEADER_SIZE + length <= PLAIN_CARRY_MAX) return false
    const payload = Buffer.allocUnsafe(length)
    payload.set(p.subarray(HEADER_SIZE))
    this.big = bigFrame(dv, payload, p.length - HEADER_SIZE)
    return true
  }

  // A frame too large to carry as plaintext: read its header and copy what we
  // have into a payload buffer of the declared size (already checked ≤ max).
  private startBig(pos: number, total: number): void {
    const dv = this.s.plainHeader(pos)
    const length = dv.getUint32(HDR_LENGTH)
    const payload = Buffer.allocUnsafe(length)
    const have = total - pos - HEADER_SIZE
    this.s.plainInto(pos + HEADER_SIZE, total, payload, 0)
    this.big = bigFrame(dv, payload, have)
  }

  private deliver(type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array): void {
    this.framesIn++
    this.onFrame({ type, flags, hops, pluginId, idHi, idLo, payload })
  }
}

/** A large frame being assembled: its header fields (from `dv`, a checked header) and its payload buffer. */
function bigFrame(dv: DataView, payload: Buffer, filled: number): BigFrame {
  return {
    type: dv.getUint8(HDR_TYPE),
    flags: dv.getUint8(HDR_FLAGS),
    hops: dv.getUint8(HDR_HOPS),
    pluginId: dv.getUint16(HDR_PLUGIN),
    idHi: dv.getUint32(HDR_MSGID),
    idLo: dv.getUint32(HDR_MSGID + 4),
    payload,
    filled,
  }
}
