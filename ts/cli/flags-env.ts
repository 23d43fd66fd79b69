// The flag and environment (P4NET_*) layers of the p4net command's settings:
// text values, typed and checked as the option schema says.
import { resolve } from 'node:path'
import { P4Error } from '../core/errors.js'
import { OPTIONS, type OptionEntry } from '../options.js'
import { usageError, type Values } from './args.js'
import { checked, type Settings } from './settings.js'

const BOOL_WORDS: Record<string, boolean> = { 1: true, true: true, yes: true, on: true, 0: false, false: false, no: false, off: false }

/** Options a flag or an environment variable can give. */
export const TEXT_OPTIONS: readonly OptionEntry[] = OPTIONS.filter((e) => e.flag !== undefined || e.env !== undefined)

/** The value of a flag or variable, typed as its entry wants it (a bad one is left for the check to name). */
function fromText(e: OptionEntry, raw: string | string[] | boolean, cwd: string): unknown {
  if (e.kind === 'bool') {
    // A flag without a value (--lan) is true; a variable says 1/0, true/false, yes/no or on/off.
    if (typeof raw === 'boolean') return raw
    const s = (Array.isArray(raw) ? raw[raw.length - 1]! : raw).trim().toLowerCase()
    return BOOL_WORDS[s] ?? s
  }
  if (typeof raw === 'boolean') return raw
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

function setPath(out: Record<string, unknown>, name: string, v: unknown): void {
  const [key, sub] = name.split('.') as [string, string | undefined]
  out[key] = sub === undefined ? v : { ...(out[key] as object | undefined), [sub]: v }
}

/** Builds one layer from text values; `label(e)` names each source in errors. */
function textLayer(get: (e: OptionEntry) => string | string[] | boolean | undefined, label: (e: OptionEntry) => string, cwd: string): Settings {
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
    return textLayer((e) => (e.flag === undefined ? undefined : flags[e.flag]), (e) => `--${e.flag}`, cwd)
  } catch (err) {
    if (err instanceof P4Error && err.code === 'BAD_CONFIG') throw usageError(command, err.message)
    throw err
  }
}

/** The environment layer (P4NET_*); an empty variable counts as unset. */
export function settingsFromEnv(env: Record<string, string | undefined>, cwd = process.cwd()): Settings {
  return textLayer((e) => (e.env !== undefined && env[e.env] ? env[e.env] : undefined), (e) => e.env!, cwd)
}

