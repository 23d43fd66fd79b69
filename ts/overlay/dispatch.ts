// A received frame's way in: the quota gate, then the frame-type → handler
// table. Part of the wiring in overlay.ts, so it names the modules' classes.
import { P4Error } from '../core/errors.js'
import { Flag, MsgType } from '../core/protocol.js'
import type { Frame } from '../session/session.js'
import type { Core } from './context.js'
import type { FloodRouter } from './flood.js'
import type { Guard } from './guard.js'
import { ByeReason, decodeBye, decodePing } from './link-codec.js'
import type { LkaExchange } from './lka-sync.js'
import type { Peer } from './peer.js'
import type { PeerTable } from './peer-table.js'
import type { ReachTracker } from './reach.js'
import { RelayOp } from './relay-codec.js'
import type { Relays } from './relays.js'
import { StreamOp } from './stream-codec.js'
import type { StreamMux } from './streams.js'
import { SendQueue } from './send-queue.js'
import type { WalkRouter } from './walks.js'

type Handler = (peer: Peer, f: Frame) => void

/** The modules that handle frames. */
export interface FrameHandlers {
  table: PeerTable
  guard: Guard
  floods: FloodRouter
  lka: LkaExchange
  walks: WalkRouter
  streams: StreamMux
  reach: ReachTracker
  relays: Relays
}

export class FrameDispatch {
  private readonly handlers: Array<Handler | undefined> = []

  constructor(
    private readonly core: Core,
    private readonly m: FrameHandlers,
  ) {
    const clock = core.clock
    const h = this.handlers
    h[MsgType.HELLO] = (p, f) => m.floods.flood(p, f)
    h[MsgType.DATA] = (p, f) => {
      if (f.flags & Flag.BROADCAST) m.floods.flood(p, f)
      else m.floods.unicast(p, f)
    }
    h[MsgType.DISCOVER] = (p, f) => m.walks.handle(p, f)
    h[MsgType.PING] = (p, f) => void p.trySend(MsgType.PING_ACK, 0, 0, 0, f.idHi, f.idLo, f.payload)
    h[MsgType.PING_ACK] = (p, f) => void p.pong(Number(decodePing(f.payload).nonce & 0xffffffffn), clock.now())
    h[MsgType.LKA] = (p, f) => m.lka.answer(p, f)
    h[MsgType.LKA_ACK] = (p, f) => m.lka.apply(p, f)
    h[MsgType.CONNECT] = (_p, f) => m.walks.connected(f)
    h[MsgType.REACH] = (p, f) => m.reach.frame(p, f)
    h[MsgType.RELAY] = (p, f) => m.relays.frame(p, f)
    h[MsgType.STREAM] = (p, f) => {
      p.active(clock.now())
      m.streams.frame(p, f)
    }
    h[MsgType.DATA_ACK] = (p, f) => {
      if (f.payload.length !== 1) throw new P4Error('BAD_FRAME', `DATA_ACK payload must be 1 byte, got ${f.payload.length}`)
      if (SendQueue.of(p.session, p.username, clock).acked(f.idHi, f.idLo, f.payload[0]!, f.pluginId)) return
      // Not awaited (late, or unsolicited): charged to the frame quota as any other frame.
      const over = p.quota.frame(clock.now())
      if (over !== null) m.guard.cutOff(p, over)
    }
    h[MsgType.BYE] = (p, f) => {
      const bye = decodeBye(f.payload)
      m.table.byeFrom(p, bye.reason, bye.text)
    }
  }

  /** The clock read once per batch of frames (one read from the transport), not per frame. */
  private nowAt = 0
  private nowFresh = false
  private readonly nowStale = (): void => {
    this.nowFresh = false
  }

  private now(): number {
    if (!this.nowFresh) {
      this.nowAt = this.core.clock.now()
      this.nowFresh = true
      queueMicrotask(this.nowStale)
    }
    return this.nowAt
  }

  /** Every frame of every kept session: the quota gate, then its type's handler. */
  onFrame(peer: Peer, f: Frame): void {
    if (peer.cut) return
    const now = this.now()
    peer.heard(now)
    if (f.type === MsgType.DATA || f.type === MsgType.RELAY) peer.active(now)
    this.core.stats.framesIn++
    // Unicast DATA is paced by backpressure, stream and circuit DATA and
    // WINDOW by credit, instead of a frame quota; so are the DATA_ACKs a send
    // asked for (an unexpected one is charged in its handler).
    if (
      f.type === MsgType.STREAM
        ? f.idLo !== StreamOp.DATA && f.idLo !== StreamOp.WINDOW
        : f.type === MsgType.RELAY
          ? f.idLo !== RelayOp.DATA && f.idLo !== RelayOp.WINDOW
          : (f.type !== MsgType.DATA || (f.flags & Flag.BROADCAST) !== 0) && f.type !== MsgType.DATA_ACK
    ) {
      const q = peer.quota
      const over = q.frame(now) ?? (f.type === MsgType.HELLO ? q.helloFrame(now) : f.type === MsgType.DISCOVER ? q.discoverFrame(now) : null)
      if (over !== null) return this.m.guard.cutOff(peer, over)
    }
    try {
      this.handlers[f.type]?.(peer, f)
    } catch (err) {
      // A malformed body is the sender's fault: count it, drop the frame, and
      // close the session (a valid session that sends garbage is broken or hostile).
      this.core.stats.badFrame++
      this.core.log('bad frame from %s: %s', peer.username, (err as Error).message)
      this.m.table.closePeer(peer, ByeReason.PROTOCOL_ERROR, (err as Error).message.slice(0, 100))
    }
  }
}
