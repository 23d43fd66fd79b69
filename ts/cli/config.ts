// Settings of the p4net command, from four layers, highest first:
//   1. command-line flags   2. environment (P4NET_*)
//   3. a JSON config file   4. defaults
// Config keys mirror NodeOptions; every check, flag and variable comes from
// the option schema (ts/option-schema.ts). Each value is checked where it
// comes from, and each leaf remembers its source, so an error names the flag,
// variable, or file and key the user wrote, even for a pair of options.
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { P4Error } from '../core/errors.js'
import type { OverlayTimers } from '../node.js'
import type { Quotas } from '../overlay/quotas.js'
import { createTrustPolicy, type TrustConfig } from '../overlay/trust.js'
import type { TrustPolicy } from '../overlay/trust-policy.js'
import type { SocketOptions } from '../native/index.js'
import { debug } from '../core/log.js'
import {
  defaultOf,
  describeProblem,
  keysOf,
  OptionError,
  OPTIONS,
  optionEntry,
  problemOf,
  resolveOptionValues,
  show,
  type NodeOptions,
  type OptionEntry,
  type ProblemLabels,
} from '../options.js'
import { CONFIG_ENV, usageError, type Values } from './args.js'

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
  quotas?: Partial<Quotas>
  socket?: SocketOptions
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

export const CONFIG_FILE_NAME = 'p4net.config.json'
export const USER_CONFIG_FILE_NAME = 'config.json'

/** Options a config file may hold (createNode-only objects, like a transport, cannot be written as JSON). */
const FILE_KEYS = OPTIONS.filter((e) => !e.name.includes('.') && e.file !== false).map((e) => e.name)

/** Options a flag or an environment variable can give. */
export const TEXT_OPTIONS: readonly OptionEntry[] = OPTIONS.filter((e) => e.flag !== undefined || e.env !== undefined)

function fail(label: string, problem: string): never {
  throw new P4Error('BAD_CONFIG', `${label} ${problem}`)
}

/** The value of a flag or variable, typed as its entry wants it (a bad one is left for the check to name). */
function fromText(e: OptionEntry, raw: string | string[], cwd: string): unknown {
  if (e.kind === 'addresses') {
    return (Array.isArray(raw) ? raw : [raw])
      .flatMap((s) => s.split(','))
      .map((s) => s.trim())
      .filter((s) => s.length > 0)
  }
  const s = Array.isArray(raw) ? raw[raw.length - 1]! : raw
  if (e.kind === 'int') return /^\s*-?\d+\s*$/.test(s) ? Number(s) : s
  if (e.path) return s.length > 0 ? resolve(cwd, s) : s
  return s
}

/** A checked value in its config-file form (list items trimmed). */
function checked(e: OptionEntry, v: unknown, label: (index?: number) => string): unknown {
  const p = problemOf(e, v, 'file')
  if (p) fail(label(p.index), p.problem)
  return e.kind === 'addresses' ? (v as string[]).map((a) => a.trim()) : v
}

function setPath(out: Record<string, unknown>, name: string, v: unknown): void {
  const [key, sub] = name.split('.') as [string, string | undefined]
  out[key] = sub === undefined ? v : { ...(out[key] as object | undefined), [sub]: v }
}

/** Builds one layer from text values; `label(e)` names each source in errors. */
function textLayer(get: (e: OptionEntry) => string | string[] | undefined, label: (e: OptionEntry) => string, cwd: string): Settings {
  const out: Record<string, unknown> = {}
  for (const e of TEXT_OPTIONS) {
    const raw = get(e)
    if (raw === undefined) continue
    setPath(out, e.name, checked(e, fromText(e, raw, cwd), () => label(e)))
  }
  return out as Settings
}

/** The flags layer. Bad values are usage errors naming the flag. */
export function settingsFromFlags(flags: Values, command: string, cwd = process.cwd()): Settings {
  try {
    return textLayer((e) => (e.flag === undefined ? undefined : (flags[e.flag] as string | string[] | undefined)), (e) => `--${e.flag}`, cwd)
  } catch (err) {
    if (err instanceof P4Error && err.code === 'BAD_CONFIG') throw usageError(command, err.message)
    throw err
  }
}

/** The environment layer (P4NET_*); an empty variable counts as unset. */
export function settingsFromEnv(env: Record<string, string | undefined>, cwd = process.cwd()): Settings {
  return textLayer((e) => (e.env !== undefined && env[e.env] ? env[e.env] : undefined), (e) => e.env!, cwd)
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
    const e = FILE_KEYS.includes(k) ? optionEntry(k)! : undefined
    if (!e) fail(`${display}: "${k}"`, `is not a known key (known: ${FILE_KEYS.join(', ')})`)
    out[k] = checked(e, v, (i) => `${display}: "${k}${i === undefined ? '' : `[${i}]`}"`)
    if (e.kind !== 'group') continue
    const fields: Record<string, unknown> = {}
    for (const [f, x] of Object.entries(v as object)) {
      const sub = optionEntry(`${k}.${f}`)
      if (!sub) fail(`${display}: "${k}.${f}"`, `is not a known key (known: ${keysOf(k).join(', ')})`)
      fields[f] = checked(sub, x, () => `${display}: "${k}.${f}"`)
    }
    out[k] = fields
  }
  if (typeof out.dataDir === 'string') out.dataDir = resolve(fileDir, expandHome(out.dataDir, home))
  return out as Settings
}

/** Reads and validates a config file; BAD_CONFIG names the file (and key). */
export function readConfigFile(path: string, cwd = process.cwd(), home = homedir()): Settings {
  const display = displayPath(path, cwd)
  let textIn: string
  try {
    // A byte order mark (some editors on Windows write one) is not JSON, but the file is.
    textIn = readFileSync(path, 'utf8').replace(/^\uFEFF/, '')
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
  const explicit = (input.flags?.config as string | undefined) ?? (env[CONFIG_ENV] || undefined)
  if (explicit !== undefined) return resolve(cwd, explicit)
  const local = join(cwd, CONFIG_FILE_NAME)
  if (existsSync(local)) return local
  const user = join(userConfigDir(env, input.platform ?? process.platform, input.home ?? homedir()), USER_CONFIG_FILE_NAME)
  return existsSync(user) ? user : undefined
}

function merge(into: Record<string, unknown>, layer: Settings, cfg: Pick<ResolvedConfig, 'origin' | 'sources'>, name: Origin): void {
  for (const [k, v] of Object.entries(layer)) {
    if (v === undefined) continue
    const key = k as keyof Settings
    const group = optionEntry(k)?.kind === 'group'
    into[k] = group && typeof into[k] === 'object' ? { ...(into[k] as object), ...(v as object) } : v
    cfg.origin[key] = name
    if (group) for (const f of Object.keys(v as object)) cfg.sources[`${k}.${f}`] = name
    else cfg.sources[k] = name
  }
}

/** Names each option as the user wrote it: its flag, its variable, or its key in the file. */
function sourceLabels(sources: Record<string, Origin>, file: string): ProblemLabels {
  const at = (name: string): Origin => sources[name] ?? 'default'
  return {
    name(name, index) {
      const e = optionEntry(name)!
      switch (at(name)) {
        case 'flag':
          return `--${e.flag}`
        case 'env':
          return e.env!
        case 'file':
          return `${file}: "${name}${index === undefined ? '' : `[${index}]`}"`
        default:
          return name
      }
    },
    value(name, value, defaulted, profile) {
      const e = optionEntry(name)!
      switch (defaulted ? 'default' : at(name)) {
        case 'flag':
          return `--${e.flag} ${show(value)}`
        case 'env':
          return `${e.env}=${show(value)}`
        case 'file':
          return `"${name}": ${show(value)} in ${file}`
        default:
          return `${name} ${show(value)} (${profile === 'default' ? 'the default' : `the ${profile} profile's default`})`
      }
    },
  }
}

/**
 * Checks the options together, as the node will (min <= max <= hardCap, the
 * profile's defaults): a pair that does not fit is named by where each of
 * its values came from. A usage error when a flag is part of it.
 */
function checkTogether(settings: Record<string, unknown>, sources: Record<string, Origin>, file: string, command: string): void {
  const options: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(settings)) {
    const e = optionEntry(k)!
    options[k] = typeof e.file === 'function' ? e.file(v) : v
  }
  try {
    resolveOptionValues(options, true)
  } catch (err) {
    if (!(err instanceof OptionError)) throw err
    const d = err.detail
    const names = d.other && !d.other.defaulted ? [d.name, d.other.name] : [d.name]
    const from = names.map((n) => sources[n] ?? 'default')
    const message =
      d.other && !d.other.defaulted && from.every((o) => o === 'file')
        ? `${file}: "${d.name}": ${show(d.value)} ${d.problem} "${d.other.name}": ${show(d.other.value)}`
        : describeProblem(d, sourceLabels(sources, file))
    if (from.includes('flag')) throw usageError(command, message)
    throw new P4Error('BAD_CONFIG', message)
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
  const defaults: ResolvedSettings = {
    host: defaultOf('host') as string,
    port: defaultOf('port') as number,
    bootstrap: [...(defaultOf('bootstrap') as string[])],
    dataDir: userConfigDir(env, platform, home),
  }
  const cfg: Pick<ResolvedConfig, 'origin' | 'sources'> = { origin: {}, sources: {} }
  const out: Record<string, unknown> = {}
  merge(out, defaults, cfg, 'default')
  merge(out, fromFile, cfg, 'file')
  merge(out, fromEnv, cfg, 'env')
  merge(out, flags, cfg, 'flag')
  log('file %s; sources %o', file ?? '(none)', cfg.sources)
  checkTogether(out, cfg.sources, file ? displayPath(file, cwd) : '', input.command)
  return { settings: out as unknown as ResolvedSettings, file, ...cfg }
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
  const options: Record<string, unknown> = { username, trust }
  for (const [k, v] of Object.entries(s)) {
    if (k === 'username' || k === 'trust' || v === undefined) continue
    const e = optionEntry(k)!
    options[k] = typeof e.file === 'function' ? e.file(v) : v
  }
  return { options: options as unknown as NodeOptions, trust }
}
