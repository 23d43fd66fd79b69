// In-process transport: many nodes in one process (tests, simulations of
// hundreds of nodes). Bytes pass asynchronously through one shared
// setImmediate per network (never a timer per connection, never re-entrantly
// inside write()), with the same backpressure contract as TCP. Faults can be
// staged through the public API: a transport that crashes, connections that
// are held unanswered, addresses nobody can dial (a node behind NAT). Links
// can be shaped (one-way delay, bandwidth) on the network's clock, so a
// ManualClock drives latency deterministically; unshaped links (the default)
// set no timer at all. One connection's ends: memory-conn.ts; listeners and
// ports: memory-listeners.ts; link shapes: memory-shapes.ts; dialFrom()'s
// simultaneous opens: memory-punch.ts.
import { systemClock, type Clock } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import { MemoryConn, type ConnEnd, type ConnNetwork, type Shape } from './memory-conn.js'
import { MemoryListeners, type Endpoint } from './memory-listeners.js'
import { Punches } from './memory-punch.js'
import { LinkShapes, type LinkShape } from './memory-shapes.js'
import { checkAddress, checkTimeout, type Conn, type Transport } from './types.js'

export type { LinkShape } from './memory-shapes.js'

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

export interface MemoryTransportOptions {
  /** The host that dialled connections come from (the remote host the listener sees). Default '127.0.0.1'. */
  host?: string
}

const FIRST_EPHEMERAL = 32768

/** What an intercept decides for one connection: hand it to the listener, or hold it unanswered. */
export type InterceptDecision = 'accept' | 'hold'

/**
 * A simulated network shared by many in-process transports. Addresses are
 * (host string, port); nothing touches the OS. Listening on '0.0.0.0' or '::'
 * accepts dials to any host on that port.
 */
export class MemoryNetwork implements ConnNetwork {
  readonly highWaterMark: number
  readonly maxChunk: number
  readonly clock: Clock
  private readonly listeners = new MemoryListeners()
  private nextEphemeral = FIRST_EPHEMERAL
  private open = 0
  private queue: MemoryConn[] = []
  private scheduled = false
  /** Transports by the object handed out, for crash(). */
  private readonly endpoints = new WeakMap<Transport, Endpoint>()
  private readonly intercepts = new Map<string, { decide: (n: number) => InterceptDecision; dials: number }>()
  private readonly undialable = new Set<string>()
  private readonly punches: Punches
  private readonly shapes: LinkShapes
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
    this.shapes = new LinkShapes(opts.link ?? {})
    this.punches = new Punches(clock, (a, b) => this.pair(a, b, this.shapes.between(a.host, b.host)))
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
        return this.listeners.listen(host, port, onConnection, endpoint)
      },
      dial: async (host, port, dialOpts) => {
        checkAddress(host, port, false)
        checkTimeout(dialOpts)
        const shape = this.shapes.between(source, host)
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
        return this.punches.open(source, localPort, host, port, endpoint, timeoutMs)
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
    for (const l of endpoint.listeners) this.listeners.remove(l)
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
    this.punches.setPunchable(host, punchable)
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
    this.shapes.setHost(host, shape)
  }

  /** Shapes the link between hosts `a` and `b` (both directions) for connections made from now on; null removes it. */
  setLink(a: string, b: string, shape: LinkShape | null): void {
    this.shapes.setLink(a, b, shape)
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

  private connect(fromHost: string, host: string, port: number, owner: Endpoint, shape: Shape | null): Conn {
    const listener = this.listeners.find(host, port)
    if (!listener) throw new P4Error('UNREACHABLE', `cannot connect to ${host}:${port}: nothing listens there`)
    if (this.undialable.has(`${host}:${port}`)) throw new P4Error('UNREACHABLE', `cannot connect to ${host}:${port}: it takes no incoming connections`)
    const ephemeral = this.nextEphemeral
    this.nextEphemeral = ephemeral >= 60999 ? FIRST_EPHEMERAL : ephemeral + 1
    const [client, server] = this.pair({ host: fromHost, port: ephemeral, owner }, { host, port, owner: listener.owner }, shape)
    const intercept = this.intercepts.get(`${host}:${port}`) ?? this.intercepts.get(`${listener.address.host}:${port}`)
    if (intercept === undefined || intercept.decide(++intercept.dials) === 'accept') listener.onConnection(server)
    return client
  }

  /** The two ends of a new connection between `a` and `b`: [a's, b's]. */
  private pair(a: ConnEnd, b: ConnEnd, shape: Shape | null): [MemoryConn, MemoryConn] {
    const x = new MemoryConn(this, a.host, a.port, b.host, b.port, shape)
    const y = new MemoryConn(this, b.host, b.port, a.host, a.port, shape)
    x.peer = y
    y.peer = x
    x.owner = a.owner
    y.owner = b.owner
    a.owner.conns.add(x)
    b.owner.conns.add(y)
    this.open += 2
    return [x, y]
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
