// The sessions a node holds: it adopts each authenticated session (accepted
// or dialled by handshakes.ts) as an overlay link or a direct session — or
// discards it (over links.hardCap, the losing side of a cross-dial, one
// replaced by a newer session of the same identity: discards.ts). It closes
// sessions with a deadline (peer-close.ts); admission.ts keeps the
// identities cut off by quotas out. What links() shows of a session:
// link-info.ts; counters of closed sessions: session-totals.ts.
import { P4Error } from '../core/errors.js'
import { sameBytes, toHex } from '../core/bytes.js'
import type { RemoteInfo } from '../session/handshake.js'
import type { Frame, Session } from '../session/session.js'
import type { Address, Conn } from '../transport/types.js'
import { Admission } from './admission.js'
import { CircuitConn } from './circuit-conn.js'
import type { Core, Directory, Floods, Gate, LkaSync, Reach, RelayService, Sessions, Upkeep } from './context.js'
import { Handshakes } from './handshakes.js'
import { Discards } from './discards.js'
import { ByeReason } from './link-codec.js'
import { linkInfoOf } from './link-info.js'
import { closePeer, sendBye } from './peer-close.js'
import { VersionedMap } from './versioned-map.js'
import { Peer } from './peer.js'
import { SessionTotals, type Totals } from './session-totals.js'
import type { LinkInfo } from './types.js'

/** Sessions still closing when the node stops are destroyed after this. */
const STOP_DEADLINE_MS = 2000

export class PeerTable implements Sessions {
  /** Links by remote identity key (hex). */
  private readonly linkMap = new VersionedMap<string, Peer>()
  /** Direct sessions by remote identity key (hex). */
  private readonly directMap = new VersionedMap<string, Peer>()
  /** Sessions being torn down that sit in no table. */
  private readonly discards: Discards
  private readonly totalsOf = new SessionTotals()
  private readonly admission: Admission
  private readonly handshakes: Handshakes

  constructor(
    private readonly core: Core,
    private readonly s: { directory: Directory; lka: LkaSync; upkeep: Upkeep; floods: Floods; guard: Gate; reach: Reach; relays: RelayService },
    private readonly onFrame: (peer: Peer, f: Frame) => void,
  ) {
    this.admission = new Admission(core)
    this.discards = new Discards(core, onFrame)
    this.handshakes = new Handshakes(core, s, {
      closing: () => this.discards.size,
      checkTrust: (username, identityKey, certificate) => this.checkTrust(username, identityKey, certificate),
      adopt: (session, kind, initiator) => this.adopt(session, kind, initiator),
    })
  }

  get links(): ReadonlyMap<string, Peer> {
    return this.linkMap
  }

  get directs(): ReadonlyMap<string, Peer> {
    return this.directMap
  }

  /** Starts listening; resolves with the address bound. */
  listen(): Promise<Address> {
    return this.handshakes.listen()
  }

  /** BYE on every session, then close all (destroyed after a deadline), and stop listening. */
  async stop(): Promise<void> {
    const clock = this.core.clock
    const all = [...this.linkMap.values(), ...this.directMap.values()]
    for (const p of all) sendBye(p, ByeReason.SHUTDOWN, 'node stopping')
    await this.handshakes.closeListener()
    await Promise.all(
      all.map(async (p) => {
        const t = clock.setTimeout(() => p.session.destroy(), STOP_DEADLINE_MS)
        await p.session.close()
        clock.clearTimeout(t)
      }),
    )
    this.handshakes.destroyConns()
    this.discards.destroyAll()
    await this.handshakes.settled()
  }

  checkTrust(username: string, identityKey: Uint8Array, certificate?: Uint8Array, quiet?: boolean): void {
    this.admission.checkTrust(username, identityKey, certificate, quiet)
  }

  ban(peer: Peer): void {
    this.admission.ban(peer)
  }

  dial(host: string, port: number, intent: 'link' | 'direct', expectKey?: Uint8Array): Promise<Peer> {
    return this.handshakes.dial(host, port, intent, expectKey)
  }

  probe(host: string, port: number, identityKey: Uint8Array): Promise<void> {
    return this.handshakes.probe(host, port, identityKey)
  }

  initiateOver(conn: Conn, expectKey: Uint8Array, what: string): Promise<Peer> {
    return this.handshakes.initiateOver(conn, expectKey, what)
  }

  acceptOver(conn: Conn): boolean {
    return this.handshakes.acceptOver(conn)
  }

  byKey(keyHex: string): Peer | undefined {
    const p = this.linkMap.get(keyHex) ?? this.directMap.get(keyHex)
    return p && p.open ? p : undefined
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
        this.discards.discard(session, ByeReason.LINK_CLOSE, 'duplicate link', existing)
        return existing
      }
    } else if (existing === undefined && kind === 'link' && this.linkMap.size >= cfg.links.hardCap) {
      this.discards.discard(session, ByeReason.RATE_LIMITED, 'link limit reached')
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
      if (session.conn instanceof CircuitConn) {
        // Resumable only so that a punch can move it: a circuit lost otherwise ends the session.
        session.on('suspend', (why: P4Error) => session.destroy(why))
        this.s.reach.relayedUp(peer)
      }
      return peer
    }
    this.linkMap.set(peer.keyHex, peer)
    if (existing) {
      // The link announced by 'link-up' goes (its direction, address and age
      // with it): say so, then announce the kept one, so that the events
      // always describe what links() shows.
      const gone = this.linkInfo(existing)
      const text = crossDial ? `duplicate link: kept the one ${initiator ? 'this node' : remote.username} dialled` : 'replaced by a newer session of this identity'
      this.retire(existing, crossDial ? 'duplicate link' : text, crossDial ? peer : undefined)
      this.core.log('link replaced: %s (%s → %s): %s', remote.username, gone.initiator ? 'out' : 'in', initiator ? 'out' : 'in', text)
      this.core.emit('link-down', gone, new P4Error('CLOSED', text))
      this.core.emit('link-up', this.linkInfo(peer))
      // The user-table exchange (and the first PING) ran on the session retired: run them on this one.
      this.linkStarted(peer)
      return peer
    }
    this.core.log('link up: %s (%s) links=%d', remote.username, initiator ? 'out' : 'in', this.linkMap.size)
    this.core.emit('link-up', this.linkInfo(peer))
    this.linkStarted(peer)
    return peer
  }

  /** A link's first exchanges: the user tables, where we see the peer, and a PING so that its rtt is known at once. */
  private linkStarted(peer: Peer): void {
    this.s.lka.linkUp(peer)
    this.s.reach.linkUp(peer)
    this.s.upkeep.ping(peer).catch(() => undefined)
  }

  /** Takes a kept peer out of its table (replaced by a newer session) and discards its session. */
  private retire(peer: Peer, text: string, keptPeer?: Peer): void {
    if (this.directMap.get(peer.keyHex) === peer) this.directMap.delete(peer.keyHex)
    peer.demote()
    peer.markByeSent()
    peer.ended(new P4Error('CLOSED', `session to ${peer.username} was ${text}`))
    this.discards.discard(peer.session, ByeReason.LINK_CLOSE, text, keptPeer)
  }

  private onClose(peer: Peer, reason: P4Error | null): void {
    this.totalsOf.add(peer)
    peer.ended(new P4Error('CLOSED', `session to ${peer.username} closed`, { cause: reason ?? undefined }))
    this.s.guard.forget(peer)
    this.s.reach.forget(peer)
    this.s.relays.forget(peer, reason)
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

  closePeer(peer: Peer, reason: number, text: string, err?: P4Error): void {
    closePeer(peer, this.core.clock, reason, text, err)
  }

  /** A BYE from the peer: it closes the session. */
  byeFrom(peer: Peer, reason: number, text: string): void {
    peer.markByeReceived()
    this.core.log('BYE from %s: %d %s', peer.username, reason, text)
    void peer.session.close()
  }

  // The idlest one that carries no circuit and holds no reservation, if any.
  private closeIdlestDirect(): void {
    let idlest: Peer | null = null
    for (const p of this.directMap.values()) if (!this.s.relays.busy(p) && (!idlest || p.lastActive < idlest.lastActive)) idlest = p
    if (!idlest) for (const p of this.directMap.values()) if (!idlest || p.lastActive < idlest.lastActive) idlest = p
    if (idlest) {
      this.directMap.delete(idlest.keyHex)
      this.closePeer(idlest, ByeReason.IDLE, 'too many direct sessions')
    }
  }

  linkInfo(peer: Peer): LinkInfo {
    return linkInfoOf(peer, this.s.directory)
  }

  /**
   * The open session (a link, else a direct session) whose identity key is
   * the one the user table binds to `username`. Never a session that only
   * claims the name in its handshake, nor one being closed (it takes
   * nothing new: a send then goes over a new session).
   */
  peerOf(username: string): Peer | undefined {
    const e = this.s.directory.lka.get(username)
    if (!e) return undefined
    const hex = toHex(e.identityKey)
    const p = this.linkMap.get(hex) ?? this.directMap.get(hex)
    return p && p.usable ? p : undefined
  }

  /** Changes whenever a session joins or leaves the link or direct table (see VersionedMap). */
  get version(): number {
    return this.linkMap.version + this.directMap.version
  }

  /** Whether `peer` is still the usable link or direct session of its key (a cheap re-check of a peerOf answer). */
  holds(peer: Peer): boolean {
    return peer.usable && (this.linkMap.get(peer.keyHex) === peer || this.directMap.get(peer.keyHex) === peer)
  }

  /**
   * A session to `username`: existing, or a new direct one proving its key:
   * through a relay its HELLO lists (it said it cannot be dialled), else,
   * or when no relay gets through, to its last known address.
   */
  async sessionTo(username: string): Promise<Peer> {
    const existing = this.peerOf(username)
    if (existing) return existing
    const e = this.s.directory.lka.get(username)
    if (!e || !e.online) throw new P4Error('UNKNOWN_USER', `no known user "${username}"`)
    const direct = e.port === 0 || e.host === '' ? null : () => this.dial(e.host, e.port, 'direct', e.identityKey)
    const relayed = this.s.relays.sessionVia(e, direct)
    if (relayed !== null) return relayed
    if (direct === null) throw new P4Error('UNREACHABLE', `${username} does not accept connections`)
    return direct().catch((err: unknown) => {
      // The dial's message names an address; the caller asked for a user.
      throw err instanceof P4Error && err.code === 'UNREACHABLE' ? new P4Error('UNREACHABLE', `${username} is unreachable: ${err.message}`, { cause: err }) : err
    })
  }

  /** Inbound handshakes in progress and sessions being torn down (both count against maxPendingHandshakes). */
  get pending(): number {
    return this.handshakes.inbound + this.discards.size
  }

  /** Session counters summed over open and closed sessions. */
  totals(): Totals {
    return this.totalsOf.with([...this.linkMap.values(), ...this.directMap.values()])
  }
}
