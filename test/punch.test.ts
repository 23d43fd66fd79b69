// Hole punching on the memory network (ManualClock): a relayed session
// whose two ends can dial from their listening port (MemoryNetwork
// punching) moves to a direct Conn without losing or reordering a message;
// a punch that cannot connect leaves it relayed and is counted; no punch
// without the feature; the PUNCH messages are checked and bounded.
import * as assert from 'uvu/assert'
import { memoryTransport, P4Error, type Node, type NodeOptions, type PluginMessage } from '../ts/index.js'
import { MsgType } from '../ts/core/protocol.js'
import type { Peer } from '../ts/overlay/peer.js'
import { MAX_ATTEMPTS } from '../ts/overlay/punch.js'
import { decodeReach, encodeReach, ReachKind } from '../ts/overlay/reach-codec.js'
import { APP, PORT, world, type World } from './helpers/relay-world.js'
import { test } from './helpers/test.js'

const R = '10.0.0.1'
const A = '10.0.0.2'
const B = '10.0.0.3'

/** r relays; b cannot be dialled and reserves with r; a is an ordinary node. */
async function setup(w: World, at = { r: R, a: A, b: B }, bOpts: Partial<NodeOptions> = {}): Promise<{ r: Node; a: Node; b: Node }> {
  const r = await w.add('r', at.r, { relay: {} })
  const b = await w.add('b', at.b, { relay: { client: 'always' }, ...bOpts }, [r], true)
  const a = await w.add('a', at.a, {}, [r])
  await w.until(() => b.stats().relaysHeld === 1, 'b to hold a reservation')
  await w.until(() => a.users().includes('b') && b.users().includes('a'), 'a and b to know each other')
  // Each learns where the relay sees it (REACH OBSERVED): the address it punches with.
  await w.until(() => a.reachability.observed.length > 0 && b.reachability.observed.length > 0, 'observed addresses')
  await w.clock.settle()
  return { r, a, b }
}

/** The open session `node` holds with `username` (test access to the overlay's table). */
function peerOf(node: Node, username: string): Peer {
  const overlay = (node as unknown as { overlay: { table: { peerOf(u: string): Peer | undefined } } }).overlay
  const p = overlay.table.peerOf(username)
  if (p === undefined) throw new Error(`${node.username} holds no session with ${username}`)
  return p
}

function inbox(n: Node): PluginMessage[] {
  const got: PluginMessage[] = []
  n.plugin(APP).on('message', (m) => got.push(m))
  return got
}

const via = (n: Node, u: string): string | undefined => n.links({ direct: true }).find((l) => l.username === u)?.via

test('PUNCH messages: encoded and decoded; bad input is BAD_ARGUMENT or BAD_PAYLOAD', () => {
  const offer = { kind: ReachKind.PUNCH_OFFER, id: 7, host: '203.0.113.5', port: 4000 } as const
  assert.equal(decodeReach(encodeReach(offer)), offer)
  assert.equal(decodeReach(encodeReach({ kind: ReachKind.PUNCH_GO, id: 9 })), { kind: ReachKind.PUNCH_GO, id: 9 })
  const code = (fn: () => unknown): string => {
    try {
      fn()
    } catch (err) {
      assert.instance(err, P4Error)
      return (err as P4Error).code
    }
    return 'none'
  }
  assert.is(code(() => encodeReach({ kind: ReachKind.PUNCH_ANSWER, id: 1, host: '', port: 4000 })), 'BAD_ARGUMENT')
  assert.is(code(() => encodeReach({ kind: ReachKind.PUNCH_OFFER, id: 1, host: '1.2.3.4', port: 0 })), 'BAD_ARGUMENT')
  assert.is(code(() => encodeReach({ kind: ReachKind.PUNCH_GO, id: -1 })), 'BAD_ARGUMENT')
  const go = encodeReach({ kind: ReachKind.PUNCH_GO, id: 9 })
  assert.is(code(() => decodeReach(go.subarray(0, 3))), 'BAD_PAYLOAD')
  assert.is(code(() => decodeReach(Uint8Array.from([...go, 0]))), 'BAD_PAYLOAD')
  const o = encodeReach(offer)
  o[o.length - 1] = 0
  o[o.length - 2] = 0
  assert.is(code(() => decodeReach(o)), 'BAD_PAYLOAD') // port 0
})

test('a relayed session is punched: it moves to a direct connection, every message arrives once and in order, the circuit closes', async () => {
  const w = await world({ punching: true })
  try {
    const { r, a, b } = await setup(w)
    const got = inbox(b)
    // The first unicast opens the circuit; more follow while the punch runs.
    const sends: Array<Promise<void>> = []
    for (let i = 0; i < 200; i++) {
      sends.push(a.plugin(APP).send('b', Buffer.from(`m${i}`)))
      if (i % 20 === 0) await w.clock.advance(1)
    }
    await w.wait(Promise.all(sends), 'the sends')
    await w.until(() => a.stats().punchSucceeded === 1 && b.stats().punchSucceeded === 1, () => `the punch (a: ${JSON.stringify(a.stats().punchFailed)})`)
    for (let i = 200; i < 220; i++) await w.wait(a.plugin(APP).send('b', Buffer.from(`m${i}`)), 'a send after the move')
    await w.until(() => got.length === 220, () => `220 messages (got ${got.length})`)
    assert.equal(
      got.map((m) => Buffer.from(m.data).toString()),
      Array.from({ length: 220 }, (_, i) => `m${i}`),
    )
    assert.is(via(a, 'b'), undefined, 'a: direct now')
    assert.is(via(b, 'a'), undefined, 'b: direct now')
    assert.is(a.stats().punchAttempts, 1)
    await w.until(() => r.stats().relayCircuits === 0, 'the circuit to close')
    assert.ok((await w.wait(a.latency('b'), 'latency over the punched connection')) >= 0)
  } finally {
    await w.stop()
  }
})

test('a punch that cannot connect leaves the session relayed, working, and counts the failure', async () => {
  const w = await world({ punching: true })
  try {
    const { a, b } = await setup(w)
    w.network.setPunchable(B, false)
    const got = inbox(b)
    await w.wait(a.plugin(APP).send('b', Buffer.from('one')), 'the first send')
    await w.until(() => (a.stats().punchFailed.NO_CONNECTION ?? 0) === 1, () => `the failure (${JSON.stringify(a.stats().punchFailed)})`)
    await w.until(() => (b.stats().punchFailed.NO_CONNECTION ?? 0) === 1, 'the failure at b')
    assert.is(a.stats().punchSucceeded, 0)
    assert.ok(via(a, 'b') !== undefined, 'still relayed')
    await w.wait(a.plugin(APP).send('b', Buffer.from('two')), 'a send after the failure')
    await w.until(() => got.length === 2, 'both messages')
  } finally {
    await w.stop()
  }
})

test('Puncher.paused (a test knob): a new relayed session starts no punch; start() still punches it', async () => {
  const w = await world({ punching: true })
  try {
    const { a, b } = await setup(w)
    const puncher = (n: Node): { paused: boolean; start(p: Peer): Promise<boolean> } => (n as unknown as { overlay: { reach: { punch: { paused: boolean; start(p: Peer): Promise<boolean> } } } }).overlay.reach.punch
    puncher(a).paused = true
    const got = inbox(b)
    await w.wait(a.plugin(APP).send('b', Buffer.from('relayed')), 'a send')
    await w.until(() => got.length === 1, 'the message')
    await w.clock.settle()
    assert.is(a.stats().punchAttempts + b.stats().punchAttempts, 0)
    assert.ok(via(a, 'b') !== undefined, 'relayed')
    assert.ok(await w.wait(puncher(a).start(peerOf(a, 'b')), 'the punch'))
    assert.is(via(a, 'b'), undefined, 'direct now')
  } finally {
    await w.stop()
  }
})

test('no punch without the feature (a transport that cannot dial from its listening port: tcp without the addon)', async () => {
  const w = await world()
  try {
    const { a, b } = await setup(w)
    assert.ok(w.network.transport({ host: '10.0.0.9' }).punchUnavailable?.() !== null)
    const got = inbox(b)
    await w.wait(a.plugin(APP).send('b', Buffer.from('x')), 'a send')
    await w.until(() => got.length === 1, 'the message')
    await w.clock.settle()
    assert.is(a.stats().punchAttempts + b.stats().punchAttempts, 0)
    assert.ok(via(a, 'b') !== undefined, 'relayed')
  } finally {
    await w.stop()
  }
})

test('a hostile opener cannot aim the punch elsewhere: another port closes the session (BAD_FRAME); offers beyond the limit are not answered', async () => {
  const w = await world({ punching: true })
  try {
    const { a, b } = await setup(w)
    w.network.setPunchable(B, false)
    await w.wait(a.plugin(APP).send('b', Buffer.from('x')), 'a send')
    await w.until(() => (a.stats().punchFailed.NO_CONNECTION ?? 0) === 1, 'the first punch to fail')
    // a, as the hostile opener, names the victim 10.0.0.1:22 (r's host, not its own listening port).
    const pa = peerOf(a, 'b')
    pa.trySend(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.PUNCH_OFFER, id: 99, host: R, port: 22 }))
    await w.until(() => pa.session.closed, 'b to close the session over the bad OFFER')
    assert.is(b.stats().punchAttempts, 1, 'b tried no dial for it')
    // A new relayed session; offers at its own address, beyond MAX_ATTEMPTS per window, go unanswered.
    await w.wait(a.plugin(APP).send('b', Buffer.from('y')), 'a send on a new relayed session')
    const pa2 = peerOf(a, 'b')
    for (let i = 0; i < MAX_ATTEMPTS + 2; i++) {
      pa2.trySend(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.PUNCH_OFFER, id: 1000 + i, host: A, port: PORT }))
      await w.clock.advance(20_000) // each attempt ends (NO_ANSWER at a, NO_CONNECTION at b) before the next
    }
    await w.clock.settle()
    assert.ok(b.stats().punchAttempts <= MAX_ATTEMPTS, `b tried ${b.stats().punchAttempts} times`)
    assert.ok((b.stats().punchFailed.RATE_LIMITED ?? 0) >= 2, JSON.stringify(b.stats().punchFailed))
  } finally {
    await w.stop()
  }
})

test('hostile punch addresses: loopback, private or link-local addresses offered to a node with a public address, or its own address, are not dialled; counted (BAD_ADDRESS), the session stays relayed', async () => {
  const w = await world({ punching: true })
  try {
    const at = { r: '198.51.100.1', a: '198.51.100.2', b: '203.0.113.3' }
    // Every address b's transport dials from its listening port (a punch).
    const dialled: string[] = []
    const tb = memoryTransport(w.network, { host: at.b })
    const dialFrom = tb.dialFrom!
    tb.dialFrom = (localPort, host, port, opts) => {
      dialled.push(`${host}:${port}`)
      return dialFrom(localPort, host, port, opts)
    }
    const { a, b } = await setup(w, at, { transport: tb })
    w.network.setPunchable(at.b, false)
    const got = inbox(b)
    await w.wait(a.plugin(APP).send('b', Buffer.from('x')), 'a send')
    await w.until(() => (b.stats().punchFailed.NO_CONNECTION ?? 0) === 1, 'the genuine punch to fail at b')
    assert.ok(dialled.length > 0 && dialled.every((d) => d === `${at.a}:${PORT}`), `the genuine punch dialled a only: ${dialled.join(', ')}`)
    const before = dialled.length
    // a, as the hostile opener, names addresses on b's own host and network, and b's own address.
    const hostile = ['127.0.0.1', '10.0.0.9', '192.168.1.1', '172.16.0.1', '100.64.0.1', '169.254.1.1', '::1', 'fe80::1', 'fd00::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a00:9', '0:0:0:0:0:0:0:1', at.b]
    // Without its rate limit (a test knob), so that only the address check stands between an offer and a dial.
    ;(b as unknown as { overlay: { reach: { punch: { unlimited: boolean } } } }).overlay.reach.punch.unlimited = true
    const pa = peerOf(a, 'b')
    for (const [i, host] of hostile.entries()) {
      // OFFER, then GO: b would dial at once.
      pa.trySend(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.PUNCH_OFFER, id: 500 + i, host, port: PORT }))
      pa.trySend(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.PUNCH_GO, id: 500 + i }))
      await w.clock.advance(10_000) // beyond a punch's deadline
      await w.wait(a.plugin(APP).send('b', Buffer.from(`k${i}`)), 'a message (the session is not idle)')
    }
    await w.until(() => (b.stats().punchFailed.BAD_ADDRESS ?? 0) === hostile.length, () => `the offers refused (${JSON.stringify(b.stats().punchFailed)})`)
    assert.is(dialled.length, before, `none dialled: ${dialled.slice(before).join(', ')}`)
    assert.is(b.stats().punchAttempts, 1, 'no attempt started for them')
    assert.not.ok(pa.session.closed, 'a refusal, not a protocol error')
    assert.is(peerOf(a, 'b'), pa, 'the same session')
    assert.ok(via(a, 'b') !== undefined, 'still relayed')
    await w.until(() => got.length === hostile.length + 1, 'every message')
  } finally {
    await w.stop()
  }
})

test('an unspecified address in another spelling (::ffff:0.0.0.0, 0::0: both reach the dialling host) is no unicast address: BAD_FRAME, not dialled', async () => {
  const w = await world({ punching: true })
  try {
    const dialled: string[] = []
    const tb = memoryTransport(w.network, { host: B })
    const dialFrom = tb.dialFrom!
    tb.dialFrom = (localPort, host, port, opts) => {
      dialled.push(`${host}:${port}`)
      return dialFrom(localPort, host, port, opts)
    }
    const { a, b } = await setup(w, { r: R, a: A, b: B }, { transport: tb })
    w.network.setPunchable(B, false)
    // Without its rate limit (a test knob), so that only the address check stands between an offer and a dial.
    ;(b as unknown as { overlay: { reach: { punch: { unlimited: boolean } } } }).overlay.reach.punch.unlimited = true
    for (const [i, host] of ['::ffff:0.0.0.0', '0::0'].entries()) {
      await w.wait(a.plugin(APP).send('b', Buffer.from(`m${i}`)), 'a send (a relayed session)')
      // The genuine punch (if its backoff allows one) ends first (one attempt at a time): the session stays relayed.
      await w.clock.advance(20_000)
      const pa = peerOf(a, 'b')
      assert.ok(via(a, 'b') !== undefined, 'relayed')
      const attempts = b.stats().punchAttempts
      const badFrames = b.stats().badFrame
      const before = dialled.length
      pa.trySend(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.PUNCH_OFFER, id: 700 + i, host, port: PORT }))
      pa.trySend(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.PUNCH_GO, id: 700 + i }))
      await w.until(() => b.stats().badFrame === badFrames + 1, `b to refuse the OFFER of ${host} as a bad frame`)
      await w.until(() => pa.session.closed, 'b to close the session')
      assert.is(b.stats().punchAttempts, attempts, `b started no attempt for ${host}`)
      assert.is(dialled.slice(before).filter((d) => !d.startsWith(`${A}:`)).length, 0, `nothing but a dialled: ${dialled.slice(before).join(', ')}`)
    }
  } finally {
    await w.stop()
  }
})

test.run()
