// An authenticated, encrypted, framed message channel over a Conn — what the
// handshake produces. It is just a duplex of P4 frames over a duplex of bytes.
//
//   session.onframe = (f) => …         hot path: one call per received frame
//   session.send(type, flags, hops, pluginId, idHi, idLo, payload) → boolean
//   'drain' after send() returned false; 'close' (reason: P4Error | null)
//   session.pause() / resume()         stop / restart reading and delivery
import { EventEmitter } from 'node:events'
import { P4Error } from '../core/errors.js'
import { DEFAULT_MAX_MESSAGE, MSG_TYPE_MAX } from '../core/protocol.js'
import type { Conn } from '../transport/types.js'
import { DEFAULT_NODE_CRYPTO_THRESHOLD, Receiver, type Frame } from './receiver.js'
import { Sender } from './sender.js'

export type { Frame }

export interface SessionOptions {
  /** Largest payload sent or accepted, bytes (default 16 MiB). */
  maxMessage?: number
  /**
   * send() returns false once this many bytes wait to be written (default 1
   * MiB), or the transport's own high-water mark if that is higher: only
   * above it does the transport promise the 'drain' that follows.
   */
  highWaterMark?: number
  /**
   * Payloads (sending) and records (receiving) of at least this many bytes
   * are sealed / opened with node:crypto instead of the WASM kernel, which
   * wins on small and batched frames (default 16 KiB; Infinity = WASM only,
   * 0 = node:crypto for every record). Peers need not agree: the bytes are
   * the same either way.
   */
  nodeCryptoThreshold?: number
  /** send() throws QUOTA_EXCEEDED past this many waiting bytes (default maxMessage + 4 × highWaterMark). */
  maxQueue?: number
}

/** What a session needs from the handshake. */
export interface SessionKeys<R> {
  conn: Conn
  remote: R
  sendKey: Uint8Array
  recvKey: Uint8Array
  /** Bytes read after the handshake's last message (already part of the channel). */
  leftover?: Uint8Array
}

export interface SessionStats {
  bytesIn: number
  bytesOut: number
  framesIn: number
  framesOut: number
  recordsIn: number
  recordsOut: number
}

function checkSize(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new P4Error('BAD_OPTION', `${name} must be an integer ${min}..${max}, got ${String(value)}`)
  }
  return value
}

export class Session<R = unknown> extends EventEmitter {
  readonly remote: R
  readonly conn: Conn
  readonly maxMessage: number
  readonly highWaterMark: number
  readonly maxQueue: number
  /** Called for every received frame; set it before the first await after creation. */
  onframe: ((frame: Frame) => void) | null = null
  /** Why the session closed (null: cleanly); undefined while open. */
  closeReason: P4Error | null | undefined = undefined
  private readonly receiver: Receiver
  private readonly sender: Sender
  private bytesIn = 0
  /** Frames opened while paused, delivered in order on resume(). */
  private held: Frame[] | null = null
  private paused = false
  /** Set by ignoreInput(): received bytes are dropped unread. */
  private ignoring = false
  private needDrain = false
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
    this.conn = keys.conn
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
    this.sender = new Sender(keys.sendKey, keys.conn, () => this.drained(), (err) => this.destroy(err), threshold)
    const conn = keys.conn
    conn.on('data', (chunk) => this.read(chunk))
    conn.on('error', (err) => this.finish(err instanceof P4Error ? err : new P4Error('IO_ERROR', err.message, { cause: err })))
    conn.on('close', () => this.onConnClose())
    if (keys.leftover && keys.leftover.length > 0) {
      const leftover = keys.leftover
      // After the caller has had the chance to set onframe; before any later read.
      queueMicrotask(() => this.read(leftover))
    }
    // The handshake leaves the Conn paused so no byte is lost before these listeners.
    conn.resume()
  }

  get closed(): boolean {
    return this.closeReason !== undefined
  }

  /** Bytes accepted by send() and not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.sender.queuedBytes + this.conn.writableLength
  }

  /**
   * Bytes the transport has taken from this session so far: handed to the
   * kernel (tcp) or read by the peer (memory). It grows while the peer reads,
   * however slowly, and stands still while it does not.
   */
  get bytesTaken(): number {
    return this.sender.bytesOut - this.conn.writableLength
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
    }
  }

  /**
   * Queues one frame; it leaves with everything else queued in this tick, in
   * one sealed batch. The payload is read when the batch is built (end of
   * the tick): do not modify it before then. Returns false when the caller
   * should wait for 'drain'.
   */
  send(type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array): boolean {
    if (this.closeReason !== undefined || this.closing) {
      throw new P4Error('CLOSED', 'session is closed', { cause: this.closeReason ?? undefined })
    }
    if (!(payload instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'payload must be a Uint8Array')
    if (payload.length > this.maxMessage) {
      throw new P4Error('MESSAGE_TOO_LARGE', `payload of ${payload.length} bytes exceeds the ${this.maxMessage}-byte limit`)
    }
    if ((type | flags | hops) >>> 8 !== 0 || type < 1 || type > MSG_TYPE_MAX || pluginId >>> 16 !== 0 || idHi >>> 0 !== idHi || idLo >>> 0 !== idLo) {
      throw new P4Error('BAD_ARGUMENT', 'frame header field out of range')
    }
    const buffered = this.bufferedBytes + payload.length
    if (buffered > this.maxQueue) {
      throw new P4Error('QUOTA_EXCEEDED', `send queue would hold ${buffered} bytes (limit ${this.maxQueue}); wait for 'drain'`)
    }
    this.sender.enqueue(type, flags, hops, pluginId, idHi, idLo, payload)
    if (buffered >= this.drainMark) {
      this.needDrain = true
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
    this.conn.pause()
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
    if (!this.paused && this.closeReason === undefined) this.conn.resume()
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
    this.conn.pause()
  }

  private frame(f: Frame): void {
    if (this.paused) (this.held ??= []).push(f)
    else this.onframe?.(f)
  }

  /** Sends what is queued, then closes. Resolves when closed. */
  async close(): Promise<P4Error | null> {
    if (this.closeReason === undefined && !this.closing) {
      this.closing = true
      this.sender.flush()
      if (this.sender.pending === 0) this.conn.end()
      // else 'drained' ends the conn once the queue is written.
    }
    return this.closedPromise
  }

  /** Closes at once; queued frames are dropped. */
  destroy(reason?: P4Error): void {
    if (this.closeReason !== undefined) return
    this.finish(reason ?? null)
    this.conn.destroy()
  }

  private read(chunk: Uint8Array): void {
    if (this.closeReason !== undefined || this.ignoring) return
    this.bytesIn += chunk.length
    try {
      this.receiver.push(chunk)
    } catch (err) {
      this.destroy(err instanceof P4Error ? err : new P4Error('BAD_FRAME', 'receive failed', { cause: err }))
    }
  }

  private drained(): void {
    if (this.closing && this.sender.pending === 0) {
      this.conn.end()
      return
    }
    if (this.needDrain && this.bufferedBytes < this.drainMark) {
      this.needDrain = false
      this.emit('drain')
    }
  }

  private onConnClose(): void {
    if (this.closeReason !== undefined) return
    const mid = this.receiver.midFrame
    this.finish(mid ? new P4Error('PEER_CLOSED', 'peer closed the connection in the middle of a frame') : null)
  }

  private finish(reason: P4Error | null): void {
    if (this.closeReason !== undefined) return
    this.closeReason = reason
    this.held = null
    this.sender.stop()
    this.resolveClosed(reason)
    this.emit('close', reason)
  }
}
