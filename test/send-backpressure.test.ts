// plugin.send() backpressure and delivery confirmation through the public
// API, two nodes on a memory network and a ManualClock: the link between them
// is shaped (bandwidth, delay), so the sender's session fills up, drains and
// loses its link exactly when the test moves the clock or crashes a node.
//  - sends wait in one queue per session while it is above its high-water
//    mark: 1,000 in flight add no listener each (no MaxListenersExceededWarning),
//    none rejects, all arrive in order;
//  - past the documented bound one more send rejects QUOTA_EXCEEDED, saying to await;
//  - { ack: true } resolves once the recipient's node delivered the message,
//    and rejects with the cause: link lost, plugin not running there, too old
//    a peer, timeout.
import * as assert from 'uvu/assert'
import { P4Error, type Node } from '../ts/index.js'
import { aliceAndBob, type AliceBob } from './helpers/alice-bob.js'
import { track } from './helpers/track.js'
import { test } from './helpers/test.js'
import { withNet } from '../common/net.js'

const PLUGIN = 7

/** alice linked to bob over a link shaped by `shape`; `bobOld`: bob announces no handshake features. */
function pair(shape: { delayMs?: number; bytesPerSecond?: number }, bobOld = false, maxMessage?: number): Promise<AliceBob> {
  return aliceAndBob({
    plugin: PLUGIN,
    shape,
    options: { highWaterMark: 64 * 1024, ...(maxMessage ? { maxMessage } : {}) },
    // A node of a version before handshake feature ACK.
    beforeStart: (_alice, bob) => void (bobOld && ((bob as unknown as { resolved: { cfg: { features: number } } }).resolved.cfg.features = 0)),
  })
}

test('1,000 sends in flight wait in one queue: no listener each, none rejected, all delivered in order', async () => {
  const warnings: string[] = []
  const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`)
  process.on('warning', onWarning)
  const p = await pair({ bytesPerSecond: 1_000_000 })
  try {
    const got: number[] = []
    p.bob.plugin(PLUGIN).on('message', (m) => got.push(new DataView(m.data.buffer, m.data.byteOffset).getUint32(0)))
    const chat = p.alice.plugin(PLUGIN)
    const sends = Array.from({ length: 1000 }, (_, i) => {
      const msg = new Uint8Array(4096)
      new DataView(msg.buffer).setUint32(0, i)
      return track(chat.send('bob', msg))
    })
    await p.clock.settle()
    // 4 MB against a 64 KiB high-water mark on a 1 MB/s link: most wait, none failed.
    const waiting = sends.filter((s) => s.state === 'pending').length
    assert.ok(waiting > 900, `${waiting} sends waiting`)
    assert.ok(sends.every((s) => s.state !== 'rejected'))
    await p.clock.until(() => got.length === 1000, 30_000, () => `all 1,000 delivered (${got.length})`)
    assert.ok(sends.every((s) => s.state === 'resolved'))
    assert.equal(got, Array.from({ length: 1000 }, (_, i) => i))
    await new Promise((r) => setImmediate(r)) // process warnings are emitted on a later tick
    assert.equal(warnings.filter((w) => w.includes('MaxListenersExceeded')), [])
  } finally {
    process.off('warning', onWarning)
    await p.stop()
  }
})

test('past the documented bound (64 MiB waiting per recipient) one more send rejects QUOTA_EXCEEDED saying to await; the others go on', async () => {
  const p = await pair({ bytesPerSecond: 1_000_000 })
  try {
    const chat = p.alice.plugin(PLUGIN)
    const big = new Uint8Array(1 << 20)
    const sends = Array.from({ length: 70 }, () => track(chat.send('bob', big)))
    await p.clock.settle()
    const rejected = sends.filter((s) => s.state === 'rejected')
    assert.ok(rejected.length > 0 && rejected.length < 10, `${rejected.length} rejected`)
    // The first ones were accepted or wait; only those past the bound failed.
    assert.ok(sends.slice(0, 60).every((s) => s.state !== 'rejected'))
    for (const r of rejected) {
      assert.instance(r.error, P4Error)
      assert.is((r.error as P4Error).code, 'QUOTA_EXCEEDED')
      assert.match((r.error as P4Error).message, /await send\(\) before sending more/)
      assert.match((r.error as P4Error).message, /67108864 bytes may wait per recipient/)
    }
  } finally {
    await p.stop()
  }
})

test('a link whose queue floods filled to its bound: send() waits (no QUOTA_EXCEEDED from the session under it), then resolves and arrives', async () => {
  // maxMessage 64 KiB: the session's hard bound is 64 KiB + 4 KiB + 4 x 64 KiB.
  const p = await pair({ bytesPerSecond: 100_000 }, false, 64 * 1024)
  try {
    const chat = p.alice.plugin(PLUGIN)
    const got: number[] = []
    p.bob.plugin(PLUGIN).on('message', (m) => got.push(m.data.length))
    // Broadcasts never wait: they fill alice's queue to bob until the bound drops them.
    for (let i = 0; i < 40 && p.alice.stats().droppedSlowPeer === 0; i++) await chat.broadcast(new Uint8Array(16 * 1024))
    assert.ok(p.alice.stats().droppedSlowPeer > 0, 'the queue reached its bound')
    const sent = track(chat.send('bob', new Uint8Array(60 * 1024)))
    await p.clock.settle()
    assert.is(sent.state, 'pending', `the send waits above the high-water mark (${String(sent.error)})`)
    await p.clock.until(() => sent.state !== 'pending', 60_000, 'the waiting send to settle')
    assert.is(sent.state, 'resolved', String(sent.error))
    await p.clock.until(() => got.includes(60 * 1024), 60_000, 'the 60 KiB message at bob')
  } finally {
    await p.stop()
  }
})

test('a link lost with sends waiting rejects them UNREACHABLE, and link-down reports it', async () => {
  const p = await pair({ bytesPerSecond: 1_000_000 })
  try {
    let down = 0
    p.alice.on('link-down', () => down++)
    const chat = p.alice.plugin(PLUGIN)
    const sends = Array.from({ length: 100 }, () => track(chat.send('bob', new Uint8Array(4096))))
    await p.clock.settle()
    assert.ok(sends.some((s) => s.state === 'pending'))
    p.network.crash((p.bob.options.transport)!)
    await p.clock.until(() => sends.every((s) => s.state !== 'pending'), 10_000, 'the waiting sends to settle')
    const failed = sends.filter((s) => s.state === 'rejected')
    assert.ok(failed.length > 0)
    for (const f of failed) assert.is((f.error as P4Error).code, 'UNREACHABLE')
    assert.is(down, 1)
  } finally {
    await p.stop()
  }
})

test('send({ ack: true }) resolves once the recipient delivered the message, not before', async () => {
  const p = await pair({ delayMs: 20 })
  try {
    let deliveredAt = -1
    p.bob.plugin(PLUGIN).on('message', () => (deliveredAt = p.clock.now()))
    const t0 = p.clock.now()
    const sent = track(p.alice.plugin(PLUGIN).send('bob', new Uint8Array([1, 2, 3]), { ack: true }))
    await p.clock.advance(30)
    assert.is(sent.state, 'pending', 'delivered after 20 ms, the ack takes 20 ms more')
    assert.ok(deliveredAt >= t0 + 20)
    await p.clock.until(() => sent.state !== 'pending', 1000, 'the ack')
    assert.is(sent.state, 'resolved')
    assert.ok(p.clock.now() >= t0 + 40)
  } finally {
    await p.stop()
  }
})

test('send({ ack: true }) rejects UNREACHABLE when the link is lost before the ack', async () => {
  const p = await pair({ delayMs: 20 })
  try {
    let delivered = 0
    p.bob.plugin(PLUGIN).on('message', () => delivered++)
    const sent = track(p.alice.plugin(PLUGIN).send('bob', new Uint8Array(10), { ack: true, ackTimeout: 5000 }))
    await p.clock.advance(5)
    p.network.crash(p.bob.options.transport!)
    await p.clock.until(() => sent.state !== 'pending', 5000, 'the send to settle')
    assert.is(sent.state, 'rejected')
    assert.is((sent.error as P4Error).code, 'UNREACHABLE')
    assert.is(delivered, 0)
  } finally {
    await p.stop()
  }
})

test('send({ ack: true }) rejects with the cause: plugin not running there (UNREACHABLE), no ack in time (TIMEOUT), bad option (BAD_ARGUMENT)', async () => {
  const p = await pair({ delayMs: 20 })
  try {
    const notThere = track(p.alice.plugin(9).send('bob', new Uint8Array(1), { ack: true }))
    const late = track(p.alice.plugin(PLUGIN).send('bob', new Uint8Array(1), { ack: true, ackTimeout: 30 }))
    await p.clock.until(() => notThere.state !== 'pending' && late.state !== 'pending', 5000, 'both sends to settle')
    assert.is((notThere.error as P4Error).code, 'UNREACHABLE')
    assert.match((notThere.error as P4Error).message, /did not deliver/)
    assert.is((late.error as P4Error).code, 'TIMEOUT')
    const bad = track(p.alice.plugin(PLUGIN).send('bob', new Uint8Array(1), { ack: 'yes' as never }))
    await p.clock.settle()
    assert.is((bad.error as P4Error).code, 'BAD_ARGUMENT')
  } finally {
    await p.stop()
  }
})

test('to a node too old for them, { ack: true } and { encrypted: true } (box v1) reject UNSUPPORTED before anything is sent; a plain send still works', async () => {
  const p = await pair({ delayMs: 1 }, true)
  try {
    let got = 0
    p.bob.plugin(PLUGIN).on('message', () => got++)
    const acked = track(p.alice.plugin(PLUGIN).send('bob', new Uint8Array(1), { ack: true }))
    const sealed = track(p.alice.plugin(PLUGIN).send('bob', new Uint8Array(1), { encrypted: true }))
    await p.clock.settle()
    assert.is(acked.state, 'rejected')
    assert.is((acked.error as P4Error).code, 'UNSUPPORTED')
    assert.match((acked.error as P4Error).message, /send without \{ ack: true \}/)
    assert.is(sealed.state, 'rejected')
    assert.is((sealed.error as P4Error).code, 'UNSUPPORTED')
    assert.match((sealed.error as P4Error).message, /E2E_BOX1/)
    await p.alice.plugin(PLUGIN).send('bob', new Uint8Array(1))
    await p.clock.until(() => got === 1, 1000, 'the plain message')
    assert.is(p.bob.stats().decryptFailed, 0, 'no box reached bob')
  } finally {
    await p.stop()
  }
})

test('over loopback TCP: 1,000 × 64 KiB in flight are accepted or wait (none rejects, no listener each) and arrive in order; { ack: true } resolves', async () => {
  const warnings: string[] = []
  const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`)
  process.on('warning', onWarning)
  try {
    await withNet({ n: 2, transport: 'tcp', plugins: [PLUGIN], topology: 'full' }, async ({ nodes }) => {
      const [from, to] = nodes as [Node, Node]
      const got: number[] = []
      let resolveAll!: () => void
      const all = new Promise<void>((r) => (resolveAll = r))
      to.plugin(PLUGIN).on('message', (m) => {
        got.push(new DataView(m.data.buffer, m.data.byteOffset).getUint32(0))
        if (got.length === 1000) resolveAll()
      })
      const chat = from.plugin(PLUGIN)
      const sends = Array.from({ length: 1000 }, (_, i) => {
        const msg = new Uint8Array(64 * 1024)
        new DataView(msg.buffer).setUint32(0, i)
        return chat.send(to.username, msg)
      })
      await Promise.all(sends)
      await withDeadline(all, 20_000, () => `all 1,000 delivered (${got.length})`)
      assert.equal(got, Array.from({ length: 1000 }, (_, i) => i))
      await chat.send(to.username, new Uint8Array(8), { ack: true, ackTimeout: 5000 })
    })
    await new Promise((r) => setImmediate(r))
    assert.equal(warnings.filter((w) => w.includes('MaxListenersExceeded')), [])
  } finally {
    process.off('warning', onWarning)
  }
})

/** `p`, or a rejection naming `what` after `ms` of real time (a deadline, not a sleep). */
function withDeadline<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer!: NodeJS.Timeout
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what()} did not happen within ${ms} ms`)), ms)))
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer))
}

test.run()
