// Dedup table: a fixed-capacity seen-set of 64-bit message IDs with a TTL,
// used by the flood router to drop broadcasts it has already forwarded.
//
// One table is one region of linear memory (allocated and freed by the TS
// wrapper, ts/wasm/dedup.ts), never resized:
//
//   header   64 bytes           see H_* offsets below
//   evict    32 x u32           home buckets of the oldest entries (see prepare)
//   buckets  cap/4 x 64 bytes   7 u64 ids + 1 u64 meta per bucket (one cache line)
//   ring     cap x (u64 id, f64 insertedAtMs)   FIFO in insertion order
//
// Buckets: an id lives in its home bucket (keyed hash & bucketMask) or, when
// that is full, in the next bucket with room (linear probing by bucket).
// Ids are packed at the front of a bucket, 0 marks a free place. The meta
// word holds the bucket's id count (low byte) and, in its high 32 bits, how
// many ids passed over this bucket because it was full ("overflow"): a lookup
// goes on to the next bucket only while that count is non-zero, and deleting
// an id decrements it on every bucket from its home to where it sat. So there
// are no tombstones and nothing to rehash on delete. Load is at most
// (cap + 1) / (7 * cap / 4), about 4/7.
//
// The SIMD build compares a bucket's seven ids with four i64x2.eq and hashes
// two ids per v128 in prepare(); the scalar build does both one at a time.
//
// The ring holds every live id exactly once, oldest at the head: expiry and
// capacity eviction both pop the head. Id 0 is the free-place marker, so a
// live id 0 is a header flag instead of a bucket entry.
//
// Flood fingerprints: a flooded message is identified by its origin's key
// and its message ID together, never by the ID alone, so nobody can pre-empt
// someone else's message by reusing its ID under their own key. The 40 bytes
// originKey(32) || messageId (8, as on the wire) are hashed with SipHash-1-3
// under a second secret per-table key (H_FK0/H_FK1) into the 64-bit id the
// table stores. Without that key an attacker can neither predict nor aim at a
// fingerprint: pre-empting one message takes ~2^64 tries.
//
// Hashing: SipHash-1-3 keyed with a random 128-bit per-table key. SipHash is
// a keyed PRF, so a peer that chooses message IDs cannot predict their
// buckets, nor pick ids that pile into one probe run: without the key, the
// buckets look random. 1-3 (one compression round, three finalization rounds)
// is the variant CPython and Rust's HashMap use against hash flooding.
//
// Time: the table keeps a clock, the latest `now` it was given; an earlier
// `now` (a clock stepped back) is clamped to it, so time never runs backwards
// inside the table and entries expire by the newest time ever seen. An entry
// inserted at t is live while clock - t < ttl: age == ttl is expired.
// A hit does not refresh an entry: it lives ttl from first sight, which keeps
// the ring in time order.

const HEADER: usize = 128
const H_CAP: usize = 0 // u32 ring capacity (power of two)
const H_BMASK: usize = 4 // u32 bucket count - 1
const H_HEAD: usize = 8 // u32 ring index of the oldest entry
const H_COUNT: usize = 12 // u32 live entries
const H_K0: usize = 16 // u64 SipHash key, first half
const H_K1: usize = 24 // u64 SipHash key, second half
const H_TTL: usize = 32 // f64 ms
const H_CLOCK: usize = 40 // f64 ms, latest time seen (-Infinity before any)
const H_ZERO: usize = 48 // u32 1 while id 0 is live
const H_EVCOUNT: usize = 52 // u32 oldest entries whose home bucket is cached
const H_SINK: usize = 56 // u64 sink for prefetch loads
const H_FK0: usize = 64 // u64 fingerprint key, first half
const H_FK1: usize = 72 // u64 fingerprint key, second half
/** Bytes of one origin record: originKey(32) || messageId(8). */
const ORIGIN_RECORD: usize = 40

// Ids checked per prefetch round (see prepare); also the eviction cache's size.
const CHUNK: u32 = 32
const EVICT: usize = HEADER
const BUCKETS: usize = HEADER + (<usize>CHUNK << 2)
const PER_BUCKET: u32 = 7
const META: usize = 56 // offset of the meta word in a bucket

/** Bytes of linear memory a table of `capacity` entries needs. */
export function dedup_bytes(capacity: u32): usize {
  // capacity / 4 buckets of 64 bytes, and a 16-byte ring entry per id
  return BUCKETS + (<usize>capacity << 4) + (<usize>capacity << 4)
}

/**
 * Lays out an empty table in `t` (dedup_bytes(capacity) bytes; 64-byte
 * aligned so that each bucket is one cache line). `capacity` must be a power
 * of two ≥ 4; the TS wrapper checks both.
 */
export function dedup_init(t: usize, capacity: u32, ttl: f64, k0: u64, k1: u64, fk0: u64, fk1: u64): void {
  memory.fill(t, 0, dedup_bytes(capacity))
  store<u64>(t, fk0, H_FK0)
  store<u64>(t, fk1, H_FK1)
  store<u32>(t, capacity, H_CAP)
  store<u32>(t, (capacity >> 2) - 1, H_BMASK)
  store<u64>(t, k0, H_K0)
  store<u64>(t, k1, H_K1)
  store<f64>(t, ttl, H_TTL)
  store<f64>(t, -Infinity, H_CLOCK)
}

// SipHash-1-3 of one 8-byte little-endian message word.
@inline function sipHash13(k0: u64, k1: u64, m: u64): u64 {
  let v0 = k0 ^ 0x736f6d6570736575
  let v1 = k1 ^ 0x646f72616e646f6d
  let v2 = k0 ^ 0x6c7967656e657261
  let v3 = k1 ^ 0x7465646279746573
  // compression: the message word, one round
  v3 ^= m
  v0 += v1; v1 = rotl<u64>(v1, 13); v1 ^= v0; v0 = rotl<u64>(v0, 32)
  v2 += v3; v3 = rotl<u64>(v3, 16); v3 ^= v2
  v0 += v3; v3 = rotl<u64>(v3, 21); v3 ^= v0
  v2 += v1; v1 = rotl<u64>(v1, 17); v1 ^= v2; v2 = rotl<u64>(v2, 32)
  v0 ^= m
  // compression: the final block (message length 8 in the top byte), one round
  const b: u64 = 0x0800000000000000
  v3 ^= b
  v0 += v1; v1 = rotl<u64>(v1, 13); v1 ^= v0; v0 = rotl<u64>(v0, 32)
  v2 += v3; v3 = rotl<u64>(v3, 16); v3 ^= v2
  v0 += v3; v3 = rotl<u64>(v3, 21); v3 ^= v0
  v2 += v1; v1 = rotl<u64>(v1, 17); v1 ^= v2; v2 = rotl<u64>(v2, 32)
  v0 ^= b
  // finalization: three rounds
  v2 ^= 0xff
  v0 += v1; v1 = rotl<u64>(v1, 13); v1 ^= v0; v0 = rotl<u64>(v0, 32)
  v2 += v3; v3 = rotl<u64>(v3, 16); v3 ^= v2
  v0 += v3; v3 = rotl<u64>(v3, 21); v3 ^= v0
  v2 += v1; v1 = rotl<u64>(v1, 17); v1 ^= v2; v2 = rotl<u64>(v2, 32)
  v0 += v1; v1 = rotl<u64>(v1, 13); v1 ^= v0; v0 = rotl<u64>(v0, 32)
  v2 += v3; v3 = rotl<u64>(v3, 16); v3 ^= v2
  v0 += v3; v3 = rotl<u64>(v3, 21); v3 ^= v0
  v2 += v1; v1 = rotl<u64>(v1, 17); v1 ^= v2; v2 = rotl<u64>(v2, 32)
  v0 += v1; v1 = rotl<u64>(v1, 13); v1 ^= v0; v0 = rotl<u64>(v0, 32)
  v2 += v3; v3 = rotl<u64>(v3, 16); v3 ^= v2
  v0 += v3; v3 = rotl<u64>(v3, 21); v3 ^= v0
  v2 += v1; v1 = rotl<u64>(v1, 17); v1 ^= v2; v2 = rotl<u64>(v2, 32)
  return v0 ^ v1 ^ v2 ^ v3
}

// SipHash-1-3 of an origin record (40 bytes = five little-endian words, then
// the final block carrying the length 40 in its top byte).
function sipHash13Record(k0: u64, k1: u64, p: usize): u64 {
  let v0 = k0 ^ 0x736f6d6570736575
  let v1 = k1 ^ 0x646f72616e646f6d
  let v2 = k0 ^ 0x6c7967656e657261
  let v3 = k1 ^ 0x7465646279746573
  for (let w: usize = 0; w <= 5; w++) {
    const m: u64 = w < 5 ? load<u64>(p + (w << 3)) : <u64>ORIGIN_RECORD << 56
    v3 ^= m
    v0 += v1; v1 = rotl<u64>(v1, 13); v1 ^= v0; v0 = rotl<u64>(v0, 32)
    v2 += v3; v3 = rotl<u64>(v3, 16); v3 ^= v2
    v0 += v3; v3 = rotl<u64>(v3, 21); v3 ^= v0
    v2 += v1; v1 = rotl<u64>(v1, 17); v1 ^= v2; v2 = rotl<u64>(v2, 32)
    v0 ^= m
  }
  v2 ^= 0xff
  for (let r = 0; r < 3; r++) {
    v0 += v1; v1 = rotl<u64>(v1, 13); v1 ^= v0; v0 = rotl<u64>(v0, 32)
    v2 += v3; v3 = rotl<u64>(v3, 16); v3 ^= v2
    v0 += v3; v3 = rotl<u64>(v3, 21); v3 ^= v0
    v2 += v1; v1 = rotl<u64>(v1, 17); v1 ^= v2; v2 = rotl<u64>(v2, 32)
  }
  return v0 ^ v1 ^ v2 ^ v3
}

@inline function fingerprintOf(t: usize, rec: usize): u64 {
  return sipHash13Record(load<u64>(t, H_FK0), load<u64>(t, H_FK1), rec)
}

// Two SipHash-1-3s at once, one per 64-bit lane (SIMD build only): wasm
// SIMD has no rotate, so rotations are shift pairs, or byte shuffles where
// the count is a multiple of 8.
@inline function rotl2(v: v128, n: i32): v128 {
  return v128.or(i64x2.shl(v, n), i64x2.shr_u(v, 64 - n))
}

@inline function rotl2by16(v: v128): v128 {
  return i8x16.shuffle(v, v, 6, 7, 0, 1, 2, 3, 4, 5, 14, 15, 8, 9, 10, 11, 12, 13)
}

@inline function rotl2by32(v: v128): v128 {
  return i32x4.shuffle(v, v, 1, 0, 3, 2)
}

@inline function sipHash13x2(k0: u64, k1: u64, m: v128): v128 {
  let v0 = i64x2.splat(k0 ^ 0x736f6d6570736575)
  let v1 = i64x2.splat(k1 ^ 0x646f72616e646f6d)
  let v2 = i64x2.splat(k0 ^ 0x6c7967656e657261)
  let v3 = v128.xor(i64x2.splat(k1 ^ 0x7465646279746573), m)
  v0 = i64x2.add(v0, v1); v1 = v128.xor(rotl2(v1, 13), v0); v0 = rotl2by32(v0)
  v2 = i64x2.add(v2, v3); v3 = v128.xor(rotl2by16(v3), v2)
  v0 = i64x2.add(v0, v3); v3 = v128.xor(rotl2(v3, 21), v0)
  v2 = i64x2.add(v2, v1); v1 = v128.xor(rotl2(v1, 17), v2); v2 = rotl2by32(v2)
  v0 = v128.xor(v0, m)
  const b = i64x2.splat(0x0800000000000000)
  v3 = v128.xor(v3, b)
  v0 = i64x2.add(v0, v1); v1 = v128.xor(rotl2(v1, 13), v0); v0 = rotl2by32(v0)
  v2 = i64x2.add(v2, v3); v3 = v128.xor(rotl2by16(v3), v2)
  v0 = i64x2.add(v0, v3); v3 = v128.xor(rotl2(v3, 21), v0)
  v2 = i64x2.add(v2, v1); v1 = v128.xor(rotl2(v1, 17), v2); v2 = rotl2by32(v2)
  v0 = v128.xor(v0, b)
  v2 = v128.xor(v2, i64x2.splat(0xff))
  for (let r = 0; r < 3; r++) {
    v0 = i64x2.add(v0, v1); v1 = v128.xor(rotl2(v1, 13), v0); v0 = rotl2by32(v0)
    v2 = i64x2.add(v2, v3); v3 = v128.xor(rotl2by16(v3), v2)
    v0 = i64x2.add(v0, v3); v3 = v128.xor(rotl2(v3, 21), v0)
    v2 = i64x2.add(v2, v1); v1 = v128.xor(rotl2(v1, 17), v2); v2 = rotl2by32(v2)
  }
  return v128.xor(v128.xor(v0, v1), v128.xor(v2, v3))
}

@inline function homeOf(t: usize, id: u64): u32 {
  return <u32>sipHash13(load<u64>(t, H_K0), load<u64>(t, H_K1), id) & load<u32>(t, H_BMASK)
}

@inline function bucketAt(t: usize, b: u32): usize {
  return t + BUCKETS + (<usize>b << 6)
}

@inline function ringOf(t: usize): usize {
  return t + BUCKETS + ((<usize>load<u32>(t, H_BMASK) + 1) << 6)
}

// Place of non-zero `id` in bucket `p` (0..6), or -1.
@inline function placeIn(p: usize, id: u64): i32 {
  if (ASC_FEATURE_SIMD) {
    // compare all seven ids at once; lane 7 is the meta word, masked out
    const v = i64x2.splat(id)
    const m01 = i64x2.eq(v128.load(p), v)
    const m23 = i64x2.eq(v128.load(p, 16), v)
    const m45 = i64x2.eq(v128.load(p, 32), v)
    const m6 = v128.and(i64x2.eq(v128.load(p, 48), v), i64x2(-1, 0))
    const any = v128.or(v128.or(m01, m23), v128.or(m45, m6))
    if (!v128.any_true(any)) return -1
    const bits = i64x2.bitmask(m01) | (i64x2.bitmask(m23) << 2) | (i64x2.bitmask(m45) << 4) | (i64x2.bitmask(m6) << 6)
    return <i32>ctz(bits)
  } else {
    const n = <i32>(load<u64>(p, META) & 0xff)
    for (let i = 0; i < n; i++) {
      if (load<u64>(p + (<usize>i << 3)) == id) return i
    }
    return -1
  }
}

// Bucket index holding non-zero `id` (home bucket `b`), or -1.
function find(t: usize, id: u64, b: u32): i32 {
  const bmask = load<u32>(t, H_BMASK)
  // At most one lap, so a lookup ends even if every bucket's overflow
  // count were non-zero.
  let left = bmask
  while (true) {
    const p = bucketAt(t, b)
    if (placeIn(p, id) >= 0) return <i32>b
    if (load<u64>(p, META) < 0x100000000 || left == 0) return -1 // nothing passed over
    b = (b + 1) & bmask
    left--
  }
}

// Puts non-zero `id` (known absent) in the first bucket with room from its
// home `b`, counting the overflow on every full bucket it passes.
function insertId(t: usize, id: u64, b: u32): void {
  const bmask = load<u32>(t, H_BMASK)
  while (true) {
    const p = bucketAt(t, b)
    const meta = load<u64>(p, META)
    const n = <u32>(meta & 0xff)
    if (n < PER_BUCKET) {
      store<u64>(p + (<usize>n << 3), id)
      store<u64>(p, meta + 1, META)
      return
    }
    store<u64>(p, meta + 0x100000000, META)
    b = (b + 1) & bmask
  }
}

// Removes non-zero `id` (present, home bucket `b`): the bucket's last id
// fills its place, and the buckets it had passed over forget it.
function removeId(t: usize, id: u64, b: u32): void {
  const bmask = load<u32>(t, H_BMASK)
  let left = bmask
  while (true) {
    const p = bucketAt(t, b)
    const at = placeIn(p, id)
    const meta = load<u64>(p, META)
    if (at >= 0) {
      const last = (<usize>(meta & 0xff) - 1) << 3
      store<u64>(p + (<usize>at << 3), load<u64>(p + last))
      store<u64>(p + last, 0)
      store<u64>(p, meta - 1, META)
      return
    }
    // A lap without the id means a corrupt table: trap rather than spin.
    if (left == 0) unreachable()
    store<u64>(p, meta - 0x100000000, META)
    b = (b + 1) & bmask
    left--
  }
}

// Removes the ring's oldest entry (at `head`) from the buckets, taking its
// home bucket from the eviction cache when prepare() left it there (`cached`).
@inline function dropOldest(t: usize, ring: usize, head: u32, cached: bool): void {
  const id = load<u64>(ring + (<usize>head << 4))
  if (id == 0) {
    store<u32>(t, 0, H_ZERO)
  } else {
    removeId(t, id, cached ? load<u32>(t + EVICT + (<usize>(head & (CHUNK - 1)) << 2)) : homeOf(t, id))
  }
}

// Pops the oldest entry from the ring and the buckets.
function popOldest(t: usize): void {
  const head = load<u32>(t, H_HEAD)
  const cached = load<u32>(t, H_EVCOUNT)
  dropOldest(t, ringOf(t), head, cached != 0)
  if (cached != 0) store<u32>(t, cached - 1, H_EVCOUNT)
  store<u32>(t, (head + 1) & (load<u32>(t, H_CAP) - 1), H_HEAD)
  store<u32>(t, load<u32>(t, H_COUNT) - 1, H_COUNT)
}

// Moves the clock forward to `now` (never back; NaN is ignored) and drops
// every entry whose age reached the TTL.
function advance(t: usize, now: f64): void {
  let clock = load<f64>(t, H_CLOCK)
  if (now > clock) {
    clock = now
    store<f64>(t, clock, H_CLOCK)
  }
  const ttl = load<f64>(t, H_TTL)
  const ring = ringOf(t)
  while (load<u32>(t, H_COUNT) != 0) {
    const at = load<f64>(ring + (<usize>load<u32>(t, H_HEAD) << 4), 8)
    if (clock - at < ttl) break
    popOldest(t)
  }
}

// Home buckets of the ids of the chunk being checked (one call at a time).
const HOMES = memory.data(CHUNK << 2)

// Memory-level parallelism: a big table misses the cache on nearly every
// bucket. Before a chunk is checked, hash its ids and the ids next in line
// for eviction, then load each one's home bucket meta word in a tight loop:
// these loads are independent, so the CPU overlaps their misses instead of
// paying them one at a time in the dependent lookups that follow.
function prepare(t: usize, ids: usize, n: i32): void {
  const k0 = load<u64>(t, H_K0)
  const k1 = load<u64>(t, H_K1)
  const bmask = load<u32>(t, H_BMASK)
  const buckets = t + BUCKETS
  let i = 0
  if (ASC_FEATURE_SIMD) {
    const mask = i64x2.splat(<i64>bmask)
    for (; i + 1 < n; i += 2) {
      const h = v128.and(sipHash13x2(k0, k1, v128.load(ids + (<usize>i << 3))), mask)
      // the two homes are the low u32 of each lane
      store<u64>(HOMES + (<usize>i << 2), <u64>i32x4.extract_lane(h, 0) | (<u64>i32x4.extract_lane(h, 2) << 32))
    }
  }
  for (; i < n; i++) {
    const home = <u32>sipHash13(k0, k1, load<u64>(ids + (<usize>i << 3))) & bmask
    store<u32>(HOMES + (<usize>i << 2), home)
  }
  // Extend the eviction cache to the CHUNK oldest entries: a chunk evicts
  // at most that many, and each entry is hashed once either way.
  const live = load<u32>(t, H_COUNT)
  const cached = load<u32>(t, H_EVCOUNT)
  const want = live < CHUNK ? live : CHUNK
  const ring = ringOf(t)
  const capMask = load<u32>(t, H_CAP) - 1
  const head = load<u32>(t, H_HEAD)
  let c = cached
  if (ASC_FEATURE_SIMD) {
    const mask = i64x2.splat(<i64>bmask)
    for (; c + 1 < want; c += 2) {
      const p0 = (head + c) & capMask
      const p1 = (p0 + 1) & capMask
      const m = i64x2.replace_lane(i64x2.splat(load<u64>(ring + (<usize>p0 << 4))), 1, load<u64>(ring + (<usize>p1 << 4)))
      const h = v128.and(sipHash13x2(k0, k1, m), mask)
      store<u32>(t + EVICT + (<usize>(p0 & (CHUNK - 1)) << 2), i32x4.extract_lane(h, 0))
      store<u32>(t + EVICT + (<usize>(p1 & (CHUNK - 1)) << 2), i32x4.extract_lane(h, 2))
    }
  }
  for (; c < want; c++) {
    const pos = (head + c) & capMask
    const home = <u32>sipHash13(k0, k1, load<u64>(ring + (<usize>pos << 4))) & bmask
    store<u32>(t + EVICT + (<usize>(pos & (CHUNK - 1)) << 2), home)
  }
  let sink: u64 = 0
  for (let j = 0; j < n; j++) {
    sink ^= load<u64>(buckets + (<usize>load<u32>(HOMES + (<usize>j << 2)) << 6), META)
  }
  for (let j = cached; j < want; j++) {
    const pos = (head + j) & capMask
    sink ^= load<u64>(buckets + (<usize>load<u32>(t + EVICT + (<usize>(pos & (CHUNK - 1)) << 2)) << 6), META)
  }
  if (want > cached) store<u32>(t, want, H_EVCOUNT)
  store<u64>(t, sink, H_SINK) // keeps the loads
}

/**
 * For each of `count` u64 ids at `ids`: writes 1 to out[i] and inserts the id
 * when it is not live (new), else writes 0 (seen). Returns the number of new
 * ids. A full table evicts its oldest entry to make room. Ids repeated inside
 * the batch count as new once, at their first occurrence.
 */
export function dedup_check_and_insert(t: usize, ids: usize, count: i32, now: f64, out: usize): i32 {
  advance(t, now)
  const clock = load<f64>(t, H_CLOCK)
  const capMask = load<u32>(t, H_CAP) - 1
  const ring = ringOf(t)
  let fresh = 0
  for (let base = 0; base < count; base += CHUNK) {
    const n = min(count - base, <i32>CHUNK)
    const chunk = ids + (<usize>base << 3)
    const res = out + <usize>base
    prepare(t, chunk, n)
    // ring state in locals for the chunk, written back after it
    let head = load<u32>(t, H_HEAD)
    let live = load<u32>(t, H_COUNT)
    let cached = load<u32>(t, H_EVCOUNT)
    for (let c = 0; c < n; c++) {
      const id = load<u64>(chunk + (<usize>c << 3))
      let isNew = false
      if (id == 0) {
        isNew = load<u32>(t, H_ZERO) == 0
        if (isNew) store<u32>(t, 1, H_ZERO)
      } else {
        const home = load<u32>(HOMES + (<usize>c << 2))
        const p = bucketAt(t, home)
        if (placeIn(p, id) < 0) {
          const meta = load<u64>(p, META)
          if (meta < 0x100000000) {
            // nothing passed over the home bucket: the id is new
            isNew = true
            if ((<u32>meta & 0xff) < PER_BUCKET) {
              store<u64>(p + (<usize>(meta & 0xff) << 3), id)
              store<u64>(p, meta + 1, META)
            } else {
              insertId(t, id, home)
            }
          } else if (find(t, id, home) < 0) {
            isNew = true
            insertId(t, id, home)
          }
        }
      }
      if (!isNew) {
        store<u8>(res + c, 0)
        continue
      }
      // Buckets hold more than cap + 1 ids, so the new id went in before
      // the eviction here makes room again.
      if (live > capMask) {
        dropOldest(t, ring, head, cached != 0)
        if (cached != 0) cached--
        head = (head + 1) & capMask
        live--
      }
      const e = ring + (<usize>((head + live) & capMask) << 4)
      store<u64>(e, id)
      store<f64>(e, clock, 8)
      live++
      store<u8>(res + c, 1)
      fresh++
    }
    store<u32>(t, head, H_HEAD)
    store<u32>(t, live, H_COUNT)
    store<u32>(t, cached, H_EVCOUNT)
  }
  return fresh
}

/** 1 when `id` is live at time `now` (which advances the clock), else 0. */
export function dedup_has(t: usize, id: u64, now: f64): i32 {
  advance(t, now)
  if (id == 0) return load<u32>(t, H_ZERO) != 0 ? 1 : 0
  return find(t, id, homeOf(t, id)) >= 0 ? 1 : 0
}

/**
 * Writes the fingerprint (see "Flood fingerprints") of each of `count` origin
 * records at `recs` (40 bytes each) as a u64 id at `ids`.
 */
export function dedup_fingerprints(t: usize, recs: usize, count: i32, ids: usize): void {
  for (let i = 0; i < count; i++) {
    store<u64>(ids + (<usize>i << 3), fingerprintOf(t, recs + <usize>i * ORIGIN_RECORD))
  }
}

// One fingerprint and one result byte for the single-record calls below.
const ONE = memory.data(16, 8)

/** 1 when the origin record at `rec` is live at time `now`, else 0 (nothing inserted). */
export function dedup_has_origin(t: usize, rec: usize, now: f64): i32 {
  return dedup_has(t, fingerprintOf(t, rec), now)
}

/** Checks the origin record at `rec` and inserts it when new: 1 new, 0 seen. */
export function dedup_insert_origin(t: usize, rec: usize, now: f64): i32 {
  store<u64>(ONE, fingerprintOf(t, rec))
  return dedup_check_and_insert(t, ONE, 1, now, ONE + 8)
}

/** Advances the clock to `now`, expiring old entries; returns the live count. */
export function dedup_expire(t: usize, now: f64): i32 {
  advance(t, now)
  return <i32>load<u32>(t, H_COUNT)
}

/** Live entries as of the table's clock. */
export function dedup_size(t: usize): i32 {
  return <i32>load<u32>(t, H_COUNT)
}

/** The table's clock: the latest time it was given (-Infinity before any). */
export function dedup_clock(t: usize): f64 {
  return load<f64>(t, H_CLOCK)
}

/** The keyed hash of `id` under this table's key (for tests and diagnostics). */
export function dedup_hash(t: usize, id: u64): u64 {
  return sipHash13(load<u64>(t, H_K0), load<u64>(t, H_K1), id)
}

/** Bucket index holding `id`, or -1 (id 0, never in a bucket, gives -1). */
export function dedup_bucket(t: usize, id: u64): i32 {
  return id == 0 ? -1 : find(t, id, homeOf(t, id))
}

/**
 * Longest distance, in buckets, of any stored id from its home bucket: a
 * health check that stays at 0 or 1 unless ids were aimed at one bucket.
 * Scans the whole table.
 */
export function dedup_max_displacement(t: usize): i32 {
  const bmask = load<u32>(t, H_BMASK)
  let worst: u32 = 0
  for (let b: u32 = 0; b <= bmask; b++) {
    const p = bucketAt(t, b)
    const n = <usize>(load<u64>(p, META) & 0xff)
    for (let i: usize = 0; i < n; i++) {
      const d = (b - homeOf(t, load<u64>(p + (i << 3)))) & bmask
      if (d > worst) worst = d
    }
  }
  return <i32>worst
}

/**
 * Checks the table's invariants (tests and diagnostics; scans everything and
 * allocates a scratch array). Returns 0 when consistent, else the number of
 * the first broken rule: 1 bucket packing, 2 overflow counts, 3 ring ids not
 * found, 4 bucket ids not matching the ring, 5 ring times out of order.
 */
export function dedup_verify(t: usize): i32 {
  const bmask = load<u32>(t, H_BMASK)
  const nb = <usize>bmask + 1
  const expected = heap.alloc(nb << 2)
  memory.fill(expected, 0, nb << 2)
  let stored: u32 = 0
  let bad = 0
  for (let b: u32 = 0; b <= bmask && bad == 0; b++) {
    const p = bucketAt(t, b)
    const n = <u32>(load<u64>(p, META) & 0xff)
    if (n > PER_BUCKET) bad = 1
    for (let i: u32 = 0; i < PER_BUCKET && bad == 0; i++) {
      const id = load<u64>(p + (<usize>i << 3))
      if ((i < n) != (id != 0)) bad = 1
      if (id == 0) continue
      stored++
      for (let h = homeOf(t, id); h != b; h = (h + 1) & bmask) {
        const e = expected + (<usize>h << 2)
        store<u32>(e, load<u32>(e) + 1)
      }
    }
  }
  for (let b: u32 = 0; b <= bmask && bad == 0; b++) {
    if (<u32>(load<u64>(bucketAt(t, b), META) >> 32) != load<u32>(expected + (<usize>b << 2))) bad = 2
  }
  heap.free(expected)
  if (bad != 0) return bad
  const cap = load<u32>(t, H_CAP)
  const live = load<u32>(t, H_COUNT)
  const ring = ringOf(t)
  let zeros: u32 = 0
  let last = -Infinity
  for (let k: u32 = 0; k < live; k++) {
    const e = ring + (<usize>((load<u32>(t, H_HEAD) + k) & (cap - 1)) << 4)
    const id = load<u64>(e)
    if (id == 0) zeros++
    else if (find(t, id, homeOf(t, id)) < 0) return 3
    const at = load<f64>(e, 8)
    if (at < last || at > load<f64>(t, H_CLOCK)) return 5
    last = at
  }
  if (zeros != load<u32>(t, H_ZERO) || stored + zeros != live) return 4
  return 0
}
