// 'link-up' and 'link-down' describe what node.links() shows. A link that is
// replaced by another session with the same identity (the winning side of
// a cross-dial, or the user connecting again from elsewhere) changes its
// direction, address and age: it used to do so silently, so a listener that
// kept what 'link-up' said (the `p4net start` event lines) disagreed with
// links() (`p4net status`). Now the replaced link gets a 'link-down' and the
// kept one a 'link-up'. Memory network on a ManualClock.
import * as assert from 'uvu/assert'
import { createNode, generateIdentity, ManualClock, memoryTransport, MemoryNetwork, type Identity, type LinkInfo, type Node } from '../ts/index.js'
import { test } from './helpers/test.js'

const A = '10.0.0.1'
const B = '10.0.0.2'
const C = '10.0.0.3'

/** What the events say about a node's links: one entry per user, from its last 'link-up' until its 'link-down'. */
interface EventView {
  links: Map<string, LinkInfo>
  ups: number
  downs: number
  reasons: string[]
  /** Events that contradict the ones before them (checked by assertAgree, not thrown from a listener). */
  problems: string[]
}

function watch(node: Node): EventView {
  const v: EventView = { links: new Map(), ups: 0, downs: 0, reasons: [], problems: [] }
  node.on('link-up', (l: LinkInfo) => {
    v.ups++
    if (v.links.has(l.username)) v.problems.push(`a second link-up for ${l.username} without a link-down`)
    v.links.set(l.username, l)
  })
  node.on('link-down', (l: LinkInfo, reason?: Error | null) => {
    v.downs++
    if (reason) v.reasons.push(reason.message)
    const up = v.links.get(l.username)
    if (up === undefined || up.initiator !== l.initiator || up.since !== l.since) v.problems.push(`link-down for a link to ${l.username} that no link-up announced`)
    v.links.delete(l.username)
  })
  return v
}

/** The fields that tell one link from another, for comparing events with links(). */
const shape = (l: LinkInfo): string => `${l.username} ${l.host}:${l.port} ${l.initiator ? 'out' : 'in'} since ${l.since}`

function assertAgree(node: Node, v: EventView): void {
  assert.equal(v.problems, [], `${node.username}: events that contradict earlier ones`)
  const shown = node.links().map(shape).sort()
  const announced = [...v.links.values()].map(shape).sort()
  assert.equal(announced, shown, `${node.username}: the link events vs links()`)
  assert.is(v.ups - v.downs, node.links().length, `${node.username}: ${v.ups} link-up, ${v.downs} link-down`)
}

function manualNet(): { network: MemoryNetwork; clock: ManualClock } {
  let network!: MemoryNetwork
  const clock = new ManualClock({ wallAt: 0, idle: () => network.idle })
  network = new MemoryNetwork({ clock })
  return { network, clock }
}

/** Awaits `p` while moving the clock (a delayed link needs clock time to carry its bytes). */
async function onClock<T>(clock: ManualClock, p: Promise<T>, what: string): Promise<T> {
  let done = false
  const watched = p.finally(() => (done = true))
  await clock.until(() => done, 10_000, what)
  return watched
}

async function stopAll(clock: ManualClock, nodes: Node[]): Promise<void> {
  let stopped = false
  const all = Promise.all(nodes.map((n) => n.stop())).then(() => (stopped = true))
  await clock.until(() => stopped, 10_000, 'the nodes to stop')
  await all
}

/** Two identities, the first with the smaller public key (its dial wins a cross-dial). */
function orderedIdentities(): [Identity, Identity] {
  const x = generateIdentity()
  const y = generateIdentity()
  return Buffer.compare(x.publicKey, y.publicKey) < 0 ? [x, y] : [y, x]
}

for (const [name, leadMs] of [
  ['at the same moment', 0],
  ['with the larger key dialling 10 ms first', 10],
  ['with the smaller key dialling 10 ms first', -10],
] as const) {
  test(`a cross-dial ${name}: on both nodes the link events end up describing the link links() shows`, async () => {
    const { network, clock } = manualNet()
    // Every byte takes 20 ms each way, so both handshakes run in lock-step.
    network.setLink(A, B, { delayMs: 20 })
    const [smallId, largeId] = orderedIdentities()
    const make = (host: string, username: string, identity: Identity): Promise<Node> =>
      createNode({ username, identity, host, transport: memoryTransport(network, { host }), links: { min: 0, max: 4 }, clock })
    const small = await make(A, 'small', smallId)
    const large = await make(B, 'large', largeId)
    const atSmall = watch(small)
    const atLarge = watch(large)
    await small.start()
    await large.start()
    try {
      const dialLarge = (): Promise<unknown> => large.connect(A, small.address.port)
      const dialSmall = (): Promise<unknown> => small.connect(B, large.address.port)
      const first = leadMs >= 0 ? dialLarge() : dialSmall()
      await clock.advance(Math.abs(leadMs))
      const second = leadMs >= 0 ? dialSmall() : dialLarge()
      await onClock(clock, Promise.all([first, second]), 'both dials')
      // Past the close deadline of the losing session: one link each, the one the smaller key dialled.
      await clock.advance(3000)
      assert.equal(small.links().map((l) => [l.username, l.initiator]), [['large', true]])
      assert.equal(large.links().map((l) => [l.username, l.initiator]), [['small', false]])
      assertAgree(small, atSmall)
      assertAgree(large, atLarge)
      for (const r of [...atSmall.reasons, ...atLarge.reasons]) assert.match(r, /^duplicate link: kept the one (this node|small) dialled$/)
    } finally {
      await stopAll(clock, [small, large])
    }
  })
}

test("a user connecting again from another address: the old link's link-down, the new one's link-up, both agreeing with links()", async () => {
  const { network, clock } = manualNet()
  const bobId = generateIdentity()
  const a = await createNode({ username: 'a', host: A, transport: memoryTransport(network, { host: A }), links: { min: 0, max: 4 }, clock })
  // The first bob is dialled by a (a's link is 'out'); the second dials a from elsewhere ('in').
  const bob1 = await createNode({ username: 'bob', identity: bobId, host: B, transport: memoryTransport(network, { host: B }), links: { min: 0, max: 4 }, clock })
  const bob2 = await createNode({ username: 'bob', identity: bobId, host: C, transport: memoryTransport(network, { host: C }), links: { min: 0, max: 4 }, clock })
  const atA = watch(a)
  await a.start()
  await bob1.start()
  await bob2.start()
  try {
    await onClock(clock, a.connect(B, bob1.address.port), 'a dialling the first bob')
    assert.equal(a.links().map(shape), [...atA.links.values()].map(shape))
    await clock.advance(1000)
    await onClock(clock, bob2.connect(A, a.address.port), 'the second bob dialling a')
    // The first bob is gone (two live nodes with one identity would keep taking the link from each other).
    await onClock(clock, bob1.stop(), 'the first bob stopped')
    await clock.advance(3000)
    assert.equal(
      a.links().map((l) => [l.username, l.host, l.initiator]),
      [['bob', C, false]],
    )
    assertAgree(a, atA)
    assert.equal(atA.reasons, ['replaced by a newer session of this identity'])
  } finally {
    await stopAll(clock, [a, bob1, bob2])
  }
})

test.run()
