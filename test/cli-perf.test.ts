// `p4net perf`: a server and clients as processes on 127.0.0.1 (the server
// on a port the system picks and prints), short runs bounded by --bytes (so
// every count is known in advance) or a short --time; the JSON checked field
// by field, the table row by row, bad options refused with their code. No
// assertion on speed: only that figures are positive and agree.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Proc, run } from './helpers/cli.js'
import { helpText, parseCommand } from '../ts/cli/args.js'
import { perfArgs, perfSpec } from '../ts/cli/perf.js'
import { formatPerf, perfTable, type PerfResult } from '../ts/cli/perf-report.js'
import { runPerf } from '../ts/cli/perf-client.js'
import { createNode, isP4Error } from '../ts/index.js'

let server: Proc | undefined
let address = ''

test.before(async () => {
  server = new Proc(['perf', '--serve', '--port', '0', '--username', 'perf-bench'])
  const m = await server.waitFor(/serving as perf-bench on (127\.0\.0\.1:\d+) \(fingerprint [a-z2-7]{4}(-[a-z2-7]{4}){3}, plugin 5201\)/)
  address = m[1]!
})

test.after(() => server?.kill())

/** Every number in `v`, with its path. */
function numbers(v: unknown, path = ''): Array<[string, number]> {
  if (typeof v === 'number') return [[path, v]]
  if (typeof v !== 'object' || v === null) return []
  return Object.entries(v).flatMap(([k, x]) => numbers(x, path ? `${path}.${k}` : k))
}

function close(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) <= 0.01 * Math.max(a, b), `${what}: ${a} vs ${b}`)
}

test('--json --bytes 256K: every test, every field present, positive and consistent; counts exactly what was sent', async () => {
  const r = await run(['perf', address, '--json', '--bytes', '256K', '--in-flight', '256', '--count', '20', '--handshakes', '2'], { ms: 15_000 })
  assert.is(r.code, 0, r.err)
  assert.is(r.err, '')
  const j = JSON.parse(r.out) as PerfResult
  assert.equal(Object.keys(j), ['version', 'server', 'client', 'limit', 'send', 'stream', 'rate', 'rtt', 'latency', 'handshake'])
  assert.equal(j.server, { username: 'perf-bench', address })
  assert.match(j.client.username, /^perf-[0-9a-f]{10}$/)
  assert.equal(j.limit, { bytes: 256 * 1024 })
  for (const [path, n] of numbers(j)) assert.ok(Number.isFinite(n) && n > 0, `${path} = ${n}`)

  assert.equal(Object.keys(j.send!), ['messageBytes', 'sentMessages', 'messages', 'bytes', 'seconds', 'throughputMBps'])
  assert.equal([j.send!.messageBytes, j.send!.sentMessages, j.send!.messages, j.send!.bytes], [65536, 4, 4, 256 * 1024])
  close(j.send!.throughputMBps, j.send!.bytes / j.send!.seconds / 1e6, 'send MB/s')
  assert.equal(Object.keys(j.stream!), ['writeBytes', 'bytes', 'seconds', 'throughputMBps'])
  assert.equal([j.stream!.writeBytes, j.stream!.bytes], [65536, 256 * 1024])
  close(j.stream!.throughputMBps, j.stream!.bytes / j.stream!.seconds / 1e6, 'stream MB/s')

  assert.is(j.rate!.messageBytes, 64)
  assert.is(j.rate!.inFlight.window, 256)
  for (const run of [j.rate!.awaited, j.rate!.inFlight]) {
    assert.equal([run.sentMessages, run.messages], [4096, 4096])
    close(run.messagesPerSecond, run.messages / run.seconds, 'msg/s')
  }
  for (const { samples, ms } of [
    { samples: j.rtt!.samples, ms: j.rtt!.rttMs },
    { samples: j.latency!.samples, ms: j.latency!.latencyMs },
  ]) {
    assert.is(samples, 20)
    assert.equal(Object.keys(ms), ['p50', 'p90', 'p99', 'max'])
    assert.ok(ms.p50 <= ms.p90 && ms.p90 <= ms.p99 && ms.p99 <= ms.max, JSON.stringify(ms))
  }
  const h = j.handshake!
  assert.is(h.samples, 2)
  assert.ok(h.handshakeMs.min <= h.handshakeMs.median && h.handshakeMs.median <= h.handshakeMs.max, JSON.stringify(h))

  // The table of the same result has a row per test.
  const table = formatPerf(j)
  for (const row of ['send 64 KiB (plugin.send)', 'stream 64 KiB writes (openStream)', '64 B messages, awaited one by one', '64 B messages, 256 in flight', 'round trip (plugin.send echo)', 'round trip (node.latency)', 'handshake (fresh node.connect)']) {
    assert.match(table, row)
  }
  assert.match(table, /4 messages, 0\.26 MB in [\d.]+ s, all delivered/)

  // docs/cli.md documents every field, by its path.
  const docs = readFileSync(fileURLToPath(new URL('../../docs/cli.md', import.meta.url)), 'utf8')
  const start = docs.indexOf('### `p4net perf`')
  const section = docs.slice(start, docs.indexOf('\n### ', start + 1))
  for (const [path] of numbers({ ...j, server: { username: 0, address: 0 }, client: { username: 0 } })) assert.ok(section.includes(`\`${path}\``), `docs/cli.md: ${path}`)
  assert.ok(section.includes('`limit.seconds`'))
})

test('table output, timed (--time): the header and one row per test', async () => {
  const all = await run(['perf', address, '--time', '0.05', '--count', '5', '--handshakes', '1'], { ms: 15_000 })
  assert.is(all.code, 0, all.err)
  assert.match(all.out, new RegExp(`^p4net perf: perf-[0-9a-f]{10} -> perf-bench at ${address}, 0\\.05 s per test`))
  const rows = [/^ {2}test +result +detail$/m, /^ {2}send 64 KiB \(plugin\.send\) +[\d.]+ MB\/s +[\d,]+ messages, [\d.]+ MB in [\d.]+ s, all delivered$/m, /^ {2}stream 64 KiB writes \(openStream\) +[\d.]+ MB\/s/m, /^ {2}64 B messages, awaited one by one +[\d,]+ msg\/s/m, /^ {2}64 B messages, 1,024 in flight +[\d,]+ msg\/s/m, /^ {2}round trip \(plugin\.send echo\) +p50 [\d.]+ ms +p90 [\d.]+ {2}p99 [\d.]+ {2}max [\d.]+ ms, 5 samples$/m, /^ {2}round trip \(node\.latency\) +p50/m, /^ {2}handshake \(fresh node\.connect\) +median [\d.]+ ms +min [\d.]+ {2}max [\d.]+ ms, 1 samples?$/m]
  for (const re of rows) assert.match(all.out, re)
  assert.is(all.out.trim().split('\n').length, 1 + rows.length)
})

test('--tests runs only the tests named, in their fixed order (the client in this process)', async () => {
  const parsed = parseCommand(perfSpec, [address, '--tests', 'rtt,send', '--bytes', '64K', '-c', '3'], true)!
  const args = perfArgs(parsed.values, parsed.positionals)
  assert.is(args.mode, 'client')
  if (args.mode !== 'client') return
  assert.equal(args.client.tests, ['send', 'rtt'])
  const r = await runPerf(args.client)
  assert.equal(Object.keys(r), ['version', 'server', 'client', 'limit', 'send', 'rtt'])
  assert.equal([r.send!.messages, r.rtt!.samples], [1, 3])
  const table = perfTable(r)
  assert.match(table, /send 64 KiB/)
  assert.match(table, /round trip \(plugin\.send echo\)/)
  for (const absent of ['stream', 'messages, awaited', 'node.latency', 'handshake']) assert.not.match(table, absent)
})

test('a node that is not a perf server: UNSUPPORTED; no server at all: exit 1 with the reason and UNREACHABLE', async () => {
  const plain = await createNode({ username: 'plain', host: '127.0.0.1', port: 0, links: { min: 0, max: 4 } })
  await plain.start()
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as { port: number }).port
  await new Promise((resolve) => closed.close(resolve))
  try {
    const notPerf = await runPerf({ host: '127.0.0.1', port: plain.address.port, limit: { bytes: 1 }, tests: ['rtt'], window: 1, count: 1, handshakes: 1 }).then(
      () => assert.unreachable('a plain node passed for a perf server'),
      (err: unknown) => err,
    )
    assert.ok(isP4Error(notPerf, 'UNSUPPORTED'), String(notPerf))
    assert.match((notPerf as Error).message, /^127\.0\.0\.1:\d+ is user plain, which does not run p4net perf --serve \(plugin 5201\)$/)
    const nobody = await run(['perf', `127.0.0.1:${port}`, '--tests', 'rtt'])
    assert.is(nobody.code, 1)
    assert.match(nobody.err, /^p4net perf: cannot connect to 127\.0\.0\.1:\d+: .*\(UNREACHABLE\)\n$/)
    assert.is(nobody.out, '')
  } finally {
    await plain.stop()
  }
})

/** The usage error perf gives for `argv` (parsed as the command line does), or a failure when it accepts it. */
function refusal(argv: string[]): { code: string; exitCode: number; message: string } {
  try {
    const parsed = parseCommand(perfSpec, argv, true)
    if (parsed) perfArgs(parsed.values, parsed.positionals)
  } catch (err) {
    assert.ok(isP4Error(err), String(err))
    return { code: err.code, exitCode: (err as unknown as { exitCode: number }).exitCode, message: err.message }
  }
  throw new Error(`accepted: ${argv.join(' ')}`)
}

test('bad options: refused with BAD_ARGUMENT (exit 2) and one line naming the problem', async () => {
  const BAD: Array<[string[], RegExp]> = [
    [['--bogus'], /unknown option --bogus/],
    [[], /give the server's HOST:PORT, or --serve/],
    [['a:1', 'b:2'], /one server at a time, got 2 addresses/],
    [['nohost'], /the server address must look like host:port, got "nohost"/],
    [['h:0'], /port must be 1\.\.65535, got 0/],
    [['h:1', '--time', '0'], /--time must be a number of seconds 0\.01\.\.3600, got "0"/],
    [['h:1', '--time', '1e3'], /--time must be a number of seconds/],
    [['h:1', '--time', '3601'], /--time must be/],
    [['h:1', '--time', '1', '--bytes', '1M'], /give --time or --bytes, not both/],
    [['h:1', '--bytes', '0'], /--bytes must be a number of bytes 1\.\.1T/],
    [['h:1', '--bytes', '1X'], /--bytes must be/],
    [['h:1', '--bytes', '2T'], /--bytes must be/],
    [['h:1', '--bytes'], /option --bytes needs a value/],
    [['h:1', '--tests', 'send,foo'], /--tests: unknown test "foo" \(tests: send, stream, rate, rtt, latency, handshake\)/],
    [['h:1', '--tests', ''], /--tests: unknown test ""/],
    [['h:1', '--in-flight', '0'], /--in-flight must be an integer 1\.\.65536, got "0"/],
    [['h:1', '--in-flight', '65537'], /--in-flight must be an integer/],
    [['h:1', '--count', 'x'], /--count must be an integer 1\.\.1000000/],
    [['h:1', '--handshakes', '1001'], /--handshakes must be an integer 1\.\.1000/],
    [['h:1', '--port', '5201'], /--port is for --serve; the client takes the server's HOST:PORT/],
    [['h:1', '--json=yes'], /option --json takes no value/],
    [['--serve', 'h:1'], /--serve takes no server address/],
    [['--serve', '--json'], /--json is for the client, not with --serve/],
    [['--serve', '--time', '1'], /--time is for the client/],
    [['--serve', '--port', '65536'], /--port must be an integer 0\.\.65535, got "65536"/],
    [['--serve', '--host', 'a b'], /--host must be a host name or IP literal, got "a b"/],
    [['--serve', '--host', ''], /--host must be a host name/],
    [['--serve', '-u', 'Perf'], /--username is not a valid username \(is not lower case.*\), got "Perf"/],
  ]
  for (const [argv, re] of BAD) {
    const r = refusal(argv)
    assert.is(r.code, 'BAD_ARGUMENT', argv.join(' '))
    assert.is(r.exitCode, 2, argv.join(' '))
    assert.match(r.message, /^p4net perf: /)
    assert.match(r.message, re, argv.join(' '))
    assert.not.match(r.message, '\n')
  }
  // Through the executable: exit 2, the one line on stderr, nothing on stdout; --help exits 0.
  const bad = await run(['perf', address, '--tests', 'nope'])
  assert.is(bad.code, 2)
  assert.is(bad.err, 'p4net perf: --tests: unknown test "nope" (tests: send, stream, rate, rtt, latency, handshake)\n')
  assert.is(bad.out, '')
  const help = helpText(perfSpec)
  assert.match(help, 'usage: p4net perf --serve')
  for (const flag of ['--serve', '--host', '--port', '--username', '--json', '--time', '--bytes', '--tests', '--in-flight', '--count', '--handshakes', '--help']) assert.match(help, flag)
  assert.is(refusal([address, '--help', '--bogus']).code, 'BAD_ARGUMENT')
  assert.is(parseCommand(perfSpec, ['--help'], true), null, '--help asks for the help text')
})

test('the server says which clients came and left, and stops cleanly on SIGTERM (exit 0)', async () => {
  const s = server!
  assert.match(s.out, /^p4net perf: clients run: p4net perf 127\.0\.0\.1:\d+$/m)
  assert.match(s.out, /^p4net perf: client perf-[0-9a-f]{10} from 127\.0\.0\.1:\d+$/m)
  assert.match(s.out, /^p4net perf: perf-[0-9a-f]{10}: 4 messages, 0\.3 MB$/m)
  assert.match(s.out, /^p4net perf: perf-[0-9a-f]{10}: stream, 0\.3 MB$/m)
  await s.waitFor(/^p4net perf: client perf-[0-9a-f]{10} left$/m)
  s.child.kill('SIGTERM')
  assert.is(await s.exit(), 0, s.err)
  assert.match(s.out, /^p4net perf: SIGTERM: stopping\np4net perf: stopped\n$/m)
})

test.run()
