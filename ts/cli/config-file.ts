// The p4net command's config file: where it is found, and reading and
// validating it (unknown keys are errors; BAD_CONFIG names the file and key).
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { P4Error } from '../core/errors.js'
import { keysOf, OPTIONS, optionEntry } from '../options.js'
import { CONFIG_ENV } from './args.js'
import { checked, fail, type ConfigInput, type Settings } from './settings.js'

export const CONFIG_FILE_NAME = 'p4net.config.json'
export const USER_CONFIG_FILE_NAME = 'config.json'

/** Options a config file may hold (createNode-only objects, like a transport, cannot be written as JSON). */
const FILE_KEYS = OPTIONS.filter((e) => !e.name.includes('.') && e.file !== false).map((e) => e.name)

/** The keys of a group a config file may hold (not those only code can make, like lan.transport). */
function fileKeysOf(group: string): string[] {
  return keysOf(group).filter((f) => optionEntry(`${group}.${f}`)!.file !== false)
}

export function displayPath(path: string, cwd: string): string {
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
      if (!sub || sub.file === false) fail(`${display}: "${k}.${f}"`, `is not a known key (known: ${fileKeysOf(k).join(', ')})`)
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
