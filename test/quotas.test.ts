import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { PeerQuota, type Quotas } from '../ts/overlay/quotas.js'
import { P4Error } from '../ts/core/errors.js'
import { createNode } from '../ts/index.js'
import { resolveOptions, type NodeOptions } from '../ts/options.js'

// The defaults come from the option schema (ts/option-schema.ts).
const quotasOf = (quotas?: unknown): Quotas => resolveOptions({ username: 'q', quotas } as NodeOptions).cfg.quotas
const DEFAULT_QUOTAS = quotasOf()

test('quotas: partial options merge over the defaults; bad ones are BAD_OPTION', () => {
  const q = quotasOf({ helloPerSecond: 7 })
  assert.is(q.helloPerSecond, 7)
  assert.is(q.framesPerSecond, DEFAULT_QUOTAS.framesPerSecond)
  assert.is(resolveOptions({ username: 'q', profile: 'small' }).cfg.quotas.framesPerSecond, 5000)
  for (const bad of [{ nope: 1 }, { helloPerSecond: 0 }, { framesPerSecond: 1.5 }, { banMs: 'x' }, 5]) {
    assert.throws(() => quotasOf(bad), (e: unknown) => e instanceof P4Error && e.code === 'BAD_OPTION')
  }
})

test('quotas: createNode validates them', async () => {
  await createNode({ username: 'q', quotas: { discoverPerSecond: 3 } })
  try {
    await createNode({ username: 'q', quotas: { discoverPerSecond: -3 } })
    assert.unreachable()
  } catch (e) {
    assert.is((e as P4Error).code, 'BAD_OPTION')
  }
})

test('quotas: a bucket allows its burst, then cuts off, and refills with time', () => {
  const q = new PeerQuota({ ...DEFAULT_QUOTAS, discoverPerSecond: 2 })
  let t = 1000
  let allowed = 0
  while (q.discoverFrame(t) === null) allowed++
  assert.is(allowed, 10) // 5 seconds' burst
  assert.is(q.discoverFrame(t), 'discover')
  t += 1000
  assert.is(q.discoverFrame(t), null)
  assert.is(q.discoverFrame(t), null)
  assert.is(q.discoverFrame(t), 'discover')
})

test('quotas: bad signatures are counted per minute', () => {
  const q = new PeerQuota({ ...DEFAULT_QUOTAS, badSignaturesPerMinute: 3 })
  assert.is(q.badSignature(0), null)
  assert.is(q.badSignature(0), null)
  assert.is(q.badSignature(0), null)
  assert.is(q.badSignature(0), 'bad-signatures')
  assert.is(q.badSignature(20_000), null) // one token back after 20 s
})

test('quotas: not-reading — a full queue the peer takes nothing of is cut after notReadingMs; a busy reader that takes a queue a check is not', () => {
  const hwm = 16 * 1024
  const q = new PeerQuota({ ...DEFAULT_QUOTAS, notReadingMs: 200 })
  // A sleeper: the queue stays full and nothing is taken.
  assert.is(q.notReading(0, hwm, hwm, 0), null) // a window starts (at t = 0 too)
  assert.is(q.notReading(150, hwm * 2, hwm, 0), null)
  assert.is(q.notReading(201, hwm * 2, hwm, 100), 'not-reading')
  // A busy reader: full at every check, but a whole queue taken between checks.
  const busy = new PeerQuota({ ...DEFAULT_QUOTAS, notReadingMs: 200 })
  let taken = 0
  for (let t = 0; t <= 2000; t += 50) {
    assert.is(busy.notReading(t, 2 * hwm, hwm, taken), null, `checked at ${t} ms`)
    taken += hwm
  }
  // A queue that drains resets the window.
  const drains = new PeerQuota({ ...DEFAULT_QUOTAS, notReadingMs: 200 })
  assert.is(drains.notReading(0, hwm, hwm, 0), null)
  assert.is(drains.notReading(150, 0, hwm, 0), null)
  assert.is(drains.notReading(300, hwm, hwm, 0), null)
  assert.is(drains.notReading(450, hwm, hwm, 0), null)
  assert.is(drains.notReading(501, hwm, hwm, 0), 'not-reading')
})

test('connect() and the socket option reject bad input with a code', async () => {
  for (const socket of [{ sendBuffer: -1 }, { keepAlive: { idleMs: 1.5, intervalMs: 1000, count: 3 } }, { nope: true }]) {
    try {
      await createNode({ username: 's', socket: socket as never })
      assert.unreachable()
    } catch (e) {
      assert.is((e as P4Error).code, 'BAD_OPTION', JSON.stringify(socket))
    }
  }
  const node = await createNode({ username: 'c' })
  await node.start()
  try {
    for (const [host, port] of [['', 4000], ['127.0.0.1', 0], ['127.0.0.1', 70000], ['127.0.0.1', 1.5]] as const) {
      try {
        await node.connect(host, port)
        assert.unreachable()
      } catch (e) {
        assert.is((e as P4Error).code, 'BAD_ARGUMENT', `${host}:${port}`)
      }
    }
  } finally {
    await node.stop()
  }
})

test.run()
