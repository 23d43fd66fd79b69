// Relayed sessions: a node nobody can dial (behind NAT) holds reservations
// with relays; others reach it through a circuit, over which the normal
// handshake runs end to end. Memory network on a ManualClock (every wait
// moves the clock, with a deadline); one test over loopback TCP.
import * as assert from 'uvu/assert'
import { createNode, generateIdentity, memoryTransport, P4Error, tcp, type Node, type P4Stream, type PluginMessage } from '../ts/index.js'
import { HandshakeFeature, MsgType } from '../ts/core/protocol.js'
import { resolveOptions } from '../ts/options.js'
import { CircuitConn } from '../ts/overlay/circuit-conn.js'
import { decodeAccept, decodeOpen, decodeReason, encodeAccept, encodeGrant, encodeOpen, RelayOp, REPLY_BIT } from '../ts/overlay/relay-codec.js'
import { acceptSession, initiateSession } from '../ts/session/handshake.js'
import { Session } from '../ts/session/session.js'
import { FAST_TIMERS, waitFor } from '../common/net.js'
import { APP, PORT, world, type World } from './helpers/relay-world.js'
import { readAll } from './helpers/read-all.js'
import { test } from './helpers/test.js'

const R = '10.0.0.1'
const A = '10.0.0.2'
const B = '10.0.0.3'
const R2 = '10.0.0.4'
const R3 = '10.0.0.5'
const B2 = '10.0.0.6'
const A2 = '10.0.0.7'

const SECRET = 'relay-must-not-read-this-PLAINTEXT-4711'

function inbox(n: Node): PluginMessage[] {
  const got: PluginMessage[] = []
  n.plugin(APP).on('message', (m) => got.push(m))
  return got
}

function text(m: PluginMessage): string {
  return Buffer.from(m.data).toString()
}

function quiet(s: P4Stream): P4Stream {
  s.on('error', () => undefined)
  return s
}

/** The error `p` rejects with (fails when it resolves). */
async function failure(w: World, p: Promise<unknown>, what: string): Promise<P4Error> {
  try {
    await w.wait(p, what)
  } catch (err) {
    assert.instance(err, P4Error)
    return err as P4Error
  }
  throw new Error(`${what} succeeded`)
}

/** Waits until `a` knows `b` with the relays `b` holds now (its latest HELLO arrived). */
async function knows(w: World, a: Node, b: Node, relays: number): Promise<void> {
  await w.until(() => b.stats().relaysHeld === relays, `${b.username} to hold ${relays} reservations`)
  await w.until(() => a.users().includes(b.username) && b.users().includes(a.username), `${a.username} and ${b.username} to know each other`)
  await w.clock.settle()
}

/** r relays; b cannot be dialled and reserves with r; a is an ordinary node. */
async function basic(w: World, relay: NonNullable<Parameters<World['add']>[2]>['relay'] = {}): Promise<{ r: Node; a: Node; b: Node }> {
  const r = await w.add('r', R, { relay })
  const b = await w.add('b', B, { relay: { client: 'always' } }, [r], true)
  const a = await w.add('a', A, {}, [r])
  await knows(w, a, b, 1)
  return { r, a, b }
}

test('a private node is reached through a relay: unicast, encrypted unicast, latency and a stream; the relay counts the circuit and its bytes but reads none of them', async () => {
  const w = await world()
  try {
    const { r, a, b } = await basic(w)
    const relayed: Buffer[] = []
    r.on('relay-wire', (m) => relayed.push(Buffer.from(m.bytes)))
    const got = inbox(b)
    await w.wait(a.plugin(APP).send('b', Buffer.from(`plain ${SECRET}`)), 'a plain unicast')
    await w.wait(a.plugin(APP).send('b', Buffer.from(`sealed ${SECRET}`), { encrypted: true }), 'an encrypted unicast')
    await w.until(() => got.length === 2, 'both messages at b')
    assert.equal(got.map(text), [`plain ${SECRET}`, `sealed ${SECRET}`])
    assert.equal(got.map((m) => [m.from, m.encrypted]), [['a', false], ['a', true]])
    assert.ok((await w.wait(a.latency('b'), 'latency to b')) >= 0)
    b.plugin(APP).on('stream', (s) => quiet(s).pipe(s))
    const s = quiet(await w.wait(a.plugin(APP).openStream('b'), 'a stream to b'))
    const data = Buffer.concat([Buffer.alloc(100_000, 7), Buffer.from(SECRET), Buffer.alloc(200_000, 9)])
    const back = readAll(s)
    s.end(data)
    assert.equal(await w.wait(back, 'the echo'), data)
    const link = a.links({ direct: true }).find((l) => l.username === 'b')
    assert.ok(link, 'a holds a session with b')
    assert.is(link.via, 'r')
    assert.is(link.verified, true)
    const st = r.stats()
    assert.is(st.relayReservations, 1)
    assert.is(st.relayCircuits, 1)
    assert.is(st.relayCircuitsOpened, 1)
    assert.ok(st.relayBytes > 2 * data.length, `${st.relayBytes} bytes relayed`)
    assert.is(a.stats().circuitsOut, 1)
    assert.is(b.stats().circuitsIn, 1)
    // What the relay carried: every byte, and none of it the plaintext.
    const all = Buffer.concat(relayed)
    assert.is(all.length, st.relayBytes)
    assert.is(all.indexOf(SECRET), -1)
    assert.is(all.indexOf(Buffer.alloc(64, 7)), -1)
  } finally {
    await w.stop()
  }
})

/**
 * A relay of an attacker's own making: it grants reservations like any relay,
 * but when a circuit is opened it answers the handshake itself, with its own
 * key (claiming the target's name), instead of passing the circuit on.
 */
async function impostorRelay(w: World, host: string): Promise<{ address: { host: string; port: number }; answered: Array<Promise<unknown>> }> {
  const identity = generateIdentity()
  const answered: Array<Promise<unknown>> = []
  const transport = memoryTransport(w.network, { host })
  await transport.listen(host, PORT, (conn) => {
    void acceptSession(conn, { identity, username: 'm', listenPort: PORT, features: HandshakeFeature.RELAY, clock: w.clock }).then((h) => {
      const session = new Session(h)
      const circuits = new Map<number, CircuitConn>()
      session.onframe = (f) => {
        if (f.type !== MsgType.RELAY) return
        if (f.idLo === RelayOp.RESERVE) {
          session.send(MsgType.RELAY, 0, 0, 0, 0, RelayOp.RESERVED, encodeGrant({ ttlMs: 600_000, circuits: 8, circuitMs: 600_000, circuitBytes: 1 << 30 }))
        } else if (f.idLo === RelayOp.CONNECT) {
          const field = (f.idHi | REPLY_BIT) >>> 0
          const port = {
            send: (op: number, payload: Uint8Array) => session.send(MsgType.RELAY, 0, 0, 0, field, op, payload) || true,
            blocked: false,
            onDrained: () => undefined,
            forget: () => circuits.delete(f.idHi),
          }
          const conn = new CircuitConn(port, { window: 1 << 20, via: 'm', localHost: host, localPort: PORT, remoteHost: A, remotePort: PORT })
          circuits.set(f.idHi, conn)
          const open = decodeOpen(f.payload, 'CONNECT')
          conn.opened(open.window, open.maxChunk)
          port.send(RelayOp.ACCEPT, encodeAccept({ window: 1 << 20, maxChunk: 65536 }))
          answered.push(acceptSession(conn, { identity, username: 'b', listenPort: PORT, clock: w.clock }).then(
            () => 'completed',
            (err: P4Error) => err.code,
          ))
        } else circuits.get(f.idHi)?.frame(f.idLo, f.payload)
      }
      h.conn.resume()
    }, () => undefined)
  })
  return { address: { host, port: PORT }, answered }
}

test('a relay cannot impersonate the target: one that answers the handshake itself, with its own key, is refused before the opener shows who it is', async () => {
  const w = await world()
  try {
    const m = await impostorRelay(w, R2)
    const c = await w.add('c', R, { relay: { serve: false } })
    const b = await w.add('b', B, { relay: { client: 'always' }, bootstrap: [`${R}:${PORT}`, `${R2}:${PORT}`], links: { min: 2, max: 8 } }, [], true)
    const a = await w.add('a', A, {}, [c])
    await knows(w, a, b, 1)
    const got = inbox(b)
    const err = await failure(w, a.plugin(APP).send('b', Buffer.from(SECRET)), 'a unicast that only the impostor could carry')
    assert.is(err.code, 'UNREACHABLE')
    assert.match(err.message, /answered with another key/)
    assert.equal(await w.wait(Promise.all(m.answered), "the impostor's handshake"), ['PEER_CLOSED'], 'the opener closed before message 3')
    assert.equal(got, [])
    assert.ok(a.users().includes('b'), 'b is still online at a')
  } finally {
    await w.stop()
  }
})

test('quotas: circuits per opener, per reservation and in all, and circuit opens per minute are refused with their code and counted', async () => {
  const w = await world()
  try {
    const r = await w.add('r', R, { relay: { circuitsPerPeer: 1, circuitsPerReservation: 1, maxCircuits: 2, connectsPerMinute: 3 } })
    const b = await w.add('b', B, { relay: { client: 'always' } }, [r], true)
    const b2 = await w.add('b2', B2, { relay: { client: 'always' } }, [r], true)
    const a = await w.add('a', A, {}, [r])
    const a2 = await w.add('a2', A2, {}, [r])
    await knows(w, a, b, 1)
    await knows(w, a2, b2, 1)
    await knows(w, a, b2, 1)
    await knows(w, a2, b, 1)
    await w.wait(a.plugin(APP).send('b', Buffer.from('1')), 'a → b')
    // a has its one circuit (relay.circuitsPerPeer 1).
    const perPeer = await failure(w, a.plugin(APP).send('b2', Buffer.from('2')), 'a → b2')
    assert.match(perPeer.message, /PEER_LIMIT/)
    // b has its one circuit (relay.circuitsPerReservation 1).
    const perReservation = await failure(w, a2.plugin(APP).send('b', Buffer.from('3')), 'a2 → b')
    assert.match(perReservation.message, /CIRCUIT_LIMIT/)
    await w.wait(a2.plugin(APP).send('b2', Buffer.from('4')), 'a2 → b2')
    assert.is(r.stats().relayCircuits, 2)
    // Two open in all (relay.maxCircuits 2): a third opener is refused whoever it asks for.
    const c = await w.add('c', R3, {}, [r])
    await knows(w, c, b, 1)
    const full = await failure(w, c.plugin(APP).send('b', Buffer.from('5')), 'c → b')
    assert.match(full.message, /RELAY_FULL/)
    // a's third open this minute is still checked (RELAY_FULL), its fourth is one too many (relay.connectsPerMinute 3).
    assert.match((await failure(w, a.plugin(APP).send('b2', Buffer.from('6')), 'a → b2 again')).message, /RELAY_FULL/)
    const rate = await failure(w, a.plugin(APP).send('b2', Buffer.from('7')), 'a → b2 once more')
    assert.match(rate.message, /RATE_LIMITED/)
    const st = r.stats()
    assert.equal(st.relayReasons, { PEER_LIMIT: 1, CIRCUIT_LIMIT: 1, RELAY_FULL: 2, RATE_LIMITED: 1 })
    assert.is(st.relayCircuitsRefused, 5)
    assert.is(st.relayCircuitsOpened, 2)
    assert.ok(a.users().includes('b2') && a2.users().includes('b'), 'refused circuits mark nobody offline')
  } finally {
    await w.stop()
  }
})

test('quotas: a circuit that carries relay.circuitBytes or stays open relay.circuitMs is cut with its code and counted; the next message opens another', async () => {
  const w = await world()
  try {
    const { r, a, b } = await basic(w, { circuitBytes: 50_000, circuitMs: 5000 })
    const got = inbox(b)
    await w.wait(a.plugin(APP).send('b', Buffer.alloc(80_000, 1)), 'a message larger than the circuit may carry')
    await w.until(() => r.stats().relayReasons.BYTE_LIMIT === 1, 'the circuit cut at its byte limit')
    await w.until(() => !a.links({ direct: true }).some((l) => l.username === 'b'), "a's session with b to close")
    assert.equal(got, [], 'the message was cut off on its way')
    await w.wait(a.plugin(APP).send('b', Buffer.from('small')), 'a small message on a new circuit')
    await w.until(() => got.length === 1, 'the small message at b')
    assert.is(r.stats().relayCircuitsOpened, 2)
    await w.clock.advance(5100)
    await w.until(() => r.stats().relayReasons.TIME_LIMIT === 1, 'the circuit cut at its time limit')
    await w.until(() => !a.links({ direct: true }).some((l) => l.username === 'b'), "a's session with b to close again")
    const st = r.stats()
    assert.is(st.relayCircuitsCut, 2)
    assert.is(st.relayCircuits, 0)
    assert.ok(st.relayBytes <= 50_000 + 65_536, `${st.relayBytes} bytes relayed`)
    assert.ok(a.users().includes('b'))
  } finally {
    await w.stop()
  }
})

test('quotas: reservations in all and per host are refused with their code and counted; a held one is renewed before it expires', async () => {
  const w = await world()
  try {
    // serve: true: with 'auto' r relays only once a quorum of its peers dialled it back, and it starts with one peer.
    const r = await w.add('r', R, { relay: { serve: true, maxReservations: 2, reservationsPerHost: 1, reservationMs: 10_000 } })
    const b = await w.add('b', B, { relay: { client: 'always' } }, [r], true)
    await w.until(() => b.stats().relaysHeld === 1, 'b to hold a reservation')
    const sameHost = await w.add('b1', B, { port: 4001, relay: { client: 'always' } }, [r], true)
    await w.until(() => r.stats().relayReasons.HOST_LIMIT === 1, 'a second reservation for host B refused')
    const b2 = await w.add('b2', B2, { relay: { client: 'always' } }, [r], true)
    await w.until(() => b2.stats().relaysHeld === 1, 'b2 to hold a reservation')
    const b3 = await w.add('b3', R3, { relay: { client: 'always' } }, [r], true)
    await w.until(() => r.stats().relayReasons.RESERVATION_LIMIT === 1, 'a third reservation refused')
    assert.is(sameHost.stats().relaysHeld, 0)
    assert.is(b3.stats().relaysHeld, 0)
    // 35 s: three and a half lifetimes. Renewed at three quarters of each, b's reservation still holds.
    await w.clock.advance(35_000)
    const a = await w.add('a', A, {}, [r])
    await knows(w, a, b, 1)
    const got = inbox(b)
    await w.wait(a.plugin(APP).send('b', Buffer.from('after renewals')), 'a unicast after 35 s')
    await w.until(() => got.length === 1, 'the message at b')
    const st = r.stats()
    assert.is(st.relayReservations, 2)
    assert.is(st.relayReservationsGranted, 2, 'renewals are no new grants')
    assert.ok(st.relayReservationsRefused >= 2)
  } finally {
    await w.stop()
  }
})

test('a relay killed: the target holds a reservation with another relay, the session re-establishes through it and a later message arrives', async () => {
  const w = await world()
  try {
    const r1 = await w.add('r1', R)
    const r2 = await w.add('r2', R2, {}, [r1])
    const r3 = await w.add('r3', R3, {}, [r1])
    const b = await w.add('b', B, { relay: { client: 'always', count: 2 }, links: { min: 3, max: 8 } }, [r1, r2, r3], true)
    // a cannot be dialled either, so no walk can end in a link between a and b: they meet only through a relay
    // (a reserves none itself: the count below is b's).
    const a = await w.add('a', A, { relay: { client: 'never' }, links: { min: 3, max: 8 } }, [r1, r2, r3], true)
    await knows(w, a, b, 2)
    const got = inbox(b)
    await w.wait(a.plugin(APP).send('b', Buffer.from('before')), 'a message before the crash')
    await w.until(() => got.length === 1, 'the first message')
    const relays = [r1, r2, r3]
    const used = relays.find((x) => x.stats().relayCircuits === 1)!
    assert.ok(used, 'one relay carries the circuit')
    w.crash(used)
    await w.until(() => !a.links({ direct: true }).some((l) => l.username === 'b'), () => `a's relayed session to close (a holds ${JSON.stringify(a.links({ direct: true }).map((l) => [l.username, l.status, l.via]))})`)
    await w.until(() => b.stats().relaysHeld === 2 && b.links().length === 2, 'b to hold two reservations again')
    await w.wait(a.plugin(APP).send('b', Buffer.from('after')), 'a message after the crash')
    await w.until(() => got.length === 2, 'the second message')
    assert.equal(got.map(text), ['before', 'after'])
    const now = a.links({ direct: true }).find((l) => l.username === 'b')
    assert.ok(now && now.via !== undefined && now.via !== used.username, `now through ${now?.via}`)
    assert.is(relays.filter((x) => x !== used).reduce((n, x) => n + x.stats().relayReservations, 0), 2, 'b re-reserved with the relays left')
  } finally {
    await w.stop()
  }
})

test('a user reachable only through relays is not marked offline when no path gets through (its relays may be changing)', async () => {
  const w = await world()
  try {
    const r = await w.add('r', R)
    const c = await w.add('c', R2, { relay: { serve: false } }, [r])
    const b = await w.add('b', B, { relay: { client: 'always' }, links: { min: 2, max: 8 } }, [r, c], true)
    const a = await w.add('a', A, {}, [c])
    await knows(w, a, b, 1)
    const left: string[] = []
    a.on('user-left', (u) => left.push(u))
    w.crash(r)
    const err = await failure(w, a.latency('b'), 'latency to b with its only relay gone')
    assert.is(err.code, 'UNREACHABLE')
    assert.match(err.message, /through its relays/)
    await w.clock.advance(1000)
    assert.equal(left, [], 'b never went offline at a')
    assert.ok(a.users().includes('b'))
  } finally {
    await w.stop()
  }
})

test('relaying off: a node with relay.serve false announces no relaying, grants no reservation, and a RESERVE sent anyway closes the session', async () => {
  const w = await world()
  try {
    const r = await w.add('r', R, { relay: { serve: false } })
    const b = await w.add('b', B, { relay: { client: 'always' } }, [r], true)
    const a = await w.add('a', A, {}, [r])
    await w.until(() => a.users().includes('b'), 'a to know b')
    await w.clock.advance(3000)
    assert.is(b.stats().relaysHeld, 0)
    assert.is(r.stats().relayReservations, 0)
    const err = await failure(w, a.plugin(APP).send('b', Buffer.from('x')), 'a unicast to b')
    assert.is(err.code, 'UNREACHABLE')
    // A peer that asks anyway breaks the protocol: its session closes.
    const identity = generateIdentity()
    const conn = await w.wait(memoryTransport(w.network, { host: A2 }).dial(R, PORT), 'a raw dial')
    const h = await w.wait(initiateSession(conn, { identity, username: 'x', clock: w.clock }), 'a raw handshake')
    assert.is(h.remote.features & HandshakeFeature.RELAY, 0)
    const session = new Session(h)
    session.onframe = () => undefined
    h.conn.resume()
    session.send(MsgType.RELAY, 0, 0, 0, 0, RelayOp.RESERVE, new Uint8Array(0))
    await w.wait(session.done, 'the session to close')
    assert.is(r.stats().badFrame, 1)
  } finally {
    await w.stop()
  }
})

test('the small profile relays for nobody unless told to; relay options are validated (BAD_OPTION)', async () => {
  assert.is(resolveOptions({ username: 'a', profile: 'small' }).cfg.relay.serve, false)
  assert.is(resolveOptions({ username: 'a' }).cfg.relay.serve, 'auto')
  assert.is(resolveOptions({ username: 'a', profile: 'small', relay: { serve: true } }).cfg.relay.serve, true)
  const w = await world()
  try {
    const r = await w.add('r', R, { profile: 'small' })
    const b = await w.add('b', B, { relay: { client: 'always' } }, [r], true)
    await w.until(() => b.links().length === 1, 'b linked to r')
    await w.clock.advance(3000)
    assert.is(b.stats().relaysHeld, 0)
    assert.is(r.stats().relayReservations, 0)
  } finally {
    await w.stop()
  }
  for (const relay of [{ serve: 'yes' }, { client: 'sometimes' }, { count: 0 }, { count: 5 }, { circuitBytes: 10 }, { reservationMs: 0 }, { maxCircuits: 1.5 }, { bogus: 1 }]) {
    try {
      await createNode({ username: 'a', relay: relay as never })
      assert.unreachable(`accepted relay ${JSON.stringify(relay)}`)
    } catch (err) {
      assert.instance(err, P4Error)
      assert.is((err as P4Error).code, 'BAD_OPTION', JSON.stringify(relay))
      assert.match((err as P4Error).message, /relay\./)
    }
  }
})

test('over loopback TCP: a node others cannot dial is reached through a relay', async () => {
  const opts = { transport: tcp, host: '127.0.0.1', port: 0, timers: FAST_TIMERS, links: { min: 1, max: 8 } }
  // serve: true: with 'auto' r relays only once its peers found it public, which this test does not wait for.
  const r = await createNode({ username: 'r', ...opts, relay: { serve: true } })
  // b listens on 127.0.0.1 but tells everyone to dial 127.0.0.2, where nothing listens: behind NAT, as far as the others can tell.
  const b = await createNode({ username: 'b', ...opts, advertiseHost: '127.0.0.2', relay: { client: 'always' } })
  const a = await createNode({ username: 'a', ...opts })
  const nodes = [r, b, a]
  try {
    await r.start()
    await b.start()
    await b.connect('127.0.0.1', r.address.port)
    await a.start()
    await a.connect('127.0.0.1', r.address.port)
    await waitFor(() => b.stats().relaysHeld === 1 && a.users().includes('b'), 10_000, 'b to hold a reservation, a to know b')
    const got = inbox(b)
    b.plugin(APP)
    a.plugin(APP)
    await waitFor(() => a.users(APP).includes('b'), 10_000, 'a to see b run APP')
    await a.plugin(APP).send('b', Buffer.from('over tcp'), { encrypted: true })
    await waitFor(() => got.length === 1, 10_000, 'the message at b')
    assert.is(text(got[0]!), 'over tcp')
    assert.ok((await a.latency('b')) >= 0)
    assert.is(a.links({ direct: true }).find((l) => l.username === 'b')?.via, 'r')
    assert.is(r.stats().relayCircuits, 1)
  } finally {
    await Promise.all(nodes.map((n) => n.stop()))
  }
})

test('a relay holds each end to its credit: DATA beyond the window the other end granted cuts the circuit (PROTOCOL), counted, and goes no further', async () => {
  const w = await world()
  try {
    const { r, b } = await basic(w)
    const conn = await w.wait(memoryTransport(w.network, { host: A2 }).dial(R, PORT), 'a raw dial')
    const h = await w.wait(initiateSession(conn, { identity: generateIdentity(), username: 'x', intent: 2, clock: w.clock }), 'a raw handshake')
    const session = new Session(h)
    const heard: Array<{ op: number; field: number; payload: Uint8Array }> = []
    session.onframe = (f) => void (f.type === MsgType.RELAY && heard.push({ op: f.idLo, field: f.idHi, payload: f.payload }))
    h.conn.resume()
    session.send(MsgType.RELAY, 0, 0, 0, 1, RelayOp.CONNECT, encodeOpen({ key: b.identity.publicKey, window: 65536, maxChunk: 65536 }))
    await w.until(() => heard.some((f) => f.op === RelayOp.ACCEPT), 'the circuit accepted')
    const accept = heard.find((f) => f.op === RelayOp.ACCEPT)!
    assert.is(accept.field, (1 | REPLY_BIT) >>> 0)
    const { window } = decodeAccept(accept.payload)
    const before = b.stats().handshakeFailures
    // The whole window and one byte more, in one burst.
    for (let left = window + 1; left > 0; left -= 65536) session.send(MsgType.RELAY, 0, 0, 0, 1, RelayOp.DATA, Buffer.alloc(Math.min(65536, left)))
    await w.until(() => heard.some((f) => f.op === RelayOp.CLOSE), 'the circuit closed')
    assert.is(decodeReason(heard.find((f) => f.op === RelayOp.CLOSE)!.payload).code, 'PROTOCOL')
    const st = r.stats()
    assert.is(st.relayReasons.PROTOCOL, 1)
    assert.is(st.relayBytes, window, 'not one byte beyond the credit was passed on')
    assert.is(st.relayCircuits, 0)
    await w.until(() => b.stats().handshakeFailures === before + 1, "b's end of the garbage circuit to fail its handshake")
    session.destroy()
  } finally {
    await w.stop()
  }
})

test.run()
