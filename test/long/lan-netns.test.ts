// LAN discovery on real sockets: five hosts in network namespaces on one
// bridge (in a sixth namespace), addresses in a private test range
// (10.79.0.0/24), a multicast route on each host's eth0. One node per host
// with lan enabled and NO bootstrap: they must find each other by their UDP
// multicast beacons alone and form one overlay where every node knows the
// other four, a unicast and a broadcast arrive, and no beacon was refused.
// Prints how long the overlay took to form. No beacon is ever sent on this
// machine's own interfaces: only inside the namespaces, which are removed
// whatever happens. Without root, iproute2 or namespace support the test
// prints why and passes without running (npm run test:long).
//
// This file is also the child program: with P4NET_LAN_CHILD set it runs a
// node driven by JSON lines on stdin (commands) and stdout (events, replies).
import { execFileSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import * as assert from 'uvu/assert'
import { NetnsLab, netnsUnavailable, removeStale, waitFor, type ChildHost } from '../helpers/netns.js'
import { test } from '../helpers/test.js'

const PREFIX = 'p4lan'
const SUBNET = '10.79.0'
const HOSTS = 5
const PORT = 4000
const PLUGIN = 79
const INTERVAL_MS = 1000
const CHILD_TIMERS = { maintenanceMs: 50, pingIntervalMs: 300, walkTimeoutMs: 1000, requestTimeoutMs: 1000, handshakeTimeoutMs: 2000 }

// ---------------------------------------------------------------- child side

async function child(): Promise<void> {
  const { createNode } = await import('../../ts/index.js')
  const i = Number(process.env.P4NET_LAN_INDEX)
  const out = (o: object): void => {
    process.stdout.write(JSON.stringify(o) + '\n')
  }
  const node = await createNode({
    username: `l${i}`,
    host: `${SUBNET}.${i + 1}`,
    port: PORT,
    links: { min: 2, max: 4 },
    timers: CHILD_TIMERS,
    lan: { enabled: true, intervalMs: INTERVAL_MS },
  })
  const plugin = node.plugin(PLUGIN)
  plugin.on('message', (m) => out({ event: 'message', from: m.from, text: Buffer.from(m.data).toString(), broadcast: m.broadcast }))
  node.on('warning', (err) => out({ event: 'warning', code: err.code, message: err.message }))
  await node.start()
  out({ event: 'ready', at: Date.now() })
  const rl = createInterface({ input: process.stdin })
  rl.on('line', (line) => {
    const c = JSON.parse(line) as { id: number; cmd: string; to?: string; text?: string }
    const reply = (o: object): void => out({ id: c.id, ...o })
    const fail = (err: unknown): void => reply({ error: String((err as Error)?.message ?? err), code: (err as { code?: string }).code })
    switch (c.cmd) {
      case 'state': {
        const s = node.stats()
        return reply({ users: node.users(), links: node.links().map((l) => l.username), lan: { sent: s.lanSent, received: s.lanReceived, accepted: s.lanAccepted, rejected: s.lanRejectReasons, dialed: s.lanDialed } })
      }
      case 'send':
        return void plugin.send(c.to!, Buffer.from(c.text!)).then(() => reply({ ok: true }), fail)
      case 'broadcast':
        return void plugin.broadcast(Buffer.from(c.text!)).then(() => reply({ ok: true }), fail)
    }
  })
  rl.on('close', () => void node.stop().then(() => process.exit(0)))
}

// ---------------------------------------------------------------- test side

interface State {
  users: string[]
  links: string[]
  lan: { sent: number; received: number; accepted: number; rejected: Record<string, number>; dialed: number }
}

function tests(): void {
  const why = netnsUnavailable(PREFIX)
  let lab: NetnsLab | null = null
  let hosts: ChildHost[] = []
  const state = async (h: ChildHost): Promise<State> => (await h.call('state')) as unknown as State
  const describe = async (): Promise<string> => (await Promise.all(hosts.map(async (h) => `l${h.index}: ${JSON.stringify(await state(h).catch(() => 'gone'))}`))).join('; ')
  const messages = (h: ChildHost): Array<Record<string, unknown>> => h.events.filter((e) => e.event === 'message')

  test.after(async () => {
    if (!lab) return
    await lab.teardown()
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    assert.not.match(left, `${PREFIX}${process.pid}-`, 'every namespace was removed')
  })

  test('5 hosts on one bridge, lan enabled, no bootstrap: beacons alone form one overlay; unicast and broadcast arrive', async () => {
    if (why !== null) {
      console.log(`  lan-netns test skipped: ${why}`)
      return
    }
    removeStale(PREFIX)
    lab = new NetnsLab(PREFIX, SUBNET)
    lab.build(HOSTS, { multicast: true })
    const file = fileURLToPath(import.meta.url)
    const t0 = Date.now()
    hosts = Array.from({ length: HOSTS }, (_, i) => lab!.start(i, file, { P4NET_LAN_CHILD: '1', P4NET_LAN_INDEX: String(i), NODE_DEBUG: process.env.P4NET_LAN_DEBUG ?? '' }))
    await Promise.all(hosts.map((h) => h.ready))
    const readyAt = Math.max(...hosts.map((h) => h.events.find((e) => e.event === 'ready')!.at as number))
    const names = hosts.map((h) => `l${h.index}`)
    await waitFor(async () => (await Promise.all(hosts.map(state))).every((s) => names.every((n) => s.users.includes(n)) && s.links.length >= 1), 15_000, describe)
    const formedAt = Date.now()
    // The overlay may form before the last node to start has heard a beacon (the others
    // dialled it from its own): every node accepts one within a beacon interval or two.
    await waitFor(async () => (await Promise.all(hosts.map(state))).every((s) => s.lan.accepted >= 1), 10_000, describe)
    console.log(`  lan-netns: ${HOSTS} nodes formed one overlay ${formedAt - readyAt} ms after the last was ready (${formedAt - t0} ms after the first process was spawned; beacons every ~${INTERVAL_MS} ms)`)
    // No warning (a socket that would not open, a refused key), no beacon refused.
    for (const h of hosts) assert.equal(h.events.filter((e) => e.event === 'warning'), [], `l${h.index} warned`)
    const states = await Promise.all(hosts.map(state))
    for (const [i, s] of states.entries()) {
      assert.ok(s.lan.sent >= 1 && s.lan.accepted >= 1, `l${i}: ${JSON.stringify(s.lan)}`)
      assert.equal(s.lan.rejected, {}, `l${i}: no beacon refused`)
    }
    assert.ok(states.reduce((n, s) => n + s.lan.dialed, 0) >= HOSTS - 1, 'links came from beacons')
    console.log(`  lan-netns: links ${states.map((s, i) => `l${i}→${s.links.join(',')}`).join(' ')}; beacons ${states.map((s) => `${s.lan.sent}/${s.lan.accepted}`).join(' ')} (sent/accepted)`)
    // Unicast across hosts: each sends to the next one.
    for (const h of hosts) {
      const to = `l${(h.index + 1) % HOSTS}`
      const r = await h.call('send', { to, text: `hi ${to} from l${h.index}` })
      assert.ok(r.ok, `l${h.index} → ${to}: ${JSON.stringify(r)}`)
    }
    await waitFor(() => hosts.every((h) => messages(h).some((m) => !m.broadcast)), 5000, () => 'every unicast')
    for (const h of hosts) {
      const from = `l${(h.index + HOSTS - 1) % HOSTS}`
      assert.equal(messages(h).filter((m) => !m.broadcast), [{ event: 'message', from, text: `hi l${h.index} from ${from}`, broadcast: false }])
    }
    // A broadcast from l2 reaches the four others.
    assert.ok((await hosts[2]!.call('broadcast', { text: 'to all on the lan' })).ok)
    await waitFor(() => hosts.filter((h) => h.index !== 2).every((h) => messages(h).some((m) => m.broadcast && m.text === 'to all on the lan')), 5000, () => 'the broadcast at every host')
  })

  test.run()
}

if (process.env.P4NET_LAN_CHILD) {
  child().catch((err) => {
    console.error(err)
    process.exit(1)
  })
} else {
  tests()
}
