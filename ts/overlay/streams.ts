// Streams multiplexed over the one session a node has with another (a link
// or a direct session), with per-stream credit: a receiver grants window as
// its reader consumes, a sender never exceeds it, so a slow reader holds
// back only its own stream. Each stream sends on a flow of its own
// (session/flows.ts), so a bulk stream never delays another stream or the
// session's messages by more than a frame or so; WINDOW updates go on
// flow 0. Grants go back once half a window was read (one WINDOW per
// 128 KiB by default): measured faster than a quarter, and larger windows
// than 256 KiB were slower on loopback (more bytes in flight, more GC). Frames and their layout: stream-codec.ts. The byte-stream side
// (a Node Duplex) is ts/stream.ts, behind the StreamSink interface; one
// stream's state is stream-channel.ts.
import { P4Error, type P4ErrorCode } from '../core/errors.js'
import { HandshakeFeature, MsgType } from '../core/protocol.js'
import type { Flow } from '../session/flows.js'
import { StreamChannel, type ChannelHost, type ChunkBoxMaker, type StreamSink } from './stream-channel.js'
import type { Frame } from '../session/session.js'
import type { Core, Directory, Gate } from './context.js'
import type { Peer } from './peer.js'
import { bad, decodeOpen, encodeOpen, encodeRst, encodeU32, MAX_STREAM_ID, REPLY_BIT, StreamOp, streamFeature } from './stream-codec.js'

export interface StreamLimits {
  /** Streams open at once with one peer (both directions); 0: streams off. */
  max: number
  /** Receive window per stream, bytes. */
  window: number
}

/** The counters the mux keeps (in the overlay's stats). */
export interface StreamStats {
  streamsOpened: number
  streamsAccepted: number
  streamsRefused: number
  streamBytesIn: number
}

/** The streams of one peer. */
export class PeerStreams implements ChannelHost {
  private readonly open = new Map<number, StreamChannel>()
  private nextId = 1
  private readonly flowsHeard = new Set<Flow>()

  constructor(
    readonly peer: Peer,
    readonly limits: StreamLimits,
    readonly stats: StreamStats,
    stopping: () => boolean,
    /** This node announced STREAM_BOX1 (takes encrypted streams). */
    private readonly sealed: boolean,
    private readonly guard: Pick<Gate, 'boxOpened'>,
  ) {
    peer.session.once('close', (reason: P4Error | null) => {
      const why = stopping() ? new P4Error('CLOSED', 'node stopping', { cause: reason ?? undefined }) : new P4Error('UNREACHABLE', `session to ${peer.username} closed`, { cause: reason ?? undefined })
      for (const ch of [...this.open.values()]) ch.fail(why)
    })
  }

  get size(): number {
    return this.open.size
  }

  flow(id: number): Flow {
    return this.peer.session.flow(id)
  }

  /** A new stream this side opens (sealed with `box`'s chunk boxes if given); resolves once the other side accepted it. */
  async open1(user: string, pluginId: number, attach: (ch: StreamChannel) => StreamSink, box: ChunkBoxMaker | null): Promise<StreamChannel> {
    if (this.open.size >= this.limits.max) throw new P4Error('QUOTA_EXCEEDED', `${this.open.size} streams open with ${user} (streams.max ${this.limits.max}); close one first`)
    if (this.nextId > MAX_STREAM_ID) throw new P4Error('QUOTA_EXCEEDED', `stream IDs with ${user} are used up; a new session starts them again`)
    const ch = new StreamChannel(this, this.nextId++, user, pluginId, this.limits.window, box)
    ch.sink = attach(ch)
    this.add(ch)
    const opened = ch.opened()
    this.send(ch, StreamOp.OPEN, encodeOpen(this.limits.window, ch.openSalt))
    this.stats.streamsOpened++
    await opened
    return ch
  }

  /** A STREAM frame from the peer. `offer` hands an incoming stream to the node (which accepts or refuses it). */
  frame(f: Frame, user: string | undefined, offer: (ch: StreamChannel) => void): void {
    const key = (f.idHi ^ REPLY_BIT) >>> 0
    const op = f.idLo
    const ch = this.open.get(key)
    if (op !== StreamOp.OPEN) return void ch?.frame(op, f.payload) // frames of a stream already gone are dropped
    if ((key & REPLY_BIT) === 0 || (key & MAX_STREAM_ID) === 0) throw bad('OPEN with a reply ID')
    if (ch) throw bad(`OPEN of stream ${f.idHi} already open`)
    const o = decodeOpen(f.payload)
    if (o.window === 0) throw bad('OPEN with a 0-byte window')
    const refuse = (code: P4ErrorCode, text: string): void => {
      this.stats.streamsRefused++
      this.sendRaw(key, f.pluginId, StreamOp.RST, encodeRst(code, text))
    }
    if (o.salt !== null && !this.sealed) return refuse('UNSUPPORTED', 'end-to-end encrypted streams are not supported by this node')
    if (user === undefined) return refuse('STREAM_REFUSED', 'your key is not bound to a user here yet')
    if (this.open.size >= this.limits.max) return refuse('QUOTA_EXCEEDED', `${this.open.size} streams open (streams.max ${this.limits.max})`)
    const incoming = new StreamChannel(this, key, user, f.pluginId, this.limits.window, o.salt)
    incoming.frame(StreamOp.WINDOW, encodeU32(o.window)) // the opener's window: this side's credit
    this.add(incoming)
    offer(incoming)
    if (incoming.sink === null) {
      this.forget(incoming)
      const why = incoming.refusal
      return refuse(why?.code ?? 'STREAM_REFUSED', why?.text ?? `plugin ${f.pluginId} accepts no streams here`)
    }
    this.stats.streamsAccepted++
  }

  private add(ch: StreamChannel): void {
    this.open.set(ch.key, ch)
    if (!this.flowsHeard.has(ch.flow)) {
      this.flowsHeard.add(ch.flow)
      const flow = ch.flow
      flow.on('drain', () => {
        for (const c of this.open.values()) if (c.flow === flow) c.drained()
      })
    }
  }

  forget(ch: StreamChannel): void {
    if (this.open.get(ch.key) === ch) this.open.delete(ch.key)
  }

  unopened(_ch: StreamChannel, t0: number): void {
    // As an end-to-end box that does not open: counted (decryptFailed), charged to the session's quota and CPU.
    this.guard.boxOpened(this.peer, t0, false, true)
  }

  /** Queues a frame of `ch` (on its flow; WINDOW updates on flow 0). False when the session can take no more. */
  send(ch: StreamChannel, op: number, payload: Uint8Array, flow0 = false): boolean {
    const s = this.peer.session
    if (s.closed) return false
    try {
      ;(flow0 ? s : ch.flow).send(MsgType.STREAM, 0, 0, ch.pluginId, ch.key, op, payload)
      return true
    } catch (err) {
      // Over the session's queue bound (a peer not reading at all): the stream fails, the session stays.
      ch.fail(err instanceof P4Error ? err : new P4Error('IO_ERROR', String(err)))
      return false
    }
  }

  private sendRaw(key: number, pluginId: number, op: number, payload: Uint8Array): void {
    this.peer.trySend(MsgType.STREAM, 0, 0, pluginId, key, op, payload)
  }
}

/** Whether the session's other end takes STREAM frames. */
export function peerHasStreams(peer: Peer): boolean {
  return (peer.remote.features & HandshakeFeature.STREAMS) !== 0
}

/** Whether the session's other end takes encrypted streams. */
function peerHasStreamBox(peer: Peer): boolean {
  return (peer.remote.features & HandshakeFeature.STREAM_BOX1) !== 0
}

/** The overlay module: a PeerStreams per peer, created on first use. */
export class StreamMux {
  private readonly perPeer = new WeakMap<Peer, PeerStreams>()

  constructor(
    private readonly core: Core,
    private readonly s: { directory: Directory; guard: Gate },
  ) {}

  get limits(): StreamLimits {
    return this.core.cfg.streams
  }

  /** This node announces HandshakeFeature.STREAMS. */
  get enabled(): boolean {
    return streamFeature(this.core.cfg) !== 0
  }

  /** This node announces HandshakeFeature.STREAM_BOX1. */
  get sealed(): boolean {
    return (streamFeature(this.core.cfg) & HandshakeFeature.STREAM_BOX1) !== 0
  }

  private of(peer: Peer): PeerStreams {
    let ps = this.perPeer.get(peer)
    if (!ps) {
      ps = new PeerStreams(peer, this.limits, this.core.stats, () => this.core.stopping, this.sealed, this.s.guard)
      this.perPeer.set(peer, ps)
    }
    return ps
  }

  /** Opens a stream; with `box`, an encrypted one (only to a peer that announced STREAM_BOX1: UNSUPPORTED before anything is sent otherwise). */
  open(peer: Peer, user: string, pluginId: number, attach: (ch: StreamChannel) => StreamSink, box: ChunkBoxMaker | null = null): Promise<StreamChannel> {
    if (!this.enabled) return Promise.reject(new P4Error('UNSUPPORTED', 'streams are off on this node (streams.max is 0, or maxMessage is below 61,440 bytes)'))
    if (!peerHasStreams(peer)) return Promise.reject(new P4Error('UNSUPPORTED', `${user}'s node does not support streams (it did not announce handshake feature STREAMS)`))
    if (box !== null && !this.sealed) return Promise.reject(new P4Error('UNSUPPORTED', 'encrypted streams are off on this node (maxMessage is below 61,456 bytes)'))
    if (box !== null && !peerHasStreamBox(peer)) {
      return Promise.reject(new P4Error('UNSUPPORTED', `${user}'s node does not support end-to-end encrypted streams (an older p4net without handshake feature STREAM_BOX1); upgrade it, or open the stream without { encrypted: true }`))
    }
    return this.of(peer).open1(user, pluginId, attach, box)
  }

  /** A MsgType.STREAM frame. */
  frame(peer: Peer, f: Frame): void {
    if (!this.enabled) throw bad('STREAM frame, but this node did not announce streams')
    this.of(peer).frame(f, this.s.directory.usernameOfPeer(peer), (ch) => this.core.emit('stream', ch))
  }
}

export { StreamChannel, type ChunkBox, type ChunkBoxMaker, type StreamKeyInput, type StreamSink } from './stream-channel.js'
