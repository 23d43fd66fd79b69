// A seeded PRNG (sfc32, seeded through splitmix32) and a byte mutator in the
// style of coverage-less fuzzers: bit flips, interesting values at random
// offsets (length fields are where parsers break), inserts, deletes, copies,
// truncation and splicing with another corpus entry. Every input is derived
// from (seed, index) alone, so one failing input is reproduced without
// replaying the run before it.

/** splitmix32 step: spreads a seed so that neighbouring seeds give unrelated streams. */
function mix(x: number): number {
  x = (x + 0x9e3779b9) >>> 0
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0
  return (x ^ (x >>> 16)) >>> 0
}

export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number, index = 0) {
    this.a = mix(seed >>> 0)
    this.b = mix(this.a ^ (index >>> 0))
    this.c = mix(this.b ^ Math.floor(index / 0x100000000))
    this.d = 1
    for (let i = 0; i < 12; i++) this.u32()
  }

  /** A uniform u32 (sfc32). */
  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0
    this.d = (this.d + 1) >>> 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) >>> 0
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0
    this.c = (this.c + t) >>> 0
    return t
  }

  /** A uniform integer in [0, n) for n ≤ 2^32. */
  int(n: number): number {
    return n <= 1 ? 0 : Math.floor((this.u32() / 0x100000000) * n)
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }

  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff
    return out
  }

  /** Small sizes far more often than large ones (what parsers meet most). */
  size(max: number): number {
    const bits = this.int(Math.ceil(Math.log2(max + 1)) + 1)
    return Math.min(max, this.int(2 ** bits))
  }
}

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x20, 0x2e, 0x3a]
const INTERESTING_16 = [0, 1, 0x7fff, 0x8000, 0xffff, 0x00ff, 0x0100, 0xfffe]
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x01000000, 0x00010000, 0xfffffffe]

/**
 * Applies 1..8 random edits to a copy of `input` (never longer than
 * `maxLength`). `other` is another corpus entry for splicing.
 */
export function mutate(rng: Rng, input: Uint8Array, maxLength: number, other?: Uint8Array): Uint8Array {
  let buf: Uint8Array = Uint8Array.from(input)
  const edits = 1 + rng.size(7)
  for (let e = 0; e < edits; e++) {
    const n = buf.length
    switch (rng.int(11)) {
      case 0: // flip a bit
        if (n > 0) buf[rng.int(n)]! ^= 1 << rng.int(8)
        break
      case 1: // a random byte
        if (n > 0) buf[rng.int(n)] = rng.u32() & 0xff
        break
      case 2: // an interesting byte
        if (n > 0) buf[rng.int(n)] = rng.pick(INTERESTING_8)
        break
      case 3: {
        // an interesting u16 / u32, big-endian (every length field in P4/2 is)
        const wide = rng.chance(0.5)
        const w = wide ? 4 : 2
        if (n < w) break
        const at = rng.int(n - w + 1)
        const v = wide ? rng.pick(INTERESTING_32) : rng.pick(INTERESTING_16)
        const dv = new DataView(buf.buffer, buf.byteOffset, buf.length)
        if (wide) dv.setUint32(at, v)
        else dv.setUint16(at, v)
        break
      }
      case 4: {
        // add or subtract a little at a byte (off-by-one lengths)
        if (n > 0) {
          const at = rng.int(n)
          buf[at] = (buf[at]! + rng.range(-4, 4)) & 0xff
        }
        break
      }
      case 5: {
        // insert random bytes
        const k = 1 + rng.size(32)
        if (n + k > maxLength) break
        const at = rng.int(n + 1)
        buf = concat(buf.subarray(0, at), rng.bytes(k), buf.subarray(at))
        break
      }
      case 6: {
        // delete a range
        if (n === 0) break
        const at = rng.int(n)
        const k = 1 + rng.int(Math.min(64, n - at))
        buf = concat(buf.subarray(0, at), buf.subarray(at + k))
        break
      }
      case 7: {
        // duplicate a range somewhere else (repeated fields, replayed records)
        if (n === 0) break
        const from = rng.int(n)
        const k = 1 + rng.int(Math.min(128, n - from))
        if (n + k > maxLength) break
        const at = rng.int(n + 1)
        buf = concat(buf.subarray(0, at), buf.slice(from, from + k), buf.subarray(at))
        break
      }
      case 8: // truncate
        if (n > 0) buf = buf.slice(0, rng.int(n))
        break
      case 9: {
        // splice with another entry
        if (!other || other.length === 0) break
        const cut = rng.int(n + 1)
        const from = rng.int(other.length)
        const tail = other.subarray(from, from + Math.max(0, maxLength - cut))
        buf = concat(buf.subarray(0, cut), tail)
        break
      }
      default: {
        // overwrite a range with a copy of another part (shifted fields)
        if (n < 2) break
        const from = rng.int(n)
        const to = rng.int(n)
        const k = 1 + rng.int(Math.min(32, n - Math.max(from, to)))
        buf.copyWithin(to, from, from + k)
      }
    }
  }
  return buf
}

/** The parts, one after another, in a new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let len = 0
  for (const p of parts) len += p.length
  const out = new Uint8Array(len)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** Hex of the first `max` bytes, for failure reports. */
export function hexOf(b: Uint8Array, max = 512): string {
  const s = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, max)).toString('hex')
  return b.length > max ? `${s}… (${b.length} bytes)` : s
}
