// LAN discovery (option lan, ts/overlay/lan.ts): nodes with no bootstrap find
// each other by signed multicast beacons and form an overlay; forged, replayed,
// untrusted and flooding beacons are counted and change nothing. Every beacon
// here goes over an in-memory LAN segment (MemoryLan) and the memory
// transport, on a ManualClock: nothing is sent on this machine's interfaces.
import * as assert from 'uvu/assert'
import { createNode, generateIdentity, ManualClock, MemoryLan, MemoryNetwork, memoryTransport, P4Error, type DatagramTransport, type Identity, type Node, type NodeOptions } from '../ts/index.js'
import { encodeBeacon, type BeaconFields } from '../ts/overlay/lan-codec.js'
import { LAN_DEFAULT_GROUP, LAN_DEFAULT_PORT } from '../ts/overlay/lan.js'
import { test } from './helpers/test.js'

const INTERVAL = 1000
const CHAT = 7
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

interface World {
  clock: ManualClock
  lan: MemoryLan
  network: MemoryNetwork
  nodes: Node[]
  /** A node on host `10.1.0.<i>` with LAN discovery on and no bootstrap. */
  make(username: string, i: number, opts?: Partial<NodeOptions>, lanTransport?: DatagramTransport): Promise<Node>
  /** Beacons an eavesdropper on the segment heard (it sends nothing itself). */
  heard: Array<{ data: Uint8Array; host: string }>
  stop(): Promise<void>
}

async function world(): Promise<World> {
  let network!: MemoryNetwork
  const lan = new MemoryLan()
  const clock = new ManualClock({ wallAt: 1_700_000_000_000, idle: () => network.idle && lan.idle })
  network = new MemoryNetwork({ clock })
  const nodes: Node[] = []
  const heard: World['heard'] = []
  const ear = await lan.transport('10.1.0.200').openMulticast(
    { group: LAN_DEFAULT_GROUP, port: LAN_DEFAULT_PORT, iface: undefined, ttl: 1, loopback: false },
    { message: (data, from) => heard.push({ data: Uint8Array.from(data), host: from.host }), error: () => undefined },
  )
  return {
    clock,
    lan,
    network,
    nodes,
    heard,
    async make(username, i, opts = {}, lanTransport) {
      const host = `10.1.0.${i}`
      const n = await createNode({
        username,
        host,
        transport: memoryTransport(network, { host }),
        clock,
        links: { min: 2, max: 4 },
        ...opts,
        lan: { enabled: true, intervalMs: INTERVAL, transport: lanTransport ?? lan.transport(host), ...opts.lan },
      })
      n.plugin(CHAT)
      nodes.push(n)
      return n
    },
    async stop() {
      const stopping = Promise.all(nodes.map((n) => n.stop()))
      await clock.until(() => nodes.every((n) => !n.running), 10_000, 'nodes stopped')
      await stopping
      ear.close()
    },
  }
}

function fields(id: Identity, username: string, time: number, o: Partial<BeaconFields> = {}): BeaconFields {
  return { identityKey: id.publicKey, time, username, port: 4001, hosts: [], certificate: new Uint8Array(0), ...o }
}

test('three nodes with no bootstrap find each other by beacons: an overlay with unicast and broadcast; beacons at start and every interval', async () => {
  const w = await world()
  try {
    const [a, b, c] = [await w.make('a', 1), await w.make('b', 2), await w.make('c', 3)]
    const t0 = w.clock.now()
    for (const n of [a, b, c]) await n.start()
    await w.clock.advance(0)
    assert.equal([a, b, c].map((n) => n.stats().lanSent), [1, 1, 1], 'one beacon each at start')
    // The next one: no sooner than 0.75 and no later than 1.25 intervals after.
    await w.clock.advance(t0 + 0.75 * INTERVAL - 1 - w.clock.now())
    assert.equal([a, b, c].map((n) => n.stats().lanSent), [1, 1, 1], 'none before 0.75 intervals')
    await w.clock.advance(0.5 * INTERVAL + 1)
    assert.equal([a, b, c].map((n) => n.stats().lanSent), [2, 2, 2], 'the second by 1.25 intervals')
    await w.clock.until(() => [a, b, c].every((n) => n.users().length === 3), 10_000, () => `users: ${[a, b, c].map((n) => n.users().join(',')).join(' | ')}`)
    const got: string[] = []
    c.plugin(CHAT).on('message', (m) => got.push(`${m.from}:${Buffer.from(m.data).toString()}:${m.broadcast}`))
    b.plugin(CHAT).on('message', (m) => got.push(`${m.from}:${Buffer.from(m.data).toString()}:${m.broadcast}`))
    await a.plugin(CHAT).send('c', Buffer.from('hi c'))
    await a.plugin(CHAT).broadcast(Buffer.from('hi all'))
    await w.clock.until(() => got.length === 3, 5000, () => `messages: ${got.join(' | ')}`)
    assert.equal(got.sort(), ['a:hi all:true', 'a:hi all:true', 'a:hi c:false'])
    for (const n of [a, b, c]) {
      const s = n.stats()
      assert.ok(s.lanReceived >= 2 && s.lanAccepted >= 2, `${n.username}: ${JSON.stringify(s)}`)
      assert.is(s.lanRejected, 0)
      assert.ok(s.lanEntries > 0)
    }
    assert.ok(a.stats().lanDialed + b.stats().lanDialed + c.stats().lanDialed >= 2, 'links came from beacons')
    // stop() closes the socket: no more beacons, however long we wait.
    const open = w.lan.sockets
    await c.stop()
    assert.is(w.lan.sockets, open - 1, "c's socket closed")
    const fromC = (): number => w.heard.filter((h) => h.host === '10.1.0.3').length
    const [cSent, cHeard, aHeard] = [c.stats().lanSent, fromC(), w.heard.length - fromC()]
    await w.clock.advance(5 * INTERVAL)
    assert.is(c.stats().lanSent, cSent)
    assert.is(fromC(), cHeard, 'nothing from c after its stop')
    assert.ok(w.heard.length - fromC() > aHeard + 4, 'a and b go on')
  } finally {
    await w.stop()
  }
})

test('forged, replayed, stale and name-stealing beacons are counted and dial nothing; garbage and oversized datagrams too', async () => {
  const w = await world()
  try {
    const [a, b] = [await w.make('a', 1), await w.make('b', 2)]
    await a.start()
    await b.start()
    await w.clock.until(() => a.users().includes('b') && b.users().includes('a') && b.stats().lanAccepted > 0, 10_000, 'a and b linked, and a beacon of a accepted at b')
    const fromA = w.heard.filter((h) => h.host === '10.1.0.1').at(-1)!
    const inject = (data: Uint8Array, host: string): void => w.lan.inject(data, { host, port: 5555 }, LAN_DEFAULT_GROUP, LAN_DEFAULT_PORT)
    const before = b.stats()
    // Replayed: a's own last beacon, again.
    inject(fromA.data, '10.1.0.1')
    // Forged: a's beacon made newer, from another host.
    const forged = Uint8Array.from(fromA.data)
    new DataView(forged.buffer).setBigUint64(38, BigInt(w.clock.wall() + 5000)) // a later time, which the signature does not cover
    inject(forged, '10.1.0.66')
    // Stolen name: "a" with mallory's key (signed by mallory).
    const mallory = generateIdentity()
    const wall = w.clock.wall()
    inject(encodeBeacon(mallory, fields(mallory, 'a', wall)), '10.1.0.66')
    // Stale: signed by a fresh key, stamped 11 minutes ago.
    const old = generateIdentity()
    inject(encodeBeacon(old, fields(old, 'old', wall - 11 * 60_000)), '10.1.0.67')
    // b's own name with another key.
    inject(encodeBeacon(mallory, fields(mallory, 'b', wall + 1)), '10.1.0.66')
    // Garbage and an oversized datagram.
    inject(Uint8Array.of(0x50, 0x34, 0x4c, 0x42, 1, 0), '10.1.0.68')
    inject(new Uint8Array(4000), '10.1.0.68')
    await w.clock.advance(0)
    const s = b.stats()
    assert.equal(s.lanRejectReasons, { replay: 1, badSignature: 1, nameTaken: 1, stale: 1, untrusted: 1, malformed: 1, oversized: 1 })
    assert.is(s.lanRejected - before.lanRejected, 7)
    assert.is(s.lanAccepted, before.lanAccepted)
    assert.is(s.lanDialed, before.lanDialed, 'no dial for any of them')
    assert.is(s.untrustedKey, before.untrustedKey, 'a refused beacon is no refused key of a session or HELLO')
    assert.equal(b.users(), ['a', 'b'])
  } finally {
    await w.stop()
  }
})

test('allowlist: a beacon from a key not listed is ignored (counted, not dialled, no warning); listed keys link', async () => {
  const w = await world()
  try {
    const [ida, idb, idc] = [generateIdentity(), generateIdentity(), generateIdentity()]
    const trust = { policy: 'allowlist' as const, keys: [hex(ida.publicKey), hex(idb.publicKey)] }
    const a = await w.make('a', 1, { identity: ida, trust })
    const b = await w.make('b', 2, { identity: idb, trust })
    const warnings: P4Error[] = []
    b.on('warning', (e) => warnings.push(e))
    await a.start()
    await b.start()
    await w.clock.until(() => a.users().includes('b') && b.users().includes('a'), 10_000, 'a and b linked')
    // c beacons too; b must not dial it. (c lists only itself, so it dials nobody: its refused handshakes would be warnings.)
    const c = await w.make('c', 3, { identity: idc, trust: { policy: 'allowlist', keys: [hex(idc.publicKey)] } })
    await c.start()
    await w.clock.until(() => (b.stats().lanRejectReasons.untrusted ?? 0) >= 2, 10_000, 'two of c’s beacons refused at b')
    assert.equal(b.users(), ['a', 'b'])
    assert.not.ok(b.links().some((l) => l.username === 'c'))
    assert.equal(warnings.filter((e) => /"c"/.test(e.message)).map((e) => e.message), [], 'a stranger on the LAN is no warning')
  } finally {
    await w.stop()
  }
})

test('a flood of beacons from many hosts and keys: rate limited, bounded memory, the real peers still link', async () => {
  const w = await world()
  try {
    const a = await w.make('a', 1)
    await a.start()
    const keys = Array.from({ length: 10 }, () => generateIdentity())
    let n = 0
    for (let second = 0; second < 10; second++) {
      for (let i = 0; i < 300; i++, n++) {
        const id = keys[n % keys.length]!
        const host = `10.2.${(n >> 8) & 255}.${n & 255}`
        const data = n % 3 === 0 ? Uint8Array.of(n & 255) : encodeBeacon(id, fields(id, `f${n % keys.length}`, w.clock.wall() + n))
        w.lan.inject(data, { host, port: 5555 }, LAN_DEFAULT_GROUP, LAN_DEFAULT_PORT)
        if (i % 20 === 0) w.lan.inject(Uint8Array.of(1), { host: '10.3.0.1', port: 5555 }, LAN_DEFAULT_GROUP, LAN_DEFAULT_PORT)
      }
      await w.clock.advance(1000)
    }
    const s = a.stats()
    const r = s.lanRejectReasons
    assert.is(s.lanReceived, 3000 + 150)
    assert.is(s.lanReceived, s.lanAccepted + s.lanRejected)
    assert.ok((r.sourceRate ?? 0) > 0 && (r.totalRate ?? 0) > 0 && (r.keyRate ?? 0) > 0 && r.malformed === 1000 + 150 - r.sourceRate!, JSON.stringify(r))
    assert.ok(s.lanAccepted <= keys.length * (3 + 10), `accepted ${s.lanAccepted}: at most each key's burst and rate`)
    assert.ok(s.lanEntries <= 256 + 256 + 1024, `entries ${s.lanEntries}`)
    // The real b still links with a.
    const b = await w.make('b', 2)
    await b.start()
    await w.clock.until(() => a.users().includes('b') && b.users().includes('a'), 20_000, 'a and b linked after the flood')
  } finally {
    await w.stop()
  }
})

test('no multicast: a warning (IO_ERROR), never an error; retried every interval, warned once; start() is unaffected', async () => {
  const w = await world()
  try {
    let opens = 0
    const broken: DatagramTransport = {
      name: 'no-route',
      openMulticast: async () => {
        opens++
        throw new P4Error('IO_ERROR', 'cannot join multicast: No such device')
      },
    }
    const a = await w.make('a', 1, {}, broken)
    const warnings: P4Error[] = []
    a.on('warning', (e) => warnings.push(e))
    a.on('error', (e) => assert.unreachable(String(e)))
    await a.start()
    await w.clock.advance(3.5 * INTERVAL)
    assert.ok(opens >= 3, `retried: ${opens}`)
    assert.is(a.stats().lanOpenFailures, opens)
    assert.is(warnings.length, 1)
    assert.is(warnings[0]!.code, 'IO_ERROR')
    assert.match(warnings[0]!.message, /LAN discovery: cannot open multicast 239\.255\.80\.52:42052 on 10\.1\.0\.1 .*No such device.*ip route add 224\.0\.0\.0\/4/)
    assert.equal(a.status().reasons.map((x) => x.code), ['IO_ERROR'])
  } finally {
    await w.stop()
  }
})

test('a node on 0.0.0.0: sends on the default interface, others dial the address its beacon came from; a changed interface address rejoins and announces at once', async () => {
  const w = await world()
  try {
    const addresses = ['10.1.0.5']
    const opens: Array<string | undefined> = []
    const base = w.lan.transport('10.1.0.5')
    const watched: DatagramTransport = {
      name: 'watched',
      openMulticast: (o, h) => {
        opens.push(o.iface)
        return base.openMulticast(o, h)
      },
      addresses: () => [...addresses],
    }
    const z = await createNode({ username: 'z', host: '0.0.0.0', transport: memoryTransport(w.network, { host: '10.1.0.5' }), clock: w.clock, lan: { enabled: true, intervalMs: INTERVAL, transport: watched } })
    w.nodes.push(z)
    const warnings: P4Error[] = []
    z.on('warning', (e) => warnings.push(e))
    const a = await w.make('a', 1)
    await a.start()
    await z.start()
    assert.match(warnings.map((e) => `${e.code} ${e.message}`).join('\n'), /UNREACHABLE LAN discovery: this node listens on 0\.0\.0\.0 and advertises 127\.0\.0\.1/)
    await w.clock.until(() => a.users().includes('z') && z.users().includes('a'), 10_000, 'a and z linked')
    assert.equal(opens, [undefined], 'the default multicast interface')
    // The machine moves to another network: at the next tick the socket is reopened and a beacon goes out.
    addresses[0] = '10.9.0.5'
    const sent = z.stats().lanSent
    await w.clock.until(() => opens.length === 2, 2 * INTERVAL, 'the socket reopened')
    await w.clock.advance(0)
    assert.is(z.stats().lanSent, sent + 1)
  } finally {
    await w.stop()
  }
})

test('options: off by default, lan.enabled needs a LAN host, group and interval checked; --lan and P4NET_LAN', async () => {
  const { resolveOptions } = await import('../ts/options.js')
  const { resolveConfig } = await import('../ts/cli/config.js')
  assert.equal(resolveOptions({ username: 'a' }).cfg.lan, { enabled: false, group: '239.255.80.52', port: 42052, intervalMs: 15_000, transport: undefined })
  assert.is(resolveOptions({ username: 'a', profile: 'small' }).cfg.lan.intervalMs, 60_000)
  const bad: Array<[Partial<NodeOptions>, RegExp]> = [
    [{ lan: { enabled: true } }, /^lan\.enabled needs a host on the local network, but host is "127\.0\.0\.1" \(loopback\)/],
    [{ lan: { enabled: true }, host: '::1' }, /loopback/],
    [{ lan: { enabled: true }, host: 'fe80::1' }, /IPv4 only/],
    [{ lan: { group: '10.0.0.1' } }, /^lan\.group must be an IPv4 multicast address/],
    [{ lan: { intervalMs: 10 } }, /^lan\.intervalMs must be an integer 1000\.\.3600000/],
    [{ lan: { enabled: 'yes' as never } }, /^lan\.enabled must be true or false/],
    [{ lan: { transport: {} as never } }, /^lan\.transport must be a DatagramTransport/],
  ]
  for (const [o, re] of bad) {
    try {
      resolveOptions({ username: 'a', ...o } as NodeOptions)
      assert.unreachable(String(re))
    } catch (err) {
      assert.match((err as Error).message, re)
    }
  }
  assert.is(resolveOptions({ username: 'a', host: '0.0.0.0', lan: { enabled: true } }).cfg.lan.enabled, true)
  const flags = resolveConfig({ command: 'start', flags: { lan: true, host: '10.0.0.1' }, env: {}, cwd: '/nonexistent', home: '/nonexistent' })
  assert.equal(flags.settings.lan, { enabled: true })
  const env = resolveConfig({ command: 'start', flags: {}, env: { P4NET_LAN: '1', P4NET_HOST: '0.0.0.0' }, cwd: '/nonexistent', home: '/nonexistent' })
  assert.equal(env.settings.lan, { enabled: true })
  assert.throws(() => resolveConfig({ command: 'start', flags: { lan: true }, env: {}, cwd: '/nonexistent', home: '/nonexistent' }), /p4net start: --lan needs a host on the local network/)
  assert.throws(() => resolveConfig({ command: 'start', flags: {}, env: { P4NET_LAN: 'maybe' }, cwd: '/nonexistent', home: '/nonexistent' }), /P4NET_LAN must be true or false, got "maybe"/)
  // A config file holds lan's plain settings, not the transport (an object only code can make).
  const { validateConfig } = await import('../ts/cli/config-file.js')
  assert.equal(validateConfig({ lan: { enabled: true, port: 5000, group: '239.255.1.2', intervalMs: 2000 } }, 'f.json', '/tmp').lan, { enabled: true, port: 5000, group: '239.255.1.2', intervalMs: 2000 })
  assert.throws(() => validateConfig({ lan: { transport: 'udp' } }, 'f.json', '/tmp'), /f\.json: "lan\.transport" is not a known key \(known: enabled, group, port, intervalMs\)/)
  assert.throws(() => validateConfig({ lan: { enabled: 'on' } }, 'f.json', '/tmp'), /f\.json: "lan\.enabled" must be true or false/)
})

test.run()
