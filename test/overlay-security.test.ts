// Attacks on the overlay, from outside (a node with a stolen username) and
// from inside (a rogue peer built from the library's internals that forges,
// replays and tampers), and the trust policies through the public API.
// Nodes run on the memory transport with a manual clock (time moves only as
// a test waits; "nothing else arrived" is checked once the network is idle);
// the tampering relay runs on loopback TCP too, where a link barrier (PING
// round trips) stands in for idleness.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { generateIdentity, issueCertificate, type Identity, type Node, type PluginMessage } from '../ts/index.js'
import { encodeHello } from '../ts/overlay/hello-codec.js'
import { buildSignedFrame } from '../ts/overlay/signing.js'
import { Flag, MsgType } from '../ts/core/protocol.js'
import type { Frame } from '../ts/session/session.js'
import { inbox, withNet, type TestNet, type TransportName } from '../common/net.js'
import { rogueTransport } from './helpers/attack.js'
import { Rogue } from './helpers/rogue.js'

const CHAT = 1001
const OTHER = 1002
const utf8 = new TextEncoder()
const text = new TextDecoder()

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const randomId = (): bigint => randomBytes(8).readBigUInt64BE(0)

/** A HELLO for `username` signed by `signer` (who need not own the name), stamped a minute after `now` (Unix ms). */
function forgedHello(signer: Identity, username: string, plugins: number[], now: number): Uint8Array {
  const body = encodeHello({ username, staticKey: signer.staticPublicKey, host: '127.0.0.1', port: 9, seq: BigInt(Math.floor(now + 60_000)), features: 0, plugins })
  return buildSignedFrame(signer, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId: randomId(), body })
}

/** The username inside a received HELLO frame's body (after the 96-byte origin block). */
function helloName(f: Frame): string {
  const body = f.payload.subarray(96)
  return text.decode(body.subarray(1, 1 + body[0]!))
}

const TRIO = { n: 3, transport: 'memory' as const, clock: 'manual' as const, topology: 'chain' as const, options: (i: number) => ({ username: ['alice', 'bob', 'carol'][i]! }), plugins: [CHAT] }

test('an impostor node with the name "alice" and another key cannot join; the real alice keeps her name', async () => {
  await withNet(TRIO, async (net) => {
    const [alice, bob, carol] = net.nodes as [Node, Node, Node]
    const atAlice = inbox(alice.plugin(CHAT))
    const before = bob.stats().untrustedKey
    const impostor = await net.add({ username: 'alice' }, [bob], [CHAT])
    const atImpostor = inbox(impostor.plugin(CHAT))
    await net.until(() => bob.stats().untrustedKey > before, 5000, "bob refusing the impostor's key")
    // (The impostor, as Noise XX initiator, may see a link to bob for a moment: it finishes
    // the handshake before bob checks its payload and hangs up.)
    assert.equal(bob.links().map((l) => l.username).sort(), ['alice', 'carol'], 'bob took no link from the impostor')
    assert.equal(impostor.users(), ['alice'])
    // Unicast to bob fails, or (over that dying session) vanishes.
    const atBob = inbox(bob.plugin(CHAT))
    await impostor.plugin(CHAT).send('bob', utf8.encode('x')).catch((err: { code?: string }) => assert.ok(['UNKNOWN_USER', 'UNREACHABLE', 'CLOSED'].includes(err.code!), String(err)))
    await impostor.plugin(CHAT).broadcast(utf8.encode('I am alice'))
    // The name still leads to the real alice.
    for (const x of [bob, carol]) assert.equal(x.users(), ['alice', 'bob', 'carol'])
    await bob.plugin(CHAT).send('alice', utf8.encode('for the real alice'))
    await net.until(() => atAlice.length === 1, 5000, 'the unicast at the real alice')
    assert.is(text.decode(atAlice[0]!.data), 'for the real alice')
    await net.settle()
    assert.is(atImpostor.length, 0)
    assert.is(atAlice.length, 1, 'nothing from the impostor reached anyone')
    assert.is(atBob.length, 0)
  })
})

test('a forged HELLO for "alice" from a trusted session dies at the first honest node; its DATA is never "from alice"', async () => {
  await withNet(TRIO, async (net) => {
    const [alice, bob, carol] = net.nodes as [Node, Node, Node]
    const got = [alice, bob, carol].map((x) => inbox(x.plugin(CHAT)))
    const mallory = generateIdentity()
    const rogue = await Rogue.dial(bob, { identity: mallory, username: 'mallory', transport: rogueTransport(net) })
    try {
      await net.settle()
      const bobBefore = bob.stats()
      const carolBefore = carol.stats()
      rogue.sendSigned(forgedHello(mallory, 'alice', [CHAT], net.clock!.wall()))
      await net.until(() => bob.stats().untrustedKey === bobBefore.untrustedKey + 1, 5000, 'bob rejecting the forged HELLO')
      // A broadcast signed by the same key, and one unicast over the session.
      const data = buildSignedFrame(mallory, { type: MsgType.DATA, flags: Flag.BROADCAST, pluginId: CHAT, messageId: randomId(), body: utf8.encode('broadcast as alice?') })
      rogue.sendSigned(data)
      rogue.send({ type: MsgType.DATA, flags: 0, hops: 0, pluginId: CHAT, idHi: 1, idLo: 2, payload: utf8.encode('unicast as alice?') })
      // Unicast is attributed through the user table: a session whose key the table does not
      // bind to any name (mallory's HELLO claimed "alice" and was refused) delivers nothing.
      await net.until(() => bob.stats().unknownOrigin >= bobBefore.unknownOrigin + 2, 5000, 'bob dropping the broadcast and the unicast as of unknown origin')
      await net.settle()
      assert.is(got[0]!.length + got[1]!.length + got[2]!.length, 0)
      // The forged HELLO was not forwarded: carol never saw it.
      assert.is(carol.stats().untrustedKey, carolBefore.untrustedKey)
      for (const x of [alice, bob, carol]) assert.equal(x.users(), ['alice', 'bob', 'carol'])
      // The real alice is still reachable under her name.
      await carol.plugin(CHAT).send('alice', utf8.encode('still you?'))
      await net.until(() => got[0]!.length === 1, 5000, 'the unicast at alice')
    } finally {
      rogue.close()
    }
  })
})

test('a replayed older HELLO is ignored: staleHello grows and the LKA entry keeps the newer plugin list', async () => {
  await withNet({ n: 1, transport: 'memory', clock: 'manual', options: () => ({ username: 'vic' }), plugins: [1] }, async (net) => {
    const vic = net.nodes[0]!
    const thief = generateIdentity()
    const spy = await Rogue.dial(vic, { identity: thief, username: 'spy', transport: rogueTransport(net) })
    let replayer: Rogue | undefined
    try {
      const hellos = (): Frame[] => spy.frames.filter((f) => f.type === MsgType.HELLO && helloName(f) === 'vic')
      await net.until(() => hellos().length === 1, 5000, "vic's first HELLO at the spy")
      const old = hellos()[0]!
      vic.plugin(2)
      await net.until(() => hellos().length === 2, 5000, "vic's second HELLO at the spy")
      const newer = hellos()[1]!
      // A fresh node that has only ever seen the newer HELLO.
      const h = await net.add({ username: 'h' }, [vic])
      await net.until(() => h.users().includes('vic') && h.pluginsOf('vic').length === 2, 5000, 'h learning vic')
      replayer = await Rogue.dial(h, { identity: thief, username: 'spy', transport: rogueTransport(net) })
      await net.settle()
      const before = h.stats()
      replayer.send({ ...old, hops: 1 })
      await net.until(() => h.stats().staleHello === before.staleHello + 1, 5000, 'h counting the replay as stale')
      assert.equal(h.pluginsOf('vic'), [1, 2], 'the entry keeps the newer plugin list')
      assert.equal(h.users(2), ['vic'])
      // Replaying the newer one verbatim is a plain duplicate.
      replayer.send({ ...newer, hops: 1 })
      await net.until(() => h.stats().dedupHits === before.dedupHits + 1, 5000, 'h dropping the duplicate')
      assert.is(h.stats().staleHello, before.staleHello + 1)
      assert.equal(h.pluginsOf('vic'), [1, 2])
    } finally {
      spy.close()
      replayer?.close()
    }
  })
})

/**
 * a — relay — b — c, where the relay is a rogue peer that forwards every
 * flooded frame between its two sessions and may modify it on the way.
 */
async function relayNet(transport: TransportName, fn: (net: TestNet, a: Node, relay: { tamper: ((f: Frame) => Frame) | null }) => Promise<void>): Promise<void> {
  const links = { min: 1, max: 4 }
  await withNet({ n: 2, transport, ...(transport === 'memory' ? { clock: 'manual' as const } : {}), topology: 'chain', options: (i) => ({ username: ['b', 'c'][i]!, links }), plugins: [CHAT, OTHER] }, async (net) => {
    const a = await net.add({ username: 'a', links, bootstrap: [] }, [], [CHAT, OTHER])
    const relayId = generateIdentity()
    const toA = await Rogue.dial(a, { identity: relayId, username: 'relay', transport: rogueTransport(net) })
    const toB = await Rogue.dial(net.nodes[0]!, { identity: relayId, username: 'relay', transport: rogueTransport(net) })
    const relay = { tamper: null as ((f: Frame) => Frame) | null }
    const forward = (to: Rogue) => (f: Frame) => {
      if (f.type !== MsgType.HELLO && !(f.type === MsgType.DATA && f.flags & Flag.BROADCAST)) return
      const out = { ...f, hops: f.hops + 1 }
      to.send(relay.tamper ? relay.tamper(out) : out)
    }
    // Frames that came in before both sessions were up are forwarded now.
    for (const [from, to] of [[toA, toB], [toB, toA]] as const) {
      from.onframe = forward(to)
      for (const f of from.frames) forward(to)(f)
    }
    try {
      await net.until(() => net.nodes.every((x) => x.users().includes('a')), 5000, 'b and c learning a through the relay')
      await fn(net, a, relay)
    } finally {
      toA.close()
      toB.close()
    }
  })
}

for (const transport of ['memory', 'tcp'] as const) {
  test(`${transport}: a broadcast tampered in flight dies at the first honest hop (badSignature), nobody delivers it`, async () => {
    await relayNet(transport, async (net, a, relay) => {
      const [b, c] = net.nodes as [Node, Node]
      const got: PluginMessage[][] = [b, c].map((x) => inbox(x.plugin(CHAT)))
      const gotOther: PluginMessage[][] = [b, c].map((x) => inbox(x.plugin(OTHER)))
      await a.plugin(CHAT).broadcast(utf8.encode('ok-1'))
      await net.until(() => got.every((g) => g.length === 1), 5000, 'the untampered broadcast at b and c')
      const bBefore = b.stats().badSignature
      const cBefore = c.stats().badSignature
      relay.tamper = (f) => {
        const body = text.decode(f.payload.subarray(96))
        if (body === 'evil-body') {
          const payload = Uint8Array.from(f.payload)
          payload[payload.length - 1] ^= 0x01
          return { ...f, payload }
        }
        if (body === 'evil-header') return { ...f, pluginId: OTHER }
        return f
      }
      await a.plugin(CHAT).broadcast(utf8.encode('evil-body'))
      await a.plugin(CHAT).broadcast(utf8.encode('evil-header'))
      await a.plugin(CHAT).broadcast(utf8.encode('ok-2'))
      // Links are in order: once ok-2 is in, the two tampered frames were handled before it.
      await net.until(() => got.every((g) => g.length === 2), 5000, 'ok-2 at b and c')
      await net.settle()
      for (const g of got) assert.equal(g.map((m) => text.decode(m.data)), ['ok-1', 'ok-2'])
      for (const g of gotOther) assert.is(g.length, 0)
      assert.is(b.stats().badSignature, bBefore + 2, 'b dropped both tampered frames')
      assert.is(c.stats().badSignature, cBefore, 'c never saw them: b did not forward')
    })
  })
}

test('allowlist: a node whose key is not listed cannot join; a HELLO signed by it is rejected', async () => {
  // a, b, and a third listed key that only the rogue relay uses.
  const ids = [generateIdentity(), generateIdentity(), generateIdentity()]
  const outsider = generateIdentity()
  const trust = { policy: 'allowlist' as const, keys: ids.map((i) => hex(i.publicKey)) }
  await withNet({ n: 2, transport: 'memory', clock: 'manual', options: (i) => ({ username: ['a', 'b'][i]!, identity: ids[i]!, trust, links: { min: 1 } }) }, async (net) => {
    const [a, b] = net.nodes as [Node, Node]
    assert.equal(a.users(), ['a', 'b'])
    const before = a.stats().untrustedKey
    const eve = await net.add({ username: 'eve', identity: outsider, trust }, [a])
    await net.until(() => a.stats().untrustedKey > before, 5000, 'a refusing eve')
    assert.equal(a.links().map((l) => l.username), ['b'], 'a took no link from eve')
    assert.equal(eve.users(), ['eve'])
    await eve.stop() // no more dial attempts to count
    // A listed key relaying a HELLO that eve signed: rejected at a, not learned, not forwarded.
    const rogue = await Rogue.dial(a, { identity: ids[2]!, username: 'relay', transport: rogueTransport(net) })
    try {
      await net.settle()
      const mid = a.stats().untrustedKey
      const bMid = b.stats().untrustedKey
      rogue.sendSigned(forgedHello(outsider, 'eve', [], net.clock!.wall()), 1)
      await net.until(() => a.stats().untrustedKey === mid + 1, 5000, "a rejecting eve's HELLO")
      await net.settle()
      assert.equal(a.users(), ['a', 'b'])
      assert.equal(b.users(), ['a', 'b'])
      assert.is(b.stats().untrustedKey, bMid)
    } finally {
      rogue.close()
    }
  })
})

test('authority: nodes with a certificate from the authority join; without one, or with a wrong one, they are rejected', async () => {
  const authority = generateIdentity()
  const rogueAuthority = generateIdentity()
  const t0 = Date.now()
  const notAfter = t0 + 3_600_000
  const trust = { policy: 'authority' as const, authorityKey: hex(authority.publicKey) }
  const member = (name: string, by = authority, certName = name) => {
    const identity = generateIdentity()
    return { username: name, identity, trust, certificate: issueCertificate(by, certName, identity.publicKey, { notBefore: t0, notAfter }) }
  }
  const founders = [member('a'), member('b')]
  await withNet({ n: 2, transport: 'memory', clock: 'manual', wallAt: t0, options: (i) => ({ ...founders[i]!, links: { min: 1 } }) }, async (net) => {
    const [a, b] = net.nodes as [Node, Node]
    assert.equal(a.users(), ['a', 'b'])
    const before = a.stats().untrustedKey
    const { certificate: _none, ...uncertified } = member('nocert')
    const outsiders = [
      await net.add(uncertified, [a]),
      await net.add(member('mallory', authority, 'someone'), [a]),
      await net.add(member('forger', rogueAuthority), [a]),
    ]
    await net.until(() => a.stats().untrustedKey >= before + 3, 5000, 'a refusing the three outsiders')
    const carol = await net.add(member('carol'), [a])
    await net.until(() => [a, b, carol].every((x) => x.users().length === 3), 5000, 'carol joining')
    for (const x of [a, b, carol]) assert.equal(x.users(), ['a', 'b', 'carol'])
    for (const o of outsiders) assert.equal(o.users(), [o.username], `${o.username} learned nobody`)
    for (const x of [a, b, carol]) {
      for (const l of x.links()) assert.ok(['a', 'b', 'carol'].includes(l.username), `${x.username} has no link to ${l.username}`)
    }
  })
})

test.run()
