// Membership through the public API: user events, a clean stop seen
// everywhere, plugin lists, the LKA table handed to newcomers, two groups
// merging, and a user roaming to another address with the same identity.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { generateIdentity, type Node } from '../ts/index.js'
import { errorCode } from './helpers/errors.js'
import { inbox, isConverged, waitFor, withNet, type TestNet } from '../common/net.js'

const CHAT = 7
const utf8 = new TextEncoder()
const text = new TextDecoder()

/** Per node: every event `name` it emitted, with the username it carried. */
function recorder(name: string): { events: Map<string, string[]>; attach: (node: Node) => void } {
  const events = new Map<string, string[]>()
  return {
    events,
    attach(node) {
      const list: string[] = []
      events.set(node.username, list)
      node.on(name, (user: string) => list.push(user))
    },
  }
}

test("'user-joined' fires exactly once per other user at every node", async () => {
  const joined = recorder('user-joined')
  await withNet({ n: 6, transport: 'memory', clock: 'manual', seed: 3, plugins: [CHAT], onCreate: (node) => joined.attach(node) }, async (net) => {
    const { nodes } = net
    for (const node of nodes) {
      const others = nodes.map((x) => x.username).filter((u) => u !== node.username)
      assert.equal([...joined.events.get(node.username)!].sort(), others, `${node.username} user-joined events`)
    }
  })
})

test("a node that stops disappears from users() everywhere; 'user-left' fires at each node", async () => {
  const left = recorder('user-left')
  const linkDown = new Map<string, string[]>()
  const onCreate = (node: Node): void => {
    left.attach(node)
    const downs: string[] = []
    linkDown.set(node.username, downs)
    node.on('link-down', (l: { username: string }) => downs.push(l.username))
  }
  await withNet({ n: 6, transport: 'memory', clock: 'manual', seed: 4, plugins: [CHAT], onCreate }, async (net) => {
    const { nodes } = net
    const gone = nodes[3]!
    const neighbours = gone.links().map((l) => l.username)
    assert.ok(neighbours.length > 0)
    for (const downs of linkDown.values()) downs.length = 0
    await gone.stop()
    const rest = nodes.filter((x) => x !== gone)
    await net.until(() => rest.every((x) => !x.users().includes(gone.username)), 5000, `${gone.username} to disappear everywhere`)
    for (const x of rest) {
      assert.equal(left.events.get(x.username), [gone.username], `${x.username} user-left events`)
      assert.not.ok(x.users(CHAT).includes(gone.username))
      assert.is(await errorCode(() => x.pluginsOf(gone.username)), 'UNKNOWN_USER')
      assert.is(await errorCode(() => x.plugin(CHAT).send(gone.username, utf8.encode('x'))), 'UNKNOWN_USER')
      assert.not.ok(x.links().some((l) => l.username === gone.username), `${x.username} dropped its link`)
      const downs = linkDown.get(x.username)!.filter((u) => u === gone.username)
      assert.is(downs.length, neighbours.includes(x.username) ? 1 : 0, `${x.username}: 'link-down' for ${gone.username}`)
    }
    // The rest still form one network.
    const got = rest.map((x) => inbox(x.plugin(CHAT)))
    await rest[0]!.plugin(CHAT).broadcast(utf8.encode('still here'))
    await net.until(() => got.slice(1).every((g) => g.length === 1), 5000, 'a broadcast among the rest')
  })
})

test('plugin list updates reach every node: start, close, users(plugin)', async () => {
  await withNet({ n: 6, transport: 'memory', clock: 'manual', seed: 5, plugins: [CHAT] }, async (net) => {
    const { nodes } = net
    const who = nodes[2]!
    const others = nodes.filter((x) => x !== who)
    const games = who.plugin(42)
    await net.until(() => others.every((x) => x.pluginsOf(who.username).includes(42)), 5000, 'the new plugin everywhere')
    for (const x of others) {
      assert.equal(x.pluginsOf(who.username), [CHAT, 42])
      assert.equal(x.users(42), [who.username])
    }
    nodes[4]!.plugin(42)
    await net.until(() => nodes.every((x) => x.users(42).length === 2), 5000, 'two players everywhere')
    assert.equal(nodes[0]!.users(42), [who.username, nodes[4]!.username].sort())
    games.close()
    await net.until(() => others.every((x) => !x.pluginsOf(who.username).includes(42)), 5000, 'the closed plugin gone everywhere')
    for (const x of nodes) assert.equal(x.users(42), [nodes[4]!.username])
    assert.equal(nodes[0]!.pluginsOf(who.username), [CHAT])
  })
})

test('LKA on join: a newcomer with a single link learns every user from its LKA_ACK', async () => {
  await withNet({ n: 8, transport: 'memory', clock: 'manual', seed: 6, plugins: [CHAT] }, async (net) => {
    const joined: string[] = []
    const late = await net.add({ username: 'late', links: { min: 1, max: 1 } }, [net.nodes[5]!])
    late.on('user-joined', (u: string) => joined.push(u))
    const everyone = [...net.nodes.map((x) => x.username), 'late'].sort()
    await net.until(() => late.users().length === everyone.length, 5000, () => `late to know everyone (has ${late.users().join(',')})`)
    assert.equal(late.users(), everyone)
    assert.equal(late.users(CHAT), net.nodes.map((x) => x.username).sort())
    assert.equal(late.links().map((l) => l.username), [net.nodes[5]!.username])
    await net.until(() => net.nodes.every((x) => x.users().includes('late')), 5000, 'everyone to know late')
  })
})

// Two groups that meet through a bridge learn each other's earlier members
// through LKA (lka-sync.ts asks more than the first link and pushes back what
// an answer lacked), not only at the next HELLO refresh (helloRefreshMs).
test('two groups joined by a bridge node learn each other (LKA)', async () => {
  await withNet({ n: 3, transport: 'memory', clock: 'manual', seed: 7, topology: 'chain', options: (i) => ({ username: ['a1', 'a2', 'a3'][i]!, links: { min: 1 } }) }, async (net) => {
    // Group B grows from a node that knew nobody: b1 alone, then b2 and b3 join it.
    const b1 = await net.add({ username: 'b1', bootstrap: [], links: { min: 1 } }, [])
    const b2 = await net.add({ username: 'b2', links: { min: 1 } }, [b1])
    const b3 = await net.add({ username: 'b3', links: { min: 1 } }, [b2])
    const groupA = net.nodes
    const groupB = [b1, b2, b3]
    await net.until(() => isConverged(groupB), 5000, 'group B to converge')
    // The bridge links one node of each group.
    const bridge = await net.add({ username: 'bridge', links: { min: 2 } }, [groupA[2]!, b3])
    const all = [...groupA, ...groupB, bridge]
    const names = all.map((x) => x.username).sort()
    await net.until(
      () => all.every((x) => x.users().length === names.length),
      5000,
      () => `every node to know all ${names.length} users:\n  ${all.map((x) => `${x.username}: ${x.users().join(',')}`).join('\n  ')}`,
    )
    for (const x of all) assert.equal(x.users(), names)
  })
})

/** Every node of `all` comes to know every other, and a broadcast from `from` reaches `to`. */
async function expectMerged(net: TestNet, all: Node[], from: Node, to: Node, timeoutMs: number): Promise<void> {
  const names = all.map((x) => x.username).sort()
  await net.until(
    () => all.every((x) => x.users().length === names.length),
    timeoutMs,
    () => `every node to know all ${names.length} users:\n  ${all.map((x) => `${x.username} (${x.links().length} links): ${x.users().join(',')}`).join('\n  ')}`,
  )
  await net.settle()
  const got = inbox(to.plugin(CHAT))
  await from.plugin(CHAT).broadcast(utf8.encode('across'))
  await net.until(() => got.length === 1, 5000, 'the broadcast to reach the island')
  assert.is(text.decode(got[0]!.data), 'across')
}

// Two nodes that joined through a node whose own bootstrap failed form an
// island: each has a link, so neither joins again, and walks find no one new.
// Short of links with walks dying, a node dials its bootstrap again (backing off).
test('an island (bootstrap down when it joined) rejoins through its bootstrap once walks find no one new', async () => {
  await withNet({ n: 3, transport: 'memory', clock: 'manual', seed: 11, plugins: [CHAT] }, async (net) => {
    const lateAddress = { host: '127.0.0.1', port: 55555 } // nothing listens there yet
    const isle = { links: { min: 2 }, timers: { walkTimeoutMs: 300 } }
    const a = await net.add({ username: 'isle-a', bootstrap: [lateAddress], ...isle }, [], [CHAT])
    const c = await net.add({ username: 'isle-c', ...isle }, [a], [CHAT])
    await net.until(() => a.links().length === 1 && c.links().length === 1, 5000, 'the island to link up')
    // The bootstrap address comes up, as part of the main network.
    const late = await net.add({ username: 'late', port: 55555 }, [net.nodes[0]!], [CHAT])
    assert.equal(late.address, lateAddress)
    await expectMerged(net, [...net.nodes, late, a, c], net.nodes[1]!, c, 10_000)
  })
})

// An island content with its links: three nodes with links.min 2 in a
// triangle, joined through one whose own bootstrap was down. No one is short
// of links, so no walk or rejoin starts; the node that never reached its
// bootstrap keeps dialling it and the island merges once it is up.
test('an island that has all the links it wants still merges once its bootstrap comes up', async () => {
  await withNet({ n: 3, transport: 'memory', clock: 'manual', seed: 15, plugins: [CHAT] }, async (net) => {
    const lateAddress = { host: '127.0.0.1', port: 55556 } // nothing listens there yet
    const isle = { links: { min: 2 } }
    const a = await net.add({ username: 'isle-a', bootstrap: [lateAddress], ...isle }, [], [CHAT])
    const b = await net.add({ username: 'isle-b', ...isle }, [a], [CHAT])
    const c = await net.add({ username: 'isle-c', ...isle }, [a, b], [CHAT])
    const island = [a, b, c]
    await net.until(() => island.every((x) => x.links().length === 2), 5000, 'the island triangle')
    const late = await net.add({ username: 'late', port: 55556 }, [net.nodes[0]!], [CHAT])
    await expectMerged(net, [...net.nodes, late, ...island], net.nodes[1]!, b, 15_000)
  })
})

// Pruning must not strand a node: one at links.min whose neighbour closes
// their link (as one too many) links a random known user instead, not the
// neighbour that pruned it. Without this, nodes pruned by their neighbours
// can end up linked only among themselves.
test('a node pruned down to links.min by a neighbour replaces the link with a known user', async () => {
  await withNet({ n: 3, transport: 'memory', clock: 'manual', seed: 16, topology: 'chain', plugins: [CHAT], options: () => ({ links: { min: 1 } }) }, async (net) => {
    const [n0, n1, n2] = net.nodes as [Node, Node, Node]
    const x = await net.add({ username: 'pruned', links: { min: 1 } }, [n0, n1], [CHAT])
    await net.settle()
    assert.equal(x.links().map((l) => l.username).sort(), [n0.username, n1.username].sort())
    assert.ok(x.users().includes(n2.username), 'x knows n2')
    assert.ok(n0.disconnect(x.username), 'n0 closed its link to x (BYE LINK_CLOSE, as a prune does)')
    await net.until(() => x.links().some((l) => l.username === n2.username), 5000, () => `x to link n2 (links: ${x.links().map((l) => l.username).join(',')})`)
    assert.not.ok(x.links().some((l) => l.username === n0.username), 'not the neighbour that pruned it')
  })
})

test('a user roams: same identity on a new address; the others follow it there', async () => {
  const bobIdentity = generateIdentity()
  await withNet(
    { n: 4, transport: 'tcp', seed: 8, plugins: [CHAT], options: (i) => ({ username: ['alice', 'bob', 'carol', 'dave'][i]!, ...(i === 1 ? { identity: bobIdentity } : {}) }) },
    async (net) => {
      const [alice, oldBob, carol] = net.nodes as [Node, Node, Node]
      const seen: string[] = []
      for (const ev of ['user-left', 'user-joined', 'user-moved']) alice.on(ev, (u: string) => u === 'bob' && seen.push(ev))
      await alice.plugin(CHAT).send('bob', utf8.encode('to the old bob'))
      const oldPort = oldBob.address.port
      await oldBob.stop()
      await waitFor(() => !alice.users().includes('bob'), 5000, 'alice to see bob leave')
      const newBob = await net.add({ username: 'bob', identity: bobIdentity }, [carol], [CHAT])
      const atNewBob = inbox(newBob.plugin(CHAT))
      assert.is.not(newBob.address.port, oldPort)
      await waitFor(() => alice.users().includes('bob'), 5000, 'alice to see bob again')
      assert.equal(seen.slice(0, 1), ['user-left'])
      assert.ok(seen.includes('user-joined') || seen.includes('user-moved'), `alice saw bob come back (${seen.join(', ')})`)
      await alice.plugin(CHAT).send('bob', utf8.encode('to the new bob'))
      await waitFor(() => atNewBob.length === 1, 5000, 'the unicast at the new bob')
      assert.is(text.decode(atNewBob[0]!.data), 'to the new bob')
      assert.is(atNewBob[0]!.from, 'alice')
      const ms = await alice.latency('bob')
      assert.ok(Number.isFinite(ms) && ms > 0)
      const toBob = alice.links({ direct: true }).filter((l) => l.username === 'bob')
      assert.ok(toBob.length >= 1, 'alice has a session to bob')
      for (const l of toBob) assert.is(l.port, newBob.address.port, 'at the new address')
    },
  )
})

// The old node's leaving HELLO is newer than the new node's HELLO; taken as
// it stands it would mark the user offline everywhere although the user is
// still online at the new address.
test('a user who logged on at a second address stays online when the first node stops', async () => {
  const bobIdentity = generateIdentity()
  await withNet(
    { n: 4, transport: 'memory', clock: 'manual', seed: 9, plugins: [CHAT], options: (i) => ({ username: ['alice', 'bob', 'carol', 'dave'][i]!, ...(i === 1 ? { identity: bobIdentity } : {}) }) },
    async (net) => {
      const [alice, oldBob, carol, dave] = net.nodes as [Node, Node, Node, Node]
      const moved: string[] = []
      for (const x of [alice, dave]) x.on('user-moved', (u: string) => moved.push(`${x.username}:${u}`))
      const newBob = await net.add({ username: 'bob', identity: bobIdentity }, [carol], [CHAT])
      const atNewBob = inbox(newBob.plugin(CHAT))
      await net.until(() => moved.length === 2, 5000, "alice and dave seeing bob's new address")
      await oldBob.stop()
      await net.settle()
      for (const x of [alice, carol, dave]) assert.ok(x.users().includes('bob'), `${x.username} still lists bob`)
      await alice.plugin(CHAT).send('bob', utf8.encode('where are you?'))
      await net.until(() => atNewBob.length === 1, 5000, 'the unicast at the new bob')
    },
  )
})


test('a node that crashes (no BYE, no leave) is marked offline by its neighbours after a failed probe', async () => {
  await withNet({ n: 4, transport: 'memory', clock: 'manual', seed: 9, plugins: [CHAT] }, async (net) => {
    const { nodes } = net
    const dead = nodes[2]!
    const neighbours = nodes.filter((x) => x !== dead && x.links().some((l) => l.username === dead.username))
    assert.ok(neighbours.length > 0)
    // Crash: its listener gone, every session dropped without a BYE or a leaving HELLO.
    net.crash(dead)
    await net.until(() => neighbours.every((x) => !x.users().includes(dead.username)), 5000, 'neighbours to mark the crashed user offline')
    // stats().users counts without listing: the same number, offline entries left out.
    for (const x of nodes) assert.is(x.stats().users, x.users().length, `${x.username} stats().users`)
    assert.is(neighbours[0]!.stats().users, nodes.length - 1)
    // latency() to an unreachable user fails and marks it offline too (already offline: UNKNOWN_USER)
    assert.is(await errorCode(() => neighbours[0]!.latency(dead.username)), 'UNKNOWN_USER')
    await dead.stop()
  })
})

// The probe rules themselves (a timeout is tried again; a finished handshake
// keeps the user online even when the PING is lost; a refusal marks it
// offline) are tested on the upkeep module with a manual clock:
// test/upkeep.test.ts.

// A node with no link has nothing else to try: its bootstrap is redialled
// within 3 x walkTimeoutMs however often the dial failed (here four
// handshakes never answered), not after the longer backoff of a node with
// links: with no link, a bootstrap that timed out while busy would otherwise
// keep the node out of the network for long.
test('a node with no link redials its bootstrap within 3 x walkTimeoutMs after repeated failures', async () => {
  await withNet({ n: 1, transport: 'memory', clock: 'manual', seed: 14, plugins: [CHAT] }, async (net) => {
    const [boot] = net.nodes as [Node]
    let answering = false
    const held = net.intercept(boot, () => (answering ? 'accept' : 'hold'))
    const lonely = await net.add({ username: 'lonely', links: { min: 1 }, timers: { handshakeTimeoutMs: 200, walkTimeoutMs: 300 } }, [boot], [CHAT])
    await net.until(() => held.dials() >= 4, 15_000, 'four dials of the bootstrap')
    answering = true
    await net.until(() => lonely.links().some((l) => l.username === boot.username), 3000, 'the fifth dial, within 3 x walkTimeoutMs (x 1.5 jitter) of the fourth failure')
  })
})

test.run()
