// Waiting on the overlay for the application: until the node has joined
// (start()), until a user is known (waitForUser()), and the recent reasons a
// node could not join or link (status()). Every wait has a deadline on the
// node's clock and ends when the node stops.
import type { EventEmitter } from 'node:events'
import type { Clock } from './core/clock.js'
import { P4Error, type P4ErrorCode } from './core/errors.js'

/** Why this node could not join or link, as status() reports it. */
export interface StatusReason {
  code: P4ErrorCode
  message: string
  /** Wall-clock Unix ms when it happened. */
  at: number
}

/** Warnings kept for status(): the newest few are what a user needs. */
const MAX_REASONS = 8

/** Longest wait a caller may ask for (setTimeout's limit). */
const MAX_WAIT_MS = 2 ** 31 - 1

/** Validates a wait's `timeout` option (ms); BAD_ARGUMENT names `what`. */
export function checkTimeout(value: unknown, fallback: number, what: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_WAIT_MS) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be an integer number of milliseconds 0..${MAX_WAIT_MS}, got ${String(value)}`)
  }
  return value
}

/** The recent warnings of one node, newest last. */
export class Reasons {
  private readonly list: StatusReason[] = []

  constructor(private readonly clock: Clock) {}

  add(err: P4Error): void {
    // The same failure repeated moves to the end instead of filling the list.
    const i = this.list.findIndex((r) => r.code === err.code && r.message === err.message)
    if (i >= 0) this.list.splice(i, 1)
    this.list.push({ code: err.code, message: err.message, at: this.clock.wall() })
    if (this.list.length > MAX_REASONS) this.list.shift()
  }

  get latest(): StatusReason | undefined {
    return this.list[this.list.length - 1]
  }

  snapshot(): StatusReason[] {
    return this.list.map((r) => ({ ...r }))
  }
}

/**
 * Resolves once `ready()` holds, checked now and on each of `events` of
 * `source`; rejects with `onTimeout()` after `timeoutMs` of clock time, and
 * with CLOSED when `source` emits 'stopping'. Listeners and the timer are
 * removed either way.
 */
export function waitUntil(
  source: EventEmitter,
  events: readonly string[],
  ready: () => boolean,
  clock: Clock,
  timeoutMs: number,
  onTimeout: () => P4Error,
): Promise<void> {
  if (ready()) return Promise.resolve()
  return new Promise<void>((resolve, reject) => {
    const done = (err?: P4Error): void => {
      clock.clearTimeout(timer)
      for (const ev of events) source.off(ev, check)
      source.off('stopping', closed)
      if (err) reject(err)
      else resolve()
    }
    const check = (): void => {
      if (ready()) done()
    }
    const closed = (): void => done(new P4Error('CLOSED', 'node stopped while waiting'))
    const timer = clock.setTimeout(() => done(onTimeout()), timeoutMs)
    for (const ev of events) source.on(ev, check)
    source.on('stopping', closed)
  })
}
