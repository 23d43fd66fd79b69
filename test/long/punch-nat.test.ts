// Hole punching behind real NAT (issue 18.3 and 18.5): the NAT lab of
// helpers/nat-net.ts, one node per host as a child process. A unicast from
// the host behind r1 (masquerade) to the one behind r2 (masquerade) goes
// through a relay first; the punch then moves the session to a direct TCP
// connection (a simultaneous open through both port-preserving NATs). To
// the host behind r3 (`masquerade random`: its connection leaves from
// another port than the one announced) the punch fails cleanly and the relay
// keeps carrying. Needs root, nftables and the native addon (the punch binds
// the listening port with SO_REUSEPORT); elsewhere it prints why and passes.
import { execFileSync } from 'node:child_process'
import * as assert from 'uvu/assert'
import { portSharing } from '../../ts/native/index.js'
import { test } from '../helpers/test.js'
import { NatLab, natUnavailable, removeStale } from './helpers/nat-net.js'
import { NsNode, waitFor, type NodeState } from './helpers/ns-node.js'

const PORT = 4000

const sharing = portSharing()
const why = natUnavailable() ?? (typeof sharing === 'string' ? sharing : null)
let lab: NatLab | null = null
let nodes: NsNode[] = []
const skip = (): boolean => {
  if (why !== null) console.log(`  NAT punch test skipped: ${why}`)
  return why !== null
}
const states = (): Promise<NodeState[]> => Promise.all(nodes.map((n) => n.state()))
const describe = async (): Promise<string> => (await states()).map((s, i) => `${nodes[i]!.name}: ${s.reachability.status} direct ${s.direct.join(',')} ${JSON.stringify(s.stats)}`).join('; ')
const byName = (name: string): NsNode => nodes.find((n) => n.name === name)!

test.before(async () => {
  if (why !== null) return
  removeStale()
  lab = new NatLab()
  const [pub1, pub2] = lab.publicHosts as [NonNullable<NatLab['publicHosts'][0]>, NonNullable<NatLab['publicHosts'][0]>]
  const boot = [`${pub1.addr}:${PORT}`, `${pub2.addr}:${PORT}`]
  nodes = [
    new NsNode(pub1, { username: 'pub1', host: pub1.addr, port: PORT, links: { min: 2, max: 6 } }),
    new NsNode(pub2, { username: 'pub2', host: pub2.addr, port: PORT, bootstrap: [boot[0]!], links: { min: 2, max: 6 } }),
    ...lab.nats.map((n) => new NsNode(n.hosts[0]!, { username: n.hosts[0]!.name, host: n.hosts[0]!.addr, port: PORT, bootstrap: boot, links: { min: 2, max: 6 } })),
  ]
  await Promise.all(nodes.map((n) => n.ready))
})

test.after(async () => {
  await Promise.all(nodes.map((n) => n.stop()))
  if (!lab) return
  lab.teardown()
  assert.not.match(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), lab.prefix, 'every namespace was removed')
})

test('behind two port-preserving NATs the relayed session is punched to a direct one; behind `masquerade random` the punch fails and the relay carries on', async () => {
  if (skip()) return
  const t0 = Date.now()
  const [n1, n2, n3] = ['n1a', 'n2a', 'n3a'].map(byName) as [NsNode, NsNode, NsNode]
  // Private, holding a reservation, and known to each other.
  await waitFor(async () => (await states()).slice(2).every((s) => s.reachability.status === 'private' && s.stats.relaysHeld! > 0 && s.users.includes('n1a') && s.users.includes('n2a') && s.users.includes('n3a')), 60_000, describe)
  const ready = Date.now() - t0
  assert.ok((await n1.call('send', { to: 'n2a', text: 'first' })).ok)
  const firstUnicast = Date.now() - t0
  await waitFor(() => n2.messages.some((m) => m.text === 'first'), 5000, () => 'the first unicast')
  await waitFor(async () => ((await n1.state()).stats.punchSucceeded ?? 0) >= 1, 20_000, describe)
  const s1 = await n1.state()
  assert.ok(s1.direct.includes('n2a'), `n1a → n2a direct now: ${s1.direct.join(',')}`)
  // Unicast and latency over the punched connection.
  assert.ok((await n1.call('send', { to: 'n2a', text: 'after the punch' })).ok)
  await waitFor(() => n2.messages.some((m) => m.text === 'after the punch'), 5000, () => 'the unicast after the punch')
  const direct = (await n1.call('latency', { to: 'n2a' })).ms
  // Behind the random NAT: relayed, the punch fails, messages still flow.
  assert.ok((await n1.call('send', { to: 'n3a', text: 'to random' })).ok)
  await waitFor(() => n3.messages.some((m) => m.text === 'to random'), 5000, () => 'the unicast to n3a')
  await waitFor(async () => Object.entries((await n1.state()).stats).some(([k, v]) => k.startsWith('punchFailed.') && v > 0), 30_000, describe)
  const s1b = await n1.state()
  assert.ok(s1b.direct.some((d) => d.startsWith('n3a via ')), `n1a → n3a still relayed: ${s1b.direct.join(',')}`)
  assert.ok((await n1.call('send', { to: 'n3a', text: 'still relayed' })).ok)
  await waitFor(() => n3.messages.some((m) => m.text === 'still relayed'), 5000, () => 'the relayed unicast after the failed punch')
  const relayed = (await n1.call('latency', { to: 'n3a' })).ms
  console.log(`  n1a: private with a reservation after ${ready} ms, first unicast sent at ${firstUnicast} ms; RTT n1a→n2a direct ${Number(direct).toFixed(2)} ms, n1a→n3a relayed ${Number(relayed).toFixed(2)} ms; n1a stats ${JSON.stringify(s1b.stats)}`)
})

test.run()
