// One stream's protocol state (streams.ts multiplexes them): credit both
// ways, half-close, reset, and acceptance of a stream this side opened.
import { P4Error } from '../core/errors.js'
import type { Flow } from '../session/flows.js'
import { bad, decodeRst, decodeWindow, encodeRst, encodeU32, MAX_CHUNK, MAX_STREAM_ID, REPLY_BIT, StreamOp } from './stream-codec.js'

/** Streams use flows FLOW_BASE.. (flow 0 is the session's own send). */
const FLOW_BASE = 0x1000
const FLOW_SPAN = 0x800

/** What a channel needs of the streams of its peer (streams.ts PeerStreams). */
export interface ChannelHost {
  /** The send flow of flow ID `id` of the peer's session. */
  flow(id: number): Flow
  /** Queues a frame of `ch` (on its flow; on flow 0 with `flow0`). False when the session can take no more. */
  send(ch: StreamChannel, op: number, payload: Uint8Array, flow0?: boolean): boolean
  /** The channel is done: free its slot. */
  forget(ch: StreamChannel): void
  readonly stats: { streamBytesIn: number }
}

/** What a stream's byte side (ts/stream.ts) is told. */
export interface StreamSink {
  /** In-order bytes from the other side (within the window granted). */
  data(chunk: Uint8Array): void
  /** The other side ended its writing (FIN). */
  fin(): void
  /** The stream failed: RST from the other side, or its session closed. */
  reset(err: P4Error): void
  /** write() may take bytes again (credit arrived or the flow drained). */
  writable(): void
}

/** One stream's protocol state. */
export class StreamChannel {
  sink: StreamSink | null = null
  /** Bytes this side may still send. */
  private credit = 0
  /** Bytes the other side may still send before the next grant. */
  private recvLeft: number
  /** Bytes consumed by the reader and not yet granted back. */
  private unreported = 0
  private finSent = false
  private finGot = false
  private done = false
  private accepted: boolean
  private settle: { resolve: () => void; reject: (e: P4Error) => void } | null = null
  readonly flow: Flow

  constructor(
    private readonly mux: ChannelHost,
    /** The ID field this side sends (bit 31: opened by the other side). */
    readonly key: number,
    readonly user: string,
    readonly pluginId: number,
    readonly window: number,
  ) {
    this.recvLeft = window
    this.accepted = !this.mine
    this.flow = mux.flow(FLOW_BASE + ((key & (FLOW_SPAN / 2 - 1)) | (key & REPLY_BIT ? FLOW_SPAN / 2 : 0)))
  }

  /** Opened by this side. */
  get mine(): boolean {
    return (this.key & REPLY_BIT) === 0
  }
  get closed(): boolean {
    return this.done
  }

  /** Queues up to chunk.length bytes as DATA within credit and flow backpressure; returns how many. */
  write(chunk: Uint8Array): number {
    let off = 0
    while (off < chunk.length && !this.done && this.accepted && this.credit > 0 && !this.flow.needDrain) {
      const n = Math.min(chunk.length - off, this.credit, MAX_CHUNK)
      this.credit -= n
      if (!this.mux.send(this, StreamOp.DATA, chunk.subarray(off, off + n))) break
      off += n
    }
    return off
  }

  /** The reader took `n` bytes: grant them back once half a window has gathered. */
  consumed(n: number): void {
    this.unreported += n
    if (this.done || this.finGot || this.unreported < this.window / 2) return
    this.recvLeft += this.unreported
    this.mux.send(this, StreamOp.WINDOW, encodeU32(this.unreported), true)
    this.unreported = 0
  }

  /** Accepts an incoming stream: the first WINDOW grants the opener its window. */
  accept(sink: StreamSink): void {
    this.sink = sink
    this.mux.send(this, StreamOp.WINDOW, encodeU32(this.window))
  }

  /** Half-close: no more DATA from this side. */
  end(): void {
    if (this.done || this.finSent) return
    this.finSent = true
    this.mux.send(this, StreamOp.FIN, new Uint8Array(0))
    if (this.finGot) this.finish()
  }

  /** Aborts the stream; the other side's gets a P4Error with `code`. */
  reset(code: string, text: string): void {
    if (this.done) return
    this.mux.send(this, StreamOp.RST, encodeRst(code, text))
    this.finish()
    this.settle?.reject(new P4Error('CLOSED', `stream to ${this.user} closed before it was accepted: ${text}`))
    this.settle = null
  }

  /** @internal resolves once the other side accepted (its first WINDOW) */
  opened(): Promise<void> {
    return new Promise((resolve, reject) => (this.settle = { resolve, reject }))
  }

  /** @internal a frame for this stream */
  frame(op: number, payload: Uint8Array): void {
    switch (op) {
      case StreamOp.DATA:
        if (!this.accepted || this.finGot) throw bad(`DATA on stream ${this.key & MAX_STREAM_ID} ${this.finGot ? 'after FIN' : 'before it was accepted'}`)
        if (payload.length > this.recvLeft) {
          // A peer ignoring credit: the stream fails here and the dispatcher closes the session (PROTOCOL_ERROR).
          const err = bad(`${this.user} sent ${payload.length} bytes of DATA with ${this.recvLeft} bytes of window left`)
          this.fail(err)
          throw err
        }
        this.recvLeft -= payload.length
        this.mux.stats.streamBytesIn += payload.length
        this.sink?.data(payload)
        return
      case StreamOp.WINDOW: {
        const n = decodeWindow(payload)
        if (this.credit + n > 0xffffffff) throw bad('window beyond 4 GiB')
        const was = this.credit
        this.credit += n
        if (!this.accepted) {
          this.accepted = true
          this.settle?.resolve()
          this.settle = null
        }
        if (was === 0) this.sink?.writable()
        return
      }
      case StreamOp.FIN:
        if (this.finGot || !this.accepted) throw bad('FIN twice or before the stream was accepted')
        this.finGot = true
        this.sink?.fin()
        if (this.finSent) this.finish()
        return
      case StreamOp.RST: {
        const r = decodeRst(payload)
        const err = new P4Error(r.code, `stream ${this.mine ? 'to' : 'from'} ${this.user} reset by ${this.user}: ${r.text}`)
        this.fail(err)
        return
      }
      default:
        throw bad(`op ${op} on an open stream`)
    }
  }

  /** The flow drained: go on writing. */
  drained(): void {
    if (!this.done && this.credit > 0 && !this.flow.needDrain) this.sink?.writable()
  }

  fail(err: P4Error): void {
    if (this.done) return
    this.finish()
    // Not yet accepted: only the openStream() promise hears of it (nobody holds the Duplex yet).
    if (this.settle) {
      this.settle.reject(err)
      this.settle = null
    } else this.sink?.reset(err)
  }

  private finish(): void {
    this.done = true
    this.mux.forget(this)
  }
}
