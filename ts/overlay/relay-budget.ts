// Relay budgets: how many floods of one type this node passes on per second.
//
// The total keeps an honest relay under its neighbours' quotas, so it is
// never cut off for passing on someone else's storm. Inside the total, every
// source (an incoming link, or this node's own broadcasts) has a fair share.
// A source within its share may take any token; a source over its share may
// take only while more than a quarter of the total is left. So a storm that stays within
// the storming peer's quotas still cannot spend the tokens that the other
// links' floods need: under contention the storm gets what the others leave,
// and when nobody else floods one busy source may use the whole budget.
import { TokenBucket } from './rate-limit.js'

export interface RelayBudgetOptions {
  /** Relays per second in all. */
  rate: number
  /** Largest burst in all. */
  burst: number
  /** Sources that share the budget fairly (the links target, links.max). */
  shares: number
}

export class RelayBudget {
  private readonly total: TokenBucket
  private readonly shareRate: number
  private readonly shareBurst: number
  /** Keyed by the source object (a Peer, or the overlay for its own floods): gone with it. */
  private readonly shares = new WeakMap<object, TokenBucket>()
  /** Tokens the total must hold before an over-share source may take one. */
  private readonly reserve: number

  constructor(o: RelayBudgetOptions, now: number) {
    this.total = new TokenBucket({ rate: o.rate, burst: o.burst }, now)
    this.shareRate = o.rate / o.shares
    this.shareBurst = Math.max(1, o.burst / o.shares)
    this.reserve = o.burst / 4
  }

  private shareOf(source: object, now: number): TokenBucket {
    let b = this.shares.get(source)
    if (!b) {
      b = new TokenBucket({ rate: this.shareRate, burst: this.shareBurst }, now)
      this.shares.set(source, b)
    }
    return b
  }

  /** Takes one relay token for a flood from `source`; false: drop it. */
  take(source: object, now: number): boolean {
    if (this.shareOf(source, now).take(now)) return this.total.take(now)
    if (this.total.available(now) < this.reserve + 1) return false
    return this.total.take(now)
  }

  /** Milliseconds until `source` could take a token (0: now). */
  waitTime(source: object, now: number): number {
    const share = this.shareOf(source, now)
    const withinShare = Math.max(share.waitTime(now), this.total.waitTime(now))
    const overShare = this.total.waitTime(now, Math.min(this.total.burst, this.reserve + 1))
    return Math.min(withinShare, overShare)
  }
}
