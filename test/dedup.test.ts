import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { loadKernel, simdSupported, type Kernel, type Variant } from '../ts/wasm/loader.js'
import { DedupTable, DEDUP_MAX_BATCH, DEDUP_MAX_CAPACITY, DEDUP_DEFAULT_TTL_MS } from '../ts/wasm/dedup.js'
import { DedupReference } from './reference/dedup-reference.js'
import { throwsCode } from './helpers/errors.js'
import { seededRandom } from '../common/random.js'

const KEY = Uint8Array.from({ length: 16 }, (_, i) => i)
const variants: Variant[] = simdSupported() ? ['simd', 'scalar'] : ['scalar']

function ids(...xs: (number | bigint)[]): BigUint64Array {
  return BigUint64Array.from(xs.map((x) => BigInt(x)))
}

function run(t: { checkAndInsert(ids: BigUint64Array, now: number, out?: Uint8Array): number }, xs: BigUint64Array, now: number): number[] {
  const out = new Uint8Array(xs.length)
  t.checkAndInsert(xs, now, out)
  return [...out]
}

// SipHash-c-d of one little-endian u64 word (the kernel's id hash).
function sipHash(c: number, d: number, key: Uint8Array, m: bigint): bigint {
  const word = new Uint8Array(8)
  new DataView(word.buffer).setBigUint64(0, m, true)
  return sipHashBytes(c, d, key, word)
}

// SipHash-c-d of any byte string (little-endian words, then the tail and
// length byte), in BigInt: checks the kernel's origin fingerprints.
function sipHashBytes(c: number, d: number, key: Uint8Array, msg: Uint8Array): bigint {
  const M = (1n << 64n) - 1n
  const kv = new DataView(key.buffer, key.byteOffset, 16)
  const k0 = kv.getBigUint64(0, true)
  const k1 = kv.getBigUint64(8, true)
  const rotl = (x: bigint, b: bigint): bigint => ((x << b) | (x >> (64n - b))) & M
  let v0 = k0 ^ 0x736f6d6570736575n
  let v1 = k1 ^ 0x646f72616e646f6dn
  let v2 = k0 ^ 0x6c7967656e657261n
  let v3 = k1 ^ 0x7465646279746573n
  const round = (): void => {
    v0 = (v0 + v1) & M; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n)
    v2 = (v2 + v3) & M; v3 = rotl(v3, 16n); v3 ^= v2
    v0 = (v0 + v3) & M; v3 = rotl(v3, 21n); v3 ^= v0
    v2 = (v2 + v1) & M; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n)
  }
  const words: bigint[] = []
  const full = msg.length - (msg.length % 8)
  for (let i = 0; i < full; i += 8) words.push(new DataView(msg.buffer, msg.byteOffset + i, 8).getBigUint64(0, true))
  let last = BigInt(msg.length & 0xff) << 56n
  for (let i = full; i < msg.length; i++) last |= BigInt(msg[i]!) << BigInt(8 * (i - full))
  words.push(last)
  for (const w of words) {
    v3 ^= w
    for (let i = 0; i < c; i++) round()
    v0 ^= w
  }
  v2 ^= 0xffn
  for (let i = 0; i < d; i++) round()
  return v0 ^ v1 ^ v2 ^ v3
}

/** originKey || messageId (big-endian), as the kernel hashes it. */
function originRecord(origin: Uint8Array, hi: number, lo: number): Uint8Array {
  const r = new Uint8Array(40)
  r.set(origin)
  const dv = new DataView(r.buffer)
  dv.setUint32(32, hi)
  dv.setUint32(36, lo)
  return r
}

test('TS SipHash over bytes matches the published SipHash-2-4 vectors (0 and 8 bytes)', () => {
  // Key 00..0f: empty message 0x726fdb47dd0e0e31, message 00..07 0x93f5f5799a932462 (reference vectors_sip64[0], [8]).
  assert.is(sipHashBytes(2, 4, KEY, new Uint8Array(0)), 0x726fdb47dd0e0e31n)
  assert.is(sipHashBytes(2, 4, KEY, Uint8Array.from({ length: 8 }, (_, i) => i)), 0x93f5f5799a932462n)
})

test('TS SipHash matches the published SipHash-2-4 vector (8-byte message)', () => {
  // Key 00..0f, message 00..07: 0x93f5f5799a932462 (reference vectors_sip64[8]).
  assert.is(sipHash(2, 4, KEY, 0x0706050403020100n), 0x93f5f5799a932462n)
})

for (const v of variants) {
  const k = (): Kernel => loadKernel(v)
  const table = (capacity: number, ttlMs = 1000, key = KEY): DedupTable => new DedupTable({ capacity, ttlMs, kernel: k(), key })

  test(`${v}: kernel hash is keyed SipHash-1-3`, () => {
    const t = table(16)
    for (const id of [0n, 1n, 0x0706050403020100n, 0xffff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n]) {
      assert.is(t.hash(id), sipHash(1, 3, KEY, id))
    }
    t.close()
  })

  test(`${v}: origin fingerprints are keyed SipHash-1-3 of originKey || messageId under the second key`, () => {
    const rnd = seededRandom(11)
    const key32 = Uint8Array.from({ length: 32 }, (_, i) => 100 + i)
    const t = new DedupTable({ capacity: 16, ttlMs: 1000, kernel: k(), key: key32 })
    for (let i = 0; i < 20; i++) {
      const origin = Uint8Array.from({ length: 32 }, () => Math.floor(rnd() * 256))
      const hi = Math.floor(rnd() * 2 ** 32)
      const lo = Math.floor(rnd() * 2 ** 32)
      assert.is(t.fingerprint(origin, hi, lo), sipHashBytes(1, 3, key32.subarray(16), originRecord(origin, hi, lo)))
    }
    // A 16-byte key: the fingerprint key is the same bytes reversed.
    const t16 = table(16)
    const o = new Uint8Array(32).fill(9)
    assert.is(t16.fingerprint(o, 1, 2), sipHashBytes(1, 3, Uint8Array.from(KEY).reverse(), originRecord(o, 1, 2)))
    t.close()
    t16.close()
  })

  test(`${v}: a message ID reused under another origin key is a different flood; the same pair is a duplicate`, () => {
    const t = table(64)
    const alice = new Uint8Array(32).fill(1)
    const mallory = new Uint8Array(32).fill(2)
    assert.ok(t.insertOrigin(mallory, 7, 42, 0), "mallory's message with alice's ID is new")
    assert.not.ok(t.hasOrigin(alice, 7, 42, 1), "alice's message with that ID is not pre-empted")
    assert.ok(t.insertOrigin(alice, 7, 42, 2))
    assert.not.ok(t.insertOrigin(alice, 7, 42, 3), 'a repeat of the same (origin, ID) is seen')
    assert.ok(t.hasOrigin(alice, 7, 42, 4))
    assert.not.ok(t.hasOrigin(alice, 7, 43, 4))
    throwsCode(() => t.hasOrigin(new Uint8Array(31), 1, 1, 0), 'BAD_ARGUMENT')
    throwsCode(() => t.insertOrigin(alice, -1, 1, 0), 'BAD_ARGUMENT')
    throwsCode(() => t.insertOrigin(alice, 1, 2 ** 32, 0), 'BAD_ARGUMENT')
    throwsCode(() => t.checkOrigins(new Uint8Array(41), 0), 'BAD_ARGUMENT')
    t.close()
  })

  test(`${v}: origin batches agree with the reference keyed on exact (origin, ID) pairs, and with single calls`, () => {
    const rnd = seededRandom(5)
    const origins = Array.from({ length: 8 }, (_, i) => new Uint8Array(32).fill(i + 1))
    const a = table(256, 50)
    const b = table(256, 50)
    const ref = new DedupReference({ capacity: 256, ttlMs: 50 })
    for (let round = 0; round < 40; round++) {
      const n = 1 + Math.floor(rnd() * 300)
      const recs = new Uint8Array(n * 40)
      const keys = new BigUint64Array(n)
      for (let i = 0; i < n; i++) {
        const o = Math.floor(rnd() * origins.length)
        const id = Math.floor(rnd() * 64) // few IDs, many origins: reuse across origins is common
        recs.set(originRecord(origins[o]!, 0, id), i * 40)
        keys[i] = BigInt(o * 1000 + id) // the exact pair, as the reference's key
      }
      const now = round * 7
      const outA = new Uint8Array(n)
      const outR = new Uint8Array(n)
      const fa = a.checkOrigins(recs, now, outA)
      const fr = ref.checkAndInsert(keys, now, outR)
      assert.equal([...outA], [...outR], `round ${round}`)
      assert.is(fa, fr)
      for (let i = 0; i < n; i++) {
        const r = recs.subarray(i * 40, i * 40 + 40)
        const dv = new DataView(r.buffer, r.byteOffset, 40)
        assert.is(b.insertOrigin(r.subarray(0, 32), dv.getUint32(32), dv.getUint32(36), now) ? 1 : 0, outA[i])
      }
      assert.is(a.size, ref.size)
      assert.is(a.verify(), 0)
    }
    a.close()
    b.close()
  })

  test(`${v}: new vs seen, count and size`, () => {
    const t = table(64)
    assert.is(t.clock, -Infinity)
    assert.is(t.size, 0)
    assert.is(t.checkAndInsert(new BigUint64Array(0), 0), 0)
    assert.equal(run(t, ids(1, 2, 3), 0), [1, 1, 1])
    assert.equal(run(t, ids(3, 4, 1), 10), [0, 1, 0])
    assert.is(t.checkAndInsert(ids(5, 6, 2), 20), 2)
    assert.is(t.size, 6)
    assert.ok(t.has(4n, 30))
    assert.not.ok(t.has(7n, 30))
    assert.is(t.size, 6, 'has does not insert')
    t.close()
  })

  test(`${v}: id 0 and 2^64-1 are ordinary ids`, () => {
    const t = table(16)
    const edge = ids(0, 0xffff_ffff_ffff_ffffn, 0)
    assert.equal(run(t, edge, 0), [1, 1, 0])
    assert.equal(run(t, edge, 1), [0, 0, 0])
    assert.ok(t.has(0n, 1))
    assert.ok(t.has(0xffff_ffff_ffff_ffffn, 1))
    assert.equal(run(t, ids(0), 1000), [1], 'id 0 expires like any other')
    // id 0 is evicted in FIFO order like any other
    t.checkAndInsert(BigUint64Array.from({ length: 16 }, (_, i) => BigInt(i + 100)), 1000)
    assert.not.ok(t.has(0n, 1000))
    t.close()
  })

  test(`${v}: duplicates within a batch: first new, later seen`, () => {
    const t = table(64)
    assert.equal(run(t, ids(7, 7, 8, 7, 8, 9), 0), [1, 0, 1, 0, 0, 1])
    assert.is(t.size, 3)
    t.close()
  })

  test(`${v}: age == ttl is expired; a hit does not refresh`, () => {
    const t = table(64, 1000)
    run(t, ids(1), 0)
    assert.equal(run(t, ids(1, 2), 500), [0, 1])
    assert.ok(t.has(1n, 999.5))
    assert.equal(run(t, ids(1), 999.999), [0])
    assert.not.ok(t.has(1n, 1000), 'expired at exactly ttl despite the hits at 500 and 999.999')
    assert.is(t.size, 1)
    assert.equal(run(t, ids(1, 2), 1000), [1, 0], 'an expired id is new again; 2 (age 500) is still seen')
    assert.is(t.expire(1500), 1, '2 expired at 1500, 1 (re-inserted at 1000) lives on')
    assert.ok(t.has(1n, 1999))
    assert.is(t.expire(2000), 0)
    t.close()
  })

  test(`${v}: capacity evicts oldest first`, () => {
    const cap = 32
    const extra = 5
    const t = table(cap, 1e9)
    assert.is(t.capacity, cap)
    const all = BigUint64Array.from({ length: cap + extra }, (_, i) => BigInt(1000 + i))
    assert.is(t.checkAndInsert(all, 0), cap + extra)
    assert.is(t.size, cap)
    for (let i = 0; i < extra; i++) assert.not.ok(t.has(all[i]!, 1), `evicted ${i}`)
    for (let i = extra; i < cap + extra; i++) assert.ok(t.has(all[i]!, 1), `kept ${i}`)
    assert.equal(run(t, all.slice(0, extra), 2), Array(extra).fill(1), 'the first k are new again')
    // ...and their re-insertion evicted the next k oldest
    for (let i = extra; i < 2 * extra; i++) assert.not.ok(t.has(all[i]!, 3))
    for (let i = 2 * extra; i < cap + extra; i++) assert.ok(t.has(all[i]!, 3))
    assert.is(t.verify(), 0)
    t.close()
  })

  test(`${v}: capacity is rounded up to a power of two ≥ 16`, () => {
    const sizes: [number, number][] = [[1, 16], [16, 16], [17, 32], [1000, 1024]]
    for (const [asked, got] of sizes) {
      const t = table(asked)
      assert.is(t.capacity, got)
      assert.is(t.bytes, 320 + 32 * got) // header (128), eviction cache (128), alignment slack (64), 32 per entry
      t.close()
    }
  })

  test(`${v}: time going backwards is clamped to the latest time seen`, () => {
    const t = table(64, 1000)
    run(t, ids(1), 10_000)
    assert.equal(run(t, ids(1, 2), 5_000), [0, 1], 'earlier time: 1 still seen, 2 stamped at 10000')
    assert.is(t.clock, 10_000)
    assert.ok(t.has(1n, 0))
    assert.ok(t.has(2n, 10_999))
    assert.is(t.expire(11_000), 0, 'both expire at clock 11000: stepping back gave no extra life')
    assert.not.ok(t.has(9n, 20_000))
    assert.is(t.clock, 20_000, 'has() advances the clock too')
    // a jump far back: stamped with the max clock, expires by it
    run(t, ids(3), -1e12)
    assert.is(t.clock, 20_000)
    assert.ok(t.has(3n, 20_999))
    assert.not.ok(t.has(3n, 21_000))
    t.close()
  })

  test(`${v}: differential vs reference on seeded random workloads`, () => {
    const caps = [16, 64, 256, 1024]
    for (let seed = 1; seed <= 8; seed++) {
      const rnd = seededRandom(seed * 7919)
      const cap = caps[seed % caps.length]!
      const ttl = 200 + Math.floor(rnd() * 2000)
      const w = table(cap, ttl, Uint8Array.from({ length: 16 }, () => Math.floor(rnd() * 256)))
      const r = new DedupReference({ capacity: cap, ttlMs: ttl })
      const history: bigint[] = []
      let now = rnd() * 1e6
      let checks = 0
      const word = (): bigint => (BigInt(Math.floor(rnd() * 2 ** 32)) << 32n) | BigInt(Math.floor(rnd() * 2 ** 32))
      for (let round = 0; round < 120; round++) {
        const tr = rnd()
        if (tr < 0.6) now += rnd() * 50
        else if (tr < 0.8) now += rnd() * ttl * 0.3
        else if (tr < 0.9) now += ttl * (1 + rnd())
        else if (tr < 0.95) now -= rnd() * ttl * 2
        else now += tr < 0.975 ? ttl : 0 // exact boundaries and repeated times
        const n = rnd() < 0.3 ? 1 + Math.floor(rnd() * 8) : 1 + Math.floor(rnd() * DEDUP_MAX_BATCH)
        const batch = new BigUint64Array(n)
        for (let i = 0; i < n; i++) {
          const p = rnd()
          if (p < 0.45 || history.length === 0) {
            const id = rnd() < 0.01 ? [0n, 0xffff_ffff_ffff_ffffn, 1n][Math.floor(rnd() * 3)]! : word()
            history.push(id)
            batch[i] = id
          } else if (p < 0.75) {
            batch[i] = history[history.length - 1 - Math.floor(rnd() * Math.min(history.length, cap))]!
          } else if (p < 0.9) {
            batch[i] = history[Math.floor(rnd() * history.length)]!
          } else {
            batch[i] = i > 0 ? batch[Math.floor(rnd() * i)]! : history[0]!
          }
        }
        const ow = new Uint8Array(n)
        const or = new Uint8Array(n)
        const fw = w.checkAndInsert(batch, now, ow)
        const fr = r.checkAndInsert(batch, now, or)
        checks += n
        if (fw !== fr || w.size !== r.size || w.clock !== r.clock) {
          assert.unreachable(`seed ${seed} round ${round}: fresh ${fw}/${fr} size ${w.size}/${r.size}`)
        }
        for (let i = 0; i < n; i++) {
          if (ow[i] !== or[i]) assert.unreachable(`seed ${seed} round ${round} id ${i}: wasm ${ow[i]} ref ${or[i]}`)
        }
        if (round % 4 === 0) assert.is(w.verify(), 0, `invariants seed ${seed} round ${round}`)
        for (let i = 0; i < 8; i++) {
          const id = history[Math.floor(rnd() * history.length)]!
          const at = now - rnd() * 10
          assert.is(w.has(id, at), r.has(id, at), `has seed ${seed} round ${round}`)
        }
      }
      assert.ok(checks > 20 * cap, 'heavy eviction happened')
      assert.is(w.verify(), 0)
      assert.ok(w.maxDisplacement() <= 4)
      w.close()
    }
  })

  test(`${v}: zero-copy scratch and raw-pointer calls match the copy-in API`, () => {
    const a = table(256)
    const b = table(256)
    const c = table(256)
    const rnd = seededRandom(42)
    for (let round = 0; round < 20; round++) {
      const n = 1 + Math.floor(rnd() * DEDUP_MAX_BATCH)
      const batch = BigUint64Array.from({ length: n }, () => BigInt(Math.floor(rnd() * 600)))
      const outA = new Uint8Array(n)
      const fa = a.checkAndInsert(batch, round * 30, outA)
      new BigUint64Array(k().bytes().buffer, b.idsPtr, n).set(batch)
      const fb = b.checkScratch(n, round * 30)
      const outB = k().bytes().slice(b.outPtr, b.outPtr + n)
      const idsPtr = k().alloc(n * 8)
      const outPtr = k().alloc(n)
      new BigUint64Array(k().bytes().buffer, idsPtr, n).set(batch)
      const fc = c.checkAt(idsPtr, n, round * 30, outPtr)
      const outC = k().bytes().slice(outPtr, outPtr + n)
      k().free(idsPtr)
      k().free(outPtr)
      assert.is(fb, fa)
      assert.is(fc, fa)
      assert.equal(outB, outA)
      assert.equal(outC, outA)
    }
    a.close()
    b.close()
    c.close()
  })

  test(`${v}: long copy-in batches equal one batch (chunked through the scratch)`, () => {
    const w = table(4096, 1e9)
    const r = new DedupReference({ capacity: 4096, ttlMs: 1e9 })
    const rnd = seededRandom(5)
    const batch = BigUint64Array.from({ length: 3000 }, () => BigInt(Math.floor(rnd() * 2500)))
    const ow = new Uint8Array(3000)
    const or = new Uint8Array(3000)
    assert.is(w.checkAndInsert(batch, 0, ow), r.checkAndInsert(batch, 0, or))
    assert.equal(ow, or)
    w.close()
  })

  test(`${v}: views survive memory.grow caused by another table`, () => {
    const a = table(64)
    run(a, ids(1, 2, 3), 0)
    const before = k().exports.memory.buffer
    // Larger than all of linear memory (32 bytes per entry), so it must grow
    // whatever earlier tests left free.
    let cap = 1 << 17
    while (cap * 32 <= before.byteLength) cap *= 2
    const big = new DedupTable({ capacity: cap, kernel: k(), key: KEY })
    assert.is.not(k().exports.memory.buffer, before, 'memory grew')
    assert.equal(run(a, ids(3, 4), 1), [0, 1])
    new BigUint64Array(k().bytes().buffer, a.idsPtr, 2).set(ids(4, 5))
    assert.is(a.checkScratch(2, 2), 1)
    assert.equal([...k().bytes().subarray(a.outPtr, a.outPtr + 2)], [0, 1])
    big.close()
    a.close()
  })

  test(`${v}: many tables alive at once are independent, and freed memory is reused`, () => {
    const rounds: number[] = []
    for (let round = 0; round < 3; round++) {
      const tables = Array.from({ length: 1000 }, (_, i) => new DedupTable({ capacity: 16 << (i % 4), kernel: k() }))
      tables.forEach((t, i) => t.checkAndInsert(ids(i, 1_000_000 + i), 0))
      tables.forEach((t, i) => {
        assert.is(t.size, 2)
        assert.ok(t.has(BigInt(i), 1))
        assert.not.ok(t.has(BigInt(i + 1), 1))
      })
      for (const t of tables) t.close()
      rounds.push(k().exports.memory.buffer.byteLength)
    }
    assert.is(rounds[2], rounds[0], 'no growth once freed memory is reused')
  })

  test(`${v}: keyed hashing: different keys place ids differently`, () => {
    const keyB = Uint8Array.from({ length: 16 }, (_, i) => 255 - i)
    const a = table(1024)
    const b = table(1024, 1000, keyB)
    const xs = BigUint64Array.from({ length: 512 }, (_, i) => BigInt(i + 1))
    a.checkAndInsert(xs, 0)
    b.checkAndInsert(xs, 0)
    let same = 0
    for (const id of xs) if (a.bucketOf(id) === b.bucketOf(id)) same++
    assert.ok(same < 16, `${same} of 512 ids in the same bucket under both keys`)
    assert.is.not(a.hash(1n), b.hash(1n))
    const c = new DedupTable({ capacity: 16, kernel: k() })
    const d = new DedupTable({ capacity: 16, kernel: k() })
    assert.is.not(c.hash(1n), d.hash(1n), 'default keys are random per table')
    a.close()
    b.close()
    c.close()
    d.close()
  })

  test(`${v}: ids colliding under an unkeyed hash do not degrade probing`, () => {
    // Identical low 32 bits: every id would land in one bucket of a table
    // indexed by the id's low bits (a probe run of 1024 / 7 buckets).
    const t = table(1024, 1e9)
    const aimed = BigUint64Array.from({ length: 1024 }, (_, i) => (BigInt(i + 1) << 32n) | 0xdeadbeefn)
    assert.is(t.checkAndInsert(aimed, 0), 1024)
    assert.ok(t.maxDisplacement() <= 3, `max displacement ${t.maxDisplacement()} buckets`)
    assert.is(t.checkAndInsert(aimed, 1), 0)
    assert.is(t.verify(), 0)
    t.close()
  })

  test(`${v}: bad options and arguments → BAD_ARGUMENT`, () => {
    const bad: unknown[] = [
      { capacity: 0 },
      { capacity: -1 },
      { capacity: 1.5 },
      { capacity: NaN },
      { capacity: '16' },
      { capacity: DEDUP_MAX_CAPACITY + 1 },
      { capacity: 16, ttlMs: 0 },
      { capacity: 16, ttlMs: -5 },
      { capacity: 16, ttlMs: Infinity },
      { capacity: 16, ttlMs: NaN },
      { capacity: 16, key: new Uint8Array(15) },
      { capacity: 16, key: 'k' },
      null,
    ]
    for (const opts of bad) {
      throwsCode(() => new DedupTable({ kernel: k(), ...(opts as object) } as never), 'BAD_ARGUMENT')
    }
    throwsCode(() => new DedupTable(null as never), 'BAD_ARGUMENT')
    const t = table(16)
    const d = new DedupTable({ capacity: 16, kernel: k() })
    assert.is(d.ttlMs, DEDUP_DEFAULT_TTL_MS)
    d.close()
    throwsCode(() => t.checkScratch(DEDUP_MAX_BATCH + 1, 0), 'BAD_ARGUMENT')
    throwsCode(() => t.checkScratch(-1, 0), 'BAD_ARGUMENT')
    throwsCode(() => t.checkAndInsert(ids(1), NaN), 'BAD_ARGUMENT')
    throwsCode(() => t.checkAndInsert(ids(1), Infinity), 'BAD_ARGUMENT')
    throwsCode(() => t.checkAndInsert([1n] as never, 0), 'BAD_ARGUMENT')
    throwsCode(() => t.checkAndInsert(ids(1, 2), 0, new Uint8Array(1)), 'BAD_ARGUMENT')
    throwsCode(() => t.has(-1n, 0), 'BAD_ARGUMENT')
    throwsCode(() => t.has(1n << 64n, 0), 'BAD_ARGUMENT')
    throwsCode(() => t.has(1 as never, 0), 'BAD_ARGUMENT')
    throwsCode(() => t.checkAt(0, 1, 0, t.outPtr), 'BAD_ARGUMENT')
    throwsCode(() => t.checkAt(t.idsPtr, 1, 0, k().exports.memory.buffer.byteLength), 'BAD_ARGUMENT')
    assert.is(t.size, 0, 'rejected calls changed nothing')
    throwsCode(() => new DedupReference({ capacity: 0 }), 'BAD_ARGUMENT')
    throwsCode(() => new DedupReference({ capacity: 16, ttlMs: 0 }), 'BAD_ARGUMENT')
    t.close()
  })

  test(`${v}: use after close → CLOSED`, () => {
    const t = table(16)
    t.close()
    t.close() // idempotent
    assert.ok(t.closed)
    throwsCode(() => t.checkAndInsert(ids(1), 0), 'CLOSED')
    throwsCode(() => t.checkScratch(1, 0), 'CLOSED')
    throwsCode(() => t.checkAt(8, 1, 0, 8), 'CLOSED')
    throwsCode(() => t.has(1n, 0), 'CLOSED')
    throwsCode(() => t.expire(0), 'CLOSED')
    throwsCode(() => t.size, 'CLOSED')
    throwsCode(() => t.idsPtr, 'CLOSED')
    throwsCode(() => t.hash(1n), 'CLOSED')
    throwsCode(() => t.maxDisplacement(), 'CLOSED')
  })
}

test.run()
