// Unicast sends to one session, as plugin.send() sees them: accepted at once
// while the session is under its high-water mark, else waiting in this one
// FIFO (never a listener per call) until the session drains; and the
// delivery confirmations (DATA_ACK) still awaited from the peer.
import { P4Error } from '../core/errors.js'
import type { Clock, Timer } from '../core/clock.js'
import { MsgType } from '../core/protocol.js'
import type { Session } from '../session/session.js'
import { drainDue, fitsQueue } from './queue-bound.js'

/** Sends that may wait for one session to drain; one more is refused (QUOTA_EXCEEDED). */
export const MAX_WAITING_SENDS = 65_536
/** Payload bytes that may wait for one session to drain. */
export const MAX_WAITING_BYTES = 64 * 1024 * 1024

/** DATA_ACK payload: the status byte. */
export const AckStatus = { DELIVERED: 0, NOT_DELIVERED: 1 } as const

/**
 * Payloads below this leave at the end of the event-loop turn (Session
 * sendDeferred), batched with the sends awaited after them; larger ones go
 * out this tick, sealed straight from the caller's buffer.
 */
export const DEFER_BELOW = 16 * 1024

const RESOLVED: Promise<void> = Promise.resolve()

const SLAB = 256 * 1024
let slab = new Uint8Array(SLAB)
let slabAt = 0

/**
 * `data` as a payload the caller may reuse once send() resolved: a copy if
 * it is deferred (below DEFER_BELOW), carved from a shared slab so that a
 * small message costs no allocation of its own; `data` itself otherwise.
 */
export function handOver(data: Uint8Array): Uint8Array {
  const n = data.length
  if (n >= DEFER_BELOW) return data
  if (slabAt + n > SLAB) {
    slab = new Uint8Array(SLAB)
    slabAt = 0
  }
  const copy = slab.subarray(slabAt, slabAt + n)
  copy.set(data)
  slabAt = (slabAt + n + 7) & ~7
  return copy
}

interface Waiter {
  flags: number
  pluginId: number
  hi: number
  lo: number
  payload: Uint8Array
  resolve: () => void
  reject: (err: P4Error) => void
}

interface AckWaiter {
  resolve: () => void
  reject: (err: P4Error) => void
  timer: Timer
}

const queues = new WeakMap<Session, SendQueue>()

export class SendQueue {
  private readonly waiting: (Waiter | undefined)[] = []
  private head = 0
  private waitingBytes = 0
  /** A send was answered false and no 'drain' has come since. */
  private above = false
  private readonly acks = new Map<string, AckWaiter>()
  /** The sender's event-loop turn in which this session was last marked active (overlay.ts). */
  activeTurn = -1

  /** The queue of `session` (one per session, made on first use). */
  static of(session: Session, peerName: string, clock: Clock): SendQueue {
    let q = queues.get(session)
    if (q === undefined) {
      q = new SendQueue(session, peerName, clock)
      queues.set(session, q)
    }
    return q
  }

  private constructor(
    private readonly session: Session,
    private readonly peerName: string,
    private readonly clock: Clock,
  ) {
    session.on('drain', () => this.pump())
    session.once('close', (why: P4Error | null) => this.fail(why))
  }

  /** Sends waiting for the session to drain. */
  get length(): number {
    return this.waiting.length - this.head
  }

  /**
   * Queues one DATA frame: resolved at once while the session is under its
   * high-water mark and nothing waits before it, else once the session has
   * taken it (also when other frames, floods, filled the session to its
   * bound). Rejects UNREACHABLE when the session closes first, and
   * QUOTA_EXCEEDED past MAX_WAITING_SENDS / MAX_WAITING_BYTES. `payload` is
   * the caller's: copied before this returns unless it is large (see
   * handOver), so it may also be a view its maker overwrites later.
   */
  send(flags: number, pluginId: number, hi: number, lo: number, payload: Uint8Array): Promise<void> {
    const s = this.session
    if (s.closed) return Promise.reject(this.lost(s.closeReason ?? null))
    if (!this.above && this.head === this.waiting.length && this.fits(payload.length)) {
      try {
        // A small payload is copied by the session itself as it queues it.
        if (!this.put(flags, pluginId, hi, lo, payload.length <= s.copiesUpTo ? payload : handOver(payload))) this.above = true
      } catch (err) {
        return Promise.reject(this.refused(err))
      }
      return RESOLVED
    }
    return this.wait(flags, pluginId, hi, lo, handOver(payload))
  }

  // A send that waits for the session to drain. (Its closure lives here, not
  // in send(): V8 would allocate the closure's context on every send.)
  private wait(flags: number, pluginId: number, hi: number, lo: number, payload: Uint8Array): Promise<void> {
    if (this.length >= MAX_WAITING_SENDS || this.waitingBytes + payload.length > MAX_WAITING_BYTES) {
      return Promise.reject(
        new P4Error(
          'QUOTA_EXCEEDED',
          `${this.length} sends (${this.waitingBytes} bytes) already wait for the link to ${this.peerName}; await send() before sending more ` +
            `(at most ${MAX_WAITING_SENDS} sends or ${MAX_WAITING_BYTES} bytes may wait per recipient)`,
        ),
      )
    }
    this.waitingBytes += payload.length
    return new Promise<void>((resolve, reject) => void this.waiting.push({ flags, pluginId, hi, lo, payload, resolve, reject }))
  }

  /**
   * Awaits the peer's DATA_ACK for message (hi, lo): resolves once its node
   * delivered it to the plugin; rejects when it says it did not, when the
   * session closes first, or after `timeoutMs` (TIMEOUT).
   */
  expectAck(hi: number, lo: number, timeoutMs: number): Promise<void> {
    const key = `${hi}:${lo}`
    return new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.acks.delete(key)
        reject(new P4Error('TIMEOUT', `no delivery confirmation from ${this.peerName} after ${timeoutMs} ms`))
      }, timeoutMs)
      this.acks.set(key, { resolve, reject, timer })
    })
  }

  /** Drops an expected ack (its DATA was never sent). */
  cancelAck(hi: number, lo: number): void {
    const key = `${hi}:${lo}`
    const w = this.acks.get(key)
    if (w === undefined) return
    this.clock.clearTimeout(w.timer)
    this.acks.delete(key)
  }

  /** A DATA_ACK arrived; false when none was expected (late, after a timeout, or unsolicited). */
  acked(hi: number, lo: number, status: number, pluginId: number): boolean {
    const key = `${hi}:${lo}`
    const w = this.acks.get(key)
    if (w === undefined) return false
    this.acks.delete(key)
    this.clock.clearTimeout(w.timer)
    if (status === AckStatus.DELIVERED) w.resolve()
    else w.reject(new P4Error('UNREACHABLE', `${this.peerName}'s node did not deliver the message (plugin ${pluginId} not running there, or it refused the message)`))
    return true
  }

  /** The session drained: hand it waiting sends until it is full again. */
  private pump(): void {
    this.above = false
    const s = this.session
    while (this.head < this.waiting.length && !s.closed) {
      const w = this.waiting[this.head]!
      if (!this.fits(w.payload.length)) {
        this.above = true
        break
      }
      this.waiting[this.head++] = undefined
      this.waitingBytes -= w.payload.length
      try {
        if (!this.put(w.flags, w.pluginId, w.hi, w.lo, w.payload)) this.above = true
        w.resolve()
      } catch (err) {
        w.reject(this.refused(err))
      }
      if (this.above) break
    }
    if (this.head === this.waiting.length) {
      this.waiting.length = 0
      this.head = 0
    }
  }

  /**
   * The frame fits under the session's bound (queue-bound.ts), or waiting
   * would not help: the session owes no 'drain' (its bound is below its
   * drain mark), so the session's own check decides, as for any send.
   */
  private fits(payloadLength: number): boolean {
    return fitsQueue(this.session, payloadLength) || !drainDue(this.session)
  }

  private put(flags: number, pluginId: number, hi: number, lo: number, payload: Uint8Array): boolean {
    const s = this.session
    return payload.length < DEFER_BELOW ? s.sendDeferred(MsgType.DATA, flags, 0, pluginId, hi, lo, payload) : s.send(MsgType.DATA, flags, 0, pluginId, hi, lo, payload)
  }

  /**
   * What a send the session threw on rejects with: the session's CLOSED
   * (it is being closed) means the user is unreachable over it, not that
   * this node stopped (the only meaning of CLOSED to plugin.send callers).
   */
  private refused(err: unknown): P4Error {
    if (err instanceof P4Error && err.code === 'CLOSED') return new P4Error('UNREACHABLE', `session to ${this.peerName} is closing`, { cause: err })
    return err as P4Error
  }

  private lost(why: P4Error | null): P4Error {
    return new P4Error('UNREACHABLE', `session to ${this.peerName} closed${why ? `: ${why.message}` : ''}`, { cause: why ?? undefined })
  }

  /** The session closed: every waiting send and expected ack fails with why. */
  private fail(why: P4Error | null): void {
    const err = this.lost(why)
    for (let i = this.head; i < this.waiting.length; i++) this.waiting[i]!.reject(err)
    this.waiting.length = 0
    this.head = 0
    this.waitingBytes = 0
    for (const w of this.acks.values()) {
      this.clock.clearTimeout(w.timer)
      w.reject(err)
    }
    this.acks.clear()
  }
}
