// The relay side: reservations for nodes others cannot dial, and circuits
// spliced between an opener's session and the target's, frame for frame. A
// relay forwards DATA as it came (the ends' sealed records: it reads nothing
// and cannot answer for either end, whose handshake runs end to end), checks
// each end's credit so it buffers at most one window per direction, and
// bounds everything: reservations in all and per host, circuits in all, per
// reservation and per opener, circuit opens per minute, bytes and time per
// circuit. Every refusal and cut is counted by code.
import type { Timer } from '../core/clock.js'
import { sameBytes, toHex } from '../core/bytes.js'
import type { P4Error } from '../core/errors.js'
import { MsgType } from '../core/protocol.js'
import type { Core, Directory } from './context.js'
import type { Peer } from './peer.js'
import { TokenBucket } from './rate-limit.js'
import { decodeAccept, decodeOpen, decodeWindow, encodeAccept, encodeGrant, encodeOpen, encodeReason, relayBad, RelayCode, RelayOp } from './relay-codec.js'
import type { CircuitEnd, CircuitLinkPort, PeerCircuits } from './relay-ports.js'

/** What the server needs of the relays module. */
export interface ServerHost {
  of(peer: Peer): PeerCircuits
  /** Serving now (relay.serve, and for 'auto' the node's reachability). */
  serving(): boolean
  /** Largest DATA payload this node's sessions take. */
  readonly maxChunk: number
}

interface Reservation {
  peer: Peer
  host: string
  expiresAt: number
  circuits: Set<Spliced>
}

export class RelayServer {
  private readonly reservations = new Map<string, Reservation>()
  private readonly circuits = new Set<Spliced>()
  private readonly perOpener = new Map<Peer, number>()
  private readonly connects = new WeakMap<Peer, TokenBucket>()
  /** Diagnostics: sees every DATA payload passed on (Node's 'relay-wire'); null when nobody listens. */
  tap: ((from: Peer, to: Peer, bytes: Uint8Array) => void) | null = null

  constructor(
    readonly core: Core,
    private readonly s: { directory: Directory },
    readonly host: ServerHost,
  ) {}

  /** Reservations held now (expired ones dropped). */
  get reservationCount(): number {
    this.sweep(this.core.clock.now())
    return this.reservations.size
  }

  get circuitCount(): number {
    return this.circuits.size
  }

  /** A session that holds a reservation here (it must not be pruned or idled out). */
  holds(peer: Peer): boolean {
    return this.reservations.get(peer.keyHex)?.peer === peer
  }

  private count(code: string): void {
    const r = this.core.stats.relayReasons
    r[code] = (r[code] ?? 0) + 1
  }

  private sweep(now: number): void {
    for (const [hex, r] of this.reservations) if (r.expiresAt <= now || !r.peer.open) this.reservations.delete(hex)
  }

  /** RESERVE (also a renewal) or UNRESERVE from `peer`. */
  reservation(peer: Peer, op: number): void {
    const { cfg, clock, stats } = this.core
    const relay = cfg.relay
    if (op === RelayOp.UNRESERVE) {
      if (this.holds(peer)) this.reservations.delete(peer.keyHex)
      return
    }
    const refuse = (code: string, text: string): void => {
      stats.relayReservationsRefused++
      this.count(code)
      this.core.log('relay: reservation of %s refused: %s', peer.username, code)
      peer.trySend(MsgType.RELAY, 0, 0, 0, 0, RelayOp.REFUSED, encodeReason(code, text))
    }
    if (!this.host.serving()) return refuse(RelayCode.RELAY_OFF, 'this node does not relay now')
    const now = clock.now()
    this.sweep(now)
    const held = this.reservations.get(peer.keyHex)
    if (held === undefined || held.peer !== peer) {
      let ofHost = 0
      for (const r of this.reservations.values()) if (r.host === peer.remote.host && r.peer.keyHex !== peer.keyHex) ofHost++
      const others = this.reservations.size - (held === undefined ? 0 : 1)
      if (others >= relay.maxReservations) return refuse(RelayCode.RESERVATION_LIMIT, `${others} reservations held (relay.maxReservations)`)
      if (ofHost >= relay.reservationsPerHost) return refuse(RelayCode.HOST_LIMIT, `${ofHost} reservations held for ${peer.remote.host} (relay.reservationsPerHost)`)
      // The identity reconnected: its new session takes the reservation over.
      this.reservations.set(peer.keyHex, { peer, host: peer.remote.host, expiresAt: now + relay.reservationMs, circuits: held?.circuits ?? new Set() })
      stats.relayReservationsGranted++
      this.core.log('relay: reservation for %s granted', peer.username)
    } else {
      held.expiresAt = now + relay.reservationMs
    }
    const grant = encodeGrant({ ttlMs: relay.reservationMs, circuits: Math.min(relay.circuitsPerReservation, 0xffff), circuitMs: relay.circuitMs, circuitBytes: relay.circuitBytes })
    peer.trySend(MsgType.RELAY, 0, 0, 0, 0, RelayOp.RESERVED, grant)
  }

  /** CONNECT from `opener` on its circuit `id`: checked, then offered to the target (INCOMING). */
  connect(opener: Peer, id: number, payload: Uint8Array): void {
    const { cfg, clock, stats } = this.core
    const relay = cfg.relay
    const o = decodeOpen(payload, 'CONNECT')
    const from = this.host.of(opener)
    if (from.theirs.has(id)) throw relayBad(`CONNECT of circuit ${id}, already open`)
    const refuse = (code: string, text: string): void => {
      stats.relayCircuitsRefused++
      this.count(code)
      this.core.log('relay: circuit from %s refused: %s (%s)', opener.username, code, text)
      from.port(id, false).send(RelayOp.CLOSE, encodeReason(code, text))
    }
    if (!this.host.serving()) return refuse(RelayCode.RELAY_OFF, 'this node does not relay now')
    const now = clock.now()
    let bucket = this.connects.get(opener)
    if (bucket === undefined) this.connects.set(opener, (bucket = new TokenBucket({ rate: relay.connectsPerMinute / 60, burst: relay.connectsPerMinute }, now)))
    if (!bucket.take(now)) return refuse(RelayCode.RATE_LIMITED, `more than ${relay.connectsPerMinute} circuits a minute (relay.connectsPerMinute)`)
    const r = this.reservations.get(toHex(o.key))
    if (r === undefined || r.expiresAt <= now || !r.peer.open || sameBytes(o.key, opener.remote.identityKey)) return refuse(RelayCode.NO_RESERVATION, 'no reservation for that key here')
    if (this.circuits.size >= relay.maxCircuits) return refuse(RelayCode.RELAY_FULL, `${this.circuits.size} circuits open (relay.maxCircuits)`)
    if (r.circuits.size >= relay.circuitsPerReservation) return refuse(RelayCode.CIRCUIT_LIMIT, `${r.circuits.size} circuits open to that node (relay.circuitsPerReservation)`)
    const mine = this.perOpener.get(opener) ?? 0
    if (mine >= relay.circuitsPerPeer) return refuse(RelayCode.PEER_LIMIT, `${mine} circuits of yours open (relay.circuitsPerPeer)`)
    const to = this.host.of(r.peer)
    const c = new Spliced(this, r, from, id, to, to.newId(), o.window)
    this.circuits.add(c)
    r.circuits.add(c)
    this.perOpener.set(opener, mine + 1)
    stats.relayCircuitsOpened++
    this.core.log('relay: circuit %s → %s', opener.username, r.peer.username)
    c.send(1, RelayOp.INCOMING, encodeOpen({ key: opener.remote.identityKey, window: o.window, maxChunk: Math.min(o.maxChunk, this.host.maxChunk) }))
  }

  /** A circuit ended: its slots are free. */
  closed(c: Spliced, code: string | null): void {
    if (!this.circuits.delete(c)) return
    c.reservation.circuits.delete(c)
    const n = (this.perOpener.get(c.opener) ?? 1) - 1
    if (n > 0) this.perOpener.set(c.opener, n)
    else this.perOpener.delete(c.opener)
    if (code !== null) {
      this.core.stats.relayCircuitsCut++
      this.count(code)
    }
  }

  /** A session closed: its reservation goes (the circuits close with their ends). */
  forget(peer: Peer): void {
    if (this.holds(peer)) this.reservations.delete(peer.keyHex)
  }

  /** A peer's name: the one the user table binds to its key, else the one it gave. */
  nameOf(peer: Peer): string {
    return this.s.directory.usernameOfPeer(peer) ?? peer.username
  }
}

/** One side of a spliced circuit: its session and the ID it has there. */
class SplicedEnd implements CircuitEnd {
  constructor(
    private readonly c: Spliced,
    private readonly side: 0 | 1,
  ) {}
  frame(op: number, payload: Uint8Array): void {
    this.c.from(this.side, op, payload)
  }
  lost(err: P4Error): void {
    this.c.close(RelayCode.LINK_LOST, `the relay lost its session with ${this.c.name(this.side)}: ${err.message}`, this.side)
  }
}

/** A circuit through this relay: side 0 is the opener, side 1 the target. */
class Spliced {
  private readonly tables: [PeerCircuits, PeerCircuits]
  private readonly ids: [number, number]
  private readonly ports: [CircuitLinkPort, CircuitLinkPort]
  /** credit[i]: DATA bytes side i may still send towards the other. */
  private readonly credit: [number, number] = [0, 0]
  private open = false
  private done = false
  private bytes = 0
  private timer: Timer | null

  constructor(
    private readonly server: RelayServer,
    readonly reservation: Reservation,
    from: PeerCircuits,
    fromId: number,
    to: PeerCircuits,
    toId: number,
    openerWindow: number,
  ) {
    this.tables = [from, to]
    this.ids = [fromId, toId]
    this.ports = [from.port(fromId, false), to.port(toId, true)]
    this.credit[1] = openerWindow
    from.theirs.set(fromId, new SplicedEnd(this, 0))
    to.mine.set(toId, new SplicedEnd(this, 1))
    this.timer = this.arm(server.core.cfg.timers.handshakeTimeoutMs, RelayCode.TIMEOUT, 'the target did not accept in time')
  }

  get opener(): Peer {
    return this.tables[0].peer
  }

  name(side: 0 | 1): string {
    return this.server.nameOf(this.tables[side].peer)
  }

  private arm(ms: number, code: string, text: string): Timer {
    const t = this.server.core.clock.setTimeout(() => this.close(code, text), ms)
    t.unref?.()
    return t
  }

  /** Queues a frame on side `side`'s session; false (and the circuit closes) when it cannot take it. */
  send(side: 0 | 1, op: number, payload: Uint8Array, control = false): boolean {
    const port = this.ports[side]
    if (port.send(op, payload, control)) return true
    if (port.failure === 'QUOTA_EXCEEDED') this.close(RelayCode.RELAY_BUSY, `the session with ${this.name(side)} takes no more`, side)
    else this.close(RelayCode.LINK_LOST, `the session with ${this.name(side)} is closing`, side)
    return false
  }

  from(side: 0 | 1, op: number, payload: Uint8Array): void {
    if (this.done) return
    const other = (1 - side) as 0 | 1
    switch (op) {
      case RelayOp.ACCEPT: {
        if (side !== 1 || this.open) return this.close(RelayCode.PROTOCOL, 'ACCEPT out of turn')
        const a = decodeAccept(payload)
        this.open = true
        this.credit[0] = a.window
        this.server.core.clock.clearTimeout(this.timer)
        const relay = this.server.core.cfg.relay
        this.timer = this.arm(relay.circuitMs, RelayCode.TIME_LIMIT, `open for ${relay.circuitMs} ms (relay.circuitMs)`)
        this.send(0, RelayOp.ACCEPT, encodeAccept({ window: a.window, maxChunk: Math.min(a.maxChunk, this.server.host.maxChunk) }))
        return
      }
      case RelayOp.DATA: {
        if (!this.open || payload.length > this.credit[side]) return this.close(RelayCode.PROTOCOL, `${this.name(side)} sent ${payload.length} bytes with ${this.credit[side]} of credit`)
        this.credit[side] -= payload.length
        this.bytes += payload.length
        const limit = this.server.core.cfg.relay.circuitBytes
        if (this.bytes > limit) return this.close(RelayCode.BYTE_LIMIT, `carried ${limit} bytes (relay.circuitBytes)`)
        this.server.core.stats.relayBytes += payload.length
        if (this.send(other, RelayOp.DATA, payload)) this.server.tap?.(this.tables[side].peer, this.tables[other].peer, payload)
        return
      }
      case RelayOp.WINDOW: {
        const n = decodeWindow(payload)
        if (this.credit[other] + n > 0xffffffff) return this.close(RelayCode.PROTOCOL, 'window beyond 4 GiB')
        this.credit[other] += n
        this.send(other, RelayOp.WINDOW, payload, true)
        return
      }
      case RelayOp.CLOSE:
        // Passed on as it is; no answer to the side that closed.
        this.end(null)
        this.send(other, RelayOp.CLOSE, payload)
        return
      default:
        return this.close(RelayCode.PROTOCOL, `op ${op} on a circuit`)
    }
  }

  /** Ends the circuit with `code`, telling both sides (but `skip`, whose session is gone). */
  close(code: string, text: string, skip?: 0 | 1): void {
    if (this.done) return
    this.end(code)
    this.server.core.log('relay: circuit %s → %s closed: %s (%s)', this.name(0), this.name(1), code, text)
    const reason = encodeReason(code, text)
    for (const side of [0, 1] as const) if (side !== skip) this.ports[side].send(RelayOp.CLOSE, reason)
  }

  private end(code: string | null): void {
    this.done = true
    this.server.core.clock.clearTimeout(this.timer)
    this.timer = null
    this.tables[0].theirs.delete(this.ids[0])
    this.tables[1].mine.delete(this.ids[1])
    this.server.closed(this, code)
  }
}
