// Option validation through the schema of ts/option-schema.ts: each value is
// checked against its entry, defaults come from the entry (per profile, or
// derived, or lowered to the bound of a sibling), and a problem is reported
// as structured detail, so the p4net command can name the flag, variable or
// file a value came from while createNode() names the option.
import { P4Error } from './core/errors.js'
import { isValidHost } from './overlay/codec-fields.js'
import { lanHostProblem } from './overlay/lan-config.js'
import type { OverlayConfig } from './overlay/overlay.js'
import type { LanConfig } from './overlay/types.js'
import type { Address } from './transport/types.js'
import { defaultOf, fieldsOf, OPTIONS, optionEntry, parseAddress, show, type Form, type NodeOptions, type OptionEntry, type Profile } from './option-schema.js'

export { defaultOf, fieldsOf, isTransport, isTrustPolicy, OPTIONS, optionEntry, parseAddress, PROFILE_NAMES, show } from './option-schema.js'
export type { Form, NodeOptions, OptionEntry, Profile, Value } from './option-schema.js'

/** What is wrong with one option (or a pair of them), before it is put in words. */
export interface OptionProblem {
  /** The option at fault, dotted ("links.min"). */
  name: string
  /** Its value (the list item at `index` for a list). */
  value: unknown
  /** A phrase that follows the option's name: "must be an integer 0..65535, got 70000", or "is more than" for a pair. */
  problem: string
  index?: number
  /** For a pair: the option it is measured against, its value, and whether that value is a default. */
  other?: { name: string; value: unknown; defaulted: boolean }
  /** The profile the defaults came from. */
  profile: Profile
}

/** How a message names an option: as createNode() takes it, or as a flag, a variable, a file key. */
export interface ProblemLabels {
  name(name: string, index?: number): string
  value(name: string, value: unknown, defaulted: boolean, profile: Profile): string
}

export const API_LABELS: ProblemLabels = {
  name: (name, index) => (index === undefined ? name : `${name}[${index}]`),
  value: (name, value, defaulted, profile) => `${name} ${show(value)}${defaulted ? (profile === 'default' ? ' (the default)' : ` (the ${profile} profile's default)`) : ''}`,
}

export function describeProblem(d: OptionProblem, labels: ProblemLabels = API_LABELS): string {
  if (d.other) return `${labels.value(d.name, d.value, false, d.profile)} ${d.problem} ${labels.value(d.other.name, d.other.value, d.other.defaulted, d.profile)}`
  return `${labels.name(d.name, d.index)} ${d.problem}`
}

/** A bad option: BAD_OPTION (BAD_USERNAME for the username), with the structured `detail`. */
export class OptionError extends P4Error {
  readonly detail: OptionProblem
  constructor(code: 'BAD_OPTION' | 'BAD_USERNAME', detail: OptionProblem) {
    super(code, describeProblem(detail))
    this.detail = detail
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function addressProblem(a: unknown, form: Form): string | undefined {
  if (form === 'file' && typeof a !== 'string') return `must be a "host:port" string, got ${show(a)}`
  try {
    parseAddress(a)
    return undefined
  } catch {
    return typeof a === 'string'
      ? `must look like host:port (a host name or IP literal, a port 1..65535), got ${show(a)}`
      : `must be "host:port" or { host, port } (a host name or IP literal, a port 1..65535), got ${show(a)}`
  }
}

/** What is wrong with `v` as the value of `e` alone, or undefined when nothing is. */
export function problemOf(e: OptionEntry, v: unknown, form: Form): { problem: string; index?: number } | undefined {
  const say = (problem: string | undefined): { problem: string } | undefined => (problem === undefined ? undefined : { problem })
  switch (e.kind) {
    case 'int':
      return say(typeof v === 'number' && Number.isInteger(v) && v >= e.min! && v <= e.max! ? undefined : `must be an integer ${e.min}..${e.max}, got ${show(v)}`)
    case 'fraction':
      return say(typeof v === 'number' && v >= e.min! && v < e.max! ? undefined : `must be a number in [${e.min}, ${e.max}), got ${show(v)}`)
    case 'text':
      return say(typeof v === 'string' && v.length > 0 ? undefined : `must be a non-empty string, got ${show(v)}`)
    case 'host':
      if (typeof v !== 'string' || v.length === 0) return say(`must be a non-empty string, got ${show(v)}`)
      return say(isValidHost(v) ? undefined : `must be a host name or IP address, got ${show(v)}`)
    case 'enum':
      return say(e.values!.includes(v as string) ? undefined : `must be ${e.values!.map((x) => JSON.stringify(x)).join(' or ')}, got ${show(v)}`)
    case 'bool':
      return say(typeof v === 'boolean' ? undefined : `must be true or false, got ${show(v)}`)
    case 'addresses': {
      if (!Array.isArray(v)) return say(`must be an array of "host:port" strings, got ${show(v)}`)
      for (let i = 0; i < v.length; i++) {
        const p = addressProblem(v[i], form)
        if (p !== undefined) return { problem: p, index: i }
      }
      return undefined
    }
    case 'group':
      return say(isObject(v) ? undefined : `must be an object with keys ${keysOf(e.name).join(', ')}, got ${show(v)}`)
    case 'custom':
      return say(e.check!(v, form))
  }
}

/** The field names of a group ("links" → min, max, hardCap). */
export function keysOf(group: string): string[] {
  return fieldsOf(group).map((f) => f.name.slice(group.length + 1))
}

/** The name of an unknown key under `group` (or at the top), as a problem. */
function unknownKey(group: string | undefined, key: string): OptionProblem {
  const known = group === undefined ? OPTIONS.filter((e) => !e.name.includes('.')).map((e) => e.name) : keysOf(group)
  return { name: group === undefined ? key : `${group}.${key}`, value: undefined, problem: `is not a known option (known: ${known.join(', ')})`, profile: 'default' }
}

/**
 * Resolves every option to its value: the given one, checked, or the
 * default. `partial` leaves a missing required option (the username)
 * unresolved, for a command that does not run a node. Throws OptionError.
 */
export function resolveOptionValues(opts: Record<string, unknown>, partial = false): Map<string, unknown> {
  for (const k of Object.keys(opts)) {
    const e = optionEntry(k)
    if (!e || k.includes('.')) throw new OptionError('BAD_OPTION', unknownKey(undefined, k))
  }
  const given = (name: string): unknown => {
    const dot = name.indexOf('.')
    if (dot < 0) return opts[name]
    const group = opts[name.slice(0, dot)]
    return isObject(group) ? group[name.slice(dot + 1)] : undefined
  }
  const out = new Map<string, unknown>()
  let profile: Profile = 'default'
  const fail = (e: OptionEntry, d: Omit<OptionProblem, 'profile'>): never => {
    throw new OptionError(e.code ?? 'BAD_OPTION', { ...d, profile })
  }
  const resolve = (name: string): unknown => {
    if (out.has(name)) return out.get(name)
    const e = optionEntry(name)!
    const v = given(name)
    let r: unknown
    if (v !== undefined) {
      const p = problemOf(e, v, 'api')
      if (p) fail(e, { name, value: p.index === undefined ? v : (v as unknown[])[p.index], problem: p.problem, index: p.index })
      if (e.kind === 'group') {
        for (const k of Object.keys(v as object)) if (!optionEntry(`${name}.${k}`)) throw new OptionError('BAD_OPTION', { ...unknownKey(name, k), profile })
      }
      r = e.kind === 'addresses' ? (v as unknown[]).map((a) => parseAddress(a)) : v
      if (e.atMost !== undefined) {
        const bound = resolve(e.atMost) as number
        if ((r as number) > bound) fail(e, { name, value: r, problem: 'is more than', other: { name: e.atMost, value: bound, defaulted: given(e.atMost) === undefined } })
      }
    } else if (e.derive) {
      r = e.derive(resolve)
    } else {
      if (e.required && !partial) fail(e, { name, value: v, problem: 'is required' })
      r = defaultOf(name, profile)
      const raise = e.raisedBy === undefined ? undefined : given(e.raisedBy)
      if (typeof raise === 'number' && typeof r === 'number') r = Math.max(r, raise)
      if (e.atMost !== undefined && typeof r === 'number') r = Math.min(r, resolve(e.atMost) as number)
    }
    out.set(name, r)
    return r
  }
  profile = resolve('profile') as Profile
  for (const e of OPTIONS) resolve(e.name)
  if (given('socket') !== undefined && given('transport') !== undefined) {
    fail(optionEntry('socket')!, { name: 'socket', value: given('socket'), problem: 'applies to the default tcp transport only; configure the transport given instead' })
  }
  const lanProblem = out.get('lan.enabled') === true ? lanHostProblem(out.get('host') as string) : undefined
  if (lanProblem !== undefined) fail(optionEntry('lan.enabled')!, { name: 'lan.enabled', value: true, problem: lanProblem })
  return out
}

/** Validated options, with every default filled in. */
export interface Resolved {
  username: string
  host: string
  port: number
  advertiseHost: string
  bootstrap: Address[]
  profile: Profile
  cfg: Omit<OverlayConfig, 'identity' | 'trust' | 'peerCache' | 'transport' | 'random' | 'clock' | 'lan'> & { lan: LanConfig }
}

/** Validates every option up front (a node never starts half-configured). Throws BAD_OPTION / BAD_USERNAME. */
export function resolveOptions(opts: NodeOptions): Resolved {
  if (!isObject(opts)) throw new P4Error('BAD_OPTION', `options must be an object, got ${show(opts)}`)
  const v = resolveOptionValues(opts as unknown as Record<string, unknown>)
  const group = <T>(g: string): T => Object.fromEntries(keysOf(g).map((k) => [k, v.get(`${g}.${k}`)])) as T
  const cfg: Resolved['cfg'] = {
    username: v.get('username') as string,
    host: v.get('host') as string,
    port: v.get('port') as number,
    advertiseHost: v.get('advertiseHost') as string,
    bootstrap: v.get('bootstrap') as Address[],
    links: group('links'),
    maxDirect: v.get('maxDirect') as number,
    maxMessage: v.get('maxMessage') as number,
    hopLimit: v.get('hopLimit') as number,
    discover: group('discover'),
    timers: group('timers'),
    dedup: group('dedup'),
    maxUsers: v.get('maxUsers') as number,
    certificate: v.get('certificate') as Uint8Array | undefined,
    highWaterMark: v.get('highWaterMark') as number,
    streams: group('streams'),
    reach: group('reach'),
    quotas: group('quotas'),
    lan: group('lan'),
    relay: group('relay'),
  }
  return { username: cfg.username, host: cfg.host, port: cfg.port, advertiseHost: cfg.advertiseHost, bootstrap: cfg.bootstrap, profile: v.get('profile') as Profile, cfg }
}

function plain(v: unknown): string {
  if (Array.isArray(v)) return v.length === 0 ? 'none' : v.join(', ')
  return String(v)
}

/** The default of `e` as help and docs show it. */
export function defaultText(e: OptionEntry): string {
  if (e.defaultDoc !== undefined) return e.defaultDoc
  if (e.default === undefined) return e.required ? 'required' : 'none'
  const d = defaultOf(e.name, 'default')
  const small = defaultOf(e.name, 'small')
  const shown = (v: unknown): string => (e.kind === 'enum' ? JSON.stringify(v) : plain(v))
  let s = d === small ? shown(d) : `${shown(d)} (small: ${shown(small)})`
  if (e.raisedBy !== undefined) s += `, or ${e.raisedBy} if higher`
  return s
}

/** The type and range of `e` as help and docs show it. */
export function typeText(e: OptionEntry): string {
  if (e.typeDoc !== undefined) return e.typeDoc
  const bound = e.atMost === undefined ? '' : `, at most ${e.atMost}`
  switch (e.kind) {
    case 'int':
      return `integer ${e.min}..${e.max}${bound}`
    case 'fraction':
      return `number in [${e.min}, ${e.max})`
    case 'text':
      return e.path ? 'path' : 'string'
    case 'host':
      return 'host name or IP literal'
    case 'enum':
      return e.values!.map((x) => `"${x}"`).join(' or ')
    case 'bool':
      return 'true or false'
    case 'addresses':
      return 'list of "host:port" (IPv6 as "[addr]:port")'
    case 'group':
      // The keys a config file may hold (not objects only code can make, like lan.transport).
      return `object: ${keysOf(e.name).filter((k) => optionEntry(`${e.name}.${k}`)!.file !== false).join(', ')}`
    case 'custom':
      return 'see doc'
  }
}
