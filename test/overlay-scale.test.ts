// 50 nodes on the memory transport and 20 on loopback TCP, through the public
// API: membership converges, link counts respect their bounds, broadcasts
// reach every node running the plugin exactly once (and no other node),
// unicasts between random pairs arrive, encrypted broadcast opens only with
// the group key.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import type { Node, PluginMessage } from '../ts/index.js'
import { inbox, startNet, withNet, type TestNet } from '../common/net.js'
import { seededRandom } from '../common/random.js'

const N = 50
const CHAT = 7
const GROUP = 77
const LINKS = { min: 3, max: 6, hardCap: 12 }
const utf8 = new TextEncoder()
const text = new TextDecoder()

/** Even nodes run CHAT, odd ones run nothing. */
const holds = (i: number): boolean => i % 2 === 0

let net: TestNet | undefined
/** Largest link count any node had at any link-up, and who broke the cap. */
let mostLinks = 0
const overCap: string[] = []
const inboxes = new Map<string, PluginMessage[]>()

test.before(async () => {
  net = await startNet({
    n: N,
    transport: 'memory',
    // Clock time: the timers (maintenance, link pruning) fire as the tests wait.
    clock: 'manual',
    seed: 50,
    // linkMinAgeMs small: links over max may be closed soon after they open (P4: never before 30 s).
    options: () => ({ links: LINKS, timers: { linkMinAgeMs: 200 } }),
    plugins: (i) => (holds(i) ? [CHAT] : []),
    onCreate: (node, i) => {
      node.on('link-up', () => {
        const n = node.links().length
        mostLinks = Math.max(mostLinks, n)
        if (n > LINKS.hardCap) overCap.push(`${node.username}:${n}`)
      })
      if (holds(i)) inboxes.set(node.username, inbox(node.plugin(CHAT)))
    },
  })
})

test.after(async () => {
  await net?.stop()
})

function nodes(): Node[] {
  assert.ok(net, 'the network started')
  return net!.nodes
}

/** Waits in the network's clock time until `cond` holds. */
function until(cond: () => boolean, ms: number, what: string | (() => string)): Promise<void> {
  return net!.until(cond, ms, what)
}

/** Lets everything in flight arrive (the memory network idle at this instant). */
function settle(): Promise<void> {
  return net!.settle()
}

test('50 memory nodes: every node lists every user and the plugin holders', () => {
  const all = nodes().map((x) => x.username).sort()
  const holders = nodes().filter((_, i) => holds(i)).map((x) => x.username).sort()
  for (const node of nodes()) {
    assert.equal(node.users(), all, `${node.username}.users()`)
    assert.equal(node.users(CHAT), holders, `${node.username}.users(CHAT)`)
  }
  assert.equal(nodes()[1]!.pluginsOf('n00'), [CHAT])
  assert.equal(nodes()[0]!.pluginsOf('n01'), [])
})

test('links stay within [min, hardCap], and within max once settled', async () => {
  const counts = (): number[] => nodes().map((x) => x.links().length)
  await until(() => counts().every((c) => c >= LINKS.min && c <= LINKS.max), 10_000, () => `links in [${LINKS.min}, ${LINKS.max}]: ${counts().join(',')}`)
  assert.equal(overCap, [], 'no node ever went over hardCap')
  assert.ok(mostLinks <= LINKS.hardCap)
  // Links are two-way: A lists B exactly when B lists A — once nothing is in
  // flight (the Noise initiator lists a new link a moment before the responder).
  await settle()
  for (const node of nodes()) {
    for (const l of node.links()) {
      const other = nodes().find((x) => x.username === l.username)!
      assert.ok(other.links().some((b) => b.username === node.username), `${node.username} — ${l.username} is listed at both ends`)
    }
  }
})

test('a broadcast from every plugin holder arrives exactly once at every other holder, never elsewhere', async () => {
  const deliveredBefore = nodes().map((x) => x.stats().delivered)
  for (const [i, node] of nodes().entries()) if (holds(i)) await node.plugin(CHAT).broadcast(utf8.encode(`from ${node.username}`))
  const holders = nodes().filter((_, i) => holds(i))
  const expected = holders.length - 1
  await until(
    () => holders.every((x) => inboxes.get(x.username)!.length >= expected),
    10_000,
    () => `broadcasts: ${holders.map((x) => `${x.username}=${inboxes.get(x.username)!.length}`).join(' ')}`,
  )
  await settle()
  for (const x of holders) {
    const got = inboxes.get(x.username)!
    const froms = got.map((m) => m.from).sort()
    assert.equal(froms, holders.map((h) => h.username).filter((u) => u !== x.username).sort(), `${x.username} got one from each other holder`)
    for (const m of got) {
      assert.is(m.broadcast, true)
      assert.is(text.decode(m.data), `from ${m.from}`)
    }
  }
  for (const [i, x] of nodes().entries()) {
    if (!holds(i)) assert.is(x.stats().delivered, deliveredBefore[i], `${x.username} (no plugin) delivered nothing`)
  }
  // Flooding did meet duplicates, and dropped them.
  assert.ok(nodes().reduce((a, x) => a + x.stats().dedupHits, 0) > 0)
  for (const got of inboxes.values()) got.length = 0
})

test('unicast between 60 random pairs of plugin holders: all arrive, once, from the right sender', async () => {
  const random = seededRandom(60)
  const holders = nodes().filter((_, i) => holds(i))
  const sent: { from: string; to: string; body: string; encrypted: boolean }[] = []
  for (let k = 0; k < 60; k++) {
    const a = holders[Math.floor(random() * holders.length)]!
    let b = holders[Math.floor(random() * holders.length)]!
    if (b === a) b = holders[(holders.indexOf(a) + 1) % holders.length]!
    const msg = { from: a.username, to: b.username, body: `u${k}`, encrypted: k % 3 === 0 }
    sent.push(msg)
    await a.plugin(CHAT).send(b.username, utf8.encode(msg.body), { encrypted: msg.encrypted })
  }
  const total = (): number => [...inboxes.values()].reduce((a, g) => a + g.length, 0)
  await until(() => total() >= sent.length, 10_000, () => `unicasts: ${total()} of ${sent.length}`)
  await settle()
  assert.is(total(), sent.length)
  for (const msg of sent) {
    const got = inboxes.get(msg.to)!.filter((m) => text.decode(m.data) === msg.body)
    assert.is(got.length, 1, `${msg.body} at ${msg.to}`)
    assert.is(got[0]!.from, msg.from)
    assert.is(got[0]!.broadcast, false)
    assert.is(got[0]!.encrypted, msg.encrypted)
  }
  for (const got of inboxes.values()) got.length = 0
})

test('encrypted broadcast with a group key: key holders get it decrypted, others cannot open it', async () => {
  const groupKey = new Uint8Array(32).fill(0x5a)
  const keyed = nodes().slice(0, 10)
  const keyless = nodes().slice(10, 15)
  const got = new Map<string, PluginMessage[]>()
  for (const x of keyed) got.set(x.username, inbox(x.plugin(GROUP, { groupKey })))
  for (const x of keyless) got.set(x.username, inbox(x.plugin(GROUP)))
  const members = [...keyed, ...keyless].map((x) => x.username).sort()
  await until(() => nodes().every((x) => x.users(GROUP).length === members.length), 10_000, 'everyone to see the GROUP members')
  const failedBefore = keyless.map((x) => x.stats().decryptFailed)
  const secret = utf8.encode('for key holders only')
  await keyed[3]!.plugin(GROUP).broadcast(secret)
  await until(() => keyed.every((x) => x === keyed[3] || got.get(x.username)!.length === 1), 10_000, 'the group broadcast at every key holder')
  await settle()
  for (const x of keyed) {
    if (x === keyed[3]) continue
    const m = got.get(x.username)![0]!
    assert.is(m.encrypted, true)
    assert.is(m.broadcast, true)
    assert.is(m.from, keyed[3]!.username)
    assert.equal(new Uint8Array(m.data), secret)
    assert.is(got.get(x.username)!.length, 1)
  }
  for (const [i, x] of keyless.entries()) {
    assert.is(got.get(x.username)!.length, 0, `${x.username} has no key`)
    assert.is(x.stats().decryptFailed, failedBefore[i]! + 1, `${x.username} counted one undecryptable broadcast`)
  }
  assert.is(got.get(keyed[3]!.username)!.length, 0, 'not delivered to the sender')
})

test('20 nodes on loopback TCP converge, and every broadcast reaches every node once', async () => {
  await withNet({ n: 20, transport: 'tcp', seed: 20, plugins: [CHAT], convergeTimeoutMs: 8000 }, async (tcpNet) => {
    const tcpNodes = tcpNet.nodes
    const names = tcpNodes.map((x) => x.username).sort()
    for (const x of tcpNodes) assert.equal(x.users(), names)
    const got = tcpNodes.map((x) => inbox(x.plugin(CHAT)))
    for (const x of tcpNodes) await x.plugin(CHAT).broadcast(utf8.encode(`tcp from ${x.username}`))
    await tcpNet.until(() => got.every((g) => g.length >= tcpNodes.length - 1), 10_000, () => `tcp broadcasts: ${got.map((g) => g.length).join(',')}`)
    // A positive barrier, not a quiet spell: a PING round trip on every link, repeated until a round sees
    // no other frame; a late duplicate would have arrived before it.
    await tcpNet.settle()
    for (const [i, g] of got.entries()) {
      assert.equal(g.map((m) => m.from).sort(), names.filter((u) => u !== tcpNodes[i]!.username), `${tcpNodes[i]!.username}`)
      for (const m of g) assert.is(text.decode(m.data), `tcp from ${m.from}`)
    }
  })
})

test.run()
