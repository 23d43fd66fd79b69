// Fuzz targets of the data plane:
//   frame-scan  the WASM frame scanner (SIMD and scalar builds) against the
//               TS reference on mutated frame streams: identical outcomes.
//   receiver    the Session receiver (records → plaintext → frames) on
//               sealed streams whose plaintext, record boundaries or wire
//               bytes were mutated: a P4Error or exactly the frames the
//               reference finds, never more memory than maxPayload allows.
import { ALLOWED_FLAGS, DEFAULT_MAX_MESSAGE, FrameError, HEADER_SIZE, MSG_TYPE_MAX, REQUIRED_FLAGS } from '../../ts/core/protocol.js'
import { scanFrames, encodeHeader } from '../reference/frame-reference.js'
import { sealRecord } from '../../ts/session/node-records.js'
import { Receiver, type Frame as RxFrame } from '../../ts/session/receiver.js'
import { channelScratch, PLAIN_CARRY_MAX, RECORD_MAX_PLAIN } from '../../ts/wasm/channel.js'
import { FrameScanner, ScanStop } from '../../ts/wasm/frame.js'
import { isP4Error } from '../../ts/core/errors.js'
import { resetLargestAlloc } from './alloc.js'
import { loadKernel, type Variant } from '../../ts/wasm/loader.js'
import type { FuzzTarget, Trial } from './harness.js'
import { concat, mutate, Rng } from './rng.js'

const VARIANTS: Variant[] = ['simd', 'scalar']

function flagsFor(type: number): number[] {
  const out: number[] = []
  for (let f = 0; f < 256; f++) {
    const a = ALLOWED_FLAGS[type]!
    const r = REQUIRED_FLAGS[type]!
    if ((f & ~a) === 0 && (f & r) === r) out.push(f)
  }
  return out
}
const VALID_FLAGS = Array.from({ length: MSG_TYPE_MAX + 1 }, (_, t) => (t === 0 ? [] : flagsFor(t)))

/** Cheap deterministic payload bytes (their content matters little to a parser). */
function fill(out: Uint8Array, at: number, len: number, salt: number): void {
  for (let i = 0; i < len; i++) out[at + i] = (salt + i * 167) & 0xff
}

/** A stream of valid frames; payloads mostly small, now and then large. */
function frameStream(rng: Rng, maxBytes: number, bigChance: number): Uint8Array {
  const frames = 1 + rng.size(40)
  const parts: Uint8Array[] = []
  let total = 0
  for (let i = 0; i < frames; i++) {
    const big = rng.chance(bigChance)
    const len = big ? rng.range(PLAIN_CARRY_MAX - 100, PLAIN_CARRY_MAX + 5000) : rng.size(300)
    if (total + HEADER_SIZE + len > maxBytes) break
    const type = rng.range(1, MSG_TYPE_MAX)
    const f = new Uint8Array(HEADER_SIZE + len)
    encodeHeader(
      { type, flags: rng.pick(VALID_FLAGS[type]!), hops: rng.int(256), pluginId: rng.int(0x10000), payloadLength: len, messageId: (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()) },
      f,
    )
    fill(f, HEADER_SIZE, len, rng.u32())
    parts.push(f)
    total += f.length
  }
  return concat(...parts)
}

const MAX_PAYLOADS = [0, 1, 17, 100, 300, 4096, DEFAULT_MAX_MESSAGE, 0xffffffff]

function sameFrame(a: { offset: number; type: number; flags: number; hops: number; pluginId: number; payloadLength: number; messageId: bigint }, b: typeof a): boolean {
  return a.offset === b.offset && a.type === b.type && a.flags === b.flags && a.hops === b.hops && a.pluginId === b.pluginId && a.payloadLength === b.payloadLength && a.messageId === b.messageId
}

/** frame-scan: WASM (both builds) and the TS reference agree on every outcome field and frame. */
export function frameScanTarget(): FuzzTarget {
  const scanners = VARIANTS.map((v) => ({ v, s: new FrameScanner(64, loadKernel(v)) }))
  const corpus: Uint8Array[] = []
  const seedRng = new Rng(0x5ca11e5)
  for (let i = 0; i < 64; i++) corpus.push(frameStream(seedRng, 4096, 0))
  return {
    name: 'frame-scan',
    codes: [],
    run(rng, describe): Trial {
      const mode = rng.int(10)
      const input = mode === 0 ? rng.bytes(rng.size(200)) : mode === 1 ? frameStream(rng, 4096, 0) : mutate(rng, rng.pick(corpus), 8192, rng.pick(corpus))
      describe(input)
      resetLargestAlloc() // what generating the input took does not count
      const maxPayload = rng.chance(0.5) ? rng.pick(MAX_PAYLOADS) : rng.u32()
      const maxFrames = 1 + rng.int(64)
      const ref = scanFrames(input, maxPayload, maxFrames)
      for (const { v, s } of scanners) {
        s.scanBytes(input, maxPayload, maxFrames)
        const o = s.outcome()
        for (const k of ['count', 'consumed', 'needed', 'error', 'errorOffset', 'stop'] as const) {
          if (o[k] !== ref[k]) throw new Error(`${v} scanner: ${k} = ${o[k]}, reference says ${ref[k]} (maxPayload ${maxPayload}, maxFrames ${maxFrames})`)
        }
        for (let i = 0; i < ref.count; i++) {
          if (!sameFrame(s.frame(i), ref.frames[i]!)) throw new Error(`${v} scanner: frame ${i} differs from the reference`)
        }
      }
      // The scanner copies the input into its scratch region: nothing beyond the input.
      const rejected = ref.stop === ScanStop.ERROR
      return { verdict: rejected ? 'rejected' : 'accepted', allocLimit: input.length, code: rejected ? `FrameError ${ref.error}` : undefined }
    },
    close() {
      for (const { s } of scanners) s.dispose()
    },
  }
}

/** Receiver memory bound: a declared frame (≤ maxPayload) or the shared regions' copies. */
export function receiverAllocLimit(maxPayload: number): number {
  return Math.max(maxPayload, PLAIN_CARRY_MAX + 4 * (2 + 65535))
}

/** Bytes a receiver may hold between reads: one frame being assembled (or a plaintext carry) plus one partial record. */
export function receiverBufferBound(maxPayload: number): number {
  return Math.max(maxPayload, PLAIN_CARRY_MAX) + 2 + 65535
}

const LARGE_RECORD = [16, 1024, 16 * 1024, Infinity]

/** receiver: sealed record streams with mutated plaintext, boundaries or wire bytes. */
export function receiverTarget(): FuzzTarget {
  const scratches = VARIANTS.map((v) => ({ v, s: channelScratch(loadKernel(v)) }))
  return {
    name: 'receiver',
    codes: [],
    run(rng, describe): Trial {
      const key = rng.bytes(32)
      let plain = frameStream(rng, 300_000, 0.02)
      if (rng.chance(0.6)) plain = mutate(rng, plain, plain.length + 256)
      // Record boundaries: small records mostly, now and then large ones (node:crypto path).
      const wireParts: Uint8Array[] = []
      let counter = 0
      for (let at = 0; at < plain.length; ) {
        const want = rng.chance(0.1) ? rng.range(16 * 1024, RECORD_MAX_PLAIN) : 1 + rng.size(4000)
        const n = Math.min(want, plain.length - at)
        wireParts.push(sealRecord(key, counter++, null, plain.subarray(at, at + n)))
        at += n
      }
      let wire = Buffer.concat(wireParts) as Uint8Array
      const tampered = rng.chance(0.15)
      if (tampered) wire = mutate(rng, wire, wire.length + 256)
      describe(wire.length <= 2048 ? wire : plain)
      const maxPayload = rng.pick([64, 1024, PLAIN_CARRY_MAX, 200_000, DEFAULT_MAX_MESSAGE])
      const largeRecord = rng.pick(LARGE_RECORD)
      const ref = scanFrames(plain, maxPayload)
      // Chunking of the wire: a few random cuts (a socket's reads).
      const cuts = [0]
      for (let k = rng.size(12); k > 0; k--) cuts.push(rng.int(wire.length + 1))
      cuts.push(wire.length)
      cuts.sort((a, b) => a - b)
      const limit = receiverAllocLimit(maxPayload)
      const bound = receiverBufferBound(maxPayload)
      resetLargestAlloc() // sealing the stream does not count
      let verdict: Trial['verdict'] = 'accepted'
      let rejectedWith: string | undefined
      for (const { v, s } of scratches) {
        const got: RxFrame[] = []
        // Payloads are compared in place (they are views the receiver will not touch again).
        const rx = new Receiver(key, maxPayload, (f) => got.push(f), largeRecord, s)
        let error: unknown = null
        try {
          for (let i = 1; i < cuts.length; i++) {
            rx.push(wire.subarray(cuts[i - 1]!, cuts[i]!))
            if (rx.buffered > bound) throw new Error(`${v}: receiver holds ${rx.buffered} bytes (bound ${bound})`)
          }
        } catch (err) {
          if (!isP4Error(err)) throw err
          error = err
        }
        // Delivered frames are always a prefix of what the reference finds in the plaintext:
        // whatever authenticates is the original plaintext, in order.
        if (got.length > ref.count) throw new Error(`${v}: delivered ${got.length} frames, the plaintext holds ${ref.count}`)
        for (let i = 0; i < got.length; i++) {
          const g = got[i]!
          const r = ref.frames[i]!
          const payload = plain.subarray(r.offset + HEADER_SIZE, r.offset + HEADER_SIZE + r.payloadLength)
          const idHi = Number(r.messageId >> 32n)
          const idLo = Number(r.messageId & 0xffffffffn)
          if (g.type !== r.type || g.flags !== r.flags || g.hops !== r.hops || g.pluginId !== r.pluginId || g.idHi !== idHi || g.idLo !== idLo || Buffer.compare(g.payload, payload) !== 0) {
            throw new Error(`${v}: frame ${i} differs from the plaintext's`)
          }
        }
        if (error !== null) {
          const code = (error as { code: string }).code
          if (!['DECRYPT_FAILED', 'BAD_FRAME', 'MESSAGE_TOO_LARGE'].includes(code)) throw new Error(`${v}: unexpected code ${code}`)
          verdict = 'rejected'
          rejectedWith = code
        }
        if (!tampered) {
          // An intact wire: the outcome is exactly the reference's.
          if (got.length !== ref.count) throw new Error(`${v}: delivered ${got.length} of ${ref.count} frames of an intact stream`)
          if (ref.stop === ScanStop.ERROR) {
            const want = ref.error === FrameError.TOO_LARGE ? 'MESSAGE_TOO_LARGE' : 'BAD_FRAME'
            if ((error as { code?: string } | null)?.code !== want) throw new Error(`${v}: expected ${want}, got ${String(error)}`)
          } else {
            if (error !== null) throw new Error(`${v}: intact well-formed stream rejected: ${String(error)}`)
            if (rx.midFrame !== ref.consumed < plain.length) throw new Error(`${v}: midFrame ${rx.midFrame}, but ${plain.length - ref.consumed} bytes are pending`)
          }
        }
      }
      return { verdict, allocLimit: limit, code: rejectedWith }
    },
  }
}
