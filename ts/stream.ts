// A stream as applications see it: a Node Duplex over one multiplexed stream
// of the session to another user (ts/overlay/streams.ts). Reading grants the
// other side window: bytes wait here (at most one window) until the Duplex's
// reader asks for more, and only bytes handed to the reader are granted back,
// so a reader that stops holds back only its own stream.
import { Duplex } from 'node:stream'
import { P4Error } from './core/errors.js'
import type { StreamChannel, StreamSink } from './overlay/overlay.js'

/** Options of plugin.openStream(). */
export interface StreamOptions {
  /**
   * Seal the stream end to end between the two users' keys (the static
   * X25519 keys of their signed HELLOs), on top of the session's own
   * encryption, so that no node carrying it can read or alter it. Rejects
   * UNSUPPORTED when the user's node does not take encrypted streams (an
   * older p4net without handshake feature STREAM_BOX1), before anything is
   * sent. Default false. docs/security.md says what it keeps and gives up.
   */
  encrypted?: boolean
}

/** What the readable side buffers before pausing the hand-over to the reader. */
const READ_HIGH_WATER = 64 * 1024
const WRITE_HIGH_WATER = 64 * 1024
/**
 * Held chunks below this size are gathered into buffers of GATHER bytes:
 * a peer sending tiny DATA frames within its window must not make this side
 * keep a list entry (and the receive buffer it is a view of) per frame.
 */
const SMALL = 4096
const GATHER = 16 * 1024

export class P4Stream extends Duplex {
  /** The other end's user (authenticated: the session bound to the key its HELLO names). */
  readonly user: string
  readonly pluginId: number
  /** Sealed end to end (openStream's { encrypted: true }); a chunk that does not open resets the stream with DECRYPT_FAILED. */
  readonly encrypted: boolean
  private readonly ch: StreamChannel
  /** Received bytes not yet handed to the reader (bounded by the window). */
  private held: Uint8Array[] = []
  /** Small chunks being gathered (the tail of held). */
  private gather: Buffer | null = null
  private gathered = 0
  private wantRead = false
  private finGot = false
  private eof = false
  private pending: { chunk: Uint8Array; off: number; cb: (err?: Error | null) => void } | null = null
  /** Failed by the other side or the session: no RST goes back. */
  private failed = false
  /** @internal what the mux tells this stream */
  readonly sink: StreamSink

  /** @internal streams come from plugin.openStream() and the plugin's 'stream' event. */
  constructor(ch: StreamChannel, user: string) {
    super({ allowHalfOpen: true, readableHighWaterMark: READ_HIGH_WATER, writableHighWaterMark: WRITE_HIGH_WATER })
    this.ch = ch
    this.user = user
    this.pluginId = ch.pluginId
    this.encrypted = ch.encrypted
    this.sink = {
      data: (chunk) => this.received(chunk),
      fin: () => {
        this.finGot = true
        this.handOver()
      },
      reset: (err) => {
        this.failed = true
        this.destroy(err)
      },
      writable: () => this.pump(),
    }
  }

  private received(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    if (this.wantRead && this.held.length === 0 && this.gathered === 0) {
      // The reader wants bytes: straight through, nothing held.
      this.held.push(chunk)
      return this.handOver()
    }
    if (chunk.length < SMALL) {
      if (this.gather !== null && this.gathered + chunk.length > GATHER) this.closeGather()
      this.gather ??= Buffer.allocUnsafe(GATHER)
      this.gather.set(chunk, this.gathered)
      this.gathered += chunk.length
    } else {
      this.closeGather()
      // A view into a larger receive buffer is copied, so that holding it does not keep the rest alive.
      this.held.push(chunk.byteLength * 2 < chunk.buffer.byteLength ? Buffer.from(chunk) : chunk)
    }
    if (this.wantRead) this.handOver()
  }

  /** The gathered small chunks become one held chunk. */
  private closeGather(): void {
    if (this.gather === null || this.gathered === 0) return
    this.held.push(this.gather.subarray(0, this.gathered))
    this.gather = null
    this.gathered = 0
  }

  // ---------------------------------------------------- Duplex

  override _read(): void {
    this.wantRead = true
    this.handOver()
  }

  private handOver(): void {
    if (this.wantRead) this.closeGather()
    let moved = 0
    let i = 0
    const held = this.held
    while (this.wantRead && i < held.length) {
      const c = held[i++]!
      moved += c.length
      if (!this.push(c)) this.wantRead = false
    }
    if (i > 0) this.held = i === held.length ? [] : held.slice(i)
    if (moved > 0) this.ch.consumed(moved)
    if (this.finGot && this.held.length === 0 && this.gathered === 0 && !this.eof) {
      this.eof = true
      this.push(null)
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.pending = { chunk, off: 0, cb }
    this.pump()
  }

  private pump(): void {
    const p = this.pending
    if (!p || this.ch.closed) return
    p.off += this.ch.write(p.off === 0 ? p.chunk : p.chunk.subarray(p.off))
    if (p.off < p.chunk.length) return // waits for writable(): credit or the flow's drain
    this.pending = null
    p.cb()
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.ch.closed) return cb(new P4Error('CLOSED', `stream with ${this.user} is closed`))
    this.ch.end()
    cb()
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.failed && !this.ch.closed) {
      const code = err instanceof P4Error ? err.code : 'STREAM_RESET'
      this.ch.reset(code, err ? err.message : 'destroyed')
    }
    this.pending = null
    this.held = []
    this.gather = null
    this.gathered = 0
    cb(err)
  }
}
