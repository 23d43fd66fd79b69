// Typed wrapper over assembly/dedup.ts (memory layout, hashing and probing are
// documented there): a fixed-capacity seen-set of 64-bit
// message IDs with a TTL, living in WASM linear memory. Semantics (shared
// with test/reference/dedup-reference.ts):
// - an id is new when it is not live: new ids are inserted, stamped with the
//   table's clock, and live until clock - stamp >= ttl (age == ttl is expired);
//   a hit does not refresh the stamp;
// - the clock is the latest time the table was given: an earlier time (a clock
//   stepped back) is clamped to it;
// - a full table evicts its oldest entry for each new id;
// - within a batch ids are handled in order, so a repeat of an earlier new id
//   in the same batch is seen.
// Callers should pass a monotonic clock (performance.now()); the clamp keeps a
// stepped wall clock from corrupting the table but not from delaying expiry.
//
// Floods are checked by origin (hasOrigin / insertOrigin / checkOrigins): the
// stored id is a keyed fingerprint of originKey || messageId, so a message ID
// reused under another key is a different entry (assembly/dedup.ts).
import { randomBytes } from 'node:crypto'
import { P4Error, expectBytes } from '../core/errors.js'
import { DEDUP_MAX_CAPACITY, DEDUP_MIN_CAPACITY } from './dedup-limits.js'
import { kernel as defaultKernel, kernelFault, type Kernel } from './loader.js'

/** Default TTL: P4's lower bound for remembering a broadcast message ID. */
export const DEDUP_DEFAULT_TTL_MS = 600_000
export { DEDUP_MAX_CAPACITY, DEDUP_MIN_CAPACITY }
/** Ids per call of the scratch (zero-copy) API. */
export const DEDUP_MAX_BATCH = 1024
/** Bytes of one origin record: originKey (32) || messageId (8, big-endian as on the wire). */
export const ORIGIN_RECORD_SIZE = 40

interface DedupExports {
  dedup_bytes(capacity: number): number
  dedup_init(t: number, capacity: number, ttl: number, k0: bigint, k1: bigint, fk0: bigint, fk1: bigint): void
  dedup_check_and_insert(t: number, ids: number, count: number, now: number, out: number): number
  dedup_has(t: number, id: bigint, now: number): number
  dedup_expire(t: number, now: number): number
  dedup_size(t: number): number
  dedup_clock(t: number): number
  dedup_hash(t: number, id: bigint): bigint
  dedup_bucket(t: number, id: bigint): number
  dedup_max_displacement(t: number): number
  dedup_verify(t: number): number
  dedup_fingerprints(t: number, recs: number, count: number, ids: number): void
  dedup_has_origin(t: number, rec: number, now: number): number
  dedup_insert_origin(t: number, rec: number, now: number): number
}

export interface DedupOptions {
  /** Entries kept at most; rounded up to a power of two ≥ DEDUP_MIN_CAPACITY. */
  capacity: number
  /** How long an id stays seen, in ms (default DEDUP_DEFAULT_TTL_MS). */
  ttlMs?: number
  /** WASM instance to live in (default: the process's kernel()). */
  kernel?: Kernel
  /**
   * SipHash keys (default: random per table): 32 bytes, the bucket key then
   * the fingerprint key. Tests may pass 16 bytes (the fingerprint key is then
   * the same bytes reversed).
   */
  key?: Uint8Array
}

// One scratch area per kernel, shared by all its tables: a call is
// synchronous, so tables never use it at the same time, and a thousand small
// tables do not each pay for it.
interface Scratch {
  ids: number
  out: number
  /** DEDUP_MAX_BATCH origin records. */
  recs: number
}
const scratches = new Map<Kernel, Scratch>()

function scratchOf(k: Kernel): Scratch {
  let s = scratches.get(k)
  if (!s) {
    const ids = k.alloc(DEDUP_MAX_BATCH * 8)
    const out = k.alloc(DEDUP_MAX_BATCH)
    const recs = k.alloc(DEDUP_MAX_BATCH * ORIGIN_RECORD_SIZE)
    s = { ids, out, recs }
    scratches.set(k, s)
  }
  return s
}

function checkNow(nowMs: number): void {
  if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) {
    throw new P4Error('BAD_ARGUMENT', `nowMs must be a finite number, got ${String(nowMs)}`)
  }
}

function checkId(id: bigint): void {
  if (typeof id !== 'bigint' || id < 0n || id > 0xffff_ffff_ffff_ffffn) {
    throw new P4Error('BAD_ARGUMENT', 'id must be a bigint in [0, 2^64)')
  }
}

function roundCapacity(capacity: number): number {
  if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > DEDUP_MAX_CAPACITY) {
    throw new P4Error('BAD_ARGUMENT', `capacity must be an integer in [1, ${DEDUP_MAX_CAPACITY}], got ${String(capacity)}`)
  }
  let c = DEDUP_MIN_CAPACITY
  while (c < capacity) c *= 2
  return c
}

export class DedupTable {
  /** Effective capacity (a power of two). */
  readonly capacity: number
  readonly ttlMs: number
  readonly kernel: Kernel
  /** Linear-memory footprint of this table in bytes (fixed by capacity). */
  readonly bytes: number
  #ptr: number // the table, 64-byte aligned so each bucket is one cache line
  #raw: number // the allocation holding it
  readonly #x: DedupExports
  readonly #scratch: Scratch

  constructor(opts: DedupOptions) {
    if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_ARGUMENT', 'options must be an object')
    const capacity = roundCapacity(opts.capacity)
    const ttlMs = opts.ttlMs ?? DEDUP_DEFAULT_TTL_MS
    if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
      throw new P4Error('BAD_ARGUMENT', `ttlMs must be a finite number > 0, got ${String(ttlMs)}`)
    }
    let key: Uint8Array
    if (opts.key === undefined) key = randomBytes(32)
    else {
      expectBytes(opts.key, undefined, 'key')
      if (opts.key.length === 16) key = Buffer.concat([opts.key, Uint8Array.from(opts.key).reverse()])
      else key = expectBytes(opts.key, 32, 'key (16 or 32 bytes)')
    }
    const keyView = new DataView(key.buffer, key.byteOffset, 32)
    this.kernel = opts.kernel ?? defaultKernel()
    this.#x = this.kernel.exports as unknown as DedupExports
    this.#scratch = scratchOf(this.kernel)
    this.capacity = capacity
    this.ttlMs = ttlMs
    try {
      this.bytes = this.#x.dedup_bytes(capacity) + 64
    } catch (err) {
      throw kernelFault(err, 'dedup_bytes')
    }
    this.#raw = this.kernel.alloc(this.bytes)
    this.#ptr = this.#raw + ((64 - (this.#raw % 64)) % 64) // pointers may exceed 2^31: no bit ops
    try {
      this.#x.dedup_init(
        this.#ptr,
        capacity,
        ttlMs,
        keyView.getBigUint64(0, true),
        keyView.getBigUint64(8, true),
        keyView.getBigUint64(16, true),
        keyView.getBigUint64(24, true),
      )
    } catch (err) {
      throw kernelFault(err, 'dedup_init')
    }
  }

  #table(): number {
    if (this.#ptr === 0) throw new P4Error('CLOSED', 'dedup table is closed')
    return this.#ptr
  }

  /**
   * Checks `ids` in order at time `nowMs`, inserting the new ones. Writes 1
   * (new) or 0 (seen) per id into `out` when given. Returns the count of new
   * ids. Any length works (long batches are fed through the scratch in chunks,
   * with the same result as one batch).
   */
  checkAndInsert(ids: BigUint64Array, nowMs: number, out?: Uint8Array): number {
    const t = this.#table()
    if (!(ids instanceof BigUint64Array)) throw new P4Error('BAD_ARGUMENT', 'ids must be a BigUint64Array')
    checkNow(nowMs)
    if (out !== undefined && (!(out instanceof Uint8Array) || out.length < ids.length)) {
      throw new P4Error('BAD_ARGUMENT', `out must be a Uint8Array of at least ${ids.length} bytes`)
    }
    const { ids: idsPtr, out: outPtr } = this.#scratch
    let fresh = 0
    for (let at = 0; at < ids.length; at += DEDUP_MAX_BATCH) {
      const n = Math.min(DEDUP_MAX_BATCH, ids.length - at)
      // Views are taken after every allocation could have grown memory.
      const mem = this.kernel.bytes()
      new BigUint64Array(mem.buffer, idsPtr, n).set(ids.subarray(at, at + n))
      try {
        fresh += this.#x.dedup_check_and_insert(t, idsPtr, n, nowMs, outPtr)
      } catch (err) {
        throw kernelFault(err, 'dedup_check_and_insert')
      }
      if (out) out.set(this.kernel.bytes().subarray(outPtr, outPtr + n), at)
    }
    return fresh
  }

  /** Scratch for the zero-copy API: DEDUP_MAX_BATCH u64 ids (8-aligned). Shared by all tables of this kernel. */
  get idsPtr(): number {
    this.#table()
    return this.#scratch.ids
  }

  /** Scratch for the zero-copy API: DEDUP_MAX_BATCH result bytes (1 new, 0 seen). */
  get outPtr(): number {
    this.#table()
    return this.#scratch.out
  }

  /**
   * Zero-copy hot path: checks the first `count` ids already written at
   * `idsPtr`, writing results at `outPtr`. Results stay valid until the next
   * dedup call on this kernel.
   */
  checkScratch(count: number, nowMs: number): number {
    const t = this.#table()
    if (!Number.isInteger(count) || count < 0 || count > DEDUP_MAX_BATCH) {
      throw new P4Error('BAD_ARGUMENT', `count must be an integer in [0, ${DEDUP_MAX_BATCH}], got ${String(count)}`)
    }
    checkNow(nowMs)
    try {
      return this.#x.dedup_check_and_insert(t, this.#scratch.ids, count, nowMs, this.#scratch.out)
    } catch (err) {
      throw kernelFault(err, 'dedup_check_and_insert')
    }
  }

  /**
   * Like checkScratch for ids anywhere in linear memory (e.g. gathered by the
   * frame kernel): `count` u64 ids at `idsPtr`, `count` result bytes at `outPtr`.
   */
  checkAt(idsPtr: number, count: number, nowMs: number, outPtr: number): number {
    const t = this.#table()
    const size = this.kernel.exports.memory.buffer.byteLength
    if (!Number.isInteger(count) || count < 0) throw new P4Error('BAD_ARGUMENT', 'count must be a non-negative integer')
    if (!Number.isInteger(idsPtr) || idsPtr <= 0 || idsPtr + count * 8 > size) {
      throw new P4Error('BAD_ARGUMENT', 'idsPtr/count out of linear memory')
    }
    if (!Number.isInteger(outPtr) || outPtr <= 0 || outPtr + count > size) {
      throw new P4Error('BAD_ARGUMENT', 'outPtr/count out of linear memory')
    }
    checkNow(nowMs)
    try {
      return this.#x.dedup_check_and_insert(t, idsPtr, count, nowMs, outPtr)
    } catch (err) {
      throw kernelFault(err, 'dedup_check_and_insert')
    }
  }

  /** Whether `id` is live at `nowMs`, without inserting (the clock still advances). */
  has(id: bigint, nowMs: number): boolean {
    const t = this.#table()
    checkId(id)
    checkNow(nowMs)
    try {
      return this.#x.dedup_has(t, id, nowMs) === 1
    } catch (err) {
      throw kernelFault(err, 'dedup_has')
    }
  }

  // Writes originKey || messageId into the record scratch at `at`; returns its pointer.
  #record(at: number, origin: Uint8Array, idHi: number, idLo: number): number {
    if (!(origin instanceof Uint8Array) || origin.length !== 32) throw new P4Error('BAD_ARGUMENT', 'origin must be a 32-byte key')
    if (idHi >>> 0 !== idHi || idLo >>> 0 !== idLo) throw new P4Error('BAD_ARGUMENT', 'idHi and idLo must be u32')
    const p = this.#scratch.recs + at * ORIGIN_RECORD_SIZE
    const mem = this.kernel.bytes()
    mem.set(origin, p)
    mem[p + 32] = idHi >>> 24
    mem[p + 33] = idHi >>> 16
    mem[p + 34] = idHi >>> 8
    mem[p + 35] = idHi
    mem[p + 36] = idLo >>> 24
    mem[p + 37] = idLo >>> 16
    mem[p + 38] = idLo >>> 8
    mem[p + 39] = idLo
    return p
  }

  /** Whether the flood (origin key, message ID) is live at `nowMs`, without inserting. */
  hasOrigin(origin: Uint8Array, idHi: number, idLo: number, nowMs: number): boolean {
    const t = this.#table()
    checkNow(nowMs)
    const rec = this.#record(0, origin, idHi, idLo)
    try {
      return this.#x.dedup_has_origin(t, rec, nowMs) === 1
    } catch (err) {
      throw kernelFault(err, 'dedup_has_origin')
    }
  }

  /** Checks the flood (origin key, message ID) and inserts it when new; true when it was new. */
  insertOrigin(origin: Uint8Array, idHi: number, idLo: number, nowMs: number): boolean {
    const t = this.#table()
    checkNow(nowMs)
    const rec = this.#record(0, origin, idHi, idLo)
    try {
      return this.#x.dedup_insert_origin(t, rec, nowMs) === 1
    } catch (err) {
      throw kernelFault(err, 'dedup_insert_origin')
    }
  }

  /**
   * checkAndInsert for floods given as origin records (`records`: n × 40
   * bytes, originKey || messageId big-endian). Writes 1 (new) / 0 (seen) per
   * record into `out` when given; returns the count of new ones.
   */
  checkOrigins(records: Uint8Array, nowMs: number, out?: Uint8Array): number {
    const t = this.#table()
    if (!(records instanceof Uint8Array) || records.length % ORIGIN_RECORD_SIZE !== 0) {
      throw new P4Error('BAD_ARGUMENT', `records must be a Uint8Array of n × ${ORIGIN_RECORD_SIZE} bytes`)
    }
    checkNow(nowMs)
    const n = records.length / ORIGIN_RECORD_SIZE
    if (out !== undefined && (!(out instanceof Uint8Array) || out.length < n)) throw new P4Error('BAD_ARGUMENT', `out must be a Uint8Array of at least ${n} bytes`)
    const { ids, out: outPtr, recs } = this.#scratch
    let fresh = 0
    for (let at = 0; at < n; at += DEDUP_MAX_BATCH) {
      const m = Math.min(DEDUP_MAX_BATCH, n - at)
      this.kernel.bytes().set(records.subarray(at * ORIGIN_RECORD_SIZE, (at + m) * ORIGIN_RECORD_SIZE), recs)
      try {
        this.#x.dedup_fingerprints(t, recs, m, ids)
        fresh += this.#x.dedup_check_and_insert(t, ids, m, nowMs, outPtr)
      } catch (err) {
        throw kernelFault(err, 'dedup_check_and_insert')
      }
      if (out) out.set(this.kernel.bytes().subarray(outPtr, outPtr + m), at)
    }
    return fresh
  }

  /** The 64-bit fingerprint this table stores for (origin, message ID) (tests and diagnostics). */
  fingerprint(origin: Uint8Array, idHi: number, idLo: number): bigint {
    const t = this.#table()
    const rec = this.#record(0, origin, idHi, idLo)
    const ids = this.#scratch.ids
    try {
      this.#x.dedup_fingerprints(t, rec, 1, ids)
    } catch (err) {
      throw kernelFault(err, 'dedup_fingerprints')
    }
    return new DataView(this.kernel.bytes().buffer).getBigUint64(ids, true)
  }

  /** Advances the clock to `nowMs` and drops expired entries; returns the live count. */
  expire(nowMs: number): number {
    const t = this.#table()
    checkNow(nowMs)
    try {
      return this.#x.dedup_expire(t, nowMs)
    } catch (err) {
      throw kernelFault(err, 'dedup_expire')
    }
  }

  /** Live entries as of the table's clock (expiry is lazy: see expire()). */
  get size(): number {
    const t = this.#table()
    try {
      return this.#x.dedup_size(t)
    } catch (err) {
      throw kernelFault(err, 'dedup_size')
    }
  }

  /** The table's clock in ms: the latest time it was given (-Infinity before any). */
  get clock(): number {
    const t = this.#table()
    try {
      return this.#x.dedup_clock(t)
    } catch (err) {
      throw kernelFault(err, 'dedup_clock')
    }
  }

  /** Keyed SipHash-1-3 of `id` under this table's key. */
  hash(id: bigint): bigint {
    const t = this.#table()
    checkId(id)
    try {
      return BigInt.asUintN(64, this.#x.dedup_hash(t, id))
    } catch (err) {
      throw kernelFault(err, 'dedup_hash')
    }
  }

  /** Bucket index holding `id`, or -1 (diagnostics and tests). */
  bucketOf(id: bigint): number {
    const t = this.#table()
    checkId(id)
    try {
      return this.#x.dedup_bucket(t, id)
    } catch (err) {
      throw kernelFault(err, 'dedup_bucket')
    }
  }

  /** Longest distance in buckets of any stored id from its home bucket; scans the table (diagnostics). */
  maxDisplacement(): number {
    const t = this.#table()
    try {
      return this.#x.dedup_max_displacement(t)
    } catch (err) {
      throw kernelFault(err, 'dedup_max_displacement')
    }
  }

  /**
   * Checks the table's invariants (packing, overflow counts, ring and buckets
   * holding the same ids, ring in time order); scans everything. 0 when
   * consistent, else the number of the first broken rule (assembly/dedup.ts).
   */
  verify(): number {
    const t = this.#table()
    try {
      return this.#x.dedup_verify(t)
    } catch (err) {
      // verify allocates a scratch array: the one call here that can run out of memory
      throw kernelFault(err, 'dedup_verify', this.kernel.exports.memory)
    }
  }

  get closed(): boolean {
    return this.#ptr === 0
  }

  /** Frees the table's linear memory. Idempotent; any later use throws CLOSED. */
  close(): void {
    if (this.#ptr === 0) return
    this.kernel.free(this.#raw)
    this.#ptr = 0
  }
}
