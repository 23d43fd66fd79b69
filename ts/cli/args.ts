// Command-line parsing on node:util parseArgs, with help text generated from
// the same option table, and one-line errors for anything it rejects. The
// node options' flags, variables, defaults and docs come from the option
// schema (ts/option-schema.ts).
import { parseArgs } from 'node:util'
import { P4Error, type P4ErrorCode } from '../core/errors.js'
import { defaultText, OPTIONS } from '../options.js'

/** Exit code for usage errors: unknown flags, bad values, bad configuration. */
export const EXIT_USAGE = 2

/**
 * An error the command line reports as one line on stderr (the message,
 * already prefixed "p4net ..."), then exits with `exitCode`.
 */
export class CliError extends P4Error {
  readonly exitCode: number
  constructor(code: P4ErrorCode, message: string, exitCode = 1) {
    super(code, message)
    this.name = 'CliError'
    this.exitCode = exitCode
  }
}

/** A usage error (BAD_ARGUMENT, exit 2). */
export function usageError(command: string, message: string): CliError {
  return new CliError('BAD_ARGUMENT', `p4net ${command}: ${message}`, EXIT_USAGE)
}

export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  /** Placeholder shown in help, e.g. "PORT". */
  value?: string
  help: string
  /** Environment variable and default, shown in help. */
  env?: string
  defaultText?: string
}

export interface CommandSpec {
  name: string
  summary: string
  usage: string
  options: Record<string, OptionSpec>
  /** Extra help paragraphs after the options. */
  details?: string
}

export type Values = Record<string, string | boolean | string[] | undefined>

const HELP: OptionSpec = { type: 'boolean', short: 'h', help: 'show this help' }

/** The variable naming the config file (the --config flag's). */
export const CONFIG_ENV = 'P4NET_CONFIG'

/** --config: not a node option, so not in the schema. */
export const CONFIG_OPTION: OptionSpec = {
  type: 'string',
  short: 'c',
  value: 'FILE',
  help: 'config file (must exist when given)',
  env: CONFIG_ENV,
  defaultText: './p4net.config.json, else <config dir>/config.json, if there',
}

/**
 * The flags of the schema's options (all of them, or those `names` lists),
 * keyed by flag; `docs` replaces an option's doc line for one command.
 */
export function schemaFlags(names?: readonly string[], docs: Record<string, string> = {}): Record<string, OptionSpec> {
  const out: Record<string, OptionSpec> = {}
  for (const e of OPTIONS) {
    if (e.flag === undefined || (names !== undefined && !names.includes(e.name))) continue
    const spec: OptionSpec = { type: e.kind === 'bool' ? 'boolean' : 'string', value: e.placeholder, help: docs[e.name] ?? e.doc, env: e.env, defaultText: defaultText(e) }
    if (e.short !== undefined) spec.short = e.short
    if (e.kind === 'addresses') spec.multiple = true
    out[e.flag] = spec
  }
  return out
}

/** Options every node-running command takes (they map onto config keys). */
export const NODE_OPTIONS: Record<string, OptionSpec> = { ...schemaFlags(), config: CONFIG_OPTION }

function optionName(message: string): string {
  // parseArgs quotes the option as '--name', or '-n, --name <value>' when it has a short form.
  const m = /'(?:-\w, )?(--?[^',\s]+)/.exec(message)
  return m ? m[1]! : ''
}

/**
 * Parses argv for `spec`. Returns null when --help was asked for (the caller
 * prints helpText). Unknown options, missing values and stray arguments are
 * usage errors (exit 2) with a one-line reason.
 */
export function parseCommand(spec: CommandSpec, argv: string[], allowPositionals = false): { values: Values; positionals: string[] } | null {
  // Only what parseArgs knows: the rest of a spec is for help.
  const options = Object.fromEntries(
    Object.entries({ ...spec.options, help: HELP }).map(([k, o]) => [k, { type: o.type, ...(o.short && { short: o.short }), ...(o.multiple && { multiple: true }) }]),
  )
  let parsed
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals })
  } catch (err) {
    const e = err as Error & { code?: string }
    const name = optionName(e.message)
    let why: string
    switch (e.code) {
      case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
        why = `unknown option ${name}`
        break
      case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
        if (/argument missing/.test(e.message)) why = `option ${name} needs a value`
        else if (/ambiguous/.test(e.message)) why = `option ${name} needs a value (write ${name}=VALUE for a value starting with "-")`
        else why = `option ${name} takes no value`
        break
      case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
        const m = /'([^']*)'/.exec(e.message)
        why = `unexpected argument ${m ? JSON.stringify(m[1]) : ''}`.trimEnd()
        break
      }
      default:
        why = e.message.split('\n')[0]!
    }
    throw usageError(spec.name, `${why} (see p4net ${spec.name} --help)`)
  }
  const values = parsed.values as Values
  if (values.help) return null
  return { values, positionals: parsed.positionals }
}

/** Help text for a command, generated from its option table: flag, doc line, then variable and default. */
export function helpText(spec: CommandSpec): string {
  const rows = Object.entries({ ...spec.options, help: HELP }).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`
    const more = [o.env && `env ${o.env}`, o.defaultText && `default: ${o.defaultText}`].filter(Boolean).join('; ')
    return [flag, o.help, more] as const
  })
  const width = Math.max(...rows.map(([f]) => f.length)) + 2
  const lines = [`p4net ${spec.name} - ${spec.summary}`, '', `usage: ${spec.usage}`, '', 'options:']
  for (const [flag, help, more] of rows) {
    lines.push(`  ${flag.padEnd(width)}${help}`)
    if (more) lines.push(`  ${''.padEnd(width)}(${more})`)
  }
  if (spec.details) lines.push('', spec.details.trimEnd())
  return lines.join('\n') + '\n'
}

/** Parses a decimal integer in min..max; `label` names the flag or variable in the error. */
export function parseIntIn(raw: string, min: number, max: number, label: string, command: string): number {
  const n = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) throw usageError(command, `${label} must be an integer ${min}..${max}, got ${JSON.stringify(raw)}`)
  return n
}
