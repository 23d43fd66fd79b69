// The byte-stream interface every transport provides (tcp, memory). Sessions
// and the overlay see only these types, so a simulation of hundreds of nodes
// runs the same code as the real network.
import type { Socket } from 'node:net'
import { P4Error } from '../core/errors.js'

export interface ConnEvents {
  /** Bytes in order; chunk boundaries are arbitrary (a stream, not messages). */
  data: (chunk: Buffer) => void
  /** The write buffer emptied after write() returned false. */
  drain: () => void
  /** Both directions are closed; emitted once, after 'error' if there was one. */
  close: () => void
  /** A local failure (or destroy(err)); 'close' follows. Attach a listener. */
  error: (err: Error) => void
}

/**
 * A connected byte duplex with backpressure both ways. Mirrors the parts of
 * net.Socket the session layer needs: write() returns false above the
 * high-water mark (wait for 'drain'); pause()/resume() stop and restart
 * 'data' so a slow reader pushes back on the remote writer. The written chunk
 * must not be modified afterwards (tcp hands it to the kernel without a copy).
 * A Conn starts flowing when a 'data' listener is attached, unless pause()
 * was called explicitly, in which case it waits for resume().
 */
export interface Conn {
  write(chunk: Uint8Array): boolean
  pause(): void
  resume(): void
  /** Graceful close: pending bytes are delivered, then both sides see 'close'. */
  end(): void
  /** Immediate close; unsent bytes are dropped. */
  destroy(err?: Error): void
  on<E extends keyof ConnEvents>(event: E, listener: ConnEvents[E]): this
  once<E extends keyof ConnEvents>(event: E, listener: ConnEvents[E]): this
  off<E extends keyof ConnEvents>(event: E, listener: ConnEvents[E]): this
  readonly destroyed: boolean
  /** Bytes accepted by write() and not yet handed on (to the kernel, or to the reader). */
  readonly writableLength: number
  /**
   * write() returns false once writableLength reaches this, and only then is
   * a 'drain' promised. Optional: a Session uses it so that a send() it
   * answers with false is always followed by a 'drain'.
   */
  readonly writableHighWaterMark?: number
  readonly remoteHost: string
  readonly remotePort: number
  readonly localHost: string
  readonly localPort: number
  /** The underlying socket (tcp only), for socket options. */
  readonly socket?: Socket
}

export interface Address {
  host: string
  port: number
}

export interface Listener {
  /** The bound address (the real port when 0 was asked for). */
  readonly address: Address
  /** Stops accepting; resolves once the listening endpoint is gone. Accepted Conns stay open. */
  close(): Promise<void>
}

export interface DialOptions {
  /** Give up (P4Error 'TIMEOUT') after this many milliseconds. Default 10 000. */
  timeoutMs?: number
}

export interface Transport {
  readonly name: string
  listen(host: string, port: number, onConnection: (conn: Conn) => void): Promise<Listener>
  dial(host: string, port: number, opts?: DialOptions): Promise<Conn>
  /**
   * Dials host:port from `localPort`, a port one of this transport's
   * listeners holds (hole punching: both ends dial each other at once, a TCP
   * simultaneous open). Optional; punchUnavailable() says why it cannot be
   * used (tcp: without the native addon). Rejects UNREACHABLE, TIMEOUT or
   * UNSUPPORTED.
   */
  dialFrom?(localPort: number, host: string, port: number, opts?: DialOptions): Promise<Conn>
  /** Why dialFrom cannot be used here, or null when it can. */
  punchUnavailable?(): string | null
}

export const DEFAULT_DIAL_TIMEOUT_MS = 10_000

/** Validates a host/port pair; port 0 is allowed only for listen. Throws BAD_ARGUMENT. */
export function checkAddress(host: unknown, port: unknown, listening: boolean): void {
  if (typeof host !== 'string' || host.length === 0 || host.length > 255) {
    throw new P4Error('BAD_ARGUMENT', `host must be a non-empty string, got ${describe(host)}`)
  }
  const min = listening ? 0 : 1
  if (typeof port !== 'number' || !Number.isInteger(port) || port < min || port > 65535) {
    throw new P4Error('BAD_ARGUMENT', `port must be an integer ${min}..65535, got ${describe(port)}`)
  }
}

/** The dial timeout from options, validated. Throws BAD_ARGUMENT. */
export function checkTimeout(opts: DialOptions | undefined): number {
  const ms = opts?.timeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS
  if (typeof ms !== 'number' || !(ms > 0) || !Number.isFinite(ms)) {
    throw new P4Error('BAD_ARGUMENT', `timeoutMs must be a positive number, got ${String(ms)}`)
  }
  return ms
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value)
}
