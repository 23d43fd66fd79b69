// One authenticated session to another node: an overlay link (part of the
// flooding graph) or a direct session (unicast only). Tracks what the links
// manager needs: age, last traffic, outstanding PINGs, how it is closing, and
// a send that never lets a slow peer make a queue grow without bound. State
// that belongs to one overlay concern (an LKA request, a CPU throttle) is
// kept by that concern's module, keyed by the Peer.
import type { Clock, Timer } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import { toHex } from '../core/bytes.js'
import type { RemoteInfo } from '../session/handshake.js'
import type { Session } from '../session/session.js'
import { PeerQuota, type Quotas } from './quotas.js'
import { fitsQueue } from './queue-bound.js'

export type PeerKind = 'link' | 'direct'

interface PendingPing {
  resolve: (ms: number) => void
  reject: (err: P4Error) => void
  timer: Timer
  sentAt: number
}

export class Peer {
  readonly session: Session<RemoteInfo>
  /** True when this node dialled. */
  readonly initiator: boolean
  /** Wall clock (ms) when the session came up (shown in links()). */
  readonly since: number
  /** Monotonic ms when the session came up (link age). */
  readonly startedAt: number
  /** Hex of the remote identity key: the map key for peers. */
  readonly keyHex: string
  readonly quota: PeerQuota
  private readonly clock: Clock
  private kindNow: PeerKind
  private heardAt: number
  private activeAt: number
  private lastRtt: number | undefined = undefined
  private pingAt = -Infinity
  private drops = 0
  private byeSent = false
  private byeGot = false
  private silentClose = false
  private cutOff = false
  private validUntil: number
  private readonly pings = new Map<number, PendingPing>()
  /**
   * The user this peer's identity key was last found bound to, until when
   * (its certificate), and the tables' versions then (membership.ts bound()).
   */
  boundName: string | undefined = undefined
  boundUntil = 0
  boundVersion = -1

  constructor(session: Session<RemoteInfo>, kind: PeerKind, initiator: boolean, clock: Clock, quotas: Quotas, expiresAt = Infinity) {
    this.session = session
    this.clock = clock
    this.quota = new PeerQuota(quotas)
    this.kindNow = kind
    this.initiator = initiator
    this.since = clock.wall()
    this.startedAt = clock.now()
    this.keyHex = toHex(session.remote.identityKey)
    this.heardAt = this.startedAt
    this.activeAt = this.startedAt
    this.validUntil = expiresAt
  }

  get remote(): RemoteInfo {
    return this.session.remote
  }
  get username(): string {
    return this.session.remote.username
  }
  get open(): boolean {
    return !this.session.closed
  }
  /**
   * Open and not being closed by this node (BYE sent or received, or the
   * node stopping): a session new sends may use. One being closed still
   * sends what it queued, but takes nothing new (the session throws CLOSED).
   */
  get usable(): boolean {
    return this.session.accepting
  }
  get kind(): PeerKind {
    return this.kindNow
  }
  /** Monotonic ms of the last frame received (any type). */
  get lastHeard(): number {
    return this.heardAt
  }
  /** Monotonic ms of the last DATA sent or received (idle detection). */
  get lastActive(): number {
    return this.activeAt
  }
  /** Last measured round trip, ms. */
  get rtt(): number | undefined {
    return this.lastRtt
  }
  /** Monotonic ms when the last PING was sent (-Infinity: none yet). */
  get lastPingAt(): number {
    return this.pingAt
  }
  /** Frames not sent because this peer's queue was full. */
  get dropped(): number {
    return this.drops
  }
  /** A BYE was sent or received: the close is expected. */
  get bye(): boolean {
    return this.byeSent || this.byeGot
  }
  /** The other side sent the BYE (it closed the session). */
  get byeReceived(): boolean {
    return this.byeGot
  }
  /** Closed for silence: the user may be gone, so it is probed. */
  get silent(): boolean {
    return this.silentClose
  }
  /** Cut off by a quota: its frames are ignored from then on. */
  get cut(): boolean {
    return this.cutOff
  }
  /** Wall-clock ms after which the certificate shown in the handshake is expired (Infinity: none needed). */
  get expiresAt(): number {
    return this.validUntil
  }

  heard(now: number): void {
    this.heardAt = now
  }
  active(now: number): void {
    this.activeAt = now
  }
  /** No longer counted as a link (replaced by a newer session, whose adoption emitted its link-down): its close emits none. */
  demote(): void {
    this.kindNow = 'direct'
  }
  markByeSent(): void {
    this.byeSent = true
  }
  markByeReceived(): void {
    this.byeGot = true
  }
  markSilent(): void {
    this.silentClose = true
  }
  markCut(): void {
    this.cutOff = true
  }
  /** A newer certificate (from the user's HELLO) vouches for this peer until `t`. */
  extendValidity(t: number): void {
    if (t > this.validUntil) this.validUntil = t
  }

  /**
   * Queues a frame. Returns false (and counts a drop) when the session is
   * closed or its queue is at its bound: flooding never waits for one slow
   * peer, and never buffers for it without limit (queue-bound.ts).
   */
  trySend(type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array): boolean {
    if (this.session.closed) return false
    if (!fitsQueue(this.session, payload.length)) {
      this.drops++
      return false
    }
    try {
      this.session.send(type, flags, hops, pluginId, idHi, idLo, payload)
      return true
    } catch (err) {
      if (err instanceof P4Error && (err.code === 'QUOTA_EXCEEDED' || err.code === 'CLOSED')) {
        this.drops++
        return false
      }
      throw err
    }
  }

  /** Registers a PING with `nonce`; resolves with the round trip in ms. */
  expectPong(nonce: number, sentAt: number, timeoutMs: number): Promise<number> {
    this.pingAt = sentAt
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.pings.delete(nonce)
        reject(new P4Error('TIMEOUT', `no PING-ACK from ${this.username} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pings.set(nonce, { resolve, reject, timer, sentAt })
    })
  }

  /** Resolves the PING with `nonce`; false when none was outstanding. */
  pong(nonce: number, now: number): boolean {
    const p = this.pings.get(nonce)
    if (!p) return false
    this.pings.delete(nonce)
    this.clock.clearTimeout(p.timer)
    this.lastRtt = now - p.sentAt
    p.resolve(this.lastRtt)
    return true
  }

  get pendingPings(): number {
    return this.pings.size
  }

  /** Fails every outstanding PING (the session is gone). */
  ended(err: P4Error): void {
    for (const p of this.pings.values()) {
      this.clock.clearTimeout(p.timer)
      p.reject(err)
    }
    this.pings.clear()
  }
}
