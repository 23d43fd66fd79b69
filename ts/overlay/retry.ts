// Dial backoff per address: a dial that failed is not repeated before an
// exponentially growing, jittered wait, so a dead peer is not hammered.

/** Longest wait between dials of one address that keeps failing. */
const DIAL_BACKOFF_MAX_MS = 60_000
/** Addresses remembered at most (the oldest is forgotten first). */
const MAX_ADDRESSES = 1024

interface Failures {
  failures: number
  at: number
  jitter: number
}

export class DialBackoff {
  private readonly failed = new Map<string, Failures>()

  constructor(
    private readonly random: () => number,
    /** Cap while the node has no link at all: then there is nothing else to try. */
    private readonly isolatedCapMs: number,
  ) {}

  /**
   * Wait before dialling an address again after `failures` failed dials:
   * exponential from 1 s, jittered, capped at 60 s — or at isolatedCapMs
   * while the node has no link, so a bootstrap that only timed out while busy
   * does not keep it out for a minute.
   */
  private delay(f: Failures, isolated: boolean): number {
    const cap = isolated ? Math.min(DIAL_BACKOFF_MAX_MS, this.isolatedCapMs) : DIAL_BACKOFF_MAX_MS
    return Math.min(cap, 500 * 2 ** Math.min(f.failures, 7)) * f.jitter
  }

  /** Whether `address` may be dialled at `now`. */
  mayDial(address: string, now: number, isolated: boolean): boolean {
    const f = this.failed.get(address)
    return f === undefined || now >= f.at + this.delay(f, isolated)
  }

  succeeded(address: string): void {
    this.failed.delete(address)
  }

  failedAt(address: string, now: number): void {
    const failures = (this.failed.get(address)?.failures ?? 0) + 1
    this.failed.delete(address)
    this.failed.set(address, { failures, at: now, jitter: 0.5 + this.random() })
    if (this.failed.size > MAX_ADDRESSES) this.failed.delete(this.failed.keys().next().value!)
  }
}
