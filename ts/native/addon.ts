// The native tuner: Node's own setters where Node has them, the addon
// (setsockopt on the socket's file descriptor) for the rest, and getsockopt /
// TCP_INFO for reading back.
import type { Socket } from 'node:net'
import { P4Error } from '../core/errors.js'
import { applyWithNode, skipRest } from './fallback.js'
import {
  checkSocketOptions,
  type SocketOptionName,
  type SocketReading,
  type SocketTuner,
  type TcpInfo,
  type TuneResult,
} from './options.js'

/** Option names the addon understands (one setsockopt each). */
export type NativeOptionName =
  | 'noDelay'
  | 'quickAck'
  | 'sendBuffer'
  | 'receiveBuffer'
  | 'keepAlive'
  | 'keepIdle'
  | 'keepInterval'
  | 'keepCount'
  | 'userTimeout'
  /** SO_REUSEPORT, set on a listener so a punching socket can share its port. */
  | 'reusePort'

/** p4net_native.node (prebuilds/<platform>-<arch>/ or build/Release/), as native/addon.cc exports it. */
export interface NativeAddon {
  /** Which options (and tcpInfo) this platform's build supports. */
  readonly supported: Readonly<Record<NativeOptionName | 'tcpInfo' | 'bindReusable', boolean>>
  readonly platform: string
  /** setsockopt; throws an Error with the errno text and `code` (EBADF, EINVAL, ...), or code ERR_P4NET_UNSUPPORTED. */
  setOption(fd: number, name: NativeOptionName, value: number): void
  /** getsockopt, the raw kernel value (seconds for keepIdle/keepInterval, ms for userTimeout). */
  getOption(fd: number, name: NativeOptionName): number
  tcpInfo(fd: number): TcpInfo
  /** A new TCP socket with SO_REUSEADDR and SO_REUSEPORT, bound to host:port, unconnected (absent in addons built before 0.x punching). */
  bindReusable?(host: string, port: number): number
}

const NO_FD = 'socket has no file descriptor (not connected, or not a Unix socket)'

/**
 * The socket's file descriptor. Relies on net.Socket's internal `_handle.fd`
 * (a libuv TCP handle; -1 or absent on Windows and before connect), so it
 * checks the shape and returns undefined whenever it is not a usable fd.
 */
export function socketFd(socket: Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } | null })._handle
  const fd = handle?.fd
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : undefined
}

export function nativeTuner(addon: NativeAddon): SocketTuner {
  // Sets one option through the addon, recording the outcome under `option`.
  const set = (fd: number, result: TuneResult, option: SocketOptionName, name: NativeOptionName, value: number): void => {
    if (!addon.supported[name]) {
      result.skipped.push({ option, reason: `${name} is not supported on ${addon.platform}` })
      return
    }
    try {
      addon.setOption(fd, name, value)
      result.applied.push(option)
    } catch (err) {
      result.skipped.push({ option, reason: (err as Error).message })
    }
  }

  const get = (fd: number, name: NativeOptionName): number | undefined => {
    if (!addon.supported[name]) return undefined
    try {
      return addon.getOption(fd, name)
    } catch (err) {
      throw new P4Error('IO_ERROR', `cannot read socket option ${name}: ${(err as Error).message}`, { cause: err })
    }
  }

  return {
    kind: 'native',

    apply(socket, opts) {
      const checked = checkSocketOptions(opts)
      const result: TuneResult = { applied: [], skipped: [] }
      applyWithNode(socket, checked, result)
      const fd = socketFd(socket)
      if (fd === undefined) {
        skipRest(checked, result, NO_FD)
        return result
      }
      const ka = checked.keepAlive
      if (ka) {
        // After Node's setKeepAlive (which set SO_KEEPALIVE and the idle
        // time), replacing the interval and count libuv chose.
        set(fd, result, 'keepAlive.intervalMs', 'keepInterval', ka.intervalMs / 1000)
        set(fd, result, 'keepAlive.count', 'keepCount', ka.count)
      }
      if (checked.quickAck !== undefined) set(fd, result, 'quickAck', 'quickAck', checked.quickAck ? 1 : 0)
      if (checked.sendBuffer !== undefined) set(fd, result, 'sendBuffer', 'sendBuffer', checked.sendBuffer)
      if (checked.receiveBuffer !== undefined) set(fd, result, 'receiveBuffer', 'receiveBuffer', checked.receiveBuffer)
      if (checked.userTimeoutMs !== undefined) set(fd, result, 'userTimeoutMs', 'userTimeout', checked.userTimeoutMs)
      return result
    },

    read(socket) {
      const fd = socketFd(socket)
      const out: SocketReading = {}
      if (fd === undefined) return out
      const flag = (name: NativeOptionName): boolean | undefined => {
        const v = get(fd, name)
        return v === undefined ? undefined : v !== 0
      }
      const noDelay = flag('noDelay')
      if (noDelay !== undefined) out.noDelay = noDelay
      const quickAck = flag('quickAck')
      if (quickAck !== undefined) out.quickAck = quickAck
      const sendBuffer = get(fd, 'sendBuffer')
      if (sendBuffer !== undefined) out.sendBuffer = sendBuffer
      const receiveBuffer = get(fd, 'receiveBuffer')
      if (receiveBuffer !== undefined) out.receiveBuffer = receiveBuffer
      const keepAlive = flag('keepAlive')
      if (keepAlive === false) out.keepAlive = false
      else if (keepAlive) {
        const idle = get(fd, 'keepIdle')
        const interval = get(fd, 'keepInterval')
        const count = get(fd, 'keepCount')
        if (idle !== undefined && interval !== undefined && count !== undefined) {
          out.keepAlive = { idleMs: idle * 1000, intervalMs: interval * 1000, count }
        }
      }
      const userTimeout = get(fd, 'userTimeout')
      if (userTimeout !== undefined) out.userTimeoutMs = userTimeout
      return out
    },

    tcpInfo(socket) {
      const fd = socketFd(socket)
      if (fd === undefined || !addon.supported.tcpInfo) return undefined
      try {
        return addon.tcpInfo(fd)
      } catch (err) {
        throw new P4Error('IO_ERROR', `cannot read TCP_INFO: ${(err as Error).message}`, { cause: err })
      }
    },
  }
}
