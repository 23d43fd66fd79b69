// Reachability (docs/protocol.md "REACH"): each end of a link tells the
// other where it sees it, and a node asks a quorum of its links to dial it
// back. Memory network on a ManualClock: a node behind NAT dials out from its
// router's address and takes no incoming connection (MemoryNetwork.setDialable),
// so it must conclude 'private'; dialable nodes 'public'; a lying peer cannot
// decide alone; a peer cannot make a node dial anyone but itself, or often.
import * as assert from 'uvu/assert'
import { generateIdentity, type Reachability } from '../ts/index.js'
import { Flag, HandshakeFeature, MsgType } from '../ts/core/protocol.js'
import { initiateSession } from '../ts/session/handshake.js'
import { LinkIntent } from '../ts/session/handshake-payload.js'
import { Session } from '../ts/session/session.js'
import { decodeReach, DialStatus, encodeReach, ReachKind, type ReachMessage } from '../ts/overlay/reach-codec.js'
import { FEATURE_REACH_PRIVATE, FEATURE_REACH_PUBLIC } from '../ts/overlay/types.js'
import { verifyHelloFrame } from '../ts/overlay/lka.js'
import { decodeHello, encodeHello, HelloExtension, helloExtensions, type Hello } from '../ts/overlay/hello-codec.js'
import { buildSignedFrame } from '../ts/overlay/signing.js'
import { throwsCode } from './helpers/errors.js'
import { test } from './helpers/test.js'
import { tcpHandles } from './helpers/kits.js'
import { withNet } from '../common/net.js'
import { decided, lkaOf, lyingPeer, NAT_INSIDE, NAT_OUTSIDE, world } from './helpers/reach-world.js'

test('a node behind NAT concludes private and learns its router address; dialable nodes conclude public; HELLOs carry the verdicts', async () => {
  const w = world()
  try {
    const events = new Map<string, Reachability[]>()
    const a = await w.node('a', '10.0.0.1')
    const b = await w.node('b', '10.0.0.2', { bootstrap: [a.address] })
    const c = await w.node('c', '10.0.0.3', { bootstrap: [a.address, b.address] })
    // d listens inside its NAT and dials out from the router's address; nobody can dial in.
    const d = await w.node('d', NAT_INSIDE, { from: NAT_OUTSIDE, bootstrap: [a.address, b.address, c.address] })
    w.network.setDialable(NAT_INSIDE, d.address.port, false)
    for (const n of w.nodes) n.on('reachability', (r) => events.set(n.username, [...(events.get(n.username) ?? []), r]))
    const t0 = w.clock.now()
    await w.clock.until(() => w.nodes.every(decided), 60_000, () => `verdicts: ${w.nodes.map((n) => `${n.username} ${n.reachability.status}`).join(', ')}`)
    const took = w.clock.now() - t0
    for (const n of [a, b, c]) {
      const r = n.reachability
      assert.is(r.status, 'public', n.username)
      assert.equal(r.address, { host: n.address.host, port: n.address.port }, `${n.username}: reached where it listens`)
      assert.ok(r.answers.reachable >= 2, `${n.username}: ${JSON.stringify(r.answers)}`)
      assert.equal(n.status().reachability, r)
    }
    const r = d.reachability
    assert.is(r.status, 'private')
    assert.is(r.address, undefined)
    assert.equal(r.answers, { reachable: 0, unreachable: 3, refused: 0, missing: 0 })
    assert.equal(r.observed, [{ host: NAT_OUTSIDE, port: r.observed[0]!.port, peers: 3 }], 'its peers see the router address')
    assert.ok(r.checkedAt > 0)
    for (const n of w.nodes) assert.equal(events.get(n.username)?.map((e) => e.status), [n.reachability.status], `${n.username}: one reachability event`)
    // The verdicts travel in the signed HELLOs: 'private' at once, 'public' (what a user is assumed to be) with the next HELLO.
    await w.clock.until(() => ((lkaOf(a).get('d')?.features ?? 0) & FEATURE_REACH_PRIVATE) !== 0, 10_000, "d's new HELLO at a")
    assert.is((lkaOf(d).get('a')?.features ?? 0) & FEATURE_REACH_PUBLIC, 0, 'no flood for a public verdict')
    assert.ok(took <= 5000, `verdicts after ${took} ms of clock time`)
    console.log(`  reachability verdicts of 4 nodes after ${took} ms (clock time, maintenanceMs 1000)`)
    // Checked again only when due: within a minute of link changes, else every intervalMs (10 min).
    await w.clock.advance(70_000)
    const checks = w.nodes.map((n) => n.stats().reachChecks)
    await w.clock.advance(5 * 60_000)
    assert.equal(w.nodes.map((n) => n.stats().reachChecks), checks)
    await w.clock.advance(6 * 60_000)
    assert.ok(w.nodes.every((n, i) => n.stats().reachChecks > checks[i]!), 're-checked after intervalMs')
    assert.equal(w.nodes.map((n) => n.reachability.status), ['public', 'public', 'public', 'private'])
    assert.ok(((lkaOf(d).get('a')?.features ?? 0) & FEATURE_REACH_PUBLIC) !== 0, "a's refreshed HELLO says public")
    assert.is(d.stats().probesAnswered, 0, 'nobody ever reached d')
    assert.ok(a.stats().probesAnswered >= 2)
  } finally {
    await w.stop()
  }
})

test('one lying peer cannot flip the verdict: with one honest peer it stays unknown, a quorum decides against it', async () => {
  const w = world()
  try {
    // links.min 1: no walks, so d has exactly the links the test gives it.
    const a = await w.node('a', '10.0.0.1', { links: { min: 1, max: 8 } })
    const b = await w.node('b', '10.0.0.2', { bootstrap: [a.address], links: { min: 1, max: 8 } })
    // Behind NAT, with a liar that says every dial-back reached it.
    const d = await w.node('d', NAT_INSIDE, { from: NAT_OUTSIDE, links: { min: 1, max: 8 } })
    w.network.setDialable(NAT_INSIDE, d.address.port, false)
    const liar = await lyingPeer(w, '10.6.6.6', DialStatus.REACHABLE)
    await d.connect('10.6.6.6', liar.port)
    await d.connect(a.address.host, a.address.port)
    await w.clock.until(() => d.stats().reachChecks === 1 && d.reachability.checkedAt > 0, 10_000, 'the first check')
    assert.is(d.reachability.status, 'unknown', 'one honest answer against one lie decides nothing')
    assert.equal(d.reachability.answers, { reachable: 1, unreachable: 1, refused: 0, missing: 0 })
    assert.ok(liar.frames.some((m) => m.kind === ReachKind.DIAL), 'the liar was asked')
    // A second honest peer: the next check has a quorum against the lie.
    await d.connect(b.address.host, b.address.port)
    await w.clock.until(() => d.reachability.status !== 'unknown', 60_000, 'a verdict')
    assert.is(d.reachability.status, 'private')
    assert.equal(d.reachability.answers, { reachable: 1, unreachable: 2, refused: 0, missing: 0 })

    // A dialable node, and a liar that says it could not reach it.
    const p = await w.node('p', '10.0.0.9', { links: { min: 1, max: 8 } })
    const liar2 = await lyingPeer(w, '10.6.6.7', DialStatus.UNREACHABLE, '10.0.0.9')
    await p.connect('10.6.6.7', liar2.port)
    await p.connect(a.address.host, a.address.port)
    await p.connect(b.address.host, b.address.port)
    await w.clock.until(() => p.reachability.status !== 'unknown', 60_000, 'a verdict for p')
    assert.is(p.reachability.status, 'public')
    assert.equal(p.reachability.answers, { reachable: 2, unreachable: 1, refused: 0, missing: 0 })
  } finally {
    await w.stop()
  }
})

test('dial-backs go only to the asker’s own address, a few a minute: the rest are refused and counted; a node without REACH gets no REACH frame', async () => {
  const w = world()
  try {
    const n = await w.node('n', '10.0.0.1', { links: { min: 1, max: 8 }, reach: { peers: 0 } })
    // Services the hostile peer would like n to connect to: one elsewhere, one on its own address.
    const victims = w.network.transport({ host: '10.9.9.9' })
    await victims.listen('10.9.9.9', 22, (c) => c.destroy())
    await victims.listen('10.6.6.6', 22, (c) => c.destroy())
    const elsewhere = w.network.intercept('10.9.9.9', 22, () => 'accept')
    const own = w.network.intercept('10.6.6.6', 22, () => 'accept')
    const results: ReachMessage[] = []
    const conn = await w.network.transport({ host: '10.6.6.6' }).dial(n.address.host, n.address.port)
    const h = await initiateSession(conn, { identity: generateIdentity(), username: 'mallory', intent: LinkIntent.OVERLAY, features: HandshakeFeature.REACH, clock: w.clock })
    const s = new Session(h)
    s.onframe = (f) => {
      if (f.type === MsgType.PING) s.send(MsgType.PING_ACK, 0, 0, 0, f.idHi, f.idLo, f.payload) // keeps the link up
      if (f.type === MsgType.REACH) results.push(decodeReach(f.payload))
    }
    h.conn.resume()
    const dial = (id: number, host: string): void => void s.send(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.DIAL, id, host, port: 22 }))
    await w.clock.until(() => results.some((m) => m.kind === ReachKind.OBSERVED), 5000, 'where n sees mallory')
    assert.equal(results[0], { kind: ReachKind.OBSERVED, host: '10.6.6.6', port: conn.localPort })

    dial(1, '10.9.9.9')
    for (let id = 2; id <= 21; id++) dial(id, '10.6.6.6')
    await w.clock.until(() => results.filter((m) => m.kind === ReachKind.RESULT).length === 21, 30_000, 'an answer to every DIAL')
    const status = new Map(results.flatMap((m) => (m.kind === ReachKind.RESULT ? [[m.id, m.status] as const] : [])))
    assert.is(status.get(1), DialStatus.REFUSED, 'not its address')
    const served = [...status].filter(([, st]) => st !== DialStatus.REFUSED).map(([id]) => id)
    assert.equal(served, [2, 3, 4], 'reach.servePerPeer (3) a minute')
    for (const id of served) assert.is(status.get(id), DialStatus.UNREACHABLE, 'no p4net node proved the key there')
    assert.is(elsewhere.dials(), 0, 'nothing was dialled at another address')
    assert.is(own.dials(), 3)
    assert.is(n.stats().dialBacks, 3)
    assert.is(n.stats().dialBacksRefused, 18)
    // A minute later the window has room again.
    await w.clock.advance(60_000)
    dial(22, '10.6.6.6')
    await w.clock.until(() => results.some((m) => m.kind === ReachKind.RESULT && m.id === 22), 30_000, 'the answer to DIAL 22')
    assert.is(own.dials(), 4)

    // A malformed REACH closes the session (protocol error).
    s.send(MsgType.REACH, 0, 0, 0, 0, 0, Uint8Array.of(9))
    await w.clock.until(() => s.closed, 5000, 'the session closed')
    assert.ok(n.stats().badFrame >= 1)

    // A peer that did not announce REACH (an older node) gets no REACH frame and is never asked.
    const old = await w.network.transport({ host: '10.7.7.7' }).dial(n.address.host, n.address.port)
    const oh = await initiateSession(old, { identity: generateIdentity(), username: 'old', intent: LinkIntent.OVERLAY, features: 0, clock: w.clock })
    const os = new Session(oh)
    const types: number[] = []
    os.onframe = (f) => void types.push(f.type)
    oh.conn.resume()
    await w.clock.until(() => types.includes(MsgType.PING), 5000, 'the link in use')
    await w.clock.advance(5000)
    assert.not.ok(types.includes(MsgType.REACH))
    os.destroy()
  } finally {
    await w.stop()
  }
})

test('HELLO: the verdict is a feature bit (older nodes ignore unknown bits), so a HELLO keeps the old layout; extension fields after the certificate are kept verbatim', () => {
  const id = generateIdentity()
  const hello: Hello = { username: 'd', staticKey: id.staticPublicKey, host: '10.0.0.4', port: 4000, seq: 1_700_000_000_000n, features: FEATURE_REACH_PRIVATE, plugins: [7] }
  // The layout every earlier version writes and reads, built by hand: nothing after the certificate.
  const seq = Buffer.alloc(8)
  seq.writeBigUInt64BE(hello.seq)
  const old = Uint8Array.from([1, 0x64, ...id.staticPublicKey, 8, ...Buffer.from('10.0.0.4'), 0x0f, 0xa0, ...seq, 0, 0, 0, FEATURE_REACH_PRIVATE, 0, 1, 0, 7, 0, 0])
  assert.equal(encodeHello(hello), old)
  assert.equal(decodeHello(old), hello)
  assert.is(decodeHello(encodeHello({ ...hello, features: FEATURE_REACH_PUBLIC })).features, FEATURE_REACH_PUBLIC)
  // Room for later fields (the relays of issue 18.2 take tag 1): tag, u16 length, value; unknown tags kept.
  const extensions = Uint8Array.of(HelloExtension.RELAYS, 0, 2, 0xaa, 0xbb, 9, 0, 0)
  const extended = encodeHello({ ...hello, extensions })
  assert.equal(extended, Uint8Array.from([...old, ...extensions]))
  assert.equal(decodeHello(extended), { ...hello, extensions })
  assert.equal([...helloExtensions(extensions)], [[1, Uint8Array.of(0xaa, 0xbb)], [9, new Uint8Array(0)]])
  const frame = buildSignedFrame(id, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId: 5n, body: extended })
  assert.equal(verifyHelloFrame(frame).hello.extensions, extensions, 'a signed HELLO with extensions verifies and keeps them')
  for (const bad of [[9, 0, 0, 1, 0, 0], [1, 0, 0, 1, 0, 0], [0, 0, 0], [1, 0, 5, 1], [1, 0]]) {
    throwsCode(() => decodeHello(Uint8Array.from([...old, ...bad])), 'BAD_PAYLOAD', JSON.stringify(bad))
    throwsCode(() => encodeHello({ ...hello, extensions: Uint8Array.from(bad) }), 'BAD_ARGUMENT', JSON.stringify(bad))
  }
})

test('over TCP on loopback: linked nodes dial each other back and conclude public; probe connections are closed', async () => {
  const before = tcpHandles()
  await withNet({ n: 3, transport: 'tcp', topology: 'full', converge: true }, async (net) => {
    const t0 = Date.now()
    await net.until(() => net.nodes.every((n) => n.reachability.status === 'public'), 10_000, () => net.nodes.map((n) => `${n.username}: ${JSON.stringify(n.reachability)}`).join('; '))
    console.log(`  tcp loopback: 3 verdicts ${Date.now() - t0} ms after the net converged (maintenanceMs 50)`)
    for (const n of net.nodes) {
      assert.equal(n.reachability.address, n.address)
      assert.ok(n.stats().probesAnswered >= 2, `${n.username} answered the probes`)
    }
  })
  assert.is(tcpHandles(), before, 'no socket left open')
})

test.run()
