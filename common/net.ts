// A network of p4net nodes for tests and benchmarks, built through the public
// API: N nodes on the memory transport or loopback TCP, fast timers, a seeded
// bootstrap graph, a convergence wait and a stop that always runs.
//
//   const net = await startNet({ n: 10, transport: 'memory', plugins: [7] })
//   try { … net.nodes[3].plugin(7).broadcast(bytes) … } finally { await net.stop() }
import { createNode, ManualClock, MemoryNetwork, memoryTransport, type Node, type NodeOptions, type OverlayTimers, type Plugin, type PluginMessage, type Transport } from '../ts/index.js'
import { resolveOptions } from '../ts/options.js'
import { seededRandom } from './random.js'
import { waiting } from './waits.js'

export type TransportName = 'memory' | 'tcp'
export type Topology = 'chain' | 'random' | 'star' | 'full'

export interface NetOptions {
  n: number
  transport: TransportName
  /** Per-node option overrides (username, links, trust, …); merged over the test defaults. */
  options?: (i: number) => Partial<NodeOptions>
  /** Plugins registered before start (so the first HELLO announces them): on every node, or per node. */
  plugins?: number[] | ((i: number) => number[])
  /**
   * Who node i bootstraps to: i-1 (chain), node 0 (star), every earlier node
   * (full: small networks whose nodes reach links.min by their own dials, with
   * no walk still travelling once they have), one or two earlier nodes
   * (random, default).
   */
  topology?: Topology
  /** Called with each node before it starts (attach event listeners here). */
  onCreate?: (node: Node, i: number) => void
  /** Seed of the bootstrap choice (default 1). */
  seed?: number
  /** Wait for convergence before returning (default true), within this many ms (default 15 000). */
  converge?: boolean
  convergeTimeoutMs?: number
  /**
   * 'manual' (memory transport only): every node runs on one ManualClock,
   * which moves only as the test waits (net.until, net.settle), so the
   * protocol's timers fire deterministically and no test waits in real time.
   */
  clock?: 'manual'
  /** With `clock: 'manual'`: the wall-clock time (Unix ms) at clock time 0 (default: now). */
  wallAt?: number
}

export interface TestNet {
  nodes: Node[]
  /** The shared memory network (memory transport only). */
  network?: MemoryNetwork
  /** The nodes' clock with `clock: 'manual'`. */
  clock?: ManualClock
  /**
   * Waits until `cond()` holds, at most `ms`: clock time on a manual clock
   * (advanced in steps; then, the clock standing still, up to 10 s of real
   * time for what the real-time CPU budget paused), else real time
   * (polled). Fails naming `what`.
   */
  until(cond: () => boolean, ms: number, what: string | (() => string)): Promise<void>
  /**
   * Lets everything in flight arrive: on a manual clock, the I/O of the
   * current instant (the memory network is idle); in real time, a
   * linkBarrier over the running nodes (a PING round trip on every link
   * among them, repeated until a round sees no other frame).
   */
  settle(): Promise<void>
  /** Lets `ms` pass: clock time on a manual clock (its timers fire), else real time. */
  sleep(ms: number): Promise<void>
  /** Resolves once every running node lists every running node's user and has its link quota. */
  waitConverged(timeoutMs?: number): Promise<void>
  /** Creates and starts one more node (bootstrapped to `bootstrapTo`, default node 0), stopped by stop(). */
  add(opts: Partial<NodeOptions> & { username: string }, bootstrapTo?: Node[], plugins?: number[]): Promise<Node>
  /** Stops every node (in parallel); never throws, safe to call twice. */
  stop(): Promise<void>
  /** Memory transport: the node's process dies (listeners gone, connections dropped with no goodbye). */
  crash(node: Node): void
  /** Memory transport: connections to `node` are accepted or held unanswered as `decide(n)` says. */
  intercept(node: Node, decide: (n: number) => 'accept' | 'hold'): { dials(): number; stop(): void }
}

/** Real time a manual-clock wait gives sessions the CPU budget paused, once its clock time is up (until). */
const REAL_TIME_GRACE_MS = 10_000

/** Timers that make a test network settle in well under a second. */
export const FAST_TIMERS: Partial<OverlayTimers> = {
  maintenanceMs: 50,
  walkTimeoutMs: 1000,
  requestTimeoutMs: 3000,
  handshakeTimeoutMs: 5000,
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Polls `cond` every `everyMs` until it holds; otherwise fails after
 * `timeoutMs` with `what` (a string, or a function describing the state at
 * the time of failure).
 */
export function waitFor(cond: () => boolean, timeoutMs: number, what: string | (() => string), everyMs = 10): Promise<void> {
  const poll = async (): Promise<void> => {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (cond()) return
      if (Date.now() >= deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`)
      }
      await sleep(everyMs)
    }
  }
  // Named while it polls: a test stopped at its deadline says what it waited for.
  return waiting(what, poll())
}

/** Collects every message `plugin` delivers, in order. */
export function inbox(plugin: Plugin): PluginMessage[] {
  const got: PluginMessage[] = []
  plugin.on('message', (m) => got.push(m))
  return got
}

/** Sum of frames received by `nodes` (a quiet network stops changing it). */
function framesIn(nodes: Node[]): number {
  let n = 0
  for (const node of nodes) if (node.running) n += node.stats().framesIn
  return n
}

/**
 * Waits until no node in `nodes` received a frame for `quietMs`: whatever was
 * in flight (late duplicates included) has arrived. Fast test timers send
 * nothing periodic within a test's time (PINGs every 15 s, HELLO every 5 min).
 */
export async function waitQuiet(nodes: Node[], quietMs = 100, timeoutMs = 10_000): Promise<void> {
  let last = framesIn(nodes)
  let since = Date.now()
  await waitFor(
    () => {
      const now = framesIn(nodes)
      if (now !== last) {
        last = now
        since = Date.now()
      }
      return Date.now() - since >= quietMs
    },
    timeoutMs,
    'the network to go quiet',
    10,
  )
}

/**
 * A positive barrier in real time (tcp): every node of `nodes` PINGs each
 * peer of `nodes` it has a link to and waits for the PING-ACK. A session is
 * ordered, so once X holds Y's PING-ACK, every frame Y wrote to X before it
 * has arrived. A frame that arrives during a round may set off others (a
 * flood is forwarded), so rounds repeat until one passes in which every node
 * received exactly the barrier's own frames (a PING from each peer that
 * pinged it, a PING-ACK for each of its PINGs) and every PING was answered.
 * Then nothing sent before that round is still on its way to a node of
 * `nodes`, over any link among them. Use it before asserting that something
 * did not arrive; it waits for events, never for a span of time.
 */
export async function linkBarrier(nodes: Node[], maxRounds = 20): Promise<void> {
  const inSet = new Set(nodes)
  const byName = new Map(nodes.map((x) => [x.username, x]))
  let last = 'no round yet'
  const rounds = async (): Promise<void> => {
    for (let round = 0; round < maxRounds; round++) {
      const running = nodes.filter((x) => x.running)
      const before = new Map(running.map((x) => [x, x.stats().framesIn]))
      const expect = new Map(running.map((x) => [x, 0]))
      const pings: Promise<boolean>[] = []
      for (const x of running) {
        for (const l of x.links()) {
          const y = byName.get(l.username)
          if (!y || !inSet.has(y) || !y.running || !l.verified) continue
          expect.set(x, expect.get(x)! + 1) // the PING-ACK
          expect.set(y, expect.get(y)! + 1) // the PING
          pings.push(x.latency(y.username).then(() => true, () => false))
        }
      }
      const answered = (await Promise.all(pings)).every(Boolean)
      const moved = running.filter((x) => !x.running || x.stats().framesIn - before.get(x)! !== expect.get(x))
      if (answered && moved.length === 0) return
      last = `round ${round + 1}: ${answered ? '' : 'a PING went unanswered; '}other frames arrived at ${moved.map((x) => x.username).join(', ') || 'none'}`
    }
    throw new Error(`linkBarrier: no quiet round in ${maxRounds} (${last})`)
  }
  await waiting(() => `a link barrier over ${nodes.length} nodes (${last})`, rounds())
}

const minLinks = new WeakMap<Node, number>()

/** The link count `node` should reach in a network of `n` running nodes. */
export function linkQuota(node: Node, n: number): number {
  let min = minLinks.get(node)
  if (min === undefined) {
    // links.min as the node resolved it through the option schema: the
    // profile's default, lowered to links.max and links.hardCap.
    min = resolveOptions(node.options).cfg.links.min
    minLinks.set(node, min)
  }
  return Math.min(min, n - 1)
}

/**
 * Links among `nodes` that the two ends do not yet agree on: listed at one
 * end only, or (a cross-dial being resolved: each end dialled the other) as
 * dialled by both or by neither. Until the ends agree, one of the two
 * sessions is about to be discarded, and what is sent on it may be lost.
 */
export function unsettledLinks(nodes: Node[]): string[] {
  const byName = new Map(nodes.map((x) => [x.username, x]))
  const out: string[] = []
  for (const x of nodes) {
    if (!x.running) continue
    for (const l of x.links()) {
      const y = byName.get(l.username)
      if (!y || !y.running) continue
      const back = y.links().find((m) => m.username === x.username)
      if (!back) out.push(`${x.username}→${y.username} (one-sided)`)
      else if (back.initiator === l.initiator) out.push(`${x.username}–${y.username} (dialled by ${l.initiator ? 'both' : 'neither'})`)
    }
  }
  return out
}

/**
 * Converged: every node lists every username in `names`, has its link
 * quota, and the links among the nodes are settled (both ends agree).
 */
export function isConverged(nodes: Node[], names = nodes.map((x) => x.username)): boolean {
  for (const node of nodes) {
    if (!node.running) return false
    if (node.links().length < linkQuota(node, nodes.length)) return false
    const seen = new Set(node.users())
    for (const name of names) if (!seen.has(name)) return false
  }
  return unsettledLinks(nodes).length === 0
}

/** Why `nodes` are not converged (for failure messages). */
export function describeConvergence(nodes: Node[]): string {
  const names = nodes.map((x) => x.username)
  const lines: string[] = []
  for (const node of nodes) {
    const seen = new Set(node.users())
    const missing = names.filter((u) => !seen.has(u))
    const links = node.links().length
    const quota = linkQuota(node, nodes.length)
    if (missing.length > 0 || links < quota || !node.running) {
      lines.push(`${node.username}: links ${links}/${quota}${missing.length ? `, missing ${missing.length} users (${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''})` : ''}${node.running ? '' : ', not running'}`)
    }
  }
  const unsettled = unsettledLinks(nodes)
  if (unsettled.length > 0) lines.push(`links not settled: ${unsettled.slice(0, 6).join(', ')}${unsettled.length > 6 ? ', …' : ''}`)
  return `convergence of ${nodes.length} nodes:\n  ${lines.slice(0, 12).join('\n  ')}${lines.length > 12 ? `\n  … ${lines.length - 12} more` : ''}`
}

/** Starts `n` nodes; node i bootstraps to earlier nodes as `topology` says. */
export async function startNet(o: NetOptions): Promise<TestNet> {
  if (!Number.isInteger(o.n) || o.n < 1) throw new Error('startNet: n must be a positive integer')
  const network = o.transport === 'memory' ? new MemoryNetwork() : undefined
  if (o.clock === 'manual' && !network) throw new Error("startNet: clock 'manual' needs the memory transport")
  const clock = o.clock === 'manual' ? new ManualClock({ idle: () => network!.idle, ...(o.wallAt !== undefined ? { wallAt: o.wallAt } : {}) }) : undefined
  const random = seededRandom(o.seed ?? 1)
  const topology = o.topology ?? 'random'
  const nodes: Node[] = []
  const extra: Node[] = []
  let stopped = false

  const pluginsFor = (i: number): number[] => (typeof o.plugins === 'function' ? o.plugins(i) : (o.plugins ?? []))

  const transports = new Map<Node, Transport>()
  const make = async (opts: Partial<NodeOptions> & { username: string }, peers: Node[], plugins: number[]): Promise<Node> => {
    const transport = opts.transport ?? (network ? memoryTransport(network) : undefined)
    const node = await createNode({
      transport,
      host: '127.0.0.1',
      port: 0,
      ...(clock ? { clock } : {}),
      ...opts,
      timers: { ...FAST_TIMERS, ...opts.timers },
      bootstrap: opts.bootstrap ?? peers.map((p) => p.address),
    })
    for (const id of plugins) node.plugin(id)
    if (transport) transports.set(node, transport)
    return node
  }
  const memoryNetwork = (what: string): MemoryNetwork => {
    if (!network) throw new Error(`${what} needs the memory transport`)
    return network
  }

  const bootstrapPeers = (i: number): Node[] => {
    if (i === 0) return []
    if (topology === 'chain') return [nodes[i - 1]!]
    if (topology === 'star') return [nodes[0]!]
    if (topology === 'full') return nodes.slice(0, i)
    const first = Math.floor(random() * i)
    const peers = [nodes[first]!]
    if (i > 1 && random() < 0.5) {
      const second = Math.floor(random() * i)
      if (second !== first) peers.push(nodes[second]!)
    }
    return peers
  }

  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    const all = [...nodes, ...extra]
    await waiting(
      () => `the network to stop (still stopping: ${all.filter((x) => (x as unknown as { state: string }).state === 'stopping').map((x) => x.username).join(', ') || 'none'})`,
      Promise.allSettled(all.map((x) => x.stop())),
    )
  }

  // On a manual clock, time moves only when the test moves it: start() must
  // not wait for a join there (the test converges the network itself).
  const startOptions = clock ? { joinTimeout: 0 } : {}
  const until = async (cond: () => boolean, ms: number, what: string | (() => string)): Promise<void> => {
    if (!clock) return waitFor(cond, ms, what, 10)
    try {
      await clock.until(cond, ms, what, 20)
    } catch (err) {
      // The CPU budget refills by real time (ts/overlay/guard.ts): a session
      // it paused resumes only as real time passes, which a clock stepped
      // fast can outrun. Real time gets its chance, the clock standing still.
      await waitFor(cond, Math.min(ms, REAL_TIME_GRACE_MS), what).catch(() => {
        throw err
      })
    }
  }
  const net: TestNet = {
    nodes,
    network,
    clock,
    until,
    settle: () => (clock ? clock.settle() : linkBarrier([...nodes, ...extra].filter((x) => x.running))),
    sleep: (ms) => (clock ? clock.advance(ms) : sleep(ms)),
    async waitConverged(timeoutMs = 15_000) {
      const running = nodes.filter((x) => x.running)
      await until(() => isConverged(running), timeoutMs, () => describeConvergence(running))
    },
    async add(opts, bootstrapTo = nodes.slice(0, 1), plugins = []) {
      const node = await make(opts, bootstrapTo.filter((x) => x.running), plugins)
      extra.push(node)
      await node.start(startOptions)
      return node
    },
    stop,
    crash(node) {
      const t = transports.get(node)
      if (!t) throw new Error(`${node.username} has no transport of this network`)
      memoryNetwork('crash').crash(t)
    },
    intercept(node, decide) {
      return memoryNetwork('intercept').intercept(node.address.host, node.address.port, decide)
    },
  }

  try {
    for (let i = 0; i < o.n; i++) {
      const custom = o.options?.(i) ?? {}
      const node = await make({ username: `n${String(i).padStart(2, '0')}`, ...custom }, bootstrapPeers(i), pluginsFor(i))
      nodes.push(node)
      o.onCreate?.(node, i)
      await node.start(startOptions)
    }
    if (o.converge ?? true) await net.waitConverged(o.convergeTimeoutMs)
  } catch (err) {
    await stop()
    throw err
  }
  return net
}

/** Runs `fn` on a fresh network and always stops it, whatever `fn` does. */
export async function withNet<T>(o: NetOptions, fn: (net: TestNet) => Promise<T>): Promise<T> {
  const net = await startNet(o)
  try {
    return await fn(net)
  } finally {
    await net.stop()
  }
}
