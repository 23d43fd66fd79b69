// The optional native addon (native/) and its TypeScript fallback. The
// package ships a prebuilt binary per supported platform
// (prebuilds/<platform>-<arch>/, made by scripts/prebuild.js); a checkout can
// also build one with `npm run build:native` (build/Release/). The only module of ts/native/
// others import. Set P4NET_NO_NATIVE=1 to run without the addon; with
// NODE_DEBUG=p4net:native the process says once which one it uses and why.
import { createRequire } from 'node:module'
import type { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { debuglog } from 'node:util'
import { nativeTuner, type NativeAddon } from './addon.js'
import { fallbackTuner } from './fallback.js'
import type { SocketTuner } from './options.js'

export { checkSocketOptions } from './options.js'
export type {
  KeepAliveOptions,
  SocketOptionName,
  SocketOptions,
  SocketReading,
  SocketTuner,
  TcpInfo,
  TuneResult,
} from './options.js'
export { nativeTuner, socketFd, type NativeAddon, type NativeOptionName } from './addon.js'
export { fallbackTuner } from './fallback.js'

const debug = debuglog('p4net:native')

/**
 * Where the addon is looked for, in order: the prebuilt binary for this
 * platform and architecture, then a local build (`npm run build:native`).
 * Relative to dist/ts/native/, the compiled location of this file.
 */
export function addonPaths(platform: string = process.platform, arch: string = process.arch): string[] {
  return [`../../../prebuilds/${platform}-${arch}/p4net_native.node`, '../../../build/Release/p4net_native.node', '../../../build/Debug/p4net_native.node']
}

let loaded: NativeAddon | null | undefined
let unavailable: string | undefined
let tuner: SocketTuner | undefined

/** True when P4NET_NO_NATIVE asks to run without the addon (any value but '' and '0'). */
export function nativeDisabled(): boolean {
  const v = process.env.P4NET_NO_NATIVE
  return v !== undefined && v !== '' && v !== '0'
}

/** The addon, or null when it is disabled, was not built, or does not load. Loaded once per process. */
export function loadNative(): NativeAddon | null {
  if (loaded !== undefined) return loaded
  loaded = null
  if (nativeDisabled()) {
    unavailable = 'disabled by P4NET_NO_NATIVE'
    debug('p4net runs without the native addon: %s', unavailable)
    return loaded
  }
  const require = createRequire(import.meta.url)
  const errors: string[] = []
  for (const rel of addonPaths()) {
    const file = fileURLToPath(new URL(rel, import.meta.url))
    try {
      const addon = require(file) as NativeAddon
      if (typeof addon?.setOption !== 'function' || typeof addon.supported !== 'object') {
        errors.push(`${file}: not the p4net addon`)
        continue
      }
      debug('native addon loaded from %s (%s)', file, addon.platform)
      loaded = addon
      return loaded
    } catch (err) {
      const code = (err as { code?: unknown }).code
      errors.push(code === 'MODULE_NOT_FOUND' ? `${file}: not built` : `${file}: ${(err as Error).message}`)
    }
  }
  unavailable = errors.join('; ')
  debug('p4net runs without the native addon (using the TypeScript fallback): %s', unavailable)
  return loaded
}

/** Why loadNative() returned null (loading it if not yet tried); undefined when the addon is loaded. */
export function nativeUnavailableReason(): string | undefined {
  loadNative()
  return unavailable
}

/** The process-wide tuner: native when the addon loads, else the fallback. */
export function socketTuner(): SocketTuner {
  tuner ??= ((addon) => (addon ? nativeTuner(addon) : fallbackTuner()))(loadNative())
  return tuner
}

/** A connection's live TCP figures, for node.links(). */
export interface ConnInfo {
  rttMs: number
  rttVarMs: number
  /** Segments retransmitted over the connection's life; undefined where the platform does not count them. */
  retransmits: number | undefined
  /** Congestion window in segments. */
  cwnd: number
}

/**
 * RTT, variance, retransmissions and congestion window of a connection's TCP
 * socket; undefined without the addon, for non-TCP conns (memory transport),
 * and for closed sockets. Never throws.
 */
export function connInfo(conn: { readonly socket?: Socket } | undefined): ConnInfo | undefined {
  const socket = conn?.socket
  if (socket === undefined || socket.destroyed) return undefined
  try {
    const info = socketTuner().tcpInfo(socket)
    if (info === undefined) return undefined
    return { rttMs: info.rttUs / 1000, rttVarMs: info.rttVarUs / 1000, retransmits: info.totalRetrans, cwnd: info.sndCwnd }
  } catch {
    return undefined
  }
}

/** Binding a socket to a port a listener holds (hole punching), or why this process cannot. */
export interface PortSharing {
  /** Sets SO_REUSEPORT on a listening socket's descriptor. */
  shareListener(fd: number): void
  /** A new TCP socket bound to host:port with SO_REUSEADDR and SO_REUSEPORT; its descriptor, unconnected. */
  bind(host: string, port: number): number
}

/**
 * The addon's port sharing, or a string saying why there is none (no addon,
 * P4NET_NO_NATIVE, an addon without bindReusable, a platform without
 * SO_REUSEPORT). node:net cannot bind a socket to a port its own server
 * listens on, so without this there is no hole punching.
 */
export function portSharing(): PortSharing | string {
  const addon = loadNative()
  if (addon === null) return `no native addon (${unavailable ?? 'not loaded'})`
  const bind = addon.bindReusable
  if (typeof bind !== 'function' || !addon.supported.bindReusable || !addon.supported.reusePort) return `the native addon cannot share a port on ${addon.platform}`
  return {
    shareListener: (fd) => addon.setOption(fd, 'reusePort', 1),
    bind: (host, port) => bind.call(addon, host, port),
  }
}
