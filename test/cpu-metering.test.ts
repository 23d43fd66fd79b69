// Expensive work is metered per peer by the CPU time it takes: a peer whose
// valid traffic costs more than quotas.cpuMsPerSecond is slowed down (its
// session is not read until the budget refills), not cut off; a peer sending
// end-to-end boxes that do not open is cut off. Checked by counts: the CPU
// time one peer got over a run is at most its burst plus its rate times the
// run's length, and the honest nodes keep talking throughout.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { generateIdentity, type ManualClock, type Node } from '../ts/index.js'
import { Flag, MsgType } from '../ts/core/protocol.js'
import { CHAT, honestNet, rogueTransport, signedBroadcast, signedHello, whileHonestTalk } from './helpers/attack.js'
import { inbox } from '../common/net.js'
import { Rogue } from './helpers/rogue.js'

const utf8 = new TextEncoder()

/**
 * Waits until `cond()` holds, at most `ms` of real time, moving the manual
 * clock along with real time: the CPU budget refills by real time, while
 * relay budgets, pings and the honest talkers run on the manual clock, so
 * neither may race ahead of the other.
 */
async function untilInRealTime(clock: ManualClock, cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const start = performance.now()
  let last = start
  while (!cond()) {
    const now = performance.now()
    if (now - start > ms) throw new Error(`${what()} did not happen within ${ms} ms`)
    await clock.advance(now - last)
    last = now
  }
}

test('valid broadcasts at full speed: the sender is slowed to its CPU budget, never cut off, and everything it sent arrives', async () => {
  const cpuMsPerSecond = 100
  const cpuBurstMs = 20
  const net = await honestNet('memory', { quotas: { cpuMsPerSecond, cpuBurstMs } })
  try {
    const [a, b] = net.nodes as [Node, Node]
    const atB = inbox(b.plugin(CHAT))
    const heavyId = generateIdentity()
    const rogue = await Rogue.dial(a, { identity: heavyId, username: 'heavy', transport: rogueTransport(net) })
    rogue.sendSigned(signedHello(heavyId, 'heavy', net.clock!.wall()))
    await net.until(() => b.users().includes('heavy'), 3000, 'heavy known at b')
    const n = 2000
    const frames = Array.from({ length: n }, (_, i) => signedBroadcast(heavyId, utf8.encode(`h${i}`)))
    // The budget refills by real time (like the cost it meters), also on the
    // nodes' manual clock, which follows real time here: the bound is in real time.
    const t0 = performance.now()
    await whileHonestTalk(net, async () => {
      for (const f of frames) rogue.sendSigned(f)
      await untilInRealTime(net.clock!, () => atB.filter((m) => m.from === 'heavy').length === n, 60_000, () => `heavy's ${n} broadcasts at b (${atB.filter((m) => m.from === 'heavy').length})`)
    })
    const seconds = (performance.now() - t0) / 1000
    const link = a.links().find((l) => l.username === 'heavy')!
    assert.ok(link, 'heavy is still linked')
    assert.is(a.stats().cutOff, 0, 'nobody was cut off')
    assert.ok(a.stats().throttled > 0, 'heavy was slowed down')
    // What heavy made a spend: at most the burst, plus the rate over the run, plus one
    // operation begun before the budget ran out.
    const bound = cpuBurstMs + cpuMsPerSecond * seconds + 10
    assert.ok(link.cpuMs <= bound, `a spent ${link.cpuMs.toFixed(1)} ms on heavy in ${seconds.toFixed(2)} s (bound ${bound.toFixed(1)})`)
    assert.ok(link.cpuMs > 0)
  } finally {
    await net.stop()
  }
})

test('end-to-end boxes that do not open: the sender is cut off ("decrypt-failures") after decryptFailuresPerMinute, no more are opened', async () => {
  const decryptFailuresPerMinute = 20
  const net = await honestNet('memory', { quotas: { decryptFailuresPerMinute } })
  try {
    const [a] = net.nodes as [Node]
    const id = generateIdentity()
    const rogue = await Rogue.dial(a, { identity: id, username: 'garbage', transport: rogueTransport(net) })
    rogue.sendSigned(signedHello(id, 'garbage', net.clock!.wall()))
    await net.until(() => a.users().includes('garbage'), 3000, 'garbage known at a')
    const before = a.stats().decryptFailed
    await whileHonestTalk(net, async () => {
      // Tiny garbage boxes: each would cost an X25519 to try.
      for (let i = 0; i < 5000; i++) rogue.send({ type: MsgType.DATA, flags: Flag.ENCRYPTED, hops: 0, pluginId: CHAT, idHi: 0, idLo: i, payload: randomBytes(48) })
      await net.until(() => (a.stats().cutOffReasons['decrypt-failures'] ?? 0) === 1, 5000, 'the garbage sender cut off')
      await rogue.session.done
    })
    const opened = a.stats().decryptFailed - before
    assert.ok(opened <= decryptFailuresPerMinute + 1, `${opened} boxes tried before the cut-off`)
  } finally {
    await net.stop()
  }
})

test.run()
