// Builds one outgoing batch of records in the seal region of the channel
// scratch (channel.ts) and seals it: frames form a byte stream that may
// straddle record boundaries; records close at RECORD_MAX_PLAIN bytes of
// plaintext or when the batch is finished.
import { P4Error } from '../core/errors.js'
import { HEADER_SIZE, writeHeader } from '../core/protocol.js'
import { RECORD_MAX_PLAIN, RECORD_PREFIX, TAG_SIZE, type ChannelScratch } from './channel.js'

/** Seals one record another way (node:crypto): writes its length prefix, ciphertext and tag at out[at..]. */
export interface LargeRecordSealer {
  /** Records with at least this many bytes of plaintext. */
  from: number
  seal(counter: number, plain: Uint8Array, out: Uint8Array, at: number): void
}

/** One batch at a time, in the seal region of `s`. */
export class BatchWriter {
  private readonly s: ChannelScratch
  /** Write position in the seal region (relative). */
  private w = 0
  /** Start of the open record's length prefix, -1 when none is open. */
  private rec = -1
  private recPlain = 0
  /** Where each closed record of this batch starts (its length prefix), relative. */
  private readonly starts: number[] = []
  private readonly tmp = new Uint8Array(HEADER_SIZE)
  private readonly tmpView = new DataView(this.tmp.buffer)
  records = 0

  /** Bytes of the seal region. */
  private readonly cap: number

  constructor(s: ChannelScratch) {
    this.s = s
    this.cap = s.sealCapacity
  }

  begin(): void {
    this.w = 0
    this.rec = -1
    this.recPlain = 0
    this.records = 0
    this.starts.length = 0
  }

  /** Writes an 18-byte P4 header; false (nothing written) when it does not fit. */
  header(type: number, flags: number, hops: number, pluginId: number, length: number, idHi: number, idLo: number): boolean {
    // Worst case the header straddles into a new record: its prefix and both tags.
    if (this.cap - this.w < HEADER_SIZE + RECORD_PREFIX + 2 * TAG_SIZE) return false
    const contiguous = this.rec >= 0 && RECORD_MAX_PLAIN - this.recPlain >= HEADER_SIZE
    if (contiguous) {
      writeHeader(this.s.kernel.view(), this.s.sealPtr + this.w, type, flags, hops, pluginId, length, idHi, idLo)
      this.w += HEADER_SIZE
      this.recPlain += HEADER_SIZE
      return true
    }
    writeHeader(this.tmpView, 0, type, flags, hops, pluginId, length, idHi, idLo)
    this.bytes(this.tmp, 0)
    return true
  }

  /** Copies src[from..end) into the batch as far as it fits; returns the bytes taken. */
  bytes(src: Uint8Array, from: number, end = src.length): number {
    let taken = 0
    let left = end - from
    while (left > 0) {
      if (this.rec < 0 || this.recPlain === RECORD_MAX_PLAIN) {
        if (this.rec >= 0) this.closeRecord()
        if (this.cap - this.w < RECORD_PREFIX + TAG_SIZE + 1) break
        this.rec = this.w
        this.w += RECORD_PREFIX
        this.recPlain = 0
      }
      const space = Math.min(RECORD_MAX_PLAIN - this.recPlain, this.cap - this.w - TAG_SIZE)
      if (space <= 0) break
      const n = Math.min(space, left)
      const u8 = this.s.kernel.bytes()
      u8.set(n === src.length ? src : src.subarray(from + taken, from + taken + n), this.s.sealPtr + this.w)
      this.w += n
      this.recPlain += n
      taken += n
      left -= n
      if (this.recPlain < RECORD_MAX_PLAIN && left > 0) break // region full
    }
    return taken
  }

  private closeRecord(): void {
    this.starts.push(this.rec)
    this.s.kernel.view().setUint16(this.s.sealPtr + this.rec, this.recPlain + TAG_SIZE)
    this.w += TAG_SIZE
    this.records++
    this.rec = -1
    this.recPlain = 0
  }

  /** Bytes of plaintext written so far in this batch. */
  get empty(): boolean {
    return this.w === 0
  }

  /**
   * Seals the batch with counters starting at `counter` and copies it out into
   * a buffer from `alloc` for one socket write. Returns the buffer; `records`
   * says how many nonces were used.
   */
  finish(counter: number, large?: LargeRecordSealer, alloc: (len: number) => Uint8Array = Buffer.allocUnsafe): Uint8Array {
    if (this.rec >= 0) this.closeRecord()
    const len = this.w
    const out = alloc(len)
    const starts = this.starts
    const n = this.records
    const s = this.s
    // Records of at least large.from bytes of plaintext go to large.seal
    // (node:crypto is faster on full records); runs of smaller ones are
    // sealed in place by one WASM call each.
    const from = large?.from ?? Infinity
    let i = 0
    while (i < n) {
      const at = starts[i]!
      let j = i
      let end = at
      for (; j < n; j++) {
        end = j + 1 < n ? starts[j + 1]! : len
        if (end - starts[j]! - RECORD_PREFIX - TAG_SIZE >= from) break
      }
      if (j > i) {
        const to = j < n ? starts[j]! : len
        const sealed = s.seal(counter + i, to - at, at)
        if (sealed !== j - i) throw new P4Error('BAD_ARGUMENT', `sealed ${sealed} records, built ${j - i}`)
        out.set(s.kernel.bytes().subarray(s.sealPtr + at, s.sealPtr + to), at)
        i = j
        continue
      }
      const plain = s.kernel.bytes().subarray(s.sealPtr + at + RECORD_PREFIX, s.sealPtr + end - TAG_SIZE)
      large!.seal(counter + i, plain, out, at)
      i++
    }
    this.w = 0
    return out
  }
}
