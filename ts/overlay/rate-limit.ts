// Token buckets for per-peer quotas. Time is always passed in (milliseconds
// from a monotonic clock such as performance.now()), so callers and tests
// decide what "now" is and the limiter never reads a clock itself.
import { P4Error } from '../core/errors.js'

export interface BucketOptions {
  /** Tokens added per second (> 0). */
  rate: number
  /** Bucket capacity: the largest burst allowed after an idle period (>= 1). */
  burst: number
}

function checkOptions(opts: unknown): BucketOptions {
  if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_OPTION', 'rate limit options must be an object')
  const { rate, burst } = opts as Record<string, unknown>
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
    throw new P4Error('BAD_OPTION', `rate must be a finite number > 0, got ${String(rate)}`)
  }
  if (typeof burst !== 'number' || !Number.isFinite(burst) || burst < 1) {
    throw new P4Error('BAD_OPTION', `burst must be a finite number >= 1, got ${String(burst)}`)
  }
  return { rate, burst }
}

function checkTime(now: unknown): number {
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new P4Error('BAD_ARGUMENT', 'now must be a finite number')
  return now
}

function checkCost(n: unknown): number {
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) {
    throw new P4Error('BAD_ARGUMENT', `token cost must be a finite number > 0, got ${String(n)}`)
  }
  return n
}

/** A classic token bucket; starts full. */
export class TokenBucket {
  readonly rate: number
  readonly burst: number
  private tokens: number
  private last: number

  constructor(opts: BucketOptions, now: number) {
    const o = checkOptions(opts)
    this.rate = o.rate
    this.burst = o.burst
    this.tokens = o.burst
    this.last = checkTime(now)
  }

  private refill(now: number): void {
    checkTime(now)
    // A clock that steps backwards adds nothing (and never removes tokens).
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000)
      this.last = now
    }
  }

  /** Tokens available at `now` (fractional). */
  available(now: number): number {
    this.refill(now)
    return this.tokens
  }

  /** Takes `n` tokens if available and returns true; otherwise takes nothing and returns false. */
  take(now: number, n = 1): boolean {
    checkCost(n)
    this.refill(now)
    if (this.tokens < n) return false
    this.tokens -= n
    return true
  }

  /**
   * Spends `n` tokens even when fewer are left: the bucket may go into debt,
   * which later refills pay off first (metering work already done, whose
   * cost is known only afterwards). Returns the tokens left (negative: debt).
   */
  spend(now: number, n: number): number {
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new P4Error('BAD_ARGUMENT', `spent amount must be a finite number >= 0, got ${String(n)}`)
    this.refill(now)
    this.tokens -= n
    return this.tokens
  }

  /** Milliseconds until the bucket is out of debt (0 when it is not in debt). */
  debtWait(now: number): number {
    this.refill(now)
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.rate)
  }

  /** Milliseconds until `n` tokens will be available (0 if now; Infinity if n > burst). */
  waitTime(now: number, n = 1): number {
    checkCost(n)
    this.refill(now)
    if (n > this.burst) return Infinity
    if (this.tokens >= n) return 0
    return Math.ceil(((n - this.tokens) * 1000) / this.rate)
  }

  /** True when the bucket is full at `now`: forgetting it would change nothing. */
  isFull(now: number): boolean {
    return this.available(now) >= this.burst
  }
}

export interface BucketMapOptions extends BucketOptions {
  /** Most keys tracked at once (>= 1); the least recently used key is evicted beyond it. */
  maxKeys: number
}

/**
 * One token bucket per key (peer identity, address …) with a bounded number of
 * keys. Keys are kept in least-recently-used order; when a new key arrives and
 * the map is full, the least recently used key is dropped. An evicted key
 * comes back with a full bucket, so maxKeys must exceed the number of peers
 * that are active at once for the quota to hold.
 */
export class BucketMap<K> {
  readonly maxKeys: number
  private readonly opts: BucketOptions
  private readonly buckets = new Map<K, TokenBucket>()

  constructor(opts: BucketMapOptions) {
    this.opts = checkOptions(opts)
    const { maxKeys } = opts
    if (typeof maxKeys !== 'number' || !Number.isSafeInteger(maxKeys) || maxKeys < 1) {
      throw new P4Error('BAD_OPTION', `maxKeys must be an integer >= 1, got ${String(maxKeys)}`)
    }
    this.maxKeys = maxKeys
  }

  get size(): number {
    return this.buckets.size
  }

  /** Takes `n` tokens from `key`'s bucket; see TokenBucket.take. */
  take(key: K, now: number, n = 1): boolean {
    return this.bucket(key, now).take(now, n)
  }

  /** Milliseconds until `key` may spend `n` tokens. */
  waitTime(key: K, now: number, n = 1): number {
    const b = this.buckets.get(key)
    return b === undefined ? (checkCost(n) > this.opts.burst ? Infinity : 0) : b.waitTime(now, n)
  }

  has(key: K): boolean {
    return this.buckets.has(key)
  }

  delete(key: K): boolean {
    return this.buckets.delete(key)
  }

  /** Drops every bucket that has refilled completely (they are equivalent to absent ones). */
  sweep(now: number): number {
    let dropped = 0
    for (const [key, b] of this.buckets) {
      if (b.isFull(now)) {
        this.buckets.delete(key)
        dropped++
      }
    }
    return dropped
  }

  private bucket(key: K, now: number): TokenBucket {
    let b = this.buckets.get(key)
    if (b !== undefined) {
      // Move to the most-recently-used end.
      this.buckets.delete(key)
      this.buckets.set(key, b)
      return b
    }
    b = new TokenBucket(this.opts, now)
    if (this.buckets.size >= this.maxKeys) {
      const oldest = this.buckets.keys().next().value as K
      this.buckets.delete(oldest)
    }
    this.buckets.set(key, b)
    return b
  }
}
