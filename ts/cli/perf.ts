// `p4net perf`: iperf for a p4net deployment. `--serve` runs a node that
// answers perf clients (perf-server.ts); `p4net perf HOST:PORT` measures one
// (perf-client.ts) and prints a table or, with --json, one JSON object
// (perf-report.ts). Every option is checked here, before a node exists.
import { isValidHost } from '../overlay/codec-fields.js'
import { usernameProblem } from '../core/username.js'
import { parseAddress } from '../option-schema.js'
import { helpText, parseCommand, parseIntIn, usageError, type CommandSpec, type Values } from './args.js'
import { PERF_DEFAULT_PORT } from './perf-protocol.js'
import { PERF_TESTS, type PerfTest } from './perf-report.js'
import type { ClientOptions } from './perf-client.js'
import type { ServeOptions } from './perf-server.js'
import { untilSignal } from './start.js'

const DEFAULTS = { host: '127.0.0.1', username: 'perf-server', seconds: 2, window: 1024, count: 200, handshakes: 5 }
const MAX_BYTES = 2 ** 40
const MAX_SECONDS = 3600

export const perfSpec: CommandSpec = {
  name: 'perf',
  summary: 'measure throughput, message rate, round trips and handshakes to a perf server',
  usage: 'p4net perf --serve [--host HOST] [--port PORT] [--username NAME]\n       p4net perf HOST:PORT [--json] [--time S | --bytes N] [--tests LIST] [--in-flight N] [--count N] [--handshakes N]',
  options: {
    serve: { type: 'boolean', short: 's', help: 'run a perf server until SIGINT/SIGTERM' },
    host: { type: 'string', value: 'HOST', help: 'with --serve: address to listen on (0.0.0.0: every interface)', defaultText: DEFAULTS.host },
    port: { type: 'string', short: 'p', value: 'PORT', help: 'with --serve: port to listen on, 0 = any free port', defaultText: String(PERF_DEFAULT_PORT) },
    username: { type: 'string', short: 'u', value: 'NAME', help: "with --serve: the server's username", defaultText: DEFAULTS.username },
    json: { type: 'boolean', help: 'print the result as one JSON object' },
    time: { type: 'string', short: 't', value: 'S', help: `seconds each timed test runs, up to ${MAX_SECONDS} (decimals allowed)`, defaultText: String(DEFAULTS.seconds) },
    bytes: { type: 'string', short: 'n', value: 'N', help: 'instead of --time: bytes each timed test sends; a K, M, G or T suffix means KiB, MiB, GiB, TiB' },
    tests: { type: 'string', value: 'LIST', help: `comma-separated tests to run: ${PERF_TESTS.join(', ')}`, defaultText: 'all' },
    'in-flight': { type: 'string', value: 'N', help: 'sends in flight in the second 64-byte test, 1..65536', defaultText: String(DEFAULTS.window) },
    count: { type: 'string', short: 'c', value: 'N', help: 'round trips measured by rtt and by latency, 1..1000000', defaultText: String(DEFAULTS.count) },
    handshakes: { type: 'string', value: 'N', help: 'fresh sessions timed by handshake, 1..1000', defaultText: String(DEFAULTS.handshakes) },
  },
  details: `Tests, in this order (MB = 10^6 bytes; every figure is what the server
counted as delivered, from the first send until its count came back):
  send       64 KiB messages, each \`await plugin.send\`: MB/s
  stream     64 KiB writes into one plugin.openStream() stream: MB/s
  rate       64-byte messages, awaited one by one, then --in-flight at once: msg/s
  rtt        --count echoes of a small message through plugin.send: ms percentiles
  latency    --count node.latency() calls (PING / PING-ACK): ms percentiles
  handshake  --handshakes fresh nodes, each timing node.connect() to the server: ms

The server prints its address, username and fingerprint; it uses an
ephemeral identity and trust on first use in memory (each client's name is
pinned to its key for the life of the server process). Clients use fresh
random usernames and ephemeral identities, so they never clash with a pin.
Run the server with --host 0.0.0.0 (or the host's address) to reach it from
another host; only TCP to its port is needed. Exit: 0 done, 1 the server
failed or could not be reached, 2 bad options.`,
}

const SERVE_ONLY = ['host', 'port', 'username'] as const
const CLIENT_ONLY = ['json', 'time', 'bytes', 'tests', 'in-flight', 'count', 'handshakes'] as const

export type PerfArgs = { mode: 'serve'; serve: ServeOptions } | { mode: 'client'; json: boolean; client: Omit<ClientOptions, 'connected'> }

const fail = (message: string): never => {
  throw usageError('perf', message)
}

/** Seconds: a decimal number in 0.01..MAX_SECONDS. */
export function parseSeconds(raw: string, label: string): number {
  const n = /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Number(raw) : NaN
  if (!(n >= 0.01 && n <= MAX_SECONDS)) fail(`${label} must be a number of seconds 0.01..${MAX_SECONDS}, got ${JSON.stringify(raw)}`)
  return n
}

/** Bytes: an integer with an optional K, M, G or T suffix (powers of 1024), 1..1 TiB. */
export function parseBytes(raw: string, label: string): number {
  const m = /^\s*(\d+)\s*([kmgt]?)\s*$/i.exec(raw)
  const n = m ? Number(m[1]) * 1024 ** ' kmgt'.indexOf(m[2]!.toLowerCase() || ' ') : NaN
  if (!(Number.isSafeInteger(n) && n >= 1 && n <= MAX_BYTES)) fail(`${label} must be a number of bytes 1..1T (K, M, G, T: KiB, MiB, GiB, TiB), got ${JSON.stringify(raw)}`)
  return n
}

/** A comma-separated list of tests, each known, in the order they run. */
export function parseTests(raw: string): PerfTest[] {
  const names = raw.split(',').map((t) => t.trim())
  for (const t of names) if (!(PERF_TESTS as readonly string[]).includes(t)) fail(`--tests: unknown test ${JSON.stringify(t)} (tests: ${PERF_TESTS.join(', ')})`)
  return PERF_TESTS.filter((t) => names.includes(t))
}

/** Checks every option of `perf` and says what to run; usage errors (BAD_ARGUMENT, exit 2) otherwise. */
export function perfArgs(values: Values, positionals: string[]): PerfArgs {
  const str = (k: string): string | undefined => values[k] as string | undefined
  if (values.serve === true) {
    for (const k of CLIENT_ONLY) if (values[k] !== undefined) fail(`--${k} is for the client, not with --serve`)
    if (positionals.length > 0) fail(`--serve takes no server address, got ${JSON.stringify(positionals[0])}`)
    const host = str('host') ?? DEFAULTS.host
    if (host === '' || !isValidHost(host)) fail(`--host must be a host name or IP literal, got ${JSON.stringify(host)}`)
    const port = str('port') === undefined ? PERF_DEFAULT_PORT : parseIntIn(str('port')!, 0, 65535, '--port', 'perf')
    const username = str('username') ?? DEFAULTS.username
    const problem = usernameProblem(username)
    if (problem !== undefined) fail(`--username is not a valid username (${problem}), got ${JSON.stringify(username)}`)
    return { mode: 'serve', serve: { host, port, username } }
  }
  for (const k of SERVE_ONLY) if (values[k] !== undefined) fail(`--${k} is for --serve; the client takes the server's HOST:PORT`)
  if (positionals.length === 0) fail("give the server's HOST:PORT, or --serve to be one (see p4net perf --help)")
  if (positionals.length > 1) fail(`one server at a time, got ${positionals.length} addresses`)
  let address: { host: string; port: number } | undefined
  try {
    address = parseAddress(positionals[0], 'the server address', 'BAD_ARGUMENT')
  } catch (err) {
    fail((err as Error).message)
  }
  if (str('time') !== undefined && str('bytes') !== undefined) fail('give --time or --bytes, not both')
  const limit = str('bytes') !== undefined ? { bytes: parseBytes(str('bytes')!, '--bytes') } : { seconds: str('time') === undefined ? DEFAULTS.seconds : parseSeconds(str('time')!, '--time') }
  const tests = str('tests') === undefined ? [...PERF_TESTS] : parseTests(str('tests')!)
  const int = (k: string, min: number, max: number, dflt: number): number => (str(k) === undefined ? dflt : parseIntIn(str(k)!, min, max, `--${k}`, 'perf'))
  return {
    mode: 'client',
    json: values.json === true,
    client: {
      host: address!.host,
      port: address!.port,
      limit,
      tests,
      window: int('in-flight', 1, 65536, DEFAULTS.window),
      count: int('count', 1, 1_000_000, DEFAULTS.count),
      handshakes: int('handshakes', 1, 1000, DEFAULTS.handshakes),
    },
  }
}

export async function perfCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(perfSpec, argv, true)
  if (!parsed) {
    process.stdout.write(helpText(perfSpec))
    return 0
  }
  const args = perfArgs(parsed.values, parsed.positionals)
  const say = (line: string): void => void process.stdout.write(line + '\n')
  if (args.mode === 'serve') {
    const signal = untilSignal()
    try {
      await (await import('./perf-server.js')).servePerf(args.serve, say, signal.promise)
    } finally {
      signal.dispose()
    }
    return 0
  }
  const { runPerf } = await import('./perf-client.js')
  const { perfHeader, perfTable } = await import('./perf-report.js')
  const { json, client } = args
  const result = await runPerf({ ...client, connected: (server, me) => json || say(perfHeader({ server: { username: server, address: `${client.host}:${client.port}` }, client: { username: me }, limit: client.limit })) })
  if (json) say(JSON.stringify(result, null, 2))
  else process.stdout.write(perfTable(result))
  return 0
}
