// Time, injectable: the overlay, its sessions' handshakes and its quotas read
// time and set timers only through a Clock, so a test or a simulation can
// drive hours of protocol time deterministically with a ManualClock.
import { P4Error } from './errors.js'

/** A timer handle; unref() where the clock has one (the system clock's timers). */
export interface Timer {
  unref?(): unknown
}

export interface Clock {
  /** Monotonic milliseconds (performance.now() on the system clock). */
  now(): number
  /** Wall-clock Unix milliseconds (Date.now() on the system clock). */
  wall(): number
  setTimeout(fn: () => void, ms: number): Timer
  clearTimeout(timer: Timer | null | undefined): void
}

/** Real time: performance.now(), Date.now() and Node's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wall: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout | undefined),
}

interface Pending extends Timer {
  at: number
  seq: number
  fn: (() => void) | null
}

/** Lets I/O callbacks queued by a fired timer run (memory transport, sessions). */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * Time that moves only when told to. advance(ms) fires every timer that
 * falls due, in order, with time set to each one's due time, and lets the
 * event loop turn after each so the I/O it starts (on the memory transport:
 * immediately) happens before the next timer. Wall time is `wallAt` plus the
 * time advanced. Not for use with the tcp transport, whose sockets keep real
 * time.
 */
export interface ManualClockOptions {
  /** Wall-clock time (Unix ms) at clock time 0. Default: Date.now() when created. */
  wallAt?: number
  /**
   * True when nothing is in flight (e.g. `() => network.idle` of a
   * MemoryNetwork): after each timer fires, the event loop turns until it
   * holds (at most 10,000 turns), so that the I/O a timer starts — a dial, a
   * handshake, a flood — completes at that instant of clock time, before time
   * jumps to the next timer. Without it, one turn.
   */
  idle?: () => boolean
}

/** Turns of the event loop allowed to settle the I/O of one instant. */
const MAX_SETTLE_TURNS = 10_000

export class ManualClock implements Clock {
  private t = 0
  private seq = 0
  private readonly wallAt: number
  private readonly idle: (() => boolean) | undefined
  private readonly pending: Pending[] = []

  constructor(opts: ManualClockOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_ARGUMENT', 'ManualClock options must be an object')
    const w = opts.wallAt ?? Date.now()
    if (typeof w !== 'number' || !Number.isFinite(w)) throw new P4Error('BAD_ARGUMENT', 'wallAt must be a finite number')
    if (opts.idle !== undefined && typeof opts.idle !== 'function') throw new P4Error('BAD_ARGUMENT', 'idle must be a function')
    this.wallAt = w
    this.idle = opts.idle
  }

  /** Lets the I/O in flight complete at the current instant (see ManualClockOptions.idle). */
  async settle(): Promise<void> {
    await turn()
    if (!this.idle) return
    for (let i = 0; i < MAX_SETTLE_TURNS && !this.idle(); i++) await turn()
  }

  now(): number {
    return this.t
  }

  wall(): number {
    return this.wallAt + this.t
  }

  setTimeout(fn: () => void, ms: number): Timer {
    if (typeof fn !== 'function') throw new P4Error('BAD_ARGUMENT', 'setTimeout needs a function')
    const delay = typeof ms === 'number' && ms > 0 ? ms : 0
    const p: Pending = { at: this.t + delay, seq: this.seq++, fn }
    // Sorted by due time, then by creation: equal times fire in the order set.
    let i = this.pending.length
    while (i > 0 && (this.pending[i - 1]!.at > p.at || (this.pending[i - 1]!.at === p.at && this.pending[i - 1]!.seq > p.seq))) i--
    this.pending.splice(i, 0, p)
    return p
  }

  clearTimeout(timer: Timer | null | undefined): void {
    if (!timer) return
    const i = this.pending.indexOf(timer as Pending)
    if (i >= 0) this.pending.splice(i, 1)
    ;(timer as Pending).fn = null
  }

  /** Timers not yet fired. */
  get timers(): number {
    return this.pending.length
  }

  /** Moves time forward by `ms`, firing what falls due (and what those set within the span). */
  async advance(ms: number): Promise<void> {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new P4Error('BAD_ARGUMENT', `advance needs a finite number of ms >= 0, got ${String(ms)}`)
    const end = this.t + ms
    await this.settle()
    for (;;) {
      const next = this.pending[0]
      if (next === undefined || next.at > end) break
      this.pending.shift()
      this.t = Math.max(this.t, next.at)
      const fn = next.fn
      next.fn = null
      fn?.()
      await this.settle()
    }
    // Two advances may run at once (a test's background loop and its main
    // line): the later-ending one may already have moved time past `end`,
    // and time never goes back.
    this.t = Math.max(this.t, end)
    await this.settle()
  }

  /**
   * Advances in steps of `stepMs` until `cond()` holds; throws TIMEOUT
   * (naming `what`) if it does not within `limitMs` of clock time.
   */
  async until(cond: () => boolean, limitMs: number, what: string | (() => string), stepMs = 10): Promise<void> {
    const start = this.t
    for (;;) {
      if (cond()) return
      if (this.t - start >= limitMs) throw new P4Error('TIMEOUT', `${typeof what === 'function' ? what() : what} did not happen within ${limitMs} ms of clock time`)
      await this.advance(Math.min(stepMs, limitMs - (this.t - start)))
    }
  }
}
