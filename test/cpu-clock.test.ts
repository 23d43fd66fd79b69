// The CPU budget (quotas.cpuMsPerSecond) is metered in real time: the cost of
// a frame is the real time its work took, and the budget refills, and a
// paused peer resumes, by real time too. On a ManualClock that stands still
// an honest sender whose traffic costs more than the burst used to be paused
// until the manual clock moved (forever, in a test that only waits): the
// refill was on the node's clock while the cost was in real time.
import * as assert from 'uvu/assert'
import { createNode, ManualClock, memoryTransport, MemoryNetwork, type Node } from '../ts/index.js'
import { inbox, waitFor } from '../common/net.js'
import { test } from './helpers/test.js'

const CHAT = 7

test('default quotas on a manual clock that stands still: signed broadcasts costing well over the CPU burst all arrive, and nobody is cut off', async () => {
  let network!: MemoryNetwork
  const clock = new ManualClock({ idle: () => network.idle })
  network = new MemoryNetwork({ clock })
  const make = (host: string, username: string): Promise<Node> => createNode({ username, host, transport: memoryTransport(network, { host }), links: { min: 0, max: 4 }, clock })
  const a = await make('10.0.0.1', 'a')
  const b = await make('10.0.0.2', 'b')
  await a.start()
  await b.start()
  try {
    a.plugin(CHAT)
    const got = inbox(b.plugin(CHAT))
    await a.connect('10.0.0.2', b.address.port)
    await waitFor(() => b.links().some((l) => l.username === 'a'), 10_000, 'a linked at b')
    // Each broadcast costs b a signature check charged to a: 3000 of them are
    // far more than the default 50 ms burst on any machine.
    const n = 3000
    const body = new Uint8Array(16)
    for (let i = 0; i < n; i++) await a.plugin(CHAT).broadcast(body)
    await waitFor(() => got.length === n, 30_000, () => `${n} broadcasts at b (${got.length}; cpu ${b.links()[0]?.cpuMs.toFixed(1)} ms, throttled ${b.stats().throttled})`)
    const link = b.links().find((l) => l.username === 'a')
    assert.ok(link, 'a is still linked at b')
    assert.ok(link.cpuMs > 50, `b spent ${link.cpuMs.toFixed(1)} ms on a: more than the burst`)
    assert.is(a.stats().cutOff + b.stats().cutOff, 0, 'nobody was cut off')
  } finally {
    let stopped = false
    const all = Promise.all([a.stop(), b.stop()]).then(() => (stopped = true))
    await clock.until(() => stopped, 10_000, 'the nodes to stop')
    await all
  }
})

test.run()
