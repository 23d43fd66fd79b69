import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isP4Error } from '../ts/core/errors.js'
import { ALLOWED_FLAGS, FrameError, HEADER_SIZE, MSG_TYPE_MAX, REQUIRED_FLAGS, messageIdOf, storedMessageId } from '../ts/core/protocol.js'
import { decodeHeader, encodeFrame, encodeHeader, headerError, scanFrames } from './reference/frame-reference.js'
import {
  encodeHeaderAt,
  FrameScanner,
  HeaderBatch,
  ScanStop,
  type Frame,
  type FrameHeader,
  type ScanOutcome,
} from '../ts/wasm/frame.js'
import { loadKernel, type Kernel, type Variant } from '../ts/wasm/loader.js'
import { throwsCode } from './helpers/errors.js'
import { seededRandom } from '../common/random.js'

const VARIANTS: Variant[] = ['simd', 'scalar']

// Integers in [0, n), seeded: the same test streams every run.
function rng(seed: number): (n: number) => number {
  const random = seededRandom(seed)
  return (n) => Math.floor(random() * n)
}

/** Independent statement of the flag rules, straight from the tables. */
function flagsOk(type: number, flags: number): boolean {
  const a = ALLOWED_FLAGS[type]!
  const r = REQUIRED_FLAGS[type]!
  return (flags & ~a) === 0 && (flags & r) === r
}

const VALID_FLAGS: number[][] = [[]]
for (let t = 1; t <= MSG_TYPE_MAX; t++) VALID_FLAGS[t] = [...Array(256).keys()].filter((f) => flagsOk(t, f))

function randomHeader(r: (n: number) => number, payloadLength: number): FrameHeader {
  const type = 1 + r(MSG_TYPE_MAX)
  const fl = VALID_FLAGS[type]!
  const hi = BigInt(r(0x10000)) * 0x10000n + BigInt(r(0x10000))
  const lo = BigInt(r(0x10000)) * 0x10000n + BigInt(r(0x10000))
  return { type, flags: fl[r(fl.length)]!, hops: r(256), pluginId: r(0x10000), payloadLength, messageId: (hi << 32n) | lo }
}

/** A stream of random valid frames with random payload bytes. */
function randomStream(r: (n: number) => number, frames: number, maxLen: number): Uint8Array {
  const parts: Uint8Array[] = []
  for (let i = 0; i < frames; i++) {
    const len = r(4) === 0 ? 0 : r(maxLen + 1)
    const payload = new Uint8Array(len)
    for (let j = 0; j < len; j++) payload[j] = r(256)
    const { payloadLength: _, ...h } = randomHeader(r, len)
    parts.push(encodeFrame(h, payload))
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/** Bit flips, byte overwrites, truncation and inserted bytes. */
function mutate(r: (n: number) => number, src: Uint8Array): Uint8Array {
  let b = Uint8Array.from(src)
  const edits = 1 + r(4)
  for (let e = 0; e < edits && b.length > 0; e++) {
    const at = r(b.length)
    switch (r(4)) {
      case 0:
        b[at] = b[at]! ^ (1 << r(8))
        break
      case 1:
        b[at] = r(256)
        break
      case 2:
        b = b.slice(0, at)
        break
      default: {
        const ins = new Uint8Array(1 + r(20)).map(() => r(256))
        const nb = new Uint8Array(b.length + ins.length)
        nb.set(b.subarray(0, at))
        nb.set(ins, at)
        nb.set(b.subarray(at), at + ins.length)
        b = nb
      }
    }
  }
  return b
}

function outcomeOf(s: ScanOutcome): ScanOutcome {
  const { count, consumed, needed, error, errorOffset, stop } = s
  return { count, consumed, needed, error, errorOffset, stop }
}

/** WASM scan of `buf` must equal the reference exactly (frames and outcome). */
function sameAsReference(sc: FrameScanner, buf: Uint8Array, maxPayload: number, maxFrames: number, what: string): void {
  sc.scanBytes(buf, maxPayload, maxFrames)
  const ref = scanFrames(buf, maxPayload, maxFrames)
  const { frames, ...refOutcome } = ref
  assert.equal(outcomeOf(sc), refOutcome, what)
  assert.equal(sc.frames(), frames, what)
}

for (const v of VARIANTS) {
  const k: Kernel = loadKernel(v)
  const scanner = new FrameScanner(256, k)

  test(`[${v}] built with the expected SIMD setting`, () => {
    assert.is(k.exports.simd(), v === 'simd' ? 1 : 0)
  })

  test(`[${v}] header encode/decode round trips, extremes included`, () => {
    const r = rng(11)
    const headers: FrameHeader[] = [
      { type: 8, flags: 7, hops: 255, pluginId: 0xffff, payloadLength: 0xffffffff, messageId: 0xffffffffffffffffn },
      { type: 2, flags: 0, hops: 0, pluginId: 0, payloadLength: 0, messageId: 0n },
      { type: 1, flags: 5, hops: 1, pluginId: 0x0102, payloadLength: 0x03040506, messageId: 0x0708090a0b0c0d0en },
    ]
    for (let i = 0; i < 200; i++) headers.push(randomHeader(r, r(2) ? r(1 << 16) : r(0x10000) * 0x10000 + r(0x10000)))
    const ptr = k.alloc(HEADER_SIZE)
    try {
      for (const h of headers) {
        const ref = encodeHeader(h)
        encodeHeaderAt(ptr, h, k)
        assert.equal(k.bytes().slice(ptr, ptr + HEADER_SIZE), ref)
        assert.equal(decodeHeader(ref, 0, 0xffffffff), { offset: 0, ...h })
        // Only the header is present: the scanner reports it complete and waits for the payload.
        assert.is(scanner.scan(ptr, HEADER_SIZE, 0xffffffff), h.payloadLength === 0 ? 1 : 0)
        assert.is(scanner.stop, h.payloadLength === 0 ? ScanStop.HEADER : ScanStop.PAYLOAD)
        if (h.payloadLength === 0) assert.equal(scanner.frame(0), { offset: 0, ...h })
      }
      assert.equal([...encodeHeader(headers[2]!)], [2, 1, 5, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14])
    } finally {
      k.free(ptr)
    }
    for (const h of headers.slice(1)) {
      const payload = new Uint8Array(Math.min(h.payloadLength, 300)).map((_, i) => i)
      const bytes = encodeFrame(h, payload)
      assert.is(scanner.scanBytes(bytes, 0xffffffff), 1)
      assert.equal(scanner.frame(0), { offset: 0, ...h, payloadLength: payload.length })
      assert.equal(scanner.payloadView(0), payload)
      assert.is(scanner.messageIdHi(0), Number(h.messageId >> 32n))
      assert.is(scanner.messageIdLo(0), Number(h.messageId & 0xffffffffn))
      assert.is(scanner.typeFlagsHops(0), h.type | (h.flags << 8) | (h.hops << 16))
    }
  })

  test(`[${v}] every type/flags pair is accepted or refused exactly per ALLOWED/REQUIRED`, () => {
    const ptr = k.alloc(HEADER_SIZE)
    const bad: string[] = []
    try {
      for (let type = 0; type < 256; type++) {
        for (let flags = 0; flags < 256; flags++) {
          const mem = k.bytes()
          mem.fill(0, ptr, ptr + HEADER_SIZE)
          mem[ptr] = 2
          mem[ptr + 1] = type
          mem[ptr + 2] = flags
          const n = scanner.scan(ptr, HEADER_SIZE, 0)
          const expect =
            type < 1 || type > MSG_TYPE_MAX
              ? FrameError.BAD_TYPE
              : flagsOk(type, flags)
                ? FrameError.NONE
                : FrameError.BAD_FLAGS
          const got = n === 1 ? FrameError.NONE : scanner.error
          if (got !== expect || headerError(2, type, flags, 0, 0) !== expect) bad.push(`${type}/${flags}`)
          if (expect !== FrameError.NONE && scanner.errorOffset !== 0) bad.push(`${type}/${flags} offset`)
        }
      }
      // Encoders refuse the same pairs (types 0..15 are enough to cover the table).
      const batch = new HeaderBatch(1, k)
      for (let type = 0; type < 16; type++) {
        for (let flags = 0; flags < 256; flags++) {
          const ok = type >= 1 && type <= MSG_TYPE_MAX && flagsOk(type, flags)
          const h = { type, flags, hops: 0, pluginId: 0, payloadLength: 0, messageId: 0n }
          let single = true
          try {
            encodeHeaderAt(ptr, h, k)
          } catch (err) {
            single = !isP4Error(err, 'BAD_ARGUMENT')
          }
          let batched = true
          batch.setHeader(0, 0, h)
          try {
            batch.encode(ptr, HEADER_SIZE, 1)
          } catch (err) {
            batched = !isP4Error(err, 'BAD_ARGUMENT')
          }
          if (single !== ok || batched !== ok) bad.push(`encode ${type}/${flags}`)
        }
      }
      batch.dispose()
    } finally {
      k.free(ptr)
    }
    assert.equal(bad, [])
  })

  test(`[${v}] version other than 2 is refused first, with only the header present`, () => {
    for (let ver = 0; ver < 256; ver++) {
      if (ver === 2) continue
      const h = encodeHeader({ type: 8, flags: 0, hops: 0, pluginId: 0, payloadLength: 5000, messageId: 1n })
      h[0] = ver
      assert.is(scanner.scanBytes(h, 100), 0)
      assert.equal(outcomeOf(scanner), {
        count: 0,
        consumed: 0,
        needed: 0,
        error: FrameError.BAD_VERSION,
        errorOffset: 0,
        stop: ScanStop.ERROR,
      })
      h[1] = 0 // bad type too: version still wins
      scanner.scanBytes(h, 100)
      assert.is(scanner.error, FrameError.BAD_VERSION)
    }
  })

  test(`[${v}] payloadLength over maxPayload is refused from the header alone`, () => {
    const big = { type: 8, flags: 0, hops: 0, pluginId: 0, messageId: 9n }
    const header = encodeHeader({ ...big, payloadLength: 1001 })
    scanner.scanBytes(header, 1000)
    assert.equal(outcomeOf(scanner), {
      count: 0,
      consumed: 0,
      needed: 0,
      error: FrameError.TOO_LARGE,
      errorOffset: 0,
      stop: ScanStop.ERROR,
    })
    // At the limit it is fine and the scanner just waits.
    scanner.scanBytes(encodeHeader({ ...big, payloadLength: 1000 }), 1000)
    assert.is(scanner.stop, ScanStop.PAYLOAD)
    assert.is(scanner.needed, 1000)
    // The largest declarable length, no allocation: needed is 2^32-1.
    scanner.scanBytes(encodeHeader({ ...big, payloadLength: 0xffffffff }), 0xffffffff)
    assert.is(scanner.needed, 0xffffffff)
    // After a good frame the bad header's offset is reported.
    const first = encodeFrame({ ...big, type: 2 }, new Uint8Array(7))
    const buf = new Uint8Array(first.length + HEADER_SIZE)
    buf.set(first)
    buf.set(header, first.length)
    assert.is(scanner.scanBytes(buf, 1000), 1)
    assert.equal(
      [scanner.error, scanner.errorOffset, scanner.consumed, scanner.stop],
      [FrameError.TOO_LARGE, 25, 25, ScanStop.ERROR],
    )
  })

  test(`[${v}] incomplete header needs 18 - n, incomplete payload needs the rest`, () => {
    const frame = encodeFrame({ type: 8, flags: 2, hops: 3, pluginId: 4, messageId: 5n }, new Uint8Array(100).fill(7))
    const prefix = encodeFrame({ type: 9, flags: 0, hops: 0, pluginId: 0, messageId: 1n }, new Uint8Array(3))
    for (const lead of [new Uint8Array(0), prefix]) {
      for (let n = 0; n < frame.length; n++) {
        const buf = new Uint8Array(lead.length + n)
        buf.set(lead)
        buf.set(frame.subarray(0, n), lead.length)
        const count = scanner.scanBytes(buf)
        assert.is(count, lead.length ? 1 : 0)
        assert.is(scanner.consumed, lead.length)
        assert.is(scanner.error, 0)
        assert.is(scanner.errorOffset, -1)
        if (n < HEADER_SIZE) {
          assert.is(scanner.stop, ScanStop.HEADER)
          assert.is(scanner.needed, HEADER_SIZE - n)
        } else {
          assert.is(scanner.stop, ScanStop.PAYLOAD)
          assert.is(scanner.needed, frame.length - n)
        }
      }
    }
  })

  test(`[${v}] many frames, zero-length payloads, maxFrames cut-off and resume`, () => {
    const lens = [0, 0, 46, 0, 1, 1006, 0, 3]
    const parts = lens.map((len, i) =>
      encodeFrame(
        { type: 2 + (i % 2), flags: 0, hops: i, pluginId: i * 3, messageId: BigInt(i) << 40n },
        new Uint8Array(len).fill(i),
      ),
    )
    const buf = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    const offsets: number[] = []
    let o = 0
    for (const p of parts) {
      offsets.push(o)
      buf.set(p, o)
      o += p.length
    }
    assert.is(scanner.scanBytes(buf), lens.length)
    assert.equal([scanner.stop, scanner.needed, scanner.consumed], [ScanStop.HEADER, HEADER_SIZE, buf.length])
    for (let i = 0; i < lens.length; i++) {
      assert.is(scanner.offset(i), offsets[i])
      assert.is(scanner.payloadLength(i), lens[i])
      assert.is(scanner.hops(i), i)
      assert.is(scanner.pluginId(i), i * 3)
      assert.is(scanner.messageId(i), BigInt(i) << 40n)
      assert.ok(scanner.payloadView(i).every((b) => b === i))
      const w = scanner.words().subarray(scanner.wordBase + i * 6, scanner.wordBase + i * 6 + 6)
      assert.equal(
        [...w],
        [offsets[i], scanner.typeFlagsHops(i), i * 3, lens[i], scanner.messageIdLo(i), scanner.messageIdHi(i)],
      )
    }
    // Cut off at 3, then resume from `consumed` until the stream is used up.
    const seen: number[] = []
    let at = 0
    for (;;) {
      const n = scanner.scanBytes(buf.subarray(at), undefined, 3)
      for (let i = 0; i < n; i++) seen.push(at + scanner.offset(i))
      at += scanner.consumed
      if (scanner.stop !== ScanStop.LIMIT) break
      assert.is(n, 3)
      assert.is(scanner.needed, 0)
    }
    assert.equal(seen, offsets)
    assert.is(scanner.scanBytes(buf, undefined, 0), 0)
    assert.equal([scanner.stop, scanner.consumed], [ScanStop.LIMIT, 0])
    // A full descriptor array stops the scan the same way.
    const small = new FrameScanner(2, k)
    assert.is(small.scanBytes(buf), 2)
    assert.equal([small.stop, small.consumed], [ScanStop.LIMIT, offsets[2]])
    small.dispose()
  })

  test(`[${v}] scans in place in WASM memory, and survives memory growth`, () => {
    const r = rng(3)
    const stream = randomStream(r, 40, 200)
    const ptr = k.alloc(stream.length + 5)
    try {
      k.bytes().set(stream, ptr + 5)
      const n = scanner.scan(ptr + 5, stream.length)
      assert.is(n, 40)
      assert.is(scanner.base, ptr + 5)
      const before = scanner.frames()
      assert.equal(before, scanFrames(stream).frames)
      const pages = k.exports.memory.buffer.byteLength / 65536
      const grow = k.alloc(pages * 65536) // detaches every view
      try {
        assert.equal(scanner.frames(), before)
        const p = scanner.payloadView(39)
        assert.equal(p, stream.subarray(before[39]!.offset + HEADER_SIZE, before[39]!.offset + HEADER_SIZE + p.length))
      } finally {
        k.free(grow)
      }
    } finally {
      k.free(ptr)
    }
  })

  test(`[${v}] batch header encoding matches the reference and refuses bad descriptors`, () => {
    const r = rng(5)
    const batch = new HeaderBatch(64, k)
    const frames: { h: FrameHeader; offset: number; payload: Uint8Array }[] = []
    let size = 0
    for (let i = 0; i < 64; i++) {
      const len = r(3) === 0 ? 0 : r(120)
      const payload = new Uint8Array(len).map(() => r(256))
      frames.push({ h: randomHeader(r, len), offset: size, payload })
      size += HEADER_SIZE + len
    }
    const base = k.alloc(size)
    try {
      const expected = new Uint8Array(size)
      frames.forEach(({ h, offset, payload }, i) => {
        expected.set(encodeHeader(h), offset)
        expected.set(payload, offset + HEADER_SIZE)
        k.bytes().set(payload, base + offset + HEADER_SIZE)
        batch.setHeader(i, offset, h)
      })
      batch.encode(base, size, frames.length)
      assert.equal(k.bytes().slice(base, base + size), expected)
      assert.is(scanner.scan(base, size), 64)
      assert.equal(scanner.frames(), frames.map(({ h, offset }) => ({ offset, ...h })))

      // Refusals name the descriptor; earlier headers are written.
      k.bytes().fill(0, base, base + size)
      batch.set(1, frames[1]!.offset, 2, 1, 0, 0, frames[1]!.payload.length, 0, 0) // PING with BROADCAST
      throwsCode(() => batch.encode(base, size, 3), 'BAD_ARGUMENT', 'bad flags')
      assert.equal(k.bytes().slice(base, base + HEADER_SIZE), expected.subarray(0, HEADER_SIZE))
      assert.is(k.bytes()[base + frames[1]!.offset], 0)
      batch.setHeader(1, frames[1]!.offset, frames[1]!.h)
      throwsCode(() => batch.encode(base, size - 1, 64), 'BAD_ARGUMENT', 'last frame outside the region')
      throwsCode(() => batch.encode(base, size, 64, 10), 'BAD_ARGUMENT', 'payload over maxPayload')
      batch.set(0, size - 17, 2, 0, 0, 0, 0, 0, 0)
      throwsCode(() => batch.encode(base, size, 1), 'BAD_ARGUMENT', 'header straddles the region end')
    } finally {
      k.free(base)
      batch.dispose()
    }
  })

  test(`[${v}] differential: random valid streams cut anywhere`, () => {
    const r = rng(0x5eed)
    for (let i = 0; i < 300; i++) {
      const stream = randomStream(r, 1 + r(30), r(2) ? 64 : 1500)
      const cut = r(3) === 0 ? stream.length : r(stream.length + 1)
      const maxPayload = r(4) === 0 ? r(1500) : 0xffffffff
      const maxFrames = r(4) === 0 ? r(10) : 256
      sameAsReference(scanner, stream.subarray(0, cut), maxPayload, maxFrames, `stream ${i}`)
    }
  })

  test(`[${v}] differential: mutated streams and random bytes`, () => {
    const r = rng(0xbad)
    for (let i = 0; i < 1500; i++) {
      const stream = randomStream(r, 1 + r(12), 80)
      const maxPayload = r(3) === 0 ? r(100) : 0xffffffff
      sameAsReference(scanner, mutate(r, stream), maxPayload, 256, `mutated ${i}`)
    }
    for (let i = 0; i < 500; i++) {
      const bytes = new Uint8Array(r(200)).map(() => r(256))
      // Give the first header a chance: version 2 and a known type.
      if (bytes.length > 1 && r(2)) {
        bytes[0] = 2
        bytes[1] = 1 + r(MSG_TYPE_MAX)
      }
      sameAsReference(scanner, bytes, r(2) ? 255 : 0xffffffff, 256, `random ${i}`)
    }
  })

  test(`[${v}] bad arguments are refused with BAD_ARGUMENT`, () => {
    const size = k.exports.memory.buffer.byteLength
    const h: FrameHeader = { type: 2, flags: 0, hops: 0, pluginId: 0, payloadLength: 0, messageId: 0n }
    throwsCode(() => new FrameScanner(0, k), 'BAD_ARGUMENT', 'capacity 0')
    throwsCode(() => new FrameScanner(1.5, k), 'BAD_ARGUMENT', 'capacity 1.5')
    throwsCode(() => scanner.scan(-1, 10), 'BAD_ARGUMENT', 'negative ptr')
    throwsCode(() => scanner.scan(size - 4, 5), 'BAD_ARGUMENT', 'region past memory')
    throwsCode(() => scanner.scan(0, 1.5), 'BAD_ARGUMENT', 'fractional len')
    throwsCode(() => scanner.scan(0, 0, 2 ** 32), 'BAD_ARGUMENT', 'maxPayload 2^32')
    throwsCode(() => scanner.scan(0, 0, -1), 'BAD_ARGUMENT', 'maxPayload -1')
    throwsCode(() => scanner.scan(0, 0, 10, 257), 'BAD_ARGUMENT', 'maxFrames over capacity')
    throwsCode(() => scanner.scanBytes('frames' as unknown as Uint8Array), 'BAD_ARGUMENT', 'string bytes')
    scanner.scanBytes(encodeFrame(h, new Uint8Array(0)))
    throwsCode(() => scanner.type(1), 'BAD_ARGUMENT', 'index = count')
    throwsCode(() => scanner.offset(-1), 'BAD_ARGUMENT', 'index -1')
    throwsCode(() => scanner.messageId(0.5), 'BAD_ARGUMENT', 'index 0.5')
    throwsCode(() => encodeHeaderAt(0, { ...h, type: 0 }, k), 'BAD_ARGUMENT', 'type 0')
    throwsCode(() => encodeHeaderAt(0, { ...h, hops: 256 }, k), 'BAD_ARGUMENT', 'hops 256')
    throwsCode(() => encodeHeaderAt(0, { ...h, pluginId: 0x10000 }, k), 'BAD_ARGUMENT', 'pluginId 2^16')
    throwsCode(() => encodeHeaderAt(0, { ...h, payloadLength: 2 ** 32 }, k), 'BAD_ARGUMENT', 'length 2^32')
    throwsCode(() => encodeHeaderAt(0, { ...h, messageId: 1 as unknown as bigint }, k), 'BAD_ARGUMENT', 'number id')
    throwsCode(() => encodeHeaderAt(0, { ...h, messageId: 1n << 64n }, k), 'BAD_ARGUMENT', 'id 2^64')
    throwsCode(() => encodeHeaderAt(size - 17, h, k), 'BAD_ARGUMENT', 'header past memory')
    const batch = new HeaderBatch(2, k)
    throwsCode(() => batch.set(2, 0, 2, 0, 0, 0, 0, 0, 0), 'BAD_ARGUMENT', 'batch index = capacity')
    throwsCode(() => batch.set(0, 0, 2, 0, 256, 0, 0, 0, 0), 'BAD_ARGUMENT', 'batch hops 256')
    throwsCode(() => batch.set(0, 0, 2, 0, 0, 0, -1, 0, 0), 'BAD_ARGUMENT', 'batch length -1')
    throwsCode(() => batch.encode(0, 0, 3), 'BAD_ARGUMENT', 'batch count over capacity')
    batch.dispose()
    throwsCode(() => batch.encode(0, 0, 0), 'CLOSED', 'disposed batch')
    const gone = new FrameScanner(1, k)
    gone.dispose()
    throwsCode(() => gone.scan(0, 0), 'CLOSED', 'disposed scanner')
  })
}

test('reference: bad arguments and decode errors', () => {
  const h: FrameHeader = { type: 8, flags: 0, hops: 0, pluginId: 0, payloadLength: 10, messageId: 0n }
  const bytes = encodeHeader(h)
  throwsCode(() => scanFrames([1, 2] as unknown as Uint8Array), 'BAD_ARGUMENT', 'array')
  throwsCode(() => scanFrames(bytes, -1), 'BAD_ARGUMENT', 'maxPayload -1')
  throwsCode(() => scanFrames(bytes, 10, -1), 'BAD_ARGUMENT', 'maxFrames -1')
  throwsCode(() => decodeHeader(bytes.subarray(0, 17)), 'BAD_ARGUMENT', 'short header')
  throwsCode(() => decodeHeader(bytes, 0, 9), 'MESSAGE_TOO_LARGE', 'too large')
  throwsCode(() => decodeHeader(Uint8Array.from(bytes).fill(3, 0, 1)), 'BAD_FRAME', 'version 3')
  throwsCode(() => encodeHeader({ ...h, type: 1, flags: 1 }), 'BAD_ARGUMENT', 'HELLO without SIGNED')
  throwsCode(() => encodeHeader(h, new Uint8Array(17)), 'BAD_ARGUMENT', 'short out')
  throwsCode(() => encodeHeader(h, new Uint8Array(20), 3), 'BAD_ARGUMENT', 'offset past out')
  const out = encodeHeader(h, new Uint8Array(20), 2)
  assert.equal(out.subarray(2), bytes)
  const f: Frame = decodeHeader(out, 2)
  assert.equal(f, { offset: 2, ...h })
})

test('storedMessageId reads the ID of a whole frame, also inside a larger buffer; a short one is refused', () => {
  const messageId = messageIdOf(0xdeadbeef, 0x01020304)
  const bytes = encodeHeader({ type: 8, flags: 0, hops: 3, pluginId: 7, payloadLength: 0, messageId })
  assert.is(storedMessageId(bytes), messageId)
  const inside = new Uint8Array(5 + HEADER_SIZE)
  inside.set(bytes, 5)
  assert.is(storedMessageId(inside.subarray(5)), messageId)
  throwsCode(() => storedMessageId(bytes.subarray(0, HEADER_SIZE - 1)), 'BAD_ARGUMENT', 'short frame')
  throwsCode(() => storedMessageId([1, 2, 3] as unknown as Uint8Array), 'BAD_ARGUMENT', 'not bytes')
  throwsCode(() => storedMessageId(undefined as unknown as Uint8Array), 'BAD_ARGUMENT', 'undefined')
})

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

function tsSources(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const p = `${dir}/${e.name}`
    if (e.isDirectory()) out.push(...tsSources(p))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

test('one TS header encoder: outside ts/core/protocol.ts only the hop count is written by hand', () => {
  // Forwarders may change hops (and zero it for signing); every other field is writeHeader()'s.
  const field = /\[[^\]]*\bHDR_(VERSION|TYPE|FLAGS|PLUGIN|LENGTH|MSGID)\b[^\]]*\]\s*=[^=]|\.set(Uint8|Uint16|Uint32|BigUint64)\(\s*[^,]*\bHDR_(?!HOPS)/
  const writers = tsSources('ts').filter((f) => f !== 'ts/core/protocol.ts' && field.test(readFileSync(join(ROOT, f), 'utf8')))
  assert.equal(writers, [])
})

test('the frame kernel takes its wire numbers from ts/core/wire.ts and ts/wasm/abi.ts, declaring none itself', () => {
  const src = readFileSync(join(ROOT, 'assembly/frame.ts'), 'utf8')
  assert.match(src, /from '\.\.\/ts\/core\/wire'/)
  assert.match(src, /from '\.\.\/ts\/wasm\/abi'/)
  // no `const NAME = 18` style constants and no literal flag tables
  assert.not.match(src, /^const \w+(: \w+)? = (0x[0-9a-f]+|\d+)\s*$/m)
  assert.not.match(src, /memory\.data<u(8|16)>\(\[/)
  const channel = readFileSync(join(ROOT, 'assembly/channel.ts'), 'utf8')
  assert.match(channel, /from '\.\.\/ts\/wasm\/abi'/)
})

test.run()
