// Dedup table: a fixed-capacity seen-set of 64-bit message IDs with a TTL,
// used by the flood router to drop broadcasts it has already forwarded.
//
// One table is one region of linear memory (allocated and freed by the TS
// wrapper, ts/wasm/dedup.ts), never resized:
//
//   header  64 bytes          see H_* offsets below
//   evict   32 x u32          home slots of the oldest entries (see prepare)
//   slots   2*cap x u64       open addressing, linear probing; 0 = empty
//   ring    cap x (u64 id, f64 insertedAtMs)   FIFO in insertion order
//
// The slots hold ids only; an entry's time lives in the ring. Every id in
// the slots is in the ring exactly once and vice versa, so the ring head is
// always the oldest live entry: expiry and capacity eviction both pop it.
// Id 0 is the empty-slot marker, so a live id 0 is a header flag instead.
//
// Hashing: SipHash-1-3 keyed with a random 128-bit per-table key. SipHash is
// a keyed PRF, so a peer that chooses message IDs cannot predict which slot
// an id lands in, nor pick ids that share a probe run; without the key,
// slots look random. 1-3 (one compression round, three finalization rounds)
// is the variant CPython and Rust's HashMap use against hash flooding.
// Deletion is backward-shift (no tombstones), so churn never degrades probes.
//
// Time: the table keeps a clock, the latest `now` it was given; an earlier
// `now` (a clock stepped back) is clamped to it, so time never runs backwards
// inside the table and entries expire by the newest time ever seen. An entry
// inserted at t is live while clock - t < ttl: age == ttl is expired.
// A hit does not refresh an entry: it lives ttl from first sight, which keeps
// the ring in time order.

const HEADER: usize = 64
const H_CAP: usize = 0 // u32 ring capacity (power of two)
const H_MASK: usize = 4 // u32 slot count - 1
const H_HEAD: usize = 8 // u32 ring index of the oldest entry
const H_COUNT: usize = 12 // u32 live entries
const H_K0: usize = 16 // u64 SipHash key, first half
const H_K1: usize = 24 // u64 SipHash key, second half
const H_TTL: usize = 32 // f64 ms
const H_CLOCK: usize = 40 // f64 ms, latest time seen (-Infinity before any)
const H_ZERO: usize = 48 // u32 1 while id 0 is live
const H_EVCOUNT: usize = 52 // u32 oldest entries whose home slot is cached
const H_SINK: usize = 56 // u64 sink for prefetch loads
// Ids checked per prefetch round (see prepare); also the eviction cache's size.
const CHUNK: u32 = 32
const EVICT: usize = HEADER // eviction cache: CHUNK u32 home slots
const SLOTS: usize = HEADER + (<usize>CHUNK << 2)

/** Bytes of linear memory a table of `capacity` entries needs. */
export function dedup_bytes(capacity: u32): usize {
  return SLOTS + (<usize>capacity << 4) + (<usize>capacity << 4)
}

/**
 * Lays out an empty table in `t` (dedup_bytes(capacity) bytes, 8-aligned).
 * `capacity` must be a power of two ≥ 2; the TS wrapper checks it.
 */
export function dedup_init(t: usize, capacity: u32, ttl: f64, k0: u64, k1: u64): void {
  memory.fill(t, 0, dedup_bytes(capacity))
  store<u32>(t, capacity, H_CAP)
  store<u32>(t, (capacity << 1) - 1, H_MASK)
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

@inline function homeOf(t: usize, id: u64, mask: u32): u32 {
  return <u32>sipHash13(load<u64>(t, H_K0), load<u64>(t, H_K1), id) & mask
}

@inline function slotsOf(t: usize): usize {
  return t + SLOTS
}

@inline function ringOf(t: usize): usize {
  return t + SLOTS + ((<usize>load<u32>(t, H_MASK) + 1) << 3)
}

// Removes non-zero `id` (present, home slot `i`) from the slots, then closes
// the gap by shifting later entries of its probe run back (backward shift).
function removeId(t: usize, id: u64, i: u32): void {
  const mask = load<u32>(t, H_MASK)
  const slots = slotsOf(t)
  while (load<u64>(slots + (<usize>i << 3)) != id) i = (i + 1) & mask
  const k0 = load<u64>(t, H_K0)
  const k1 = load<u64>(t, H_K1)
  let j = i
  while (true) {
    j = (j + 1) & mask
    const s = load<u64>(slots + (<usize>j << 3))
    if (s == 0) break
    // s may move into the hole at i unless its home lies cyclically in (i, j]
    const home = <u32>sipHash13(k0, k1, s) & mask
    if (((j - home) & mask) >= ((j - i) & mask)) {
      store<u64>(slots + (<usize>i << 3), s)
      i = j
    }
  }
  store<u64>(slots + (<usize>i << 3), 0)
}

// Pops the oldest entry from the ring and the slots, taking its home slot
// from the eviction cache when prepare() computed it.
function popOldest(t: usize): void {
  const head = load<u32>(t, H_HEAD)
  const id = load<u64>(ringOf(t) + (<usize>head << 4))
  const cached = load<u32>(t, H_EVCOUNT)
  if (id == 0) {
    store<u32>(t, 0, H_ZERO)
  } else {
    const home = cached != 0
      ? load<u32>(t + EVICT + (<usize>(head & (CHUNK - 1)) << 2))
      : homeOf(t, id, load<u32>(t, H_MASK))
    removeId(t, id, home)
  }
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

// Homes of the ids of the chunk being checked (one table is in use at a time).
const HOMES = memory.data(CHUNK << 2)

// Memory-level parallelism: a big table's slots miss the cache on nearly
// every probe. Before a chunk is checked, hash its ids and the ids next in
// line for eviction and load one word of each home slot; these loads are
// independent, so the CPU overlaps their misses instead of paying them one
// at a time in the dependent probe loop that follows.
function prepare(t: usize, ids: usize, n: i32): void {
  const k0 = load<u64>(t, H_K0)
  const k1 = load<u64>(t, H_K1)
  const mask = load<u32>(t, H_MASK)
  const slots = slotsOf(t)
  let sink: u64 = 0
  for (let i = 0; i < n; i++) {
    const home = <u32>sipHash13(k0, k1, load<u64>(ids + (<usize>i << 3))) & mask
    store<u32>(HOMES + (<usize>i << 2), home)
    sink ^= load<u64>(slots + (<usize>home << 3))
  }
  // Extend the eviction cache to the CHUNK oldest entries: a chunk evicts
  // at most that many, and each entry is hashed once either way.
  const live = load<u32>(t, H_COUNT)
  let cached = load<u32>(t, H_EVCOUNT)
  const want = live < CHUNK ? live : CHUNK
  if (cached < want) {
    const ring = ringOf(t)
    const capMask = load<u32>(t, H_CAP) - 1
    const head = load<u32>(t, H_HEAD)
    while (cached < want) {
      const pos = (head + cached) & capMask
      const home = <u32>sipHash13(k0, k1, load<u64>(ring + (<usize>pos << 4))) & mask
      store<u32>(t + EVICT + (<usize>(pos & (CHUNK - 1)) << 2), home)
      sink ^= load<u64>(slots + (<usize>home << 3))
      cached++
    }
    store<u32>(t, cached, H_EVCOUNT)
  }
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
  const mask = load<u32>(t, H_MASK)
  const capMask = load<u32>(t, H_CAP) - 1
  const slots = slotsOf(t)
  const ring = ringOf(t)
  let fresh = 0
  for (let base = 0; base < count; base += CHUNK) {
    const n = min(count - base, <i32>CHUNK)
    const chunk = ids + (<usize>base << 3)
    const res = out + <usize>base
    prepare(t, chunk, n)
    for (let c = 0; c < n; c++) {
      const id = load<u64>(chunk + (<usize>c << 3))
      if (id == 0) {
        if (load<u32>(t, H_ZERO) != 0) {
          store<u8>(res + c, 0)
          continue
        }
        store<u32>(t, 1, H_ZERO)
      } else {
        let i = load<u32>(HOMES + (<usize>c << 2))
        let s = load<u64>(slots + (<usize>i << 3))
        while (s != 0 && s != id) {
          i = (i + 1) & mask
          s = load<u64>(slots + (<usize>i << 3))
        }
        if (s == id) {
          store<u8>(res + c, 0)
          continue
        }
        // 2*cap slots hold cap + 1 ids, so the new id goes in before the
        // eviction below makes room again.
        store<u64>(slots + (<usize>i << 3), id)
      }
      if (load<u32>(t, H_COUNT) > capMask) popOldest(t)
      const tail = (load<u32>(t, H_HEAD) + load<u32>(t, H_COUNT)) & capMask
      const e = ring + (<usize>tail << 4)
      store<u64>(e, id)
      store<f64>(e, clock, 8)
      store<u32>(t, load<u32>(t, H_COUNT) + 1, H_COUNT)
      store<u8>(res + c, 1)
      fresh++
    }
  }
  return fresh
}

// Slot index holding non-zero `id`, or -1.
function find(t: usize, id: u64): i32 {
  const mask = load<u32>(t, H_MASK)
  const slots = slotsOf(t)
  let i = homeOf(t, id, mask)
  while (true) {
    const s = load<u64>(slots + (<usize>i << 3))
    if (s == id) return <i32>i
    if (s == 0) return -1
    i = (i + 1) & mask
  }
}

/** 1 when `id` is live at time `now` (which advances the clock), else 0. */
export function dedup_has(t: usize, id: u64, now: f64): i32 {
  advance(t, now)
  if (id == 0) return load<u32>(t, H_ZERO) != 0 ? 1 : 0
  return find(t, id) >= 0 ? 1 : 0
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

/** Slot index where `id` is stored, or -1 (id 0, never in a slot, gives -1). */
export function dedup_slot(t: usize, id: u64): i32 {
  return id == 0 ? -1 : find(t, id)
}

/**
 * Longest distance of any stored id from its home slot: a health check that
 * stays small unless ids were aimed at one probe run. Scans every slot.
 */
export function dedup_max_displacement(t: usize): i32 {
  const mask = load<u32>(t, H_MASK)
  const slots = slotsOf(t)
  let worst: u32 = 0
  for (let i: u32 = 0; i <= mask; i++) {
    const s = load<u64>(slots + (<usize>i << 3))
    if (s == 0) continue
    const d = (i - homeOf(t, s, mask)) & mask
    if (d > worst) worst = d
  }
  return <i32>worst
}
