// Relayed sessions (the overlay module): reaching users others cannot dial.
// RELAY frames are routed here: reservation ops to the relay side
// (relay-server.ts) or the client side (relay-client.ts), circuit frames to
// the circuit they belong to on that session (relay-ports.ts). The codec is
// relay-codec.ts; a circuit's end, a Conn a session runs over, is
// circuit-conn.ts.
import type { Timer } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import type { Frame } from '../session/session.js'
import type { Core, Directory, RelayService, Sessions } from './context.js'
import type { LkaEntry } from './lka.js'
import type { Peer } from './peer.js'
import type { Reachability } from './types.js'
import { MAX_CHUNK, MAX_CIRCUIT_ID, relayBad, relayFeature, REPLY_BIT, RelayOp, type RelayAddress } from './relay-codec.js'
import { RelayClient } from './relay-client.js'
import { PeerCircuits } from './relay-ports.js'
import { RelayServer } from './relay-server.js'

/** Whether this node can be dialled, as far as it knows (reachability's verdict, reach.ts). */
export interface ReachView {
  status(): Reachability['status']
}

export const UNKNOWN_REACH: ReachView = { status: () => 'unknown' }

export class Relays implements RelayService {
  private readonly tables = new WeakMap<Peer, PeerCircuits>()
  private readonly server: RelayServer
  private readonly client: RelayClient
  private timer: Timer | null = null
  /** Largest DATA payload this node's sessions take (maxMessage + 4096, at most 64 KiB). */
  private readonly maxChunk: number

  constructor(
    private readonly core: Core,
    private readonly s: { table: Sessions; directory: Directory },
    private readonly reach: ReachView = UNKNOWN_REACH,
  ) {
    const relays = this
    this.maxChunk = Math.min(MAX_CHUNK, core.cfg.maxMessage + 4096)
    this.server = new RelayServer(core, s, {
      of: (p) => this.of(p),
      serving: () => this.serving(),
      get maxChunk() {
        return relays.maxChunk
      },
    })
    this.client = new RelayClient(core, s, {
      of: (p) => this.of(p),
      wants: () => this.wants(),
      get maxChunk() {
        return relays.maxChunk
      },
    })
  }

  /**
   * relay.serve: true, or 'auto' once this node found others can dial it
   * (a quorum of peers dialled it back): a node that may be behind NAT
   * itself, or not yet checked, refuses (RELAY_OFF).
   */
  private serving(): boolean {
    const serve = this.core.cfg.relay.serve
    return serve === true || (serve === 'auto' && this.reach.status() === 'public')
  }

  /** relay.client: 'always', or 'auto' once this node found it cannot be dialled. */
  private wants(): boolean {
    const mode = this.core.cfg.relay.client
    return mode === 'always' || (mode === 'auto' && this.reach.status() === 'private')
  }

  start(): void {
    const tick = (): void => {
      this.timer = null
      if (!this.core.running) return
      this.client.tick(this.core.clock.now())
      this.timer = this.core.clock.setTimeout(tick, this.core.cfg.timers.maintenanceMs)
      this.timer.unref?.()
    }
    tick()
  }

  stop(): void {
    this.core.clock.clearTimeout(this.timer)
    this.timer = null
  }

  private of(peer: Peer): PeerCircuits {
    let pc = this.tables.get(peer)
    if (pc === undefined) this.tables.set(peer, (pc = new PeerCircuits(peer)))
    return pc
  }

  current(): RelayAddress[] {
    return this.client.current()
  }

  sessionVia(entry: LkaEntry, direct: (() => Promise<Peer>) | null): Promise<Peer> | null {
    return this.client.sessionVia(entry, direct)
  }

  listsRelays(username: string): boolean {
    const e = this.s.directory.lka.get(username)
    return e !== undefined && this.client.relaysOf(e).length > 0
  }

  busy(peer: Peer): boolean {
    return (this.tables.get(peer)?.size ?? 0) > 0 || this.server.holds(peer) || this.client.holds(peer)
  }

  /** A MsgType.RELAY frame. Throws BAD_FRAME (the session closes) on one that breaks the rules. */
  frame(peer: Peer, f: Frame): void {
    const op = f.idLo
    const field = f.idHi
    // What the handshake announced (RELAY: this node may relay); whether it
    // serves now ('auto': only while public) the relay side answers.
    const announced = relayFeature(this.core.cfg) !== 0
    if (field === 0) {
      if (op === RelayOp.RESERVE || op === RelayOp.UNRESERVE) {
        if (!announced) throw relayBad('a reservation asked of a node that does not relay')
        if (f.payload.length !== 0) throw relayBad('RESERVE and UNRESERVE carry nothing')
        return this.server.reservation(peer, op)
      }
      if (op === RelayOp.RESERVED || op === RelayOp.REFUSED) return this.client.answer(peer, op, f.payload)
      throw relayBad(`op ${op} without a circuit`)
    }
    const id = field & MAX_CIRCUIT_ID
    if (id === 0) throw relayBad('circuit ID 0')
    const theirs = (field & REPLY_BIT) === 0
    if (theirs && op === RelayOp.CONNECT) {
      if (!announced) throw relayBad('CONNECT to a node that does not relay')
      return this.server.connect(peer, id, f.payload)
    }
    if (theirs && op === RelayOp.INCOMING) return this.client.incoming(peer, id, f.payload)
    const pc = this.tables.get(peer)
    // Frames of a circuit already gone (closed while they were on their way) are dropped.
    ;(theirs ? pc?.theirs : pc?.mine)?.get(id)?.frame(op, f.payload)
  }

  /** The session closed: its circuits end, and a reservation on it is gone. */
  forget(peer: Peer, reason: P4Error | null): void {
    const pc = this.tables.get(peer)
    if (pc !== undefined) {
      this.tables.delete(peer)
      pc.lost(reason ?? new P4Error('CLOSED', `the session with ${peer.username} closed`))
    }
    this.server.forget(peer)
    this.client.forget(peer)
  }

  /** Diagnostics: `fn` sees every DATA payload this node relays, with the two ends' names. */
  tap(fn: (from: string, to: string, bytes: Uint8Array) => void): void {
    const server = this.server
    server.tap = (from, to, bytes) => fn(server.nameOf(from), server.nameOf(to), bytes)
  }

  /** The gauges of stats(). */
  gauges(): { relayReservations: number; relayCircuits: number; relaysHeld: number } {
    return { relayReservations: this.server.reservationCount, relayCircuits: this.server.circuitCount, relaysHeld: this.client.heldCount }
  }
}
