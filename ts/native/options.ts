// Socket option types shared by the native and fallback tuners, and their
// validation. Ranges follow the Linux limits so a bad value fails here with
// BAD_OPTION rather than later as an EINVAL from the kernel.
import type { Socket } from 'node:net'
import { P4Error } from '../core/errors.js'

export interface KeepAliveOptions {
  /** Idle time before the first probe; whole seconds (kernel granularity), 1 s ..= 32 767 s. */
  idleMs: number
  /** Time between unanswered probes; whole seconds, 1 s ..= 32 767 s. */
  intervalMs: number
  /** Unanswered probes before the connection is dropped, 1 ..= 127. */
  count: number
}

export interface SocketOptions {
  /** TCP_NODELAY: send small writes at once instead of coalescing them (Nagle). */
  noDelay?: boolean
  /** TCP_QUICKACK (Linux): leave delayed-ACK mode. The kernel may re-enter it later. */
  quickAck?: boolean
  /** SO_SNDBUF in bytes, 1 ..= 2^30. Fixes the size (turns off the kernel's autotuning). */
  sendBuffer?: number
  /** SO_RCVBUF in bytes, 1 ..= 2^30. Fixes the size (turns off the kernel's autotuning). */
  receiveBuffer?: number
  /** SO_KEEPALIVE with its timers, or false to turn keepalive off. */
  keepAlive?: KeepAliveOptions | false
  /** TCP_USER_TIMEOUT (Linux): drop the connection when sent data stays unacknowledged this long; 0 = system default. */
  userTimeoutMs?: number
}

/** Names used in TuneResult: the SocketOptions keys, with keepAlive's parts spelled out. */
export type SocketOptionName =
  | 'noDelay'
  | 'quickAck'
  | 'sendBuffer'
  | 'receiveBuffer'
  | 'keepAlive'
  | 'keepAlive.idleMs'
  | 'keepAlive.intervalMs'
  | 'keepAlive.count'
  | 'userTimeoutMs'

/** What apply() did: every requested option is in exactly one of the two lists. */
export interface TuneResult {
  applied: SocketOptionName[]
  skipped: { option: SocketOptionName; reason: string }[]
}

/**
 * Current values as the kernel reports them (native only; the fallback can
 * read nothing). sendBuffer/receiveBuffer read back doubled on Linux, which
 * counts its bookkeeping overhead in the buffer.
 */
export interface SocketReading {
  noDelay?: boolean
  quickAck?: boolean
  sendBuffer?: number
  receiveBuffer?: number
  keepAlive?: KeepAliveOptions | false
  userTimeoutMs?: number
}

/**
 * The kernel's view of a connection (Linux TCP_INFO; macOS TCP_CONNECTION_INFO
 * converted to the same units). rttUs, rttVarUs and sndCwnd are always there;
 * the rest only where the platform reports them.
 */
export interface TcpInfo {
  rttUs: number
  rttVarUs: number
  /** Congestion window in segments. */
  sndCwnd: number
  state?: number
  caState?: number
  /** Consecutive unrecovered retransmission timeouts right now. */
  retransmits?: number
  /** Segments retransmitted over the connection's life. */
  totalRetrans?: number
  probes?: number
  backoff?: number
  rtoUs?: number
  atoUs?: number
  sndMss?: number
  rcvMss?: number
  /** Segments sent and not yet acknowledged. */
  unacked?: number
  sacked?: number
  lost?: number
  retrans?: number
  /** The kernel's segments-in-flight count: unacked - sacked - lost + retrans. */
  packetsInFlight?: number
  lastDataSentMs?: number
  lastDataRecvMs?: number
  lastAckRecvMs?: number
  pmtu?: number
  sndSsthresh?: number
  advMss?: number
  reordering?: number
  rcvRttUs?: number
  rcvSpace?: number
  minRttUs?: number
  bytesAcked?: number
  bytesReceived?: number
  bytesSent?: number
  bytesRetrans?: number
  segsOut?: number
  segsIn?: number
  notsentBytes?: number
  /** Bytes per second. */
  deliveryRate?: number
}

const KEYS = new Set(['noDelay', 'quickAck', 'sendBuffer', 'receiveBuffer', 'keepAlive', 'userTimeoutMs'])
const KEEPALIVE_KEYS = new Set(['idleMs', 'intervalMs', 'count'])
const MAX_BUFFER = 2 ** 30
const MAX_KEEP_SECONDS = 32_767
const MAX_KEEP_COUNT = 127
const MAX_USER_TIMEOUT_MS = 2 ** 31 - 1

/** Validates socket options; returns a fresh copy. Throws P4Error BAD_OPTION. */
export function checkSocketOptions(opts: unknown): SocketOptions {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new P4Error('BAD_OPTION', `socket options must be an object, got ${show(opts)}`)
  }
  const o = opts as Record<string, unknown>
  for (const key of Object.keys(o)) {
    if (!KEYS.has(key)) throw new P4Error('BAD_OPTION', `unknown socket option ${JSON.stringify(key)}`)
  }
  const out: SocketOptions = {}
  if (o.noDelay !== undefined) out.noDelay = bool(o.noDelay, 'noDelay')
  if (o.quickAck !== undefined) out.quickAck = bool(o.quickAck, 'quickAck')
  if (o.sendBuffer !== undefined) out.sendBuffer = int(o.sendBuffer, 'sendBuffer', 1, MAX_BUFFER)
  if (o.receiveBuffer !== undefined) out.receiveBuffer = int(o.receiveBuffer, 'receiveBuffer', 1, MAX_BUFFER)
  if (o.userTimeoutMs !== undefined) out.userTimeoutMs = int(o.userTimeoutMs, 'userTimeoutMs', 0, MAX_USER_TIMEOUT_MS)
  if (o.keepAlive !== undefined) out.keepAlive = keepAlive(o.keepAlive)
  return out
}

function keepAlive(value: unknown): KeepAliveOptions | false {
  if (value === false) return false
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new P4Error('BAD_OPTION', `keepAlive must be false or { idleMs, intervalMs, count }, got ${show(value)}`)
  }
  const k = value as Record<string, unknown>
  for (const key of Object.keys(k)) {
    if (!KEEPALIVE_KEYS.has(key)) throw new P4Error('BAD_OPTION', `unknown keepAlive option ${JSON.stringify(key)}`)
  }
  return {
    idleMs: seconds(k.idleMs, 'keepAlive.idleMs'),
    intervalMs: seconds(k.intervalMs, 'keepAlive.intervalMs'),
    count: int(k.count, 'keepAlive.count', 1, MAX_KEEP_COUNT),
  }
}

function seconds(value: unknown, what: string): number {
  const ms = int(value, what, 1000, MAX_KEEP_SECONDS * 1000)
  if (ms % 1000 !== 0) throw new P4Error('BAD_OPTION', `${what} must be a whole number of seconds, got ${ms} ms`)
  return ms
}

function bool(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw new P4Error('BAD_OPTION', `${what} must be a boolean, got ${show(value)}`)
  return value
}

function int(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new P4Error('BAD_OPTION', `${what} must be an integer ${min}..${max}, got ${show(value)}`)
  }
  return value
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object'
  return String(value)
}

/** Applies socket options through the addon (kind 'native') or through what Node offers ('fallback'). */
export interface SocketTuner {
  readonly kind: 'native' | 'fallback'
  /** Validates `opts` (BAD_OPTION) and applies them; reports each option as applied or skipped, never silently dropped. */
  apply(socket: Socket, opts: SocketOptions): TuneResult
  /** Current values where readable (empty in the fallback, or without a file descriptor). Throws IO_ERROR if the kernel refuses. */
  read(socket: Socket): SocketReading
  /** The kernel's TCP_INFO; undefined in the fallback, on unsupported platforms, or without a file descriptor. Throws IO_ERROR if the kernel refuses. */
  tcpInfo(socket: Socket): TcpInfo | undefined
}
