// The short fuzz run of npm test: every target for a few thousand seeded
// inputs (about two seconds in all), plus proof that the harness does fail —
// on a crash, a wrong oracle, an oversized allocation and a hang — and that
// the reported (seed, index) regenerates the failing input. The long run is
// `npm run fuzz` (test/fuzz/run.ts).
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { P4Error } from '../ts/core/errors.js'
import { FuzzFailure, runTarget, type FuzzTarget } from './fuzz/harness.js'
import { mutate, Rng } from './fuzz/rng.js'
import { makeTarget, TARGET_NAMES } from './fuzz/targets.js'

const SEED = 0x70a57

/** Inputs per target in the short run (the slow ones do real crypto or file I/O per input). */
const SHORT: Record<string, number> = {
  'frame-scan': 4000,
  receiver: 800,
  handshake: 600,
  'handshake-payload': 4000,
  hello: 4000,
  'hello-frame': 1200,
  'lka-ack': 3000,
  discover: 4000,
  'discover-frame': 1500,
  config: 4000,
  'config-file': 800,
  'lan-beacon': 2000,
  relay: 4000,
}

test('every target has a short-run size', () => {
  assert.equal(Object.keys(SHORT).sort(), [...TARGET_NAMES].sort())
})

for (const name of TARGET_NAMES) {
  test(`fuzz ${name}: ${SHORT[name]} seeded inputs, no crash, hang or oversized allocation`, async () => {
    const target = await makeTarget(name)
    try {
      const r = await runTarget(target, { seed: SEED, count: SHORT[name]! })
      assert.is(r.inputs, SHORT[name])
      // The inputs reach both outcomes: a fuzzer that only ever hits one path proves little.
      assert.ok(r.rejected > 0, `${name}: nothing was rejected`)
      assert.ok(r.accepted > 0, `${name}: nothing was accepted`)
    } finally {
      await target.close?.()
    }
  })
}

test('the handshake target reaches the deadline path: stalled handshakes end with TIMEOUT', async () => {
  const target = await makeTarget('handshake')
  // Inputs are a function of (seed, index): these 300 hold two stalled pipes (a stall is 1 in 200).
  const r = await runTarget(target, { seed: SEED + 1, count: 300 })
  assert.ok((r.codes.TIMEOUT ?? 0) > 0, `codes: ${JSON.stringify(r.codes)}`)
  assert.ok((r.codes.PEER_CLOSED ?? 0) > 0 && (r.codes.BAD_HANDSHAKE ?? 0) > 0, `codes: ${JSON.stringify(r.codes)}`)
})

test('inputs are a function of (seed, index) alone', () => {
  const base = Uint8Array.from({ length: 64 }, (_, i) => i)
  const a = mutate(new Rng(5, 12345), base, 256)
  const b = mutate(new Rng(5, 12345), base, 256)
  const c = mutate(new Rng(5, 12346), base, 256)
  assert.equal(a, b)
  assert.not.equal(a, c)
  // Neighbouring seeds and indexes give unrelated streams.
  const first = (s: number, i: number): number => new Rng(s, i).u32()
  assert.is(new Set([first(1, 0), first(2, 0), first(1, 1), first(2, 1)]).size, 4)
})

/** A target that fails in a chosen way on inputs whose first byte is 0x42. */
function broken(how: 'crash' | 'oracle' | 'alloc' | 'hang' | 'code'): FuzzTarget {
  return {
    name: `broken-${how}`,
    codes: ['BAD_PAYLOAD'],
    run(rng, describe) {
      const input = rng.bytes(4)
      describe(input)
      if (input[0] !== 0x42) {
        if (input[0]! < 0x80) throw new P4Error('BAD_PAYLOAD', 'an ordinary rejection')
        return { verdict: 'accepted', allocLimit: 16 }
      }
      switch (how) {
        case 'crash':
          return (null as unknown as { x: () => never }).x()
        case 'oracle':
          throw new Error('oracle broken')
        case 'alloc':
          Buffer.alloc(1 << 20)
          return { verdict: 'accepted', allocLimit: 1024 }
        case 'code':
          throw new P4Error('WASM_ABORT', 'not an allowed code')
        case 'hang': {
          const until = performance.now() + 80
          while (performance.now() < until);
          return { verdict: 'accepted', allocLimit: 16 }
        }
      }
    },
    hangMs: 50,
  }
}

for (const how of ['crash', 'oracle', 'alloc', 'hang', 'code'] as const) {
  test(`the harness fails on ${how}, naming the seed and an index that reproduces the input`, async () => {
    let failure: FuzzFailure | undefined
    try {
      await runTarget(broken(how), { seed: 99, count: 5000 })
    } catch (err) {
      failure = err as FuzzFailure
    }
    assert.instance(failure, FuzzFailure)
    assert.is(failure!.seed, 99)
    assert.match(failure!.message, `--seed 99 --index ${failure!.index}`)
    // Running that index alone fails the same way.
    let again: FuzzFailure | undefined
    try {
      await runTarget(broken(how), { seed: 99, count: 1, from: failure!.index })
    } catch (err) {
      again = err as FuzzFailure
    }
    assert.is(again?.input, failure!.input)
    assert.ok(failure!.input.startsWith('42'), failure!.input)
  })
}

test('an async target that never settles is reported as a hang', async () => {
  const target: FuzzTarget = {
    name: 'never',
    codes: [],
    concurrency: 4,
    hangMs: 30,
    run: () => new Promise(() => undefined),
  }
  try {
    await runTarget(target, { seed: 1, count: 8 })
    assert.unreachable('no failure')
  } catch (err) {
    assert.instance(err, FuzzFailure)
    assert.match((err as Error).message, 'hang')
  }
})

test.run()
