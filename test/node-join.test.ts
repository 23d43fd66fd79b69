// start() joins before it resolves; waitForUser() waits for a user (and its
// plugin) with a deadline; status() says whether the node is in a network and
// why not; address is the bound address, advertisedAddress what HELLO says.
// Time is a ManualClock on the memory transport, except the tcp address test.
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { createNode, isP4Error, type ManualClock, memoryTransport, type Node, type NodeOptions } from '../ts/index.js'
import { clockedNetwork, stopUnderClock } from './helpers/memory-world.js'
import { errorCode } from './helpers/errors.js'
import { test } from './helpers/test.js'

interface World {
  clock: ManualClock
  make(username: string, opts?: Partial<NodeOptions>): Promise<Node>
  stop(): Promise<void>
}

function world(): World {
  const { clock, network } = clockedNetwork()
  const nodes: Node[] = []
  return {
    clock,
    async make(username, opts = {}) {
      const n = await createNode({ username, transport: memoryTransport(network), clock, ...opts })
      nodes.push(n)
      return n
    },
    stop: () => stopUnderClock(clock, nodes, 'nodes stopped'),
  }
}

test('start() with a bootstrap resolves joined: the bootstrap user and its plugins are known, status() says joined', async () => {
  const w = world()
  try {
    const bob = await w.make('bob')
    bob.plugin(7)
    assert.is(bob.status().state, 'new')
    await bob.start()
    assert.is(bob.status().state, 'alone', 'nobody to join')
    const alice = await w.make('alice', { bootstrap: [bob.address] })
    const joined: string[] = []
    alice.on('joined', () => joined.push('joined'))
    await alice.start()
    // Before, start() resolved on listening: bob was not known yet.
    assert.equal(alice.users(7), ['bob'])
    assert.equal(joined, ['joined'])
    const { reachability, ...status } = alice.status()
    assert.equal(status, { state: 'joined', links: 1, reasons: [] })
    assert.is(reachability.status, 'unknown', 'one link: too few peers to check reachability')
  } finally {
    await w.stop()
  }
})

test('waitForUser: resolves when the user comes (and runs the plugin); TIMEOUT naming why; CLOSED when the node stops', async () => {
  const w = world()
  try {
    const bob = await w.make('bob')
    await bob.start()
    const carol = await w.make('carol', { bootstrap: [bob.address] })
    // carol starts later: the wait resolves when her HELLO arrives.
    const waiting = bob.waitForUser('carol', { timeout: 5000 })
    await carol.start()
    await waiting
    // The plugin comes after the user: the wait resolves on carol's new HELLO.
    let ran = false
    const forPlugin = bob.waitForUser('carol', { plugin: 9, timeout: 5000 }).then(() => (ran = true))
    await w.clock.advance(10)
    assert.is(ran, false)
    carol.plugin(9)
    await w.clock.until(() => ran, 1000, 'the wait for carol on plugin 9')
    await forPlugin
    // Nobody called dave: TIMEOUT after the deadline of clock time, not before.
    let failure: unknown
    const dave = bob.waitForUser('dave', { timeout: 3000 }).catch((e: unknown) => (failure = e))
    await w.clock.advance(2999)
    assert.is(failure, undefined)
    await w.clock.advance(1)
    await dave
    assert.ok(isP4Error(failure, 'TIMEOUT'), String(failure))
    assert.match((failure as Error).message, /^no user "dave" after 3000 ms/)
    // carol runs no plugin 10: the error says so.
    const p10 = bob.waitForUser('carol', { plugin: 10, timeout: 100 }).catch((e: unknown) => e as Error)
    await w.clock.advance(100)
    assert.match(((await p10) as Error).message, /carol is online but does not run plugin 10/)
    // Bad arguments, and the node stopping under a wait.
    assert.is(await errorCode(() => bob.waitForUser('has space')), 'BAD_USERNAME')
    assert.is(await errorCode(() => bob.waitForUser('dave', { timeout: -1 })), 'BAD_ARGUMENT')
    assert.is(await errorCode(() => bob.waitForUser('dave', { plugin: 70000 })), 'BAD_ARGUMENT')
    assert.is(await errorCode(() => bob.waitForUser('dave', { nope: 1 } as never)), 'BAD_ARGUMENT')
    const pending = bob.waitForUser('erin', { timeout: 60_000 }).catch((e: unknown) => e)
    await w.stop()
    assert.ok(isP4Error(await pending, 'CLOSED'))
    assert.is(await errorCode(() => bob.waitForUser('erin')), 'NOT_STARTED')
  } finally {
    await w.stop()
  }
})

test('start(): joinTimeout is validated; 0 resolves at once on listening', async () => {
  const w = world()
  try {
    const lone = await w.make('lone', { bootstrap: ['10.9.9.9:4001'] })
    assert.is(await errorCode(() => lone.start({ joinTimeout: 1.5 })), 'BAD_ARGUMENT')
    assert.is(await errorCode(() => lone.start({ wait: true } as never)), 'BAD_ARGUMENT')
    assert.is(lone.status().state, 'new', 'a refused call did not start it')
    await lone.start({ joinTimeout: 0 })
    assert.is(lone.running, true)
    assert.is(lone.links().length, 0)
  } finally {
    await w.stop()
  }
})

test('node.address is the bound address; advertisedAddress is what HELLO announces', async () => {
  const node = await createNode({ username: 'addr', host: '127.0.0.1', port: 0, advertiseHost: 'node.example' })
  assert.is(await errorCode(() => node.address), 'NOT_STARTED')
  await node.start()
  try {
    assert.is(node.address.host, '127.0.0.1')
    assert.ok(node.address.port > 0)
    assert.equal(node.advertisedAddress, { host: 'node.example', port: node.address.port })
  } finally {
    await node.stop()
  }
})

test('Node events are typed', () => {
  // Compile-time checks: each line fails to compile if the events lose their types.
  const check = (node: Node): void => {
    node.on('link-up', (l) => void l.username.toUpperCase())
    node.on('warning', (e) => void e.code)
    // @ts-expect-error a user name is a string
    node.on('user-joined', (n: number) => n)
    // @ts-expect-error a link is a LinkInfo
    node.once('link-up', (l: string) => l)
    node.off('warning', (e) => void e.code)
  }
  assert.type(check, 'function')
})

test('the published types show no internal method: what plugins call and Plugin.deliver are not public', () => {
  const dts = (name: string): string => readFileSync(fileURLToPath(new URL(`../ts/${name}.d.ts`, import.meta.url)), 'utf8')
  const node = dts('node')
  const plugin = dts('plugin')
  for (const m of ['pluginSend', 'pluginBroadcast', 'pluginClosed']) {
    assert.not.match(node, new RegExp(`^\\s+(public )?${m}\\(`, 'm'), `${m} is not public in node.d.ts`)
  }
  assert.not.match(node, /implements PluginHost/)
  assert.not.match(plugin, /\bdeliver\b/, 'Plugin.deliver is not in plugin.d.ts')
  // What users call is there.
  assert.match(node, /waitForUser\(user: string/)
  assert.match(plugin, /send\(user: string, data: Uint8Array/)
})

test.run()
