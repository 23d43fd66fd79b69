// The client side of relaying. A node others cannot dial keeps reservations
// with a few of its links that relay (handshake feature RELAY; links it
// dialled itself, so they are dialable), renews them before they expire,
// replaces one that is lost or refused, and announces the relays in its
// HELLO (current()). A node that wants to reach a user whose HELLO lists
// relays opens a circuit through one of them (sessionVia) and runs the
// normal handshake over it, end to end; the target accepts circuits only
// from relays it holds a reservation with (incoming).
import { sameBytes, toHex } from '../core/bytes.js'
import { P4Error } from '../core/errors.js'
import { HandshakeFeature, HEADER_SIZE, MsgType, ORIGIN_BLOCK_SIZE } from '../core/protocol.js'
import { CircuitConn, type CircuitEnds } from './circuit-conn.js'
import type { Core, Directory, Sessions } from './context.js'
import { decodeHello, helloExtensions, HelloExtension } from './hello-codec.js'
import type { LkaEntry } from './lka.js'
import type { Peer } from './peer.js'
import { decodeGrant, decodeOpen, decodeReason, decodeRelayList, encodeAccept, encodeOpen, encodeReason, MAX_ANNOUNCED_RELAYS, relayBad, RelayCode, RelayOp, type RelayAddress } from './relay-codec.js'
import type { PeerCircuits } from './relay-ports.js'

/** A relay that refused a reservation (or did not answer) is not asked again for this long. */
const RETRY_MS = 60_000
/**
 * One that refused because it does not relay now (RELAY_OFF: relay.serve
 * 'auto' before it found itself reachable, seconds after its start) sooner.
 */
const OFF_RETRY_MS = 10_000
const EMPTY = new Uint8Array(0)
const LOOPBACK = /^(127\.|::1$|localhost$)/

/** What the client needs of the relays module. */
export interface ClientHost {
  of(peer: Peer): PeerCircuits
  /** This node should hold reservations now (relay.client, and for 'auto' its reachability). */
  wants(): boolean
  /** Largest DATA payload this node's sessions take. */
  readonly maxChunk: number
}

interface Held {
  peer: Peer
  /** Asked and not yet answered, or granted. */
  state: 'asking' | 'held'
  askedAt: number
  expiresAt: number
  renewAt: number
  renewing: boolean
}

export class RelayClient {
  private readonly held = new Map<string, Held>()
  private readonly refusedUntil = new Map<string, number>()
  private readonly opening = new Map<string, Promise<Peer>>()
  /** The relay list of each HELLO frame looked at (decoded once). */
  private readonly lists = new WeakMap<Uint8Array, RelayAddress[]>()
  private announced = ''

  constructor(
    private readonly core: Core,
    private readonly s: { table: Sessions; directory: Directory },
    private readonly host: ClientHost,
  ) {}

  /** Reservations granted now. */
  get heldCount(): number {
    return this.current().length
  }

  /** A session this node holds (or asks) a reservation on: it must not be pruned. */
  holds(peer: Peer): boolean {
    return this.held.get(peer.keyHex)?.peer === peer
  }

  /** The relays this node can be reached through now, for its HELLO. */
  current(): RelayAddress[] {
    const now = this.core.clock.now()
    const out: RelayAddress[] = []
    for (const h of this.held.values()) {
      if (h.state === 'held' && h.expiresAt > now && h.peer.open && out.length < MAX_ANNOUNCED_RELAYS) out.push(this.addressOf(h.peer))
    }
    return out
  }

  /**
   * Where others dial a relay: the address its HELLO gives, else (or when
   * that is a loopback address and the one this node dialled is not: a
   * relay listening on every address says 127.0.0.1) the one this node dialled.
   */
  private addressOf(peer: Peer): RelayAddress {
    const name = this.s.directory.usernameOfPeer(peer)
    const e = name === undefined ? undefined : this.s.directory.lka.get(name)
    const dialled = { key: peer.remote.identityKey, host: peer.remote.host, port: peer.remote.listenPort }
    if (e === undefined || e.host === '' || e.port === 0 || (LOOPBACK.test(e.host) && !LOOPBACK.test(dialled.host))) return dialled
    return { key: peer.remote.identityKey, host: e.host, port: e.port }
  }

  /** Keeps relay.count reservations: drops lost and expired ones, renews, asks new relays. */
  tick(now: number): void {
    const { cfg } = this.core
    if (!this.host.wants()) {
      for (const h of this.held.values()) h.peer.trySend(MsgType.RELAY, 0, 0, 0, 0, RelayOp.UNRESERVE, EMPTY)
      this.held.clear()
      return this.announce()
    }
    for (const [hex, h] of this.held) {
      const expired = h.state === 'held' ? now >= h.expiresAt : now - h.askedAt > cfg.timers.requestTimeoutMs
      if (expired || !this.s.table.holds(h.peer)) {
        this.held.delete(hex)
        if (h.state === 'asking') this.refusedUntil.set(hex, now + RETRY_MS)
        this.core.log('relay: reservation with %s %s', h.peer.username, expired ? 'expired' : 'lost with its session')
      } else if (h.state === 'held' && !h.renewing && now >= h.renewAt) {
        h.renewing = true
        h.peer.trySend(MsgType.RELAY, 0, 0, 0, 0, RelayOp.RESERVE, EMPTY)
      }
    }
    if (this.held.size < cfg.relay.count) this.ask(now, cfg.relay.count - this.held.size)
    this.announce()
  }

  private ask(now: number, need: number): void {
    if (this.refusedUntil.size > 256) for (const [hex, t] of this.refusedUntil) if (t <= now) this.refusedUntil.delete(hex)
    const candidates = [...this.s.table.links.values()].filter(
      (p) => p.open && p.initiator && p.remote.listenPort !== 0 && (p.remote.features & HandshakeFeature.RELAY) !== 0 && !this.held.has(p.keyHex) && (this.refusedUntil.get(p.keyHex) ?? 0) <= now,
    )
    for (let i = 0; i < need && candidates.length > 0; i++) {
      const p = candidates.splice(Math.floor(this.core.cfg.random() * candidates.length), 1)[0]!
      this.held.set(p.keyHex, { peer: p, state: 'asking', askedAt: now, expiresAt: 0, renewAt: 0, renewing: false })
      p.trySend(MsgType.RELAY, 0, 0, 0, 0, RelayOp.RESERVE, EMPTY)
      this.core.log('relay: asking %s for a reservation', p.username)
    }
  }

  /** Floods a new HELLO when the relays this node can be reached through changed. */
  private announce(): void {
    const sig = this.current()
      .map((r) => `${toHex(r.key)}@${r.host}:${r.port}`)
      .join(',')
    if (sig === this.announced) return
    this.announced = sig
    if (this.core.running) this.s.directory.floodHello()
  }

  /** RESERVED or REFUSED from `peer` (one this node did not ask for is ignored: a late answer). */
  answer(peer: Peer, op: number, payload: Uint8Array): void {
    const h = this.held.get(peer.keyHex)
    const now = this.core.clock.now()
    if (op === RelayOp.RESERVED) {
      const g = decodeGrant(payload)
      if (h === undefined || h.peer !== peer) return
      h.state = 'held'
      h.renewing = false
      h.expiresAt = now + g.ttlMs
      h.renewAt = now + g.ttlMs * 0.75
    } else {
      const r = decodeReason(payload)
      if (h === undefined || h.peer !== peer) return
      this.held.delete(peer.keyHex)
      this.refusedUntil.set(peer.keyHex, now + (r.code === RelayCode.RELAY_OFF ? OFF_RETRY_MS : RETRY_MS))
      this.core.log('relay: %s refused a reservation: %s %s', peer.username, r.code, r.text)
    }
    this.announce()
  }

  /** The relays `entry`'s HELLO lists (none when it lists none, or a malformed list). */
  relaysOf(entry: LkaEntry): RelayAddress[] {
    const frame = entry.hello
    let list = this.lists.get(frame)
    if (list === undefined) {
      list = []
      try {
        const ext = decodeHello(frame.subarray(HEADER_SIZE + ORIGIN_BLOCK_SIZE)).extensions
        const value = ext === undefined ? undefined : helloExtensions(ext).get(HelloExtension.RELAYS)
        if (value !== undefined) list = decodeRelayList(value)
      } catch {
        list = [] // a list this node cannot read is no list (the HELLO itself was valid)
      }
      this.lists.set(frame, list)
    }
    return list
  }

  /**
   * A session to `entry`'s user through a relay its HELLO lists, else (none
   * gets through: its list may be stale) by `direct`; null when it lists none.
   */
  sessionVia(entry: LkaEntry, direct: (() => Promise<Peer>) | null): Promise<Peer> | null {
    const relays = this.relaysOf(entry)
    if (relays.length === 0) return null
    const hex = toHex(entry.identityKey)
    let p = this.opening.get(hex)
    if (p === undefined) {
      p = this.through(entry, relays)
        .catch(async (err: Error) => {
          if (direct === null || this.core.stopping) throw err
          try {
            return await direct()
          } catch (e) {
            throw new P4Error('UNREACHABLE', `${err.message}; nor directly: ${(e as Error).message}`, { cause: err })
          }
        })
        .finally(() => this.opening.delete(hex))
      this.opening.set(hex, p)
    }
    return p
  }

  // Relays this node already has a session with first.
  private async through(entry: LkaEntry, relays: RelayAddress[]): Promise<Peer> {
    const own = this.core.cfg.identity.publicKey
    const known = (r: RelayAddress): number => (this.s.table.byKey(toHex(r.key)) ? 0 : 1)
    const order = relays.filter((r) => !sameBytes(r.key, own)).sort((a, b) => known(a) - known(b))
    const why: string[] = []
    let last: unknown
    for (const r of order) {
      try {
        return await this.via(r, entry)
      } catch (err) {
        last = err
        why.push(`${r.host}:${r.port}: ${(err as Error).message}`)
      }
    }
    throw new P4Error('UNREACHABLE', `cannot reach ${entry.username} through its relays: ${why.join('; ') || 'none but this node'}`, { cause: last })
  }

  private async via(r: RelayAddress, entry: LkaEntry): Promise<Peer> {
    const relay = this.s.table.byKey(toHex(r.key)) ?? (await this.s.table.dial(r.host, r.port, 'direct', r.key))
    const name = this.s.directory.usernameOfPeer(relay) ?? relay.username
    if ((relay.remote.features & HandshakeFeature.RELAY) === 0) throw new P4Error('UNSUPPORTED', `${name} does not relay`)
    const pc = this.host.of(relay)
    const id = pc.newId()
    const port = pc.port(id, true)
    const conn = new CircuitConn(port, this.ends(relay, name))
    pc.mine.set(id, conn)
    this.core.stats.circuitsOut++
    port.send(RelayOp.CONNECT, encodeOpen({ key: entry.identityKey, window: this.core.cfg.streams.window, maxChunk: this.host.maxChunk }))
    // The handshake starts at once: its first bytes wait in the circuit until the target accepts.
    return this.s.table.initiateOver(conn, entry.identityKey, `${entry.username} through ${name}`)
  }

  private ends(relay: Peer, name: string): CircuitEnds {
    const c = relay.session.conn
    return { window: this.core.cfg.streams.window, via: name, localHost: c.localHost, localPort: c.localPort, remoteHost: relay.remote.host, remotePort: relay.remote.listenPort || relay.remote.port }
  }

  /** INCOMING from `relay`: a circuit opened to this node. Accepted only from a relay it holds a reservation with. */
  incoming(relay: Peer, id: number, payload: Uint8Array): void {
    const o = decodeOpen(payload, 'INCOMING')
    const pc = this.host.of(relay)
    if (pc.theirs.has(id)) throw relayBad(`INCOMING of circuit ${id}, already open`)
    const port = pc.port(id, false)
    if (!this.holds(relay)) return void port.send(RelayOp.CLOSE, encodeReason(RelayCode.NO_RESERVATION, 'no reservation held with you'))
    const name = this.s.directory.usernameOfPeer(relay) ?? relay.username
    const conn = new CircuitConn(port, this.ends(relay, name))
    pc.theirs.set(id, conn)
    conn.opened(o.window, o.maxChunk)
    if (!this.s.table.acceptOver(conn)) return conn.reset(RelayCode.TARGET_BUSY, 'too many handshakes in progress')
    this.core.stats.circuitsIn++
    port.send(RelayOp.ACCEPT, encodeAccept({ window: this.core.cfg.streams.window, maxChunk: this.host.maxChunk }))
  }

  /** A session closed: a reservation on it is gone (replaced at the next tick). */
  forget(peer: Peer): void {
    if (this.holds(peer)) {
      this.held.delete(peer.keyHex)
      this.announce()
    }
  }
}
