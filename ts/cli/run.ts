// The p4net command line, run in this process: dispatches to a subcommand and
// turns every failure into one line on stderr and an exit code (0 ok, 1
// failure, 2 usage/config error). ts/cli/main.ts is the executable around it
// (it exits with that code); tests call main() in their own process.
import { readFileSync } from 'node:fs'
import { isP4Error } from '../core/errors.js'
import { debug, DEBUG_MODULES } from '../core/log.js'
import { CliError, EXIT_USAGE } from './args.js'

const log = debug('cli')

type Run = (argv: string[]) => Promise<number>

// Each command is loaded only when it runs: --help and a mistyped command
// then cost no more than Node's own start.
const COMMANDS: Record<string, { load: () => Promise<Run>; summary: string }> = {
  keygen: { load: async () => (await import('./keygen.js')).keygenCommand, summary: "create this node's identity, print its fingerprint" },
  start: { load: async () => (await import('./start.js')).startCommand, summary: 'run a node until SIGINT/SIGTERM' },
  chat: { load: async () => (await import('./chat.js')).chatCommand, summary: 'interactive line chat (plugin 1001), the successor of P4\'s p4im' },
  demo: { load: async () => (await import('./demo.js')).demoCommand, summary: 'start a few nodes on loopback and show what the overlay does' },
  perf: { load: async () => (await import('./perf.js')).perfCommand, summary: 'measure a deployment: throughput, message rate, round trips, handshakes (iperf-like)' },
  status: { load: async () => (await import('./status.js')).statusCommand, summary: 'ask a running node for its links, users and counters' },
}

function usage(): string {
  const lines = ['p4net - self-organizing peer-to-peer overlay', '', 'usage: p4net <command> [options]', '', 'commands:']
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(8)}${c.summary}`)
  lines.push(
    '',
    'p4net <command> --help shows the options of a command.',
    'Settings come from flags, then P4NET_* environment variables, then a config',
    'file (./p4net.config.json or <config dir>/config.json), then defaults.',
    `Debug output: NODE_DEBUG=p4net:overlay,p4net:cli ... or p4net* for all; modules:`,
    `  ${DEBUG_MODULES.map((m) => `p4net:${m}`).join(' ')} (and p4net for the peer cache)`,
  )
  return lines.join('\n') + '\n'
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

/** Runs the command line `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined
    if (topic !== undefined && COMMANDS[topic]) return (await COMMANDS[topic].load())(['--help'])
    process.stdout.write(usage())
    return name === undefined ? EXIT_USAGE : 0
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`p4net ${version()}\n`)
    return 0
  }
  const command = COMMANDS[name]
  if (!command) {
    process.stderr.write(`p4net: unknown command ${JSON.stringify(name)} (commands: ${Object.keys(COMMANDS).join(', ')})\n`)
    return EXIT_USAGE
  }
  try {
    return await (await command.load())(rest)
  } catch (err) {
    log('%s failed: %s', name, (err as Error)?.stack ?? String(err))
    if (err instanceof CliError) {
      process.stderr.write(err.message + '\n')
      return err.exitCode
    }
    if (isP4Error(err, 'BAD_CONFIG')) {
      process.stderr.write(`p4net: ${err.message}\n`)
      return EXIT_USAGE
    }
    if (isP4Error(err) && (err.code === 'BAD_OPTION' || err.code === 'BAD_USERNAME')) {
      process.stderr.write(`p4net ${name}: ${err.message}\n`)
      return EXIT_USAGE
    }
    const msg = err instanceof Error ? err.message : String(err)
    process.stderr.write(`p4net ${name}: ${msg}${isP4Error(err) ? ` (${err.code})` : ''}\n`)
    return 1
  }
}
