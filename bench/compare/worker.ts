// The processes of the harness (bench/child.ts Child), forked by
// bench/compare/run.ts, bench/session.bench.ts and bench/overlay.bench.ts (and
// by a trial process for its far end). Each loads a system's adapter only when
// an order names it, so a memory baseline taken first is bare Node. Orders
// over IPC (replies in braces):
//   { op: 'trial', spec }                   → { op: 'trial', values }: runs one
//        point-to-point trial (workloads.ts runTrial) in this fresh process
//   { op: 'serve', system, role, messages, mode?, bytes? } → { op: 'listening', address }:
//        sink: accepts one connection and counts `messages` (bulk: `bytes`), then
//        { op: 'done', messages, bytes }; echo: sends every message back,
//        on every connection it accepts
//   { op: 'idle', system, address, count, warm } → { op: 'idle', before, after }:
//        opens `count` idle connections to address (run with --expose-gc)
//   { op: 'node', system, profile?, fastTimers?, baseline? } → { op: 'node-listening', address },
//        then, once 8 peers have linked, { op: 'node', base, used, links, dedupBytes? }
//        (p4net: a node of `profile`; baseline 'kernel' takes the base
//        sample after the WASM kernel is loaded, 'bare' before anything)
//   { op: 'bnet', system, n, plugin, convergeMs, edges? } → { op: 'bnet', edges, meanLinks, notes }:
//        starts a broadcast network (p4net; gossipsub wired along `edges`)
//   { op: 'btrial', trial, messages, size, stallMs, timeoutMs } → { op: 'btrial', ...BroadcastTrial }
//   { op: 'stop' }                          → { op: 'stopped' }: closes all
//   any failure                             → { op: 'error', message }
import type { Profile } from '../../ts/index.js'
import { childMain, isMain } from '../child.js'
import type { BroadcastNet } from './broadcast.js'
import { importPeerModule, loadSystem, type Channel, type HeldNode, type Mode, type SystemName } from './system.js'
import { runTrial, serve, type Role, type Served, type TrialSpec } from './workloads.js'

export interface MemorySample {
  rss: number
  heapTotal: number
  heapUsed: number
  external: number
}

export const NODE_LINKS = 8

/** Memory after two full GCs (the process must run with --expose-gc). */
export function sample(): MemorySample {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) throw new Error('run with --expose-gc')
  gc()
  gc()
  const m = process.memoryUsage()
  return { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external }
}

export const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * Opens `count` idle connections to address and samples memory before and
 * after, one connection being open already (code loaded, first-use caches
 * filled). With `warm`, `count` connections are opened and closed first (as
 * bench/session.bench.ts measures): the heap and malloc arenas have then grown to
 * what the handshakes need transiently, and the difference is only what an
 * idle connection retains — but RSS then hides heap growth that fits in pages
 * the warm-up left resident, so the figure without warm-up is the one a
 * process actually pays, and the one the targets use.
 */
export async function measureIdle(name: SystemName, address: string, count: number, warm: boolean): Promise<{ before: MemorySample; after: MemorySample }> {
  const system = await loadSystem(name)
  try {
    if (warm) {
      const churn: Channel[] = []
      for (let i = 0; i < count; i++) churn.push(await system.dial(address))
      for (const ch of churn) ch.close()
      await Promise.all(churn.map((ch) => ch.closed))
    }
    const keep: Channel[] = [await system.dial(address)]
    await settle(200)
    const before = sample()
    for (let i = 0; i < count; i++) keep.push(await system.dial(address))
    await settle(300)
    const after = sample()
    for (const ch of keep) ch.close()
    return { before, after }
  } finally {
    await system.shutdown()
  }
}

/** How the node of the node-memory case is made (profile and timers: p4net only). */
export interface NodeSpec {
  /** The p4net profile (default: the library's default). */
  profile?: Profile
  /** The test timers (common/net.ts FAST_TIMERS) instead of the defaults. */
  fastTimers?: boolean
  /** When the base sample is taken: before anything is loaded (default), or once the WASM kernel is. */
  baseline?: 'bare' | 'kernel'
}

async function holdNode(name: SystemName, spec: NodeSpec): Promise<HeldNode> {
  if (name === 'p4net') {
    // The package entry, the bundle an application imports (bench/package-entry.ts: tsc's modules keep ~1 MiB more on the heap).
    const { createNode } = (await import('../package-entry.js')).p4net
    // Loaded only when asked for: common/net.js and what it imports would count as the node's memory.
    const timers = spec.fastTimers ? (await import('../../common/net.js')).FAST_TIMERS : undefined
    const node = await createNode({
      username: 'measured',
      profile: spec.profile,
      // The small profile keeps at most 4 links (hardCap 8): raised to hold NODE_LINKS.
      links: spec.profile === 'small' ? { max: NODE_LINKS } : undefined,
      timers,
    })
    node.plugin(PLUGIN)
    await node.start()
    return {
      address: `127.0.0.1:${node.address.port}`,
      // stats(), not links(): links() loads the native addon for its TCP figures, which would count as the node's.
      links: () => {
        const s = node.stats()
        return s.links >= NODE_LINKS && s.users > NODE_LINKS ? s.links : 0
      },
      get dedupBytes() {
        return node.stats().dedupBytes
      },
      stop: () => node.stop(),
    }
  }
  if (name === 'libp2p') return (await importPeerModule('gossipsub')).holdPubsubNode()
  const system = await loadSystem(name)
  const held: Channel[] = []
  const l = await system.listen((ch) => held.push(ch), () => {})
  return {
    address: l.address,
    links: () => held.length,
    async stop() {
      for (const ch of held) ch.close()
      await l.close()
    },
  }
}

/** The plugin ID a p4net node announces in the node-memory case. */
export const PLUGIN = 4242

/** A broadcast network of one system, for a p4net vs gossipsub case. */
async function startBroadcastNet(o: { system: 'p4net' | 'gossipsub'; n: number; plugin: number; convergeMs: number; edges?: [number, number][] }, notes: string[]): Promise<BroadcastNet> {
  const note = (s: string): void => void notes.push(s)
  if (o.system === 'p4net') return (await import('./broadcast.js')).p4netBroadcastNet(o.n, o.plugin, o.convergeMs, note)
  return (await importPeerModule('gossipsub')).gossipsubNet(o.n, o.edges ?? [], o.convergeMs, note)
}

type Order =
  | { op: 'trial'; spec: TrialSpec }
  | { op: 'bnet'; system: 'p4net' | 'gossipsub'; n: number; plugin: number; convergeMs: number; edges?: [number, number][] }
  | { op: 'btrial'; trial: number; messages: number; size: number; stallMs: number; timeoutMs: number }
  | { op: 'serve'; system: SystemName; role: Role; messages: number; mode?: Mode; bytes?: number }
  | { op: 'stop' }
  | { op: 'idle'; system: SystemName; address: string; count: number; warm: boolean }
  | ({ op: 'node'; system: SystemName } & NodeSpec)

function main(): void {
  let current: Served | null = null
  let holder: HeldNode | null = null
  let bnet: BroadcastNet | null = null
  childMain<Order>((order, { send, fail }) => {
    if (order.op === 'trial') {
      runTrial(order.spec).then((values) => send({ op: 'trial', values }), fail)
    } else if (order.op === 'bnet') {
      const notes: string[] = []
      startBroadcastNet(order, notes).then((net) => {
        bnet = net
        send({ op: 'bnet', edges: net.edges(), meanLinks: net.meanLinks(), notes })
      }, fail)
    } else if (order.op === 'btrial') {
      if (!bnet) return fail(new Error('btrial before bnet'))
      import('./broadcast.js')
        .then(({ broadcastTrial }) => broadcastTrial(bnet!, order.trial, order.messages, order.size, order.stallMs, order.timeoutMs))
        .then((r) => send({ op: 'btrial', ...r }), fail)
    } else if (order.op === 'serve') {
      serve(order.system, order.role, order.messages, order.mode, order.bytes).then((s) => {
        current = s
        send({ op: 'listening', address: s.address })
        s.result.then(
          (r) => send({ op: 'done', ...r }),
          // After 'stop' the parent has moved on: an unfinished sink is no news.
          (err) => current === s && fail(err),
        )
      }, fail)
    } else if (order.op === 'stop') {
      const s = current
      current = null
      const h = holder
      holder = null
      const b = bnet
      bnet = null
      Promise.allSettled([s?.close(), h?.stop(), b?.stop()]).then(() => send({ op: 'stopped' }))
    } else if (order.op === 'idle') {
      measureIdle(order.system, order.address, order.count, order.warm).then((m) => send({ op: 'idle', ...m }), fail)
    } else if (order.op === 'node') {
      const ready = order.baseline === 'kernel' ? import('../../ts/wasm/loader.js').then(({ kernel }) => void kernel()) : Promise.resolve()
      ready
        .then(async () => {
          const base = sample()
          const h = await holdNode(order.system, order)
          holder = h
          send({ op: 'node-listening', address: h.address })
          const deadline = Date.now() + 60_000
          while (h.links() < NODE_LINKS) {
            if (Date.now() > deadline) throw new Error(`${order.system}: ${h.links()} of ${NODE_LINKS} links after 60 s`)
            await settle(20)
          }
          await settle(500)
          send({ op: 'node', base, used: sample(), links: h.links(), dedupBytes: h.dedupBytes })
        })
        .catch(fail)
    }
  })
}

if (process.send !== undefined && isMain(import.meta.url)) main()
