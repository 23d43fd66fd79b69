// The p4net command end to end: the demo, keygen, and the executable's exit
// codes and output, one process each; --help and bad input on every
// subcommand through the same command line run in this process. Chats and the control socket:
// test/cli-chat.test.ts; the examples: test/examples.test.ts.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { fingerprint, loadIdentity } from '../ts/core/identity.js'
import { describeConn, printable } from '../ts/cli/chat.js'
import { freshDir, run } from './helpers/cli.js'
import { main } from '../ts/cli/run.js'
import { formatStatus } from '../ts/cli/status.js'
import { createNode, MemoryNetwork, memoryTransport } from '../ts/index.js'


test('demo --nodes 3 shows every step and exits 0', async () => {
  const r = await run(['demo', '--nodes', '3'], { ms: 20_000 })
  assert.is(r.code, 0, r.err)
  for (let k = 1; k <= 9; k++) assert.match(r.out, `== ${k}/9 `)
  for (const s of ['Starting 3 nodes', 'Overlay forming', 'Users and plugins', 'Unicast', 'End-to-end encrypted', 'Broadcast', 'Latency', 'Counters', 'Clean stop']) assert.match(r.out, s)
  assert.match(r.out, /m\.encrypted=true/)
  assert.match(r.out, /the plaintext does not occur in it/)
  assert.match(r.out, /2 of 2 other nodes got it exactly once/)
  assert.match(r.out, /demo finished in \d+ ms/)
  assert.is(r.err, '')
})

test('demo --nodes 2: every count agrees with its noun (no "1 links")', async () => {
  const r = await run(['demo', '-n', '2'], { ms: 20_000 })
  assert.is(r.code, 0, r.err)
  assert.not.match(r.out, /\b1 (links|nodes|users|others|other nodes|times|duplicate copies|earlier users)\b/)
  assert.not.match(r.out, /\ball 1\b|>= 1 links/)
  assert.match(r.out, /holds at least 1 link$/m)
  assert.match(r.out, /^ {2}1 link in all: alice -- bob$/m)
  assert.match(r.out, /^ {2}the other node got it exactly once; flooding forwarded it \d+ times? and dedup dropped \d+ duplicate cop(y|ies)$/m)
  assert.match(r.out, /the other node dropped it from users\(\)$/m)
  assert.match(r.out, /^ {2}the other node stopped in \d+ ms$/m)
})

/**
 * Runs the command line in this process (ts/cli/run.ts, what the executable
 * runs), capturing what it writes. For commands that end at once (help, bad
 * input): a process each would cost Node's start each; the process plumbing
 * (exit codes, output drained) is checked on a few cases below.
 */
async function inProcess(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const capture = (into: string[]) => ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString())
    const cb = rest.find((x) => typeof x === 'function') as (() => void) | undefined
    cb?.()
    return true
  }) as typeof process.stdout.write
  const { write: writeOut } = process.stdout
  const { write: writeErr } = process.stderr
  process.stdout.write = capture(out)
  process.stderr.write = capture(err)
  try {
    const code = await main(args)
    return { code, out: out.join(''), err: err.join('') }
  } finally {
    process.stdout.write = writeOut
    process.stderr.write = writeErr
  }
}

const COMMANDS = ['keygen', 'start', 'chat', 'demo', 'status', 'perf']

const BAD: Array<[string[], RegExp]> = [
  [['start', '--bogus'], /^p4net start: unknown option --bogus/],
  [['start', '--port'], /^p4net start: option --port needs a value/],
  [['start', '-u', 'x', '--port', 'abc'], /^p4net start: --port must be an integer 0\.\.65535, got "abc"/],
  [['start', '-u', 'x', '--port', '65536'], /^p4net start: --port must be an integer/],
  [['chat', '-u', 'x', '--bootstrap', 'nohost'], /^p4net chat: --bootstrap must look like host:port .*, got "nohost"/],
  [['chat', '-u', 'x', '--min-links', '10', '--max-links', '5'], /^p4net chat: --min-links 10 is more than --max-links 5$/m],
  [['chat', '-u', 'x', '--min-links=-1'], /^p4net chat: --min-links must be an integer/],
  [['chat', '-u', 'x', '--min-links', '-1'], /^p4net chat: option --min-links needs a value \(write --min-links=VALUE/],
  [['chat', '-u', 'x', '--profile', 'huge'], /^p4net chat: --profile must be "default" or "small"/],
  [['start'], /^p4net start: a username is required/],
  [['start', '-u', ''], /^p4net start: --username is not a valid username/],
  // The username profile has no whitespace: every path says so, naming the value as typed.
  [['start', '-u', 'has space'], /^p4net start: --username is not a valid username \(contains whitespace \(U\+0020\)\), got "has space"$/m],
  [['chat', '-u', '   '], /^p4net chat: --username is not a valid username \(contains whitespace \(U\+0020\)\), got " {3}"$/m],
  [['demo', '--nodes', '1'], /^p4net demo: --nodes must be an integer 2\.\.20/],
  [['demo', '--nodes', '21'], /^p4net demo: --nodes must be an integer 2\.\.20/],
  [['demo', 'extra'], /^p4net demo: unexpected argument "extra"/],
  [['status', '--json=yes'], /^p4net status: option --json takes no value/],
  [['keygen', '-x'], /^p4net keygen: unknown option -x/],
  [['frobnicate'], /^p4net: unknown command "frobnicate"/],
  [[], /^$/],
]

test('--help on every subcommand; bad flags and values exit 2 with one line', async () => {
  for (const cmd of COMMANDS) {
    const r = await inProcess([cmd, '--help'])
    assert.is(r.code, 0, cmd)
    assert.match(r.out, `usage: p4net ${cmd}`)
    assert.match(r.out, '--help')
  }
  const top = await inProcess(['--help'])
  assert.is(top.code, 0)
  for (const cmd of COMMANDS) assert.match(top.out, cmd)
  for (const [args, re] of BAD) {
    const r = await inProcess(args)
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`)
    assert.match(r.err, re, args.join(' '))
    assert.ok(r.err.split('\n').filter(Boolean).length <= 1, `one line: ${r.err}`)
  }
})

test('the p4net process: exit codes and output as the command line gives them (help, a usage error of each kind, no command)', async () => {
  // One of each path through the executable, each a process of its own, side by side.
  const cases: Array<[string[], number, RegExp, 'out' | 'err']> = [
    [['--help'], 0, /usage: p4net <command>/, 'out'],
    [['start', '--help'], 0, /usage: p4net start/, 'out'],
    [[], 2, /usage: p4net <command>/, 'out'],
    [['frobnicate'], 2, /^p4net: unknown command "frobnicate"/, 'err'],
    [['start', '--bogus'], 2, /^p4net start: unknown option --bogus/, 'err'],
    [['chat', '-u', 'x', '--min-links', '10', '--max-links', '5'], 2, /^p4net chat: --min-links 10 is more than --max-links 5$/m, 'err'],
  ]
  const results = await Promise.all(cases.map(([args]) => run(args)))
  for (const [i, [args, code, re, stream]] of cases.entries()) {
    const r = results[i]!
    assert.is(r.code, code, `${args.join(' ')}: ${r.err}`)
    assert.match(r[stream], re, args.join(' '))
    if (code === 2 && stream === 'err') assert.is(r.err.split('\n').filter(Boolean).length, 1, `one line: ${r.err}`)
  }
})

test('a data dir too long for the control socket is refused before anything is written in it', async () => {
  const dir = join(freshDir(), 'd'.repeat(120))
  const [start, chat] = await Promise.all([run(['start', '-u', 'x', '-d', dir]), run(['chat', '-u', 'x', '-d', dir])])
  for (const r of [start, chat]) {
    assert.is(r.code, 2, r.err)
    assert.match(r.err, /control\.sock is too long for a Unix socket \(max 103 bytes\); use a shorter --data-dir\n$/)
  }
  assert.not.ok(existsSync(dir), 'no data dir, no identity.json')
})

test('keygen creates an identity, prints its fingerprint, never overwrites', async () => {
  const dir = join(freshDir(), 'id')
  const r = await run(['keygen', '--data-dir', dir])
  assert.is(r.code, 0, r.err)
  const id = await loadIdentity(dir)
  assert.is(r.out.trim(), fingerprint(id.publicKey))
  const before = readFileSync(join(dir, 'identity.json'), 'utf8')
  const again = await run(['keygen', '--data-dir', dir])
  assert.is(again.code, 1)
  assert.match(again.err, /already exists .*not overwriting/)
  assert.is(readFileSync(join(dir, 'identity.json'), 'utf8'), before)
  // The default is the user config dir ($XDG_CONFIG_HOME/p4net).
  const xdg = freshDir()
  const d = await run(['keygen'], { env: { XDG_CONFIG_HOME: xdg } })
  assert.is(d.code, 0, d.err)
  assert.ok(existsSync(join(xdg, 'p4net', 'identity.json')))
})

test('docs/cli.md cites only documents in the project (no DESIGN.md, which is not part of it)', () => {
  const md = readFileSync(fileURLToPath(new URL('../../docs/cli.md', import.meta.url)), 'utf8')
  assert.not.match(md, /DESIGN/)
  for (const [cited] of md.matchAll(/\b(?:docs\/)?[a-z-]+\.md\b/g)) {
    const path = cited.startsWith('docs/') || cited === 'README.md' || cited === 'CHANGELOG.md' ? cited : `docs/${cited}`
    assert.ok(existsSync(fileURLToPath(new URL(`../../${path}`, import.meta.url))), `docs/cli.md cites ${cited}, which does not exist`)
  }
})

test('chat output is terminal-safe', () => {
  assert.is(printable(new TextEncoder().encode('hi\x1b[2Jthere\r\n')), 'hi\ufffd[2Jthere\ufffd\ufffd')
  assert.is(printable(new Uint8Array([0xff, 0x41])), '\ufffdA')
})

test('/conns lines have an RTT column: the link\'s rtt, "-" until one is measured', () => {
  const link = { username: 'bob', verified: true, cpuMs: 0, queued: 0, host: '127.0.0.1', port: 4001, status: 'link' as const, initiator: true, since: 1000, rtt: undefined }
  assert.is(describeConn(link, 6000), 'bob 127.0.0.1:4001 link out 5s rtt -')
  assert.is(describeConn({ ...link, status: 'direct', initiator: false, rtt: 0.4321 }, 121_000), 'bob 127.0.0.1:4001 direct in 2m rtt 0.43 ms')
})

test('status: a counter that is a table (cutOffReasons) prints as "name count" pairs, never [object Object]', async () => {
  const node = await createNode({ username: 'st', transport: memoryTransport(new MemoryNetwork()) })
  await node.start()
  try {
    const report = { username: 'st', fingerprint: 'f', address: node.address, advertised: node.advertisedAddress, status: node.status(), pid: 1, command: 'start', dataDir: '/d', startedAt: '', uptimeMs: 5, links: [], users: [] }
    const none = formatStatus({ ...report, stats: node.stats() })
    assert.not.match(none, /object Object/)
    assert.match(none, /cutOffReasons\s+-\n/)
    assert.match(none, /framesIn\s+0\n/)
    const some = formatStatus({ ...report, stats: { ...node.stats(), cutOffReasons: { frames: 2, hello: 1 } } })
    assert.match(some, /cutOffReasons\s+frames 2, hello 1\n/)
  } finally {
    await node.stop()
  }
})

test('status: the state, and why a node is alone, with how long ago', async () => {
  const node = await createNode({ username: 'lonely', transport: memoryTransport(new MemoryNetwork()), bootstrap: ['10.1.1.1:4001'] })
  await node.start({ joinTimeout: 50 })
  try {
    const startedAt = new Date(Date.now() - 1000).toISOString()
    const text = formatStatus({ username: 'lonely', fingerprint: 'f', address: node.address, advertised: { host: 'far.example', port: node.address.port }, status: node.status(), pid: 1, command: 'start', dataDir: '/d', startedAt, uptimeMs: 1000, links: [], users: [], stats: node.stats() })
    assert.match(text, /\nadvertised as far\.example:\d+\nstate alone\n/)
    assert.match(text, /\n +\d+(\.\d+)? s ago  UNREACHABLE  bootstrap: cannot connect to 10\.1\.1\.1:4001/)
    assert.match(text, /\n +\d+(\.\d+)? s ago  NOT_JOINED  not joined after 50 ms: /)
  } finally {
    await node.stop()
  }
})

test('status: a reachability line: the verdict, where peers see the node, the last check', async () => {
  const node = await createNode({ username: 'st', transport: memoryTransport(new MemoryNetwork()) })
  await node.start()
  try {
    const report = { username: 'st', fingerprint: 'f', address: node.address, advertised: node.advertisedAddress, pid: 1, command: 'start', dataDir: '/d', startedAt: '', uptimeMs: 5, links: [], users: [], stats: node.stats() }
    assert.match(formatStatus({ ...report, status: node.status() }), /\nreachability unknown\n/)
    const answers = { reachable: 0, unreachable: 3, refused: 0, missing: 0 }
    const priv = { status: 'private' as const, observed: [{ host: '203.0.113.7', port: 40001, peers: 3 }], checkedAt: 5, answers }
    assert.match(formatStatus({ ...report, status: { ...node.status(), reachability: priv } }), /\nreachability private, seen at 203\.0\.113\.7 \(last check: 0 reached it, 3 could not, 0 refused, 0 did not answer\)\n/)
    const pub = { ...priv, status: 'public' as const, address: { host: '198.51.100.1', port: 4001 }, observed: [{ host: '198.51.100.1', port: 4001, peers: 2 }], answers: { ...answers, reachable: 2, unreachable: 1 } }
    assert.match(formatStatus({ ...report, status: { ...node.status(), reachability: pub } }), /\nreachability public at 198\.51\.100\.1:4001, seen at 198\.51\.100\.1 \(last check: 2 reached it, 1 could not/)
  } finally {
    await node.stop()
  }
})

test.run()
