// End-to-end unicast boxes through nodes: delivery across a sender restart
// (new salt); boxes that do not open, of this version or another (an older
// node's format), are charged to their sender.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { generateIdentity, memoryTransport, type Identity, type Node } from '../ts/index.js'
import { E2eBoxes, e2eAad } from '../ts/e2e.js'
import { encodeHello } from '../ts/overlay/hello-codec.js'
import { buildSignedFrame } from '../ts/overlay/signing.js'
import { Flag, MsgType } from '../ts/core/protocol.js'
import { Rogue } from './helpers/rogue.js'
import { inbox, startNet } from '../common/net.js'

const CHAT = 1001
const utf8 = new TextEncoder()
const text = new TextDecoder()
const id64 = (): bigint => randomBytes(8).readBigUInt64BE(0)

function hello(signer: Identity, username: string, at: number): Uint8Array {
  const body = encodeHello({ username, staticKey: signer.staticPublicKey, host: '127.0.0.1', port: 9, seq: BigInt(Math.floor(at)), features: 0, plugins: [CHAT] })
  return buildSignedFrame(signer, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId: id64(), body })
}

test('encrypted unicast is delivered before and after the sender restarts with the same identity', async () => {
  const ids = [generateIdentity(), generateIdentity()]
  const net = await startNet({ n: 2, transport: 'memory', clock: 'manual', plugins: [CHAT], options: (i) => ({ username: ['alice', 'bob'][i]!, identity: ids[i]! }) })
  try {
    const [alice, bob] = net.nodes as [Node, Node]
    const atBob = inbox(bob.plugin(CHAT))
    for (let i = 0; i < 3; i++) await alice.plugin(CHAT).send('bob', utf8.encode(`one ${i}`), { encrypted: true })
    await net.until(() => atBob.length === 3, 3000, 'first life delivered')
    await alice.stop()
    await net.until(() => !bob.users().includes('alice'), 5000, 'alice gone')
    const again = await net.add({ username: 'alice', identity: ids[0]! }, [bob], [CHAT])
    await net.until(() => again.users().includes('bob') && bob.users().includes('alice'), 5000, 'alice back')
    for (let i = 0; i < 3; i++) await again.plugin(CHAT).send('bob', utf8.encode(`two ${i}`), { encrypted: true })
    await net.until(() => atBob.length === 6, 3000, 'second life delivered')
    assert.equal(
      atBob.map((m) => [m.from, text.decode(m.data), m.encrypted]),
      ['one 0', 'one 1', 'one 2', 'two 0', 'two 1', 'two 2'].map((t) => ['alice', t, true]),
    )
    assert.is(bob.stats().decryptFailed, 0)
  } finally {
    await net.stop()
  }
})

/** Bob and a rogue session (mallory, announced so its DATA is attributed) that sends `boxes` as ENCRYPTED unicast. */
async function rogueSends(boxes: (mallory: Identity) => Uint8Array[]): Promise<{ failed: number; cutOff: number; delivered: number }> {
  const net = await startNet({ n: 1, transport: 'memory', clock: 'manual', plugins: [CHAT], options: () => ({ username: 'bob' }) })
  try {
    const bob = net.nodes[0]!
    const atBob = inbox(bob.plugin(CHAT))
    const mallory = generateIdentity()
    const rogue = await Rogue.dial(bob, { identity: mallory, username: 'mallory', transport: memoryTransport(net.network!) })
    rogue.sendSigned(hello(mallory, 'mallory', net.clock!.wall() + 60_000))
    await net.until(() => bob.users().includes('mallory'), 3000, 'mallory known at bob')
    const before = bob.stats()
    const list = boxes(mallory)
    list.forEach((payload, i) => rogue.send({ type: MsgType.DATA, flags: Flag.ENCRYPTED, hops: 0, pluginId: CHAT, idHi: 0, idLo: i + 1, payload }))
    await net.until(() => bob.stats().decryptFailed - before.decryptFailed + atBob.length >= list.length || bob.stats().cutOff > before.cutOff, 3000, 'bob handling the boxes')
    await net.settle()
    const after = bob.stats()
    return { failed: after.decryptFailed - before.decryptFailed, cutOff: after.cutOff - before.cutOff, delivered: atBob.length }
  } finally {
    await net.stop()
  }
}

test('boxes of this version that do not open are charged to the sender (cut off past the quota)', async () => {
  // 40 > decryptFailuresPerMinute (30): version 1, but sealed to the wrong key.
  const r = await rogueSends((mallory) => {
    const stranger = generateIdentity()
    const boxes = new E2eBoxes(mallory)
    return Array.from({ length: 40 }, (_, i) => boxes.seal(stranger.staticPublicKey, utf8.encode('x'), e2eAad({ sender: mallory.publicKey, recipient: 'bob', pluginId: CHAT, messageId: BigInt(i + 1) })))
  })
  assert.is(r.delivered, 0)
  assert.is(r.cutOff, 1)
})

test('boxes of another version (an older node\'s format) are refused and charged like any box that does not open', async () => {
  // The 0.1 format began with a random ephemeral key: here byte 0 is never 1.
  const r = await rogueSends(() => Array.from({ length: 40 }, (_, i) => {
    const old = new Uint8Array(randomBytes(48 + 16))
    old[0] = i % 2 === 0 ? 0 : 2 + (i % 250)
    return old
  }))
  assert.is(r.delivered, 0)
  assert.is(r.cutOff, 1)
})

test.run()
