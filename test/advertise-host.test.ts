// A node bound to a wildcard address (0.0.0.0) with no advertiseHost learns
// where others reach it: the address its peers dialled it back at
// (reachability 'public'), before that a host its peers on two IP addresses
// agree they see it at; never one peer's claim. Its HELLO (as other nodes'
// tables hold it) and node.advertisedAddress say it; a given advertiseHost
// always wins. Memory network on a ManualClock (helpers/reach-world.ts): a
// node listening on 0.0.0.0 takes dials to any host on its port.
import * as assert from 'uvu/assert'
import { DialStatus, ReachKind } from '../ts/overlay/reach-codec.js'
import { lkaOf, lyingPeer, world } from './helpers/reach-world.js'
import { test } from './helpers/test.js'

const A = '10.0.0.1'
const C = '10.0.0.3'
/** Where the wildcard node's connections come from: its outside address. */
const N = '10.0.0.5'
const LIE = '198.51.100.66'

test('bound to 0.0.0.0: one peer’s claim changes nothing; two peers on two IP addresses agree; the HELLO others hold names it', async () => {
  const w = world()
  try {
    const a = await w.node('a', A, { links: { min: 1, max: 8 } })
    const c = await w.node('c', C, { links: { min: 1, max: 8 }, bootstrap: [a.address] })
    // reach.peers 0: no dial-back check, so only what the peers report counts here.
    const n = await w.node('n', '0.0.0.0', { from: N, links: { min: 1, max: 8 }, reach: { peers: 0 } })
    assert.is(n.advertisedAddress.host, '127.0.0.1', 'the default before any peer reported')
    const liar = await lyingPeer(w, '10.6.6.6', DialStatus.REACHABLE, LIE)
    await n.connect('10.6.6.6', liar.port)
    await w.clock.until(() => n.reachability.observed.some((o) => o.host === LIE), 5000, "the liar's report")
    assert.is(n.advertisedAddress.host, '127.0.0.1', "one peer's claim")
    await n.connect(A, a.address.port)
    await w.clock.until(() => n.reachability.observed.some((o) => o.host === N), 5000, "a's report")
    assert.is(n.advertisedAddress.host, '127.0.0.1', 'two peers, two different claims')
    await w.clock.until(() => lkaOf(a).get('n') !== undefined, 5000, "n's HELLO at a")
    const firstSeq = lkaOf(a).get('n')!.seq // the entry is updated in place
    assert.is(lkaOf(a).get('n')!.host, '127.0.0.1')
    await n.connect(C, c.address.port)
    await w.clock.until(() => n.advertisedAddress.host === N, 5000, 'two peers on two IP addresses to agree')
    assert.equal(n.advertisedAddress, { host: N, port: n.address.port })
    await w.clock.until(() => lkaOf(a).get('n')?.host === N, 5000, "n's new HELLO at a")
    assert.ok(lkaOf(a).get('n')!.seq > firstSeq, 'a newer HELLO')
    assert.is(lkaOf(c).get('n')?.host, N)
    assert.is(lkaOf(a).get('n')?.port, n.address.port)
    assert.is(n.reachability.status, 'unknown', 'no check ran')
  } finally {
    await w.stop()
  }
})

test('bound to 0.0.0.0: the address the dial-back check verified is advertised; a lying peer cannot move it; a given advertiseHost always wins', async () => {
  const w = world()
  try {
    const a = await w.node('a', A, { links: { min: 1, max: 8 } })
    const c = await w.node('c', C, { links: { min: 1, max: 8 }, bootstrap: [a.address] })
    const n = await w.node('n', '0.0.0.0', { from: N, links: { min: 1, max: 8 } })
    // The liar says it sees n at LIE and that every dial-back reached it.
    const liar = await lyingPeer(w, '10.6.6.6', DialStatus.REACHABLE, LIE)
    await n.connect('10.6.6.6', liar.port)
    await n.connect(A, a.address.port)
    await n.connect(C, c.address.port)
    await w.clock.until(() => n.reachability.status === 'public', 60_000, () => `n public (${JSON.stringify(n.reachability)})`)
    assert.equal(n.reachability.address, { host: N, port: n.address.port })
    assert.equal(n.advertisedAddress, { host: N, port: n.address.port })
    assert.ok(liar.frames.some((m) => m.kind === ReachKind.DIAL), 'the liar was asked to dial back')
    await w.clock.until(() => lkaOf(a).get('n')?.host === N && lkaOf(c).get('n')?.host === N, 5000, "n's HELLO naming its address")
    // A later check, with the liar still there, changes nothing.
    await w.clock.advance(11 * 60_000)
    assert.ok(n.stats().reachChecks >= 2)
    assert.is(n.advertisedAddress.host, N)

    // advertiseHost given: it is what the HELLO says, whatever the peers find.
    const e = await w.node('e', '0.0.0.0', { from: '10.0.0.7', advertiseHost: '192.0.2.9', links: { min: 2, max: 8 }, bootstrap: [a.address, c.address] })
    await w.clock.until(() => e.reachability.status === 'public', 60_000, 'e public')
    assert.is(e.reachability.address?.host, '10.0.0.7')
    assert.is(e.advertisedAddress.host, '192.0.2.9')
    await w.clock.until(() => lkaOf(a).get('e') !== undefined, 5000, "e's HELLO at a")
    assert.is(lkaOf(a).get('e')?.host, '192.0.2.9')
  } finally {
    await w.stop()
  }
})

test('a report narrower than where its peer is (a global peer saying "you are at 127.0.0.1") is dropped; one of the same scope is kept', async () => {
  const w = world()
  try {
    const n = await w.node('n', '198.51.100.10', { links: { min: 1, max: 8 }, reach: { peers: 0 } })
    const narrow = await lyingPeer(w, '203.0.113.50', DialStatus.REACHABLE, '127.0.0.1')
    await n.connect('203.0.113.50', narrow.port)
    // Reports are taken in the order their links came up: the second one's arriving means the first one's was handled.
    const honest = await w.node('h', '203.0.113.51', { links: { min: 1, max: 8 } })
    await n.connect('203.0.113.51', honest.address.port)
    await w.clock.until(() => n.reachability.observed.some((o) => o.host === '198.51.100.10'), 5000, 'the same-scope report')
    assert.equal(n.reachability.observed.map((o) => o.host), ['198.51.100.10'])
  } finally {
    await w.stop()
  }
})

test.run()
