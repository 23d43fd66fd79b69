// A flood is identified by its origin's key together with its message ID:
// a member that reuses someone else's message ID under its own key (a
// re-signed broadcast, a HELLO of its own carrying another's HELLO ID) gets
// its own message handled, and cannot make anyone drop the real one.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { createNode, generateIdentity, ManualClock, memoryTransport, MemoryNetwork, type Identity, type Node } from '../ts/index.js'
import { decodeHello, encodeHello } from '../ts/overlay/hello-codec.js'
import { buildSignedFrame } from '../ts/overlay/signing.js'
import { Flag, MsgType, messageIdOf } from '../ts/core/protocol.js'
import { inbox, startNet } from '../common/net.js'
import { Rogue } from './helpers/rogue.js'

const CHAT = 1001
const utf8 = new TextEncoder()
const text = new TextDecoder()

function hello(signer: Identity, username: string, messageId: bigint, at: number): Uint8Array {
  const body = encodeHello({ username, staticKey: signer.staticPublicKey, host: '127.0.0.1', port: 9, seq: BigInt(Math.floor(at)), features: 0, plugins: [CHAT] })
  return buildSignedFrame(signer, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId, body })
}

function broadcast(signer: Identity, body: string, messageId: bigint): Uint8Array {
  return buildSignedFrame(signer, { type: MsgType.DATA, flags: Flag.BROADCAST, pluginId: CHAT, messageId, body: utf8.encode(body) })
}

test("a broadcast re-signed under another key with the same message ID does not censor the real one, at the node or past it", async () => {
  const aliceId = generateIdentity()
  // alice — c — d, and two sessions into c: mallory, and a relay carrying alice's real frames.
  const net = await startNet({ n: 3, transport: 'memory', clock: 'manual', topology: 'chain', plugins: [CHAT], options: (i) => ({ username: ['alice', 'c', 'd'][i]!, links: { min: 1, max: 2 }, ...(i === 0 ? { identity: aliceId } : {}) }) })
  try {
    const [, c, d] = net.nodes as [Node, Node, Node]
    const atC = inbox(c.plugin(CHAT))
    const atD = inbox(d.plugin(CHAT))
    const malloryId = generateIdentity()
    const mallory = await Rogue.dial(c, { identity: malloryId, username: 'mallory', transport: memoryTransport(net.network!) })
    const relay = await Rogue.dial(c, { identity: generateIdentity(), username: 'relay', transport: memoryTransport(net.network!) })
    mallory.sendSigned(hello(malloryId, 'mallory', 1n, net.clock!.wall()))
    await net.until(() => c.users().includes('mallory') && d.users().includes('mallory'), 3000, 'mallory known')
    for (let i = 0; i < 5; i++) {
      const id = 1000n + BigInt(i)
      // mallory gets its copy (same ID, its own key and body) in first ...
      mallory.sendSigned(broadcast(malloryId, `forged ${i}`, id))
      // ... then alice's real broadcast with that ID arrives through another link.
      relay.sendSigned(broadcast(aliceId, `real ${i}`, id), 1)
    }
    await net.until(() => atD.filter((m) => m.from === 'alice').length === 5, 5000, () => `alice's 5 broadcasts at d (got ${atD.map((m) => `${m.from}:${text.decode(m.data)}`).join(', ')})`)
    // Everything in flight has arrived (the memory network is idle): no later copy can change the inboxes.
    await net.settle()
    for (const box of [atC, atD]) {
      assert.equal(box.filter((m) => m.from === 'alice').map((m) => text.decode(m.data)), ['real 0', 'real 1', 'real 2', 'real 3', 'real 4'])
      assert.equal(box.filter((m) => m.from === 'mallory').map((m) => text.decode(m.data)), ['forged 0', 'forged 1', 'forged 2', 'forged 3', 'forged 4'])
    }
  } finally {
    await net.stop()
  }
})

test("a HELLO of one's own carrying another user's HELLO ID does not keep that user from being learned", async () => {
  const network = new MemoryNetwork()
  const transport = memoryTransport(network)
  const clock = new ManualClock({ idle: () => network.idle })
  const c = await createNode({ username: 'c', transport, links: { min: 0, max: 4 }, clock })
  const e = await createNode({ username: 'e', transport, links: { min: 0, max: 4 }, clock })
  try {
    await c.start()
    await e.start()
    // mallory links to c and gets c's HELLO: c re-sends that same frame (same ID) to every new link.
    const malloryId = generateIdentity()
    const spy = await Rogue.dial(c, { identity: malloryId, username: 'mallory', transport })
    await clock.until(() => spy.frames.some((f) => f.type === MsgType.HELLO), 3000, "c's HELLO at mallory")
    const cHello = spy.frames.find((f) => f.type === MsgType.HELLO)!
    assert.is(decodeHello(cHello.payload.subarray(96)).username, 'c')
    // Before e ever meets c, mallory announces itself to e under c's HELLO ID.
    const toE = await Rogue.dial(e, { identity: malloryId, username: 'mallory', transport })
    toE.sendSigned(hello(malloryId, 'mallory', messageIdOf(cHello.idHi, cHello.idLo), clock.wall()))
    await clock.until(() => e.users().includes('mallory'), 3000, 'mallory known at e')
    // e links to c: c's HELLO (that ID again) and its LKA answer must still teach e about c.
    await e.connect(c.address.host, c.address.port)
    await clock.until(() => e.users().includes('c'), 3000, () => `e learning c (users ${e.users().join(', ')})`)
  } finally {
    await Promise.all([c.stop(), e.stop()])
  }
})

test.run()
