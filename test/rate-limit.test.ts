import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { BucketMap, TokenBucket } from '../ts/overlay/rate-limit.js'
import { throwsCode } from './helpers/errors.js'

test('bucket starts full, drains, refills at rate, caps at burst', () => {
  const b = new TokenBucket({ rate: 10, burst: 5 }, 1000)
  for (let i = 0; i < 5; i++) assert.ok(b.take(1000))
  assert.not.ok(b.take(1000))
  assert.is(b.waitTime(1000), 100)
  assert.not.ok(b.take(1099))
  assert.ok(b.take(1100)) // 10/s → one token per 100 ms
  assert.not.ok(b.take(1100))
  assert.is(b.available(100_000), 5) // capped at burst after a long idle
  assert.ok(b.isFull(100_000))
})

test('multi-token takes are all-or-nothing; n > burst never succeeds', () => {
  const b = new TokenBucket({ rate: 1, burst: 3 }, 0)
  assert.not.ok(b.take(0, 4))
  assert.is(b.available(0), 3)
  assert.ok(b.take(0, 2.5))
  assert.not.ok(b.take(0, 1))
  assert.ok(Math.abs(b.available(0) - 0.5) < 1e-9)
  assert.is(b.waitTime(0, 4), Infinity)
  assert.is(b.waitTime(0, 1), 500)
})

test('a clock stepping backwards neither adds nor removes tokens', () => {
  const b = new TokenBucket({ rate: 1000, burst: 2 }, 500)
  assert.ok(b.take(500, 2))
  assert.is(b.available(100), 0)
  assert.not.ok(b.take(400))
  assert.ok(b.take(501)) // 1 ms after the last forward step = 1 token
})

test('bad options and arguments are P4Errors', () => {
  throwsCode(() => new TokenBucket({ rate: 0, burst: 1 }, 0), 'BAD_OPTION')
  throwsCode(() => new TokenBucket({ rate: Infinity, burst: 1 }, 0), 'BAD_OPTION')
  throwsCode(() => new TokenBucket({ rate: 1, burst: 0.5 }, 0), 'BAD_OPTION')
  throwsCode(() => new TokenBucket(null as never, 0), 'BAD_OPTION')
  throwsCode(() => new TokenBucket({ rate: 1, burst: 1 }, NaN), 'BAD_ARGUMENT')
  const b = new TokenBucket({ rate: 1, burst: 1 }, 0)
  throwsCode(() => b.take(0, 0), 'BAD_ARGUMENT')
  throwsCode(() => b.take(0, -1), 'BAD_ARGUMENT')
  throwsCode(() => b.take(NaN), 'BAD_ARGUMENT')
  throwsCode(() => new BucketMap({ rate: 1, burst: 1, maxKeys: 0 }), 'BAD_OPTION')
  throwsCode(() => new BucketMap({ rate: 1, burst: 1, maxKeys: 1.5 }), 'BAD_OPTION')
})

test('bucket map: keys are independent', () => {
  const m = new BucketMap<string>({ rate: 1, burst: 2, maxKeys: 10 })
  assert.ok(m.take('a', 0))
  assert.ok(m.take('a', 0))
  assert.not.ok(m.take('a', 0))
  assert.ok(m.take('b', 0))
  assert.is(m.waitTime('a', 0), 1000)
  assert.is(m.waitTime('zzz', 0), 0)
  assert.is(m.waitTime('zzz', 0, 3), Infinity)
  assert.is(m.size, 2)
})

test('bucket map: bounded, evicts the least recently used key', () => {
  const m = new BucketMap<number>({ rate: 1, burst: 1, maxKeys: 3 })
  m.take(1, 0)
  m.take(2, 0)
  m.take(3, 0)
  m.take(1, 0) // 1 becomes most recent (and is refused: empty)
  m.take(4, 0) // evicts 2
  assert.is(m.size, 3)
  assert.ok(m.has(1))
  assert.not.ok(m.has(2))
  assert.ok(m.has(3))
  assert.ok(m.has(4))
  for (let k = 100; k < 1100; k++) m.take(k, 0)
  assert.is(m.size, 3)
})

test('bucket map: sweep drops refilled buckets only', () => {
  const m = new BucketMap<string>({ rate: 10, burst: 2, maxKeys: 10 })
  m.take('idle', 0)
  m.take('busy', 0)
  m.take('busy', 150)
  m.take('busy', 150) // idle refills by 100 ms, busy is empty at 150
  assert.is(m.sweep(150), 1)
  assert.not.ok(m.has('idle'))
  assert.ok(m.has('busy'))
  assert.ok(m.delete('busy'))
  assert.is(m.size, 0)
})

test.run()
