import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { DEFAULT_QUOTAS, PeerQuota, resolveQuotas } from '../ts/overlay/quotas.js'
import { P4Error } from '../ts/errors.js'
import { createNode } from '../ts/index.js'

test('quotas: partial options merge over the defaults; bad ones are BAD_OPTION', () => {
  const q = resolveQuotas({ helloPerSecond: 7 }, DEFAULT_QUOTAS)
  assert.is(q.helloPerSecond, 7)
  assert.is(q.framesPerSecond, DEFAULT_QUOTAS.framesPerSecond)
  for (const bad of [{ nope: 1 }, { helloPerSecond: 0 }, { framesPerSecond: 1.5 }, { banMs: 'x' }, 5]) {
    assert.throws(() => resolveQuotas(bad, DEFAULT_QUOTAS), (e: unknown) => e instanceof P4Error && e.code === 'BAD_OPTION')
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

test.run()
