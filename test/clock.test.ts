// ManualClock, the time the tests drive: timers fire in order at their due
// time, until() advances in steps and fails past its limit, and time never
// goes back — also when two advances run at once (a test's background loop
// and its main line both moving the clock).
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { ManualClock } from '../ts/core/clock.js'
import { isP4Error } from '../ts/core/errors.js'

test('timers fire in due order (equal times in the order set), each at its own time; cleared ones never', async () => {
  const clock = new ManualClock({ wallAt: 1_000_000 })
  const fired: string[] = []
  const at = (name: string) => () => fired.push(`${name}@${clock.now()}`)
  clock.setTimeout(at('c'), 30)
  clock.setTimeout(at('a'), 10)
  clock.setTimeout(at('b1'), 20)
  clock.setTimeout(at('b2'), 20)
  const gone = clock.setTimeout(at('x'), 15)
  clock.clearTimeout(gone)
  await clock.advance(25)
  assert.equal(fired, ['a@10', 'b1@20', 'b2@20'])
  assert.is(clock.now(), 25)
  assert.is(clock.wall(), 1_000_025)
  await clock.advance(5)
  assert.equal(fired, ['a@10', 'b1@20', 'b2@20', 'c@30'])
  assert.is(clock.timers, 0)
})

test('a timer set by a timer fires within the same advance when it falls due in it', async () => {
  const clock = new ManualClock()
  const fired: number[] = []
  clock.setTimeout(() => {
    fired.push(clock.now())
    clock.setTimeout(() => fired.push(clock.now()), 5)
  }, 5)
  await clock.advance(10)
  assert.equal(fired, [5, 10])
})

test('until() advances in steps until the condition holds, and fails with TIMEOUT past its limit', async () => {
  const clock = new ManualClock()
  let flag = false
  clock.setTimeout(() => (flag = true), 95)
  await clock.until(() => flag, 1000, 'the flag', 10)
  assert.is(clock.now(), 100)
  const err = await clock.until(() => false, 50, 'nothing', 20).then(() => null, (e: unknown) => e)
  assert.ok(isP4Error(err, 'TIMEOUT'), String(err))
  assert.match((err as Error).message, 'nothing did not happen within 50 ms of clock time')
  assert.is(clock.now(), 150)
})

test('two advances at once: time never goes back, and every timer fires once, in order', async () => {
  const clock = new ManualClock()
  const seen: number[] = []
  const fired: number[] = []
  // Every observation of the clock, in the order made: by the timers and by the background loop.
  for (const t of [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]) {
    clock.setTimeout(() => {
      fired.push(t)
      seen.push(clock.now())
    }, t)
  }
  // A background loop moving time in small steps while the main line moves it far.
  let stop = false
  const background = (async () => {
    while (!stop) {
      await clock.advance(5)
      seen.push(clock.now())
    }
  })()
  // And a sampler reading the clock at every turn of the event loop in between.
  const sampler = (async () => {
    while (!stop) {
      seen.push(clock.now())
      await new Promise((r) => setImmediate(r))
    }
  })()
  await clock.advance(100)
  seen.push(clock.now())
  stop = true
  await Promise.all([background, sampler])
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `time went back: ${seen.join(', ')}`)
  assert.equal(fired, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
  assert.ok(clock.now() >= 100)
})

test('bad arguments are BAD_ARGUMENT', async () => {
  const clock = new ManualClock()
  for (const ms of [-1, NaN, Infinity, '5' as unknown as number]) {
    const err = await clock.advance(ms).then(() => null, (e: unknown) => e)
    assert.ok(isP4Error(err, 'BAD_ARGUMENT'), String(ms))
  }
  assert.throws(() => new ManualClock({ wallAt: NaN }), (e: unknown) => isP4Error(e, 'BAD_ARGUMENT'))
  assert.throws(() => clock.setTimeout('x' as unknown as () => void, 1), (e: unknown) => isP4Error(e, 'BAD_ARGUMENT'))
})

test.run()
