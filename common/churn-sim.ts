// Churn and scale simulations on the memory transport, shared by
// test/churn.test.ts (small, CI) and bench/churn.bench.ts (full size).
//
// runChurn: N nodes run a plugin; broadcasts go out one after another from
// random nodes while, on an independent timer, nodes leave (node.stop()) and
// new ones join (bootstrapped to random running nodes). A broadcast's flight
// lasts from the call until every expected receiver has it (or a timeout);
// its expected receivers are the nodes that were running and linked when it
// was sent and are still running when the flight ends. After every join,
// leave and link-down the link graph of the running, joined nodes is checked
// for connectivity (BFS over node.links(); an edge counts when either end
// lists it).
//
// runScale: N nodes join one after another, the run waits until every node
// knows every user, then one broadcast is timed to every node.
import { performance } from 'node:perf_hooks'
import type { Node, NodeOptions, PluginMessage, Profile } from '../ts/index.js'
import { seededRandom } from './random.js'
import { sleep, startNet, waitFor, type TestNet } from './net.js'
import { median } from './results.js'
import { sharedVerificationHits } from '../ts/core/identity.js'

export const CHURN_PLUGIN = 4711
/** Payload numbers of the broadcasts sent before the churn. */
const QUIET_BASE = 1_000_000

export interface ChurnOptions {
  /** Nodes at the start. */
  n: number
  /** Fraction of the starting nodes that leave during the run (e.g. 0.2). */
  leaveFraction: number
  /** New nodes that join during the run. */
  joins: number
  /** Broadcasts sent (one after another) while nodes leave and join. */
  broadcasts: number
  seed: number
  /** Link targets (default: the library's defaults). */
  links?: NodeOptions['links']
  profile?: Profile
  /** Give up on a broadcast's missing receivers after this long (default 5000 ms). */
  flightTimeoutMs?: number
  /** Progress lines (bench). */
  log?: (line: string) => void
  /**
   * 'manual': the nodes run on one ManualClock (startNet clock: 'manual'):
   * churn events fire on its timers, broadcasts go out `broadcastEveryMs`
   * apart in its time, flights are measured in it, and the run takes no real
   * time beyond the work (tests). Default: real time (benches).
   */
  clock?: 'manual'
  /** Clock time between one broadcast's flight and the next (default 0 in real time, 15 ms on a manual clock). */
  broadcastEveryMs?: number
}

export interface Miss {
  broadcast: number
  node: string
  /** The node's links when the broadcast was sent, and which of those nodes left during the flight. */
  linksAtSend: string[]
  neighboursLeft: string[]
  /** How long the node had been linked when the broadcast was sent (ms). */
  linkedForMs: number
  sender: string
}

export interface ChurnReport {
  nodesAtStart: number
  left: number
  joined: number
  broadcasts: number
  /** (broadcast, receiver) pairs expected and delivered. */
  expected: number
  delivered: number
  ratio: number
  /** Deliveries of a broadcast a plugin had already delivered (must be 0). */
  duplicateDeliveries: number
  /** Copies a node received and dropped as already seen, per delivery (flooding redundancy, measured before the churn). */
  redundantCopiesPerDelivery: number
  misses: Miss[]
  /** Link-graph checks made, and how many found more than one component. */
  graphChecks: number
  partitions: number
  maxComponents: number
  /** Longest flight (ms) and the median. */
  maxFlightMs: number
  medianFlightMs: number
  startMs: number
  runMs: number
  heapUsedMB: number
  rssMB: number
}

interface Tracked {
  node: Node
  got: Map<number, number>
  /** True once the node has had a link (joined the graph). */
  joined: boolean
  /** When it first had a link. */
  joinedAt: number
}

/** Rejects with a description when `p` takes longer than `ms` (a hang becomes a failure). */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`churn: ${what} did not finish within ${ms} ms`)), ms)
    }),
  ])
}


/** Components of the link graph over `nodes` (edges to nodes outside the set are ignored). */
export function components(nodes: Node[]): number {
  const index = new Map(nodes.map((x, i) => [x.username, i]))
  const adj: number[][] = nodes.map(() => [])
  nodes.forEach((x, i) => {
    for (const l of x.links()) {
      const j = index.get(l.username)
      if (j !== undefined) {
        adj[i]!.push(j)
        adj[j]!.push(i)
      }
    }
  })
  const seen = new Uint8Array(nodes.length)
  let count = 0
  for (let s = 0; s < nodes.length; s++) {
    if (seen[s]) continue
    count++
    const stack = [s]
    seen[s] = 1
    while (stack.length > 0) {
      for (const j of adj[stack.pop()!]!) {
        if (!seen[j]) {
          seen[j] = 1
          stack.push(j)
        }
      }
    }
  }
  return count
}

function payload(k: number): Uint8Array {
  const b = new Uint8Array(64)
  new DataView(b.buffer).setUint32(0, k)
  return b
}

export async function runChurn(o: ChurnOptions): Promise<ChurnReport> {
  let clockOf: TestNet['clock']
  const now = (): number => (clockOf ? clockOf.now() : performance.now())
  const random = seededRandom(o.seed)
  const log = o.log ?? (() => undefined)
  const flightTimeoutMs = o.flightTimeoutMs ?? 5000
  const tracked = new Map<string, Tracked>()
  let duplicateDeliveries = 0
  let graphChecks = 0
  let partitions = 0
  let maxComponents = 1
  let measuring = false
  const common = (): Partial<NodeOptions> => ({ links: o.links, profile: o.profile })

  const track = (node: Node): void => {
    const t: Tracked = { node, got: new Map(), joined: false, joinedAt: 0 }
    tracked.set(node.username, t)
    node.plugin(CHURN_PLUGIN).on('message', (m: PluginMessage) => {
      const k = new DataView(m.data.buffer, m.data.byteOffset, m.data.byteLength).getUint32(0)
      if (t.got.has(k)) duplicateDeliveries++
      else t.got.set(k, now())
    })
    node.on('link-up', () => {
      if (!t.joined) t.joinedAt = now()
      t.joined = true
    })
    node.on('link-down', () => {
      if (measuring) checkGraph()
    })
  }

  const linkedBothWays = (node: Node): boolean =>
    node.links().some((l) => {
      const other = tracked.get(l.username)?.node
      return other !== undefined && other.running && other.links().some((b) => b.username === node.username)
    })
  const running = (): Tracked[] => [...tracked.values()].filter((t) => t.node.running)
  const checkGraph = (): void => {
    const up = running().filter((t) => t.joined)
    if (up.length < 2) return
    graphChecks++
    const c = components(up.map((t) => t.node))
    if (c > 1) partitions++
    if (c > maxComponents) maxComponents = c
  }

  const t0 = performance.now()
  const net: TestNet = await startNet({
    n: o.n,
    transport: 'memory',
    seed: o.seed,
    ...(o.clock ? { clock: o.clock } : {}),
    options: common,
    onCreate: (node) => track(node),
    convergeTimeoutMs: 120_000,
  })
  // The run's own times (flights, joins): the nodes' clock when it is manual.
  clockOf = net.clock
  const startMs = performance.now() - t0
  log(`${o.n} nodes converged in ${(startMs / 1000).toFixed(1)} s`)
  // Flooding redundancy on the settled network first: copies dropped as
  // already seen per delivery, over a few broadcasts with no churn.
  const quietBroadcasts = 10
  const quietBefore = sumDedupHits(net.nodes)
  for (let k = 0; k < quietBroadcasts; k++) await net.nodes[k % net.nodes.length]!.plugin(CHURN_PLUGIN).broadcast(payload(QUIET_BASE + k))
  await net.until(() => net.nodes.every((x) => [...Array(quietBroadcasts).keys()].every((k) => tracked.get(x.username)!.got.has(QUIET_BASE + k) || net.nodes[k % net.nodes.length] === x)), 30_000, 'the quiet broadcasts')
  // Every copy in flight arrived (duplicates included): a manual clock's idle
  // network, or in real time a link barrier.
  await net.settle()
  const redundantCopiesQuiet = (sumDedupHits(net.nodes) - quietBefore) / (quietBroadcasts * (net.nodes.length - 1))
  measuring = true
  const initial = [...net.nodes]
  const toLeave = Math.round(o.n * o.leaveFraction)
  let left = 0
  let joined = 0
  const misses: Miss[] = []
  let expected = 0
  let delivered = 0
  const flights: number[] = []
  const t1 = performance.now()
  const broadcastEveryMs = o.broadcastEveryMs ?? (net.clock ? 15 : 0)
  // A pause of the churn loop: on a manual clock a timer of it (the main loop moves time), else real time.
  const pause = (ms: number): Promise<void> => (net.clock ? new Promise((r) => void net.clock!.setTimeout(r, ms)) : sleep(ms))
  let churnDone = false

  try {
    // Churn: leaves and joins interleaved, spread over the broadcasts.
    const events = toLeave + o.joins
    const churn = (async () => {
      let joinsLeft = o.joins
      let leavesLeft = toLeave
      for (let e = 0; e < events; e++) {
        await pause(5 + Math.floor(random() * 40))
        const leave = leavesLeft > 0 && (joinsLeft === 0 || random() < leavesLeft / (leavesLeft + joinsLeft))
        if (leave) {
          const candidates = initial.filter((x) => x.running)
          const victim = candidates[Math.floor(random() * candidates.length)]!
          leavesLeft--
          left++
          await within(10_000, victim.stop(), `${victim.username}.stop()`)
        } else {
          // Two distinct bootstrap nodes: a newcomer starts with two links, as a
          // node should that is given more than one address.
          const up = running().filter((t) => t.joined).map((t) => t.node)
          const first = Math.floor(random() * up.length)
          const second = (first + 1 + Math.floor(random() * (up.length - 1))) % up.length
          joinsLeft--
          joined++
          const name = `j${String(joined).padStart(3, '0')}`
          const node = await within(10_000, net.add({ username: name, ...common() }, [up[first]!, up[second]!], []), `${name} joining`)
          track(node)
        }
        checkGraph()
      }
    })().finally(() => (churnDone = true))

    for (let k = 0; k < o.broadcasts; k++) {
      const senders = running().filter((t) => t.joined)
      const sender = senders[Math.floor(random() * senders.length)]!
      // Up = part of the link graph: a link that both of its ends list.
      const receiversAtSend = running().filter((t) => t !== sender && t.joined && linkedBothWays(t.node))
      const linksAtSend = new Map(receiversAtSend.map((t) => [t, t.node.links().map((l) => l.username)]))
      const sentAt = now()
      await sender.node.plugin(CHURN_PLUGIN).broadcast(payload(k))
      // The flight ends when every receiver still running has the message.
      const waiting = (): Tracked[] => receiversAtSend.filter((t) => t.node.running && !t.got.has(k))
      await net.until(() => waiting().length === 0, flightTimeoutMs, '').catch(() => undefined)
      flights.push(now() - sentAt)
      for (const t of receiversAtSend) {
        if (!t.node.running) continue // left during the flight: not expected
        expected++
        if (t.got.has(k)) delivered++
        else {
          const linksThen = linksAtSend.get(t)!
          misses.push({
            broadcast: k,
            node: t.node.username,
            linksAtSend: linksThen,
            neighboursLeft: linksThen.filter((u) => !tracked.get(u)?.node.running),
            linkedForMs: Math.round(sentAt - t.joinedAt),
            sender: sender.node.username,
          })
        }
      }
      if (k % 20 === 19) log(`broadcast ${k + 1}/${o.broadcasts}: ${running().length} running, ${left} left, ${joined} joined`)
      if (broadcastEveryMs > 0) await net.sleep(broadcastEveryMs)
    }
    // On a manual clock the churn's pauses end only as time moves.
    if (net.clock) await net.until(() => churnDone, 60_000, 'the churn to finish')
    await churn
  } catch (err) {
    await net.stop()
    throw err
  }
  measuring = false
  const runMs = performance.now() - t1
  const mem = process.memoryUsage()
  const report: ChurnReport = {
    nodesAtStart: o.n,
    left,
    joined,
    broadcasts: o.broadcasts,
    expected,
    delivered,
    ratio: expected === 0 ? 1 : delivered / expected,
    duplicateDeliveries,
    redundantCopiesPerDelivery: redundantCopiesQuiet,
    misses,
    graphChecks,
    partitions,
    maxComponents,
    maxFlightMs: Math.max(0, ...flights),
    medianFlightMs: median(flights),
    startMs,
    runMs,
    heapUsedMB: mem.heapUsed / 2 ** 20,
    rssMB: mem.rss / 2 ** 20,
  }
  await net.stop()
  return report
}


/** Dedup hits (copies dropped as already seen) summed over nodes; includes HELLO floods. */
function sumDedupHits(nodes: Node[]): number {
  let n = 0
  for (const x of nodes) if (x.running) n += x.stats().dedupHits
  return n
}

export interface ScaleOptions {
  n: number
  /** Overrides the profile's LKA bound (the small profile holds 512 users). */
  maxUsers?: number
  seed: number
  profile?: Profile
  links?: NodeOptions['links']
  convergeTimeoutMs?: number
  log?: (line: string) => void
  /** Called with the nodes after the last measurement, before they stop (e.g. to explain what is missing). */
  onEnd?: (nodes: Node[], missedBroadcast: Node[]) => void
}

/** Lines on nodes the timed broadcast did not reach: their links and the counters that drop frames, theirs and their neighbours'. */
export function explainMissedBroadcast(nodes: Node[], missed: Node[], max = 5): string[] {
  const byName = new Map(nodes.map((x) => [x.username, x]))
  const drops = (x: Node): string => {
    const st = x.stats()
    return `dropped ${st.dropped} slow ${st.droppedSlowPeer} relayDropped ${st.relayDropped} dedupHits ${st.dedupHits} cut ${JSON.stringify(st.cutOffReasons)}`
  }
  return missed.slice(0, max).map((y) => {
    const nbs = y.links().map((l) => `${l.username}[${byName.get(l.username) ? drops(byName.get(l.username)!) : '?'}]`)
    return `${y.username} missed the broadcast; ${drops(y)}; links ${nbs.join(' ')}`
  })
}

/** Lines on the users most nodes still do not know: their links (and whether the other end has them too), counters, and what their neighbours know. */
export function explainMissing(nodes: Node[], max = 5): string[] {
  const known = new Map(nodes.map((x) => [x, new Set(x.users())]))
  const unknownAt = new Map<Node, number>()
  for (const y of nodes) {
    let c = 0
    for (const x of nodes) if (x !== y && !known.get(x)!.has(y.username)) c++
    if (c > 0) unknownAt.set(y, c)
  }
  const byName = new Map(nodes.map((x) => [x.username, x]))
  const out: string[] = []
  for (const [y, c] of [...unknownAt].sort((a, b) => b[1] - a[1]).slice(0, max)) {
    const st = y.stats()
    const links = y.links().map((l) => `${l.username}${byName.get(l.username)?.links().some((m) => m.username === y.username) ? '' : '(one-sided)'}${byName.get(l.username) && known.get(byName.get(l.username)!)!.has(y.username) ? '' : '(knows not)'}`)
    const boots = (y.options.bootstrap ?? []).map((a) => {
      const port = typeof a === 'string' ? Number(a.slice(a.lastIndexOf(':') + 1)) : a.port
      const b = nodes.find((x) => x.running && x.address.port === port)
      return b ? `${b.username}(${b.links().length} links${known.get(y)!.has(b.username) ? ', known' : ''})` : String(port)
    })
    out.push(
      `${y.username} unknown at ${c} nodes; it knows ${st.users} users; bootstrap ${boots.join(' ')}; handshake failures ${st.handshakeFailures}; links ${links.join(' ')}; in/out frames ${st.framesIn}/${st.framesOut}; ` +
        `dropped ${st.dropped} slow ${st.droppedSlowPeer} stale ${st.staleHello} unknownOrigin ${st.unknownOrigin} bad ${st.badFrame} relayDropped ${st.relayDropped} cut ${JSON.stringify(st.cutOffReasons)}`,
    )
  }
  return out
}

export interface ScaleReport {
  n: number
  profile: Profile
  /** All nodes created and started (each bootstrapped to 1–2 earlier ones). */
  joinMs: number
  /** From the last start until 99 % and 99.99 % of all (node, user) pairs are known, and until all are (NaN: not within the deadline). */
  converge99Ms: number
  converge9999Ms: number
  convergeMs: number
  /** (node, user) pairs still unknown when the wait ended, and at how many nodes. */
  missingPairs: number
  laggingNodes: number
  /** One broadcast until the last node reached delivered it (or the wait ended); median and 99th percentile of arrivals. */
  broadcastMs: number
  broadcastP50Ms: number
  broadcastP99Ms: number
  broadcastReached: number
  /** Waited before the broadcast for the event loop to be quiet (timer lag < 20 ms; at most 10 s). */
  settleMs: number
  linksMin: number
  linksMax: number
  linksMean: number
  components: number
  /** Summed over all nodes. */
  handshakeFailures: number
  relayDropped: number
  cutOff: number
  cutOffReasons: Record<string, number>
  /** Signature checks answered from the process's shared verifications (ts/core/identity.ts). */
  sharedVerifyHits: number
  heapUsedMB: number
  rssMB: number
  externalMB: number
  /** WASM memory of the process kernel (dedup tables live there). */
  wasmMB: number
}

export async function runScale(o: ScaleOptions): Promise<ScaleReport> {
  const log = o.log ?? (() => undefined)
  const profile = o.profile ?? 'default'
  const got = new Map<string, number>()
  const t0 = performance.now()
  const hits0 = sharedVerificationHits()
  const net = await startNet({
    n: o.n,
    transport: 'memory',
    seed: o.seed,
    converge: false,
    // The small profile holds 512 users; room for all n of them is given so that
    // convergence can be measured at all (and said so in the report).
    options: () => ({ profile, links: o.links, timers: { maintenanceMs: 200 }, ...(o.maxUsers !== undefined ? { maxUsers: o.maxUsers } : {}) }),
    plugins: [CHURN_PLUGIN],
    onCreate: (node, i) => {
      node.plugin(CHURN_PLUGIN).on('message', () => got.set(node.username, performance.now()))
      if (i % 100 === 99) log(`${i + 1} nodes started`)
    },
  })
  try {
    const joinMs = performance.now() - t0
    const t1 = performance.now()
    const deadline = t1 + (o.convergeTimeoutMs ?? 120_000)
    const pairs = o.n * o.n
    let converge99Ms = NaN
    let converge9999Ms = NaN
    let convergeMs = NaN
    let missingPairs = pairs
    let laggingNodes = o.n
    // One broadcast, timed once the network has settled (fully converged, or at the
    // deadline; at 99.99 % the last HELLOs still queue it by seconds): before the
    // periodic HELLO refresh (every 5 min), which in one process costs a million
    // signature checks and would queue the broadcast behind them.
    let broadcastMs = NaN
    let broadcastP50Ms = NaN
    let broadcastP99Ms = NaN
    let broadcastReached = 0
    let settleMs = 0
    const timeBroadcast = async (): Promise<void> => {
      // Let the last HELLOs, LKA answers and pushes drain first: wait (at most
      // 10 s) until a 100 ms timer fires less than 20 ms late.
      const s0 = performance.now()
      while (performance.now() - s0 < 10_000) {
        const a = performance.now()
        await sleep(100)
        if (performance.now() - a < 120) break
      }
      settleMs = performance.now() - s0
      const t2 = performance.now()
      await net.nodes[0]!.plugin(CHURN_PLUGIN).broadcast(payload(1))
      await waitFor(() => got.size >= o.n - 1, 60_000, '').catch(() => undefined)
      const arrivals = [...got.values()].map((t) => t - t2).sort((x, y) => x - y)
      broadcastReached = arrivals.length
      if (arrivals.length > 0) {
        broadcastMs = arrivals[arrivals.length - 1]!
        broadcastP50Ms = arrivals[Math.floor(arrivals.length / 2)]!
        broadcastP99Ms = arrivals[Math.floor(arrivals.length * 0.99)]!
      }
      log(`broadcast reached ${broadcastReached}/${o.n - 1} nodes (last after ${broadcastMs.toFixed(0)} ms)`)
    }
    let broadcastDone = false
    for (;;) {
      missingPairs = 0
      laggingNodes = 0
      for (const x of net.nodes) {
        const m = o.n - x.stats().users
        if (m > 0) {
          missingPairs += m
          laggingNodes++
        }
      }
      const at = performance.now() - t1
      if (Number.isNaN(converge99Ms) && missingPairs <= pairs / 100) converge99Ms = at
      if (Number.isNaN(converge9999Ms) && missingPairs <= pairs / 10_000) converge9999Ms = at
      if (missingPairs === 0) convergeMs = at
      const over = performance.now() > deadline
      if (!broadcastDone && (missingPairs === 0 || over)) {
        broadcastDone = true
        await timeBroadcast()
      }
      if (missingPairs === 0 || over) break
      log(`converging: ${laggingNodes} nodes miss ${missingPairs} (node, user) pairs (${(at / 1000).toFixed(0)} s)`)
      await sleep(1000)
    }
    o.onEnd?.(net.nodes, broadcastDone ? net.nodes.slice(1).filter((x) => !got.has(x.username)) : [])
    const counts = net.nodes.map((x) => x.links().length)
    const sum = (k: 'handshakeFailures' | 'relayDropped' | 'cutOff'): number => net.nodes.reduce((acc, x) => acc + x.stats()[k], 0)
    const mem = process.memoryUsage()
    const { kernel } = await import('../ts/wasm/loader.js')
    return {
      n: o.n,
      profile,
      joinMs,
      converge99Ms,
      converge9999Ms,
      convergeMs,
      missingPairs,
      laggingNodes,
      broadcastMs,
      broadcastP50Ms,
      broadcastP99Ms,
      broadcastReached,
      settleMs,
      linksMin: Math.min(...counts),
      linksMax: Math.max(...counts),
      linksMean: counts.reduce((a, b) => a + b, 0) / counts.length,
      components: components(net.nodes),
      handshakeFailures: sum('handshakeFailures'),
      relayDropped: sum('relayDropped'),
      cutOff: sum('cutOff'),
      cutOffReasons: net.nodes.reduce<Record<string, number>>((acc, x) => {
        for (const [k, v] of Object.entries(x.stats().cutOffReasons)) acc[k] = (acc[k] ?? 0) + (v ?? 0)
        return acc
      }, {}),
      sharedVerifyHits: sharedVerificationHits() - hits0,
      heapUsedMB: mem.heapUsed / 2 ** 20,
      rssMB: mem.rss / 2 ** 20,
      externalMB: (mem.external + mem.arrayBuffers) / 2 ** 20,
      wasmMB: kernel().exports.memory.buffer.byteLength / 2 ** 20,
    }
  } finally {
    await net.stop()
  }
}
