// plugin.openStream() and the 'stream' event: Duplex streams multiplexed over
// the session between two users, with per-stream credit. Memory network on a
// ManualClock; every wait is for an event, with the clock as its deadline.
import * as assert from 'uvu/assert'
import { createNode, ManualClock, memoryTransport, tcp, MemoryNetwork, P4Error, type Node, type NodeOptions, type P4Stream, type Plugin } from '../ts/index.js'
import { MsgType } from '../ts/core/protocol.js'
import type { PeerTable } from '../ts/overlay/peer-table.js'
import { StreamOp } from '../ts/overlay/stream-codec.js'
import type { Transport } from '../ts/transport/types.js'
import { readAll } from './helpers/read-all.js'
import { test } from './helpers/test.js'

const A = '10.0.0.1'
const B = '10.0.0.2'
const APP = 7

interface Pair {
  clock: ManualClock
  network: MemoryNetwork
  a: Node
  b: Node
  tb: Transport
  pa: Plugin
  pb: Plugin
  /** Awaits `p` while moving the clock. */
  wait<T>(p: Promise<T>, what: string): Promise<T>
  stop(): Promise<void>
}

/** Streams still open when a test stops its nodes fail with CLOSED: expected, not a crash. */
function quiet(s: P4Stream): P4Stream {
  s.on('error', () => undefined)
  return s
}

async function pair(optsA: Partial<NodeOptions> = {}, optsB: Partial<NodeOptions> = {}): Promise<Pair> {
  let network!: MemoryNetwork
  const clock = new ManualClock({ wallAt: 0, idle: () => network.idle })
  network = new MemoryNetwork({ clock })
  const ta = memoryTransport(network, { host: A })
  const tb = memoryTransport(network, { host: B })
  const a = await createNode({ username: 'a', host: A, transport: ta, links: { min: 0, max: 4 }, clock, ...optsA })
  const b = await createNode({ username: 'b', host: B, transport: tb, links: { min: 0, max: 4 }, clock, ...optsB })
  const pa = a.plugin(APP)
  const pb = b.plugin(APP)
  const open = (p: Plugin): void => {
    const o = p.openStream.bind(p)
    p.openStream = (...args) => o(...args).then(quiet)
  }
  open(pa)
  open(pb)
  await a.start()
  await b.start()
  const wait = async <T>(p: Promise<T>, what: string): Promise<T> => {
    let done = false
    const watched = p.finally(() => (done = true))
    watched.catch(() => undefined)
    await clock.until(() => done, 60_000, what)
    return watched
  }
  await wait(a.connect(B, b.address.port), 'a linking to b')
  await wait(Promise.all([a.waitForUser('b', { plugin: APP }), b.waitForUser('a', { plugin: APP })]), 'a and b knowing each other')
  const stop = async (): Promise<void> => {
    await wait(Promise.all([a.stop(), b.stop()]), 'the nodes to stop')
  }
  return { clock, network, a, b, tb, pa, pb, wait, stop }
}

/** The stream's 'error', as a promise. */
function errorOf(s: P4Stream): Promise<Error> {
  return new Promise((resolve) => s.once('error', resolve))
}

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff
  return b
}

async function rejects(p: Promise<unknown>, code: string, match: RegExp): Promise<void> {
  try {
    await p
  } catch (err) {
    assert.instance(err, P4Error)
    assert.is((err as P4Error).code, code, (err as Error).message)
    assert.match((err as Error).message, match)
    return
  }
  assert.unreachable(`expected ${code}`)
}

test('open, accept, echo: the acceptor learns who opened it, bytes come back in order', async () => {
  const t = await pair()
  try {
    const seen: string[] = []
    t.pb.on('stream', (s, from) => {
      quiet(s)
      seen.push(`${from} ${s.user} ${s.pluginId}`)
      s.pipe(s)
    })
    const s = await t.wait(t.pa.openStream('b'), 'the stream to open')
    assert.is(s.user, 'b')
    const data = pattern(300_000, 1)
    const back = readAll(s)
    s.end(data)
    assert.equal(await t.wait(back, 'the echo'), data)
    assert.equal(seen, [`a a ${APP}`])
    assert.is(t.b.stats().streamBytesIn, data.length)
    assert.is(t.a.stats().streamBytesIn, data.length)
  } finally {
    await t.stop()
  }
})

test('both sides open streams at once: their IDs never collide, each echo comes back on its own stream', async () => {
  const t = await pair()
  try {
    t.pa.on('stream', (s) => quiet(s).pipe(s))
    t.pb.on('stream', (s) => quiet(s).pipe(s))
    const [fromA1, fromB1, fromA2, fromB2] = await t.wait(Promise.all([t.pa.openStream('b'), t.pb.openStream('a'), t.pa.openStream('b'), t.pb.openStream('a')]), 'four streams')
    const all = [fromA1, fromB1, fromA2, fromB2]
    const backs = all.map((s, i) => {
      const back = readAll(s)
      s.end(pattern(100_000 + i, 20 + i))
      return back
    })
    const got = await t.wait(Promise.all(backs), 'the echoes')
    got.forEach((g, i) => assert.equal(g, pattern(100_000 + i, 20 + i), `stream ${i}`))
    assert.equal(all.map((s) => s.user), ['b', 'a', 'b', 'a'])
  } finally {
    await t.stop()
  }
})

test('many concurrent streams, each with a small window, deliver their own bytes', async () => {
  const t = await pair({ streams: { window: 8192 } }, { streams: { window: 8192 } })
  try {
    t.pb.on('stream', (s) => quiet(s).pipe(s))
    const n = 40
    const streams = await t.wait(Promise.all(Array.from({ length: n }, () => t.pa.openStream('b'))), 'the streams to open')
    const results = streams.map((s, i) => {
      const back = readAll(s)
      s.end(pattern(50_000 + i * 997, i))
      return back
    })
    const got = await t.wait(Promise.all(results), 'every echo')
    got.forEach((g, i) => assert.equal(g, pattern(50_000 + i * 997, i), `stream ${i}`))
  } finally {
    await t.stop()
  }
})

test("a reader that stops holds back only its own stream: another stream and plugin.send go on; the writer is held at the window", async () => {
  const window = 16384
  const t = await pair({ streams: { window } }, { streams: { window } })
  try {
    const accepted: P4Stream[] = []
    t.pb.on('stream', (s) => accepted.push(quiet(s)))
    const slow = await t.wait(t.pa.openStream('b'), 'the slow stream')
    const fast = await t.wait(t.pa.openStream('b'), 'the fast stream')
    const [slowIn, fastIn] = accepted as [P4Stream, P4Stream]
    let slowBytes = 0
    slowIn.on('data', (c: Buffer) => (slowBytes += c.length))
    slowIn.pause()
    // Far more than the window: the writer's side must hold it.
    const big = pattern(2_000_000, 3)
    slow.write(big)
    const messages: string[] = []
    t.pb.on('message', (m) => messages.push(Buffer.from(m.data).toString()))
    const fastBack = readAll(fastIn)
    fast.end(pattern(500_000, 4))
    await t.wait(t.pa.send('b', Buffer.from('still here')), 'the send')
    assert.equal(await t.wait(fastBack, 'the fast stream'), pattern(500_000, 4))
    await t.clock.until(() => messages.length === 1, 10_000, 'the message')
    assert.equal(messages, ['still here'])
    // b holds at most a window beyond what its reader buffers; a's writer holds the rest.
    assert.is(slowBytes, 0)
    assert.ok(slowIn.readableLength + window <= 64 * 1024 + 2 * window, `b buffers ${slowIn.readableLength}`)
    assert.ok(slow.writableLength > big.length - 64 * 1024 - 2 * window, `a still holds ${slow.writableLength}`)
    // Reading again lets it all through.
    const rest = readAll(slowIn)
    slowIn.resume()
    slow.end()
    await t.wait(rest, 'the slow stream')
    assert.is(slowBytes, big.length)
  } finally {
    await t.stop()
  }
})

test('tiny DATA frames to a reader that is not reading are gathered: a few held buffers per window, not one per frame', async () => {
  const window = 65536
  const t = await pair({}, { streams: { window } })
  try {
    const inbound: P4Stream[] = []
    t.pb.on('stream', (s) => inbound.push(quiet(s)))
    const s = await t.wait(t.pa.openStream('b'), 'the stream')
    const data = pattern(window, 9)
    // One byte per write: one DATA frame each, the whole window's worth.
    for (let i = 0; i < data.length; i++) s.write(data.subarray(i, i + 1))
    const inB = inbound[0]!
    const held = (): number => (inB as unknown as { held: unknown[] }).held.length
    await t.clock.until(() => t.b.stats().streamBytesIn === window, 20_000, 'the window to arrive')
    assert.ok(held() <= window / 16384 + 1, `${held()} held chunks`)
    const back = readAll(inB)
    s.end()
    assert.equal(await t.wait(back, 'every byte, in order'), data)
  } finally {
    await t.stop()
  }
})

test('half-close both ways: end() on one side is end on the other, which can still write', async () => {
  const t = await pair()
  try {
    let inbound!: P4Stream
    t.pb.on('stream', (s) => (inbound = quiet(s)))
    const s = await t.wait(t.pa.openStream('b'), 'the stream')
    const atB = readAll(inbound)
    s.end(Buffer.from('question'))
    assert.equal((await t.wait(atB, "a's end")).toString(), 'question')
    const atA = readAll(s)
    inbound.write(Buffer.from('answer, '))
    inbound.end(Buffer.from('after the end'))
    assert.equal((await t.wait(atA, "b's end")).toString(), 'answer, after the end')
    // Both ways ended: both Duplexes close by themselves (no reset, no error).
    await t.clock.until(() => s.closed && inbound.closed, 10_000, 'both closed')
    assert.is(s.errored, null)
    assert.is(inbound.errored, null)
    // And the other way round: the acceptor ends first.
    let second!: P4Stream
    t.pb.removeAllListeners('stream')
    t.pb.on('stream', (x) => {
      second = quiet(x)
      x.end(Buffer.from('first word'))
    })
    const s2 = await t.wait(t.pa.openStream('b'), 'the second stream')
    assert.equal((await t.wait(readAll(s2), "b's end")).toString(), 'first word')
    const got = readAll(second)
    s2.end(Buffer.from('reply'))
    assert.equal((await t.wait(got, "a's end")).toString(), 'reply')
  } finally {
    await t.stop()
  }
})

test("destroy(err) resets the stream: the other side's 'error' carries the P4Error code", async () => {
  const t = await pair()
  try {
    const inbound: P4Stream[] = []
    t.pb.on('stream', (s) => inbound.push(quiet(s)))
    const s = await t.wait(t.pa.openStream('b'), 'the stream')
    const err = errorOf(inbound[0]!)
    s.destroy(new P4Error('TIMEOUT', 'gave up waiting'))
    const got = (await t.wait(err, 'the reset')) as P4Error
    assert.instance(got, P4Error)
    assert.is(got.code, 'TIMEOUT')
    assert.match(got.message, /reset by a: gave up waiting/)
    // Any other error goes over as STREAM_RESET; the acceptor may reset too.
    const s2 = await t.wait(t.pa.openStream('b'), 'the second stream')
    const err2 = errorOf(s2)
    inbound[1]!.destroy(new Error('disk full'))
    const got2 = (await t.wait(err2, 'the second reset')) as P4Error
    assert.is(got2.code, 'STREAM_RESET')
    assert.match(got2.message, /disk full/)
  } finally {
    await t.stop()
  }
})

test('streams per peer are bounded (streams.max): one more is refused with QUOTA_EXCEEDED until one closes', async () => {
  const t = await pair({}, { streams: { max: 2 } })
  try {
    const inbound: P4Stream[] = []
    t.pb.on('stream', (s) => inbound.push(quiet(s)))
    const s1 = await t.wait(t.pa.openStream('b'), 'stream 1')
    await t.wait(t.pa.openStream('b'), 'stream 2')
    await rejects(t.wait(t.pa.openStream('b'), 'stream 3'), 'QUOTA_EXCEEDED', /streams\.max 2/)
    const closed = new Promise((r) => inbound[0]!.once('close', r))
    s1.destroy()
    await t.wait(closed, 'stream 1 closed at b')
    await t.wait(t.pa.openStream('b'), 'stream 3, now that one closed')
    assert.is(inbound.length, 3)
    const sa = t.a.stats()
    const sb = t.b.stats()
    assert.equal([sa.streamsOpened, sb.streamsAccepted, sb.streamsRefused], [4, 3, 1])
    // The opener's own bound is checked before anything is sent.
    const t2 = await pair({ streams: { max: 1 } })
    try {
      t2.pb.on('stream', quiet)
      await t2.wait(t2.pa.openStream('b'), 'the one stream')
      await rejects(t2.pa.openStream('b'), 'QUOTA_EXCEEDED', /1 streams open with b/)
    } finally {
      await t2.stop()
    }
  } finally {
    await t.stop()
  }
})

test('a peer that sends beyond the window it was granted is cut off: its session closes, the stream errors', async () => {
  const window = 8192
  const t = await pair({}, { streams: { window } })
  try {
    const inbound: P4Stream[] = []
    t.pb.on('stream', (s) => inbound.push(quiet(s)))
    const s = await t.wait(t.pa.openStream('b'), 'the stream')
    const err = errorOf(s)
    const errB = errorOf(inbound[0]!)
    // A rogue a: DATA frames straight onto the session, ignoring b's window.
    const table = (t.a as unknown as { overlay: { table: PeerTable } }).overlay.table
    const session = table.peerOf('b')!.session
    for (let i = 0; i < 4; i++) session.send(MsgType.STREAM, 0, 0, APP, 1, StreamOp.DATA, new Uint8Array(4096))
    const gotB = (await t.wait(errB, "b's stream failing")) as P4Error
    assert.is(gotB.code, 'BAD_FRAME')
    assert.match(gotB.message, /a sent 4096 bytes of DATA with 0 bytes of window left/)
    assert.is((await t.wait(err, "a's stream failing")) instanceof P4Error, true)
    assert.is(t.b.stats().badFrame, 1)
    await t.clock.until(() => t.b.links().length === 0, 10_000, 'the link gone')
  } finally {
    await t.stop()
  }
})

test('link loss fails the streams at both ends with UNREACHABLE', async () => {
  const t = await pair()
  try {
    const inbound: P4Stream[] = []
    t.pb.on('stream', (s) => inbound.push(quiet(s)))
    const s = await t.wait(t.pa.openStream('b'), 'the stream')
    const errA = errorOf(s)
    const errB = errorOf(inbound[0]!)
    t.network.crash(t.tb)
    const [ea, eb] = (await t.wait(Promise.all([errA, errB]), 'both ends failing')) as [P4Error, P4Error]
    assert.is(ea.code, 'UNREACHABLE')
    assert.match(ea.message, /session to b closed/)
    assert.is(eb.code, 'UNREACHABLE')
    assert.match(eb.message, /session to a closed/)
  } finally {
    await t.stop()
  }
})

test('refusals say why: a node without streams, a plugin without a stream listener (also encrypted), oneself', async () => {
  const t = await pair({}, { streams: { max: 0 } })
  try {
    await rejects(t.wait(t.pa.openStream('b'), 'the open'), 'UNSUPPORTED', /b's node does not support streams/)
    await rejects(t.wait(t.pb.openStream('a'), 'the open'), 'UNSUPPORTED', /streams are off on this node/)
  } finally {
    await t.stop()
  }
  const t2 = await pair()
  try {
    await rejects(t2.wait(t2.pa.openStream('b'), 'the open'), 'STREAM_REFUSED', /plugin 7 accepts no streams/)
    await rejects(t2.wait(t2.pa.openStream('b', { encrypted: true }), 'the open'), 'STREAM_REFUSED', /plugin 7 accepts no streams/)
    await rejects(t2.pa.openStream('a'), 'BAD_ARGUMENT', /another user/)
    await rejects(t2.pa.openStream('nobody'), 'UNKNOWN_USER', /nobody/)
    // Bad input: each a P4Error with its code, nothing opened.
    await rejects(t2.pa.openStream(42 as never), 'BAD_ARGUMENT', /user must be a string/)
    await rejects(t2.pa.openStream('has space'), 'BAD_USERNAME', /whitespace/)
    await rejects(t2.pa.openStream('b', null as never), 'BAD_ARGUMENT', /options must be an object/)
    await rejects(t2.pa.openStream('b', { window: 1 } as never), 'BAD_ARGUMENT', /unknown stream option "window"/)
    t2.pb.on('stream', (s) => quiet(s).end())
    const s = await t2.wait(t2.pa.openStream('b'), 'now accepted')
    s.end()
    assert.equal(await t2.wait(readAll(s), 'the empty stream'), Buffer.alloc(0))
  } finally {
    await t2.stop()
  }
})

test('over loopback TCP: echo of 2 MB on two streams at once, then the other node stopping fails the open stream at both ends', async () => {
  const a = await createNode({ username: 'a', transport: tcp, links: { min: 0, max: 4 } })
  const b = await createNode({ username: 'b', transport: tcp, links: { min: 0, max: 4 } })
  const pa = a.plugin(APP)
  const pb = b.plugin(APP)
  await a.start()
  await b.start()
  try {
    await a.connect(b.address.host, b.address.port)
    await Promise.all([a.waitForUser('b', { plugin: APP }), b.waitForUser('a', { plugin: APP })])
    const inbound: P4Stream[] = []
    pb.on('stream', (s) => {
      inbound.push(quiet(s))
      s.pipe(s)
    })
    const [s1, s2] = await Promise.all([pa.openStream('b'), pa.openStream('b')])
    const backs = [readAll(s1!), readAll(s2!)]
    s1!.end(pattern(2_000_000, 5))
    s2!.end(pattern(2_000_000, 6))
    const [g1, g2] = await Promise.all(backs)
    assert.equal(g1, pattern(2_000_000, 5))
    assert.equal(g2, pattern(2_000_000, 6))
    // An open stream when b stops: a's fails with UNREACHABLE, b's with CLOSED.
    const open = quiet(await pa.openStream('b'))
    const errA = errorOf(open)
    const errB = errorOf(inbound[2]!)
    await b.stop()
    const [ea, eb] = (await Promise.all([errA, errB])) as [P4Error, P4Error]
    assert.is(ea.code, 'UNREACHABLE')
    assert.is(eb.code, 'CLOSED')
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
})

test.run()
