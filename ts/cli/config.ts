// Settings of the p4net command, from four layers, highest first:
//   1. command-line flags   2. environment (P4NET_*)
//   3. a JSON config file   4. defaults
// Config keys mirror NodeOptions. Every value is checked where it comes
// from, so an error names its flag, variable, or file and key.
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { P4Error } from '../core/errors.js'
import type { NodeOptions } from '../node.js'
import { parseAddress } from '../node.js'
import { isValidHost } from '../overlay/messages.js'
import type { OverlayTimers } from '../node.js'
import { createTrustPolicy, parseTrustConfig, type TrustConfig, type TrustPolicy } from '../overlay/trust.js'
import { usernameProblem } from '../core/username.js'
import { DEDUP_MAX_CAPACITY, DEDUP_MIN_CAPACITY } from '../wasm/dedup.js'
import { debug } from '../core/log.js'
import { usageError, type Values } from './args.js'

const log = debug('config')

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

export const CONFIG_FILE_NAME = 'p4net.config.json'
export const USER_CONFIG_FILE_NAME = 'config.json'

function fail(label: string, problem: string): never {
  throw new P4Error('BAD_CONFIG', `${label} ${problem}`)
}

function show(v: unknown): string {
  const s = JSON.stringify(v)
  return s === undefined ? String(v) : s.length > 40 ? s.slice(0, 37) + '...' : s
}

type Check = (v: unknown, label: string) => unknown

const int =
  (min: number, max: number): Check =>
  (v, label) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(label, `must be an integer ${min}..${max}, got ${show(v)}`)
    return v
  }

const text: Check = (v, label) => {
  if (typeof v !== 'string' || v.length === 0) fail(label, `must be a non-empty string, got ${show(v)}`)
  return v
}

const host: Check = (v, label) => {
  if (!isValidHost(text(v, label))) fail(label, `must be a host name or IP address, got ${show(v)}`)
  return v
}

const username: Check = (v, label) => {
  const why = usernameProblem(v)
  if (why !== undefined) fail(label, `is not a valid username (${why})`)
  return v
}

const address = (v: unknown, label: string): string => {
  if (typeof v !== 'string') fail(label, `must be a "host:port" string, got ${show(v)}`)
  try {
    parseAddress(v)
  } catch {
    fail(label, `must look like host:port (port 1..65535), got ${show(v)}`)
  }
  return v.trim()
}

const bootstrap: Check = (v, label) => {
  if (!Array.isArray(v)) fail(label, `must be an array of "host:port" strings, got ${show(v)}`)
  return v.map((a, i) => address(a, label.endsWith('"') ? `${label.slice(0, -1)}[${i}]"` : `${label}[${i}]`))
}

const object =
  (fields: Record<string, Check>): Check =>
  (v, label) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(label, `must be an object with keys ${Object.keys(fields).join(', ')}`)
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) {
      const check = fields[k]
      const sub = label.endsWith('"') ? `${label.slice(0, -1)}.${k}"` : `${label}.${k}`
      if (!check) fail(sub, `is not a known key (known: ${Object.keys(fields).join(', ')})`)
      out[k] = check(x, sub)
    }
    return out
  }

const TIMER_KEYS: Record<keyof OverlayTimers, true> = {
  maintenanceMs: true,
  pingIntervalMs: true,
  linkMinAgeMs: true,
  directIdleMs: true,
  helloRefreshMs: true,
  userTimeoutMs: true,
  handshakeTimeoutMs: true,
  requestTimeoutMs: true,
  walkTimeoutMs: true,
  lkaSyncMs: true,
  clockSkewMs: true,
}
const MS = int(1, 2 ** 31 - 1)

const probability: Check = (v, label) => {
  if (typeof v !== 'number' || !(v >= 0 && v < 1)) fail(label, `must be a number in [0, 1), got ${show(v)}`)
  return v
}

/** Fields of the nested keys, also used by flags like --min-links (links.min). */
const FIELDS: Partial<Record<keyof Settings, Record<string, Check>>> = {
  links: { min: int(0, 4096), max: int(1, 4096), hardCap: int(1, 4096) },
  discover: { forwardProbability: probability, minHops: int(0, 255), maxHops: int(1, 255) },
  timers: Object.fromEntries(Object.keys(TIMER_KEYS).map((k) => [k, MS])),
  dedup: { capacity: int(DEDUP_MIN_CAPACITY, DEDUP_MAX_CAPACITY), ttlMs: MS },
}

const CHECKS: Record<keyof Settings, Check> = {
  username,
  host,
  port: int(0, 65535),
  advertiseHost: host,
  bootstrap,
  dataDir: text,
  links: object(FIELDS.links!),
  profile: (v, label) => {
    if (v !== 'default' && v !== 'small') fail(label, `must be "default" or "small", got ${show(v)}`)
    return v
  },
  trust: (v, label) => {
    try {
      return parseTrustConfig(v)
    } catch (err) {
      return fail(label, `is invalid: ${(err as Error).message}`)
    }
  },
  certificate: (v, label) => {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(v) || Buffer.from(v, 'base64').toString('base64') !== v) fail(label, 'must be base64')
    return v
  },
  discover: object(FIELDS.discover!),
  timers: object(FIELDS.timers!),
  dedup: object(FIELDS.dedup!),
  maxMessage: int(1, 256 * 1024 * 1024),
  hopLimit: int(1, 255),
  maxUsers: int(1, 1 << 20),
  maxDirect: int(1, 4096),
  highWaterMark: int(1024, 1 << 30),
}

/** Keys merged field by field across layers (others are replaced whole). */
const NESTED = new Set<keyof Settings>(['links', 'discover', 'timers', 'dedup'])

/**
 * Settings that flags and environment variables can give, as strings.
 * `path` is the config key (dotted for nested ones).
 */
interface StringSetting {
  path: string
  flag: string
  env: string
  kind: 'string' | 'int' | 'list' | 'path'
}

export const STRING_SETTINGS: readonly StringSetting[] = [
  { path: 'username', flag: 'username', env: 'P4NET_USERNAME', kind: 'string' },
  { path: 'host', flag: 'host', env: 'P4NET_HOST', kind: 'string' },
  { path: 'port', flag: 'port', env: 'P4NET_PORT', kind: 'int' },
  { path: 'advertiseHost', flag: 'advertise-host', env: 'P4NET_ADVERTISE_HOST', kind: 'string' },
  { path: 'bootstrap', flag: 'bootstrap', env: 'P4NET_BOOTSTRAP', kind: 'list' },
  { path: 'dataDir', flag: 'data-dir', env: 'P4NET_DATA_DIR', kind: 'path' },
  { path: 'profile', flag: 'profile', env: 'P4NET_PROFILE', kind: 'string' },
  { path: 'links.min', flag: 'min-links', env: 'P4NET_MIN_LINKS', kind: 'int' },
  { path: 'links.max', flag: 'max-links', env: 'P4NET_MAX_LINKS', kind: 'int' },
]

function fromString(raw: string | string[], kind: StringSetting['kind'], cwd: string): unknown {
  switch (kind) {
    case 'int': {
      const s = String(raw).trim()
      return /^-?\d+$/.test(s) ? Number(s) : s
    }
    case 'list':
      return (Array.isArray(raw) ? raw : [raw])
        .flatMap((s) => s.split(','))
        .map((s) => s.trim())
        .filter((s) => s.length > 0)
    case 'path':
      return typeof raw === 'string' && raw.length > 0 ? resolve(cwd, raw) : raw
    default:
      return raw
  }
}

/** Builds one layer from string values; `label(s)` names each source in errors. */
function stringLayer(get: (s: StringSetting) => string | string[] | undefined, label: (s: StringSetting) => string, cwd: string): Settings {
  const out: Record<string, unknown> = {}
  for (const s of STRING_SETTINGS) {
    const raw = get(s)
    if (raw === undefined) continue
    const [key, sub] = s.path.split('.') as [keyof Settings, string | undefined]
    const value = fromString(raw, s.kind, cwd)
    if (sub === undefined) {
      out[key] = CHECKS[key](value, label(s))
    } else {
      out[key] = { ...(out[key] as object | undefined), [sub]: FIELDS[key]![sub]!(value, label(s)) }
    }
  }
  return out as Settings
}

/** The flags layer. Bad values are usage errors naming the flag. */
export function settingsFromFlags(flags: Values, command: string, cwd = process.cwd()): Settings {
  try {
    return stringLayer((s) => (flags[s.flag] as string | string[] | undefined), (s) => `--${s.flag}`, cwd)
  } catch (err) {
    if (err instanceof P4Error && err.code === 'BAD_CONFIG') throw usageError(command, err.message)
    throw err
  }
}

/** The environment layer (P4NET_*); an empty variable counts as unset. */
export function settingsFromEnv(env: Record<string, string | undefined>, cwd = process.cwd()): Settings {
  return stringLayer((s) => (env[s.env] ? env[s.env] : undefined), (s) => s.env, cwd)
}

function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path)
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path
}

function expandHome(p: string, home: string): string {
  return p === '~' ? home : p.startsWith('~/') || p.startsWith(`~${sep}`) ? join(home, p.slice(2)) : p
}

/**
 * Validates a parsed config file object. Unknown keys are errors. A relative
 * dataDir is relative to the file's directory.
 */
export function validateConfig(doc: unknown, display: string, fileDir: string, home = homedir()): Settings {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail(`${display}:`, 'must hold a JSON object')
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(doc)) {
    const check = CHECKS[k as keyof Settings]
    if (!check) fail(`${display}: "${k}"`, `is not a known key (known: ${Object.keys(CHECKS).join(', ')})`)
    out[k] = check(v, `${display}: "${k}"`)
  }
  if (typeof out.dataDir === 'string') out.dataDir = resolve(fileDir, expandHome(out.dataDir, home))
  return out as Settings
}

/** Reads and validates a config file; BAD_CONFIG names the file (and key). */
export function readConfigFile(path: string, cwd = process.cwd(), home = homedir()): Settings {
  const display = displayPath(path, cwd)
  let textIn: string
  try {
    textIn = readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new P4Error('BAD_CONFIG', code === 'ENOENT' ? `${display}: config file not found` : `${display}: cannot read: ${(err as Error).message}`)
  }
  let doc: unknown
  try {
    doc = JSON.parse(textIn)
  } catch (err) {
    throw new P4Error('BAD_CONFIG', `${display}: not valid JSON (${(err as Error).message})`)
  }
  return validateConfig(doc, display, dirname(path), home)
}

/**
 * The per-user config directory (also the default data directory):
 * $XDG_CONFIG_HOME/p4net, else ~/.config/p4net; on macOS ~/Library/Application
 * Support/p4net; on Windows %APPDATA%\p4net.
 */
export function userConfigDir(env: Record<string, string | undefined> = process.env, platform: NodeJS.Platform = process.platform, home = homedir()): string {
  if (platform === 'win32') return join(env.APPDATA || join(home, 'AppData', 'Roaming'), 'p4net')
  const xdg = env.XDG_CONFIG_HOME
  if (xdg && isAbsolute(xdg)) return join(xdg, 'p4net')
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'p4net')
  return join(home, '.config', 'p4net')
}

/** --config, else P4NET_CONFIG, else ./p4net.config.json, else <user config dir>/config.json (if they exist). */
export function findConfigFile(input: ConfigInput): string | undefined {
  const cwd = input.cwd ?? process.cwd()
  const env = input.env ?? process.env
  const explicit = (input.flags?.config as string | undefined) ?? (env.P4NET_CONFIG || undefined)
  if (explicit !== undefined) return resolve(cwd, explicit)
  const local = join(cwd, CONFIG_FILE_NAME)
  if (existsSync(local)) return local
  const user = join(userConfigDir(env, input.platform ?? process.platform, input.home ?? homedir()), USER_CONFIG_FILE_NAME)
  return existsSync(user) ? user : undefined
}

function merge(into: Record<string, unknown>, layer: Settings, origin: ResolvedConfig['origin'], name: Origin): void {
  for (const [k, v] of Object.entries(layer)) {
    if (v === undefined) continue
    const key = k as keyof Settings
    into[k] = NESTED.has(key) && typeof into[k] === 'object' ? { ...(into[k] as object), ...(v as object) } : v
    origin[key] = name
  }
}

/** Resolves the settings of one command: flags > environment > file > defaults. */
export function resolveConfig(input: ConfigInput): ResolvedConfig {
  const cwd = input.cwd ?? process.cwd()
  const env = input.env ?? process.env
  const home = input.home ?? homedir()
  const platform = input.platform ?? process.platform
  const flags = settingsFromFlags(input.flags ?? {}, input.command, cwd)
  const fromEnv = settingsFromEnv(env, cwd)
  const file = findConfigFile({ ...input, cwd, env, home, platform })
  const fromFile = file ? readConfigFile(file, cwd, home) : {}
  const defaults: ResolvedSettings = { host: '127.0.0.1', port: 0, bootstrap: [], dataDir: userConfigDir(env, platform, home) }
  const origin: ResolvedConfig['origin'] = {}
  const out: Record<string, unknown> = {}
  merge(out, defaults, origin, 'default')
  merge(out, fromFile, origin, 'file')
  merge(out, fromEnv, origin, 'env')
  merge(out, flags, origin, 'flag')
  log('file %s; sources %o', file ?? '(none)', origin)
  return { settings: out as unknown as ResolvedSettings, file, origin }
}

/** The username, or a usage error saying the three places it can come from. */
export function requireUsername(s: ResolvedSettings, command: string): string {
  if (s.username === undefined) throw usageError(command, 'a username is required (--username, P4NET_USERNAME, or "username" in the config file)')
  return s.username
}

/**
 * NodeOptions for `settings`. The trust policy is built here (not by the
 * node) so the command can flush its pins after node.stop().
 */
export function toNodeOptions(s: ResolvedSettings, username: string): { options: NodeOptions; trust: TrustPolicy } {
  const trust = createTrustPolicy(s.trust, { dataDir: s.dataDir })
  const { certificate, ...rest } = s
  const options: NodeOptions = { ...rest, username, trust }
  if (certificate !== undefined) options.certificate = new Uint8Array(Buffer.from(certificate, 'base64'))
  return { options, trust }
}
