// What a resumable session does beyond a plain one (both ends announced
// handshake feature RESUME): it acknowledges what it receives, keeps what it
// sends until acknowledged (retention.ts), outlives a lost Conn for a grace
// period ("suspended"), and moves to a new Conn — moveTo() on the side that
// opened the new Conn, adopt() on the side that accepted it (resume.ts has
// the exchange). On the new Conn each side resends the retained records the
// other has not opened, byte for byte, and the record stream goes on: no
// frame is lost or repeated, whatever state the old Conn was in.
import { systemClock, type Clock, type Timer } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import { MsgType } from '../core/protocol.js'
import type { Conn } from '../transport/types.js'
import { ACK_BYTES, ACK_RECORDS, CONTROL_ACK, decodeControl, encodeAck, encodeClose } from './control.js'
import type { Frame, Receiver } from './receiver.js'
import { DEFAULT_RESUME_TIMEOUT_MS, encodeResumed, MAX_EPOCH, refuseResume, requestResume, resumeToken, verifyResume, type ResumeRequest } from './resume.js'
import { Retention } from './retention.js'
import type { Sender } from './sender.js'
import { checkSize, type SessionOptions } from './session-options.js'

export const DEFAULT_RETAIN_BYTES = 8 * 1024 * 1024
export const MIN_RETAIN_BYTES = 2 * ACK_BYTES
export const DEFAULT_GRACE_MS = 30_000

/** The parts of a Session a move works on. */
export interface MoveHost {
  readonly sender: Sender
  readonly receiver: Receiver
  /** Bytes read from every Conn so far. */
  readonly bytesIn: number
  readonly isClosed: boolean
  /** The Conn in use, or null (suspended). */
  current(): Conn | null
  /** Stops processing input from the current Conn and keeps it aside (a move is being tried). */
  park(): void
  /** Processes what was kept aside and reads the current Conn again (the move failed). */
  unpark(): void
  /** Lets go of the current Conn (listeners off, kept input dropped); returns it. */
  release(): Conn | null
  /** Starts using `conn`: first `leftover` (already read from it), then its data. */
  use(conn: Conn, leftover: Uint8Array): void
  finish(reason: P4Error | null): void
  destroy(reason: P4Error): void
  emit(event: 'suspend' | 'move', ...args: unknown[]): boolean
}

export interface MoveConfig {
  sendKey: Uint8Array
  recvKey: Uint8Array
  retainBytes: number
  graceMs: number
  timeoutMs: number
  clock: Clock
}

/** The move settings of a session with these keys and options (BAD_OPTION when out of range). */
export function moveConfig(sendKey: Uint8Array, recvKey: Uint8Array, opts: SessionOptions): MoveConfig {
  const r = opts.resume ?? {}
  const clock = opts.clock ?? systemClock
  if (typeof clock !== 'object' || clock === null || typeof clock.setTimeout !== 'function') throw new P4Error('BAD_OPTION', 'clock must be a Clock')
  return {
    sendKey,
    recvKey,
    retainBytes: checkSize(r.retainBytes ?? DEFAULT_RETAIN_BYTES, 'resume.retainBytes', MIN_RETAIN_BYTES, 2 ** 40),
    graceMs: checkSize(r.graceMs ?? DEFAULT_GRACE_MS, 'resume.graceMs', 1, 2 ** 31),
    timeoutMs: checkSize(r.timeoutMs ?? DEFAULT_RESUME_TIMEOUT_MS, 'resume.timeoutMs', 1, 2 ** 31),
    clock,
  }
}

export class Resumption {
  /** The session's name in RESUME (the same at both ends). */
  readonly token: Uint8Array
  /** Moves completed (either role). */
  moves = 0
  /** True while a moveTo() is under way. */
  moving = false
  /** The peer sent CLOSE: the Conn closing next is the end of the session. */
  peerClosed = false
  /** Our CLOSE is queued. */
  closeSent = false
  /** Why the Conn was lost, while suspended. */
  suspendedBy: P4Error | null = null
  private sentEpoch = 0
  private seenEpoch = 0
  private ackedRecords = 0
  private ackedBytes = 0
  private grace: Timer | null = null
  private readonly retention: Retention

  constructor(
    private readonly host: MoveHost,
    private readonly cfg: MoveConfig,
  ) {
    this.token = resumeToken(cfg.sendKey, cfg.recvKey)
    this.retention = host.sender.retention = new Retention(cfg.retainBytes)
  }

  /** Bytes kept for resending. */
  get retained(): number {
    return this.retention.bytes
  }

  /** After each read: acknowledge, at the latest every ACK_BYTES bytes or ACK_RECORDS records. */
  afterRead(): void {
    const h = this.host
    const n = h.receiver.counter
    if (n - this.ackedRecords >= ACK_RECORDS || h.bytesIn - this.ackedBytes >= ACK_BYTES) {
      this.ackedRecords = n
      this.ackedBytes = h.bytesIn
      h.sender.control(MsgType.SESSION, encodeAck(n))
    }
  }

  /** A control frame from the peer (throws BAD_FRAME on a bad one: the receiver then fails). */
  control(f: Frame): void {
    const c = decodeControl(f)
    if (c.kind === CONTROL_ACK) {
      if (!this.host.sender.ack(c.records)) {
        throw new P4Error('BAD_FRAME', `ACK of ${c.records} records, only ${this.retention.end} were sent`)
      }
    } else {
      this.peerClosed = true
    }
  }

  /** Queues CLOSE; false when it already was. */
  queueClose(): boolean {
    if (this.closeSent) return false
    this.closeSent = true
    this.host.sender.control(MsgType.SESSION, encodeClose())
    return true
  }

  /** True when a Conn that closes now ends the session cleanly. */
  get cleanEnd(): boolean {
    return this.peerClosed || (this.closeSent && this.host.sender.pending === 0)
  }

  /** The Conn is gone without a clean end: wait for a move, at most graceMs. */
  suspend(reason: P4Error): void {
    this.host.release()?.destroy()
    if (this.suspendedBy !== null) return
    this.suspendedBy = reason
    this.grace = this.cfg.clock.setTimeout(() => {
      this.grace = null
      this.host.finish(new P4Error(reason.code, `${reason.message} (no move within ${this.cfg.graceMs} ms)`, { cause: reason }))
    }, this.cfg.graceMs)
    this.grace.unref?.() // a session waiting for a move does not keep the process alive
    this.host.emit('suspend', reason)
  }

  /** The session closed: no grace timer outlives it. */
  stop(): void {
    this.cfg.clock.clearTimeout(this.grace)
    this.grace = null
  }

  private switchTo(conn: Conn, leftover: Uint8Array, resend: Uint8Array[]): void {
    const h = this.host
    h.release()?.destroy()
    this.stop()
    this.suspendedBy = null
    this.moves++
    h.use(conn, leftover)
    h.sender.attach(conn, resend)
    h.emit('move')
  }

  /** Mover: continues the session on `conn`, a Conn this side opened to the peer. */
  async moveTo(conn: Conn, timeoutMs = this.cfg.timeoutMs): Promise<void> {
    const h = this.host
    if (h.isClosed) throw new P4Error('CLOSED', 'session is closed')
    if (this.moving) throw new P4Error('BAD_RESUME', 'a move of this session is already under way')
    if (this.sentEpoch >= MAX_EPOCH) throw new P4Error('BAD_RESUME', 'no moves left')
    this.moving = true
    // Input stops at a record boundary we state; output waits for the answer.
    h.park()
    h.sender.detach()
    let answer: { received: number; leftover: Uint8Array }
    try {
      answer = await requestResume(conn, { sendKey: this.cfg.sendKey, recvKey: this.cfg.recvKey, token: this.token }, ++this.sentEpoch, h.receiver.counter, {
        timeoutMs,
        clock: this.cfg.clock,
      })
      if (h.isClosed) throw new P4Error('CLOSED', 'session closed during the move')
    } catch (err) {
      this.moving = false
      conn.destroy()
      const old = h.current()
      if (old !== null && !h.isClosed) {
        h.unpark()
        h.sender.attach(old)
      }
      throw err
    }
    this.moving = false
    let resend: Uint8Array[]
    try {
      resend = this.retention.from(answer.received)
    } catch (err) {
      // The peer, authenticated, asks for what cannot be: the session cannot go on.
      conn.destroy()
      h.destroy(err as P4Error)
      throw err
    }
    this.switchTo(conn, answer.leftover, resend)
  }

  /** Responder: continues the session on the Conn of `req` after checking it. Throws BAD_RESUME (and refuses) otherwise. */
  adopt(req: ResumeRequest): void {
    const h = this.host
    try {
      if (h.isClosed) throw new P4Error('BAD_RESUME', 'the session is closed')
      if (!Buffer.from(req.token).equals(Buffer.from(this.token))) throw new P4Error('BAD_RESUME', 'RESUME names another session')
      if (!verifyResume(req, this.cfg.recvKey)) throw new P4Error('BAD_RESUME', 'RESUME failed authentication')
      if (req.epoch <= this.seenEpoch) throw new P4Error('BAD_RESUME', `RESUME epoch ${req.epoch} already seen (replayed)`)
      if (this.moving) throw new P4Error('BAD_RESUME', 'this side is moving the session itself')
      const r = this.retention
      if (req.received < r.base || req.received > r.end) {
        throw new P4Error('BAD_RESUME', `RESUME asks for records from ${req.received}; ${r.base}..${r.end} can be resumed from`)
      }
    } catch (err) {
      refuseResume(req.conn, this.cfg.clock)
      throw err
    }
    this.seenEpoch = req.epoch
    // Stop reading the old Conn before stating what we have.
    h.release()?.destroy()
    const resend = this.retention.from(req.received)
    req.conn.write(encodeResumed(this.cfg.sendKey, req, h.receiver.counter))
    this.switchTo(req.conn, req.leftover, resend)
  }
}
