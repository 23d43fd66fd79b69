// Unicast DATA as plugin.send() makes it: the session bound to the user's
// key (a route kept while the user and session tables are unchanged), a
// fresh message ID, the payload (sealed end to end on request), the
// session's send queue, and the delivery confirmation when asked for.
import { P4Error } from '../core/errors.js'
import { drawId, drawn } from '../core/ids.js'
import { Flag, HandshakeFeature } from '../core/protocol.js'
import type { Core, Directory, Sessions } from './context.js'
import type { LkaEntry } from './lka.js'
import type { Peer } from './peer.js'
import { SendQueue } from './send-queue.js'

/**
 * Seals a DATA payload from `data`, its message ID and the recipient's
 * end-to-end key (so a box can bind them). It may return a view it will
 * overwrite later (WASM memory): the payload is copied before anything else runs.
 */
export type SealFn = (hi: number, lo: number, staticKey: Uint8Array, username: string, pluginId: number, data: Uint8Array) => Uint8Array

interface Route {
  entry: LkaEntry
  peer: Peer
  queue: SendQueue
  /** The user and session tables' versions when the route was found: valid while they stay. */
  stamp: number
}

export class UnicastSender {
  /** Event-loop turns counted while sends happen (activity marking in sendOn). */
  private turn = 0
  private turnPending = false
  private readonly nextTurn = (): void => {
    this.turn++
    this.turnPending = false
  }
  /** The session (and its send queue) each recent recipient was sent on (routeTo). */
  private readonly routes = new Map<string, Route>()

  constructor(
    private readonly core: Core,
    private readonly s: { table: Sessions; directory: Directory },
  ) {}

  /**
   * Sends one DATA frame to `username` over the session bound to its key.
   * The payload is `data` (the caller's: copied unless large, see
   * send-queue.ts handOver), or what `seal` makes of it. Resolves once the session
   * accepted it under its high-water mark; while it is above, the send waits
   * in the session's one queue (send-queue.ts). With `ackTimeoutMs`, resolves
   * instead once the recipient's node confirms delivery (DATA_ACK).
   */
  send(username: string, pluginId: number, flags: number, data: Uint8Array, ackTimeoutMs?: number, seal?: SealFn): Promise<void> {
    const r = this.routes.get(username)
    if (r !== undefined && r.stamp === this.tablesVersion() && r.peer.usable) return this.sendOn(r.peer, r.queue, username, r.entry, pluginId, flags, data, ackTimeoutMs, seal)
    const entry = this.s.directory.lka.get(username)
    const route = this.routeTo(username, entry)
    if (route === undefined) return this.sendOnNew(username, pluginId, flags, data, ackTimeoutMs, seal)
    return this.sendOn(route.peer, route.queue, username, entry, pluginId, flags, data, ackTimeoutMs, seal)
  }

  // Changes whenever a name is bound to another table entry or a session
  // joins or leaves the tables: a route found under one value holds while it lasts.
  private tablesVersion(): number {
    return this.s.directory.lka.version + this.s.table.version
  }

  // No session yet: one is found or dialled first. (Closures live in their
  // own methods: V8 allocates a function's closure context on every call.)
  private sendOnNew(username: string, pluginId: number, flags: number, data: Uint8Array, ackTimeoutMs: number | undefined, seal: SealFn | undefined): Promise<void> {
    return this.s.table.sessionTo(username).then((p) => this.sendOn(p, SendQueue.of(p.session, p.username, this.core.clock), username, this.s.directory.lka.get(username), pluginId, flags, data, ackTimeoutMs, seal))
  }

  // `entry`: the user's table entry, looked up just before (once per send).
  private sendOn(peer: Peer, q: SendQueue, username: string, entry: LkaEntry | undefined, pluginId: number, flags: number, data: Uint8Array, ackTimeoutMs: number | undefined, seal: SealFn | undefined): Promise<void> {
    if (!entry) return Promise.reject(new P4Error('UNKNOWN_USER', `no known user "${username}"`))
    if ((flags & Flag.ENCRYPTED) !== 0 && (peer.session.remote.features & HandshakeFeature.E2E_BOX1) === 0) {
      // A box it could not open would be dropped there and charged to us.
      return Promise.reject(new P4Error('UNSUPPORTED', `${username}'s node cannot open end-to-end boxes of version 1 (an older p4net without handshake feature E2E_BOX1); upgrade it, or send without { encrypted: true }`))
    }
    drawId()
    const hi = drawn.hi
    const lo = drawn.lo
    let payload = data
    if (seal !== undefined) {
      try {
        payload = seal(hi, lo, entry.staticKey, username, pluginId, data)
      } catch (err) {
        return Promise.reject(err)
      }
    }
    // Activity (which keeps a direct session from idling out) is marked once
    // per event-loop turn: reading the clock per message cost more than the rest of the send.
    if (q.activeTurn !== this.turn) {
      peer.active(this.core.clock.now())
      q.activeTurn = this.turn
      if (!this.turnPending) {
        this.turnPending = true
        setImmediate(this.nextTurn)
      }
    }
    if (ackTimeoutMs === undefined) return q.send(flags, pluginId, hi, lo, payload)
    if ((peer.session.remote.features & HandshakeFeature.ACK) === 0) {
      return Promise.reject(new P4Error('UNSUPPORTED', `${username}'s node does not confirm delivery (an older p4net without handshake feature ACK); send without { ack: true }`))
    }
    return this.sendAcked(q, flags, pluginId, hi, lo, payload, ackTimeoutMs)
  }

  private sendAcked(q: SendQueue, flags: number, pluginId: number, hi: number, lo: number, payload: Uint8Array, ackTimeoutMs: number): Promise<void> {
    const acked = q.expectAck(hi, lo, ackTimeoutMs)
    return q.send(flags | Flag.ACK, pluginId, hi, lo, payload).then(
      () => acked,
      (err: unknown) => {
        q.cancelAck(hi, lo)
        throw err
      },
    )
  }

  // peerOf() hexes the user's key for every call: a send uses the session it
  // found last time while the tables are unchanged (send), else re-checks it
  // (same table entry, still held) before looking again.
  private routeTo(username: string, entry: LkaEntry | undefined): Route | undefined {
    const r = this.routes.get(username)
    const stamp = this.tablesVersion()
    if (r !== undefined && entry === r.entry && this.s.table.holds(r.peer)) {
      r.stamp = stamp
      return r
    }
    const peer = this.s.table.peerOf(username)
    if (this.routes.size >= 1024) this.routes.clear() // recipients of long ago need not hold their closed sessions
    if (peer === undefined || entry === undefined) {
      this.routes.delete(username)
      return undefined
    }
    const route = { entry, peer, queue: SendQueue.of(peer.session, peer.username, this.core.clock), stamp }
    this.routes.set(username, route)
    return route
  }
}
