// Command-line parsing on node:util parseArgs, with help text generated from
// the same option table, and one-line errors for anything it rejects.
import { parseArgs } from 'node:util'
import { P4Error, type P4ErrorCode } from '../core/errors.js'

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

/** Options every node-running command takes (they map onto config keys). */
export const NODE_OPTIONS: Record<string, OptionSpec> = {
  username: { type: 'string', short: 'u', value: 'NAME', help: 'username: 1-31 bytes of UTF-8, lower case, letters of one script, digits, - _ . (P4NET_USERNAME)' },
  host: { type: 'string', value: 'HOST', help: 'listen host (default 127.0.0.1) (P4NET_HOST)' },
  port: { type: 'string', short: 'p', value: 'PORT', help: 'listen port, 0 = any free port (default 0) (P4NET_PORT)' },
  'advertise-host': { type: 'string', value: 'HOST', help: 'host others reach this node at (default: --host) (P4NET_ADVERTISE_HOST)' },
  bootstrap: { type: 'string', short: 'b', multiple: true, value: 'HOST:PORT', help: 'node to join through; repeat or comma-separate (P4NET_BOOTSTRAP)' },
  'data-dir': { type: 'string', short: 'd', value: 'DIR', help: 'identity, pinned keys, peer cache, control socket (P4NET_DATA_DIR)' },
  profile: { type: 'string', value: 'NAME', help: '"default" or "small" (constrained devices) (P4NET_PROFILE)' },
  'min-links': { type: 'string', value: 'N', help: 'keep at least N overlay links (P4NET_MIN_LINKS)' },
  'max-links': { type: 'string', value: 'N', help: 'keep at most N overlay links (P4NET_MAX_LINKS)' },
  config: { type: 'string', short: 'c', value: 'FILE', help: 'config file (default ./p4net.config.json, else <config dir>/config.json) (P4NET_CONFIG)' },
}

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
  const options = { ...spec.options, help: HELP }
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

/** Help text for a command, generated from its option table. */
export function helpText(spec: CommandSpec): string {
  const rows = Object.entries({ ...spec.options, help: HELP }).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`
    return [flag, o.help] as const
  })
  const width = Math.max(...rows.map(([f]) => f.length)) + 2
  const lines = [`p4net ${spec.name} - ${spec.summary}`, '', `usage: ${spec.usage}`, '', 'options:']
  for (const [flag, help] of rows) lines.push(`  ${flag.padEnd(width)}${help}`)
  if (spec.details) lines.push('', spec.details.trimEnd())
  return lines.join('\n') + '\n'
}

/** Parses a decimal integer in min..max; `label` names the flag or variable in the error. */
export function parseIntIn(raw: string, min: number, max: number, label: string, command: string): number {
  const n = /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) throw usageError(command, `${label} must be an integer ${min}..${max}, got ${JSON.stringify(raw)}`)
  return n
}
