// TCP transport over node:net. A TcpConn forwards straight to its net.Socket
// (listeners are registered on the socket itself), so a write or a 'data'
// event costs no more than on a bare socket.
import * as net from 'node:net'
import { P4Error } from '../errors.js'
import {
  checkAddress,
  checkTimeout,
  type Address,
  type Conn,
  type ConnEvents,
  type DialOptions,
  type Listener,
  type Transport,
} from './types.js'

export class TcpConn implements Conn {
  readonly socket: net.Socket
  readonly remoteHost: string
  readonly remotePort: number
  readonly localHost: string
  readonly localPort: number

  constructor(socket: net.Socket) {
    this.socket = socket
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
}

class TcpListener implements Listener {
  readonly address: Address
  private closing: Promise<void> | undefined

  constructor(private readonly server: net.Server) {
    const a = server.address() as net.AddressInfo
    this.address = { host: a.address, port: a.port }
  }

  close(): Promise<void> {
    // server.close() releases the port at once, but its 'close' event waits
    // for every accepted socket; those belong to the caller, so do not wait.
    this.closing ??= new Promise((resolve) => {
      this.server.close()
      setImmediate(resolve)
    })
    return this.closing
  }
}

export function tcpTransport(): Transport {
  return {
    name: 'tcp',

    async listen(host, port, onConnection) {
      checkAddress(host, port, true)
      if (typeof onConnection !== 'function') throw new P4Error('BAD_ARGUMENT', 'onConnection must be a function')
      const server = net.createServer({ noDelay: true }, (socket) => onConnection(new TcpConn(socket)))
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
      return new TcpListener(server)
    },

    dial(host, port, opts) {
      return new Promise<Conn>((resolve, reject) => {
        // A throw here rejects the promise, so bad arguments never throw synchronously.
        checkAddress(host, port, false)
        const timeoutMs = checkTimeout(opts)
        const socket = net.connect({ host, port, noDelay: true })
        const done = (): void => {
          clearTimeout(timer)
          socket.off('connect', onConnect)
          socket.off('error', onError)
        }
        const onConnect = (): void => {
          done()
          resolve(new TcpConn(socket))
        }
        const onError = (err: Error): void => {
          done()
          reject(new P4Error('UNREACHABLE', `cannot connect to ${host}:${port}: ${err.message}`, { cause: err }))
        }
        const timer = setTimeout(() => {
          done()
          socket.destroy()
          reject(new P4Error('TIMEOUT', `connecting to ${host}:${port} timed out after ${timeoutMs} ms`))
        }, timeoutMs)
        socket.once('connect', onConnect)
        socket.once('error', onError)
      })
    },
  }
}

/** The process-wide TCP transport (stateless, so one instance serves everyone). */
export const tcp: Transport = tcpTransport()
