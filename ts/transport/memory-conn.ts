// One end of an in-process connection (memory.ts). Bytes a side writes go
// into its peer's inbox, copied, and the network delivers them on its next
// flush; or, on a shaped link (a one-way delay, a bandwidth limit), into the
// writer's delay line first, from which a timer on the network's clock moves
// them into the inbox when they are due.
import { EventEmitter } from 'node:events'
import type { Clock, Timer } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import type { Conn, ConnEvents } from './types.js'

/** What a connection needs from its network. */
export interface ConnNetwork {
  readonly highWaterMark: number
  readonly maxChunk: number
  readonly clock: Clock
  schedule(conn: MemoryConn): void
  closed(): void
}

/** A link's one-way delay and bandwidth; each direction of a connection gets its own. */
export interface Shape {
  delayMs: number
  /** Bytes per millisecond; Infinity = no limit. */
  bytesPerMs: number
}

/** The transport a connection belongs to (it drops the connection when it crashes). */
export interface ConnOwner {
  readonly conns: Set<MemoryConn>
}

/** One end of a new connection (dialled or punched): its host and port, and the transport it belongs to. */
export interface ConnEnd {
  host: string
  port: number
  owner: ConnOwner
}

/** A due time slack: a timer that fires this close to a chunk's time delivers it. */
const EPSILON_MS = 1e-6

interface InFlight {
  at: number
  /** null: the writer's end() (FIN), after the bytes before it. */
  chunk: Buffer | null
}

export class MemoryConn extends EventEmitter implements Conn {
  peer!: MemoryConn
  owner: ConnOwner | null = null
  destroyed = false
  /** Bytes the peer wrote that this side has not yet read. */
  private inbox: Buffer[] = []
  private inHead = 0
  inBytes = 0
  /** null until a 'data' listener or resume(); false after an explicit pause(). */
  private flowing: boolean | null = null
  /** This side called end() (or auto-ended after the peer's end). */
  ending = false
  /** The peer ended: once the inbox is read, end this side too. */
  peerEnded = false
  needDrain = false
  queued = false
  private closeError: Error | undefined
  private closing = false
  /** Shaped link: what this side wrote that has not arrived yet. */
  private line: InFlight[] = []
  private lineHead = 0
  inFlight = 0
  private busyUntil = 0
  private timer: Timer | null = null

  constructor(
    private readonly net: ConnNetwork,
    readonly localHost: string,
    readonly localPort: number,
    readonly remoteHost: string,
    readonly remotePort: number,
    /** This direction's shape (writes from this side), or null: immediate. */
    private readonly shape: Shape | null,
  ) {
    super()
  }

  get writableLength(): number {
    return this.peer.inBytes + this.inFlight
  }

  get writableHighWaterMark(): number {
    return this.net.highWaterMark
  }

  write(chunk: Uint8Array): boolean {
    if (!(chunk instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'write() takes a Uint8Array')
    // Like a socket after end/destroy: nothing more goes out ('close' tells why).
    if (this.destroyed || this.ending || this.peer.destroyed) return false
    if (chunk.length > 0) {
      // Copy: the caller may reuse its buffer, and the reader owns what it gets.
      const copy = Buffer.allocUnsafe(chunk.length)
      copy.set(chunk)
      if (this.shape === null) this.peer.push(copy)
      else this.send(copy)
    }
    if (this.writableLength >= this.net.highWaterMark) {
      this.needDrain = true
      return false
    }
    return true
  }

  private push(chunk: Buffer): void {
    this.inbox.push(chunk)
    this.inBytes += chunk.length
    this.net.schedule(this)
  }

  // Shaped: the chunk leaves once the link has sent what is ahead of it
  // (bandwidth) and arrives delayMs later.
  private send(chunk: Buffer | null): void {
    const shape = this.shape!
    const now = this.net.clock.now()
    let leaves = now
    if (chunk !== null && shape.bytesPerMs !== Infinity) {
      leaves = Math.max(now, this.busyUntil) + chunk.length / shape.bytesPerMs
      this.busyUntil = leaves
    } else if (this.busyUntil > now) {
      leaves = this.busyUntil
    }
    this.line.push({ at: leaves + shape.delayMs, chunk })
    if (chunk !== null) this.inFlight += chunk.length
    if (this.timer === null) this.arm()
  }

  private arm(): void {
    const next = this.line[this.lineHead]!
    this.timer = this.net.clock.setTimeout(this.arrive, Math.max(0, next.at - this.net.clock.now()))
  }

  private readonly arrive = (): void => {
    this.timer = null
    if (this.destroyed) return
    const now = this.net.clock.now()
    const line = this.line
    while (this.lineHead < line.length && line[this.lineHead]!.at <= now + EPSILON_MS) {
      const { chunk } = line[this.lineHead++]!
      if (chunk === null) {
        this.peer.peerEnded = true
        this.net.schedule(this.peer)
      } else {
        this.inFlight -= chunk.length
        this.peer.push(chunk)
      }
    }
    if (this.lineHead === line.length) {
      this.line = []
      this.lineHead = 0
    } else {
      this.arm()
    }
  }

  pause(): void {
    this.flowing = false
  }

  resume(): void {
    this.flowing = true
    this.net.schedule(this)
  }

  override on<E extends keyof ConnEvents>(event: E, listener: ConnEvents[E]): this {
    super.on(event, listener)
    if (event === 'data' && this.flowing === null) this.resume()
    return this
  }

  end(): void {
    if (this.destroyed || this.ending) return
    this.ending = true
    if (this.shape !== null) return this.send(null)
    this.peer.peerEnded = true
    this.net.schedule(this.peer)
  }

  /** Immediate close of both sides (like a reset, it overtakes bytes in flight, which are lost). */
  destroy(err?: Error): void {
    if (this.destroyed) return
    this.abort(err)
    this.peer.abort(undefined)
  }

  /** Marks this side closed at once; the events come on the next turn. */
  private abort(err: Error | undefined): void {
    if (this.destroyed) return
    this.destroyed = true
    this.inbox = []
    this.inHead = 0
    this.inBytes = 0
    this.line = []
    this.lineHead = 0
    this.inFlight = 0
    this.net.clock.clearTimeout(this.timer)
    this.timer = null
    this.closeError = err
    this.closing = true
    this.owner?.conns.delete(this)
    this.net.closed()
    this.net.schedule(this)
  }

  /** Called by the network's flush: emit close, or deliver what can be read. */
  process(): void {
    if (this.closing) {
      this.closing = false
      if (this.closeError) this.emit('error', this.closeError)
      this.emit('close')
      return
    }
    if (this.destroyed) return
    const max = this.net.maxChunk
    while (this.inBytes > 0 && this.flowing === true && !this.destroyed) {
      this.emit('data', this.take(max))
    }
    if (this.destroyed) return
    const writer = this.peer
    if (this.inBytes === 0) {
      if (writer.needDrain && !writer.destroyed && writer.inFlight === 0) {
        writer.needDrain = false
        writer.emit('drain')
      }
      if (this.peerEnded) {
        // allowHalfOpen=false, as net.Socket: the peer's end ends this side
        // too; once both directions are read, both sides close.
        if (!this.ending) this.end()
        else if (writer.inBytes === 0 && this.inFlight === 0 && this.lineHead === this.line.length) this.destroy()
      }
    }
  }

  /** Up to `max` bytes from the inbox, merging small writes and splitting large ones. */
  private take(max: number): Buffer {
    const first = this.inbox[this.inHead]!
    let out: Buffer
    if (first.length >= max || this.inHead === this.inbox.length - 1) {
      out = first.length > max ? first.subarray(0, max) : first
      if (first.length > max) this.inbox[this.inHead] = first.subarray(max)
      else this.inHead++
    } else {
      let n = 0
      let end = this.inHead
      while (end < this.inbox.length && n + this.inbox[end]!.length <= max) n += this.inbox[end++]!.length
      out = end - this.inHead === 1 ? first : Buffer.concat(this.inbox.slice(this.inHead, end), n)
      this.inHead = end
    }
    this.inBytes -= out.length
    if (this.inHead === this.inbox.length) {
      this.inbox = []
      this.inHead = 0
    } else if (this.inHead > 1024) {
      this.inbox = this.inbox.slice(this.inHead)
      this.inHead = 0
    }
    return out
  }
}
