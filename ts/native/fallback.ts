// The TypeScript fallback: only what node:net offers (setNoDelay, and
// setKeepAlive with an initial delay). Everything else is reported as
// skipped, so a caller can tell it was not applied.
import type { Socket } from 'node:net'
import { checkSocketOptions, type SocketOptions, type SocketTuner, type TuneResult } from './options.js'

export const NEEDS_ADDON = 'needs the native addon'

/**
 * Applies the options Node itself can set. Both tuners use it, so Node's own
 * bookkeeping (it skips setNoDelay/setKeepAlive calls that change nothing)
 * stays in step with the socket.
 */
export function applyWithNode(socket: Socket, opts: SocketOptions, result: TuneResult): void {
  if (opts.noDelay !== undefined) {
    socket.setNoDelay(opts.noDelay)
    result.applied.push('noDelay')
  }
  if (opts.keepAlive === false) {
    socket.setKeepAlive(false)
    result.applied.push('keepAlive')
  } else if (opts.keepAlive !== undefined) {
    socket.setKeepAlive(true, opts.keepAlive.idleMs)
    result.applied.push('keepAlive', 'keepAlive.idleMs')
  }
}

/** Skips, with `reason`, every option applyWithNode cannot set. */
export function skipRest(opts: SocketOptions, result: TuneResult, reason: string): void {
  if (opts.keepAlive) {
    // libuv picks its own probe interval and count.
    result.skipped.push({ option: 'keepAlive.intervalMs', reason }, { option: 'keepAlive.count', reason })
  }
  if (opts.quickAck !== undefined) result.skipped.push({ option: 'quickAck', reason })
  if (opts.sendBuffer !== undefined) result.skipped.push({ option: 'sendBuffer', reason })
  if (opts.receiveBuffer !== undefined) result.skipped.push({ option: 'receiveBuffer', reason })
  if (opts.userTimeoutMs !== undefined) result.skipped.push({ option: 'userTimeoutMs', reason })
}

export function fallbackTuner(): SocketTuner {
  return {
    kind: 'fallback',
    apply(socket, opts) {
      const checked = checkSocketOptions(opts)
      const result: TuneResult = { applied: [], skipped: [] }
      applyWithNode(socket, checked, result)
      skipRest(checked, result, NEEDS_ADDON)
      return result
    },
    // node:net has no getters for socket options.
    read: () => ({}),
    tcpInfo: () => undefined,
  }
}
