// What the p4net command's settings are (config.ts resolves them): the
// Settings a config file may hold, which source each value came from, and the
// check every source puts each value through.
import { P4Error } from '../core/errors.js'
import type { OverlayTimers } from '../node.js'
import type { Quotas } from '../overlay/quotas.js'
import type { TrustConfig } from '../overlay/trust.js'
import type { SocketOptions } from '../native/index.js'
import { problemOf, type NodeOptions, type OptionEntry } from '../options.js'
import type { Values } from './args.js'

/** What a config file may hold: NodeOptions that can be written as JSON. */
export interface Settings {
  username?: string
  host?: string
  port?: number
  advertiseHost?: string
  bootstrap?: string[]
  dataDir?: string
  links?: { min?: number; max?: number; hardCap?: number }
  profile?: 'default' | 'small'
  trust?: TrustConfig
  /** Username certificate (authority policy), base64. */
  certificate?: string
  discover?: { forwardProbability?: number; minHops?: number; maxHops?: number }
  timers?: Partial<OverlayTimers>
  dedup?: { capacity?: number; ttlMs?: number }
  maxMessage?: number
  hopLimit?: number
  maxUsers?: number
  maxDirect?: number
  highWaterMark?: number
  quotas?: Partial<Quotas>
  socket?: SocketOptions
  lan?: { enabled?: boolean; group?: string; port?: number; intervalMs?: number }
}

// Compile-time guard: every config key is a NodeOptions key.
const _mirrorsNodeOptions: Record<Exclude<keyof Settings, keyof NodeOptions>, never> = {}
void _mirrorsNodeOptions

export type Origin = 'flag' | 'env' | 'file' | 'default'

export interface ResolvedSettings extends Settings {
  host: string
  port: number
  bootstrap: string[]
  dataDir: string
}

export interface ResolvedConfig {
  settings: ResolvedSettings
  /** The config file read, if any (absolute path). */
  file: string | undefined
  /** Which layer each key came from. */
  origin: Partial<Record<keyof Settings, Origin>>
  /** Which layer each value came from, per dotted option name ("links.min"). */
  sources: Record<string, Origin>
}

export interface ConfigInput {
  /** Command name, for error messages. */
  command: string
  /** Raw parseArgs values (flag names as on the command line). */
  flags?: Values
  env?: Record<string, string | undefined>
  cwd?: string
  home?: string
  platform?: NodeJS.Platform
}

export function fail(label: string, problem: string): never {
  throw new P4Error('BAD_CONFIG', `${label} ${problem}`)
}

/** A checked value in its config-file form (list items trimmed). */
export function checked(e: OptionEntry, v: unknown, label: (index?: number) => string): unknown {
  const p = problemOf(e, v, 'file')
  if (p) fail(label(p.index), p.problem)
  return e.kind === 'addresses' ? (v as string[]).map((a) => a.trim()) : v
}

