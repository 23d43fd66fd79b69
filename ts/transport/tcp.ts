// TCP transport over node:net. A TcpConn forwards straight to its net.Socket
// (listeners are registered on the socket itself), so a write or a 'data'
// event costs no more than on a bare socket. Socket options are applied to
// every dialled and accepted socket through ts/native (addon or fallback).
import type * as net from 'node:net'
import { debuglog } from 'node:util'
import { nodeNet } from '../core/builtins.js'
import { P4Error } from '../core/errors.js'
import { checkSocketOptions, fallbackTuner, portSharing, socketTuner, type SocketOptions, type SocketTuner, type TuneResult } from '../native/index.js'
import {
  checkAddress,
  checkTimeout,
  type Address,
  type Conn,
  type ConnEvents,
  type Listener,
  type Transport,
} from './types.js'

export class TcpConn implements Conn {
  readonly socket: net.Socket
  readonly remoteHost: string
  readonly remotePort: number
  readonly localHost: string
  readonly localPort: number
  /** Which socket options were applied to this socket and which were skipped (and why). */
  readonly tuning: TuneResult

  constructor(socket: net.Socket, tuning: TuneResult = { applied: [], skipped: [] }) {
    this.socket = socket
    this.tuning = tuning
    // Captured now: the socket forgets its addresses once destroyed.
    this.remoteHost = socket.remoteAddress ?? ''
    this.remotePort = socket.remotePort ?? 0
    this.localHost = socket.localAddress ?? ''
    this.localPort = socket.localPort ?? 0
  }

  write(chunk: Uint8Array): boolean {
    return this.socket.write(chunk)
  }
  pause(): void {
    this.socket.pause()
  }
  resume(): void {
    this.socket.resume()
  }
  end(): void {
    this.socket.end()
  }
  destroy(err?: Error): void {
    this.socket.destroy(err)
  }
  on<E extends keyof ConnEvents>(event: E, listener: ConnEvents[E]): this {
    this.socket.on(event, listener)
    return this
  }
  once<E extends keyof ConnEvents>(event: E, listener: ConnEvents[E]): this {
    this.socket.once(event, listener)
    return this
  }
  off<E extends keyof ConnEvents>(event: E, listener: ConnEvents[E]): this {
    this.socket.off(event, listener)
    return this
  }
  get destroyed(): boolean {
    return this.socket.destroyed
  }
  get writableLength(): number {
    return this.socket.writableLength
  }
  get writableHighWaterMark(): number {
    return this.socket.writableHighWaterMark
  }
}

class TcpListener implements Listener {
  readonly address: Address
  private closing: Promise<void> | undefined

  constructor(
    private readonly server: net.Server,
    private readonly gone: () => void = () => undefined,
  ) {
    const a = server.address() as net.AddressInfo
    this.address = { host: a.address, port: a.port }
  }

  close(): Promise<void> {
    // server.close() releases the port at once, but its 'close' event waits
    // for every accepted socket; those belong to the caller, so do not wait.
    this.closing ??= new Promise((resolve) => {
      this.gone()
      this.server.close()
      setImmediate(resolve)
    })
    return this.closing
  }
}

/** Socket options every tcp transport applies unless told otherwise. */
export const DEFAULT_SOCKET_OPTIONS: Readonly<SocketOptions> = Object.freeze({ noDelay: true })

export interface TcpTransportOptions {
  /** Merged over DEFAULT_SOCKET_OPTIONS and applied to every dialled and accepted socket. */
  socket?: SocketOptions
  /** Defaults to socketTuner() (the addon when it loads, else the fallback). */
  tuner?: SocketTuner
}

const debug = debuglog('p4net:native')

/** Throws BAD_OPTION for bad socket options. */
export function tcpTransport(opts: TcpTransportOptions = {}): Transport {
  if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_OPTION', 'tcp transport options must be an object')
  if (opts.tuner !== undefined && typeof opts.tuner?.apply !== 'function') {
    throw new P4Error('BAD_OPTION', 'tuner must be a SocketTuner (see socketTuner())')
  }
  const options = checkSocketOptions({ ...DEFAULT_SOCKET_OPTIONS, ...(opts.socket === undefined ? {} : checkSocketOptions(opts.socket)) })
  // Resolved on first use, so importing the transport does not load the addon;
  // options node:net sets itself (the default, noDelay) never load it.
  let tuner = opts.tuner
  const nodeCanSet = Object.keys(options).every((k) => k === 'noDelay' || (k === 'keepAlive' && options.keepAlive === false))
  // This transport's listeners by port (dialFrom binds beside one), and those given SO_REUSEPORT.
  const servers = new Map<number, net.Server>()
  const shared = new WeakSet<net.Server>()
  const reported = new Set<string>()
  // Tunes a fresh socket; a skipped option is logged once per transport, not per connection.
  const tune = (socket: net.Socket): TuneResult => {
    tuner ??= nodeCanSet ? fallbackTuner() : socketTuner()
    const result = tuner.apply(socket, options)
    for (const { option, reason } of result.skipped) {
      const key = `${option}: ${reason}`
      if (reported.has(key)) continue
      reported.add(key)
      debug('tcp: socket option %s not applied (%s tuner): %s', option, tuner.kind, reason)
    }
    return result
  }

  return {
    name: 'tcp',

    async listen(host, port, onConnection) {
      checkAddress(host, port, true)
      if (typeof onConnection !== 'function') throw new P4Error('BAD_ARGUMENT', 'onConnection must be a function')
      const server = nodeNet().createServer((socket) => onConnection(new TcpConn(socket, tune(socket))))
      await new Promise<void>((resolve, reject) => {
        const fail = (err: Error): void => {
          reject(new P4Error('IO_ERROR', `cannot listen on ${host}:${port}: ${err.message}`, { cause: err }))
        }
        server.once('error', fail)
        server.listen({ host, port }, () => {
          server.off('error', fail)
          resolve()
        })
      })
      // Accept failures (EMFILE and the like) must not crash the process; the
      // server keeps listening.
      server.on('error', () => {})
      const bound = (server.address() as net.AddressInfo).port
      servers.set(bound, server)
      return new TcpListener(server, () => {
        if (servers.get(bound) === server) servers.delete(bound)
      })
    },

    punchUnavailable() {
      const sharing = portSharing()
      return typeof sharing === 'string' ? sharing : null
    },

    dialFrom(localPort, host, port, opts) {
      return new Promise<Conn>((resolve, reject) => {
        checkAddress(host, port, false)
        const timeoutMs = checkTimeout(opts)
        const sharing = portSharing()
        if (typeof sharing === 'string') throw new P4Error('UNSUPPORTED', `cannot dial from a listening port: ${sharing}`)
        const server = servers.get(localPort)
        const fd = (server as unknown as { _handle?: { fd?: number } } | undefined)?._handle?.fd
        if (server === undefined || typeof fd !== 'number' || fd < 0) throw new P4Error('BAD_ARGUMENT', `no listener of this transport on port ${localPort}`)
        if (!shared.has(server)) {
          sharing.shareListener(fd)
          shared.add(server)
        }
        const family = nodeNet().isIP(host)
        if (family === 0) throw new P4Error('BAD_ARGUMENT', `dialFrom needs an IP address, got ${host}`)
        let socket: net.Socket
        try {
          const own = sharing.bind(family === 6 ? '::' : '0.0.0.0', localPort)
          // Paused until the session layer reads: nothing may be read before the connect.
          socket = new (nodeNet().Socket)({ fd: own, readable: true, writable: true, pauseOnCreate: true } as net.SocketConstructorOpts)
        } catch (err) {
          throw new P4Error('UNREACHABLE', `cannot bind port ${localPort} to dial ${host}:${port}: ${(err as Error).message}`, { cause: err })
        }
        // Connected, it behaves as any Conn: it flows once a 'data' listener is attached.
        socket.once('connect', () => void ((socket as { readableFlowing: boolean | null }).readableFlowing = null))
        settle(socket, host, port, timeoutMs, resolve, reject)
        socket.connect(port, host)
      })
    },

    dial(host, port, opts) {
      return new Promise<Conn>((resolve, reject) => {
        // A throw here rejects the promise, so bad arguments never throw synchronously.
        checkAddress(host, port, false)
        const timeoutMs = checkTimeout(opts)
        settle(nodeNet().connect({ host, port }), host, port, timeoutMs, resolve, reject)
      })
    },
  }

  // Resolves with the connected socket as a Conn, or rejects UNREACHABLE / TIMEOUT (destroying it).
  function settle(socket: net.Socket, host: string, port: number, timeoutMs: number, resolve: (c: Conn) => void, reject: (e: Error) => void): void {
    const done = (): void => {
      clearTimeout(timer)
      socket.off('connect', onConnect)
      socket.off('error', onError)
    }
    const onConnect = (): void => {
      done()
      resolve(new TcpConn(socket, tune(socket)))
    }
    const onError = (err: Error): void => {
      done()
      socket.destroy()
      reject(new P4Error('UNREACHABLE', `cannot connect to ${host}:${port}: ${err.message}`, { cause: err }))
    }
    const timer = setTimeout(() => {
      done()
      socket.destroy()
      reject(new P4Error('TIMEOUT', `connecting to ${host}:${port} timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    socket.once('connect', onConnect)
    socket.once('error', onError)
  }
}

/** The process-wide TCP transport (stateless, so one instance serves everyone). */
export const tcp: Transport = tcpTransport()
