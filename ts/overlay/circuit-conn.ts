// One end of a circuit through a relay, as a Conn: the bytes of RELAY DATA
// frames on this node's session with the relay, in order, with credit both
// ways (a side never sends more than the other granted; the relay checks
// it), so a relay buffers at most one window per direction per circuit and
// a slow reader holds back only its own circuit. A Session runs over it like
// over TCP: the preamble and Noise handshake end to end, then sealed
// records, which is all the relay ever sees. The receiving half is
// circuit-inbox.ts.
import { EventEmitter } from 'node:events'
import { P4Error } from '../core/errors.js'
import type { Conn, ConnEvents } from '../transport/types.js'
import { CircuitInbox } from './circuit-inbox.js'
import { decodeAccept, decodeReason, decodeWindow, encodeReason, encodeWindow, errorCodeOf, MAX_CHUNK, relayBad, RelayCode, RelayOp } from './relay-codec.js'

/** How a circuit end reaches its relay: its frames on the session with it. */
export interface CircuitPort {
  /** Queues a frame of this circuit (WINDOW with `control`: ahead of DATA). False when the session cannot take it. */
  send(op: number, payload: Uint8Array, control?: boolean): boolean
  /** The circuit's send flow is above its mark: DATA waits. */
  readonly blocked: boolean
  /** Calls `fn` once the flow drains. */
  onDrained(fn: () => void): void
  /** The circuit ended: free its slot. */
  forget(): void
}

export interface CircuitEnds {
  /** This node's receive window: bytes the other side may send before a grant. */
  window: number
  /** Who relays (for messages and links()). */
  via: string
  localHost: string
  localPort: number
  /** The relay's address: where the bytes go. */
  remoteHost: string
  remotePort: number
}

/** write() returns false once this many bytes wait for credit (the session's sender keeps up to 512 KiB in a transport). */
const HIGH_WATER = 256 * 1024

export class CircuitConn extends EventEmitter implements Conn {
  destroyed = false
  readonly writableHighWaterMark = HIGH_WATER
  readonly via: string
  readonly localHost: string
  readonly localPort: number
  readonly remoteHost: string
  readonly remotePort: number
  /** Resolves when the circuit is accepted; rejects when it closes first. */
  readonly ready: Promise<void>
  private settle: { resolve: () => void; reject: (err: P4Error) => void } | null = null
  private accepted = false
  private credit = 0
  private chunk = MAX_CHUNK
  private readonly inbox: CircuitInbox
  private out: Uint8Array[] = []
  private outHead = 0
  private outBytes = 0
  private needDrain = false
  private drainScheduled = false
  private waitingFlow = false
  private ending = false
  private pumping = false

  constructor(
    private readonly port: CircuitPort,
    ends: CircuitEnds,
  ) {
    super()
    const self = this
    this.inbox = new CircuitInbox(ends.window, {
      get destroyed() {
        return self.destroyed
      },
      hand: (buf) => {
        try {
          this.emit('data', buf)
          return true
        } catch (err) {
          this.fail(err instanceof P4Error ? err : new P4Error('IO_ERROR', String(err), { cause: err }))
          return false
        }
      },
      grant: (n) => void this.port.send(RelayOp.WINDOW, encodeWindow(n), true),
      drained: () => this.finish(null),
    })
    this.via = ends.via
    this.localHost = ends.localHost
    this.localPort = ends.localPort
    this.remoteHost = ends.remoteHost
    this.remotePort = ends.remotePort
    this.ready = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }))
    this.ready.catch(() => undefined)
  }

  get writableLength(): number {
    return this.outBytes
  }

  /** The other side takes `window` bytes, in DATA of at most `maxChunk` (ACCEPT, or INCOMING at the target). */
  opened(window: number, maxChunk: number): void {
    this.accepted = true
    this.credit += window
    this.chunk = Math.min(MAX_CHUNK, maxChunk)
    this.settle?.resolve()
    this.settle = null
    this.pump()
  }

  write(chunk: Uint8Array): boolean {
    if (!(chunk instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'write() takes a Uint8Array')
    if (this.destroyed || this.ending) return false
    // No copy: a Conn's caller never modifies what it wrote.
    if (chunk.length > 0) {
      this.out.push(chunk)
      this.outBytes += chunk.length
      this.pump()
    }
    if (this.outBytes >= HIGH_WATER) {
      this.needDrain = true
      return false
    }
    return true
  }

  private pump(): void {
    if (this.pumping || this.destroyed) return
    this.pumping = true
    try {
      while (this.outBytes > 0 && this.accepted && this.credit > 0) {
        if (this.port.blocked) {
          if (!this.waitingFlow) {
            this.waitingFlow = true
            this.port.onDrained(() => {
              this.waitingFlow = false
              this.pump()
            })
          }
          break
        }
        const head = this.out[this.outHead]!
        const n = Math.min(head.length, this.credit, this.chunk)
        const piece = n === head.length ? head : head.subarray(0, n)
        if (n === head.length) this.outHead++
        else this.out[this.outHead] = head.subarray(n)
        this.outBytes -= n
        this.credit -= n
        if (!this.port.send(RelayOp.DATA, piece)) return this.fail(new P4Error('UNREACHABLE', `circuit through ${this.via}: the relay's session cannot take more`))
      }
      if (this.outHead === this.out.length) {
        this.out = []
        this.outHead = 0
      }
      if (this.ending && this.outBytes === 0) {
        this.port.send(RelayOp.CLOSE, encodeReason('', ''))
        return this.finish(null)
      }
      if (this.needDrain && this.outBytes < HIGH_WATER && !this.drainScheduled) {
        // Never from inside write(): the writer would be re-entered.
        this.drainScheduled = true
        queueMicrotask(() => {
          this.drainScheduled = false
          if (this.destroyed || !this.needDrain || this.outBytes >= HIGH_WATER) return
          this.needDrain = false
          this.emit('drain')
        })
      }
    } finally {
      this.pumping = false
    }
  }

  /** A frame of this circuit from the relay. Throws BAD_FRAME for one the relay should never have passed. */
  frame(op: number, payload: Uint8Array): void {
    if (this.destroyed) return
    switch (op) {
      case RelayOp.ACCEPT: {
        if (this.accepted) throw relayBad('ACCEPT of a circuit already open')
        const a = decodeAccept(payload)
        return this.opened(a.window, a.maxChunk)
      }
      case RelayOp.DATA:
      {
        const refused = this.inbox.refuses(payload.length, this.accepted)
        if (refused !== null) return this.reset(RelayCode.PROTOCOL, refused)
        return this.inbox.received(payload)
      }
      case RelayOp.WINDOW: {
        const n = decodeWindow(payload)
        if (this.credit + n > 0xffffffff) return this.reset(RelayCode.PROTOCOL, 'window beyond 4 GiB')
        this.credit += n
        return this.pump()
      }
      case RelayOp.CLOSE: {
        const r = decodeReason(payload)
        if (r.code === '' && this.accepted) {
          // A clean end: what came before it is delivered, then 'close'.
          this.out = []
          this.outBytes = 0
          this.port.forget()
          return this.inbox.end()
        }
        const code = r.code === '' ? RelayCode.RESET : r.code
        return this.finish(new P4Error(errorCodeOf(code), `circuit through ${this.via} closed: ${code}${r.text ? `: ${r.text}` : ''}`))
      }
      default:
        throw relayBad(`op ${op} on a circuit end`)
    }
  }

  /** The session with the relay is gone: the circuit with it. */
  lost(err: P4Error): void {
    this.finish(new P4Error('UNREACHABLE', `circuit through ${this.via} lost: ${err.message}`, { cause: err }))
  }

  pause(): void {
    this.inbox.pause()
  }

  resume(): void {
    this.inbox.resume()
  }

  override on<E extends keyof ConnEvents>(event: E, listener: ConnEvents[E]): this {
    super.on(event, listener)
    if (event === 'data' && !this.inbox.started) this.resume()
    return this
  }

  /** Graceful: what was written goes out (as credit allows), then CLOSE. */
  end(): void {
    if (this.destroyed || this.ending) return
    this.ending = true
    if (!this.accepted) {
      this.port.send(RelayOp.CLOSE, encodeReason('', ''))
      return this.finish(null)
    }
    this.pump()
  }

  /** At once: what was not sent is dropped; the other side sees a RESET. */
  destroy(err?: Error): void {
    if (this.destroyed) return
    this.port.send(RelayOp.CLOSE, encodeReason(RelayCode.RESET, err?.message ?? 'closed'))
    this.finish(err === undefined ? null : err instanceof P4Error ? err : new P4Error('IO_ERROR', err.message, { cause: err }))
  }

  /** Ends the circuit with `code` both ways (the relay passes the CLOSE on). */
  reset(code: string, text: string): void {
    if (this.destroyed) return
    this.port.send(RelayOp.CLOSE, encodeReason(code, text))
    this.finish(new P4Error('BAD_FRAME', `circuit through ${this.via}: ${code}: ${text}`))
  }

  private fail(err: P4Error): void {
    if (this.destroyed) return
    this.port.send(RelayOp.CLOSE, encodeReason(RelayCode.RESET, err.message))
    this.finish(err)
  }

  private finish(err: P4Error | null): void {
    if (this.destroyed) return
    this.destroyed = true
    this.out = []
    this.outBytes = 0
    this.inbox.clear()
    this.port.forget()
    const settle = this.settle
    this.settle = null
    settle?.reject(err ?? new P4Error('UNREACHABLE', `circuit through ${this.via} closed before it was accepted`))
    queueMicrotask(() => {
      // A Conn nobody listens to any more (released by its session) must not throw.
      if (err !== null && this.listenerCount('error') > 0) this.emit('error', err)
      this.emit('close')
    })
  }
}
