// The receiving side of a Session: the Conn it is on (one at a time; a move
// swaps it), its reads into the Receiver, the frames that come out —
// delivered to onframe, held while paused, or handed to the session layer
// (type SESSION) — and the input kept aside while a move is being tried.
import { P4Error } from '../core/errors.js'
import { MSG_SESSION } from '../core/protocol.js'
import type { Conn } from '../transport/types.js'
import type { Frame, Receiver } from './receiver.js'
import type { Sender } from './sender.js'

/** What the Inbound tells its Session. */
export interface InboundOwner {
  readonly closed: boolean
  /** A SESSION frame (throws BAD_FRAME when the session has no use for it). */
  control(f: Frame): void
  afterRead(): void
  /** The input was bad: the session ends. */
  fail(err: P4Error): void
  connError(err: Error): void
  connClose(): void
}

const noop = (): void => {}

export class Inbound {
  onframe: ((frame: Frame) => void) | null = null
  /** The Conn in use; null while suspended. */
  current: Conn | null = null
  /** The Conn in use, or the last one. */
  last: Conn
  bytesIn = 0
  paused = false
  /** Input of the current Conn kept aside while a move is tried (null: none). */
  private parked: Buffer[] | null = null
  /** Frames opened while paused, delivered in order on resume(). */
  private held: Frame[] | null = null
  /** Set by ignoreInput(): received bytes are dropped unread. */
  private ignoring = false

  constructor(
    first: Conn,
    private readonly receiver: Receiver,
    private readonly sender: Sender,
    private readonly owner: InboundOwner,
  ) {
    this.last = first
  }

  private readonly onData = (chunk: Buffer): void => this.read(chunk)
  private readonly onError = (err: Error): void => this.owner.connError(err)
  private readonly onClose = (): void => this.owner.connClose()

  /** Starts reading `conn`: first `leftover` (bytes already read from it), then its data. */
  use(conn: Conn, leftover: Uint8Array | undefined): void {
    this.current = this.last = conn
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

  /** Stops processing input (a move is being tried); what arrives is kept aside. */
  park(): void {
    this.parked ??= []
    this.current?.pause()
  }

  /** The move failed: processes what was kept aside and reads on. */
  unpark(): void {
    const p = this.parked
    this.parked = null
    for (const chunk of p ?? []) this.read(chunk)
    if (!this.paused) this.current?.resume()
  }

  /** Lets go of the current Conn (input kept aside and a partial record are dropped); returns it. */
  release(): Conn | null {
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
    if (this.owner.closed || this.ignoring) return
    if (this.parked !== null) {
      this.parked.push(chunk)
      return
    }
    this.bytesIn += chunk.length
    try {
      this.receiver.push(chunk)
    } catch (err) {
      this.owner.fail(err instanceof P4Error ? err : new P4Error('BAD_FRAME', 'receive failed', { cause: err }))
      return
    }
    this.owner.afterRead()
  }

  /** Called by the Receiver for every frame. */
  frame(f: Frame): void {
    if (f.type === MSG_SESSION) this.owner.control(f)
    else if (this.paused) (this.held ??= []).push(f)
    else this.onframe?.(f)
  }

  pause(): void {
    this.paused = true
    this.current?.pause()
  }

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
        if (this.owner.closed) return
        this.onframe?.(q[i]!)
      }
    }
    if (!this.paused && !this.owner.closed && this.parked === null) this.current?.resume()
  }

  ignoreInput(): void {
    this.ignoring = true
    this.onframe = null
    this.held = null
    this.paused = true
    this.current?.pause()
  }

  /** The session closed: nothing more is delivered. */
  stop(): void {
    this.held = null
    this.parked = null
  }
}
