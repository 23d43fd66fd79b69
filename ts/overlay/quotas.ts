// Per-peer quotas: token buckets that cut off a peer who sends more than an
// honest node would. Every bucket allows a burst of BURST_SECONDS worth of
// its rate (bad signatures: one minute's worth), so joins and floods of an
// honest network pass, while a storm is cut off within seconds.
import { TokenBucket } from './rate-limit.js'

/** Per-peer limits; their defaults per profile and ranges are in the option schema (ts/option-schema.ts). */
export interface Quotas {
  /** Control and flooded frames per second from one peer (unicast DATA is paced by backpressure instead). */
  framesPerSecond: number
  /** HELLO frames per second from one peer (floods and LKA entries). */
  helloPerSecond: number
  /** DISCOVER frames per second from one peer. */
  discoverPerSecond: number
  /** Flooded frames we had already seen, per second, from one peer. */
  duplicatesPerSecond: number
  /** Frames with an invalid origin signature, per minute, from one peer. */
  badSignaturesPerMinute: number
  /** LKA requests (each answered with a whole table), per minute, from one peer. */
  lkaRequestsPerMinute: number
  /** Inbound connections still in their handshake; more are closed at once. */
  maxPendingHandshakes: number
  /** A link whose send queue stays full this long, while it takes less than highWaterMark bytes of it, is closed (it does not read). */
  notReadingMs: number
  /** A cut-off identity is refused for this long. */
  banMs: number
  /**
   * CPU time (ms per second) one peer may make this node spend on expensive
   * work: signature checks of what it floods, walks and LKA answers, opening
   * the end-to-end boxes it sends. Both are real time, also on a ManualClock
   * (the cost is the real time the work took). Past it the peer is not cut off but slowed
   * down: its session stops being read until the budget refills, so TCP
   * backpressure reaches the sender.
   */
  cpuMsPerSecond: number
  /** Largest burst of that CPU time, ms (bounds how long one peer can hold the event loop). */
  cpuBurstMs: number
  /** End-to-end boxes from one peer that fail to open, per minute, before it is cut off. */
  decryptFailuresPerMinute: number
}

const BURST_SECONDS = 5

export type CutOffReason = 'frames' | 'hello' | 'discover' | 'duplicates' | 'bad-signatures' | 'decrypt-failures' | 'lka' | 'not-reading' | 'handshakes'

/** The buckets of one peer, created lazily (an idle link costs nothing). */
export class PeerQuota {
  private readonly q: Quotas
  private frames: TokenBucket | null = null
  private hello: TokenBucket | null = null
  private discover: TokenBucket | null = null
  private dups: TokenBucket | null = null
  private badSigs: TokenBucket | null = null
  private lka: TokenBucket | null = null
  private decrypt: TokenBucket | null = null
  private cpu: TokenBucket | null = null
  private cpuSpent = 0
  /** Monotonic ms since which the peer's send queue has been full and less than highWaterMark of it taken; -1 when not full. */
  private stuckSince = -1
  /** The session's bytesTaken at stuckSince. */
  private takenSince = 0

  constructor(q: Quotas) {
    this.q = q
  }

  private static take(b: TokenBucket, now: number): boolean {
    return b.take(now)
  }

  /** Charges one frame of `kind`; returns the reason to cut the peer off, if any. */
  frame(now: number): CutOffReason | null {
    this.frames ??= new TokenBucket({ rate: this.q.framesPerSecond, burst: this.q.framesPerSecond * BURST_SECONDS }, now)
    return PeerQuota.take(this.frames, now) ? null : 'frames'
  }

  helloFrame(now: number): CutOffReason | null {
    this.hello ??= new TokenBucket({ rate: this.q.helloPerSecond, burst: this.q.helloPerSecond * BURST_SECONDS }, now)
    return PeerQuota.take(this.hello, now) ? null : 'hello'
  }

  discoverFrame(now: number): CutOffReason | null {
    this.discover ??= new TokenBucket({ rate: this.q.discoverPerSecond, burst: this.q.discoverPerSecond * BURST_SECONDS }, now)
    return PeerQuota.take(this.discover, now) ? null : 'discover'
  }

  duplicate(now: number): CutOffReason | null {
    this.dups ??= new TokenBucket({ rate: this.q.duplicatesPerSecond, burst: this.q.duplicatesPerSecond * BURST_SECONDS }, now)
    return PeerQuota.take(this.dups, now) ? null : 'duplicates'
  }

  badSignature(now: number): CutOffReason | null {
    const n = this.q.badSignaturesPerMinute
    this.badSigs ??= new TokenBucket({ rate: n / 60, burst: n }, now)
    return PeerQuota.take(this.badSigs, now) ? null : 'bad-signatures'
  }

  decryptFailure(now: number): CutOffReason | null {
    const n = this.q.decryptFailuresPerMinute
    this.decrypt ??= new TokenBucket({ rate: n / 60, burst: n }, now)
    return PeerQuota.take(this.decrypt, now) ? null : 'decrypt-failures'
  }

  /**
   * Charges `ms` of CPU time spent on this peer's work, at `now` in real
   * time (performance.now(), the clock the cost is measured with, whatever
   * the node's clock). Returns 0 while the peer is within its budget, else
   * how many real ms it must wait (not be read) until the debt is paid.
   */
  chargeCpu(now: number, ms: number): number {
    this.cpuSpent += ms
    this.cpu ??= new TokenBucket({ rate: this.q.cpuMsPerSecond, burst: this.q.cpuBurstMs }, now)
    return this.cpu.spend(now, ms) >= 0 ? 0 : this.cpu.debtWait(now)
  }

  /** CPU ms spent on this peer's expensive work so far (see cpuMsPerSecond). */
  get cpuMs(): number {
    return this.cpuSpent
  }

  /**
   * The not-reading check, at `now`: `buffered` bytes wait for the peer and
   * it has taken `taken` bytes in all. A peer whose queue stays at or above
   * `highWaterMark` while it takes less than `highWaterMark` of it in
   * quotas.notReadingMs does not read (or only a trickle, so its queue just
   * holds memory): 'not-reading'. A full queue alone is not enough: an honest
   * peer in a busy process reads more slowly than a flood fills its queue,
   * yet takes a whole queue at each turn it gets.
   */
  notReading(now: number, buffered: number, highWaterMark: number, taken: number): CutOffReason | null {
    if (buffered < highWaterMark) {
      this.stuckSince = -1
    } else if (this.stuckSince < 0 || taken - this.takenSince >= highWaterMark) {
      this.stuckSince = now // full: a new window starts
      this.takenSince = taken
    } else if (now - this.stuckSince > this.q.notReadingMs) {
      return 'not-reading'
    }
    return null
  }

  lkaRequest(now: number): CutOffReason | null {
    const n = this.q.lkaRequestsPerMinute
    this.lka ??= new TokenBucket({ rate: n / 60, burst: n }, now)
    return PeerQuota.take(this.lka, now) ? null : 'lka'
  }
}
