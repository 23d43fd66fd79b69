// Settings of the p4net command, from four layers, highest first:
//   1. command-line flags   2. environment (P4NET_*)
//   3. a JSON config file   4. defaults
// Config keys mirror NodeOptions; every check, flag and variable comes from
// the option schema (ts/option-schema.ts). Each value is checked where it
// comes from, and each leaf remembers its source, so an error names the flag,
// variable, or file and key the user wrote, even for a pair of options.
import { homedir } from 'node:os'
import { P4Error } from '../core/errors.js'
import { createTrustPolicy } from '../overlay/trust.js'
import type { TrustPolicy } from '../overlay/trust-policy.js'
import { debug } from '../core/log.js'
import { defaultOf, describeProblem, OptionError, optionEntry, resolveOptionValues, show, type NodeOptions, type ProblemLabels } from '../options.js'
import { usageError } from './args.js'
import { displayPath, findConfigFile, readConfigFile, userConfigDir } from './config-file.js'
import { settingsFromEnv, settingsFromFlags } from './flags-env.js'
import type { ConfigInput, Origin, ResolvedConfig, ResolvedSettings, Settings } from './settings.js'

const log = debug('config')

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
