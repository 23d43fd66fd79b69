// Hole punching (issue 18.3): a relayed session tries to become direct.
// Both ends announced HandshakeFeature.PUNCH (a node announces it only when
// its transport can dial from its listening port: tcp with the native addon)
// and RESUME, so the session can move to another Conn without losing a
// record (session/moves.ts). The circuit's opener (the mover) starts:
//
//   opener → other   REACH PUNCH_OFFER  id, its address (observed host, listen port)
//   other  → opener  REACH PUNCH_ANSWER id, its address
//   opener → other   REACH PUNCH_GO     id; the opener waits RTT/2 (OFFER → ANSWER)
//
// then both dial each other's address from their listening port at about
// the same moment (a TCP simultaneous open: each SYN opens the sender's NAT
// for the other's). The opener sends RESUME on the Conn it gets, the other
// reads it (resume.ts: both are authenticated under the session's keys, so
// nobody else can take the session over); the session moves and the circuit
// closes. Any failure leaves the session relayed and is counted by reason.
// Each end dials only the one address the other names (one per message), at
// the port it announced in its handshake, in a scope no narrower than its
// own address (address-scope.ts), at most MAX_ATTEMPTS times per peer
// identity per WINDOW_MS.
import { isIP } from 'node:net'
import { randomBytes } from 'node:crypto'
import { P4Error } from '../core/errors.js'
import { HandshakeFeature, MsgType } from '../core/protocol.js'
import { readResume } from '../session/resume.js'
import type { Address, Conn } from '../transport/types.js'
import { addressScope, withinScope } from './address-scope.js'
import { CircuitConn } from './circuit-conn.js'
import type { Core } from './context.js'
import type { Peer } from './peer.js'
import { encodeReach, ReachKind, type ReachMessage } from './reach-codec.js'

/** Punch attempts per peer identity (either role) per WINDOW_MS. */
export const MAX_ATTEMPTS = 3
export const WINDOW_MS = 10 * 60_000
/** After a failure the next attempt with that peer waits BACKOFF_MS · 2^(failures-1). */
export const BACKOFF_MS = 30_000
/** How long dialling goes on (retrying refused connects) before the attempt fails. */
export const DIAL_WINDOW_MS = 3000
const RETRY_MS = 100
/** Why a punch failed, as counted in stats().punchFailed. */
export type PunchFailure = 'NO_ANSWER' | 'NO_CONNECTION' | 'MOVE_FAILED' | 'CLOSED' | 'RATE_LIMITED' | 'BAD_ADDRESS'

interface Attempt {
  peer: Peer
  id: number
  mover: boolean
  sentAt: number
  /** The other end's address, once known. */
  to?: Address
  timer: ReturnType<Core['clock']['setTimeout']> | null
  done: boolean
}

interface History {
  times: number[]
  failures: number
  notBefore: number
}

/** What the puncher needs of the node. */
export interface PunchHost {
  /** Where peers see this node: the observed host and the listen port (undefined when not known yet). */
  ownAddress(): Address | undefined
}

export class Puncher {
  private readonly attempts = new Map<Peer, Attempt>()
  private readonly history = new Map<string, History>()
  /** Test knob: ignore the per-peer limits (the long test punches 20 times in a row). */
  unlimited = false
  /** Test knob: new relayed sessions start no punch (start() still does; the long test measures a relayed session first). */
  paused = false

  constructor(
    private readonly core: Core,
    private readonly host: PunchHost,
  ) {}

  /** The bit this node announces: only when its transport can dial from its listening port. */
  static feature(core: { cfg: { transport: { dialFrom?: unknown; punchUnavailable?(): string | null } } }): number {
    const t = core.cfg.transport
    return typeof t.dialFrom === 'function' && (t.punchUnavailable?.() ?? null) === null ? HandshakeFeature.PUNCH : 0
  }

  private both(peer: Peer, local: number): boolean {
    return (local & peer.remote.features & HandshakeFeature.PUNCH) !== 0 && peer.session.conn instanceof CircuitConn && peer.session.resumeToken !== null
  }

  /** A relayed session was adopted: its opener starts a punch (when both can, and the limits allow). */
  started(peer: Peer, local: number): void {
    if (this.paused || !peer.initiator || !this.both(peer, local)) return
    // A circuit lost without a move ends the session at once (it is resumable only for the punch).
    void this.start(peer)
  }

  /** Starts a punch on `peer` now; resolves true once the session moved, false when the attempt failed or could not start. */
  async start(peer: Peer): Promise<boolean> {
    const { stats, clock } = this.core
    if (this.attempts.has(peer) || !peer.open) return false
    const me = this.host.ownAddress()
    if (me === undefined) return false
    if (!this.allowed(peer.keyHex)) {
      this.failed('RATE_LIMITED')
      return false
    }
    const a: Attempt = { peer, id: randomBytes(4).readUInt32BE() || 1, mover: true, sentAt: clock.now(), timer: null, done: false }
    this.attempts.set(peer, a)
    stats.punchAttempts++
    return new Promise<boolean>((resolve) => {
      this.results.set(a, resolve)
      this.send(peer, { kind: ReachKind.PUNCH_OFFER, id: a.id, host: me.host, port: me.port })
      this.arm(a, this.core.cfg.timers.requestTimeoutMs, 'NO_ANSWER')
    })
  }

  private readonly results = new Map<Attempt, (ok: boolean) => void>()

  private allowed(keyHex: string): boolean {
    const now = this.core.clock.now()
    const h = this.history.get(keyHex) ?? { times: [], failures: 0, notBefore: 0 }
    this.history.set(keyHex, h)
    h.times = h.times.filter((t) => now - t < WINDOW_MS)
    if (!this.unlimited && (h.times.length >= MAX_ATTEMPTS || now < h.notBefore)) return false
    h.times.push(now)
    return true
  }

  private send(peer: Peer, m: ReachMessage): void {
    peer.trySend(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach(m))
  }

  private arm(a: Attempt, ms: number, why: PunchFailure): void {
    this.core.clock.clearTimeout(a.timer)
    a.timer = this.core.clock.setTimeout(() => this.end(a, why), ms)
    a.timer.unref?.()
  }

  /** A PUNCH_* message (reach.ts routes them here). Throws BAD_FRAME on one that breaks the rules. */
  frame(peer: Peer, m: ReachMessage & { id: number }, local: number): void {
    if (!this.both(peer, local)) throw new P4Error('BAD_FRAME', 'REACH PUNCH on a session that is not relayed, or where not both ends announced PUNCH')
    const a = this.attempts.get(peer)
    if (m.kind === ReachKind.PUNCH_OFFER) {
      if (peer.initiator) throw new P4Error('BAD_FRAME', 'PUNCH_OFFER from the end that did not open the circuit')
      if (a !== undefined) return // one attempt at a time; the opener's own deadline ends its other
      this.checkAddress(peer, m.host, m.port)
      const me = this.host.ownAddress()
      if (me === undefined) return // the opener times out (NO_ANSWER)
      if (!this.plausible(peer, m.host, m.port, me)) return this.failed('BAD_ADDRESS') // unanswered: the opener times out
      if (!this.allowed(peer.keyHex)) return this.failed('RATE_LIMITED')
      const b: Attempt = { peer, id: m.id, mover: false, sentAt: this.core.clock.now(), to: { host: m.host, port: m.port }, timer: null, done: false }
      this.attempts.set(peer, b)
      this.core.stats.punchAttempts++
      this.send(peer, { kind: ReachKind.PUNCH_ANSWER, id: m.id, host: me.host, port: me.port })
      this.arm(b, this.core.cfg.timers.requestTimeoutMs, 'NO_ANSWER')
      return
    }
    // ANSWER and GO belong to the attempt under way; a late one changes nothing.
    if (a === undefined || a.id !== m.id || a.done) return
    if (m.kind === ReachKind.PUNCH_ANSWER) {
      if (!a.mover || a.to !== undefined) throw new P4Error('BAD_FRAME', 'PUNCH_ANSWER not answering an OFFER of ours')
      this.checkAddress(peer, m.host, m.port)
      const me = this.host.ownAddress()
      if (me === undefined || !this.plausible(peer, m.host, m.port, me)) return this.end(a, 'BAD_ADDRESS')
      a.to = { host: m.host, port: m.port }
      const halfRtt = Math.max(0, (this.core.clock.now() - a.sentAt) / 2)
      this.send(peer, { kind: ReachKind.PUNCH_GO, id: a.id })
      this.arm(a, halfRtt + DIAL_WINDOW_MS + this.core.cfg.timers.requestTimeoutMs, 'NO_CONNECTION')
      const t = this.core.clock.setTimeout(() => void this.dial(a, this.core.clock.now() + DIAL_WINDOW_MS), halfRtt)
      t.unref?.()
    } else if (m.kind === ReachKind.PUNCH_GO) {
      if (a.mover) throw new P4Error('BAD_FRAME', 'PUNCH_GO to the end that opened the circuit')
      this.arm(a, DIAL_WINDOW_MS + this.core.cfg.timers.requestTimeoutMs, 'NO_CONNECTION')
      void this.dial(a, this.core.clock.now() + DIAL_WINDOW_MS)
    }
  }

  /**
   * The only address a punch dials: an IP address (no name to resolve) at
   * the port the peer announced as its listening port in its handshake,
   * one that names a single host (not unspecified, multicast or broadcast,
   * in any spelling: address-scope.ts).
   */
  private checkAddress(peer: Peer, host: string, port: number): void {
    if (isIP(host) === 0) throw new P4Error('BAD_FRAME', `PUNCH address ${host} is not an IP address`)
    if (port !== peer.remote.listenPort) throw new P4Error('BAD_FRAME', `PUNCH port ${port} is not the peer's listening port ${peer.remote.listenPort}`)
    if (addressScope(host) === 'none') throw new P4Error('BAD_FRAME', `PUNCH address ${host} is not a unicast address`)
  }

  /**
   * Whether this node dials `host` for a punch: an address that reaches no
   * less far than this node's own (`me`: a loopback address only when this
   * node's own is loopback too, a private, shared or link-local one only
   * when its own is not global), and not this node's own address. The
   * address is the peer's claim: a wrong one goes undialled (counted as
   * BAD_ADDRESS, logged) and the session stays relayed.
   */
  private plausible(peer: Peer, host: string, port: number, me: Address): boolean {
    const why = !withinScope(host, me.host) ? `outside the scope of this node's own address ${me.host}` : host === me.host && port === me.port ? "this node's own address" : undefined
    if (why === undefined) return true
    this.core.log('punch with %s: not dialling %s:%d: %s', peer.username, host, port, why)
    return false
  }

  /** Dials the other end from the listening port until a Conn forms or `until` passes, then moves the session. */
  private async dial(a: Attempt, until: number): Promise<void> {
    const { cfg, clock } = this.core
    const dialFrom = cfg.transport.dialFrom
    if (dialFrom === undefined || a.to === undefined) return this.end(a, 'NO_CONNECTION')
    let conn: Conn | null = null
    while (conn === null && !a.done && a.peer.open) {
      const left = until - clock.now()
      if (left <= 0) break
      try {
        conn = await dialFrom.call(cfg.transport, this.core.listenPort, a.to.host, a.to.port, { timeoutMs: left })
      } catch {
        // Refused (the other SYN not out yet, a NAT's RST) or timed out: again, shortly.
        await new Promise<void>((r) => clock.setTimeout(r, RETRY_MS).unref?.())
      }
    }
    if (conn === null) return this.end(a, a.peer.open ? 'NO_CONNECTION' : 'CLOSED')
    if (a.done || !a.peer.open) {
      conn.destroy()
      return
    }
    try {
      if (a.mover) await a.peer.session.moveTo(conn, { timeoutMs: cfg.timers.requestTimeoutMs })
      else a.peer.session.adopt(await readResume(conn, { timeoutMs: cfg.timers.requestTimeoutMs, clock }))
    } catch (err) {
      conn.destroy()
      this.core.log('punch with %s: the move failed: %s', a.peer.username, (err as Error).message)
      return this.end(a, a.peer.open ? 'MOVE_FAILED' : 'CLOSED')
    }
    this.end(a, null)
  }

  private failed(why: PunchFailure): void {
    const f = this.core.stats.punchFailed
    f[why] = (f[why] ?? 0) + 1
  }

  /** Ends an attempt: `why` null when the session moved. */
  private end(a: Attempt, why: PunchFailure | null): void {
    if (a.done) return
    a.done = true
    this.core.clock.clearTimeout(a.timer)
    if (this.attempts.get(a.peer) === a) this.attempts.delete(a.peer)
    const h = this.history.get(a.peer.keyHex)
    if (why === null) {
      this.core.stats.punchSucceeded++
      if (h) h.failures = 0
      this.core.log('punch with %s: the session is direct now', a.peer.username)
      this.core.emit('punch', { username: a.peer.username, ok: true })
    } else {
      this.failed(why)
      if (h) h.notBefore = this.core.clock.now() + BACKOFF_MS * 2 ** Math.min(h.failures++, 8)
      this.core.log('punch with %s failed: %s', a.peer.username, why)
      this.core.emit('punch', { username: a.peer.username, ok: false, reason: why })
    }
    this.results.get(a)?.(why === null)
    this.results.delete(a)
  }

  /** The session closed: its attempt ends. */
  forget(peer: Peer): void {
    const a = this.attempts.get(peer)
    if (a !== undefined) this.end(a, 'CLOSED')
  }

  /** Stops every attempt (the node stops). */
  stop(): void {
    for (const a of [...this.attempts.values()]) this.end(a, 'CLOSED')
  }
}
