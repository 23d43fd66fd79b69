// relay.serve 'auto' (the default): a node relays for others only once it
// found itself reachable (reachability 'public'). While its verdict is
// unknown, or private, it refuses reservations (RELAY_OFF, counted) and so
// no HELLO lists it as a relay; once public it grants them. Memory network
// on a ManualClock (helpers/reach-world.ts).
import * as assert from 'uvu/assert'
import type { Node } from '../ts/index.js'
import { MsgType } from '../ts/core/protocol.js'
import { DialStatus } from '../ts/overlay/reach-codec.js'
import { decodeReason, RelayOp } from '../ts/overlay/relay-codec.js'
import { lyingPeer, NAT_INSIDE, NAT_OUTSIDE, world } from './helpers/reach-world.js'
import { test } from './helpers/test.js'

const R = '10.0.0.1'
const A = '10.0.0.2'
const C = '10.0.0.3'
const B = '10.0.1.2'

const listsRelays = (n: Node, user: string): boolean => (n as unknown as { overlay: { relays: { listsRelays(u: string): boolean } } }).overlay.relays.listsRelays(user)

test("relay.serve 'auto': refused (RELAY_OFF) while the verdict is unknown and when private, not listed as b's relay; granted once public", async () => {
  const w = world()
  try {
    const r = await w.node('r', R, { links: { min: 1, max: 8 } })
    // b cannot be dialled and wants relays; its one link is r, which has no verdict yet (one peer is no quorum).
    const b = await w.node('b', B, { links: { min: 1, max: 8 }, relay: { client: 'always' }, bootstrap: [r.address] })
    w.network.setDialable(B, b.address.port, false)
    await w.clock.until(() => (r.stats().relayReasons.RELAY_OFF ?? 0) >= 1, 10_000, 'r to refuse b')
    assert.is(r.reachability.status, 'unknown')
    assert.is(r.stats().relayReservationsGranted, 0)
    assert.is(b.stats().relaysHeld, 0)
    await w.clock.until(() => r.users().includes('b'), 5000, "b's HELLO at r")
    assert.not.ok(listsRelays(r, 'b'), "b's HELLO lists no relay")

    // Two more peers dial r back: public. b asks again (a relay that refused
    // with RELAY_OFF is asked again after 10 s, not the 60 s of other refusals) and is granted.
    const a = await w.node('a', A, { links: { min: 1, max: 8 }, bootstrap: [r.address] })
    await w.node('c', C, { links: { min: 1, max: 8 }, bootstrap: [r.address] })
    await w.clock.until(() => r.reachability.status === 'public', 60_000, 'r public')
    await w.clock.until(() => b.stats().relaysHeld === 1, 12_000, 'b to hold a reservation with r within 12 s of r turning public')
    assert.is(r.stats().relayReservationsGranted, 1)
    await w.clock.until(() => listsRelays(a, 'b'), 10_000, "b's HELLO listing r, at a")

    // p is behind NAT: its peers cannot dial it back, it finds itself private, and refuses a reservation asked of it.
    const p = await w.node('p', NAT_INSIDE, { from: NAT_OUTSIDE, links: { min: 2, max: 8 }, bootstrap: [a.address, r.address] })
    w.network.setDialable(NAT_INSIDE, p.address.port, false)
    await w.clock.until(() => p.reachability.status === 'private', 60_000, 'p private')
    const asker = await lyingPeer(w, '10.6.6.6', DialStatus.UNREACHABLE)
    await p.connect('10.6.6.6', asker.port)
    await w.clock.until(() => asker.session() !== null, 5000, 'the link to the asker')
    asker.session()!.send(MsgType.RELAY, 0, 0, 0, 0, RelayOp.RESERVE, new Uint8Array(0))
    await w.clock.until(() => asker.relayed.length > 0, 5000, "p's answer")
    assert.is(asker.relayed[0]!.op, RelayOp.REFUSED)
    assert.is(decodeReason(asker.relayed[0]!.payload).code, 'RELAY_OFF')
    assert.is(p.stats().relayReservationsGranted, 0)
    assert.ok(!asker.session()!.closed, 'a refusal, not a protocol error')
  } finally {
    await w.stop()
  }
})

test("relay.serve true relays while the verdict is still unknown", async () => {
  const w = world()
  try {
    const r = await w.node('r', R, { links: { min: 1, max: 8 }, relay: { serve: true } })
    const b = await w.node('b', B, { links: { min: 1, max: 8 }, relay: { client: 'always' }, bootstrap: [r.address] })
    w.network.setDialable(B, b.address.port, false)
    await w.clock.until(() => b.stats().relaysHeld === 1, 10_000, 'b to hold a reservation with r')
    assert.is(r.reachability.status, 'unknown')
  } finally {
    await w.stop()
  }
})

test.run()
