// Three nodes on loopback TCP, through the public API only: discovery,
// unicast (plain and end-to-end encrypted), broadcast, latency, plugin lists,
// and the errors the API promises.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { createNode, isP4Error, MemoryNetwork, memoryTransport, type Node, type NodeOptions } from '../ts/index.js'
import { errorCode } from './helpers/errors.js'
import { inbox, waitFor, withNet, type NetOptions } from '../common/net.js'

const CHAT = 1001
const FILES = 2002
const NAMES = ['alice', 'bob', 'carol']
const utf8 = new TextEncoder()
type Trio = [Node, Node, Node]

/** Delivered data may be a Buffer view; compare as a plain Uint8Array. */
const plain = (b: Uint8Array): Uint8Array => new Uint8Array(b)

// alice — bob — carol bootstrap in a chain; carol also runs FILES.
const THREE: NetOptions = {
  n: 3,
  transport: 'tcp',
  topology: 'chain',
  options: (i) => ({ username: NAMES[i]! }),
  plugins: (i) => (i === 2 ? [CHAT, FILES] : [CHAT]),
}

test('discovery: users, users(plugin), pluginsOf, plugin.users and links', async () => {
  await withNet(THREE, async ({ nodes }) => {
    const [alice, bob, carol] = nodes as Trio
    for (const node of nodes) {
      assert.equal(node.users(), NAMES, `${node.username}.users()`)
      assert.equal(node.users(CHAT), NAMES, `${node.username}.users(CHAT)`)
      assert.equal(node.users(FILES), ['carol'], `${node.username}.users(FILES)`)
      assert.equal(node.users(4242), [], `${node.username}.users(unused)`)
      assert.equal(node.plugin(CHAT).users(), NAMES)
      assert.equal(node.pluginsOf('alice'), [CHAT])
      assert.equal(node.pluginsOf('carol'), [CHAT, FILES])
      // Everyone is linked to both others (min(links.min, n-1) = 2).
      const links = node.links()
      assert.is(links.length, 2, `${node.username} links`)
      for (const l of links) {
        const peer = nodes.find((x) => x.username === l.username)
        assert.ok(peer && peer !== node, `link to ${l.username}`)
        assert.is(l.status, 'link')
        assert.is(l.host, '127.0.0.1')
        assert.is(l.port, peer!.address.port, `link port of ${l.username} is its listen port`)
        assert.ok(Number.isFinite(l.since) && l.since > 0)
      }
    }
    assert.is(alice.address.host, '127.0.0.1')
    assert.ok(alice.address.port > 0 && alice.address.port !== bob.address.port && bob.address.port !== carol.address.port)
    const s = alice.stats()
    assert.is(s.users, 3)
    assert.is(s.links, 2)
    assert.ok(s.framesIn > 0 && s.bytesIn > 0 && s.framesOut > 0 && s.bytesOut > 0)
    assert.is(s.badSignature + s.untrustedKey + s.badFrame + s.handshakeFailures, 0)
  })
})

test('unicast: delivered once to the addressee only, sender authenticated', async () => {
  await withNet(THREE, async ({ nodes, settle }) => {
    const [alice, bob, carol] = nodes as Trio
    const atBob = inbox(bob.plugin(CHAT))
    const atCarol = inbox(carol.plugin(CHAT))
    const atAlice = inbox(alice.plugin(CHAT))
    await alice.plugin(CHAT).send('carol', utf8.encode('hi carol'))
    await waitFor(() => atCarol.length === 1, 5000, 'the unicast at carol')
    const m = atCarol[0]!
    assert.is(m.from, 'alice')
    assert.equal(plain(m.data), utf8.encode('hi carol'))
    assert.is(m.encrypted, false)
    assert.is(m.broadcast, false)
    assert.is(m.pluginId, CHAT)
    assert.is(typeof m.messageId, 'bigint')
    // Big payloads arrive intact too (several records on the wire).
    const big = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff)
    await carol.plugin(CHAT).send('alice', big)
    await waitFor(() => atAlice.length === 1, 5000, 'the big unicast at alice')
    assert.equal(plain(atAlice[0]!.data), big)
    assert.is(atAlice[0]!.from, 'carol')
    // A PING round trip on every link (until a round sees nothing else): whatever was sent before has arrived.
    await settle()
    assert.is(atBob.length, 0, 'bob got nothing')
    assert.is(atCarol.length, 1, 'carol got it once')
  })
})

test('encrypted unicast: m.encrypted, data intact', async () => {
  await withNet(THREE, async ({ nodes }) => {
    const [alice, bob] = nodes as Trio
    const atBob = inbox(bob.plugin(CHAT))
    const secret = utf8.encode('only bob may read this')
    await alice.plugin(CHAT).send('bob', secret, { encrypted: true })
    await alice.plugin(CHAT).send('bob', new Uint8Array(0), { encrypted: true })
    await waitFor(() => atBob.length === 2, 5000, 'two encrypted unicasts at bob')
    assert.is(atBob[0]!.encrypted, true)
    assert.is(atBob[0]!.from, 'alice')
    assert.equal(plain(atBob[0]!.data), secret)
    assert.is(atBob[1]!.encrypted, true)
    assert.is(atBob[1]!.data.length, 0)
    assert.is(bob.stats().decryptFailed, 0)
  })
})

test('broadcast: every other node running the plugin exactly once, never the sender', async () => {
  await withNet(THREE, async ({ nodes, settle }) => {
    const got = nodes.map((x) => inbox(x.plugin(CHAT)))
    const files = inbox(nodes[2]!.plugin(FILES))
    await nodes[0]!.plugin(CHAT).broadcast(utf8.encode('to all from alice'))
    await nodes[2]!.plugin(CHAT).broadcast(utf8.encode('to all from carol'))
    await nodes[2]!.plugin(FILES).broadcast(utf8.encode('nobody else runs FILES'))
    await waitFor(() => got[1]!.length === 2 && got[2]!.length === 1 && got[0]!.length === 1, 5000, 'the broadcasts')
    // A PING round trip on every link (until a round sees nothing else): whatever was sent before has arrived.
    await settle()
    assert.equal(got[0]!.map((m) => [m.from, m.broadcast]), [['carol', true]])
    assert.equal(got[1]!.map((m) => m.from).sort(), ['alice', 'carol'])
    assert.equal(got[2]!.map((m) => m.from), ['alice'])
    assert.equal(plain(got[2]![0]!.data), utf8.encode('to all from alice'))
    assert.is(got[2]![0]!.encrypted, false)
    assert.is(files.length, 0, 'the sender does not get its own broadcast')
    // alice and bob do not run FILES: nothing beyond the two CHAT broadcasts was delivered to them.
    assert.is(nodes[0]!.stats().delivered, 1)
    assert.is(nodes[1]!.stats().delivered, 2)
  })
})

test('a message over the maxMessage of the receiving node (within the slack its sessions keep for box overhead) is dropped and counted, not delivered', async () => {
  // bob's sessions take 16,000 + 4 KiB; alice's limit lets her send 18,000 bytes.
  await withNet({ ...THREE, n: 2, options: (i) => ({ username: NAMES[i]!, maxMessage: i === 1 ? 16_000 : 64_000 }) }, async ({ nodes }) => {
    const [alice, bob] = nodes as [Node, Node]
    const atBob = inbox(bob.plugin(CHAT))
    await alice.plugin(CHAT).send('bob', new Uint8Array(18_000))
    await alice.plugin(CHAT).send('bob', utf8.encode('small'))
    // Same session, in order: once 'small' is there, the big one was handled.
    await waitFor(() => atBob.length === 1, 5000, 'the small unicast at bob')
    assert.equal(plain(atBob[0]!.data), utf8.encode('small'))
    assert.is(bob.stats().oversized, 1)
    assert.ok(bob.links().some((l) => l.username === 'alice'), 'the link stays')
  })
})

test('latency: PING / PING-ACK round trip in ms', async () => {
  await withNet(THREE, async ({ nodes }) => {
    const [alice] = nodes
    const ms = await alice!.latency('carol')
    assert.ok(Number.isFinite(ms) && ms > 0, `latency ${ms}`)
    assert.is(await alice!.latency('alice'), 0)
    const link = alice!.links().find((l) => l.username === 'carol')
    assert.ok(link && typeof link.rtt === 'number' && link.rtt > 0, 'links() shows the measured rtt')
  })
})

test('plugin list: a plugin started or closed later shows up everywhere', async () => {
  await withNet(THREE, async ({ nodes }) => {
    const [alice, bob, carol] = nodes as Trio
    const games = bob.plugin(3003)
    await waitFor(() => alice.pluginsOf('bob').includes(3003) && carol.pluginsOf('bob').includes(3003), 5000, 'bob announcing 3003')
    assert.equal(alice.users(3003), ['bob'])
    assert.equal(carol.pluginsOf('bob'), [CHAT, 3003])
    assert.equal(bob.pluginsOf('bob'), [CHAT, 3003])
    games.close()
    await waitFor(() => !alice.pluginsOf('bob').includes(3003) && !carol.pluginsOf('bob').includes(3003), 5000, 'bob withdrawing 3003')
    assert.equal(carol.users(3003), [])
    assert.equal(alice.pluginsOf('bob'), [CHAT])
  })
})

test('errors on a running node: UNKNOWN_USER, BAD_ARGUMENT, MESSAGE_TOO_LARGE, CLOSED', async () => {
  await withNet({ ...THREE, options: (i) => ({ username: NAMES[i]!, maxMessage: 1000 }) }, async ({ nodes }) => {
    const [alice] = nodes
    const chat = alice!.plugin(CHAT)
    assert.is(await errorCode(() => chat.send('nobody', utf8.encode('x'))), 'UNKNOWN_USER')
    assert.is(await errorCode(() => alice!.pluginsOf('nobody')), 'UNKNOWN_USER')
    assert.is(await errorCode(() => alice!.latency('nobody')), 'UNKNOWN_USER')
    assert.is(await errorCode(() => chat.send('bob', 'text' as unknown as Uint8Array)), 'BAD_ARGUMENT')
    assert.is(await errorCode(() => chat.send(42 as unknown as string, utf8.encode('x'))), 'BAD_ARGUMENT')
    assert.is(await errorCode(() => chat.broadcast(utf8.encode('x'), { encrypted: true })), 'BAD_ARGUMENT')
    assert.is(await errorCode(() => alice!.plugin(70000)), 'BAD_ARGUMENT')
    assert.is(await errorCode(() => alice!.plugin(CHAT + 1, { groupKey: new Uint8Array(5) })), 'BAD_OPTION')
    assert.is(await errorCode(() => alice!.users(-1)), 'BAD_ARGUMENT')
    assert.is(await errorCode(() => chat.send('bob', new Uint8Array(1001))), 'MESSAGE_TOO_LARGE')
    assert.is(await errorCode(() => chat.broadcast(new Uint8Array(1001))), 'MESSAGE_TOO_LARGE')
    assert.is(await errorCode(() => alice!.start()), 'ALREADY_STARTED')
    chat.close()
    assert.is(await errorCode(() => chat.send('bob', utf8.encode('x'))), 'CLOSED')
    assert.is(await errorCode(() => chat.broadcast(utf8.encode('x'))), 'CLOSED')
    await alice!.stop()
    assert.is(await errorCode(() => alice!.plugin(CHAT)), 'CLOSED')
    assert.is(await errorCode(() => alice!.start()), 'CLOSED')
    assert.is(await errorCode(() => alice!.latency('bob')), 'NOT_STARTED')
  })
})

test('connect() to an address nobody listens on: UNREACHABLE, naming the address once (tcp and memory)', async () => {
  const network = new MemoryNetwork()
  for (const transport of [undefined, memoryTransport(network)]) {
    const node = await createNode({ username: 'alone', links: { min: 0, max: 2 }, ...(transport ? { transport } : {}) })
    await node.start()
    try {
      // Port 1 on loopback: refused at once (tcp); nothing listens there (memory).
      const err = await node.connect('127.0.0.1', 1).then(
        () => null,
        (e: unknown) => e,
      )
      assert.ok(isP4Error(err, 'UNREACHABLE'), `got ${String(err)}`)
      const message = (err as Error).message
      assert.is(message.split('cannot connect to 127.0.0.1:1').length - 1, 1, message)
    } finally {
      await node.stop()
    }
  }
})

test('bad options to createNode: BAD_USERNAME / BAD_OPTION', async () => {
  const cases: [string, unknown, string][] = [
    ['empty username', { username: '' }, 'BAD_USERNAME'],
    ['control character', { username: 'al\nice' }, 'BAD_USERNAME'],
    ['32-byte username', { username: 'x'.repeat(32) }, 'BAD_USERNAME'],
    ['username not a string', { username: 7 }, 'BAD_USERNAME'],
    ['port 70000', { username: 'a', port: 70000 }, 'BAD_OPTION'],
    ['port -1', { username: 'a', port: -1 }, 'BAD_OPTION'],
    ['bootstrap "nonsense"', { username: 'a', bootstrap: ['nonsense'] }, 'BAD_OPTION'],
    ['bootstrap port 0', { username: 'a', bootstrap: ['127.0.0.1:0'] }, 'BAD_OPTION'],
    ['bootstrap not an array', { username: 'a', bootstrap: '127.0.0.1:4001' }, 'BAD_OPTION'],
    ['links min > max', { username: 'a', links: { min: 5, max: 2 } }, 'BAD_OPTION'],
    ['links max > hardCap', { username: 'a', links: { max: 10, hardCap: 5 } }, 'BAD_OPTION'],
    ['unknown option', { username: 'a', colour: 'blue' }, 'BAD_OPTION'],
    ['unknown timer', { username: 'a', timers: { sometimes: 5 } }, 'BAD_OPTION'],
    ['zero timer', { username: 'a', timers: { maintenanceMs: 0 } }, 'BAD_OPTION'],
    ['profile', { username: 'a', profile: 'huge' }, 'BAD_OPTION'],
    ['transport', { username: 'a', transport: {} }, 'BAD_OPTION'],
    ['identity', { username: 'a', identity: { publicKey: 'x' } }, 'BAD_OPTION'],
    ['not an object', null, 'BAD_OPTION'],
  ]
  for (const [what, opts, code] of cases) {
    assert.is(await errorCode(() => createNode(opts as NodeOptions), what), code, what)
  }
})

// resolveOptions() validates `trust`, so a bad trust config fails in
// createNode(), where the caller passed it, not later in start().
test('bad trust config is rejected by createNode (BAD_OPTION), not later by start()', async () => {
  const cases: [string, unknown][] = [
    ['unknown policy', { policy: 'everyone' }],
    ['allowlist without keys', { policy: 'allowlist', keys: [] }],
    ['authority with a short key', { policy: 'authority', authorityKey: 'abcd' }],
  ]
  for (const [what, trust] of cases) {
    let node: Node | undefined
    let code = 'none'
    try {
      node = await createNode({ username: 'a', trust } as NodeOptions)
    } catch (err) {
      code = (err as { code?: string }).code ?? String(err)
    }
    if (node) {
      // Accepted: say what start() does with it, and leave nothing running.
      const late = await errorCode(() => node!.start(), what).catch((e: Error) => e.message)
      await node.stop()
      assert.unreachable(`${what}: createNode accepted it; start() then gave ${late}`)
    }
    assert.is(code, 'BAD_OPTION', what)
  }
})

test('API before start: NOT_STARTED', async () => {
  const node = await createNode({ username: 'early' })
  try {
    const chat = node.plugin(CHAT)
    assert.is(await errorCode(() => node.address), 'NOT_STARTED')
    assert.is(await errorCode(() => node.latency('bob')), 'NOT_STARTED')
    assert.is(await errorCode(() => chat.send('bob', utf8.encode('x'))), 'NOT_STARTED')
    assert.is(await errorCode(() => chat.broadcast(utf8.encode('x'))), 'NOT_STARTED')
    // Queries answer with what is known: only this node.
    assert.equal(node.users(), ['early'])
    assert.equal(chat.users(), ['early'])
    assert.equal(node.links(), [])
    assert.is(node.running, false)
  } finally {
    await node.stop()
  }
})

test.run()
