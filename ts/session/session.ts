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
import { systemClock, type Clock } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import { DEFAULT_MAX_MESSAGE, HandshakeFeature, MsgType, MSG_TYPE_MAX } from '../core/protocol.js'
import type { Conn } from '../transport/types.js'
import { Flow, MAX_FLOW_ID, type FlowQueue } from './flows.js'
import { DEFAULT_GRACE_MS, DEFAULT_RETAIN_BYTES, MIN_RETAIN_BYTES, Resumption, type MoveHost } from './moves.js'
import { DEFAULT_NODE_CRYPTO_THRESHOLD, Receiver, type Frame } from './receiver.js'
import { DEFAULT_RESUME_TIMEOUT_MS, type ResumeRequest } from './resume.js'
import { Sender } from './sender.js'
import { checkSize, type SessionKeys, type SessionOptions, type SessionStats } from './session-options.js'

export type { Frame }
export type { ResumeOptions, SessionKeys, SessionOptions, SessionStats } from './session-options.js'
export { Flow }

const noop = (): void => {}

export class Session<R = unknown> extends EventEmitter {
  readonly remote: R
  readonly maxMessage: number
  readonly highWaterMark: number
  readonly maxQueue: number
  /** Called for every received frame; set it before the first await after creation. */
  onframe: ((frame: Frame) => void) | null = null
  /** Why the session closed (null: cleanly); undefined while open. */
  closeReason: P4Error | null | undefined = undefined
  /** True when both ends announced resumption: the session can move to another Conn. */
  readonly resumable: boolean
  private readonly receiver: Receiver
  private readonly sender: Sender
  private readonly resumption: Resumption | null
  private bytesIn = 0
  private current: Conn | null
  private lastConn: Conn
  /** Input of the current Conn kept aside while a move is tried (null: none). */
  private parked: Buffer[] | null = null
  /** Frames opened while paused, delivered in order on resume(). */
  private held: Frame[] | null = null
  private paused = false
  /** Set by ignoreInput(): received bytes are dropped unread. */
  private ignoring = false
  private readonly flows = new Map<number, Flow>()
  private readonly flow0: Flow
  /** Flows whose send() returned false, waiting for 'drain'. */
  private draining: Flow[] = []
  /**
   * Where send() starts returning false: highWaterMark, raised to the
   * transport's high-water mark. Below that the transport's write() returns
   * true and emits no 'drain', so a queue that emptied would never be noticed
   * (a send that waited for 'drain' hung until some other frame was sent).
   */
  private readonly drainMark: number
  private closing = false
  private readonly closedPromise: Promise<P4Error | null>
  private resolveClosed!: (reason: P4Error | null) => void

  constructor(keys: SessionKeys<R>, opts: SessionOptions = {}) {
    super()
    this.remote = keys.remote
    this.maxMessage = checkSize(opts.maxMessage ?? DEFAULT_MAX_MESSAGE, 'maxMessage', 0, 0xffffffff - 64)
    this.highWaterMark = checkSize(opts.highWaterMark ?? 1 << 20, 'highWaterMark', 1, 2 ** 31)
    this.maxQueue = checkSize(opts.maxQueue ?? this.maxMessage + 4 * this.highWaterMark, 'maxQueue', 1, 2 ** 40)
    this.drainMark = Math.max(this.highWaterMark, keys.conn.writableHighWaterMark ?? 0)
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve))
    const threshold = opts.nodeCryptoThreshold ?? DEFAULT_NODE_CRYPTO_THRESHOLD
    if (typeof threshold !== 'number' || !(threshold >= 0)) {
      throw new P4Error('BAD_OPTION', `nodeCryptoThreshold must be a number >= 0, got ${String(threshold)}`)
    }
    this.receiver = new Receiver(keys.recvKey, this.maxMessage, (f) => this.frame(f), threshold)
    this.sender = new Sender(keys.sendKey, () => this.drained(), (err) => this.destroy(err), threshold)
    this.flow0 = this.flow(0)
    this.resumable = ((keys.localFeatures ?? 0) & (keys.remoteFeatures ?? 0) & HandshakeFeature.RESUME) !== 0
    this.resumption = this.resumable ? this.makeResumption(keys, opts) : null
    this.current = this.lastConn = keys.conn
    this.use(keys.conn, keys.leftover)
    this.sender.attach(keys.conn)
  }

  private makeResumption(keys: SessionKeys<R>, opts: SessionOptions): Resumption {
    const r = opts.resume ?? {}
    const clock = opts.clock ?? systemClock
    if (typeof clock !== 'object' || clock === null || typeof clock.setTimeout !== 'function') throw new P4Error('BAD_OPTION', 'clock must be a Clock')
    const self = this
    const host: MoveHost = {
      sender: this.sender,
      receiver: this.receiver,
      get bytesIn() {
        return self.bytesIn
      },
      get isClosed() {
        return self.closeReason !== undefined
      },
      current: () => this.current,
      park: () => this.park(),
      unpark: () => this.unpark(),
      release: () => this.release(),
      use: (conn, leftover) => this.use(conn, leftover),
      finish: (reason) => this.finish(reason),
      destroy: (reason) => this.destroy(reason),
      emit: (event, ...args) => this.emit(event, ...args),
    }
    return new Resumption(host, {
      sendKey: keys.sendKey,
      recvKey: keys.recvKey,
      retainBytes: checkSize(r.retainBytes ?? DEFAULT_RETAIN_BYTES, 'resume.retainBytes', MIN_RETAIN_BYTES, 2 ** 40),
      graceMs: checkSize(r.graceMs ?? DEFAULT_GRACE_MS, 'resume.graceMs', 1, 2 ** 31),
      timeoutMs: checkSize(r.timeoutMs ?? DEFAULT_RESUME_TIMEOUT_MS, 'resume.timeoutMs', 1, 2 ** 31),
      clock,
    })
  }

  /** The Conn in use (the last one, once closed or while suspended). */
  get conn(): Conn {
    return this.lastConn
  }

  get closed(): boolean {
    return this.closeReason !== undefined
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
    return this.sender.queuedBytes + (this.current?.writableLength ?? 0)
  }

  /**
   * Bytes the transport has taken from this session so far: handed to the
   * kernel (tcp) or read by the peer (memory). It grows while the peer reads,
   * however slowly, and stands still while it does not.
   */
  get bytesTaken(): number {
    return this.sender.bytesOut - (this.current?.writableLength ?? 0)
  }

  /** Resolves with the close reason (null: clean) once the session is closed. */
  get done(): Promise<P4Error | null> {
    return this.closedPromise
  }

  stats(): SessionStats {
    return {
      bytesIn: this.bytesIn,
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
   * this tick, in one sealed batch. The payload is read when the batch is
   * built (end of the tick): do not modify it before then. Returns false
   * when the caller should wait for 'drain'.
   */
  send(type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array): boolean {
    return this.sendOn(this.flow0.q, type, flags, hops, pluginId, idHi, idLo, payload)
  }

  /**
   * The send handle of flow `id` (0..65535; the same handle every time).
   * Flows share the session fairly (flows.ts): a backlog on one never holds
   * the others back by more than about one record per flow. Flow 0 is send().
   */
  flow(id: number): Flow {
    let f = this.flows.get(id)
    if (f === undefined) {
      if (!Number.isInteger(id) || id < 0 || id > MAX_FLOW_ID) throw new P4Error('BAD_ARGUMENT', `flow id must be an integer 0..${MAX_FLOW_ID}, got ${String(id)}`)
      f = new Flow(id, this.sender.queue(id), {
        sendOn: (q, ...a) => this.sendOn(q, ...a),
        bufferedOn: (q) => q.queuedBytes + (this.current?.writableLength ?? 0),
      })
      this.flows.set(id, f)
    }
    return f
  }

  private sendOn(q: FlowQueue, type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array): boolean {
    if (this.closeReason !== undefined || this.closing) {
      throw new P4Error('CLOSED', 'session is closed', { cause: this.closeReason ?? undefined })
    }
    if (!(payload instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'payload must be a Uint8Array')
    if (payload.length > this.maxMessage) {
      throw new P4Error('MESSAGE_TOO_LARGE', `payload of ${payload.length} bytes exceeds the ${this.maxMessage}-byte limit`)
    }
    if ((type | flags | hops) >>> 8 !== 0 || type < 1 || type > MSG_TYPE_MAX || type === MsgType.SESSION || pluginId >>> 16 !== 0 || idHi >>> 0 !== idHi || idLo >>> 0 !== idLo) {
      throw new P4Error('BAD_ARGUMENT', type === MsgType.SESSION ? 'type SESSION is the session layer\'s own' : 'frame header field out of range')
    }
    const buffered = q.queuedBytes + (this.current?.writableLength ?? 0) + payload.length
    if (buffered > this.maxQueue) {
      throw new P4Error('QUOTA_EXCEEDED', `send queue would hold ${buffered} bytes (limit ${this.maxQueue}); wait for 'drain'`)
    }
    this.sender.enqueue(q, type, flags, hops, pluginId, idHi, idLo, payload)
    if (buffered >= this.drainMark) {
      const f = this.flows.get(q.id)!
      if (!f.needDrain) {
        f.needDrain = true
        this.draining.push(f)
      }
      return false
    }
    return true
  }

  /**
   * Stops reading (the remote writer is pushed back through the transport)
   * and stops delivering at once, even in the middle of a read: frames already
   * opened from it wait (at most one read's worth) and onframe sees them, in
   * order, after resume(). A caller can pause from inside onframe.
   */
  pause(): void {
    this.paused = true
    this.current?.pause()
  }

  /** Delivers the frames that waited, then reads again (unless onframe paused again). */
  resume(): void {
    if (!this.paused) return
    this.paused = false
    const q = this.held
    this.held = null
    if (q !== null) {
      for (let i = 0; i < q.length; i++) {
        if (this.paused) {
          // Paused again by a frame: the rest waits, ahead of anything newer.
          const rest = q.slice(i)
          this.held = this.held === null ? rest : rest.concat(this.held)
          return
        }
        if (this.closeReason !== undefined) return
        this.onframe?.(q[i]!)
      }
    }
    if (!this.paused && this.closeReason === undefined && this.parked === null) this.current?.resume()
  }

  get isPaused(): boolean {
    return this.paused
  }

  /**
   * For a session about to be closed unheard (refused, a duplicate): stops
   * reading and drops every byte already received or still to come without
   * opening it, so nothing it sent is processed or buffered. Sending and
   * close() still work.
   */
  ignoreInput(): void {
    this.ignoring = true
    this.onframe = null
    this.held = null
    this.paused = true
    this.current?.pause()
  }

  private frame(f: Frame): void {
    if (f.type === MsgType.SESSION) {
      if (this.resumption === null) throw new P4Error('BAD_FRAME', 'session control frame from a peer that did not announce resumption')
      this.resumption.control(f)
    } else if (this.paused) (this.held ??= []).push(f)
    else this.onframe?.(f)
  }

  /** Sends what is queued, then closes. Resolves when closed. */
  async close(): Promise<P4Error | null> {
    if (this.closeReason === undefined && !this.closing) {
      this.closing = true
      this.sender.flush()
      this.drained()
    }
    return this.closedPromise
  }

  /** Closes at once; queued frames are dropped. A resumable peer sees a lost Conn (it waits out its grace period). */
  destroy(reason?: P4Error): void {
    if (this.closeReason !== undefined) return
    const conn = this.current
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

  // ------------------------------------------------------------ the Conn

  private readonly onData = (chunk: Buffer): void => this.read(chunk)
  private readonly onError = (err: Error): void => {
    const e = err instanceof P4Error ? err : new P4Error('IO_ERROR', err.message, { cause: err })
    if (this.resumption !== null && !this.resumption.cleanEnd && this.closeReason === undefined) this.resumption.suspend(e)
    else this.finish(e)
  }
  private readonly onClose = (): void => {
    if (this.closeReason !== undefined) return
    const mid = this.receiver.midFrame
    const r = this.resumption
    if (r !== null && !r.cleanEnd && !(this.closing && r.closeSent)) {
      r.suspend(new P4Error('PEER_CLOSED', mid ? 'connection lost in the middle of a frame' : 'connection lost'))
      return
    }
    this.finish(mid ? new P4Error('PEER_CLOSED', 'peer closed the connection in the middle of a frame') : null)
  }

  private use(conn: Conn, leftover: Uint8Array | undefined): void {
    this.current = this.lastConn = conn
    conn.on('data', this.onData)
    conn.on('error', this.onError)
    conn.on('close', this.onClose)
    if (leftover && leftover.length > 0) {
      // After the caller has had the chance to set onframe; before any later read.
      queueMicrotask(() => {
        if (this.current === conn) this.read(leftover as Buffer)
      })
    }
    // The handshake (or resume exchange) leaves the Conn paused so no byte is lost before these listeners.
    if (this.paused) conn.pause()
    else conn.resume()
  }

  private park(): void {
    this.parked ??= []
    this.current?.pause()
  }

  private unpark(): void {
    const p = this.parked
    this.parked = null
    for (const chunk of p ?? []) this.read(chunk)
    if (!this.paused) this.current?.resume()
  }

  private release(): Conn | null {
    const c = this.current
    this.parked = null
    this.receiver.dropPartialRecord()
    this.sender.detach()
    if (c === null) return null
    c.off('data', this.onData)
    c.off('error', this.onError)
    c.off('close', this.onClose)
    c.on('error', noop) // a Conn we let go of must not crash the process with a late error
    this.current = null
    return c
  }

  private read(chunk: Buffer): void {
    if (this.closeReason !== undefined || this.ignoring) return
    if (this.parked !== null) {
      this.parked.push(chunk)
      return
    }
    this.bytesIn += chunk.length
    try {
      this.receiver.push(chunk)
    } catch (err) {
      this.destroy(err instanceof P4Error ? err : new P4Error('BAD_FRAME', 'receive failed', { cause: err }))
      return
    }
    this.resumption?.afterRead()
  }

  private drained(): void {
    if (this.closing && this.sender.pending === 0) {
      if (this.resumption?.queueClose()) return // CLOSE goes last; then here again
      this.current?.end()
      return
    }
    if (this.draining.length === 0) return
    const w = this.current?.writableLength ?? 0
    const still: Flow[] = []
    const ready: Flow[] = []
    for (const f of this.draining) (f.q.queuedBytes + w < this.drainMark ? ready : still).push(f)
    this.draining = still
    for (const f of ready) {
      f.needDrain = false
      f.emit('drain')
      if (f.id === 0) this.emit('drain')
    }
  }

  private finish(reason: P4Error | null): void {
    if (this.closeReason !== undefined) return
    this.closeReason = reason
    this.held = null
    this.parked = null
    this.sender.stop()
    this.resumption?.stop()
    this.resolveClosed(reason)
    this.emit('close', reason)
  }
}
