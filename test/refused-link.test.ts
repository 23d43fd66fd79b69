// A node whose key its peer refuses after the handshake (here: a stale tofu
// pin for its name) finishes each handshake and loses the link at once. It
// must back off like a failed dial instead of redialling at once.
import * as assert from 'uvu/assert'
import { createNode, ManualClock, memoryTransport, MemoryNetwork, type Node, type P4Error } from '../ts/index.js'
import { test } from './helpers/test.js'

async function stopAll(clock: ManualClock, nodes: Node[]): Promise<void> {
  let stopped = false
  const all = Promise.all(nodes.map((n) => n.stop())).then(() => (stopped = true))
  await clock.until(() => stopped, 10_000, 'the nodes to stop')
  await all
}

test('a link refused after the handshake is redialled with backoff, not at once', async () => {
  let network!: MemoryNetwork
  const clock = new ManualClock({ wallAt: 0, idle: () => network.idle })
  network = new MemoryNetwork({ clock })
  const transport = memoryTransport(network)
  const b = await createNode({ username: 'b', transport, clock })
  await b.start()
  // b pins the name "a" to a first key ...
  const first = await createNode({ username: 'a', transport, clock, bootstrap: [b.address] })
  await first.start()
  await clock.until(() => b.users().includes('a'), 5000, 'the first "a" known at b')
  await stopAll(clock, [first])
  // ... and a second node called "a", with a new key, keeps being refused.
  const a = await createNode({ username: 'a', transport, clock, bootstrap: [b.address] })
  const atB: P4Error[] = []
  b.on('warning', (e: P4Error) => atB.push(e))
  let ups = 0
  let downs = 0
  const warnings: P4Error[] = []
  a.on('warning', (e: P4Error) => warnings.push(e))
  a.on('link-up', () => ups++)
  a.on('link-down', () => downs++)
  try {
    // start() waits for the join until its deadline, then resolves anyway and says why.
    const started = a.start({ joinTimeout: 3000 })
    await clock.advance(10_000)
    await started
    // Without backoff it relinked every maintenance tick (22 times in these 10 s).
    assert.ok(ups >= 2, `it keeps trying (${ups} links)`)
    assert.ok(ups <= 6, `${ups} links up and down in 10 s of clock time`)
    assert.is(b.stats().untrustedKey, ups)
    assert.is(a.links().length, 0)
    assert.is(downs, ups)
    // The user is told why, once per run of failures, and start() why it is alone.
    assert.equal(warnings.map((w) => w.code), ['UNTRUSTED_KEY', 'NOT_JOINED'])
    assert.match(warnings[0]!.message, `bootstrap ${b.address.host}:${b.address.port} closed the link right after the handshake`)
    assert.match(warnings[1]!.message, /^not joined after 3000 ms: bootstrap .* closed the link right after the handshake/)
    // The refusing side says so too, once for that name and key, not at every redial.
    assert.equal(atB.map((w) => w.code), ['UNTRUSTED_KEY'])
    assert.match(atB[0]!.message, /^refused key [0-9a-f]{16}… for "a": /)
    const status = a.status()
    assert.is(status.state, 'alone')
    assert.equal(status.reasons.map((r) => r.code), ['UNTRUSTED_KEY', 'NOT_JOINED'])
  } finally {
    await stopAll(clock, [a, b])
  }
})

test('an unreachable bootstrap is reported once as a warning naming it, then retried quietly with backoff', async () => {
  let network!: MemoryNetwork
  const clock = new ManualClock({ wallAt: 0, idle: () => network.idle })
  network = new MemoryNetwork({ clock })
  const a = await createNode({ username: 'a', transport: memoryTransport(network), clock, bootstrap: ['127.0.0.1:9'] })
  const warnings: P4Error[] = []
  a.on('warning', (e: P4Error) => warnings.push(e))
  try {
    const started = a.start({ joinTimeout: 5000 })
    await clock.advance(10_000)
    await started
    assert.equal(warnings.map((w) => w.code), ['UNREACHABLE', 'NOT_JOINED'])
    assert.match(warnings[1]!.message, /^not joined after 5000 ms: .*127\.0\.0\.1:9/)
    assert.is(a.status().state, 'alone')
    const m = warnings[0]!.message
    assert.is(m.split('127.0.0.1:9').length - 1, 1, m)
    assert.is(a.links().length, 0)
  } finally {
    await stopAll(clock, [a])
  }
})

test('a blackholed bootstrap (connections never answered): a warning naming it once, with the timeout as its cause, start() resolves at its deadline, status says alone', async () => {
  let network!: MemoryNetwork
  const clock = new ManualClock({ wallAt: 0, idle: () => network.idle })
  network = new MemoryNetwork({ clock })
  // Something listens there and never answers: the handshake (TCP: the dial) times out.
  let held = 0
  const hole = await memoryTransport(network, { host: '10.7.7.7' }).listen('10.7.7.7', 4001, () => void held++)
  const a = await createNode({ username: 'a', transport: memoryTransport(network), clock, bootstrap: ['10.7.7.7:4001'], timers: { requestTimeoutMs: 2000, handshakeTimeoutMs: 2000 } })
  const warnings: P4Error[] = []
  a.on('warning', (e: P4Error) => warnings.push(e))
  try {
    let started = false
    const starting = a.start({ joinTimeout: 5000 }).then(() => (started = true))
    await clock.advance(4999)
    assert.is(started, false, 'start() waits for the join until its deadline')
    // Unreachable because the handshake timed out (the cause), the address named once.
    assert.equal(warnings.map((w) => w.code), ['UNREACHABLE'])
    const causes: string[] = []
    for (let e = warnings[0]!.cause as P4Error | undefined; e; e = e.cause as P4Error | undefined) causes.push(e.code)
    assert.ok(causes.includes('TIMEOUT'), causes.join(' < '))
    assert.match(warnings[0]!.message, /^bootstrap: handshake to 10\.7\.7\.7:4001 failed at the preamble: handshake did not finish within 2000 ms/)
    assert.is(warnings[0]!.message.split('10.7.7.7:4001').length - 1, 1, warnings[0]!.message)
    await clock.advance(1)
    await starting
    assert.equal(warnings.map((w) => w.code), ['UNREACHABLE', 'NOT_JOINED'])
    assert.ok(held >= 1)
    assert.equal(a.status().reasons.map((r) => r.code), ['UNREACHABLE', 'NOT_JOINED'])
    assert.is(a.status().state, 'alone')
  } finally {
    await stopAll(clock, [a])
    await hole.close()
  }
})

test.run()
