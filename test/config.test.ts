// Configuration of the p4net command: flags > environment > config file >
// defaults, per key; invalid values name their flag, variable, or file and key.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isP4Error } from '../ts/core/errors.js'
import { createNode } from '../ts/node.js'
import { CliError } from '../ts/cli/args.js'
import { findConfigFile, readConfigFile, userConfigDir } from '../ts/cli/config-file.js'
import { resolveConfig, toNodeOptions } from '../ts/cli/config.js'
import { settingsFromEnv, settingsFromFlags } from '../ts/cli/flags-env.js'
import type { ConfigInput } from '../ts/cli/settings.js'
import { tempDirs } from './helpers/tmp.js'

const MAIN = fileURLToPath(new URL('../ts/cli/main.js', import.meta.url))
const tmp = tempDirs('p4cfg-')
const root = tmp.make()
const freshDir = (): string => tmp.make(root)
function writeJson(path: string, value: unknown): string {
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value))
  return path
}

/** A sandbox: its own cwd and home, no config file unless written. */
function sandbox(): { cwd: string; home: string; input: (extra?: Partial<ConfigInput>) => ConfigInput } {
  const cwd = freshDir()
  const home = freshDir()
  return { cwd, home, input: (extra = {}) => ({ command: 'start', flags: {}, env: {}, cwd, home, platform: 'linux', ...extra }) }
}

function badConfig(fn: () => unknown, ...parts: Array<string | RegExp>): string {
  try {
    fn()
  } catch (err) {
    assert.ok(isP4Error(err, 'BAD_CONFIG'), `expected BAD_CONFIG, got ${String(err)}`)
    for (const p of parts) assert.match((err as Error).message, p)
    return (err as Error).message
  }
  return assert.unreachable('expected BAD_CONFIG') as never
}

test.after(tmp.cleanup)

test('defaults: loopback, any port, no bootstrap, data dir = user config dir', () => {
  const s = sandbox()
  const r = resolveConfig(s.input())
  assert.equal(r.settings, { host: '127.0.0.1', port: 0, bootstrap: [], dataDir: join(s.home, '.config', 'p4net') })
  assert.is(r.file, undefined)
  assert.equal(r.origin, { host: 'default', port: 'default', bootstrap: 'default', dataDir: 'default' })
})

test('userConfigDir per platform', () => {
  assert.is(userConfigDir({ XDG_CONFIG_HOME: '/x' }, 'linux', '/h'), '/x/p4net')
  assert.is(userConfigDir({ XDG_CONFIG_HOME: 'relative' }, 'linux', '/h'), '/h/.config/p4net')
  assert.is(userConfigDir({}, 'linux', '/h'), '/h/.config/p4net')
  assert.is(userConfigDir({}, 'darwin', '/h'), '/h/Library/Application Support/p4net')
  assert.is(userConfigDir({ XDG_CONFIG_HOME: '/x' }, 'darwin', '/h'), '/x/p4net')
  assert.match(userConfigDir({ APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'win32', '/h'), /Roaming.p4net$/)
})

test('precedence per key: flag > env > file > default', () => {
  const s = sandbox()
  writeJson(join(s.cwd, 'p4net.config.json'), { username: 'fileuser', port: 1111, host: '10.1.2.3', bootstrap: ['127.0.0.1:9'], dataDir: 'state', profile: 'small' })
  const env = { P4NET_USERNAME: 'envuser', P4NET_PORT: '2222', P4NET_PROFILE: 'default' }
  const r = resolveConfig(s.input({ env, flags: { username: 'flaguser' } }))
  assert.is(r.settings.username, 'flaguser')
  assert.is(r.settings.port, 2222)
  assert.is(r.settings.profile, 'default')
  assert.is(r.settings.host, '10.1.2.3')
  assert.equal(r.settings.bootstrap, ['127.0.0.1:9'])
  assert.is(r.settings.dataDir, join(s.cwd, 'state'), 'relative dataDir in a file is relative to the file')
  assert.is(r.file, join(s.cwd, 'p4net.config.json'))
  assert.equal(r.origin, { username: 'flag', port: 'env', profile: 'env', host: 'file', bootstrap: 'file', dataDir: 'file' })
  // Each layer alone wins over those below it.
  assert.is(resolveConfig(s.input({ env })).settings.username, 'envuser')
  assert.is(resolveConfig(s.input()).settings.username, 'fileuser')
  assert.is(resolveConfig(s.input({ flags: { port: '3333' }, env })).settings.port, 3333)
  assert.is(resolveConfig(s.input({ flags: { 'data-dir': 'rel' } })).settings.dataDir, join(s.cwd, 'rel'), 'flag paths are relative to cwd')
})

test('nested keys merge field by field; lists replace whole', () => {
  const s = sandbox()
  writeJson(join(s.cwd, 'p4net.config.json'), { links: { min: 3, max: 9, hardCap: 20 }, bootstrap: ['127.0.0.1:1'], timers: { maintenanceMs: 500 } })
  const r = resolveConfig(s.input({ env: { P4NET_MAX_LINKS: '7', P4NET_BOOTSTRAP: '127.0.0.1:2, 127.0.0.1:3' }, flags: { 'min-links': '2' } }))
  assert.equal(r.settings.links, { min: 2, max: 7, hardCap: 20 })
  assert.equal(r.settings.bootstrap, ['127.0.0.1:2', '127.0.0.1:3'])
  assert.equal(r.settings.timers, { maintenanceMs: 500 })
  const f = resolveConfig(s.input({ flags: { bootstrap: ['127.0.0.1:4,127.0.0.1:5', '127.0.0.1:6'] } }))
  assert.equal(f.settings.bootstrap, ['127.0.0.1:4', '127.0.0.1:5', '127.0.0.1:6'])
})

test('config file lookup: --config, P4NET_CONFIG, ./p4net.config.json, <config dir>/config.json', () => {
  const s = sandbox()
  const userDir = join(s.home, '.config', 'p4net')
  mkdirSync(userDir, { recursive: true })
  const user = writeJson(join(userDir, 'config.json'), { username: 'fromuserdir' })
  assert.is(findConfigFile(s.input()), user)
  assert.is(resolveConfig(s.input()).settings.username, 'fromuserdir')
  const local = writeJson(join(s.cwd, 'p4net.config.json'), { username: 'fromcwd' })
  assert.is(findConfigFile(s.input()), local)
  const other = writeJson(join(s.cwd, 'other.json'), { username: 'fromenvfile' })
  assert.is(resolveConfig(s.input({ env: { P4NET_CONFIG: 'other.json' } })).settings.username, 'fromenvfile')
  const flagged = writeJson(join(s.cwd, 'flag.json'), { username: 'fromflagfile' })
  assert.is(resolveConfig(s.input({ env: { P4NET_CONFIG: other }, flags: { config: flagged } })).settings.username, 'fromflagfile')
  badConfig(() => resolveConfig(s.input({ flags: { config: 'missing.json' } })), 'missing.json: config file not found')
})

test('an invalid config file names the file and the key', () => {
  const s = sandbox()
  const file = join(s.cwd, 'p4net.config.json')
  const cases: Array<[unknown, string | RegExp]> = [
    [{ port: 70000 }, 'p4net.config.json: "port" must be an integer 0..65535, got 70000'],
    [{ port: '4001' }, '"port" must be an integer 0..65535, got "4001"'],
    [{ prot: 4001 }, '"prot" is not a known key'],
    [{ username: '' }, '"username" is not a valid username'],
    [{ username: 'x'.repeat(32) }, '"username" is not a valid username'],
    [{ host: '' }, '"host" must be a non-empty string'],
    [{ bootstrap: '127.0.0.1:1' }, '"bootstrap" must be an array'],
    [{ bootstrap: ['127.0.0.1:1', 'nope'] }, '"bootstrap[1]" must look like host:port'],
    [{ links: { min: -1 } }, '"links.min" must be an integer'],
    [{ links: { most: 3 } }, '"links.most" is not a known key'],
    [{ links: 4 }, '"links" must be an object'],
    [{ timers: { pingMs: 5 } }, '"timers.pingMs" is not a known key'],
    [{ timers: { pingIntervalMs: 0 } }, '"timers.pingIntervalMs" must be an integer'],
    [{ discover: { forwardProbability: 1 } }, '"discover.forwardProbability" must be a number in [0, 1)'],
    [{ dedup: { capacity: 1 } }, '"dedup.capacity" must be an integer'],
    [{ profile: 'tiny' }, '"profile" must be "default" or "small"'],
    [{ trust: { policy: 'anyone' } }, '"trust" is invalid: trust.policy must be'],
    [{ trust: { policy: 'tofu', pins: 3 } }, '"trust" is invalid: unknown trust option "pins"'],
    [{ certificate: 'not base64!' }, '"certificate" must be base64'],
    [{ maxMessage: 0 }, '"maxMessage" must be an integer'],
    [[1, 2], 'p4net.config.json: must hold a JSON object'],
    ['{ "port": 1, }', /p4net\.config\.json: not valid JSON/],
  ]
  for (const [doc, want] of cases) {
    writeJson(file, doc)
    badConfig(() => resolveConfig(s.input()), want)
  }
  // Absolute path when the file is outside the working directory.
  const elsewhere = writeJson(join(freshDir(), 'conf.json'), { port: -1 })
  badConfig(() => readConfigFile(elsewhere, s.cwd), `${elsewhere}: "port" must be an integer`)
})

test('bad environment values name the variable; empty variables are unset', () => {
  badConfig(() => settingsFromEnv({ P4NET_PORT: 'http' }), 'P4NET_PORT must be an integer 0..65535, got "http"')
  badConfig(() => settingsFromEnv({ P4NET_BOOTSTRAP: '127.0.0.1:1,bad' }), 'P4NET_BOOTSTRAP must look like host:port (a host name or IP literal, a port 1..65535), got "bad"')
  badConfig(() => settingsFromEnv({ P4NET_MAX_LINKS: '0' }), 'P4NET_MAX_LINKS must be an integer 1..4096')
  badConfig(() => settingsFromEnv({ P4NET_USERNAME: 'a\u0007b' }), 'P4NET_USERNAME is not a valid username')
  assert.equal(settingsFromEnv({ P4NET_PORT: '', P4NET_USERNAME: '' }), {})
})

test('bad flag values are usage errors (exit 2) naming the flag', () => {
  const cases: Array<[Record<string, string | string[]>, string]> = [
    [{ port: '99999' }, 'p4net start: --port must be an integer 0..65535, got 99999'],
    [{ 'max-links': 'many' }, 'p4net start: --max-links must be an integer 1..4096, got "many"'],
    [{ bootstrap: ['127.0.0.1'] }, 'p4net start: --bootstrap must look like host:port (a host name or IP literal, a port 1..65535), got "127.0.0.1"'],
    [{ host: 'a b' }, 'p4net start: --host must be a host name or IP address'],
  ]
  for (const [flags, want] of cases) {
    try {
      settingsFromFlags(flags, 'start')
      assert.unreachable(want)
    } catch (err) {
      assert.instance(err, CliError)
      assert.ok(isP4Error(err, 'BAD_ARGUMENT'))
      assert.is((err as CliError).exitCode, 2)
      assert.match((err as Error).message, want)
    }
  }
})

test('every config key is accepted by createNode (keys mirror NodeOptions)', async () => {
  const s = sandbox()
  const full = {
    username: 'full',
    host: '127.0.0.1',
    port: 0,
    advertiseHost: '127.0.0.1',
    bootstrap: ['127.0.0.1:4001'],
    dataDir: 'data',
    links: { min: 2, max: 6, hardCap: 10 },
    profile: 'small',
    trust: { policy: 'tofu', maxPins: 100 },
    certificate: Buffer.from('cert').toString('base64'),
    discover: { forwardProbability: 0.8, minHops: 1, maxHops: 6 },
    timers: { maintenanceMs: 500, pingIntervalMs: 10_000, linkMinAgeMs: 20_000, directIdleMs: 30_000, helloRefreshMs: 60_000, userTimeoutMs: 120_000, handshakeTimeoutMs: 5000, requestTimeoutMs: 3000, walkTimeoutMs: 3000 },
    dedup: { capacity: 1024, ttlMs: 60_000 },
    maxMessage: 65536,
    hopLimit: 8,
    maxUsers: 100,
    maxDirect: 4,
    highWaterMark: 65536,
  }
  writeJson(join(s.cwd, 'p4net.config.json'), full)
  const r = resolveConfig(s.input())
  assert.equal(Object.keys(r.settings).sort(), Object.keys(full).sort())
  const { options, trust } = toNodeOptions(r.settings, r.settings.username!)
  assert.is(trust.kind, 'tofu')
  assert.equal(options.certificate, new TextEncoder().encode('cert'))
  const node = await createNode(options) // validates every option, creates the identity in dataDir
  assert.is(node.username, 'full')
  await node.stop()
  // A combination the node would refuse is refused by the loader already,
  // naming the file and both keys (test/config-sources.test.ts has the rest).
  writeJson(join(s.cwd, 'p4net.config.json'), { links: { min: 5, max: 3 } })
  badConfig(() => resolveConfig(s.input()), 'p4net.config.json: "links.min": 5 is more than "links.max": 3')
  try {
    await createNode(toNodeOptions({ ...r.settings, links: { min: 5, max: 3 } }, 'x').options)
    assert.unreachable('links.min > links.max')
  } catch (err) {
    assert.ok(isP4Error(err, 'BAD_OPTION'), String(err))
  }
})

function cli(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<{ code: number | null; out: string; err: string; killed: boolean }> {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('P4NET_') && k !== 'NODE_DEBUG') env[k] = v
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: opts.cwd, env: { ...env, HOME: opts.cwd, XDG_CONFIG_HOME: join(opts.cwd, 'xdg'), ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  let stopped = false
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out += s
    // A node came up: that is all these tests need to see.
    if (!stopped && /listening on/.test(out)) stopped = child.kill('SIGTERM')
  })
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s))
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 8000)
    child.once('exit', (code) => {
      clearTimeout(t)
      resolve({ code, out, err, killed: code === null })
    })
  })
}

test('p4net start: an invalid config file exits 2 with one line naming file and key', async () => {
  const cwd = freshDir()
  writeJson(join(cwd, 'p4net.config.json'), { username: 'x', port: 70000 })
  const r = await cli(['start'], { cwd })
  assert.is(r.code, 2)
  assert.is(r.err, 'p4net: p4net.config.json: "port" must be an integer 0..65535, got 70000\n')
  writeJson(join(cwd, 'p4net.config.json'), { username: 'x', colour: 'blue' })
  const u = await cli(['start'], { cwd })
  assert.is(u.code, 2)
  assert.match(u.err, /^p4net: p4net\.config\.json: "colour" is not a known key/)
  const e = await cli(['start', '-u', 'x'], { cwd: freshDir(), env: { P4NET_PORT: 'x' } })
  assert.is(e.code, 2)
  assert.is(e.err, 'p4net: P4NET_PORT must be an integer 0..65535, got "x"\n')
})

test('p4net start: username from flag over env over file, end to end', async () => {
  const cwd = freshDir()
  writeJson(join(cwd, 'p4net.config.json'), { username: 'fileuser', dataDir: 'data' })
  const fromFile = await cli(['start'], { cwd })
  assert.is(fromFile.code, 0, fromFile.err)
  assert.match(fromFile.out, /^p4net: fileuser listening on 127\.0\.0\.1:\d+/)
  assert.match(fromFile.out, `data dir ${join(cwd, 'data')}`)
  const fromEnv = await cli(['start'], { cwd, env: { P4NET_USERNAME: 'envuser' } })
  assert.match(fromEnv.out, /^p4net: envuser listening/)
  const fromFlag = await cli(['start', '--username', 'flaguser'], { cwd, env: { P4NET_USERNAME: 'envuser' } })
  assert.match(fromFlag.out, /^p4net: flaguser listening/)
})

test.run()
