// In-process transport: many nodes in one process (tests, simulations of
// hundreds of nodes). Bytes pass asynchronously through one shared
// setImmediate per network (never a timer per connection, never re-entrantly
// inside write()), with the same backpressure contract as TCP. Faults can be
// staged through the public API: a transport that crashes, connections that
// are held unanswered, addresses nobody can dial (a node behind NAT). Links
// can be shaped (one-way delay, bandwidth) on the network's clock, so a
// ManualClock drives latency deterministically; unshaped links (the default)
// set no timer at all.
import { systemClock, type Clock, type Timer } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import { MemoryConn, type ConnNetwork, type ConnOwner, type Shape } from './memory-conn.js'
import { checkAddress, checkTimeout, type Address, type Conn, type Listener, type Transport } from './types.js'

export interface MemoryNetworkOptions {
  /** Transports offer dialFrom() for hole punching (default false: nodes on it announce no PUNCH). */
  punching?: boolean
  /** Bytes queued towards a reader at which write() starts returning false. Default 64 KiB. */
  highWaterMark?: number
  /** Largest 'data' chunk delivered; writes are merged or split to it, as TCP would. Default 64 KiB. */
  maxChunk?: number
  /** The clock that link delays run on (a ManualClock makes them deterministic). Default: the system clock. */
  clock?: Clock
  /** The shape of every link not shaped otherwise (setHostLink, setLink). Default: no delay, no limit. */
  link?: LinkShape
}

/**
 * A link's one-way delay and bandwidth. A connection between hosts A and B
 * takes the shape set for the pair (setLink), else the sum of the two hosts'
 * delays and the lower of their bandwidths (setHostLink), else the network's
 * default. The bandwidth limits each direction of each connection on its own
 * (it is not shared between connections). Dialling takes one round trip; a
 * connection keeps at most highWaterMark bytes in flight (its window).
 */
export interface LinkShape {
  /** One-way delay, ms (default 0). */
  delayMs?: number
  /** Bytes per second (default: no limit). */
  bytesPerSecond?: number
}

export interface MemoryTransportOptions {
  /** The host that dialled connections come from (the remote host the listener sees). Default '127.0.0.1'. */
  host?: string
}

const FIRST_PORT = 49152
const FIRST_EPHEMERAL = 32768

/** What one transport of a network owns, so that it can crash as a whole. */
interface Endpoint extends ConnOwner {
  readonly listeners: Set<MemoryListener>
  crashed: boolean
}

/** What an intercept decides for one connection: hand it to the listener, or hold it unanswered. */
export type InterceptDecision = 'accept' | 'hold'

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
export class MemoryNetwork implements ConnNetwork {
  readonly highWaterMark: number
  readonly maxChunk: number
  readonly clock: Clock
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
  private readonly unpunchable = new Set<string>()
  /** dialFrom() calls waiting for the other side's, by "from:port>to:port". */
  private readonly punches = new Map<string, { owner: Endpoint; resolve: (c: Conn) => void; timer: Timer }>()
  private readonly defaultShape: Shape
  private readonly hostShapes = new Map<string, Shape>()
  private readonly linkShapes = new Map<string, Shape>()

  private readonly punching: boolean

  constructor(opts: MemoryNetworkOptions = {}) {
    this.punching = opts.punching === true
    this.highWaterMark = positiveInt(opts.highWaterMark ?? 64 * 1024, 'highWaterMark')
    this.maxChunk = positiveInt(opts.maxChunk ?? 64 * 1024, 'maxChunk')
    const clock = opts.clock ?? systemClock
    if (typeof clock !== 'object' || clock === null || typeof clock.setTimeout !== 'function' || typeof clock.now !== 'function') {
      throw new P4Error('BAD_OPTION', 'clock must be a Clock')
    }
    this.clock = clock
    this.defaultShape = toShape(opts.link ?? {})
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
        const shape = this.shapeOf(source, host)
        // Settle on a later turn, like a real connect; on a shaped link the
        // listener hears of it one delay later, the dialler one round trip.
        if (shape === null) await null
        else await this.after(shape.delayMs)
        if (endpoint.crashed) crashed()
        const conn = this.connect(source, host, port, endpoint, shape)
        if (shape !== null) await this.after(shape.delayMs)
        return conn
      },
      dialFrom: (localPort, host, port, dialOpts) => {
        checkAddress(host, port, false)
        const timeoutMs = checkTimeout(dialOpts)
        if (endpoint.crashed) crashed()
        if (![...endpoint.listeners].some((l) => l.address.port === localPort)) {
          return Promise.reject(new P4Error('BAD_ARGUMENT', `no listener of this transport on port ${localPort}`))
        }
        return this.simultaneousOpen(source, localPort, host, port, endpoint, timeoutMs)
      },
      punchUnavailable: () => (this.punching ? null : 'dialFrom is off on this memory network (MemoryNetworkOptions.punching)'),
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

  /**
   * Makes dialFrom() from or to `host` never meet the other side's (as
   * behind a NAT that maps each connection to a new port): both time out.
   */
  setPunchable(host: string, punchable: boolean): void {
    checkAddress(host, 0, true)
    if (punchable) this.unpunchable.delete(host)
    else this.unpunchable.add(host)
  }

  /**
   * dialFrom(): a connection forms only when the other side dials this one
   * from `host:port` to `from:localPort` too, before the deadline (a TCP
   * simultaneous open through two NATs); no listener takes part.
   */
  private simultaneousOpen(from: string, localPort: number, host: string, port: number, owner: Endpoint, timeoutMs: number): Promise<Conn> {
    return new Promise<Conn>((resolve, reject) => {
      const mine = `${from}:${localPort}>${host}:${port}`
      const theirs = this.punches.get(`${host}:${port}>${from}:${localPort}`)
      const blocked = this.unpunchable.has(from) || this.unpunchable.has(host)
      if (theirs !== undefined && !blocked) {
        this.punches.delete(`${host}:${port}>${from}:${localPort}`)
        this.clock.clearTimeout(theirs.timer)
        const shape = this.shapeOf(from, host)
        const a = new MemoryConn(this, from, localPort, host, port, shape)
        const b = new MemoryConn(this, host, port, from, localPort, shape)
        a.peer = b
        b.peer = a
        a.owner = owner
        b.owner = theirs.owner
        owner.conns.add(a)
        theirs.owner.conns.add(b)
        this.open += 2
        theirs.resolve(b)
        resolve(a)
        return
      }
      if (this.punches.has(mine)) return reject(new P4Error('UNREACHABLE', `already dialling ${host}:${port} from port ${localPort}`))
      const timer = this.clock.setTimeout(() => {
        this.punches.delete(mine)
        reject(new P4Error('TIMEOUT', `connecting to ${host}:${port} from port ${localPort} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      timer.unref?.()
      this.punches.set(mine, { owner, resolve, timer })
    })
  }

  /** Makes host:port refuse every dial (UNREACHABLE), as a node behind NAT; `false` undoes it. */
  setDialable(host: string, port: number, dialable: boolean): void {
    checkAddress(host, port, false)
    const key = `${host}:${port}`
    if (dialable) this.undialable.delete(key)
    else this.undialable.add(key)
  }

  /**
   * Shapes `host`'s access link for connections made from now on: between
   * two hosts the delays add up and the lower bandwidth holds (unless
   * setLink shaped that pair). null: back to the network's default.
   */
  setHostLink(host: string, shape: LinkShape | null): void {
    checkAddress(host, 0, true)
    if (shape === null) this.hostShapes.delete(host)
    else this.hostShapes.set(host, toShape(shape))
  }

  /** Shapes the link between hosts `a` and `b` (both directions) for connections made from now on; null removes it. */
  setLink(a: string, b: string, shape: LinkShape | null): void {
    checkAddress(a, 0, true)
    checkAddress(b, 0, true)
    if (shape === null) this.linkShapes.delete(pairKey(a, b))
    else this.linkShapes.set(pairKey(a, b), toShape(shape))
  }

  /** The shape of a connection between `a` and `b`, or null for an immediate one. */
  private shapeOf(a: string, b: string): Shape | null {
    let s = this.linkShapes.get(pairKey(a, b))
    if (s === undefined) {
      const sa = this.hostShapes.get(a)
      const sb = this.hostShapes.get(b)
      if (sa === undefined && sb === undefined) s = this.defaultShape
      else {
        const x = sa ?? this.defaultShape
        const y = sb ?? this.defaultShape
        s = { delayMs: x.delayMs + y.delayMs, bytesPerMs: Math.min(x.bytesPerMs, y.bytesPerMs) }
      }
    }
    return s.delayMs === 0 && s.bytesPerMs === Infinity ? null : s
  }

  private after(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms))
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

  private connect(fromHost: string, host: string, port: number, owner: Endpoint, shape: Shape | null): Conn {
    const listener =
      this.listeners.get(`${host}:${port}`) ??
      this.listeners.get(`0.0.0.0:${port}`) ??
      this.listeners.get(`:::${port}`)
    if (!listener) throw new P4Error('UNREACHABLE', `cannot connect to ${host}:${port}: nothing listens there`)
    if (this.undialable.has(`${host}:${port}`)) throw new P4Error('UNREACHABLE', `cannot connect to ${host}:${port}: it takes no incoming connections`)
    const ephemeral = this.nextEphemeral
    this.nextEphemeral = ephemeral >= 60999 ? FIRST_EPHEMERAL : ephemeral + 1
    const client = new MemoryConn(this, fromHost, ephemeral, host, port, shape)
    const server = new MemoryConn(this, host, port, fromHost, ephemeral, shape)
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

function pairKey(a: string, b: string): string {
  return a < b ? `${a} ${b}` : `${b} ${a}`
}

function toShape(l: LinkShape): Shape {
  if (typeof l !== 'object' || l === null) throw new P4Error('BAD_ARGUMENT', 'a link shape must be an object')
  const delayMs = l.delayMs ?? 0
  const bps = l.bytesPerSecond ?? Infinity
  if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) throw new P4Error('BAD_ARGUMENT', `delayMs must be a finite number >= 0, got ${String(delayMs)}`)
  if (typeof bps !== 'number' || !(bps > 0)) throw new P4Error('BAD_ARGUMENT', `bytesPerSecond must be a number > 0, got ${String(bps)}`)
  return { delayMs, bytesPerMs: bps / 1000 }
}

function positiveInt(value: number, what: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new P4Error('BAD_OPTION', `${what} must be a positive integer`)
  return value
}
