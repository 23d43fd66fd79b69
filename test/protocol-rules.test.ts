// Rules a peer inside the overlay might try to bend: replayed or
// future-stamped HELLOs and walks, someone else's name (this node's own
// included), a SIGNED unicast smuggling an unverified origin block, and
// plaintext sent to a plugin that requires encryption.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { createNode, generateIdentity, isP4Error, ManualClock, memoryTransport, MemoryNetwork, P4Error, type Node } from '../ts/index.js'
import { decodeHello } from '../ts/overlay/hello-codec.js'
import { encodeDiscover } from '../ts/overlay/discover-codec.js'
import { buildSignedFrame } from '../ts/overlay/signing.js'
import { Flag, MsgType } from '../ts/core/protocol.js'
import { CHAT, randomMessageId, signedBroadcast, signedHello } from './helpers/attack.js'
import { inbox, startNet } from '../common/net.js'
import { Rogue } from './helpers/rogue.js'
import { tempDirs } from './helpers/tmp.js'

const utf8 = new TextEncoder()
const text = new TextDecoder()
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

// Data directories of the nodes here, removed when the file is done.
const tmp = tempDirs('p4net-rules-')
test.after(tmp.cleanup)

test('a HELLO older than userTimeoutMs + clockSkewMs is refused, also by a node that never saw a newer one (a restart)', async () => {
  const network = new MemoryNetwork()
  const transport = memoryTransport(network)
  // Clock time: the HELLO ages as the test drives the clock, to just inside and just past its window.
  const clock = new ManualClock({ idle: () => network.idle })
  const timers = { userTimeoutMs: 600, clockSkewMs: 100, maintenanceMs: 50 }
  const vic = await createNode({ username: 'vic', transport, timers, clock })
  // h and h2 have never met vic: to them the replay is the only HELLO of vic there is.
  const h = await createNode({ username: 'h', transport, timers, clock })
  const h2 = await createNode({ username: 'h2', transport, timers, clock })
  try {
    await vic.start()
    await h.start()
    await h2.start()
    const spyId = generateIdentity()
    const spy = await Rogue.dial(vic, { identity: spyId, username: 'spy', transport })
    await clock.until(() => spy.frames.some((f) => f.type === MsgType.HELLO), 3000, "vic's HELLO at the spy")
    const old = spy.frames.find((f) => f.type === MsgType.HELLO)!
    // Its sequence number is its time stamp (Unix ms).
    const stampedAt = Number(decodeHello(old.payload.subarray(96)).seq)
    const window = timers.userTimeoutMs + timers.clockSkewMs
    const replayers = await Promise.all([h, h2].map((x) => Rogue.dial(x, { identity: spyId, username: 'spy', transport })))
    for (const [i, x] of [h, h2].entries()) {
      replayers[i]!.sendSigned(signedHello(spyId, 'spy', clock.wall()))
      await clock.until(() => x.users().includes('spy'), 3000, `spy known at ${x.username}`)
    }
    // Just inside the window h2 takes it ...
    await clock.advance(stampedAt + window - 10 - clock.wall())
    replayers[1]!.send({ ...old, hops: 1 })
    await clock.until(() => h2.users().includes('vic'), 3000, 'h2 taking the HELLO inside its window')
    // ... just past it h refuses it.
    await clock.advance(20)
    const stale = h.stats().staleHello
    replayers[0]!.send({ ...old, hops: 1 })
    await clock.until(() => h.stats().staleHello === stale + 1, 3000, 'h refusing the old HELLO')
    assert.not.ok(h.users().includes('vic'))
  } finally {
    await Promise.all([vic.stop(), h.stop(), h2.stop()])
  }
})

test('a HELLO stamped beyond clockSkewMs in the future is refused, and its sender told why (a CLOCK_SKEW warning)', async () => {
  const net = await startNet({ n: 1, transport: 'memory', clock: 'manual', options: () => ({ username: 'vic', timers: { clockSkewMs: 60_000 } }) })
  try {
    const vic = net.nodes[0]!
    const warnings: P4Error[] = []
    vic.on('warning', (w: P4Error) => warnings.push(w))
    const id = generateIdentity()
    const rogue = await Rogue.dial(vic, { identity: id, username: 'ahead', transport: memoryTransport(net.network!) })
    const stale = vic.stats().staleHello
    rogue.sendSigned(signedHello(id, 'ahead', net.clock!.wall() + 3_600_000))
    await net.until(() => vic.stats().staleHello === stale + 1, 3000, 'vic refusing the future HELLO')
    assert.not.ok(vic.users().includes('ahead'))
    assert.is(warnings.length, 1)
    assert.ok(isP4Error(warnings[0], 'CLOCK_SKEW'))
    assert.match(warnings[0]!.message, /ahead/)
    // A second one from the same peer is refused without a second warning.
    rogue.sendSigned(signedHello(id, 'ahead', net.clock!.wall() + 3_600_000))
    await net.until(() => vic.stats().staleHello === stale + 2, 3000, 'the second refused')
    assert.is(warnings.length, 1)
    // Within the tolerated skew the same peer is accepted.
    rogue.sendSigned(signedHello(id, 'ahead', net.clock!.wall() + 30_000))
    await net.until(() => vic.users().includes('ahead'), 3000, 'the HELLO within the skew accepted')
  } finally {
    await net.stop()
  }
})

test("tofu: nobody else can use this node's own name — not in a handshake, not in a HELLO — and the name is pinned to its own key", async () => {
  const dir = tmp.make()
  const network = new MemoryNetwork()
  const transport = memoryTransport(network)
  // An earlier pin of the name to another key (an identity since replaced) is overridden.
  writeFileSync(join(dir, 'pinned-keys.json'), JSON.stringify({ version: 1, pins: [['vic', hex(generateIdentity().publicKey)]] }))
  const clock = new ManualClock({ idle: () => network.idle })
  const vic = await createNode({ username: 'vic', transport, dataDir: dir, clock })
  try {
    await vic.start()
    const atVic = inbox(vic.plugin(CHAT))
    const untrusted = vic.stats().untrustedKey
    // A handshake claiming "vic" with another key is refused at the trust check.
    const claimer = generateIdentity()
    const r = await Rogue.dial(vic, { identity: claimer, username: 'vic', transport }).then((x) => x.session.done.then(() => 'closed'), () => 'refused')
    assert.ok(['closed', 'refused'].includes(r))
    await clock.until(() => vic.stats().untrustedKey > untrusted, 3000, 'the claim refused')
    assert.not.ok(vic.links().some((l) => l.username === 'vic'))
    // A HELLO for "vic" signed by another key, over an honest-looking session, is refused too.
    const mallory = generateIdentity()
    const rogue = await Rogue.dial(vic, { identity: mallory, username: 'mallory', transport })
    rogue.sendSigned(signedHello(mallory, 'mallory', clock.wall()))
    await clock.until(() => vic.users().includes('mallory'), 3000, 'mallory known')
    const before = vic.stats().untrustedKey
    rogue.sendSigned(signedHello(mallory, 'vic', clock.wall()))
    await clock.until(() => vic.stats().untrustedKey > before, 3000, 'the HELLO for vic refused')
    rogue.sendSigned(signedBroadcast(mallory, utf8.encode('I am vic')))
    await clock.until(() => atVic.length === 1, 3000, "mallory's broadcast")
    assert.equal(atVic.map((m) => [m.from, text.decode(m.data)]), [['mallory', 'I am vic']])
    await vic.stop()
    const pins = JSON.parse(readFileSync(join(dir, 'pinned-keys.json'), 'utf8')) as { pins: [string, string][] }
    assert.equal(pins.pins.find(([n]) => n === 'vic'), ['vic', hex(vic.identity.publicKey)])
  } finally {
    await vic.stop()
  }
})

test('a SIGNED unicast (an unverified origin block for the plugin) is a protocol error: the session is closed, nothing delivered', async () => {
  const net = await startNet({ n: 1, transport: 'memory', clock: 'manual', plugins: [CHAT], options: () => ({ username: 'vic' }) })
  try {
    const vic = net.nodes[0]!
    const atVic = inbox(vic.plugin(CHAT))
    const id = generateIdentity()
    const rogue = await Rogue.dial(vic, { identity: id, username: 'smuggler', transport: memoryTransport(net.network!) })
    rogue.sendSigned(signedHello(id, 'smuggler', net.clock!.wall()))
    await net.until(() => vic.users().includes('smuggler'), 3000, 'smuggler known')
    const alice = generateIdentity()
    const signed = buildSignedFrame(alice, { type: MsgType.DATA, flags: Flag.BROADCAST, pluginId: CHAT, messageId: randomMessageId(), body: utf8.encode('from alice?') })
    const bad = vic.stats().badFrame
    rogue.send({ type: MsgType.DATA, flags: Flag.SIGNED, hops: 0, pluginId: CHAT, idHi: 1, idLo: 1, payload: signed.subarray(18) })
    await rogue.session.done
    assert.is(vic.stats().badFrame, bad + 1)
    assert.is(atVic.length, 0)
  } finally {
    await net.stop()
  }
})

test('DISCOVER: a replayed walk is dropped as a duplicate; one stamped beyond the clock skew in the future is dropped as stale', async () => {
  const net = await startNet({ n: 2, transport: 'memory', clock: 'manual', options: (i) => ({ username: ['a', 'b'][i]!, timers: { clockSkewMs: 60_000 } }) })
  try {
    const [a] = net.nodes as [Node]
    const id = generateIdentity()
    const rogue = await Rogue.dial(a, { identity: id, username: 'walker', transport: memoryTransport(net.network!) })
    const walk = (sentAt: number): Uint8Array =>
      buildSignedFrame(id, { type: MsgType.DISCOVER, messageId: randomMessageId(), body: encodeDiscover({ username: 'walker', host: '127.0.0.1', port: 9, walkId: randomMessageId(), minHops: 8, maxHops: 8, sentAt }) })
    const stale = a.stats().staleWalk
    rogue.sendSigned(walk(net.clock!.wall() + 3_600_000))
    await net.until(() => a.stats().staleWalk === stale + 1, 3000, 'the future walk dropped')
    const ok = walk(net.clock!.wall())
    rogue.sendSigned(ok)
    const hits = a.stats().dedupHits
    rogue.sendSigned(ok, 3)
    await net.until(() => a.stats().dedupHits === hits + 1, 3000, 'the replay dropped as a duplicate')
  } finally {
    await net.stop()
  }
})

test('requireEncrypted: plaintext broadcasts and unicasts to the plugin are dropped and counted; sealed ones arrive', async () => {
  const groupKey = new Uint8Array(32).fill(5)
  const net = await startNet({ n: 2, transport: 'memory', clock: 'manual', options: (i) => ({ username: ['a', 'b'][i]! }) })
  try {
    const [a, b] = net.nodes as [Node, Node]
    const strict = a.plugin(CHAT, { groupKey, requireEncrypted: true })
    const atA = inbox(strict)
    const sender = b.plugin(CHAT, { groupKey })
    await net.until(() => b.users(CHAT).includes('a'), 3000, 'b seeing a run the plugin')
    await sender.broadcast(utf8.encode('plain'), { encrypted: false })
    await sender.send('a', utf8.encode('plain unicast'))
    await sender.broadcast(utf8.encode('sealed'))
    await sender.send('a', utf8.encode('sealed unicast'), { encrypted: true })
    await net.until(() => atA.length === 2, 3000, 'the sealed ones')
    assert.equal(atA.map((m) => [text.decode(m.data), m.encrypted]), [['sealed', true], ['sealed unicast', true]])
    assert.is(a.stats().notEncrypted, 2)
    assert.throws(() => a.plugin(2000, { requireEncrypted: 'yes' as never }), (e: unknown) => isP4Error(e, 'BAD_OPTION'))
    assert.throws(() => a.plugin(2001, { groupkey: groupKey } as never), (e: unknown) => isP4Error(e, 'BAD_OPTION'))
  } finally {
    await net.stop()
  }
})

test('a data directory holding names that the username rules now refuse: the node starts, drops them and says so (warning events)', async () => {
  const dir = tmp.make()
  const key = hex(generateIdentity().publicKey)
  writeFileSync(join(dir, 'pinned-keys.json'), JSON.stringify({ version: 1, pins: [['Old Name', key], ['fine', key]] }))
  writeFileSync(join(dir, 'peers.json'), JSON.stringify({ version: 1, peers: [{ host: '127.0.0.1', port: 4000, username: 'zero\u200bwidth', lastSeen: 1, failures: 0, nextAttemptAt: 0 }] }))
  const vic = await createNode({ username: 'vic', transport: memoryTransport(new MemoryNetwork()), dataDir: dir })
  const warnings: P4Error[] = []
  vic.on('warning', (w: P4Error) => warnings.push(w))
  try {
    await vic.start()
    assert.equal(warnings.map((w) => w.code), ['BAD_USERNAME', 'BAD_USERNAME'])
    assert.match(warnings[0]!.message, /pinned-keys\.json/)
    assert.match(warnings[1]!.message, /peers\.json/)
  } finally {
    await vic.stop()
  }
})

test.run()
