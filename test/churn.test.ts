// Churn, small enough for CI: 60 memory-transport nodes, 20 % of them leave
// and 12 new ones join while 40 broadcasts go out one after another. Every
// broadcast reaches every node that was up (and linked) for its whole flight,
// exactly once; the link graph of the running nodes is never split. The full
// size (200 nodes, and 1,000 nodes for scale) is bench/churn.bench.ts.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { components, runChurn, type ChurnReport } from '../common/churn-sim.js'
import type { Node } from '../ts/index.js'
import { inbox, startNet } from '../common/net.js'

let report: ChurnReport | undefined

test('60 nodes, 12 leave and 12 join during 40 broadcasts: every broadcast reaches every node up for its flight', async () => {
  report = await runChurn({ n: 60, leaveFraction: 0.2, joins: 12, broadcasts: 40, seed: 6060, clock: 'manual' })
  const r = report
  console.log(
    `  churn: ${r.left} left, ${r.joined} joined; delivered ${r.delivered}/${r.expected} (ratio ${r.ratio.toFixed(4)}), ` +
      `${r.duplicateDeliveries} duplicate deliveries, ${r.redundantCopiesPerDelivery.toFixed(2)} redundant copies per delivery; ` +
      `graph checked ${r.graphChecks}×, split ${r.partitions}×; flights (clock time) median ${r.medianFlightMs.toFixed(0)} ms, max ${r.maxFlightMs.toFixed(0)} ms`,
  )
  assert.is(r.left, 12)
  assert.is(r.joined, 12)
  assert.ok(r.expected > 40 * 40, `expected pairs ${r.expected}`)
  assert.equal(r.misses, [], 'no broadcast missed a node that was up for its whole flight')
  assert.is(r.ratio, 1)
  assert.is(r.duplicateDeliveries, 0)
})

test('the overlay never partitioned: the link graph was checked after every join, leave and link-down', () => {
  assert.ok(report, 'the churn run finished')
  assert.ok(report!.graphChecks >= 24, `graph checks ${report!.graphChecks}`)
  assert.is(report!.partitions, 0)
  assert.is(report!.maxComponents, 1)
})

test('a node that lost every link rejoins through the users it knows, not only its bootstrap list', async () => {
  // A star around a (b, c, d linked to a; everyone content with one link), and x joining
  // through b alone. Then b leaves: x has no link and its only bootstrap address is gone,
  // but its LKA table lists a, c and d, online — and none of them is looking for links.
  // (Seen in the 200-node churn runs as a newcomer whose one neighbour left.)
  const net = await startNet({ n: 4, transport: 'memory', clock: 'manual', topology: 'star', options: (i) => ({ username: ['a', 'b', 'c', 'd'][i]!, links: { min: 1, max: 8 } }) })
  try {
    const [a, b] = net.nodes as [Node, Node]
    const x = await net.add({ username: 'x', links: { min: 1, max: 1 } }, [b])
    await net.until(() => x.users().length === 5, 5000, 'x learning everyone')
    assert.equal(x.links().map((l) => l.username), ['b'])
    await b.stop()
    await net.until(() => x.links().length > 0, 5000, () => `x relinking (links ${x.links().length}, knows ${x.users().join(',')})`)
    const atA = inbox(a.plugin(5))
    x.plugin(5)
    await net.until(() => a.users(5).includes('x'), 3000, 'plugin 5 announced')
    await x.plugin(5).broadcast(new Uint8Array([1]))
    await net.until(() => atA.length === 1, 3000, 'x broadcast reaching a')
  } finally {
    await net.stop()
  }
})

test('components() counts the pieces of a link graph (the partition measure can fail)', async () => {
  // Two separate networks: the measure must see two components.
  const a = await startNet({ n: 3, transport: 'memory', clock: 'manual', seed: 1, options: (i) => ({ username: `a${i}` }) })
  const b = await startNet({ n: 3, transport: 'memory', clock: 'manual', seed: 2, options: (i) => ({ username: `b${i}` }) })
  try {
    assert.is(components(a.nodes), 1)
    assert.is(components([...a.nodes, ...b.nodes]), 2)
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
})

test.run()
