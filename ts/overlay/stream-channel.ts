// One stream's protocol state (streams.ts multiplexes them): credit both
// ways, half-close, reset, and acceptance of a stream this side opened. An
// encrypted stream's chunks go through a ChunkBox that the layer above makes
// (ts/stream-box.ts: the overlay only carries its sealed bytes); credit and
// counters are in plaintext bytes at both ends.
import { randomBytes } from 'node:crypto'
import { P4Error, type P4ErrorCode } from '../core/errors.js'
import type { Flow } from '../session/flows.js'
import { bad, decodeAccept, decodeRst, decodeWindow, encodeAccept, encodeRst, encodeU32, MAX_CHUNK, MAX_STREAM_ID, REPLY_BIT, SEAL_TAG, STREAM_SALT, StreamOp } from './stream-codec.js'

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
  /** A sealed chunk of `ch` did not open (opening began at performance.now() `t0`): counted, charged to the session. */
  unopened(ch: StreamChannel, t0: number): void
  readonly stats: { streamBytesIn: number }
}

/**
 * One encrypted stream's sealing, both directions, made once both salts are
 * known. Each call is for the next chunk of its direction: the box keeps the
 * sequence numbers, so chunks must be sealed and opened in stream order.
 */
export interface ChunkBox {
  /** This side's next chunk (1..MAX_CHUNK bytes), sealed: ciphertext || tag (SEAL_TAG bytes more). Throws a P4Error when it may seal no more. */
  seal(plaintext: Uint8Array): Uint8Array
  /** The other side's next chunk, or null when it does not authenticate. */
  open(sealed: Uint8Array): Uint8Array | null
  /** This side's end of stream (the FIN payload): SEAL_TAG bytes. */
  sealEnd(): Uint8Array
  /** Whether the other side's FIN payload authenticates as its end of stream. */
  openEnd(tag: Uint8Array): boolean
}

/** What the keys of an encrypted stream are bound to, besides the two users. */
export interface StreamKeyInput {
  /** The stream ID the opener chose (1..MAX_STREAM_ID). */
  streamId: number
  pluginId: number
  openerSalt: Uint8Array
  acceptorSalt: Uint8Array
}

/** Makes an encrypted stream's ChunkBox (given by the layer above, which knows the keys). */
export type ChunkBoxMaker = (k: StreamKeyInput) => ChunkBox

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
  /** The chunks are sealed end to end. */
  readonly encrypted: boolean
  /** Encrypted: this side's salt (the opener's is drawn at once, the acceptor's on accept). */
  private salt: Uint8Array | null = null
  /** Encrypted: the ChunkBox once both salts are known. */
  private box: ChunkBox | null = null
  /** Why the layer above refused this incoming stream (streams.ts sends it as the RST). */
  refusal: { code: P4ErrorCode; text: string } | null = null

  constructor(
    private readonly mux: ChannelHost,
    /** The ID field this side sends (bit 31: opened by the other side). */
    readonly key: number,
    readonly user: string,
    readonly pluginId: number,
    readonly window: number,
    /**
     * Encrypted streams: for one this side opens, the maker of its box (keyed
     * on the accept); for an incoming one, the opener's salt from its OPEN.
     */
    private readonly sealing: ChunkBoxMaker | Uint8Array | null = null,
  ) {
    this.recvLeft = window
    this.accepted = !this.mine
    this.encrypted = sealing !== null
    if (typeof sealing === 'function') this.salt = new Uint8Array(randomBytes(STREAM_SALT))
    this.flow = mux.flow(FLOW_BASE + ((key & (FLOW_SPAN / 2 - 1)) | (key & REPLY_BIT ? FLOW_SPAN / 2 : 0)))
  }

  /** Opened by this side. */
  get mine(): boolean {
    return (this.key & REPLY_BIT) === 0
  }
  get closed(): boolean {
    return this.done
  }

  /** The ID the opener chose. */
  get id(): number {
    return this.key & MAX_STREAM_ID
  }

  /** Encrypted and opened by this side: the salt OPEN carries. */
  get openSalt(): Uint8Array | null {
    return this.mine ? this.salt : null
  }

  /** Queues up to chunk.length bytes as DATA within credit and flow backpressure; returns how many. */
  write(chunk: Uint8Array): number {
    let off = 0
    while (off < chunk.length && !this.done && this.accepted && this.credit > 0 && !this.flow.needDrain) {
      const n = Math.min(chunk.length - off, this.credit, MAX_CHUNK)
      let payload = chunk.subarray(off, off + n)
      if (this.box !== null) {
        try {
          payload = this.box.seal(payload)
        } catch (err) {
          const e = err instanceof P4Error ? err : new P4Error('IO_ERROR', String(err))
          this.abort(e)
          break
        }
      }
      this.credit -= n
      if (!this.mux.send(this, StreamOp.DATA, payload)) break
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

  /** Accepts an incoming stream: the first WINDOW grants the opener its window (and, encrypted, carries this side's salt). */
  accept(sink: StreamSink, box: ChunkBoxMaker | null = null): void {
    const openerSalt = this.sealing
    if (openerSalt instanceof Uint8Array) {
      if (box === null) throw new P4Error('BAD_ARGUMENT', 'an encrypted stream is accepted with its box maker')
      const salt = (this.salt = new Uint8Array(randomBytes(STREAM_SALT)))
      this.box = box({ streamId: this.id, pluginId: this.pluginId, openerSalt, acceptorSalt: salt })
      this.sink = sink
      this.mux.send(this, StreamOp.WINDOW, encodeAccept(this.window, salt))
      return
    }
    this.sink = sink
    this.mux.send(this, StreamOp.WINDOW, encodeU32(this.window))
  }

  /** The layer above refuses this incoming stream, saying why (instead of accept). */
  refuse(code: P4ErrorCode, text: string): void {
    this.refusal = { code, text }
  }

  /** Half-close: no more DATA from this side. */
  end(): void {
    if (this.done || this.finSent) return
    this.finSent = true
    let payload: Uint8Array = new Uint8Array(0)
    if (this.box !== null) {
      try {
        payload = this.box.sealEnd()
      } catch (err) {
        return this.abort(err instanceof P4Error ? err : new P4Error('IO_ERROR', String(err)))
      }
    }
    this.mux.send(this, StreamOp.FIN, payload)
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
      case StreamOp.DATA: {
        if (!this.accepted || this.finGot) throw bad(`DATA on stream ${this.id} ${this.finGot ? 'after FIN' : 'before it was accepted'}`)
        // Encrypted: credit counts the plaintext, as the sender counted it.
        const n = this.encrypted ? payload.length - SEAL_TAG : payload.length
        if (this.encrypted && n < 1) throw bad(`sealed DATA of ${payload.length} bytes on stream ${this.id}`)
        if (n > this.recvLeft) {
          // A peer ignoring credit: the stream fails here and the dispatcher closes the session (PROTOCOL_ERROR).
          const err = bad(`${this.user} sent ${n} bytes of DATA with ${this.recvLeft} bytes of window left`)
          this.fail(err)
          throw err
        }
        let chunk: Uint8Array | null = payload
        if (this.box !== null) {
          const t0 = performance.now()
          chunk = this.box.open(payload)
          if (chunk === null) return this.unopened(t0, 'a chunk')
        }
        this.recvLeft -= n
        this.mux.stats.streamBytesIn += n
        this.sink?.data(chunk)
        return
      }
      case StreamOp.WINDOW: {
        if (!this.accepted && this.mine && this.encrypted) return this.acceptedSealed(payload)
        const n = decodeWindow(payload)
        if (this.credit + n > 0xffffffff) throw bad('window beyond 4 GiB')
        const was = this.credit
        this.credit += n
        if (!this.accepted) this.acceptedNow()
        if (was === 0) this.sink?.writable()
        return
      }
      case StreamOp.FIN:
        if (this.finGot || !this.accepted) throw bad('FIN twice or before the stream was accepted')
        if (this.box !== null) {
          const t0 = performance.now()
          if (!this.box.openEnd(payload)) return this.unopened(t0, 'its end (FIN)')
        }
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

  private acceptedNow(): void {
    this.accepted = true
    this.settle?.resolve()
    this.settle = null
  }

  /** The accept of an encrypted stream this side opened: its box is made before any DATA of the acceptor's is read. */
  private acceptedSealed(payload: Uint8Array): void {
    const a = decodeAccept(payload)
    const make = this.sealing as ChunkBoxMaker
    this.box = make({ streamId: this.id, pluginId: this.pluginId, openerSalt: this.salt!, acceptorSalt: a.salt })
    this.credit = a.window
    this.acceptedNow()
  }

  /** A sealed chunk or FIN that did not open: nothing of it is delivered; the stream resets at both ends (DECRYPT_FAILED). */
  private unopened(t0: number, what: string): void {
    this.mux.unopened(this, t0)
    this.abort(new P4Error('DECRYPT_FAILED', `stream ${this.id} ${this.mine ? 'to' : 'from'} ${this.user}: ${what} did not open (tampered with on the way, or not sealed by ${this.user})`))
  }

  /** Resets the stream from this side for `err`: RST with its code to the other side, `err` to this side's reader. */
  private abort(err: P4Error): void {
    if (this.done) return
    this.mux.send(this, StreamOp.RST, encodeRst(err.code, err.message))
    this.fail(err)
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
