// A small world for the relay tests: nodes on named hosts of one memory
// network, all on one ManualClock, each with plugin APP; a node can be made
// undialable (behind NAT). Every wait moves the clock, with a deadline.
import { createNode, type ManualClock, type MemoryNetwork, memoryTransport, type Node, type NodeOptions } from '../../ts/index.js'
import { clockedNetwork } from './memory-world.js'

export const APP = 7
export const PORT = 4000

export interface World {
  clock: ManualClock
  network: MemoryNetwork
  /** Creates and starts a node on `host` (port 4000 unless opts.port) bootstrapped to `via`; `privateNode`: nobody can dial it. */
  add(username: string, host: string, opts?: Partial<NodeOptions>, via?: Node[], privateNode?: boolean): Promise<Node>
  /** Awaits `p` while moving the clock (at most `ms` of clock time). */
  wait<T>(p: Promise<T>, what: string, ms?: number): Promise<T>
  until(cond: () => boolean, what: string | (() => string), ms?: number): Promise<void>
  /** The node's process dies (no goodbye). */
  crash(node: Node): void
  stop(): Promise<void>
}

/** `punching`: the network offers dialFrom (nodes announce PUNCH and punch relayed sessions). */
export async function world(netOpts: { punching?: boolean } = {}): Promise<World> {
  const { clock, network } = clockedNetwork({ wallAt: 1_700_000_000_000, ...netOpts })
  const nodes: Node[] = []
  const transports = new Map<Node, ReturnType<typeof memoryTransport>>()
  const wait = async <T>(p: Promise<T>, what: string, ms = 60_000): Promise<T> => {
    let done = false
    const watched = p.finally(() => (done = true))
    watched.catch(() => undefined)
    await clock.until(() => done, ms, what)
    return watched
  }
  const until = (cond: () => boolean, what: string | (() => string), ms = 60_000): Promise<void> => clock.until(cond, ms, what)
  return {
    clock,
    network,
    wait,
    until,
    async add(username, host, opts = {}, via = [], privateNode = false) {
      const transport = memoryTransport(network, { host })
      const port = opts.port ?? PORT
      if (privateNode) network.setDialable(host, port, false)
      const node = await createNode({
        username,
        host,
        port,
        transport,
        clock,
        links: { min: 1, max: 8 },
        bootstrap: via.map((v) => `${v.address.host}:${v.address.port}`),
        ...opts,
      })
      transports.set(node, transport)
      node.plugin(APP)
      nodes.push(node)
      await wait(node.start({ joinTimeout: 0 }), `${username} to start`)
      return node
    },
    crash(node) {
      network.crash(transports.get(node)!)
    },
    async stop() {
      await wait(Promise.all(nodes.map((n) => n.stop().catch(() => undefined))), 'the nodes to stop')
    },
  }
}
