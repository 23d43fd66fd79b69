// The obviously-correct dedup table: a Map from id to insertion time, plus a
// FIFO queue of the live ids in insertion order (a hit never re-queues, so
// the queue head is always the oldest entry). Same semantics as the WASM
// table (ts/wasm/dedup.ts): clamped clock, age >= ttl expires, oldest-first
// eviction at capacity, batch ids handled in order. Used by tests
// (differential) and benchmarks.
//
// The queue is kept apart from the Map because V8 leaves deleted Map entries
// as holes until it rehashes, so "first key" after many deletes costs O(holes).
import { P4Error } from '../../ts/core/errors.js'

export class DedupReference {
  readonly capacity: number
  readonly ttlMs: number
  #clock = -Infinity
  readonly #seen = new Map<bigint, number>()
  #queue: bigint[] = []
  #head = 0

  constructor(opts: { capacity: number; ttlMs?: number }) {
    if (!Number.isSafeInteger(opts.capacity) || opts.capacity < 1) {
      throw new P4Error('BAD_ARGUMENT', 'capacity must be a positive integer')
    }
    const ttlMs = opts.ttlMs ?? 600_000
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new P4Error('BAD_ARGUMENT', 'ttlMs must be a finite number > 0')
    this.capacity = opts.capacity
    this.ttlMs = ttlMs
  }

  #popOldest(): void {
    this.#seen.delete(this.#queue[this.#head]!)
    this.#head++
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  /** Moves the clock forward (never back) and drops entries whose age reached the TTL. */
  expire(nowMs: number): number {
    if (nowMs > this.#clock) this.#clock = nowMs
    while (this.#seen.size > 0 && this.#clock - this.#seen.get(this.#queue[this.#head]!)! >= this.ttlMs) {
      this.#popOldest()
    }
    return this.#seen.size
  }

  checkAndInsert(ids: BigUint64Array, nowMs: number, out?: Uint8Array): number {
    this.expire(nowMs)
    let fresh = 0
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!
      const isNew = !this.#seen.has(id)
      if (isNew) {
        if (this.#seen.size >= this.capacity) this.#popOldest()
        this.#seen.set(id, this.#clock)
        this.#queue.push(id)
        fresh++
      }
      if (out) out[i] = isNew ? 1 : 0
    }
    return fresh
  }

  has(id: bigint, nowMs: number): boolean {
    this.expire(nowMs)
    return this.#seen.has(id)
  }

  get size(): number {
    return this.#seen.size
  }

  get clock(): number {
    return this.#clock
  }
}
