// An authenticated, encrypted, framed message channel over a Conn — what the
// handshake produces. It is just a duplex of P4 frames over a duplex of bytes.
//
//   session.onframe = (f) => …         hot path: one call per received frame
//   session.send(type, flags, hops, pluginId, idHi, idLo, payload) → boolean
//   session.flow(id).send(…)           the same on another flow (flows.ts)
//   'drain' after send() returned false; 'close' (reason: P4Error | null)
//   session.pause() / resume()         stop / restart reading and delivery
// Resumable sessions (both ends announced HandshakeFeature.RESUME; moves.ts):
//   session.moveTo(conn) / session.adopt(await readResume(conn))
//   'suspend' (reason) when the Conn is lost, 'move' when on a new one
import { EventEmitter } from 'node:events'
import { P4Error } from '../core/errors.js'
import { DEFAULT_MAX_MESSAGE, HandshakeFeature } from '../core/protocol.js'
import type { Conn } from '../transport/types.js'
import type { Flow } from './flows.js'
import { Inbound } from './inbound.js'
import { moveConfig, Resumption, type MoveHost } from './moves.js'
import { Outbox } from './outbox.js'
import { DEFAULT_NODE_CRYPTO_THRESHOLD, Receiver, type Frame } from './receiver.js'
import type { ResumeRequest } from './resume.js'
import { Sender } from './sender.js'
import { checkSize, type SessionKeys, type SessionOptions, type SessionStats } from './session-options.js'

export type { Frame }
export type { ResumeOptions, SessionKeys, SessionOptions, SessionStats } from './session-options.js'
export type { Flow }

export class Session<R = unknown> extends EventEmitter {
  readonly remote: R
  readonly maxMessage: number
  readonly highWaterMark: number
  readonly maxQueue: number
  /**
   * Bytes buffered at which send() answers false and a 'drain' follows:
   * highWaterMark, raised to the first transport's own mark (below that the
   * transport's write() returns true and emits no 'drain', so a queue that
   * emptied would never be noticed).
   */
  readonly drainMark: number
  private why: P4Error | null | undefined = undefined
  /** True when both ends announced resumption: the session can move to another Conn. */
  readonly resumable: boolean
  private readonly receiver: Receiver
  private readonly sender: Sender
  private readonly inbound: Inbound
  private readonly outbox: Outbox
  private readonly flow0: Flow
  private readonly resumption: Resumption | null
  private closing = false
  private readonly closedPromise: Promise<P4Error | null>
  private resolveClosed!: (reason: P4Error | null) => void

  constructor(keys: SessionKeys<R>, opts: SessionOptions = {}) {
    super()
    this.remote = keys.remote
    this.maxMessage = checkSize(opts.maxMessage ?? DEFAULT_MAX_MESSAGE, 'maxMessage', 0, 0xffffffff - 64)
    this.highWaterMark = checkSize(opts.highWaterMark ?? 1 << 20, 'highWaterMark', 1, 2 ** 31)
    this.maxQueue = checkSize(opts.maxQueue ?? this.maxMessage + 4 * this.highWaterMark, 'maxQueue', 1, 2 ** 40)
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve))
    const threshold = opts.nodeCryptoThreshold ?? DEFAULT_NODE_CRYPTO_THRESHOLD
    if (typeof threshold !== 'number' || !(threshold >= 0)) {
      throw new P4Error('BAD_OPTION', `nodeCryptoThreshold must be a number >= 0, got ${String(threshold)}`)
    }
    this.receiver = new Receiver(keys.recvKey, this.maxMessage, (f) => this.inbound.frame(f), threshold)
    this.sender = new Sender(keys.sendKey, () => this.drained(), (err) => this.destroy(err), threshold)
    this.drainMark = Math.max(this.highWaterMark, keys.conn.writableHighWaterMark ?? 0)
    this.outbox = new Outbox(
      this.sender,
      { maxMessage: this.maxMessage, maxQueue: this.maxQueue, drainMark: this.drainMark },
      () => this.inbound.current?.writableLength ?? 0,
      () => this.checkOpen(),
      () => this.emit('drain'),
    )
    this.flow0 = this.outbox.flow0
    this.resumable = ((keys.localFeatures ?? 0) & (keys.remoteFeatures ?? 0) & HandshakeFeature.RESUME) !== 0
    const self = this
    this.inbound = new Inbound(keys.conn, this.receiver, this.sender, {
      get closed() {
        return self.why !== undefined
      },
      control: (f) => {
        if (this.resumption === null) throw new P4Error('BAD_FRAME', 'session control frame from a peer that did not announce resumption')
        this.resumption.control(f)
      },
      afterRead: () => this.resumption?.afterRead(),
      fail: (err) => this.destroy(err),
      connError: (err) => this.connError(err),
      connClose: () => this.connClose(),
    })
    this.resumption = this.resumable ? this.makeResumption(keys, opts) : null
    this.inbound.use(keys.conn, keys.leftover)
    this.sender.attach(keys.conn)
  }

  private makeResumption(keys: SessionKeys<R>, opts: SessionOptions): Resumption {
    const self = this
    const inb = this.inbound
    const host: MoveHost = {
      sender: this.sender,
      receiver: this.receiver,
      get bytesIn() {
        return inb.bytesIn
      },
      get isClosed() {
        return self.why !== undefined
      },
      current: () => inb.current,
      park: () => inb.park(),
      unpark: () => inb.unpark(),
      release: () => inb.release(),
      use: (conn, leftover) => inb.use(conn, leftover),
      finish: (reason) => this.finish(reason),
      destroy: (reason) => this.destroy(reason),
      emit: (event, ...args) => this.emit(event, ...args),
    }
    return new Resumption(host, moveConfig(keys.sendKey, keys.recvKey, opts))
  }

  private checkOpen(): void {
    if (this.why !== undefined || this.closing) {
      throw new P4Error('CLOSED', 'session is closed', { cause: this.why ?? undefined })
    }
  }

  /** Called for every received frame; set it before the first await after creation. */
  get onframe(): ((frame: Frame) => void) | null {
    return this.inbound.onframe
  }
  set onframe(fn: ((frame: Frame) => void) | null) {
    this.inbound.onframe = fn
  }

  /** The Conn in use (the last one, once closed or while suspended). */
  get conn(): Conn {
    return this.inbound.last
  }

  get closed(): boolean {
    return this.why !== undefined
  }

  /** False once close() was called or the session closed: send() then throws CLOSED (what is queued still goes). */
  get accepting(): boolean {
    return this.why === undefined && !this.closing
  }

  /** True while a resumable session has lost its Conn and waits for a move. */
  get suspended(): boolean {
    return this.resumption?.suspendedBy != null
  }

  /** The session's name in RESUME (16 bytes, the same at both ends); null unless resumable. */
  get resumeToken(): Uint8Array | null {
    return this.resumption?.token ?? null
  }

  /** Bytes accepted by send() (every flow) and not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.sender.queuedBytes + (this.inbound.current?.writableLength ?? 0)
  }

  /**
   * Bytes the transport has taken from this session so far: handed to the
   * kernel (tcp) or read by the peer (memory). It grows while the peer reads,
   * however slowly, and stands still while it does not.
   */
  get bytesTaken(): number {
    return this.sender.bytesOut - (this.inbound.current?.writableLength ?? 0)
  }

  /** Resolves with the close reason (null: clean) once the session is closed. */
  /** Why the session closed (null: cleanly); undefined while open. */
  get closeReason(): P4Error | null | undefined {
    return this.why
  }

  get done(): Promise<P4Error | null> {
    return this.closedPromise
  }

  stats(): SessionStats {
    return {
      bytesIn: this.inbound.bytesIn,
      bytesOut: this.sender.bytesOut,
      framesIn: this.receiver.framesIn,
      framesOut: this.sender.framesOut,
      recordsIn: this.receiver.recordsIn,
      recordsOut: this.sender.counter,
      bytesResent: this.sender.bytesResent,
      retainedBytes: this.resumption?.retained ?? 0,
      moves: this.resumption?.moves ?? 0,
    }
  }

  /**
   * Queues one frame on flow 0; it leaves with everything else queued in
   * this tick, in one sealed batch. A payload of at most copiesUpTo bytes is
   * copied now; a larger one is read when the batch is built (end of the
   * tick): do not modify it before then. Returns false when the caller
   * should wait for 'drain'.
   */
  send(type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array): boolean {
    return this.outbox.send(this.flow0.q, type, flags, hops, pluginId, idHi, idLo, payload)
  }

  /**
   * send(), but the batch leaves at the end of this turn of the event loop
   * (setImmediate) instead of this tick, so that sends made one per
   * microtask (a caller awaiting each) share records and writes. The payload
   * is read then: the caller hands over a buffer it will not modify.
   */
  sendDeferred(type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array): boolean {
    return this.outbox.send(this.flow0.q, type, flags, hops, pluginId, idHi, idLo, payload, true)
  }

  /**
   * Payloads of at most this many bytes are copied as send() queues them
   * (written with their header into a buffer of queued frames): the caller
   * may reuse them as soon as send() returns. Larger ones are read when the
   * batch is built.
   */
  get copiesUpTo(): number {
    return this.sender.packMax
  }

  /**
   * The send handle of flow `id` (0..65535; the same handle every time).
   * Flows share the session fairly (flows.ts): a backlog on one never holds
   * the others back by more than about one record per flow. Its send() has
   * this send()'s contract, with backpressure and 'drain' of its own. Flow 0
   * is send().
   */
  flow(id: number): Flow {
    return this.outbox.flow(id)
  }

  /**
   * Stops reading (the remote writer is pushed back through the transport)
   * and stops delivering at once, even in the middle of a read: frames already
   * opened from it wait (at most one read's worth) and onframe sees them, in
   * order, after resume(). A caller can pause from inside onframe.
   */
  pause(): void {
    this.inbound.pause()
  }

  /** Delivers the frames that waited, then reads again (unless onframe paused again). */
  resume(): void {
    this.inbound.resume()
  }

  get isPaused(): boolean {
    return this.inbound.paused
  }

  /**
   * For a session about to be closed unheard (refused, a duplicate): stops
   * reading and drops every byte already received or still to come without
   * opening it, so nothing it sent is processed or buffered. Sending and
   * close() still work.
   */
  ignoreInput(): void {
    this.inbound.ignoreInput()
  }

  /** Sends what is queued, then closes. Resolves when closed. */
  async close(): Promise<P4Error | null> {
    if (this.why === undefined && !this.closing) {
      this.closing = true
      this.sender.flush()
      this.drained()
    }
    return this.closedPromise
  }

  /** Closes at once; queued frames are dropped. A resumable peer sees a lost Conn (it waits out its grace period). */
  destroy(reason?: P4Error): void {
    if (this.why !== undefined) return
    const conn = this.inbound.current
    this.finish(reason ?? null)
    conn?.destroy()
  }

  /**
   * Resumable sessions: continues this session on `conn`, a new Conn to the
   * peer that this side opened (the peer accepts it with readResume() and
   * adopt()). The current Conn, if any, is closed once the peer answers;
   * should the move fail (BAD_RESUME, TIMEOUT, PEER_CLOSED) the session goes
   * on where it was. Nothing sent either way is lost or repeated.
   */
  moveTo(conn: Conn, opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.resumption === null) return Promise.reject(new P4Error('BAD_RESUME', 'the session is not resumable (both ends must announce HandshakeFeature.RESUME)'))
    return this.resumption.moveTo(conn, opts.timeoutMs)
  }

  /**
   * Resumable sessions: continues this session on the Conn of `req` (from
   * readResume(), matched by its token). Throws BAD_RESUME — and refuses and
   * closes that Conn, leaving the session as it was — when the request is
   * not authentic, is replayed, or asks for records that cannot be resent.
   */
  adopt(req: ResumeRequest): void {
    if (this.resumption === null) throw new P4Error('BAD_RESUME', 'the session is not resumable')
    this.resumption.adopt(req)
  }

  // A resumable session outlives its Conn unless it ended on purpose (the
  // peer's CLOSE arrived, or ours was written): it is suspended instead.
  private get outlivesConn(): boolean {
    const r = this.resumption
    return r !== null && this.why === undefined && !r.cleanEnd && !(this.closing && r.closeSent)
  }

  private connError(err: Error): void {
    const e = err instanceof P4Error ? err : new P4Error('IO_ERROR', err.message, { cause: err })
    if (this.outlivesConn) this.resumption!.suspend(e)
    else this.finish(e)
  }

  private connClose(): void {
    if (this.why !== undefined) return
    const mid = this.receiver.midFrame
    if (this.outlivesConn) this.resumption!.suspend(new P4Error('PEER_CLOSED', mid ? 'connection lost in the middle of a frame' : 'connection lost'))
    else this.finish(mid ? new P4Error('PEER_CLOSED', 'peer closed the connection in the middle of a frame') : null)
  }

  private drained(): void {
    if (this.closing && this.sender.pending === 0) {
      if (this.resumption?.queueClose()) return // CLOSE goes last; then here again
      this.inbound.current?.end()
      return
    }
    this.outbox.drained()
  }

  private finish(reason: P4Error | null): void {
    if (this.why !== undefined) return
    this.why = reason
    this.inbound.stop()
    this.sender.stop()
    this.resumption?.stop()
    this.resolveClosed(reason)
    this.emit('close', reason)
  }
}
