// @chainsafe/libp2p-gossipsub 14 on js-libp2p 2.10 (the libp2p adapter's
// TCP + noise + yamux, plus identify, which gossipsub needs to learn who
// speaks its protocol). Gossipsub runs with its defaults — StrictSign (every
// message signed and verified, as p4net's broadcasts are), D = 6,
// floodPublish, 1 s heartbeat — but one: the IP colocation penalty is off
// (GOSSIPSUB_OPTIONS). Every node here is 127.0.0.1, and with it on, a node
// with more than 10 peers scores them all below zero and keeps an empty mesh,
// which no real deployment would see. The network is wired along the very
// links the p4net network of the same size chose, so both broadcast over one
// graph.
import { gossipsub, type GossipSub, type GossipsubEvents } from '@chainsafe/libp2p-gossipsub'
import { identify, type Identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'
import type { PubSub } from '@libp2p/interface'
import type { Libp2p } from 'libp2p'
import { waitFor } from '../../common/net.js'
import type { BroadcastNet } from './broadcast.js'
import type { HeldNode } from './system.js'
import { startLibp2p } from './libp2p.js'

export const TOPIC = 'p4net-bench'

export const GOSSIPSUB_OPTIONS = { scoreParams: { IPColocationFactorWeight: 0 } }

export type PubsubNode = Libp2p<{ identify: Identify; pubsub: PubSub<GossipsubEvents> }>

/** A started node with identify and gossipsub, subscribed to TOPIC. */
export async function startPubsubNode(listen: boolean): Promise<PubsubNode> {
  const node = await startLibp2p<{ identify: Identify; pubsub: PubSub<GossipsubEvents> }>(listen, {
    identify: identify(),
    pubsub: gossipsub(GOSSIPSUB_OPTIONS),
  })
  node.services.pubsub.subscribe(TOPIC)
  return node
}

/** A listening node whose links count once the peer's gossipsub subscription is known (node-memory case). */
export async function holdPubsubNode(): Promise<HeldNode> {
  const node = await startPubsubNode(true)
  return {
    address: node.getMultiaddrs()[0]!.toString(),
    links: () => Math.min(node.getConnections().length, node.services.pubsub.getSubscribers(TOPIC).length),
    stop: async () => void (await node.stop()),
  }
}

/** `count` non-listening nodes, each dialling `address`; stops those started if one fails. */
export async function dialPubsubPeers(address: string, count: number): Promise<{ stop(): Promise<void> }> {
  const peers: PubsubNode[] = []
  const stop = async (): Promise<void> => void (await Promise.allSettled(peers.map((p) => p.stop())))
  try {
    for (let i = 0; i < count; i++) {
      const p = await startPubsubNode(false)
      peers.push(p)
      await p.dial(multiaddr(address))
    }
  } catch (err) {
    await stop()
    throw err
  }
  return { stop }
}

/** Internals read for the duplicate count (a benchmark-only wrapper). */
interface Receiving {
  handleReceivedMessage(from: unknown, msg: { topic: string }): Promise<void>
}

/**
 * n gossipsub nodes connected along `edges`; resolves once every node sees
 * its neighbours subscribed and has a mesh (or after readyMs, noted).
 */
export async function gossipsubNet(n: number, edges: [number, number][], readyMs: number, note: (s: string) => void): Promise<BroadcastNet> {
  const nodes: PubsubNode[] = []
  let receptions = 0
  let deliveries = 0
  let lastArrival = Date.now()
  let meshes = false
  const stop = async (): Promise<void> => void (await Promise.allSettled(nodes.map((x) => x.stop())))
  try {
    for (let i = 0; i < n; i++) {
      const node = await startPubsubNode(true)
      // Every message received over the wire passes here once, duplicates included.
      const gs = node.services.pubsub as unknown as Receiving
      const inner = gs.handleReceivedMessage.bind(gs)
      gs.handleReceivedMessage = (from, msg) => {
        if (msg.topic === TOPIC) {
          receptions++
          lastArrival = Date.now()
        }
        return inner(from, msg)
      }
      node.services.pubsub.addEventListener('message', (e) => {
        if (e.detail.topic === TOPIC) deliveries++
      })
      nodes.push(node)
    }
    await Promise.all(edges.map(([a, b]) => nodes[a]!.dial(nodes[b]!.getMultiaddrs()[0]!)))
    const degree = new Array<number>(n).fill(0)
    for (const [a, b] of edges) {
      degree[a]!++
      degree[b]!++
    }
    const ready = (): boolean =>
      nodes.every((x, i) => {
        const gs = x.services.pubsub as unknown as GossipSub
        return gs.getSubscribers(TOPIC).length >= degree[i]! && gs.getMeshPeers(TOPIC).length >= Math.min(4, degree[i]!)
      })
    meshes = await waitFor(ready, readyMs, 'gossipsub meshes', 50).then(
      () => true,
      () => {
        note(`gossipsub ${n} nodes: not every mesh formed within ${readyMs} ms`)
        return false
      },
    )
  } catch (err) {
    await stop()
    throw err
  }
  return {
    size: n,
    ready: meshes,
    onDeliver(r, fn) {
      const h = (e: CustomEvent<{ topic: string; data: Uint8Array }>): void => {
        if (e.detail.topic === TOPIC) fn(e.detail.data)
      }
      const ps = nodes[r]!.services.pubsub
      ps.addEventListener('message', h)
      return () => ps.removeEventListener('message', h)
    },
    publish: async (data) => void (await nodes[0]!.services.pubsub.publish(TOPIC, data)),
    counters: () => ({ duplicates: receptions - deliveries, deliveries }),
    quiet: (ms) => waitFor(() => Date.now() - lastArrival >= ms, 60_000, 'gossipsub to go quiet', 10),
    meanLinks: () => nodes.reduce((a, x) => a + x.getConnections().length, 0) / n,
    edges: () => edges,
    stop,
  }
}
