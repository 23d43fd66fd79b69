// Reachability behind real NAT (issue 18): the NAT lab of helpers/nat-net.ts
// (two public hosts; three routers doing nftables masquerade, the third with
// `masquerade random`, one host behind each), one p4net node per host as a
// child process (helpers/ns-node.ts). The public nodes must find themselves
// 'public', the NATed ones 'private', each NATed node must learn its
// router's outside address from its peers, and broadcast must still reach
// every node through the public ones. Needs root and nftables (.ci/run
// installs it); elsewhere it prints why and passes without running. The
// namespaces are removed whatever happens.
import { execFileSync } from 'node:child_process'
import * as assert from 'uvu/assert'
import { test } from '../helpers/test.js'
import { NatLab, natUnavailable, removeStale } from './helpers/nat-net.js'
import { NsNode, waitFor, type NodeState } from './helpers/ns-node.js'

const PORT = 4000

const why = natUnavailable()
let lab: NatLab | null = null
let nodes: NsNode[] = []
let publics: NsNode[] = []
let natted: NsNode[] = []
const skip = (): boolean => {
  if (why !== null) console.log(`  NAT test skipped: ${why}`)
  return why !== null
}
const states = (): Promise<NodeState[]> => Promise.all(nodes.map((n) => n.state()))
const describe = async (): Promise<string> =>
  (await states()).map((s, i) => `${nodes[i]!.name}: ${s.reachability.status} ${JSON.stringify(s.reachability.answers)} ${JSON.stringify(s.stats)} links ${s.links.join(',')} users ${s.users.length}`).join('; ')

test.before(async () => {
  if (why !== null) return
  removeStale()
  lab = new NatLab()
  const [pub1, pub2] = lab.publicHosts as [NonNullable<NatLab['publicHosts'][0]>, NonNullable<NatLab['publicHosts'][0]>]
  const boot = [`${pub1.addr}:${PORT}`, `${pub2.addr}:${PORT}`]
  publics = [
    new NsNode(pub1, { username: 'pub1', host: pub1.addr, port: PORT, links: { min: 2, max: 6 } }),
    // pub2 listens on every address and is told none to advertise: it learns its own from its peers.
    new NsNode(pub2, { username: 'pub2', host: '0.0.0.0', port: PORT, bootstrap: [boot[0]!], links: { min: 2, max: 6 } }),
  ]
  natted = lab.nats.map((n) => new NsNode(n.hosts[0]!, { username: n.hosts[0]!.name, host: n.hosts[0]!.addr, port: PORT, bootstrap: boot, links: { min: 2, max: 6 } }))
  nodes = [...publics, ...natted]
  await Promise.all(nodes.map((n) => n.ready))
})

test.after(async () => {
  await Promise.all(nodes.map((n) => n.stop()))
  if (!lab) return
  lab.teardown()
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  assert.not.match(left, lab.prefix, 'every namespace was removed')
})

test('public hosts conclude public, hosts behind each NAT (masquerade, masquerade random) private, and learn their router address', async () => {
  if (skip()) return
  // Usually within a few seconds; a check whose answers disagree (a dial-back
  // timed out on a loaded machine) is repeated 30 s later.
  await waitFor(async () => (await states()).every((s) => s.reachability.status !== 'unknown'), 45_000, describe)
  const ss = await states()
  for (const [i, n] of publics.entries()) {
    const r = ss[i]!.reachability
    assert.is(r.status, 'public', n.name)
    assert.equal(r.address, { host: lab!.publicHosts[i]!.addr, port: PORT }, `${n.name} reached where it listens`)
    assert.equal(ss[i]!.advertised, { host: lab!.publicHosts[i]!.addr, port: PORT }, `${n.name} advertises its namespace address`)
  }
  for (const [i, n] of natted.entries()) {
    const nat = lab!.nats[i]!
    const r = ss[publics.length + i]!.reachability
    assert.is(r.status, 'private', `${n.name} behind ${nat.kind}`)
    assert.is(r.address, undefined)
    assert.is(r.observed[0]?.host, nat.router.addr, `${n.name} is seen at its router's outside address`)
    assert.ok(r.answers.unreachable >= 2, `${n.name}: ${JSON.stringify(r.answers)}`)
  }
  // Nobody dialled a NATed node back successfully, and every node served dial-backs only within its limits.
  for (const [i, s] of ss.entries()) {
    if (i >= publics.length) assert.is(s.stats.probesAnswered, 0, `${nodes[i]!.name} was never reached`)
    assert.is(s.stats.dialBacksRefused, 0, `${nodes[i]!.name}: honest requests are never refused`)
  }
  const first = (n: NsNode): number => n.reach[0]?.ms ?? NaN
  console.log(`  verdict after (ms from node start): ${nodes.map((n) => `${n.name} ${first(n)}`).join(', ')}`)
})

test('the NATed nodes still exchange broadcasts through the public nodes', async () => {
  if (skip()) return
  const names = nodes.map((n) => n.name)
  await waitFor(async () => (await states()).every((s) => names.every((u) => s.users.includes(u))), 10_000, describe)
  for (const n of natted) assert.ok((await n.call('broadcast', { text: `from ${n.name}` })).ok)
  await waitFor(() => nodes.every((n) => natted.every((m) => m === n || n.messages.some((x) => x.broadcast && x.text === `from ${m.name}`))), 10_000, () => nodes.map((n) => `${n.name}: ${n.messages.map((m) => m.text).join('|')}`).join('; '))
  // And unicast from behind NAT to a public node.
  assert.ok((await natted[0]!.call('send', { to: 'pub1', text: 'hello public' })).ok)
  await waitFor(() => publics[0]!.messages.some((m) => !m.broadcast && m.text === 'hello public'), 5000, () => 'the unicast')
})

test.run()
