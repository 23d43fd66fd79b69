// In-process transport: many nodes in one process (tests, simulations of
// hundreds of nodes). Bytes pass asynchronously through one shared
// setImmediate per network (never a timer per connection, never re-entrantly
// inside write()), with the same backpressure contract as TCP. Faults can be
// staged through the public API: a transport that crashes, connections that
// are held unanswered, addresses nobody can dial (a node behind NAT).
import { EventEmitter } from 'node:events'
import { P4Error } from '../core/errors.js'
import {
  checkAddress,
  checkTimeout,
  type Address,
  type Conn,
  type ConnEvents,
  type Listener,
  type Transport,
} from './types.js'

export interface MemoryNetworkOptions {
  /** Bytes queued towards a reader at which write() starts returning false. Default 64 KiB. */
  highWaterMark?: number
  /** Largest 'data' chunk delivered; writes are merged or split to it, as TCP would. Default 64 KiB. */
  maxChunk?: number
}

export interface MemoryTransportOptions {
  /** The host that dialled connections come from (the remote host the listener sees). Default '127.0.0.1'. */
  host?: string
}

const FIRST_PORT = 49152
const FIRST_EPHEMERAL = 32768

/** What one transport of a network owns, so that it can crash as a whole. */
interface Endpoint {
  readonly conns: Set<MemoryConn>
  readonly listeners: Set<MemoryListener>
  crashed: boolean
}

/** What an intercept decides for one connection: hand it to the listener, or hold it unanswered. */
export type InterceptDecision = 'accept' | 'hold'

class MemoryConn extends EventEmitter implements Conn {
  peer!: MemoryConn
  owner: Endpoint | null = null
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

  constructor(
    private readonly net: MemoryNetwork,
    readonly localHost: string,
    readonly localPort: number,
    readonly remoteHost: string,
    readonly remotePort: number,
  ) {
    super()
  }

  get writableLength(): number {
    return this.peer.inBytes
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
      this.peer.push(copy)
    }
    if (this.peer.inBytes >= this.net.highWaterMark) {
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
    this.peer.peerEnded = true
    this.net.schedule(this.peer)
  }

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
      if (writer.needDrain && !writer.destroyed) {
        writer.needDrain = false
        writer.emit('drain')
      }
      if (this.peerEnded) {
        // allowHalfOpen=false, as net.Socket: the peer's end ends this side
        // too; once both directions are read, both sides close.
        if (!this.ending) this.end()
        else if (writer.inBytes === 0) this.destroy()
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

class MemoryListener implements Listener {
  readonly address: Address
  constructor(
    private readonly net: MemoryNetwork,
    readonly key: string,
    host: string,
    port: number,
    readonly onConnection: (conn: Conn) => void,
    readonly owner: Endpoint,
  ) {
    this.address = { host, port }
  }
  async close(): Promise<void> {
    this.net.unlisten(this)
  }
}

/**
 * A simulated network shared by many in-process transports. Addresses are
 * (host string, port); nothing touches the OS. Listening on '0.0.0.0' or '::'
 * accepts dials to any host on that port.
 */
export class MemoryNetwork {
  readonly highWaterMark: number
  readonly maxChunk: number
  private readonly listeners = new Map<string, MemoryListener>()
  private nextPort = FIRST_PORT
  private nextEphemeral = FIRST_EPHEMERAL
  private open = 0
  private queue: MemoryConn[] = []
  private scheduled = false
  /** Transports by the object handed out, for crash(). */
  private readonly endpoints = new WeakMap<Transport, Endpoint>()
  private readonly intercepts = new Map<string, { decide: (n: number) => InterceptDecision; dials: number }>()
  private readonly undialable = new Set<string>()

  constructor(opts: MemoryNetworkOptions = {}) {
    this.highWaterMark = positiveInt(opts.highWaterMark ?? 64 * 1024, 'highWaterMark')
    this.maxChunk = positiveInt(opts.maxChunk ?? 64 * 1024, 'maxChunk')
  }

  /** A transport on this network whose dials come from `opts.host`. */
  transport(opts: MemoryTransportOptions = {}): Transport {
    const source = opts.host ?? '127.0.0.1'
    checkAddress(source, 0, true)
    const endpoint: Endpoint = { conns: new Set(), listeners: new Set(), crashed: false }
    const crashed = (): never => {
      throw new P4Error('IO_ERROR', 'this transport crashed (MemoryNetwork.crash)')
    }
    const transport: Transport = {
      name: 'memory',
      listen: async (host, port, onConnection) => {
        checkAddress(host, port, true)
        if (typeof onConnection !== 'function') throw new P4Error('BAD_ARGUMENT', 'onConnection must be a function')
        if (endpoint.crashed) crashed()
        return this.listen(host, port, onConnection, endpoint)
      },
      dial: async (host, port, dialOpts) => {
        checkAddress(host, port, false)
        checkTimeout(dialOpts)
        // Settle on a later turn, like a real connect.
        await null
        if (endpoint.crashed) crashed()
        return this.connect(source, host, port, endpoint)
      },
    }
    this.endpoints.set(transport, endpoint)
    return transport
  }

  /**
   * Crashes the node behind `transport`: its listeners vanish and every
   * connection it holds is dropped at once (the other sides see a close with
   * no goodbye); from then on it can neither dial nor listen.
   */
  crash(transport: Transport): void {
    const endpoint = this.endpoints.get(transport)
    if (!endpoint) throw new P4Error('BAD_ARGUMENT', 'not a transport of this network')
    endpoint.crashed = true
    for (const l of endpoint.listeners) this.unlisten(l)
    for (const c of [...endpoint.conns]) c.destroy()
  }

  /**
   * Intercepts connections to host:port: `decide(n)` (n counts them from 1)
   * hands each to the listener ('accept') or holds it unanswered ('hold', so
   * the dialler's handshake times out). stop() restores plain accepting.
   */
  intercept(host: string, port: number, decide: (n: number) => InterceptDecision): { dials(): number; stop(): void } {
    checkAddress(host, port, false)
    if (typeof decide !== 'function') throw new P4Error('BAD_ARGUMENT', 'decide must be a function')
    const key = `${host}:${port}`
    const entry = { decide, dials: 0 }
    this.intercepts.set(key, entry)
    return {
      dials: () => entry.dials,
      stop: () => {
        if (this.intercepts.get(key) === entry) this.intercepts.delete(key)
      },
    }
  }

  /** Makes host:port refuse every dial (UNREACHABLE), as a node behind NAT; `false` undoes it. */
  setDialable(host: string, port: number, dialable: boolean): void {
    checkAddress(host, port, false)
    const key = `${host}:${port}`
    if (dialable) this.undialable.delete(key)
    else this.undialable.add(key)
  }

  /** True when no bytes, ends or closes wait to be delivered (a ManualClock's `idle`). */
  get idle(): boolean {
    return !this.scheduled && this.queue.length === 0
  }

  /** Open listeners and connections (both sides count), for leak checks. */
  stats(): { listeners: number; connections: number } {
    return { listeners: this.listeners.size, connections: this.open }
  }

  private listen(host: string, port: number, onConnection: (conn: Conn) => void, owner: Endpoint): MemoryListener {
    if (port === 0) port = this.freePort(host)
    const key = `${host}:${port}`
    if (this.listeners.has(key)) throw new P4Error('IO_ERROR', `cannot listen on ${key}: address in use`)
    const listener = new MemoryListener(this, key, host, port, onConnection, owner)
    this.listeners.set(key, listener)
    owner.listeners.add(listener)
    return listener
  }

  unlisten(listener: MemoryListener): void {
    if (this.listeners.get(listener.key) === listener) this.listeners.delete(listener.key)
    listener.owner.listeners.delete(listener)
  }

  private freePort(host: string): number {
    for (let tries = 0; tries < 65536 - 1024; tries++) {
      const port = this.nextPort
      this.nextPort = port >= 65535 ? 1024 : port + 1
      if (!this.listeners.has(`${host}:${port}`)) return port
    }
    throw new P4Error('IO_ERROR', `no free port on ${host}`)
  }

  private connect(fromHost: string, host: string, port: number, owner: Endpoint): Conn {
    const listener =
      this.listeners.get(`${host}:${port}`) ??
      this.listeners.get(`0.0.0.0:${port}`) ??
      this.listeners.get(`:::${port}`)
    if (!listener) throw new P4Error('UNREACHABLE', `cannot connect to ${host}:${port}: nothing listens there`)
    if (this.undialable.has(`${host}:${port}`)) throw new P4Error('UNREACHABLE', `cannot connect to ${host}:${port}: it takes no incoming connections`)
    const ephemeral = this.nextEphemeral
    this.nextEphemeral = ephemeral >= 60999 ? FIRST_EPHEMERAL : ephemeral + 1
    const client = new MemoryConn(this, fromHost, ephemeral, host, port)
    const server = new MemoryConn(this, host, port, fromHost, ephemeral)
    client.peer = server
    server.peer = client
    client.owner = owner
    server.owner = listener.owner
    owner.conns.add(client)
    listener.owner.conns.add(server)
    this.open += 2
    const intercept = this.intercepts.get(`${host}:${port}`) ?? this.intercepts.get(`${listener.address.host}:${port}`)
    if (intercept === undefined || intercept.decide(++intercept.dials) === 'accept') listener.onConnection(server)
    return client
  }

  closed(): void {
    this.open--
  }

  schedule(conn: MemoryConn): void {
    if (conn.queued) return
    conn.queued = true
    this.queue.push(conn)
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flush)
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false
    const batch = this.queue
    this.queue = []
    let i = 0
    try {
      for (; i < batch.length; i++) {
        const conn = batch[i]!
        conn.queued = false
        conn.process()
      }
    } finally {
      // A throwing listener must not strand the rest of the batch.
      for (i++; i < batch.length; i++) {
        batch[i]!.queued = false
        this.schedule(batch[i]!)
      }
    }
  }
}

/** A transport on `network` (shorthand for network.transport(opts)). */
export function memoryTransport(network: MemoryNetwork, opts?: MemoryTransportOptions): Transport {
  return network.transport(opts)
}

function positiveInt(value: number, what: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new P4Error('BAD_OPTION', `${what} must be a positive integer`)
  return value
}
