// Impersonation: no peer can make an honest node deliver a message as from a
// user whose key it does not hold — across roaming, under each of the three
// trust policies, and for relayed broadcasts. Extends the attacks of
// test/overlay-security.test.ts (impostor node, forged HELLO, replayed HELLO,
// tampered relay, allowlist/authority outsiders) with: claims made while the
// real user roams, a relaying peer that re-signs or re-labels broadcasts
// under every policy, encrypted unicast claiming another sender, a listed key
// bound to another name, a certificate used with the wrong key, and a flood
// of fresh names that pushes the real user out of the tables.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { generateIdentity, issueCertificate, memoryTransport, type Identity, type Node, type NodeOptions, type PluginMessage } from '../ts/index.js'
import { E2eBoxes, e2eAad } from '../ts/e2e.js'
import { encodeHello } from '../ts/overlay/hello-codec.js'
import { buildSignedFrame } from '../ts/overlay/signing.js'
import { Flag, HEADER_SIZE, MsgType } from '../ts/core/protocol.js'
import { initiateSession } from '../ts/session/handshake.js'
import { LinkIntent } from '../ts/session/handshake-payload.js'
import { Session } from '../ts/session/session.js'
import { frameFromBytes, Rogue } from './helpers/rogue.js'
import { inbox, startNet, type TestNet } from '../common/net.js'

const CHAT = 1001
const utf8 = new TextEncoder()
const text = new TextDecoder()
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const id64 = (): bigint => randomBytes(8).readBigUInt64BE(0)

/** A HELLO for `username` signed by `signer`, stamped `at` (Unix ms: the nodes' clock, `net.clock.wall()`, plus what the test wants). */
function hello(signer: Identity, username: string, at: number): Uint8Array {
  const body = encodeHello({ username, staticKey: signer.staticPublicKey, host: '127.0.0.1', port: 9, seq: BigInt(Math.floor(at)), features: 0, plugins: [CHAT] })
  return buildSignedFrame(signer, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId: id64(), body })
}

function broadcast(signer: Identity, body: string): Uint8Array {
  return buildSignedFrame(signer, { type: MsgType.DATA, flags: Flag.BROADCAST, pluginId: CHAT, messageId: id64(), body: utf8.encode(body) })
}

/** Every message any honest node delivered as from `name`, as "receiver:text". */
function deliveredAs(boxes: Map<string, PluginMessage[]>, name: string): string[] {
  const out: string[] = []
  for (const [who, box] of boxes) for (const m of box) if (m.from === name) out.push(`${who}:${text.decode(m.data)}`)
  return out.sort()
}

function boxesOf(nodes: Node[]): Map<string, PluginMessage[]> {
  return new Map(nodes.map((x) => [x.username, inbox(x.plugin(CHAT))]))
}

test('while alice roams (leaves one address, logs on at another), claims to be alice are refused; only her own messages arrive as hers', async () => {
  const aliceId = generateIdentity()
  const mallory = generateIdentity()
  const net = await startNet({ n: 4, transport: 'memory', clock: 'manual', plugins: [CHAT], options: (i) => ({ username: ['alice', 'bob', 'carol', 'dave'][i]!, ...(i === 0 ? { identity: aliceId } : {}) }) })
  try {
    const [oldAlice, bob, carol, dave] = net.nodes as [Node, Node, Node, Node]
    const boxes = boxesOf([bob, carol, dave])
    const rogue = await Rogue.dial(bob, { identity: mallory, username: 'mallory', transport: memoryTransport(net.network!) })
    rogue.sendSigned(hello(mallory, 'mallory', net.clock!.wall() + 60_000))
    await net.until(() => [bob, carol, dave].every((x) => x.users().includes('mallory')), 3000, 'mallory known')
    await oldAlice.plugin(CHAT).broadcast(utf8.encode('from the old address'))
    await oldAlice.stop()
    await net.until(() => [bob, carol, dave].every((x) => !x.users().includes('alice')), 5000, 'alice offline everywhere')
    // In the gap: a HELLO for "alice" signed by mallory (newer seq), then its broadcasts.
    rogue.sendSigned(hello(mallory, 'alice', net.clock!.wall() + 120_000))
    rogue.sendSigned(broadcast(mallory, 'I am alice (gap)'))
    // An impostor node named alice, with its own key, joining through carol.
    const impostor = await net.add({ username: 'alice' }, [carol], [CHAT])
    await impostor.plugin(CHAT).broadcast(utf8.encode('I am alice (node)'))
    await impostor.plugin(CHAT).send('dave', utf8.encode('I am alice (unicast)')).catch(() => undefined)
    // The real alice logs on again at a new address.
    const newAlice = await net.add({ username: 'alice', identity: aliceId }, [dave], [CHAT])
    await net.until(() => [bob, carol, dave].every((x) => x.users().includes('alice')), 5000, 'alice back online')
    await newAlice.plugin(CHAT).broadcast(utf8.encode('from the new address'))
    await newAlice.plugin(CHAT).send('bob', utf8.encode('unicast from the new address'))
    // And after: mallory tries again with a still newer HELLO.
    rogue.sendSigned(hello(mallory, 'alice', net.clock!.wall() + 180_000))
    rogue.sendSigned(broadcast(mallory, 'I am alice (after)'))
    await net.until(() => deliveredAs(boxes, 'alice').length === 7, 5000, () => `alice's own messages (${deliveredAs(boxes, 'alice').join(' | ')})`)
    await net.settle()
    assert.equal(deliveredAs(boxes, 'alice'), [
      'bob:from the new address',
      'bob:from the old address',
      'bob:unicast from the new address',
      'carol:from the new address',
      'carol:from the old address',
      'dave:from the new address',
      'dave:from the old address',
    ])
    // What mallory signed is delivered as mallory's, or not at all — never as alice's.
    for (const m of deliveredAs(boxes, 'mallory')) assert.match(m, /I am alice \((gap|after)\)/)
    // bob refused mallory's HELLO, carol the impostor node (neither was passed on).
    for (const x of [bob, carol]) assert.ok(x.stats().untrustedKey > 0, `${x.username} refused a claim`)
  } finally {
    await net.stop()
  }
})

type Policy = 'tofu' | 'allowlist' | 'authority'

/** A raw overlay session to `node` that may carry a certificate (Rogue cannot). */
async function dialRelay(net: TestNet, node: Node, identity: Identity, username: string, certificate?: Uint8Array): Promise<{ sendSigned(frame: Uint8Array, hops?: number): void; close(): void }> {
  const conn = await memoryTransport(net.network!).dial(node.address.host, node.address.port, { timeoutMs: 3000 })
  const h = await initiateSession(conn, { identity, username, intent: LinkIntent.OVERLAY, extension: certificate, timeoutMs: 3000 })
  const session = new Session(h)
  session.onframe = () => undefined
  h.conn.resume()
  return {
    sendSigned(frame, hops = 0) {
      const f = frameFromBytes(frame, hops)
      session.send(f.type, f.flags, f.hops, f.pluginId, f.idHi, f.idLo, f.payload)
    },
    close: () => session.destroy(),
  }
}

/** Three nodes a — b — c under `policy`; `relayId` is a key the policy admits (as "relay"). */
async function policyNet(policy: Policy, relayId: Identity, extra: Identity[]): Promise<{ net: TestNet; ids: Identity[] }> {
  const ids = [generateIdentity(), generateIdentity(), generateIdentity()]
  const names = ['a', 'b', 'c']
  const authority = generateIdentity()
  const t0 = Date.now()
  const notAfter = t0 + 3_600_000
  let trust: NodeOptions['trust']
  if (policy === 'allowlist') trust = { policy: 'allowlist', keys: [...ids, relayId, ...extra].map((i) => hex(i.publicKey)) }
  else if (policy === 'authority') trust = { policy: 'authority', authorityKey: hex(authority.publicKey) }
  else trust = { policy: 'tofu' }
  const cert = (id: Identity, name: string): Uint8Array | undefined => (policy === 'authority' ? issueCertificate(authority, name, id.publicKey, { notBefore: t0, notAfter }) : undefined)
  const net = await startNet({
    n: 3,
    transport: 'memory',
    clock: 'manual',
    wallAt: t0,
    topology: 'chain',
    plugins: [CHAT],
    options: (i) => ({ username: names[i]!, identity: ids[i]!, trust, certificate: cert(ids[i]!, names[i]!), links: { min: 1, max: 4 } }),
  })
  ;(net as TestNet & { certFor?: typeof cert }).certFor = cert
  return { net, ids }
}

for (const policy of ['tofu', 'allowlist', 'authority'] as const) {
  test(`${policy}: a relaying peer cannot get a broadcast delivered as from a — not by re-labelling the origin, re-signing, or a HELLO of its own`, async () => {
    const relayId = generateIdentity()
    const { net, ids } = await policyNet(policy, relayId, [])
    try {
      const [a, b, c] = net.nodes as [Node, Node, Node]
      const boxes = boxesOf([b, c])
      const certFor = (net as TestNet & { certFor: (id: Identity, name: string) => Uint8Array | undefined }).certFor
      // The relay holds an admitted key (a listed key / a certificate for "relay").
      const rogue = await dialRelay(net, b, relayId, 'relay', certFor(relayId, 'relay'))
      const relayHello = encodeHello({ username: 'relay', staticKey: relayId.staticPublicKey, host: '127.0.0.1', port: 9, seq: BigInt(Math.floor(net.clock!.wall())), features: 0, plugins: [CHAT], certificate: certFor(relayId, 'relay') })
      rogue.sendSigned(buildSignedFrame(relayId, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId: id64(), body: relayHello }))
      await net.until(() => b.users().includes('relay') && c.users().includes('relay'), 3000, 'the relay known')
      await a.plugin(CHAT).broadcast(utf8.encode('genuine'))
      await net.until(() => deliveredAs(boxes, 'a').length === 2, 3000, "a's genuine broadcast")
      const before = b.stats()
      // 1. a's origin key over the relay's signature.
      const relabelled = Uint8Array.from(broadcast(relayId, 'relabelled'))
      relabelled.set(ids[0]!.publicKey, HEADER_SIZE)
      rogue.sendSigned(relabelled, 1)
      // 2. a genuine frame of a's with the body swapped (signature no longer matches).
      const genuine = Uint8Array.from(buildSignedFrame(ids[0]!, { type: MsgType.DATA, flags: Flag.BROADCAST, pluginId: CHAT, messageId: id64(), body: utf8.encode('original') }))
      const swapped = Uint8Array.from([...genuine.subarray(0, genuine.length - 8), ...utf8.encode('swapped!')])
      rogue.sendSigned(swapped, 1)
      // 3. a HELLO claiming "a" under the relay's key (certificate for "relay" attached), then a broadcast.
      const claim = encodeHello({ username: 'a', staticKey: relayId.staticPublicKey, host: '127.0.0.1', port: 9, seq: BigInt(Math.floor(net.clock!.wall() + 60_000)), features: 0, plugins: [CHAT], certificate: certFor(relayId, 'relay') })
      rogue.sendSigned(buildSignedFrame(relayId, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId: id64(), body: claim }), 1)
      rogue.sendSigned(broadcast(relayId, 'signed by the relay'), 1)
      await a.plugin(CHAT).broadcast(utf8.encode('genuine 2'))
      await net.until(() => deliveredAs(boxes, 'a').length === 4, 3000, "a's second broadcast")
      await net.settle()
      assert.equal(deliveredAs(boxes, 'a'), ['b:genuine', 'b:genuine 2', 'c:genuine', 'c:genuine 2'])
      assert.ok(b.stats().badSignature >= before.badSignature + 2, 'both forged frames failed verification at b')
      assert.ok(b.stats().untrustedKey > before.untrustedKey, 'the claim to "a" was refused')
      // What the relay signed is the relay's.
      for (const m of [...deliveredAs(boxes, 'relay')]) assert.match(m, /signed by the relay/)
      for (const x of [b, c]) assert.equal(x.users(), ['a', 'b', 'c', 'relay'])
    } finally {
      await net.stop()
    }
  })
}

test('encrypted unicast: a box sealed "from alice" by another session is not delivered (as alice or at all)', async () => {
  const net = await startNet({ n: 2, transport: 'memory', clock: 'manual', plugins: [CHAT], options: (i) => ({ username: ['alice', 'bob'][i]! }) })
  try {
    const [alice, bob] = net.nodes as [Node, Node]
    const atBob = inbox(bob.plugin(CHAT))
    const mallory = generateIdentity()
    const rogue = await Rogue.dial(bob, { identity: mallory, username: 'mallory', transport: memoryTransport(net.network!) })
    // Mallory announces itself, so its session is attributed (to mallory) and the box is opened at all.
    rogue.sendSigned(hello(mallory, 'mallory', net.clock!.wall() + 60_000))
    await net.until(() => bob.users().includes('mallory'), 3000, 'mallory known at bob')
    // Sealed to bob (with mallory's static key) with alice's key named as the sender in the AAD.
    const bobStatic = bob.identity.staticPublicKey
    const box = new E2eBoxes(mallory).seal(bobStatic, utf8.encode('from alice, honestly'), e2eAad({ sender: alice.identity.publicKey, recipient: 'bob', pluginId: CHAT, messageId: 7n }))
    const before = bob.stats().decryptFailed
    rogue.send({ type: MsgType.DATA, flags: Flag.ENCRYPTED, hops: 0, pluginId: CHAT, idHi: 0, idLo: 7, payload: box })
    await net.until(() => bob.stats().decryptFailed === before + 1, 3000, 'bob failing to open the box')
    await alice.plugin(CHAT).send('bob', utf8.encode('really from alice'), { encrypted: true })
    await net.until(() => atBob.length === 1, 3000, "alice's own box")
    assert.equal(atBob.map((m) => [m.from, text.decode(m.data), m.encrypted]), [['alice', 'really from alice', true]])
  } finally {
    await net.stop()
  }
})

test('allowlist: a listed key bound to "carol" cannot act as "alice"', async () => {
  const ids = [generateIdentity(), generateIdentity()]
  const carolId = generateIdentity()
  const trust = { policy: 'allowlist' as const, keys: [{ key: hex(ids[0]!.publicKey), username: 'alice' }, { key: hex(ids[1]!.publicKey), username: 'bob' }, { key: hex(carolId.publicKey), username: 'carol' }] }
  const net = await startNet({ n: 2, transport: 'memory', clock: 'manual', plugins: [CHAT], options: (i) => ({ username: ['alice', 'bob'][i]!, identity: ids[i]!, trust, links: { min: 1 } }) })
  try {
    const [alice, bob] = net.nodes as [Node, Node]
    await alice.stop()
    await net.until(() => !bob.users().includes('alice'), 3000, 'alice gone')
    const before = bob.stats().untrustedKey
    const fake = await net.add({ username: 'alice', identity: carolId, trust }, [bob], [CHAT])
    await net.until(() => bob.stats().untrustedKey > before, 3000, 'bob refusing carol-as-alice')
    // The fake keeps trying (it has no link): ten seconds of clock time, each attempt refused.
    await net.sleep(10_000)
    assert.ok(bob.stats().untrustedKey > before + 1, 'bob refused the retries too')
    assert.not.ok(bob.users().includes('alice'))
    assert.equal(fake.users(), ['alice'])
  } finally {
    await net.stop()
  }
})

test("authority: carol's certificate is worthless with another key", async () => {
  const authority = generateIdentity()
  const trust = { policy: 'authority' as const, authorityKey: hex(authority.publicKey) }
  const t0 = Date.now()
  const notAfter = t0 + 3_600_000
  const ids = [generateIdentity(), generateIdentity()]
  const net = await startNet({ n: 2, transport: 'memory', clock: 'manual', wallAt: t0, plugins: [CHAT], options: (i) => ({ username: ['a', 'b'][i]!, identity: ids[i]!, trust, certificate: issueCertificate(authority, ['a', 'b'][i]!, ids[i]!.publicKey, { notBefore: t0, notAfter }), links: { min: 1 } }) })
  try {
    const [a] = net.nodes as [Node]
    const carolId = generateIdentity()
    const carolCert = issueCertificate(authority, 'carol', carolId.publicKey, { notBefore: t0, notAfter })
    const before = a.stats().untrustedKey
    const thief = await net.add({ username: 'carol', identity: generateIdentity(), trust, certificate: carolCert }, [a], [CHAT])
    await net.until(() => a.stats().untrustedKey > before, 3000, 'a refusing the stolen certificate')
    assert.not.ok(a.users().includes('carol'))
    assert.equal(thief.users(), ['carol'])
  } finally {
    await net.stop()
  }
})

test('tofu: a flood of fresh names cannot push alice out of the tables and then take her name', async () => {
  // Small tables make the flood small; with the defaults (65,536 pins, 4,096 LKA
  // entries) the same would take 65,536 HELLOs — 131 s at one peer's default HELLO
  // quota (500/s), less than alice's HELLO refresh period (300 s).
  const maxPins = 16
  const net = await startNet({ n: 3, transport: 'memory', clock: 'manual', plugins: [CHAT], options: (i) => ({ username: ['alice', 'bob', 'carol'][i]!, trust: { policy: 'tofu', maxPins }, maxUsers: maxPins }) })
  try {
    const [, bob] = net.nodes as [Node, Node]
    const atBob = inbox(bob.plugin(CHAT))
    const mallory = generateIdentity()
    const rogue = await Rogue.dial(bob, { identity: mallory, username: 'mallory', transport: memoryTransport(net.network!) })
    for (let i = 0; i < 2 * maxPins; i++) {
      const sybil = generateIdentity()
      rogue.sendSigned(hello(sybil, `fresh${i}`, net.clock!.wall() + 60_000))
    }
    // Every fresh HELLO handled (nothing left in flight on the memory network) before mallory claims alice's name.
    await net.settle()
    const refused = bob.stats().untrustedKey
    rogue.sendSigned(hello(mallory, 'alice', net.clock!.wall() + 120_000))
    rogue.sendSigned(broadcast(mallory, 'I am alice'))
    await net.settle()
    assert.ok(bob.stats().untrustedKey > refused, "mallory's HELLO for alice was refused")
    // The LKA table evicts alice's entry to make room, but the pin table fails closed when
    // full, so mallory's key is never pinned as "alice" and its broadcast is not hers.
    assert.equal(atBob.filter((m) => m.from === 'alice').map((m) => text.decode(m.data)), [], 'nothing delivered as from alice')
  } finally {
    await net.stop()
  }
})

test('allowlist (plain keys): a listed peer claiming "a" in its handshake gets none of the messages for "a" and cannot send as "a"', async () => {
  const ids = [generateIdentity(), generateIdentity(), generateIdentity()]
  const mallory = generateIdentity()
  // The documented keys: [...] form: any listed key may use any name.
  const trust = { policy: 'allowlist' as const, keys: [...ids, mallory].map((x) => hex(x.publicKey)) }
  // A chain a — c — b: b has no session of its own to a.
  const net = await startNet({ n: 3, transport: 'memory', clock: 'manual', topology: 'chain', plugins: [CHAT], options: (i) => ({ username: ['a', 'c', 'b'][i]!, identity: ids[i]!, trust, links: { min: 1, max: 2 } }) })
  try {
    const [a, , b] = net.nodes as [Node, Node, Node]
    const atA = inbox(a.plugin(CHAT))
    const atB = inbox(b.plugin(CHAT))
    assert.not.ok(b.links().some((l) => l.username === 'a'), 'b is not linked to a')
    const rogue = await Rogue.dial(b, { identity: mallory, username: 'a', transport: memoryTransport(net.network!) })
    await net.until(() => b.links().some((l) => !l.verified), 3000, "mallory's link at b")
    const claimed = b.links().find((l) => !l.verified)!
    assert.is(claimed.username, 'a', 'links() shows the claimed name, marked unverified')
    // b sends to "a": it must reach the key the table binds to "a", sealed to a's HELLO key.
    await b.plugin(CHAT).send('a', utf8.encode('for a only'), { encrypted: true })
    await b.plugin(CHAT).send('a', utf8.encode('plain for a'))
    await net.until(() => atA.length === 2, 5000, 'both messages at the real a')
    assert.equal(atA.map((m) => [m.from, text.decode(m.data), m.encrypted]), [['b', 'for a only', true], ['b', 'plain for a', false]])
    // mallory sends over its session claiming to be a: never delivered as from a.
    const unknown = b.stats().unknownOrigin
    rogue.send({ type: MsgType.DATA, flags: 0, hops: 0, pluginId: CHAT, idHi: 1, idLo: 2, payload: utf8.encode('I am a') })
    await net.until(() => b.stats().unknownOrigin === unknown + 1, 3000, "b dropping mallory's unicast as of no known user")
    await net.settle()
    assert.is(rogue.frames.filter((f) => f.type === MsgType.DATA).length, 0, 'mallory received no DATA')
    assert.is(atB.length, 0, 'nothing delivered at b')
  } finally {
    await net.stop()
  }
})

test.run()
