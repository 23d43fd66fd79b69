// Many hosts: five Linux network namespaces, each with its own address in a
// private test range (10.77.0.0/24) on veth links to a bridge that lives in a
// sixth namespace, so no packet ever reaches the host's own network. One
// p4net node runs in each namespace (a child process started with
// `ip netns exec`, TCP on its namespace address). The test checks discovery,
// unicast and broadcast across the hosts, then cuts the bootstrap host's link
// (`ip link set … down`) and shows the overlay heal: the other four still
// reach each other, and mark the cut host offline. Namespaces are removed
// whatever happens. Without root, iproute2 or namespace support the test
// prints why and passes without running. A long test (npm run test:long):
// real sockets across namespaces, ~15 s.
//
// This file is also the child program: with P4NET_NETNS_CHILD set it runs a
// node driven by JSON lines on stdin (commands) and stdout (events, replies).
import { execFileSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { test } from '../helpers/test.js'
import { ip, netnsUnavailable, NetnsLab, removeStale, waitFor, type ChildHost } from '../helpers/netns.js'
import * as assert from 'uvu/assert'

const PREFIX = 'p4nt'
const SUBNET = '10.77.0'
const HOSTS = 5
const PORT = 4000
const PLUGIN = 77
const CHILD_TIMERS = { maintenanceMs: 50, pingIntervalMs: 300, walkTimeoutMs: 1000, requestTimeoutMs: 1000, handshakeTimeoutMs: 2000 }

// ---------------------------------------------------------------- child side

async function child(): Promise<void> {
  const { createNode } = await import('../../ts/index.js')
  const i = Number(process.env.P4NET_NETNS_INDEX)
  const out = (o: object): void => {
    process.stdout.write(JSON.stringify(o) + '\n')
  }
  const node = await createNode({
    username: `h${i}`,
    host: `${SUBNET}.${i + 1}`,
    port: PORT,
    bootstrap: i === 0 ? [] : [`${SUBNET}.1:${PORT}`],
    links: { min: 2, max: 4 },
    timers: CHILD_TIMERS,
  })
  const plugin = node.plugin(PLUGIN)
  plugin.on('message', (m) => out({ event: 'message', from: m.from, text: Buffer.from(m.data).toString(), broadcast: m.broadcast }))
  node.on('user-left', (u: string) => out({ event: 'user-left', user: u }))
  await node.start()
  out({ event: 'ready', address: node.address })
  const rl = createInterface({ input: process.stdin })
  rl.on('line', (line) => {
    const c = JSON.parse(line) as { id: number; cmd: string; to?: string; text?: string }
    const reply = (o: object): void => out({ id: c.id, ...o })
    const fail = (err: unknown): void => reply({ error: String((err as Error)?.message ?? err), code: (err as { code?: string }).code })
    switch (c.cmd) {
      case 'state':
        return reply({ users: node.users(), links: node.links().map((l) => l.username), framesIn: node.stats().framesIn })
      case 'ping-links': {
        // One round of the test's barrier: a PING round trip on each verified link.
        const names = node.links().filter((l) => l.verified).map((l) => l.username)
        return void Promise.all(names.map((u) => node.latency(u).then(() => true, () => false))).then((ok) => reply({ pinged: names, ok: ok.every(Boolean) }))
      }
      case 'send':
        return void plugin.send(c.to!, Buffer.from(c.text!)).then(() => reply({ ok: true }), fail)
      case 'broadcast':
        return void plugin.broadcast(Buffer.from(c.text!)).then(() => reply({ ok: true }), fail)
      case 'stop':
        return void node.stop().then(() => {
          reply({ ok: true })
          process.exit(0)
        })
    }
  })
  rl.on('close', () => void node.stop().then(() => process.exit(0)))
}

// ---------------------------------------------------------------- test side

interface Host {
  index: number
  name: string
  ready: Promise<void>
  call(cmd: string, args?: object): Promise<Record<string, unknown>>
  /** Messages the child reported since the last clearMessages(). */
  readonly messages: Array<{ from: string; text: string; broadcast: boolean }>
  /** Users the child saw leave. */
  readonly left: string[]
  clearMessages(): void
}

/** This test's view of a child started by NetnsLab: its messages and user-left events. */
function hostOf(c: ChildHost): Host {
  let from = 0
  const of = (kind: string): Array<Record<string, unknown>> => c.events.filter((e) => e.event === kind)
  return {
    index: c.index,
    name: `h${c.index}`,
    ready: c.ready,
    call: (cmd, args) => c.call(cmd, args),
    get messages() {
      return c.events.slice(from).filter((e) => e.event === 'message').map((e) => ({ from: e.from as string, text: e.text as string, broadcast: e.broadcast as boolean }))
    },
    get left() {
      return of('user-left').map((e) => e.user as string)
    },
    clearMessages() {
      from = c.events.length
    },
  }
}

function tests(): void {
  const why = netnsUnavailable(PREFIX)
  let lab: NetnsLab | null = null
  let hosts: Host[] = []
  const skip = (): boolean => {
    if (why !== null) console.log(`  netns test skipped: ${why}`)
    return why !== null
  }
  const state = async (h: Host): Promise<{ users: string[]; links: string[]; framesIn: number }> => (await h.call('state')) as unknown as { users: string[]; links: string[]; framesIn: number }
  /**
   * A positive barrier across the hosts (common/net.ts linkBarrier, over
   * processes): every host PINGs each of its links; rounds repeat until one in
   * which every PING was answered and each host received exactly the
   * barrier's frames. Then nothing sent before it is still travelling.
   */
  const barrier = async (hs: Host[]): Promise<void> => {
    let last = ''
    for (let round = 0; round < 20; round++) {
      const before = await Promise.all(hs.map(state))
      const rounds = (await Promise.all(hs.map((h) => h.call('ping-links')))) as Array<{ pinged: string[]; ok: boolean }>
      const after = await Promise.all(hs.map(state))
      const expected = hs.map((h, i) => rounds[i]!.pinged.length + rounds.filter((r) => r.pinged.includes(h.name)).length)
      const moved = hs.filter((_, i) => after[i]!.framesIn - before[i]!.framesIn !== expected[i])
      if (rounds.every((r) => r.ok) && moved.length === 0) return
      last = `round ${round + 1}: ${moved.map((h) => h.name).join(', ')} received other frames`
    }
    throw new Error(`no quiet barrier round (${last})`)
  }
  const describe = async (): Promise<string> => (await Promise.all(hosts.map(async (h) => `${h.name}: ${JSON.stringify(await state(h).catch(() => 'gone'))}`))).join('; ')

  test.before(async () => {
    if (why !== null) return
    removeStale(PREFIX)
    lab = new NetnsLab(PREFIX, SUBNET)
    lab.build(HOSTS)
    const self = fileURLToPath(import.meta.url)
    hosts = Array.from({ length: HOSTS }, (_, i) => hostOf(lab!.start(i, self, { P4NET_NETNS_CHILD: '1', P4NET_NETNS_INDEX: String(i), NODE_DEBUG: process.env.P4NET_NETNS_DEBUG ?? '' })))
    await Promise.all(hosts.map((h) => h.ready))
  })

  test.after(async () => {
    if (!lab) return
    await lab.teardown()
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    assert.not.match(left, `${PREFIX}${process.pid}-`, 'every namespace was removed')
  })

  test('5 hosts in network namespaces: discovery, unicast and broadcast across them', async () => {
    if (skip()) return
    const names = hosts.map((h) => h.name)
    // Discovery: every host lists every user, and has links.
    await waitFor(async () => (await Promise.all(hosts.map(state))).every((s) => names.every((n) => s.users.includes(n)) && s.links.length >= 2), 10_000, describe)
    // Unicast across hosts: each sends to the next one.
    for (const h of hosts) {
      const to = hosts[(h.index + 1) % HOSTS]!
      const r = await h.call('send', { to: to.name, text: `hi ${to.name} from ${h.name}` })
      assert.ok(r.ok, `${h.name} → ${to.name}: ${JSON.stringify(r)}`)
    }
    await waitFor(() => hosts.every((h) => h.messages.filter((m) => !m.broadcast).length >= 1), 5000, () => 'every unicast')
    for (const h of hosts) {
      const from = hosts[(h.index + HOSTS - 1) % HOSTS]!
      assert.equal(h.messages.filter((m) => !m.broadcast), [{ from: from.name, text: `hi ${h.name} from ${from.name}`, broadcast: false }])
    }
    // Broadcast from h2 reaches the four others once.
    assert.ok((await hosts[2]!.call('broadcast', { text: 'to all' })).ok)
    const others = hosts.filter((h) => h.index !== 2)
    await waitFor(() => others.every((h) => h.messages.some((m) => m.broadcast)), 5000, () => 'the broadcast at every host')
    // Any late copy would have arrived before a quiet barrier round.
    await barrier(hosts)
    for (const h of others) assert.is(h.messages.filter((m) => m.broadcast).length, 1, `${h.name} got the broadcast once`)
  })

  test('cut the bootstrap host off the bridge: the other four heal into a connected overlay and still reach each other', async () => {
    if (skip()) return
    ip('-n', lab!.sw, 'link', 'set', 'p0', 'down')
    const rest = hosts.slice(1)
    // Links to h0 are dropped (PINGs unanswered) and the four keep a connected graph.
    await waitFor(
      async () => {
        const ss = await Promise.all(rest.map(state))
        return ss.every((s) => !s.links.includes('h0') && s.links.length >= 1) && connected(rest.map((h, i) => [h.name, ss[i]!.links]))
      },
      10_000,
      describe,
    )
    for (const h of rest) h.clearMessages()
    for (const h of rest) {
      const to = rest[(rest.indexOf(h) + 1) % rest.length]!
      const r = await h.call('send', { to: to.name, text: `after the cut: ${h.name}` })
      assert.ok(r.ok, `${h.name} → ${to.name} after the cut: ${JSON.stringify(r)}`)
    }
    assert.ok((await rest[0]!.call('broadcast', { text: 'still here' })).ok)
    await waitFor(() => rest.every((h) => h.messages.filter((m) => !m.broadcast).length === 1) && rest.slice(1).every((h) => h.messages.some((m) => m.broadcast && m.text === 'still here')), 5000, () => 'messages after the cut')
    // h0, cut off, reaches nobody once it has noticed.
    await waitFor(async () => (await state(hosts[0]!)).links.length === 0, 5000, describe)
    const lost = await hosts[0]!.call('send', { to: 'h1', text: 'anyone?' })
    assert.ok(lost.error, 'h0 cannot reach h1 across the cut link')
  })

  test('the cut host is marked offline by the others', async () => {
    if (skip()) return
    const rest = hosts.slice(1)
    // Links closed for silence are probed; the probe of h0 fails (dial timeout), so each
    // neighbour marks it offline (else it would stay listed for timers.userTimeoutMs).
    await waitFor(async () => (await Promise.all(rest.map(state))).every((s) => !s.users.includes('h0')), 5000, describe)
    for (const h of rest) assert.ok(h.left.includes('h0'), `${h.name} emitted user-left for h0`)
  })

  test.run()
}

/** True when the graph given as [name, neighbours] pairs is connected (edges to outsiders ignored). */
function connected(adj: Array<[string, string[]]>): boolean {
  const names = new Set(adj.map(([n]) => n))
  const edges = new Map<string, Set<string>>([...names].map((n) => [n, new Set<string>()]))
  for (const [n, ls] of adj) for (const l of ls) if (names.has(l)) (edges.get(n)!.add(l), edges.get(l)!.add(n))
  const first = adj[0]![0]
  const seen = new Set([first])
  const stack = [first]
  while (stack.length > 0) for (const m of edges.get(stack.pop()!)!) if (!seen.has(m)) (seen.add(m), stack.push(m))
  return seen.size === names.size
}

if (process.env.P4NET_NETNS_CHILD) {
  child().catch((err) => {
    console.error(err)
    process.exit(1)
  })
} else {
  tests()
}
