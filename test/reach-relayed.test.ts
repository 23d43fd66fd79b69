// REACH OBSERVED and DIAL speak of the connection a session runs on, so
// only links send them (reach.ts). On a relayed session the far end of the
// connection is the relay: a peer's report there is its own word about
// nothing it saw, and its "IP address" (the relay's) no peer's own. Such a
// report is not counted towards the observed or advertised host, and such a
// DIAL is refused (it could only aim this node at the relay's address).
import * as assert from 'uvu/assert'
import type { Node } from '../ts/index.js'
import { MsgType } from '../ts/core/protocol.js'
import type { Peer } from '../ts/overlay/peer.js'
import { encodeReach, ReachKind } from '../ts/overlay/reach-codec.js'
import { APP, PORT, world } from './helpers/relay-world.js'
import { test } from './helpers/test.js'

const R = '10.0.0.1'
const A = '10.0.0.2'
const B = '10.0.0.3'

function peerOf(node: Node, username: string): Peer {
  const overlay = (node as unknown as { overlay: { table: { peerOf(u: string): Peer | undefined } } }).overlay
  const p = overlay.table.peerOf(username)
  if (p === undefined) throw new Error(`${node.username} holds no session with ${username}`)
  return p
}

test('REACH OBSERVED and DIAL on a relayed session: the observation is not counted, the dial-back refused', async () => {
  const w = await world()
  try {
    const r = await w.add('r', R, { relay: {} })
    const b = await w.add('b', B, { relay: { client: 'always' } }, [r], true)
    const a = await w.add('a', A, {}, [r])
    await w.until(() => b.stats().relaysHeld === 1, 'b to hold a reservation')
    await w.until(() => a.users().includes('b') && b.users().includes('a'), 'a and b to know each other')
    await w.until(() => b.reachability.observed.length > 0, 'b to hear where r sees it')
    await w.clock.settle()
    await w.wait(a.plugin(APP).send('b', Buffer.from('x')), 'a send (a relayed session)')
    const pa = peerOf(a, 'b')
    assert.ok(a.links({ direct: true }).find((l) => l.username === 'b')?.via !== undefined, 'relayed')
    const observedBefore = JSON.stringify(b.reachability.observed)
    const refused = b.stats().dialBacksRefused
    const dialBacks = b.stats().dialBacks
    // a tells b it sees it at an address of a's choosing, then asks b to dial the relay's host at another port.
    pa.trySend(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.OBSERVED, host: '192.0.2.77', port: PORT }))
    pa.trySend(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.DIAL, id: 5, host: R, port: 22 }))
    await w.until(() => b.stats().dialBacksRefused === refused + 1, () => `the DIAL refused (dialBacks ${b.stats().dialBacks - dialBacks}, refused ${b.stats().dialBacksRefused - refused})`)
    assert.is(b.stats().dialBacks, dialBacks, 'no dial-back made')
    assert.is(JSON.stringify(b.reachability.observed), observedBefore, 'the observation not counted')
    assert.not.ok(pa.session.closed, 'a refusal, not a protocol error')
  } finally {
    await w.stop()
  }
})

test.run()
