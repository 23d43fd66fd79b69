// The CPU budget (quotas.cpuMsPerSecond) is metered in real time: the cost of
// a frame is the real time its work took, and the budget refills, and a
// paused peer resumes, by real time too. On a ManualClock that stands still
// an honest sender whose traffic costs more than the burst used to be paused
// until the manual clock moved (forever, in a test that only waits): the
// refill was on the node's clock while the cost was in real time.
import * as assert from 'uvu/assert'
import { inbox, waitFor } from '../common/net.js'
import { aliceAndBob } from './helpers/alice-bob.js'
import { test } from './helpers/test.js'

const CHAT = 7

test('default quotas on a manual clock that stands still: signed broadcasts costing well over the CPU burst all arrive, and nobody is cut off', async () => {
  // Linked on the manual clock; from then on it stands still (the waits below are in real time).
  const p = await aliceAndBob({ plugin: CHAT })
  try {
    const got = inbox(p.bob.plugin(CHAT))
    // Each broadcast costs bob a signature check charged to alice: 3000 of
    // them are far more than the default 50 ms burst on any machine.
    const n = 3000
    const body = new Uint8Array(16)
    for (let i = 0; i < n; i++) await p.alice.plugin(CHAT).broadcast(body)
    await waitFor(() => got.length === n, 30_000, () => `${n} broadcasts at bob (${got.length}; cpu ${p.bob.links()[0]?.cpuMs.toFixed(1)} ms, throttled ${p.bob.stats().throttled})`)
    const link = p.bob.links().find((l) => l.username === 'alice')
    assert.ok(link, 'alice is still linked at bob')
    assert.ok(link.cpuMs > 50, `bob spent ${link.cpuMs.toFixed(1)} ms on alice: more than the burst`)
    assert.is(p.alice.stats().cutOff + p.bob.stats().cutOff, 0, 'nobody was cut off')
  } finally {
    await p.stop()
  }
})

test.run()
