// A link's round trip (links() rtt) is known right after link-up and stays
// current on a busy link. It used to be measured only by the keepalive PING
// of a quiet link, so a link carrying messages showed no rtt for as long as
// it stayed busy. Memory network on a ManualClock: delays are exact.
import * as assert from 'uvu/assert'
import { createNode, ManualClock, memoryTransport, MemoryNetwork, type Node } from '../ts/index.js'
import { test } from './helpers/test.js'

const CHAT = 1001
const A = '10.0.0.1'
const B = '10.0.0.2'
const DELAY_MS = 25

interface Pair {
  a: Node
  b: Node
  clock: ManualClock
  stop: () => Promise<void>
}

/** a at A, b at B bootstrapping to a, over a link of DELAY_MS each way (and `bytesPerSecond`); resolves once both see the link. */
async function linkedPair(opts: { bytesPerSecond?: number; highWaterMark?: number } = {}): Promise<Pair> {
  let network!: MemoryNetwork
  const clock = new ManualClock({ wallAt: 0, idle: () => network.idle })
  network = new MemoryNetwork({ clock })
  network.setLink(A, B, { delayMs: DELAY_MS, bytesPerSecond: opts.bytesPerSecond })
  const common = { clock, links: { min: 1, max: 4 }, ...(opts.highWaterMark ? { highWaterMark: opts.highWaterMark } : {}) }
  const a = await createNode({ username: 'a', host: A, transport: memoryTransport(network, { host: A }), ...common })
  await a.start()
  const b = await createNode({ username: 'b', host: B, transport: memoryTransport(network, { host: B }), bootstrap: [a.address], ...common })
  await b.start({ joinTimeout: 0 }) // on a manual clock the join is awaited below, moving time
  a.plugin(CHAT)
  b.plugin(CHAT)
  await clock.until(() => a.links().length === 1 && b.links().length === 1 && a.users().includes('b') && b.users().includes('a'), 10_000, 'a and b linked')
  return {
    a,
    b,
    clock,
    stop: async () => {
      let stopped = false
      const both = Promise.all([a.stop(), b.stop()]).then(() => (stopped = true))
      await clock.until(() => stopped, 10_000, 'both nodes stopped')
      await both
    },
  }
}

/** Sends `bytes` from `from` to `to` every `everyMs` of clock time until the returned function is called. */
function traffic(clock: ManualClock, from: Node, to: string, bytes: number, everyMs: number): () => void {
  let on = true
  const tick = (): void => {
    if (!on) return
    from.plugin(CHAT).send(to, new Uint8Array(bytes)).catch(() => undefined)
    clock.setTimeout(tick, everyMs)
  }
  tick()
  return () => (on = false)
}

const rttOf = (n: Node): number | undefined => n.links()[0]?.rtt

test('a busy link: both ends know its rtt (2 × the one-way delay) within 200 ms of link-up, and still do minutes later', async () => {
  const { a, b, clock, stop } = await linkedPair()
  // Messages both ways every 100 ms: the link is never quiet for a keepalive PING.
  const stopAB = traffic(clock, a, 'b', 100, 100)
  const stopBA = traffic(clock, b, 'a', 100, 100)
  try {
    const since = Math.max(a.links()[0]!.since, b.links()[0]!.since)
    await clock.until(() => rttOf(a) !== undefined && rttOf(b) !== undefined, 200, () => `an rtt at both ends (a: ${rttOf(a)}, b: ${rttOf(b)})`)
    assert.ok(clock.wall() - since <= 200 + 2 * DELAY_MS, `${clock.wall() - since} ms after link-up`)
    for (const n of [a, b]) {
      const rtt = rttOf(n)!
      assert.ok(rtt >= 2 * DELAY_MS && rtt <= 2 * DELAY_MS + 5, `${n.username}: rtt ${rtt} ms, one-way delay ${DELAY_MS} ms`)
    }
    await clock.advance(120_000)
    assert.is(a.links().length, 1)
    for (const n of [a, b]) {
      const rtt = rttOf(n)
      assert.ok(rtt !== undefined && rtt >= 2 * DELAY_MS && rtt <= 2 * DELAY_MS + 5, `${n.username}: rtt ${rtt} ms after 2 min of traffic`)
    }
  } finally {
    stopAB()
    stopBA()
    await stop()
  }
})

test('a busy link is measured again every ping period: its rtt follows a queue that builds up behind the traffic', async () => {
  // 100 kB/s each way; send() waits while 64 kB are queued.
  const { a, b, clock, stop } = await linkedPair({ bytesPerSecond: 100_000, highWaterMark: 64 << 10 })
  const stopBA = traffic(clock, b, 'a', 100, 100)
  const stopLight = traffic(clock, a, 'b', 100, 100)
  let pumping = true
  let pump: Promise<void> = Promise.resolve()
  try {
    await clock.until(() => rttOf(a) !== undefined, 1000, 'an rtt at a')
    const light = rttOf(a)!
    assert.ok(light < 2 * DELAY_MS + 10, `light traffic: rtt ${light} ms`)
    // a now sends as fast as the link takes it: its queue stays full, and a PING waits behind it.
    pump = (async () => {
      while (pumping) await a.plugin(CHAT).send('b', new Uint8Array(8000))
    })()
    // On the memory transport the queue is a sawtooth, not a flat line: the
    // Conn's 'drain' comes only once it is empty, and then the sender refills
    // it at once. A PING sent just before a refill sees a short queue, so one
    // measurement may miss it; within two ping periods (15 s each), a
    // maintenance tick and the round trip itself, the rtt shows the queue.
    await clock.until(() => (rttOf(a) ?? 0) > 4 * light, 35_000, () => `an rtt above ${4 * light} ms at a (now ${rttOf(a)} ms)`, 100)
    assert.is(a.links().length, 1)
    // Back to light traffic: the queue drains and the next measurement shows it.
    pumping = false
    await clock.until(() => (rttOf(a) ?? Infinity) < 2 * DELAY_MS + 10, 20_000, () => `the rtt at a back below ${2 * DELAY_MS + 10} ms (now ${rttOf(a)} ms)`, 100)
  } finally {
    pumping = false
    stopLight()
    stopBA()
    await clock.until(() => a.links()[0] === undefined || a.links()[0]!.queued === 0, 5000, 'the queue at a drained')
    await pump
    await stop()
  }
})

test.run()
