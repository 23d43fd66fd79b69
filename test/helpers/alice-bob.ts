// Two nodes, alice (10.0.0.1) and bob (10.0.0.2), on a memory network under
// one ManualClock, linked to each other and each running `plugin`: the
// setup of the send-path tests.
import { createNode, type ManualClock, memoryTransport, type MemoryNetwork, type Node, type NodeOptions, type PluginOptions } from '../../ts/index.js'
import { clockedNetwork, stopUnderClock } from './memory-world.js'

export const ALICE_HOST = '10.0.0.1'
export const BOB_HOST = '10.0.0.2'

export interface AliceBob {
  network: MemoryNetwork
  clock: ManualClock
  alice: Node
  bob: Node
  stop(): Promise<void>
}

export interface AliceBobOptions {
  plugin: number
  pluginOptions?: PluginOptions
  /** The link between the two hosts (MemoryNetwork.setLink). */
  shape?: { delayMs?: number; bytesPerSecond?: number }
  /** More createNode options, both nodes. */
  options?: Partial<NodeOptions>
  /** Runs once both nodes exist, before they start. */
  beforeStart?(alice: Node, bob: Node): void
}

export async function aliceAndBob(o: AliceBobOptions): Promise<AliceBob> {
  const { clock, network } = clockedNetwork()
  if (o.shape) network.setLink(ALICE_HOST, BOB_HOST, o.shape)
  const make = (host: string, username: string): Promise<Node> =>
    createNode({ username, host, transport: memoryTransport(network, { host }), links: { min: 0, max: 4 }, clock, ...o.options })
  const alice = await make(ALICE_HOST, 'alice')
  const bob = await make(BOB_HOST, 'bob')
  o.beforeStart?.(alice, bob)
  alice.plugin(o.plugin, o.pluginOptions)
  bob.plugin(o.plugin, o.pluginOptions)
  await alice.start()
  await bob.start()
  let linked = false
  void alice.connect(BOB_HOST, bob.address.port).then(() => (linked = true))
  await clock.until(() => linked && alice.users(o.plugin).includes('bob') && bob.users(o.plugin).includes('alice'), 10_000, 'alice and bob linked')
  return {
    network,
    clock,
    alice,
    bob,
    stop: () => stopUnderClock(clock, [alice, bob]),
  }
}
