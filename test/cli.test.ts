// The p4net command end to end: real processes on loopback, stdin piped,
// output read. Every spawned process is killed in a finally block and every
// wait has a deadline, so a hang fails the test instead of CI.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fingerprint, loadIdentity } from '../ts/core/identity.js'
import { printable } from '../ts/cli/chat.js'
import { tempDirs } from './helpers/tmp.js'

const MAIN = fileURLToPath(new URL('../ts/cli/main.js', import.meta.url))
const EXAMPLE_CHAT = fileURLToPath(new URL('../examples/chat.js', import.meta.url))
const EXAMPLE_COUNTER = fileURLToPath(new URL('../examples/counter.js', import.meta.url))

const tmp = tempDirs('p4cli-')
const root = tmp.make()
/** A fresh directory under the test root (short: Unix socket paths are limited). */
const freshDir = (): string => tmp.make(root)

/** A clean environment: no P4NET_* from the caller, config dir and cwd in the test root. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('P4NET_') && k !== 'NODE_DEBUG') env[k] = v
  return { ...env, XDG_CONFIG_HOME: join(root, 'xdg'), HOME: root, ...extra }
}

class Proc {
  out = ''
  err = ''
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  constructor(args: string[], opts: { script?: string; env?: Record<string, string>; cwd?: string } = {}) {
    this.child = spawn(process.execPath, [opts.script ?? MAIN, ...args], { env: cleanEnv(opts.env), cwd: opts.cwd ?? root, stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => (this.out += s))
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => (this.err += s))
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))))
  }
  /** Resolves with the first match of `re` in stdout; rejects after `ms`. */
  async waitFor(re: RegExp, ms = 8000): Promise<RegExpMatchArray> {
    const end = Date.now() + ms
    for (;;) {
      const m = re.exec(this.out)
      if (m) return m
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}\n--- stdout:\n${this.out}\n--- stderr:\n${this.err}`)
      if (this.child.exitCode !== null) throw new Error(`exited ${this.child.exitCode} before ${re}\n--- stdout:\n${this.out}\n--- stderr:\n${this.err}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  send(line: string): void {
    this.child.stdin!.write(line + '\n')
  }
  /** Exit code, or a rejection when the process is still running after `ms`. */
  async exit(ms = 8000): Promise<number | null> {
    let t: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`still running after ${ms} ms\n--- stdout:\n${this.out}\n--- stderr:\n${this.err}`)), ms)
    })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(t)
    }
  }
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
  }
}

/** Sends `line` until the output matches `re` (for state that arrives asynchronously). */
async function poll(p: Proc, line: string, re: RegExp, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    p.send(line)
    try {
      await p.waitFor(re, 200)
      return
    } catch (err) {
      if (Date.now() > end) throw err
    }
  }
}

/** Runs the command to completion (killed after `ms`). */
async function run(args: string[], opts: { env?: Record<string, string>; cwd?: string; ms?: number; script?: string } = {}): Promise<{ code: number | null; out: string; err: string }> {
  const p = new Proc(args, opts)
  try {
    p.child.stdin!.end()
    const code = await p.exit(opts.ms ?? 8000)
    return { code, out: p.out, err: p.err }
  } finally {
    p.kill()
  }
}

test.after(tmp.cleanup)

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

test('--help on every subcommand; bad flags and values exit 2 with one line', async () => {
  for (const cmd of ['keygen', 'start', 'chat', 'demo', 'status']) {
    const r = await run([cmd, '--help'])
    assert.is(r.code, 0, cmd)
    assert.match(r.out, `usage: p4net ${cmd}`)
    assert.match(r.out, '--help')
  }
  const top = await run(['--help'])
  assert.is(top.code, 0)
  for (const cmd of ['keygen', 'start', 'chat', 'demo', 'status']) assert.match(top.out, cmd)
  const cases: Array<[string[], RegExp]> = [
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
    [['demo', '--nodes', '1'], /^p4net demo: --nodes must be an integer 2\.\.20/],
    [['demo', '--nodes', '21'], /^p4net demo: --nodes must be an integer 2\.\.20/],
    [['demo', 'extra'], /^p4net demo: unexpected argument "extra"/],
    [['status', '--json=yes'], /^p4net status: option --json takes no value/],
    [['keygen', '-x'], /^p4net keygen: unknown option -x/],
    [['frobnicate'], /^p4net: unknown command "frobnicate"/],
    [[], /^$/],
  ]
  for (const [args, re] of cases) {
    const r = await run(args)
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`)
    assert.match(r.err, re, args.join(' '))
    assert.ok(r.err.split('\n').filter(Boolean).length <= 1, `one line: ${r.err}`)
  }
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

test('two chats on loopback: broadcast, /msg, commands, joins and leaves, clean quit', async () => {
  const a = new Proc(['chat', '--username', 'alice', '--port', '0', '--data-dir', freshDir()])
  let b: Proc | undefined
  let c: Proc | undefined
  try {
    const port = (await a.waitFor(/\* listening on 127\.0\.0\.1:(\d+)/))[1]!
    b = new Proc(['chat', '-u', 'bob', '-b', `127.0.0.1:${port}`, '-d', freshDir()])
    await b.waitFor(/^\* alice joined$/m)
    await a.waitFor(/^\* bob joined$/m)
    a.send('hello from alice')
    await b.waitFor(/^<alice> hello from alice$/m)
    await a.waitFor(/^<alice> hello from alice$/m) // own line echoed
    b.send('/msg alice psst, only you')
    await a.waitFor(/^\*bob\* \(private\) psst, only you$/m)
    await b.waitFor(/^-> \*alice\* psst, only you$/m)
    a.send('/names')
    await a.waitFor(/^\* users running 1001 \(2\): alice bob$/m)
    a.send('/plugins bob')
    await a.waitFor(/^\* bob runs plugins 1001$/m)
    a.send('/latency bob')
    await a.waitFor(/^\* latency to bob: \d+\.\d\d ms$/m)
    a.send('/conns')
    await a.waitFor(/^\* bob 127\.0\.0\.1:\d+ link in /m)
    a.send('/load 7')
    await a.waitFor(/^\* plugin 7 loaded$/m)
    await poll(b, '/plugins alice', /^\* alice runs plugins 7, 1001$/m) // once alice's new HELLO arrives
    a.send('/unload 7')
    await a.waitFor(/^\* plugin 7 unloaded$/m)
    a.send('/msg nobody hi')
    await a.waitFor(/^\* error: .*nobody/m)
    a.send('/frob')
    await a.waitFor(/^\* unknown command \/frob/m)
    a.send('/help')
    await a.waitFor(/\/msg USER TEXT/)
    b.send('//slash text')
    await a.waitFor(/^<bob> \/slash text$/m)
    // /open: a lone node joins when alice opens a link to it.
    c = new Proc(['chat', '-u', 'carol', '-d', freshDir()])
    const cport = (await c.waitFor(/\* listening on 127\.0\.0\.1:(\d+)/))[1]!
    a.send(`/open dave 127.0.0.1:${cport}`)
    await a.waitFor(new RegExp(`^\\* 127\\.0\\.0\\.1:${cport} is carol, not dave; link closed$`, 'm'))
    a.send(`/open carol 127.0.0.1:${cport}`)
    // (carol may have re-dialled alice by itself already: alice is in its peer cache now)
    await a.waitFor(new RegExp(`^\\* link (already )?open to carol at 127\\.0\\.0\\.1:${cport}$`, 'm'))
    await c.waitFor(/^\* bob joined$/m)
    await b.waitFor(/^\* carol joined$/m)
    a.send('/open 127.0.0.1:1')
    await a.waitFor(/^\* error: cannot connect to 127\.0\.0\.1:1/m)
    c.child.stdin!.end()
    assert.is(await c.exit(), 0, c.err)
    // End of input quits cleanly: a BYE, so bob sees alice leave.
    a.child.stdin!.end()
    assert.is(await a.exit(), 0, a.err)
    assert.match(a.out, /^\* bye$/m)
    await b.waitFor(/^\* alice left$/m)
    b.send('/quit')
    assert.is(await b.exit(), 0, b.err)
    assert.not.match(a.out + b.out + c.out, /\x1b/, 'no ANSI escapes when stdout is not a TTY')
    assert.is(a.err + b.err + c.err, '')
  } finally {
    a.kill()
    b?.kill()
    c?.kill()
  }
})

test('chat output is terminal-safe', () => {
  assert.is(printable(new TextEncoder().encode('hi\x1b[2Jthere\r\n')), 'hi\ufffd[2Jthere\ufffd\ufffd')
  assert.is(printable(new Uint8Array([0xff, 0x41])), '\ufffdA')
})

test('status asks a running start over its control socket; start stops cleanly on SIGTERM', async () => {
  const dir = freshDir()
  const sock = join(dir, 'control.sock')
  const s = new Proc(['start', '--username', 'carol', '--data-dir', dir])
  let peer: Proc | undefined
  try {
    const port = (await s.waitFor(/carol listening on 127\.0\.0\.1:(\d+)/))[1]!
    assert.ok(existsSync(sock), 'control socket created')
    peer = new Proc(['start', '-u', 'dave', '-b', `127.0.0.1:${port}`, '-d', freshDir()])
    await s.waitFor(/ link-up dave 127\.0\.0\.1:\d+ in$/m)
    await s.waitFor(/ user-joined dave$/m)
    const human = await run(['status', '--data-dir', dir])
    assert.is(human.code, 0, human.err)
    assert.match(human.out, new RegExp(`^carol on 127\\.0\\.0\\.1:${port} `))
    assert.match(human.out, /links \(1\):\n  dave /)
    assert.match(human.out, /users \(2\):/)
    assert.match(human.out, /framesIn +\d+/)
    const json = await run(['status', '--json'], { env: { P4NET_DATA_DIR: dir } })
    assert.is(json.code, 0, json.err)
    const report = JSON.parse(json.out)
    assert.is(report.username, 'carol')
    assert.is(report.address.port, Number(port))
    assert.is(report.command, 'start')
    assert.equal(report.links.map((l: { username: string }) => l.username), ['dave'])
    assert.equal(report.users.map((u: { username: string }) => u.username), ['carol', 'dave'])
    assert.type(report.stats.bytesIn, 'number')
    // A second node on the same data dir (same identity) is refused.
    const dup = await run(['start', '-u', 'erin', '-d', dir])
    assert.is(dup.code, 1)
    assert.match(dup.err, /another p4net is running with data dir/)
    peer.child.kill('SIGTERM')
    assert.is(await peer.exit(), 0, peer.err)
    await s.waitFor(/ user-left dave$/m)
    s.child.kill('SIGTERM')
    assert.is(await s.exit(), 0, s.err)
    assert.match(s.out, /SIGTERM: stopping\np4net: stopped\n$/)
    assert.not.ok(existsSync(sock), 'control socket removed on exit')
    assert.ok(existsSync(join(dir, 'pinned-keys.json')), 'tofu pins flushed on stop')
    const gone = await run(['status', '-d', dir])
    assert.is(gone.code, 1)
    assert.match(gone.err, /no p4net is running with data dir/)
  } finally {
    s.kill()
    peer?.kill()
  }
})

test('a stale control socket (node killed) is replaced on the next start', async () => {
  const dir = freshDir()
  const first = new Proc(['start', '-u', 'frank', '-d', dir, '--quiet'])
  try {
    await first.waitFor(/listening on/)
    first.kill()
    await first.exit()
  } finally {
    first.kill()
  }
  assert.ok(existsSync(join(dir, 'control.sock')), 'SIGKILL leaves the socket file')
  const second = new Proc(['start', '-u', 'frank', '-d', dir, '--quiet'])
  try {
    await second.waitFor(/listening on/)
    const r = await run(['status', '-d', dir, '--json'])
    assert.is(JSON.parse(r.out).pid, second.child.pid)
    second.child.kill('SIGINT')
    assert.is(await second.exit(), 0)
  } finally {
    second.kill()
  }
})

test('examples/chat.js: two processes exchange a line', async () => {
  const a = new Proc(['--username', 'ann'], { script: EXAMPLE_CHAT })
  let b: Proc | undefined
  try {
    const port = (await a.waitFor(/ann listening on 127\.0\.0\.1:(\d+)/))[1]!
    b = new Proc(['--username', 'ben', '--bootstrap', `127.0.0.1:${port}`], { script: EXAMPLE_CHAT })
    await a.waitFor(/^\* ben joined$/m)
    await b.waitFor(/^\* ann joined$/m)
    b.send('hi ann')
    await a.waitFor(/^<ben> hi ann$/m)
    b.child.stdin!.end()
    assert.is(await b.exit(), 0, b.err)
    await a.waitFor(/^\* ben left$/m)
    a.child.stdin!.end()
    assert.is(await a.exit(), 0, a.err)
  } finally {
    a.kill()
    b?.kill()
  }
})

test('examples/counter.js --self-test converges', async () => {
  const r = await run(['--self-test', '--nodes', '3'], { script: EXAMPLE_COUNTER, ms: 15_000 })
  assert.is(r.code, 0, r.out + r.err)
  assert.match(r.out, /totals: 30 30 30 \(expected 30 each\)/)
})

test.run()
