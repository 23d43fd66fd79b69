import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isP4Error, type P4Error } from '../ts/core/errors.js'
import { writeFileAtomic } from '../ts/overlay/json-file.js'
import { PeerCache } from '../ts/overlay/peer-cache.js'
import { throwsCode } from './helpers/errors.js'
import { tempDirs } from './helpers/tmp.js'
import { waitFor } from '../common/net.js'

const tmp = tempDirs('p4net-peers-')
test.after(tmp.cleanup)

test('add / get / remove; hosts are case-folded; a known address keeps its failures', () => {
  const c = new PeerCache()
  c.add('Node-1.Example', 4001, 100, 'alice')
  assert.is(c.size, 1)
  const r = c.get('node-1.example', 4001)!
  assert.equal(r, { host: 'node-1.example', port: 4001, username: 'alice', lastSeen: 100, failures: 0, nextAttemptAt: 0 })
  c.markFailure('node-1.example', 4001, 200)
  c.add('node-1.example', 4001, 300)
  assert.is(c.get('node-1.example', 4001)!.failures, 1)
  assert.is(c.get('node-1.example', 4001)!.username, 'alice')
  assert.is(c.get('node-1.example', 4001)!.lastSeen, 300)
  c.add('::1', 4001, 1)
  assert.is(c.size, 2)
  assert.ok(c.remove('::1', 4001))
  assert.not.ok(c.remove('::1', 4001))
})

test('bad arguments and options', () => {
  const c = new PeerCache()
  throwsCode(() => c.add('', 1, 0), 'BAD_ARGUMENT')
  throwsCode(() => c.add('a b', 1, 0), 'BAD_ARGUMENT')
  throwsCode(() => c.add('h', 0, 0), 'BAD_ARGUMENT')
  throwsCode(() => c.add('h', 65536, 0), 'BAD_ARGUMENT')
  throwsCode(() => c.add('h', 1, NaN), 'BAD_ARGUMENT')
  throwsCode(() => c.add('h', 1, 0, 'bad\nname'), 'BAD_USERNAME')
  throwsCode(() => c.candidates(0, -1), 'BAD_ARGUMENT')
  throwsCode(() => new PeerCache({ maxEntries: 0 }), 'BAD_OPTION')
  throwsCode(() => new PeerCache({ baseBackoffMs: 100, maxBackoffMs: 10 }), 'BAD_OPTION')
  throwsCode(() => new PeerCache({ dataDir: '' }), 'BAD_OPTION')
  throwsCode(() => new PeerCache({ dataDir: '/tmp', fileName: 'a/b' }), 'BAD_OPTION')
  throwsCode(() => new PeerCache({ random: 1 as never }), 'BAD_OPTION')
  throwsCode(() => new PeerCache(null as never), 'BAD_OPTION')
  assert.is(c.size, 0)
})

test('backoff: exponential, capped, equal jitter; success resets', () => {
  let r = 0
  const c = new PeerCache({ baseBackoffMs: 1000, maxBackoffMs: 8000, random: () => r })
  c.add('h', 1, 0)
  const delays: number[] = []
  for (let i = 0; i < 6; i++) delays.push(c.markFailure('h', 1, 0)!.nextAttemptAt)
  assert.equal(delays, [500, 1000, 2000, 4000, 4000, 4000]) // jitter 0: half the exponential delay
  r = 0.999999
  assert.is(c.markFailure('h', 1, 0)!.nextAttemptAt, 8000)
  r = 0.5
  assert.is(c.backoff(2), 1500)
  const ok = c.markSuccess('h', 1, 50, 'bob')
  assert.is(ok.failures, 0)
  assert.is(ok.nextAttemptAt, 0)
  assert.is(ok.username, 'bob')
  assert.is(c.markFailure('h', 1, 100)!.nextAttemptAt, 100 + 750)
})

test('an address is forgotten after maxFailures consecutive failures', () => {
  const c = new PeerCache({ maxFailures: 3, random: () => 0 })
  c.add('h', 1, 0)
  assert.ok(c.markFailure('h', 1, 0))
  assert.ok(c.markFailure('h', 1, 0))
  assert.is(c.markFailure('h', 1, 0), undefined)
  assert.is(c.size, 0)
})

test('candidates: ready ones only, fewest failures then most recent, capped, skip', () => {
  const c = new PeerCache({ random: () => 0, baseBackoffMs: 1000 })
  c.add('old', 1, 10)
  c.add('new', 1, 20)
  c.add('failing', 1, 30)
  c.markFailure('failing', 1, 30) // ready again at 530
  c.add('waiting', 1, 40)
  c.markFailure('waiting', 1, 1000) // ready at 1500
  assert.equal(c.candidates(100, 10).map((p) => p.host), ['new', 'old'])
  assert.equal(c.candidates(600, 10).map((p) => p.host), ['new', 'old', 'failing'])
  assert.equal(c.candidates(2000, 10).map((p) => p.host), ['new', 'old', 'waiting', 'failing'])
  assert.equal(c.candidates(2000, 2).map((p) => p.host), ['new', 'old'])
  assert.equal(c.candidates(2000, 10, (p) => p.host === 'new').map((p) => p.host), ['old', 'waiting', 'failing'])
  assert.equal(c.candidates(2000, 0), [])
})

test('bounded: the most failing, then least recently seen, is evicted', () => {
  const c = new PeerCache({ maxEntries: 3, random: () => 0 })
  c.add('a', 1, 1)
  c.add('b', 1, 2)
  c.add('c', 1, 3)
  c.markFailure('c', 1, 3)
  c.add('d', 1, 4) // evicts c (failing)
  assert.equal(c.list().map((p) => p.host).sort(), ['a', 'b', 'd'])
  c.add('e', 1, 5) // evicts a (oldest)
  assert.equal(c.list().map((p) => p.host).sort(), ['b', 'd', 'e'])
  for (let i = 0; i < 100; i++) c.add(`x${i}`, 1, 10 + i)
  assert.is(c.size, 3)
})

test('persistence: flush, reload, 0600, no temp files left', async () => {
  const dir = join(tmp.make(), 'data')
  const c = new PeerCache({ dataDir: dir, random: () => 0 })
  c.add('a.example', 4001, 1000, 'alice')
  c.add('10.0.0.2', 4002, 2000)
  c.markFailure('10.0.0.2', 4002, 3000)
  await c.flush()
  const file = join(dir, 'peers.json')
  assert.is(statSync(file).mode & 0o777, 0o600)
  assert.equal(readdirSync(dir), ['peers.json'])
  const d = new PeerCache({ dataDir: dir })
  assert.equal(
    d.list().sort((x, y) => x.port - y.port),
    c.list().sort((x, y) => x.port - y.port),
  )
  assert.is(d.get('10.0.0.2', 4002)!.nextAttemptAt, 3500)
  await d.flush() // nothing changed: no write needed, resolves
})

test('persistence: debounced save, and flushSync', async () => {
  const dir = tmp.make()
  const c = new PeerCache({ dataDir: dir, flushDelayMs: 5 })
  c.add('h', 1, 1)
  assert.not.ok(existsSync(join(dir, 'peers.json')), 'not written synchronously')
  // The debounce timer (5 ms) writes it, within a deadline (the write replaces the file whole).
  await waitFor(() => existsSync(join(dir, 'peers.json')), 5000, 'peers.json saved')
  assert.is(JSON.parse(readFileSync(join(dir, 'peers.json'), 'utf8')).peers.length, 1)
  c.add('g', 2, 2)
  c.flushSync()
  assert.is(JSON.parse(readFileSync(join(dir, 'peers.json'), 'utf8')).peers.length, 2)
})

test('corruption: a bad file starts empty; bad entries are skipped one by one', () => {
  for (const text of ['', 'garbage', '[]', 'null', '{"version":2,"peers":[]}', '{"version":1,"peers":{}}']) {
    const dir = tmp.make()
    writeFileSync(join(dir, 'peers.json'), text)
    assert.is(new PeerCache({ dataDir: dir }).size, 0, JSON.stringify(text))
  }
  const dir = tmp.make()
  const good = { host: 'ok', port: 1, lastSeen: 5, failures: 0, nextAttemptAt: 0 }
  const entries = [
    good,
    { ...good, host: 'bad host' },
    { ...good, host: 'UPPER' },
    { ...good, port: 0 },
    { ...good, port: '1' },
    { ...good, lastSeen: -1 },
    { ...good, failures: 1.5 },
    { ...good, username: '' },
    { ...good, nextAttemptAt: null },
    null,
    7,
    good, // duplicate
    { ...good, host: 'ok2', username: 'bob' },
  ]
  writeFileSync(join(dir, 'peers.json'), JSON.stringify({ version: 1, peers: entries }))
  const c = new PeerCache({ dataDir: dir })
  assert.equal(c.list().map((p) => p.host).sort(), ['ok', 'ok2'])
  assert.is(c.get('ok2', 1)!.username, 'bob')
  // An unreadable path (a directory where the file should be) is also just empty.
  const d2 = tmp.make()
  mkdirSync(join(d2, 'peers.json'))
  assert.is(new PeerCache({ dataDir: d2 }).size, 0)
})

test('load respects maxEntries', () => {
  const dir = tmp.make()
  const peers = Array.from({ length: 10 }, (_, i) => ({ host: `h${i}`, port: 1, lastSeen: i, failures: 0, nextAttemptAt: 0 }))
  writeFileSync(join(dir, 'peers.json'), JSON.stringify({ version: 1, peers }))
  assert.is(new PeerCache({ dataDir: dir, maxEntries: 4 }).size, 4)
})

test('a failed save rejects with IO_ERROR', async () => {
  const dir = tmp.make()
  writeFileSync(join(dir, 'file'), 'x')
  const c = new PeerCache({ dataDir: join(dir, 'file', 'sub') }) // parent is a file
  c.add('h', 1, 1)
  try {
    await c.flush()
    assert.unreachable('expected IO_ERROR')
  } catch (err) {
    assert.ok(isP4Error(err, 'IO_ERROR'), String(err))
  }
  throwsCode(() => c.flushSync(), 'IO_ERROR')
  await writeFileAtomic(join(dir, 'atomic.json'), '{}', dir)
  assert.is(readFileSync(join(dir, 'atomic.json'), 'utf8'), '{}')
})

test('a failure for an address that is not cached adds nothing', () => {
  const c = new PeerCache({ random: () => 0 })
  assert.is(c.markFailure('announced.example', 4001, 0), undefined)
  assert.is(c.size, 0)
  throwsCode(() => c.markFailure('a b', 1, 0), 'BAD_ARGUMENT')
  throwsCode(() => c.markFailure('h', 0, 0), 'BAD_ARGUMENT')
})

test('flood: 260 successes from one host keep at most maxPerHost (4) and leave other hosts alone', () => {
  const c = new PeerCache()
  assert.is(c.maxPerHost, 4)
  for (let i = 0; i < 20; i++) c.markSuccess(`10.0.0.${i + 1}`, 4001, 1000 + i, `u${i}`)
  for (let i = 0; i < 260; i++) c.markSuccess('10.6.6.6', 20000 + i, 5000 + i)
  const flooder = c.list().filter((p) => p.host === '10.6.6.6')
  assert.is(flooder.length, 4)
  assert.equal(flooder.map((p) => p.port).sort(), [20256, 20257, 20258, 20259]) // its newest
  assert.is(c.size, 24)
  for (let i = 0; i < 20; i++) assert.ok(c.get(`10.0.0.${i + 1}`, 4001), `honest host ${i} kept`)
})

test('flood into a full cache: only the host\'s first entry evicts another host\'s, and the worst one', () => {
  const c = new PeerCache({ maxEntries: 16, random: () => 0 })
  for (let i = 0; i < 16; i++) c.markSuccess(`h${i}`, 1, 1000 + i)
  c.markFailure('h9', 1, 2000) // the one failing entry: the first to go
  for (let i = 0; i < 260; i++) c.markSuccess('flood.example', 1 + i, 5000 + i)
  assert.is(c.size, 16)
  assert.is(c.list().filter((p) => p.host === 'flood.example').length, 1)
  assert.is(c.get('h9', 1), undefined)
  for (let i = 0; i < 16; i++) if (i !== 9) assert.ok(c.get(`h${i}`, 1), `h${i} kept`)
  // A new host still gets in, in place of the least recently seen entry.
  c.markSuccess('newcomer', 1, 9000)
  assert.ok(c.get('newcomer', 1))
  assert.is(c.get('h0', 1), undefined)
})

test('per host: the host\'s own failing, then least recently seen, entry makes room; maxPerHost is an option', () => {
  const c = new PeerCache({ maxPerHost: 2, random: () => 0 })
  c.add('nat.example', 1, 10)
  c.add('nat.example', 2, 20)
  c.markFailure('nat.example', 2, 30)
  c.add('nat.example', 3, 40) // evicts port 2 (failing), not port 1 (older)
  assert.equal(c.list().map((p) => p.port).sort(), [1, 3])
  c.add('nat.example', 4, 50) // evicts port 1 (least recently seen)
  assert.equal(c.list().map((p) => p.port).sort(), [3, 4])
  c.add('other', 1, 60)
  assert.is(c.size, 3)
  assert.ok(c.remove('nat.example', 3))
  c.add('nat.example', 5, 70) // room again after a removal: no eviction
  assert.equal(c.list().filter((p) => p.host === 'nat.example').map((p) => p.port).sort(), [4, 5])
  throwsCode(() => new PeerCache({ maxPerHost: 0 }), 'BAD_OPTION')
  throwsCode(() => new PeerCache({ maxPerHost: 1.5 }), 'BAD_OPTION')
  throwsCode(() => new PeerCache({ warn: 'log' as never }), 'BAD_OPTION')
})

test('load applies maxPerHost', () => {
  const dir = tmp.make()
  const peers = Array.from({ length: 10 }, (_, i) => ({ host: 'one.example', port: i + 1, lastSeen: i, failures: 0, nextAttemptAt: 0 }))
  peers.push({ host: 'two.example', port: 1, lastSeen: 0, failures: 0, nextAttemptAt: 0 })
  writeFileSync(join(dir, 'peers.json'), JSON.stringify({ version: 1, peers }))
  const c = new PeerCache({ dataDir: dir, maxPerHost: 3 })
  assert.is(c.list().filter((p) => p.host === 'one.example').length, 3)
  assert.ok(c.get('two.example', 1))
})

test('load: entries whose username breaks the current rules are dropped with one warning each', () => {
  const dir = tmp.make()
  const entry = (host: string, username?: string) => ({ host, port: 4001, username, lastSeen: 1, failures: 0, nextAttemptAt: 0 })
  const peers = [entry('ok.example', 'alice'), entry('upper.example', 'Alice'), entry('space.example', 'a b'), entry('zw.example', 'a\u200bb'), entry('::1', 'p\u0430ypal'), entry('anon.example')]
  writeFileSync(join(dir, 'peers.json'), JSON.stringify({ version: 1, peers }))
  const warnings: P4Error[] = []
  const c = new PeerCache({ dataDir: dir, warn: (e) => warnings.push(e) })
  assert.equal(c.list().map((p) => p.host).sort(), ['anon.example', 'ok.example'])
  assert.is(warnings.length, 4)
  const file = join(dir, 'peers.json')
  for (const w of warnings) {
    assert.ok(isP4Error(w, 'BAD_USERNAME'), String(w))
    assert.ok(w.message.includes(file), w.message)
  }
  assert.match(warnings[0]!.message, 'upper.example:4001, username "Alice": is not lower case')
  assert.match(warnings[2]!.message, 'zw.example:4001, username "a\\u{200B}b"')
  assert.match(warnings[3]!.message, '[::1]:4001')
  // The default warn (NODE_DEBUG log) never stops the cache from loading.
  assert.is(new PeerCache({ dataDir: dir }).size, 2)
})

test('a failing write leaves no temporary file (async and sync), and a short write is an error', () => {
  // A file size limit (RLIMIT_FSIZE) makes write() fail with EFBIG after the
  // temporary file exists, even for root; Node ignores SIGXFSZ.
  const dir = tmp.make()
  const moduleUrl = new URL('../ts/overlay/json-file.js', import.meta.url).href
  const script = `
    const m = await import(process.argv[1])
    const dir = process.argv[2]
    const text = 'x'.repeat(256 * 1024)
    const out = []
    try { await m.writeFileAtomic(dir + '/a.json', text, dir); out.push('written') } catch (e) { out.push(e.code) }
    try { m.writeFileAtomicSync(dir + '/b.json', text, dir); out.push('written') } catch (e) { out.push(e.code) }
    console.log(JSON.stringify(out))`
  const r = spawnSync('/bin/sh', ['-c', 'ulimit -f 16 && exec "$@"', 'sh', process.execPath, '--input-type=module', '-e', script, moduleUrl, dir], { encoding: 'utf8' })
  assert.is(r.status, 0, r.stderr)
  assert.equal(JSON.parse(r.stdout), ['EFBIG', 'EFBIG'])
  assert.equal(readdirSync(dir), [])
})

test.run()
