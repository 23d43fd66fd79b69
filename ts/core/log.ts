// Per-module debug output, the successor of P4's per-module debug switches.
// Each module logs through util.debuglog('p4net:<module>'), silent unless
// NODE_DEBUG names it: NODE_DEBUG=p4net:overlay,p4net:cli, or p4net* for all.
import { debuglog } from 'node:util'

/** Modules that log; docs/cli.md lists what each one reports. */
export const DEBUG_MODULES = ['overlay', 'cli', 'config', 'control', 'chat', 'demo'] as const
export type DebugModule = (typeof DEBUG_MODULES)[number]

export type DebugLogger = (format: string, ...args: unknown[]) => void

/** A printf-style logger for `p4net:<module>` (free when the module is off). */
export function debug(module: DebugModule): DebugLogger {
  return debuglog(`p4net:${module}`)
}
