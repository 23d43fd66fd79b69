// Errors of the p4net command's configuration name what the user typed: the
// flag, the environment variable, or the config file and key, with the value,
// also for a pair of options checked together (min <= max), whose values can
// come from different places.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isP4Error } from '../ts/core/errors.js'
import { CliError } from '../ts/cli/args.js'
import { readConfigFile } from '../ts/cli/config-file.js'
import { resolveConfig, toNodeOptions } from '../ts/cli/config.js'
import type { ConfigInput } from '../ts/cli/settings.js'
import { createNode } from '../ts/node.js'

const root = mkdtempSync(join(tmpdir(), 'p4src-'))
let dirs = 0

/** A sandbox with its own cwd and home; `file` is written as ./p4net.config.json. */
function input(extra: Partial<ConfigInput> & { file?: unknown; raw?: string | Buffer } = {}): ConfigInput {
  const cwd = mkdtempSync(join(root, `${dirs++}-`))
  if (extra.file !== undefined) writeFileSync(join(cwd, 'p4net.config.json'), JSON.stringify(extra.file))
  if (extra.raw !== undefined) writeFileSync(join(cwd, 'p4net.config.json'), extra.raw)
  const { file: _f, raw: _r, ...rest } = extra
  return { command: 'start', flags: {}, env: {}, cwd, home: cwd, platform: 'linux', ...rest }
}

/** The error resolveConfig throws: a usage error (flag involved) or BAD_CONFIG, with exactly `message`. */
function refused(i: ConfigInput, kind: 'usage' | 'config', message: string): void {
  try {
    resolveConfig(i)
  } catch (err) {
    if (kind === 'usage') {
      assert.instance(err, CliError)
      assert.ok(isP4Error(err, 'BAD_ARGUMENT'))
      assert.is((err as CliError).exitCode, 2)
      assert.is((err as Error).message, `p4net start: ${message}`)
    } else {
      assert.ok(isP4Error(err, 'BAD_CONFIG'), String(err))
      assert.is((err as Error).message, message)
    }
    return
  }
  assert.unreachable(message)
}

test.after(() => rmSync(root, { recursive: true, force: true }))

test('a pair of flags: both flags and values named, a usage error', () => {
  refused(input({ flags: { 'min-links': '10', 'max-links': '5' } }), 'usage', '--min-links 10 is more than --max-links 5')
  refused(input({ flags: { 'min-links': '20' } }), 'usage', '--min-links 20 is more than links.max 12 (the default)')
  refused(input({ flags: { 'min-links': '5', profile: 'small' } }), 'usage', "--min-links 5 is more than links.max 4 (the small profile's default)")
})

test('a pair of environment variables: both named with their values, BAD_CONFIG', () => {
  refused(input({ env: { P4NET_MIN_LINKS: '10', P4NET_MAX_LINKS: '5' } }), 'config', 'P4NET_MIN_LINKS=10 is more than P4NET_MAX_LINKS=5')
  refused(input({ env: { P4NET_MIN_LINKS: '5', P4NET_PROFILE: 'small' } }), 'config', "P4NET_MIN_LINKS=5 is more than links.max 4 (the small profile's default)")
})

test('a pair in the config file: the file and both keys named', () => {
  refused(input({ file: { links: { min: 5, max: 3 } } }), 'config', 'p4net.config.json: "links.min": 5 is more than "links.max": 3')
  refused(input({ file: { links: { max: 9, hardCap: 4 } } }), 'config', 'p4net.config.json: "links.max": 9 is more than "links.hardCap": 4')
  refused(input({ file: { discover: { minHops: 9 } } }), 'config', '"discover.minHops": 9 in p4net.config.json is more than discover.maxHops 8 (the default)')
})

test('a pair from different places: each value named where it came from', () => {
  refused(input({ file: { links: { max: 3 } }, flags: { 'min-links': '5' } }), 'usage', '--min-links 5 is more than "links.max": 3 in p4net.config.json')
  refused(input({ file: { links: { min: 3 } }, flags: { 'max-links': '2' } }), 'usage', '"links.min": 3 in p4net.config.json is more than --max-links 2')
  refused(input({ file: { links: { max: 3 } }, env: { P4NET_MIN_LINKS: '5' } }), 'config', 'P4NET_MIN_LINKS=5 is more than "links.max": 3 in p4net.config.json')
  refused(input({ env: { P4NET_MAX_LINKS: '2' }, flags: { 'min-links': '3' } }), 'usage', '--min-links 3 is more than P4NET_MAX_LINKS=2')
  // A higher layer that fixes the pair wins: no error.
  assert.equal(resolveConfig(input({ file: { links: { min: 5, max: 3 } }, flags: { 'max-links': '6' } })).settings.links, { min: 5, max: 6 })
})

test('--bootstrap, P4NET_BOOTSTRAP and "bootstrap" errors name the flag, variable or key and the value', () => {
  const tail = 'must look like host:port (a host name or IP literal, a port 1..65535), got'
  refused(input({ flags: { bootstrap: ['127.0.0.1:1', '127.0.0.1:2,nohost'] } }), 'usage', `--bootstrap ${tail} "nohost"`)
  refused(input({ env: { P4NET_BOOTSTRAP: '127.0.0.1:1, bad host:1' } }), 'config', `P4NET_BOOTSTRAP ${tail} "bad host:1"`)
  refused(input({ file: { bootstrap: ['127.0.0.1:1', '127.0.0.1:99999'] } }), 'config', `p4net.config.json: "bootstrap[1]" ${tail} "127.0.0.1:99999"`)
  refused(input({ file: { bootstrap: [4001] } }), 'config', 'p4net.config.json: "bootstrap[0]" must be a "host:port" string, got 4001')
})

test('every source is remembered per option, nested ones dotted', () => {
  const r = resolveConfig(input({ file: { links: { hardCap: 20 }, timers: { maintenanceMs: 500 } }, env: { P4NET_MAX_LINKS: '7' }, flags: { 'min-links': '2', port: '1' } }))
  assert.equal(r.sources, { host: 'default', port: 'flag', bootstrap: 'default', dataDir: 'default', 'links.hardCap': 'file', 'timers.maintenanceMs': 'file', 'links.max': 'env', 'links.min': 'flag' })
})

test('a config file with a UTF-8 byte order mark is read', () => {
  const bom = Buffer.from([0xef, 0xbb, 0xbf])
  const i = input({ raw: Buffer.concat([bom, Buffer.from(JSON.stringify({ username: 'bom', port: 4001 }))]) })
  const r = resolveConfig(i)
  assert.is(r.settings.username, 'bom')
  assert.is(r.settings.port, 4001)
  // Only one, at the very start: anything else is still not JSON.
  const twice = input({ raw: Buffer.concat([bom, bom, Buffer.from('{}')]) })
  assert.throws(() => readConfigFile(join(twice.cwd!, 'p4net.config.json'), twice.cwd), /not valid JSON/)
})

test('quotas and socket options can be set in a config file, checked by the schema', async () => {
  refused(input({ file: { quotas: { helloPerSecond: 0 } } }), 'config', 'p4net.config.json: "quotas.helloPerSecond" must be an integer 1..1000000000, got 0')
  refused(input({ file: { quotas: { hello: 1 } } }), 'config', 'p4net.config.json: "quotas.hello" is not a known key (known: framesPerSecond, helloPerSecond, discoverPerSecond, duplicatesPerSecond, badSignaturesPerMinute, lkaRequestsPerMinute, maxPendingHandshakes, notReadingMs, banMs, cpuMsPerSecond, cpuBurstMs, decryptFailuresPerMinute)')
  refused(input({ file: { socket: { sendBuffer: -1 } } }), 'config', 'p4net.config.json: "socket" is invalid: sendBuffer must be an integer 1..1073741824, got -1')
  refused(input({ file: { transport: 'tcp' } }), 'config', 'p4net.config.json: "transport" is not a known key (known: username, host, port, advertiseHost, bootstrap, dataDir, profile, links, maxMessage, hopLimit, trust, certificate, discover, timers, dedup, maxUsers, maxDirect, highWaterMark, streams, reach, quotas, lan, relay, socket)')
  const r = resolveConfig(input({ file: { quotas: { helloPerSecond: 9 }, socket: { noDelay: true } } }))
  const { options } = toNodeOptions(r.settings, 'q')
  assert.equal(options.quotas, { helloPerSecond: 9 })
  const node = await createNode(options)
  assert.equal(node.options.socket, { noDelay: true })
})

test.run()
