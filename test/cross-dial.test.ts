// Two nodes that dial each other at the same moment each finish the session
// they dialled first and start using it; the duplicate is resolved only when
// the other handshake completes. Both ends must keep the same session, and
// what either sent on the losing one before it knew must still arrive.
import * as assert from 'uvu/assert'
import { createNode, generateIdentity, ManualClock, memoryTransport, MemoryNetwork, type Identity, type Node } from '../ts/index.js'
import { inbox } from '../common/net.js'
import { test } from './helpers/test.js'

const CHAT = 1001
const utf8 = new TextEncoder()
const text = new TextDecoder()
const A = '10.0.0.1'
const B = '10.0.0.2'

/** Two identities, the first with the smaller public key (its dial wins a cross-dial). */
function orderedIdentities(): [Identity, Identity] {
  const x = generateIdentity()
  const y = generateIdentity()
  return Buffer.compare(x.publicKey, y.publicKey) < 0 ? [x, y] : [y, x]
}

async function pair(): Promise<{ small: Node; large: Node; clock: ManualClock; stop: () => Promise<void> }> {
  let network!: MemoryNetwork
  const clock = new ManualClock({ wallAt: 0, idle: () => network.idle })
  network = new MemoryNetwork({ clock })
  // Every byte takes 20 ms each way, so both handshakes run in lock-step.
  network.setLink(A, B, { delayMs: 20 })
  const [smallId, largeId] = orderedIdentities()
  const make = (host: string, username: string, identity: Identity): Promise<Node> =>
    createNode({ username, identity, host, transport: memoryTransport(network, { host }), links: { min: 0, max: 4 }, clock })
  const small = await make(A, 'small', smallId)
  const large = await make(B, 'large', largeId)
  await small.start()
  await large.start()
  return {
    small,
    large,
    clock,
    // Closing runs over the delayed link, so the clock moves while the nodes stop.
    stop: async () => {
      let stopped = false
      const both = Promise.all([small.stop(), large.stop()]).then(() => (stopped = true))
      await clock.until(() => stopped, 10_000, 'both nodes stopped')
      await both
    },
  }
}

for (const [name, leadMs] of [
  ['at the same moment', 0],
  ['with the larger key dialling 10 ms first', 10],
  ['with the smaller key dialling 10 ms first', -10],
] as const) {
  test(`a cross-dial ${name}: both ends keep the session the smaller key dialled, one link each, and what was sent on the losing one arrives`, async () => {
    const { small, large, clock, stop } = await pair()
    try {
      const atSmall = inbox(small.plugin(CHAT))
      const atLarge = inbox(large.plugin(CHAT))
      // Each side sends as soon as its own connect() resolves, on whichever session it holds then.
      const dialLarge = (): Promise<void> => large.connect(A, small.address.port).then(() => large.plugin(CHAT).broadcast(utf8.encode('from large')))
      const dialSmall = (): Promise<void> => small.connect(B, large.address.port).then(() => small.plugin(CHAT).broadcast(utf8.encode('from small')))
      const first = leadMs >= 0 ? dialLarge() : dialSmall()
      await clock.advance(Math.abs(leadMs))
      const second = leadMs >= 0 ? dialSmall() : dialLarge()
      await clock.until(() => atSmall.length >= 1 && atLarge.length >= 1, 10_000, () => `both broadcasts (small got ${atSmall.length}, large got ${atLarge.length})`)
      await Promise.all([first, second])
      // Past the close deadline of the losing session, the kept one still stands.
      await clock.advance(3000)
      const ls = small.links()
      const ll = large.links()
      assert.equal(ls.map((l) => [l.username, l.initiator]), [['large', true]])
      assert.equal(ll.map((l) => [l.username, l.initiator]), [['small', false]])
      assert.equal(atSmall.map((m) => `${m.from}:${text.decode(m.data)}`), ['large:from large'])
      assert.equal(atLarge.map((m) => `${m.from}:${text.decode(m.data)}`), ['small:from small'])
      assert.is(small.stats().badFrame, 0)
      assert.is(large.stats().badFrame, 0)
    } finally {
      await stop()
    }
  })
}

test.run()
