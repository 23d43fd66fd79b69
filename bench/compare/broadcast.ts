// Broadcast: node 0 of a network sends MESSAGES messages of SIZE bytes; the
// trial lasts until every other node has every message (or no delivery has
// come for stallMs and the network has gone quiet: then it is incomplete and
// says how many deliveries are missing). The same trial drives p4net flooding (here) and gossipsub
// (gossipsub.ts) through BroadcastNet, in bench:compare, and p4net alone in
// bench/overlay.bench.ts. All nodes of a network live in one process.
import { performance } from 'node:perf_hooks'
import type { Node } from '../../ts/index.js'
import { startNet, waitFor, waitQuiet, type TransportName } from '../../common/net.js'

export interface BroadcastNet {
  readonly size: number
  /** Converged (p4net) or every mesh formed (gossipsub) before the trials; measured either way. */
  readonly ready: boolean
  /** Calls fn with each message node r delivers to the application; returns the off switch. */
  onDeliver(r: number, fn: (data: Uint8Array) => void): () => void
  /** Node 0 sends one message (resolves when the system accepts the next). */
  publish(data: Uint8Array): Promise<void>
  /** Receptions of a message a node had already seen, deliveries, and (p4net) frames dropped for a slow peer, over all nodes so far. */
  counters(): { duplicates: number; deliveries: number; dropped?: number }
  /** Resolves once nothing has arrived anywhere for quietMs. */
  quiet(quietMs: number): Promise<void>
  /** Links (connections) per node, mean. */
  meanLinks(): number
  /** Each link once, as [dialler, listener] node indices. */
  edges(): [number, number][]
  stop(): Promise<void>
}

export interface BroadcastTrial {
  /** First send to last delivery; null when incomplete. */
  timeMs: number | null
  duplicatesPerDelivery: number
  missing: number
  /** Messages a node delivered more than once (should be 0). */
  repeated: number
  /** Frames dropped for a slow peer during the trial (p4net; 0 where not counted). */
  dropped: number
}

/** One trial on `net`; trial numbers keep message contents apart between trials. */
export async function broadcastTrial(net: BroadcastNet, trial: number, messages: number, size: number, stallMs: number, timeoutMs: number): Promise<BroadcastTrial> {
  const receivers = net.size - 1
  const base = trial * messages
  const seen = Array.from({ length: receivers }, () => new Uint8Array(messages))
  const got = new Array<number>(receivers).fill(0)
  let complete = 0
  let repeated = 0
  let lastAt = 0
  let movedAt = 0
  const offs = Array.from({ length: receivers }, (_, r) =>
    net.onDeliver(r + 1, (data) => {
      const k = new DataView(data.buffer, data.byteOffset, 4).getUint32(0) - base
      if (k < 0 || k >= messages) return
      movedAt = performance.now()
      if (seen[r]![k]) return void repeated++
      seen[r]![k] = 1
      if (++got[r]! === messages) {
        complete++
        lastAt = performance.now()
      }
    }),
  )
  try {
    await net.quiet(200)
    const before = net.counters()
    const payload = new Uint8Array(size)
    const view = new DataView(payload.buffer)
    const t0 = performance.now()
    movedAt = t0
    for (let k = 0; k < messages; k++) {
      view.setUint32(0, base + k)
      await net.publish(payload.slice())
      movedAt = performance.now()
    }
    await waitFor(() => complete === receivers || performance.now() - movedAt > stallMs, timeoutMs, 'every message at every node', 10).catch(() => undefined)
    await net.quiet(300)
    // Deliveries that come in while the network goes quiet still count (and so does their time).
    const timeMs = complete === receivers ? lastAt - t0 : null
    const after = net.counters()
    const deliveries = after.deliveries - before.deliveries
    return {
      timeMs,
      duplicatesPerDelivery: deliveries > 0 ? (after.duplicates - before.duplicates) / deliveries : 0,
      missing: receivers * messages - got.reduce((a, b) => a + b, 0),
      repeated,
      dropped: (after.dropped ?? 0) - (before.dropped ?? 0),
    }
  } finally {
    for (const off of offs) off()
  }
}

/**
 * A p4net network of n nodes (common/net.ts: seeded random bootstrap, the
 * test timers, default link targets) on loopback TCP or the memory transport,
 * once converged or convergeMs has passed (then noted). Broadcast is
 * plugin.broadcast: signed, flooded over every link.
 */
export async function p4netBroadcastNet(n: number, plugin: number, convergeMs: number, note: (s: string) => void, transport: TransportName = 'tcp'): Promise<BroadcastNet> {
  const net = await startNet({ n, transport, seed: n, plugins: [plugin], converge: false })
  const ready = await net.waitConverged(convergeMs).then(
    () => true,
    (err: Error) => {
      note(`p4net ${n} nodes not converged after ${convergeMs} ms: ${err.message.split('\n').slice(0, 4).join('; ')}`)
      return false
    },
  )
  const nodes: Node[] = net.nodes
  const index = new Map(nodes.map((x, i) => [x.username, i]))
  const sum = (f: (s: ReturnType<Node['stats']>) => number): number => nodes.reduce((a, x) => a + f(x.stats()), 0)
  return {
    size: n,
    ready,
    onDeliver(r, fn) {
      const h = (m: { data: Uint8Array }): void => fn(m.data)
      nodes[r]!.plugin(plugin).on('message', h)
      return () => void nodes[r]!.plugin(plugin).off('message', h)
    },
    publish: (data) => nodes[0]!.plugin(plugin).broadcast(data),
    counters: () => ({ duplicates: sum((s) => s.dedupHits), deliveries: sum((s) => s.delivered), dropped: sum((s) => s.droppedSlowPeer) }),
    quiet: (ms) => waitQuiet(nodes, ms, 60_000),
    meanLinks: () => nodes.reduce((a, x) => a + x.links().length, 0) / n,
    edges() {
      const out: [number, number][] = []
      nodes.forEach((x, i) => {
        for (const l of x.links()) {
          const j = index.get(l.username)
          if (l.initiator && j !== undefined) out.push([i, j])
        }
      })
      return out
    },
    stop: () => net.stop(),
  }
}
