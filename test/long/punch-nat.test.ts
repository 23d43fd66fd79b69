// Relayed sessions and hole punching behind real NAT (issue 18.2, 18.3,
// 18.5): the NAT lab of helpers/nat-net.ts, one node per host as a child
// process (helpers/ns-node.ts). In order, on one lab:
//   1. with punching paused, the hosts behind r1 and r2 (masquerade) and r3
//      (`masquerade random`) exchange unicast, encrypted unicast, latency and
//      a stream through a relay;
//   2. the punch moves n1a→n2a to a direct TCP connection (a simultaneous
//      open through both port-preserving NATs) and fails cleanly to n3a,
//      whose connection leaves from another port than the one announced;
//   3. 20 fresh relayed sessions + punches per NAT kind: some succeed between
//      the port-preserving NATs, none towards the random one;
//   4. a new NATed node's time from process start to its first unicast;
//   5. killing the relay that carries n1a→n3a: the next message goes through
//      the other relay.
// Relayed vs direct throughput and round-trip time are measured on the way;
// the figures are printed and written to bench/results/nat.json with the
// load average. Needs root, nftables and the native addon (the punch binds
// the listening port with SO_REUSEPORT); elsewhere it prints why and passes.
import { execFileSync } from 'node:child_process'
import { loadavg } from 'node:os'
import * as assert from 'uvu/assert'
import { median, writeResults, type Result } from '../../common/results.js'
import { portSharing } from '../../ts/native/index.js'
import { test } from '../helpers/test.js'
import { NatLab, natUnavailable, removeStale } from './helpers/nat-net.js'
import { NsNode, waitFor, type NodeState } from './helpers/ns-node.js'

const PORT = 4000
const STREAM_BYTES = 4 * 1024 * 1024
const THROUGHPUT_MS = 2500
const PINGS = 200
const TRIES = 20

const sharing = portSharing()
const why = natUnavailable() ?? (typeof sharing === 'string' ? sharing : null)
let lab: NatLab | null = null
let nodes: NsNode[] = []
const loads: number[] = []
const results: Result[] = []
const skip = (): boolean => {
  if (why !== null) console.log(`  NAT punch test skipped: ${why}`)
  return why !== null
}
const states = (): Promise<NodeState[]> => Promise.all(nodes.map((n) => n.state()))
const describe = async (): Promise<string> => (await states()).map((s, i) => `${nodes[i]!.name}: ${s.reachability.status} direct ${s.direct.join(',')} ${JSON.stringify(s.stats)}`).join('; ')
const byName = (name: string): NsNode => nodes.find((n) => n.name === name)!
const boot = (): string[] => lab!.publicHosts.map((h) => `${h.addr}:${PORT}`)
const viaOf = async (from: NsNode, to: string): Promise<string | undefined> => (await from.state()).direct.find((d) => d === to || d.startsWith(`${to} via `))?.split(' via ')[1]
const round = (x: number): number => Math.round(x * 1000) / 1000
const p99 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.99) - 1]!

async function ok(n: NsNode, cmd: string, args: object, timeoutMs?: number): Promise<Record<string, unknown>> {
  const r = await n.call(cmd, args, timeoutMs)
  if (r.error !== undefined) throw new Error(`${n.name} ${cmd}: ${String(r.code)} ${String(r.error)}`)
  return r
}

async function delivered(from: NsNode, to: NsNode, text: string, encrypted = false): Promise<void> {
  await ok(from, 'send', { to: to.name, text, encrypted })
  await waitFor(() => to.messages.some((m) => m.from === from.name && m.text === text && m.encrypted === encrypted), 5000, () => `"${text}" at ${to.name}`)
}

/** A stream of `bytes` (or for `ms`) from → to, checked byte for byte by hash; MB/s from the first write to the last byte. */
async function stream(from: NsNode, to: NsNode, size: { bytes?: number; ms?: number }): Promise<number> {
  const seen = to.streams.length
  const sent = await ok(from, 'stream', { to: to.name, ...size }, 30_000)
  await waitFor(() => to.streams.length > seen, 10_000, () => `the stream at ${to.name}`)
  const got = to.streams[seen]!
  assert.is(got.from, from.name)
  assert.is(got.bytes, sent.bytes, `${from.name} → ${to.name}: every byte`)
  assert.is(got.sha256, sent.sha256, `${from.name} → ${to.name}: the same bytes`)
  return got.bytes / ((got.at - (sent.t0 as number)) / 1000) / 1e6
}

/** Median and p99 of PINGS node.latency() calls, and THROUGHPUT_MS of stream: recorded as `path`. */
async function measure(from: NsNode, to: NsNode, path: string): Promise<string> {
  const ms = (await ok(from, 'pings', { to: to.name, n: PINGS }, 30_000)).ms as number[]
  const mbps = await stream(from, to, { ms: THROUGHPUT_MS })
  const pair = `${from.name} → ${to.name}`
  results.push(
    { case: `round trip, node.latency(), median of ${PINGS}`, impl: path, pair, value: round(median(ms)), unit: 'ms', better: 'lower', p99: round(p99(ms)) },
    { case: `stream throughput, 64 KiB writes for ${THROUGHPUT_MS} ms`, impl: path, pair, value: round(mbps), unit: 'MB/s', better: 'higher' },
  )
  return `${path} ${pair}: RTT median ${median(ms).toFixed(3)} ms, p99 ${p99(ms).toFixed(3)} ms (${PINGS} pings); stream ${mbps.toFixed(1)} MB/s`
}

test.before(async () => {
  if (why !== null) return
  removeStale()
  loads.push(loadavg()[0]!)
  lab = new NatLab()
  const [pub1, pub2] = lab.publicHosts as [NonNullable<NatLab['publicHosts'][0]>, NonNullable<NatLab['publicHosts'][0]>]
  nodes = [
    new NsNode(pub1, { username: 'pub1', host: pub1.addr, port: PORT, links: { min: 2, max: 6 } }),
    new NsNode(pub2, { username: 'pub2', host: pub2.addr, port: PORT, bootstrap: [boot()[0]!], links: { min: 2, max: 6 } }),
    // Paused: the first relayed sessions stay relayed until the test punches them.
    ...lab.nats.map((n) => new NsNode(n.hosts[0]!, { username: n.hosts[0]!.name, host: n.hosts[0]!.addr, port: PORT, bootstrap: boot(), links: { min: 2, max: 6 }, punch: { paused: true } })),
  ]
  await Promise.all(nodes.map((n) => n.ready))
  // Private, holding reservations with both relays, and known to each other.
  await waitFor(async () => (await states()).slice(2).every((s) => s.reachability.status === 'private' && s.stats.relaysHeld === 2 && ['n1a', 'n2a', 'n3a'].every((u) => s.users.includes(u))), 60_000, describe)
})

test.after(async () => {
  await Promise.all(nodes.map((n) => n.stop()))
  if (!lab) return
  lab.teardown()
  assert.not.match(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), lab.prefix, 'every namespace was removed')
})

test('through a relay, before any punch: unicast, encrypted unicast, latency and a stream between the NATed hosts', async () => {
  if (skip()) return
  const [n1, n2, n3] = ['n1a', 'n2a', 'n3a'].map(byName) as [NsNode, NsNode, NsNode]
  for (const [a, b] of [[n1, n2], [n2, n1], [n1, n3], [n3, n2]] as Array<[NsNode, NsNode]>) {
    await delivered(a, b, `hello ${b.name}`)
    await delivered(a, b, `secret for ${b.name}`, true)
    assert.ok(((await ok(a, 'latency', { to: b.name })).ms as number) > 0)
    await stream(a, b, { bytes: STREAM_BYTES })
    assert.ok((await viaOf(a, b.name))?.startsWith('pub'), `${a.name} → ${b.name} relayed: ${(await a.state()).direct.join(',')}`)
  }
  for (const s of (await states()).slice(2)) assert.is(s.stats.punchAttempts, 0, 'no punch yet')
  console.log(`  ${await measure(n1, n2, 'relayed')}`)
})

test('the punch moves n1a→n2a (two port-preserving NATs) to a direct connection; to n3a (masquerade random) it fails and the relay carries on', async () => {
  if (skip()) return
  const [n1, n2, n3] = ['n1a', 'n2a', 'n3a'].map(byName) as [NsNode, NsNode, NsNode]
  assert.ok((await ok(n1, 'punch', { to: 'n2a' }, 15_000)).ok, `n1a → n2a punched: ${await describe()}`)
  assert.is(await viaOf(n1, 'n2a'), undefined, 'direct now')
  await delivered(n1, n2, 'after the punch')
  await delivered(n1, n2, 'sealed after the punch', true)
  await stream(n1, n2, { bytes: STREAM_BYTES })
  console.log(`  ${await measure(n1, n2, 'direct')}`)
  const r = await ok(n1, 'punch', { to: 'n3a' }, 15_000)
  assert.is(r.ok, false, 'no direct connection through masquerade random')
  assert.ok(((r.failed as Record<string, number>).NO_CONNECTION ?? 0) >= 1, JSON.stringify(r.failed))
  assert.ok((await viaOf(n1, 'n3a'))?.startsWith('pub'), 'still relayed')
  await delivered(n1, n3, 'still relayed')
  await stream(n1, n3, { bytes: STREAM_BYTES })
})

test(`${TRIES} fresh relayed sessions + punches per NAT kind: some succeed between the port-preserving NATs, none towards the random one`, async () => {
  if (skip()) return
  const [n1, n2, n3] = ['n1a', 'n2a', 'n3a'].map(byName) as [NsNode, NsNode, NsNode]
  for (const n of [n1, n2, n3]) await ok(n, 'punching', { paused: false, unlimited: true })
  const counts: Record<string, { ok: number; failed: number; ms: number }> = {}
  for (const [to, kind] of [[n2, 'masquerade → masquerade'], [n3, 'masquerade → masquerade random']] as Array<[NsNode, string]>) {
    const c = (counts[kind] = { ok: 0, failed: 0, ms: 0 })
    const t0 = Date.now()
    for (let i = 0; i < TRIES; i++) {
      const r = await ok(n1, 'fresh-punch', { to: to.name, text: `try ${i}` }, 20_000)
      assert.ok((r.relayedVia as string | undefined)?.startsWith('pub'), `try ${i}: a relayed session first`)
      if (r.ok) c.ok++
      else c.failed++
    }
    c.ms = Date.now() - t0
    // Every try's message arrived, punched or not.
    await waitFor(() => Array.from({ length: TRIES }, (_, i) => `try ${i}`).every((t) => to.messages.some((m) => m.from === 'n1a' && m.text === t)), 5000, () => `the ${TRIES} messages at ${to.name}`)
    results.push({ case: `punch over ${TRIES} fresh relayed sessions`, impl: kind, value: c.ok, unit: 'succeeded', failed: c.failed, msPerTry: Math.round(c.ms / TRIES) })
  }
  const s1 = await n1.state()
  console.log(`  punches of ${TRIES}: ${Object.entries(counts).map(([k, c]) => `${k} ${c.ok} ok / ${c.failed} failed (${Math.round(c.ms / TRIES)} ms a try)`).join('; ')}; n1a failures ${JSON.stringify(Object.fromEntries(Object.entries(s1.stats).filter(([k]) => k.startsWith('punchFailed.'))))}`)
  assert.ok(counts['masquerade → masquerade']!.ok >= 1, 'at least one punch between the port-preserving NATs')
  assert.is(counts['masquerade → masquerade random']!.ok, 0, 'no punch through masquerade random')
}, { deadlineMs: 180_000 })

test('a new node behind NAT: time from process start to its first unicast (to n2a, behind the other NAT)', async () => {
  if (skip()) return
  const host = lab!.nats[0]!.hosts[0]!
  const n2 = byName('n2a')
  const fresh = new NsNode(host, { username: 'n1b', host: host.addr, port: PORT + 1, bootstrap: boot(), links: { min: 2, max: 6 }, firstTo: 'n2a' })
  nodes.push(fresh)
  await waitFor(() => n2.messages.some((m) => m.from === 'n1b' && m.text === 'first'), 30_000, () => 'n1b\'s first unicast at n2a')
  const at = n2.messages.find((m) => m.from === 'n1b')!.at - fresh.spawnedAt
  results.push({ case: 'process start to first unicast delivered (NATed → NATed, relayed)', impl: 'n1b → n2a', value: at, unit: 'ms', better: 'lower', firstSendInChild: fresh.firstSent === null ? null : Math.round(fresh.firstSent) })
  console.log(`  n1b (behind r1): spawned → first unicast at n2a ${at} ms (its send resolved ${fresh.firstSent?.toFixed(0)} ms after its process started)`)
})

test('killing the relay that carries a circuit: the next message goes through the other relay', async () => {
  if (skip()) return
  const [n1, n3] = ['n1a', 'n3a'].map(byName) as [NsNode, NsNode]
  await delivered(n1, n3, 'before the kill')
  const relay = await viaOf(n1, 'n3a')
  assert.ok(relay === 'pub1' || relay === 'pub2', `relayed by a public node: ${relay}`)
  const other = relay === 'pub1' ? 'pub2' : 'pub1'
  byName(relay).proc.kill('SIGKILL')
  // The circuit's session ends with the relay's connection; the next send opens one through the other.
  await waitFor(async () => (await viaOf(n1, 'n3a')) !== relay, 10_000, () => `n1a to notice ${relay} is gone`)
  await delivered(n1, n3, 'after the kill')
  assert.is(await viaOf(n1, 'n3a'), other, `n1a → n3a through ${other} now`)
  console.log(`  killed ${relay}; n1a → n3a now via ${other}`)
})

test('the figures: printed above, written to bench/results/nat.json', () => {
  if (skip()) return
  loads.push(loadavg()[0]!)
  const load = `load average (1 min) ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)}`
  writeResults('nat', { notes: [load, 'one run of test/long/punch-nat.test.ts in the NAT lab (network namespaces, nftables masquerade)'], results })
  console.log(`  ${load}`)
  assert.ok(results.length > 0)
})

test.run()
