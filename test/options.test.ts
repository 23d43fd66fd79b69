// The option schema (ts/option-schema.ts) and what derives from it:
// createNode's validation and defaults, --help, docs/cli.md's tables.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { isP4Error } from '../ts/core/errors.js'
import { createNode, type NodeOptions } from '../ts/node.js'
import { defaultOf, defaultText, OPTIONS, optionEntry, problemOf, PROFILE_NAMES, resolveOptions } from '../ts/options.js'
import { helpText } from '../ts/cli/args.js'
import { validateConfig } from '../ts/cli/config-file.js'
import { withOptionTables } from '../ts/cli/options-doc.js'
import { chatSpec } from '../ts/cli/chat.js'
import { startSpec } from '../ts/cli/start.js'
import { linkQuota } from '../common/net.js'

const CLI_MD = fileURLToPath(new URL('../../docs/cli.md', import.meta.url))

function unique(values: Array<string | undefined>, what: string): void {
  const seen = new Set<string>()
  for (const v of values) {
    if (v === undefined) continue
    assert.not.ok(seen.has(v), `${what} ${v} is used twice`)
    seen.add(v)
  }
}

test('schema: each entry documented, each default within its own range, flags and variables unique', () => {
  assert.ok(OPTIONS.length > 50, 'groups and their fields are entries')
  for (const e of OPTIONS) {
    assert.ok(e.doc.length > 0, `${e.name} has a doc line`)
    assert.not.match(e.doc, /\n/, `${e.name}: one line`)
    if (e.atMost !== undefined) assert.ok(optionEntry(e.atMost), `${e.name}: atMost ${e.atMost} is an entry`)
    if (e.raisedBy !== undefined) assert.ok(optionEntry(e.raisedBy), `${e.name}: raisedBy ${e.raisedBy} is an entry`)
    if (e.name.includes('.')) assert.is(optionEntry(e.name.split('.')[0]!)?.kind, 'group', `${e.name} is under a group`)
    if (e.kind === 'group') assert.ok(OPTIONS.some((f) => f.name.startsWith(`${e.name}.`)), `${e.name} has fields`)
    if (e.flag !== undefined && e.kind !== 'bool') assert.ok(e.placeholder, `--${e.flag} shows a value placeholder`)
    if (e.kind === 'bool') assert.is(e.placeholder, undefined, `--${e.flag} takes no value`)
    for (const p of PROFILE_NAMES) {
      const d = defaultOf(e.name, p)
      if (d === undefined) continue
      assert.is(problemOf(e, d, 'api'), undefined, `${e.name}: the ${p} default ${String(d)} is within its own range`)
      const bound = e.atMost === undefined ? undefined : defaultOf(e.atMost, p)
      if (typeof bound === 'number') assert.ok((d as number) <= bound, `${e.name}: the ${p} default is at most ${e.atMost}'s`)
    }
  }
  unique(OPTIONS.map((e) => e.flag), 'flag')
  unique(OPTIONS.map((e) => e.short), 'short flag')
  unique(OPTIONS.map((e) => e.env), 'environment variable')
  for (const e of OPTIONS) if (e.env !== undefined) assert.match(e.env, /^P4NET_[A-Z_]+$/)
})

test("resolveOptions: every default is what it was before the schema, per profile", () => {
  const timers = { maintenanceMs: 1000, pingIntervalMs: 15_000, linkMinAgeMs: 30_000, directIdleMs: 60_000, helloRefreshMs: 300_000, userTimeoutMs: 900_000, handshakeTimeoutMs: 10_000, requestTimeoutMs: 5000, walkTimeoutMs: 5000, lkaSyncMs: 60_000, clockSkewMs: 600_000 }
  const quotas = { framesPerSecond: 20_000, helloPerSecond: 500, discoverPerSecond: 20, duplicatesPerSecond: 10_000, badSignaturesPerMinute: 30, lkaRequestsPerMinute: 6, maxPendingHandshakes: 64, notReadingMs: 10_000, banMs: 60_000, cpuMsPerSecond: 250, cpuBurstMs: 50, decryptFailuresPerMinute: 30 }
  const common = { username: 'a', host: '127.0.0.1', port: 0, advertiseHost: '127.0.0.1', bootstrap: [], hopLimit: 16, discover: { forwardProbability: 0.9, minHops: 2, maxHops: 8 }, timers, certificate: undefined }
  const lan = { enabled: false, group: '239.255.80.52', port: 42052, intervalMs: 15_000, transport: undefined }
  const relay = { serve: 'auto', client: 'auto', count: 2, maxReservations: 128, reservationsPerHost: 4, reservationMs: 900_000, maxCircuits: 256, circuitsPerReservation: 16, circuitsPerPeer: 8, circuitBytes: 256 << 20, circuitMs: 1_800_000, connectsPerMinute: 120 }
  const d = resolveOptions({ username: 'a' })
  assert.equal(d.cfg, { ...common, links: { min: 4, max: 12, hardCap: 64 }, maxDirect: 32, maxMessage: 16 << 20, dedup: { capacity: 1 << 16, ttlMs: 600_000 }, maxUsers: 4096, highWaterMark: 1 << 20, streams: { max: 256, window: 256 << 10 }, reach: { peers: 3, quorum: 2, intervalMs: 600_000, servePerPeer: 3, servePerMinute: 60, serveAtOnce: 4 }, quotas, lan, relay })
  assert.is(d.profile, 'default')
  const s = resolveOptions({ username: 'a', profile: 'small' })
  const smallQuotas = { ...quotas, framesPerSecond: 5000, helloPerSecond: 200, duplicatesPerSecond: 2000, maxPendingHandshakes: 8, cpuMsPerSecond: 100, cpuBurstMs: 25 }
  assert.equal(s.cfg, { ...common, links: { min: 2, max: 4, hardCap: 8 }, maxDirect: 4, maxMessage: 1 << 20, dedup: { capacity: 1 << 12, ttlMs: 600_000 }, maxUsers: 512, highWaterMark: 64 << 10, streams: { max: 16, window: 32 << 10 }, reach: { peers: 3, quorum: 2, intervalMs: 600_000, servePerPeer: 2, servePerMinute: 10, serveAtOnce: 1 }, quotas: smallQuotas, lan: { ...lan, intervalMs: 60_000 }, relay: { ...relay, serve: false, maxReservations: 8, maxCircuits: 16, circuitBytes: 16 << 20 } })
  assert.is(resolveOptions({ username: 'a', host: '0.0.0.0' }).advertiseHost, '127.0.0.1')
  assert.is(resolveOptions({ username: 'a', host: '10.0.0.1' }).advertiseHost, '10.0.0.1')
  assert.equal(resolveOptions({ username: 'a', bootstrap: ['[::1]:9', { host: 'h', port: 1 }] }).bootstrap, [{ host: '::1', port: 9 }, { host: 'h', port: 1 }])
})

test('bounds between options: defaults follow them, a pair that does not fit names both values', () => {
  const links = (o: Partial<NodeOptions>): unknown => resolveOptions({ username: 'a', ...o }).cfg.links
  assert.equal(links({ links: { max: 100 } }), { min: 4, max: 100, hardCap: 100 }, 'hardCap raised to a given max')
  assert.equal(links({ links: { hardCap: 3 } }), { min: 3, max: 3, hardCap: 3 }, 'max and min lowered to a given hardCap')
  assert.equal(links({ links: { max: 2 } }), { min: 2, max: 2, hardCap: 64 }, 'min lowered to a given max')
  assert.equal(resolveOptions({ username: 'a', discover: { maxHops: 1 } }).cfg.discover.minHops, 1)
  const cases: Array<[Partial<NodeOptions>, string, string]> = [
    [{ links: { min: 5, max: 2 } }, 'BAD_OPTION', 'links.min 5 is more than links.max 2'],
    [{ links: { min: 20 } }, 'BAD_OPTION', 'links.min 20 is more than links.max 12 (the default)'],
    [{ profile: 'small', links: { min: 6 } }, 'BAD_OPTION', "links.min 6 is more than links.max 4 (the small profile's default)"],
    [{ links: { max: 10, hardCap: 5 } }, 'BAD_OPTION', 'links.max 10 is more than links.hardCap 5'],
    [{ discover: { minHops: 9 } }, 'BAD_OPTION', 'discover.minHops 9 is more than discover.maxHops 8 (the default)'],
    [{ port: 70000 }, 'BAD_OPTION', 'port must be an integer 0..65535, got 70000'],
    [{ bootstrap: ['127.0.0.1:1', 'nonsense'] }, 'BAD_OPTION', 'bootstrap[1] must look like host:port (a host name or IP literal, a port 1..65535), got "nonsense"'],
    [{ timers: { sometimes: 5 } as never }, 'BAD_OPTION', 'timers.sometimes is not a known option (known: maintenanceMs,'],
    [{ quotas: { banMs: 0 } }, 'BAD_OPTION', 'quotas.banMs must be an integer 1..1000000000, got 0'],
    [{ host: 'a b' }, 'BAD_OPTION', 'host must be a host name or IP address, got "a b"'],
    [{ username: 'Al' }, 'BAD_USERNAME', 'username is not a valid username ('],
    [{ username: undefined }, 'BAD_USERNAME', 'username is required'],
  ]
  for (const [o, code, message] of cases) {
    try {
      resolveOptions({ username: 'a', ...o } as NodeOptions)
      assert.unreachable(message)
    } catch (err) {
      assert.ok(isP4Error(err, code as 'BAD_OPTION'), `${message}: ${String(err)}`)
      assert.ok((err as Error).message.startsWith(message), `expected "${message}", got "${(err as Error).message}"`)
    }
  }
})

test('createNode validates through the schema before touching the disk', async () => {
  for (const [o, re] of [
    [{ username: 'a', links: { min: 9, max: 3 }, dataDir: '/nonexistent/never' }, /links\.min 9 is more than links\.max 3/],
    [{ username: 'a', identity: { publicKey: 'x' } }, /identity must come from generateIdentity\(\)/],
    [{ username: 'a', socket: {}, transport: { listen() {}, dial() {} } }, /socket applies to the default tcp transport only/],
  ] as Array<[unknown, RegExp]>) {
    try {
      await createNode(o as NodeOptions)
      assert.unreachable(String(re))
    } catch (err) {
      assert.ok(isP4Error(err, 'BAD_OPTION'), String(err))
      assert.match((err as Error).message, re)
    }
  }
})

test("test networks expect the link count the node resolved (the profile's links.min, bounded)", async () => {
  const quota = async (o: Partial<NodeOptions>): Promise<number> => linkQuota(await createNode({ username: 'q', ...o }), 100)
  assert.is(await quota({}), 4)
  assert.is(await quota({ profile: 'small' }), 2)
  assert.is(await quota({ links: { hardCap: 1 } }), 1)
  assert.is(await quota({ links: { max: 3 } }), 3)
  assert.is(linkQuota(await createNode({ username: 'q' }), 3), 2, 'never more than the other nodes')
})

test('--help lists each node option of the schema with its variable and default', () => {
  for (const spec of [startSpec, chatSpec]) {
    const help = helpText(spec)
    for (const e of OPTIONS) {
      if (e.flag === undefined) continue
      assert.match(help, `--${e.flag}`)
      assert.match(help, e.doc)
      assert.match(help, `env ${e.env}; default: ${defaultText(e)}`)
    }
    assert.match(help, 'env P4NET_CONFIG')
  }
})

test('docs/cli.md: the option tables are what the schema generates (npm run docs:options)', () => {
  const md = readFileSync(CLI_MD, 'utf8')
  assert.ok(md === withOptionTables(md), 'docs/cli.md differs from ts/option-schema.ts: run npm run docs:options')
  for (const e of OPTIONS) if (e.file !== false && !e.name.includes('.')) assert.match(md, `| \`${e.name}\` |`)
  // A hand edit inside the markers is caught; so are missing markers.
  const edited = md.replace('| `--host HOST` | `P4NET_HOST` | `host` | 127.0.0.1 |', '| `--host HOST` | `P4NET_HOST` | `host` | 0.0.0.0 |')
  assert.ok(edited !== md && withOptionTables(edited) === md)
  assert.throws(() => withOptionTables('no markers'), /options:flags:start/)
  // The config file example in the same page is a valid config.
  const example = /```json\n([\s\S]*?)```/.exec(md)![1]!
  const settings = validateConfig(JSON.parse(example), 'docs/cli.md', '/tmp', '/home/x')
  assert.is(settings.username, 'alice')
})

test.run()
