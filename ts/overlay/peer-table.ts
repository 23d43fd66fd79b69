// The sessions a node holds: it listens and accepts, dials, and adopts each
// authenticated session as an overlay link or a direct session — or
// discards it (over links.hardCap, the losing side of a cross-dial, one
// replaced by a newer session of the same identity). It closes sessions
// with a deadline, and keeps the identities cut off by quotas out.
import type { Timer } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import { sameBytes, toHex } from '../core/bytes.js'
import { randomId } from '../core/ids.js'
import { MsgType } from '../core/protocol.js'
import { acceptSession, initiateSession, type RemoteInfo, type SessionOptions as HandshakeOptions } from '../session/handshake.js'
import { LinkIntent } from '../session/handshake-payload.js'
import { Session, type Frame } from '../session/session.js'
import type { Address, Conn, Listener } from '../transport/types.js'
import type { Core, Directory, Floods, Gate, LkaSync, Sessions, Upkeep } from './context.js'
import { ByeReason, encodeBye } from './link-codec.js'
import { Peer } from './peer.js'
import type { LinkInfo } from './types.js'

/** A closing session that has not finished closing after this is destroyed. */
export const CLOSE_DEADLINE_MS = 1000
/** Sessions still closing when the node stops are destroyed after this. */
const STOP_DEADLINE_MS = 2000
/** Banned identities remembered at most. */
const MAX_BANNED = 4096

export class PeerTable implements Sessions {
  /** Links by remote identity key (hex). */
  private readonly linkMap = new Map<string, Peer>()
  /** Direct sessions by remote identity key (hex). */
  private readonly directMap = new Map<string, Peer>()
  /** Connections in their handshake. */
  private readonly conns = new Set<Conn>()
  /** Sessions being torn down that sit in no table (see discard). */
  private readonly discarding = new Set<Session<RemoteInfo>>()
  private readonly pendingDials = new Map<string, Promise<Peer>>()
  /** Identities cut off by quotas → monotonic ms until which they are refused. */
  private readonly banned = new Map<string, number>()
  /** Bytes/frames of sessions that already closed, so stats never go backwards. */
  private readonly closedTotals = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 }
  private listener: Listener | null = null
  private pendingInbound = 0

  constructor(
    private readonly core: Core,
    private readonly s: { directory: Directory; lka: LkaSync; upkeep: Upkeep; floods: Floods; guard: Gate },
    private readonly onFrame: (peer: Peer, f: Frame) => void,
  ) {}

  get links(): ReadonlyMap<string, Peer> {
    return this.linkMap
  }

  get directs(): ReadonlyMap<string, Peer> {
    return this.directMap
  }

  /** Starts listening; resolves with the address bound. */
  async listen(): Promise<Address> {
    const cfg = this.core.cfg
    this.listener = await cfg.transport.listen(cfg.host, cfg.port, (conn) => this.accept(conn))
    return this.listener.address
  }

  /** BYE on every session, then close all (destroyed after a deadline), and stop listening. */
  async stop(): Promise<void> {
    const clock = this.core.clock
    const all = [...this.linkMap.values(), ...this.directMap.values()]
    for (const p of all) this.sendBye(p, ByeReason.SHUTDOWN, 'node stopping')
    await this.listener?.close()
    await Promise.all(
      all.map(async (p) => {
        const t = clock.setTimeout(() => p.session.destroy(), STOP_DEADLINE_MS)
        await p.session.close()
        clock.clearTimeout(t)
      }),
    )
    for (const c of this.conns) c.destroy()
    this.conns.clear()
    for (const s of this.discarding) s.destroy()
    this.discarding.clear()
    await Promise.allSettled([...this.pendingDials.values()])
  }

  private handshakeOptions(intent: LinkIntent): HandshakeOptions {
    const cfg = this.core.cfg
    return {
      identity: cfg.identity,
      username: cfg.username,
      listenPort: this.core.listenPort,
      intent,
      extension: cfg.certificate,
      timeoutMs: cfg.timers.handshakeTimeoutMs,
      clock: this.core.clock,
      trust: (remote: RemoteInfo) => this.checkTrust(remote.username, remote.identityKey, remote.extension),
    }
  }

  checkTrust(username: string, identityKey: Uint8Array, certificate?: Uint8Array): void {
    const { cfg, stats } = this.core
    if (username === cfg.username && !sameBytes(identityKey, cfg.identity.publicKey)) {
      // A node's own name is always bound to its own key, whatever the policy.
      stats.untrustedKey++
      throw new P4Error('UNTRUSTED_KEY', `${JSON.stringify(username)} is this node's own username; key ${toHex(identityKey).slice(0, 16)}… is not its key`)
    }
    const hex = toHex(identityKey)
    const until = this.banned.get(hex)
    if (until !== undefined) {
      if (this.core.clock.now() < until) throw new P4Error('QUOTA_EXCEEDED', `${username} was cut off for exceeding a quota`)
      this.banned.delete(hex)
    }
    try {
      cfg.trust.check(username, identityKey, certificate && certificate.length > 0 ? certificate : undefined)
    } catch (err) {
      stats.untrustedKey++
      throw err
    }
  }

  ban(peer: Peer): void {
    this.banned.set(peer.keyHex, this.core.clock.now() + this.core.cfg.quotas.banMs)
    if (this.banned.size > MAX_BANNED) this.banned.delete(this.banned.keys().next().value!)
  }

  private accept(conn: Conn): void {
    if (this.core.stopping) return conn.destroy()
    // Sessions being torn down count too: each holds a socket (and perhaps a
    // partial frame) until its close deadline.
    if (this.pendingInbound + this.discarding.size >= this.core.cfg.quotas.maxPendingHandshakes) {
      this.s.guard.countCutOff('handshakes')
      this.core.log('refused a connection: %d handshakes pending, %d sessions closing', this.pendingInbound, this.discarding.size)
      return conn.destroy()
    }
    this.pendingInbound++
    this.conns.add(conn)
    acceptSession(conn, this.handshakeOptions(LinkIntent.OVERLAY)).then(
      (h) => {
        this.pendingInbound--
        this.conns.delete(conn)
        if (this.core.stopping) return conn.destroy()
        const kind = h.remote.intent === LinkIntent.DIRECT ? 'direct' : 'link'
        this.adopt(new Session(h, this.sessionOptions()), kind, false)
      },
      (err) => {
        this.pendingInbound--
        this.conns.delete(conn)
        this.core.stats.handshakeFailures++
        this.core.log('inbound handshake failed: %s', (err as Error).message)
      },
    )
  }

  private sessionOptions(): { maxMessage: number; highWaterMark: number } {
    return { maxMessage: this.core.cfg.maxMessage + 4096, highWaterMark: this.core.cfg.highWaterMark }
  }

  dial(host: string, port: number, intent: 'link' | 'direct', expectKey?: Uint8Array): Promise<Peer> {
    const key = `${intent}/${host}:${port}`
    const pending = this.pendingDials.get(key)
    if (pending) return pending
    const p = this.doDial(host, port, intent, expectKey).finally(() => this.pendingDials.delete(key))
    this.pendingDials.set(key, p)
    return p
  }

  private async doDial(host: string, port: number, intent: 'link' | 'direct', expectKey?: Uint8Array): Promise<Peer> {
    const { cfg, stats } = this.core
    if (this.core.stopping) throw new P4Error('CLOSED', 'node is stopping')
    let conn: Conn
    try {
      conn = await cfg.transport.dial(host, port, { timeoutMs: cfg.timers.requestTimeoutMs })
    } catch (err) {
      throw new P4Error('UNREACHABLE', `cannot connect to ${host}:${port}: ${(err as Error).message}`, { cause: err })
    }
    this.conns.add(conn)
    try {
      const h = await initiateSession(conn, this.handshakeOptions(intent === 'link' ? LinkIntent.OVERLAY : LinkIntent.DIRECT))
      this.conns.delete(conn)
      if (this.core.stopping) {
        conn.destroy()
        throw new P4Error('CLOSED', 'node is stopping')
      }
      if (sameBytes(h.remote.identityKey, cfg.identity.publicKey)) {
        conn.destroy()
        throw new P4Error('UNREACHABLE', `${host}:${port} is this node`)
      }
      if (expectKey && !sameBytes(h.remote.identityKey, expectKey)) {
        conn.destroy()
        throw new P4Error('UNREACHABLE', `${host}:${port} is not the expected user (${h.remote.username} answered)`)
      }
      const peer = this.adopt(new Session(h, this.sessionOptions()), intent, true)
      if (!peer) throw new P4Error('UNREACHABLE', `${host}:${port}: session refused`)
      // Only an address this node dialled itself, and where the handshake
      // proved a key, goes into the peer cache (never one a peer claims).
      if (intent === 'link') cfg.peerCache?.markSuccess(host, port, this.core.clock.wall(), h.remote.username)
      return peer
    } catch (err) {
      this.conns.delete(conn)
      conn.destroy()
      if (err instanceof P4Error && (err.code === 'UNREACHABLE' || err.code === 'CLOSED')) throw err
      stats.handshakeFailures++
      throw new P4Error('UNREACHABLE', `handshake with ${host}:${port} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Takes a fresh session into the link or direct table; returns the Peer kept (or null). */
  private adopt(session: Session<RemoteInfo>, kind: 'link' | 'direct', initiator: boolean): Peer | null {
    const { cfg } = this.core
    const remote = session.remote
    if (sameBytes(remote.identityKey, cfg.identity.publicKey)) {
      session.destroy()
      return null
    }
    const existing = kind === 'link' ? this.linkMap.get(toHex(remote.identityKey)) : undefined
    // Two sessions with one node, one dialled by each side, are a cross-dial.
    // Anything else is the identity connecting again (a reconnect), or its
    // user logged on at another node (roaming): the newer session replaces
    // the older one (below).
    const crossDial =
      existing !== undefined && existing.initiator !== initiator && existing.remote.host === remote.host && existing.remote.listenPort === remote.listenPort
    if (crossDial) {
      // Keep the link dialled by the smaller identity key, on both ends, so exactly one survives.
      const mineSmaller = Buffer.compare(cfg.identity.publicKey, remote.identityKey) < 0
      if (initiator !== mineSmaller) {
        this.discard(session, ByeReason.LINK_CLOSE, 'duplicate link')
        return existing
      }
    } else if (existing === undefined && kind === 'link' && this.linkMap.size >= cfg.links.hardCap) {
      this.discard(session, ByeReason.RATE_LIMITED, 'link limit reached')
      return null
    }
    const peer = new Peer(session, kind, initiator, this.core.clock, cfg.quotas, this.s.directory.certificateExpiry(remote.extension))
    session.onframe = (f) => this.onFrame(peer, f)
    session.on('close', (reason: P4Error | null) => this.onClose(peer, reason))
    session.conn.resume()
    if (kind === 'direct') {
      if (this.directMap.size >= cfg.maxDirect) this.closeIdlestDirect()
      const old = this.directMap.get(peer.keyHex)
      this.directMap.set(peer.keyHex, peer)
      if (old && old.open) this.retire(old, 'replaced by a newer direct session')
      // Our signed HELLO first, so the other side can tie this session's key
      // to our name before any DATA on it (attribution goes through the table).
      const hello = this.s.directory.ownHello()
      if (hello) this.s.floods.sendStored(peer, hello)
      return peer
    }
    this.linkMap.set(peer.keyHex, peer)
    if (existing) {
      this.retire(existing, crossDial ? 'duplicate link' : 'replaced by a newer session of this identity')
      return peer
    }
    this.core.log('link up: %s (%s) links=%d', remote.username, initiator ? 'out' : 'in', this.linkMap.size)
    this.core.emit('link-up', this.linkInfo(peer))
    this.s.lka.linkUp(peer)
    return peer
  }

  /**
   * Tears down a session the overlay does not keep: its frames are never
   * processed, it stops being read (so a half-sent frame cannot grow), gets
   * a BYE, and is destroyed at the deadline if the peer does not close first.
   * Until then it counts against maxPendingHandshakes.
   */
  private discard(session: Session<RemoteInfo>, reason: number, text: string): void {
    session.ignoreInput()
    this.discarding.add(session)
    const [hi, lo] = randomId()
    try {
      session.send(MsgType.BYE, 0, 0, 0, hi, lo, encodeBye({ reason, text }))
    } catch {
      // closed or full: the destroy below is the answer then
    }
    void session.close()
    const clock = this.core.clock
    const t = clock.setTimeout(() => session.destroy(), CLOSE_DEADLINE_MS)
    t.unref?.()
    void session.done.then(() => {
      clock.clearTimeout(t)
      this.discarding.delete(session)
    })
  }

  /** Takes a kept peer out of its table (replaced by a newer session) and discards its session. */
  private retire(peer: Peer, text: string): void {
    if (this.directMap.get(peer.keyHex) === peer) this.directMap.delete(peer.keyHex)
    peer.demote()
    peer.markByeSent()
    peer.ended(new P4Error('CLOSED', `session to ${peer.username} was ${text}`))
    this.discard(peer.session, ByeReason.LINK_CLOSE, text)
  }

  private onClose(peer: Peer, reason: P4Error | null): void {
    const st = peer.session.stats()
    const totals = this.closedTotals
    totals.framesIn += st.framesIn
    totals.framesOut += st.framesOut
    totals.bytesIn += st.bytesIn
    totals.bytesOut += st.bytesOut
    peer.ended(new P4Error('CLOSED', `session to ${peer.username} closed`, { cause: reason ?? undefined }))
    this.s.guard.forget(peer)
    const wasLink = this.linkMap.get(peer.keyHex) === peer
    if (wasLink) {
      this.linkMap.delete(peer.keyHex)
      this.core.log('link down: %s (%s) links=%d', peer.username, reason?.message ?? 'closed', this.linkMap.size)
      this.core.emit('link-down', this.linkInfo(peer), reason)
    } else if (this.directMap.get(peer.keyHex) === peer) {
      this.directMap.delete(peer.keyHex)
    }
    if (reason && !peer.bye) this.core.log('session to %s ended: %s', peer.username, reason.message)
    this.s.upkeep.sessionClosed(peer, wasLink)
  }

  private sendBye(peer: Peer, reason: number, text: string): void {
    peer.markByeSent()
    const [hi, lo] = randomId()
    peer.trySend(MsgType.BYE, 0, 0, 0, hi, lo, encodeBye({ reason, text }))
  }

  closePeer(peer: Peer, reason: number, text: string, err?: P4Error): void {
    this.sendBye(peer, reason, text)
    void peer.session.close()
    const clock = this.core.clock
    const t: Timer = clock.setTimeout(() => peer.session.destroy(err), CLOSE_DEADLINE_MS)
    t.unref?.()
    void peer.session.done.then(() => clock.clearTimeout(t))
  }

  /** A BYE from the peer: it closes the session. */
  byeFrom(peer: Peer, reason: number, text: string): void {
    peer.markByeReceived()
    this.core.log('BYE from %s: %d %s', peer.username, reason, text)
    void peer.session.close()
  }

  private closeIdlestDirect(): void {
    let idlest: Peer | null = null
    for (const p of this.directMap.values()) if (!idlest || p.lastActive < idlest.lastActive) idlest = p
    if (idlest) {
      this.directMap.delete(idlest.keyHex)
      this.closePeer(idlest, ByeReason.IDLE, 'too many direct sessions')
    }
  }

  linkInfo(peer: Peer): LinkInfo {
    const r = peer.remote
    const bound = this.s.directory.usernameOfPeer(peer)
    return {
      username: bound ?? r.username,
      verified: bound !== undefined,
      cpuMs: peer.quota.cpuMs,
      queued: peer.session.bufferedBytes,
      host: r.host,
      port: r.listenPort || r.port,
      status: peer.kind,
      initiator: peer.initiator,
      since: peer.since,
      rtt: peer.rtt,
    }
  }

  /**
   * The open session (a link, else a direct session) whose identity key is
   * the one the user table binds to `username`. Never a session that only
   * claims the name in its handshake.
   */
  peerOf(username: string): Peer | undefined {
    const e = this.s.directory.lka.get(username)
    if (!e) return undefined
    const hex = toHex(e.identityKey)
    const p = this.linkMap.get(hex) ?? this.directMap.get(hex)
    return p && p.open ? p : undefined
  }

  /** A session to `username`: existing, or a new direct one to its last known address, proving its key. */
  async sessionTo(username: string): Promise<Peer> {
    const existing = this.peerOf(username)
    if (existing) return existing
    const e = this.s.directory.lka.get(username)
    if (!e || !e.online) throw new P4Error('UNKNOWN_USER', `no known user "${username}"`)
    if (e.port === 0 || e.host === '') throw new P4Error('UNREACHABLE', `${username} does not accept connections`)
    return this.dial(e.host, e.port, 'direct', e.identityKey)
  }

  /** Inbound handshakes in progress and sessions being torn down (both count against maxPendingHandshakes). */
  get pending(): number {
    return this.pendingInbound + this.discarding.size
  }

  /** Session counters summed over open and closed sessions. */
  totals(): { framesIn: number; framesOut: number; bytesIn: number; bytesOut: number } {
    const t = { ...this.closedTotals }
    for (const p of [...this.linkMap.values(), ...this.directMap.values()]) {
      const s = p.session.stats()
      t.framesIn += s.framesIn
      t.framesOut += s.framesOut
      t.bytesIn += s.bytesIn
      t.bytesOut += s.bytesOut
    }
    return t
  }
}
