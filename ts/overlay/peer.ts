// One authenticated session to another node: an overlay link (part of the
// flooding graph) or a direct session (unicast only). Tracks what the links
// manager needs: age, last traffic, outstanding PINGs, and a send that never
// lets a slow peer make a queue grow without bound.
import { P4Error } from '../core/errors.js'
import type { RemoteInfo } from '../session/handshake.js'
import type { Session } from '../session/session.js'
import { PeerQuota, type Quotas } from './quotas.js'

export type PeerKind = 'link' | 'direct'

interface PendingPing {
  resolve: (ms: number) => void
  reject: (err: P4Error) => void
  timer: NodeJS.Timeout
  sentAt: number
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

export class Peer {
  readonly session: Session<RemoteInfo>
  kind: PeerKind
  /** True when this node dialled. */
  readonly initiator: boolean
  /** Wall clock (ms) when the session came up. */
  readonly since: number
  /** Hex of the remote identity key: the map key for peers. */
  readonly keyHex: string
  /** Monotonic ms of the last frame received (any type). */
  lastHeard: number
  /** Monotonic ms of the last DATA sent or received (idle detection). */
  lastActive: number
  /** Last measured round trip, ms. */
  rtt: number | undefined
  /** Frames not sent because this peer's queue was full. */
  dropped = 0
  /** Set once a BYE was received or sent: the close is expected. */
  bye = false
  /** Set when the other side sent the BYE (it closed the session). */
  byeReceived = false
  /** Set when the link is closed for silence: the user may be gone, so it is probed. */
  silent = false
  /** Set when quotas cut the peer off: its frames are ignored from then on. */
  cut = false
  readonly quota: PeerQuota
  /** LKA request state: asked → the answer may hold `lkaAllowance` more entries; answered once the last part came. */
  lkaAsked = false
  lkaAnswered = false
  lkaAllowance = 0
  /** Flood keys (see floodKey) of the HELLOs in the answer so far (see Overlay.pushMissingHellos). */
  lkaHeard: Set<string> | null = null
  /** Wall-clock ms after which the certificate this peer showed in its handshake is expired (Infinity: none needed). */
  expiresAt = Infinity
  /** Set while the peer's reading is paused for its CPU budget (see Quotas.cpuMsPerSecond). */
  throttle: NodeJS.Timeout | null = null
  private readonly pings = new Map<number, PendingPing>()

  constructor(session: Session<RemoteInfo>, kind: PeerKind, initiator: boolean, now: number, quotas: Quotas) {
    this.session = session
    this.quota = new PeerQuota(quotas)
    this.kind = kind
    this.initiator = initiator
    this.since = Date.now()
    this.keyHex = hex(session.remote.identityKey)
    this.lastHeard = now
    this.lastActive = now
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
   * Queues a frame. Returns false (and counts a drop) when the session is
   * closed or its queue is at its bound: flooding never waits for one slow
   * peer, and never buffers for it without limit.
   */
  trySend(type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array): boolean {
    if (this.session.closed) return false
    if (this.session.bufferedBytes + payload.length > this.session.maxQueue) {
      this.dropped++
      return false
    }
    try {
      this.session.send(type, flags, hops, pluginId, idHi, idLo, payload)
      return true
    } catch (err) {
      if (err instanceof P4Error && (err.code === 'QUOTA_EXCEEDED' || err.code === 'CLOSED')) {
        this.dropped++
        return false
      }
      throw err
    }
  }

  /** Registers a PING with `nonce`; resolves with the round trip in ms. */
  expectPong(nonce: number, sentAt: number, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
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
    clearTimeout(p.timer)
    this.rtt = now - p.sentAt
    p.resolve(this.rtt)
    return true
  }

  get pendingPings(): number {
    return this.pings.size
  }

  /** Fails every outstanding PING and stops the throttle timer (the session is gone). */
  ended(err: P4Error): void {
    if (this.throttle !== null) clearTimeout(this.throttle)
    this.throttle = null
    for (const p of this.pings.values()) {
      clearTimeout(p.timer)
      p.reject(err)
    }
    this.pings.clear()
  }
}
