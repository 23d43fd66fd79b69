// p4net side by side with what one would otherwise pick, in one run on one
// machine: js-libp2p 2.10 (TCP + noise + yamux), @hyperswarm/
// secret-stream over node:net, raw node:net (the unencrypted ceiling), and
// for broadcast @chainsafe/libp2p-gossipsub. Loopback only (127.0.0.1).
// Every system is used in its best natural form (system.ts, and each
// adapter's header): p4net through its public API, `await plugin.send`
// (column p4net; plain and { encrypted: true }), with the bare Session beneath
// it (p4net session) and, once the library has them, streams (p4net stream)
// for reference; js-libp2p one yamux stream fed through stream.sink (bulk) or
// it-length-prefixed (messages); secret-stream write() with 'drain'.
//   1. throughput, 64 KiB messages, BULK_BYTES per trial        one / two processes
//   2. one-way rate of 64-byte messages on one connection: p4net `await`ing
//      each send, and every system with many in flight            one / two processes
//   3. ping-pong: round trips/s, median and p99 round-trip time   one / two processes
//   4. connection setup: connect + handshake + one 64-byte echo, 8 in flight
//   5. memory per idle connection, IDLE connections from a fresh child (--expose-gc)
//   6. broadcast of 1,000 × 256 B on 10 and 50 nodes: `await plugin.broadcast`
//      vs gossipsub publish over the same link graph; time to full delivery,
//      messages/s, duplicates per delivery
//   7. footprint: npm pack size, production dependency closures, cold start
//      to first link in a fresh process, RSS of one node holding 8 links
// Every figure is the median of TRIALS trials (throughput and 64 B one way:
// STREAM_TRIALS; cold start: COLD_TRIALS) with min and max; systems take
// turns within each trial (interleaved), failed trials are reported with their
// error, not dropped. Systems loaded into one process disturb each other, so
// every point-to-point trial runs in a fresh bench/compare/worker.js process
// (its own warm-up first), two-process trials put the far end in another fresh
// one, and each broadcast network lives in a worker of its own. Progress goes
// to stderr, the table to stdout; bench/results/compare.json and
// bench/results/charts/*.svg are written by a full run (--quick, a smoke run
// of every case, and partial runs write them to $TMPDIR/p4net-bench-quick).
//
//   node dist/bench/compare/run.js [--quick] [--only <case substring>] [--systems p4net-api,libp2p,...] [--stream-trials N] [--merge]
// (--merge with --only: the cases measured replace theirs in bench/results/compare.json, every other
//  row is kept with its date, and the file says which rows were measured when; e.g. --only footprint --merge)
// (--stream-trials: trials of the throughput and 64 B cases, default 5; fewer when the machine is busy)
// (--only / --systems are for looking closer at one case or system)
import { existsSync, readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createNode, type Node } from '../../ts/index.js'
import { readResults, writeResults, type Result, type Target } from '../../common/results.js'
import { runJson, type Child } from '../child.js'
import { interleaved, printTargets, round, Rows, withTimeout, type Metric } from '../lib.js'
import { drawCharts } from '../report.js'
import type { BroadcastTrial } from './broadcast.js'
import { fmt, ratioText } from './chart.js'
import { closure, packInfo, productionDependencies } from './footprint.js'
import { GOSSIPSUB_OPTIONS } from './gossipsub.js'
import { LIBP2P_CONFIG, startLibp2p } from './libp2p.js'
import { nodeMemory } from './node-memory.js'
import { streamsAvailable } from './p4net-api.js'
import { LABELS, loadSystem, SYSTEMS, type Channel, type PeerModules, type SystemName } from './system.js'
import { sourcesHash, STAMP } from './sources.js'
import { NODE_LINKS, PLUGIN } from './worker.js'
import { BULK_SIZE, idleMemory, IN_FLIGHT, SMALL_SIZE, trials, worker } from './workloads.js'

// The shared harness imports these modules by a computed URL (system.ts
// importPeerModule), unchecked: this is where they are checked against PeerModules.
type Checked<M extends { [K in keyof PeerModules]: PeerModules[K] }> = M
export type PeerModulesChecked = Checked<{
  aead: typeof import('./aead.js')
  gossipsub: typeof import('./gossipsub.js')
  libp2p: typeof import('./libp2p.js')
  'secret-stream': typeof import('./secret-stream.js')
}>

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    systems: { type: 'string' },
    'stream-trials': { type: 'string' },
    merge: { type: 'boolean', default: false },
  },
})
const quick = args.quick!
const only = args.only ?? ''
/** Re-measured rows replace theirs in the committed file (a full run's other rows stay). */
const merge = args.merge! && only !== '' && !quick && args.systems === undefined
if (args.merge && !merge) throw new Error('--merge needs --only, and neither --quick nor --systems')
const ACTIVE: SystemName[] = args.systems ? (args.systems.split(',') as SystemName[]) : SYSTEMS
for (const s of ACTIVE) if (!SYSTEMS.includes(s)) throw new Error(`--systems: unknown system ${s} (have ${SYSTEMS.join(', ')})`)
/** The p4net stream row lights up once the library has plugin.openStream (issue 17, item 3). */
const STREAMS = ACTIVE.includes('p4net-stream') && (await streamsAvailable())
/** Cases where p4net is a Node (cold start, node memory): 'p4net' is createNode there. */
const NODE_SYSTEMS: SystemName[] = ['p4net', 'libp2p', 'secret-stream', 'raw']
/** Point-to-point cases: a system's key in the results (the table's column). */
const P2P_KEY: Partial<Record<SystemName, string>> = { 'p4net-api': 'p4net', 'p4net-api-e2e': 'p4net-e2e', p4net: 'p4net-session' }
/** The many-in-flight 64 B case: `plugin.send`s started before awaiting them (the issue's 1,000). */
const IN_FLIGHT_SENDS = 1000

const TRIALS = quick ? 1 : 3
/** Bulk and small-message trials are short and move most with other jobs: more of them. */
const STREAM_TRIALS = quick ? 1 : Number(args['stream-trials'] ?? 5)
if (!Number.isInteger(STREAM_TRIALS) || STREAM_TRIALS < 1) throw new Error(`--stream-trials must be a whole number of trials >= 1, got ${JSON.stringify(args['stream-trials'])}`)
const MiB = 1024 * 1024
const BULK_BYTES = quick ? 16 * MiB : 512 * MiB
/**
 * Messages per one-way trial: each system's trial lasts about a second or
 * more (p4net-api at 500,000 lasted a quarter of one awaited, mostly JIT
 * warm-up). p4net-api-e2e is held against p4net-api (the 0.3x target), so it
 * gets half its count and so about as much warm-up by count: with 100,000 it
 * ran its measured trial less tiered-up than the plain one beside it.
 */
const SMALL_COUNT: Record<SystemName, number> = quick
  ? { p4net: 20_000, 'p4net-api': 20_000, 'p4net-api-e2e': 10_000, 'p4net-stream': 0, raw: 20_000, 'secret-stream': 20_000, libp2p: 5_000 }
  : { p4net: 2_000_000, 'p4net-api': 2_000_000, 'p4net-api-e2e': 1_000_000, 'p4net-stream': 0, raw: 2_000_000, 'secret-stream': 500_000, libp2p: 200_000 }
/**
 * Warm-up of a one-way trial, as a share of it: the whole trial again. V8
 * tiers a message path up over hundreds of thousands of calls: p4net-api's
 * awaited 64 B rate on fresh nodes after 80,000 messages of warm-up was
 * 655 k/s, after 2,000,000 1.48 M/s (measured in one process, 2026-12-06).
 */
const ONE_WAY_WARM = 1
/** `await plugin.send` one at a time is slower than many in flight: fewer messages. */
const AWAITED_SHARE = 0.4
const ROUND_TRIPS = quick ? 500 : 10_000
const SETUPS = quick ? 30 : 500
const IDLE = quick ? 20 : 200
const COLD_TRIALS = quick ? 1 : 5
const BROADCAST_NODES = quick ? [10] : [10, 50]
const BROADCAST_MESSAGES = quick ? 50 : 1000
const BROADCAST_SIZE = 256
const CONVERGE_MS = quick ? 20_000 : 60_000
const TRIAL_TIMEOUT_MS = 300_000
const COLD = fileURLToPath(new URL('./cold.js', import.meta.url))
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/** Where the compared systems are installed (bench/compare/package.json, scripts/bench-peers.js). */
const PEERS = join(ROOT, 'bench', 'compare')

// A build of this harness from other sources than these is refused (sources.ts).
const stamp = join(dirname(fileURLToPath(import.meta.url)), STAMP)
if (!existsSync(stamp) || readFileSync(stamp, 'utf8').trim() !== sourcesHash(PEERS)) {
  throw new Error('bench/compare was built from other sources than these: run "npm run bench:compare" (or "node scripts/bench-peers.js" first)')
}
const started = performance.now()

function progress(msg: string): void {
  process.stderr.write(`[compare ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`)
}

// ---------------------------------------------------------------- workloads

/** KiB per idle connection in a fresh child (rss, heapUsed, heapTotal, external: the metrics' order). */
async function idleFigures(name: SystemName, count: number, warm: boolean): Promise<number[]> {
  const m = await idleMemory(name, count, warm)
  return [m.rss, m.heapUsed, m.heapTotal, m.external]
}

/** One node holding NODE_LINKS links, in a fresh child: RSS total, RSS and heap over bare Node (MiB). */
async function nodeFigures(name: SystemName): Promise<number[]> {
  const m = await nodeMemory(name)
  return [m.used.rss / MiB, (m.used.rss - m.base.rss) / MiB, (m.used.heapUsed - m.base.heapUsed) / MiB]
}

/** A listener for cold-start children, kept for all of a system's trials. */
interface ColdHost {
  address: string
  close(): Promise<void>
}

async function coldHost(name: SystemName): Promise<ColdHost> {
  if (name === 'p4net') {
    const node: Node = await createNode({ username: 'cold-host' })
    await node.start()
    return { address: `127.0.0.1:${node.address.port}`, close: () => node.stop() }
  }
  if (name === 'libp2p') {
    const node = await startLibp2p(true)
    return { address: node.getMultiaddrs()[0]!.toString(), close: async () => void (await node.stop()) }
  }
  const system = await loadSystem(name)
  const held: Channel[] = []
  const l = await system.listen(
    (ch) => held.push(ch),
    () => {},
  )
  return {
    address: l.address,
    async close() {
      for (const ch of held) ch.close()
      await l.close()
    },
  }
}

/** ms from process start to the first secured link, and RSS then (MiB), in a fresh `node cold.js`. */
async function coldStart(name: SystemName, address: string): Promise<number[]> {
  const r = await runJson<{ ms: number; rss: number }>(COLD, [name, address], 'cold start')
  return [r.ms, r.rss / MiB]
}

// ---------------------------------------------------------------- rows

const rows = new Rows()
const notes: string[] = []
const load: { case: string; before: number; after: number }[] = []

function wanted(metrics: Metric[]): boolean {
  return !only || metrics.some((m) => m.name.includes(only))
}

/**
 * `trials` rounds; in each, every system runs fn once, in turn (so drift
 * from other jobs lands on all systems alike). fn returns one figure per metric.
 */
async function measure(
  metrics: Metric[],
  fn: (s: SystemName) => Promise<number[]>,
  opts: { trials?: number; systems?: SystemName[]; extra?: (s: SystemName) => Record<string, unknown>; keys?: Partial<Record<SystemName, string>> } = {},
): Promise<void> {
  if (!wanted(metrics)) return
  const systems = (opts.systems ?? SYSTEMS).filter((s) => ACTIVE.includes(s) && (s !== 'p4net-stream' || STREAMS))
  const label = metrics[0]!.name
  const before = loadavg()[0]!
  const outcome = await interleaved(systems, opts.trials ?? TRIALS, label, fn, { timeoutMs: TRIAL_TIMEOUT_MS, units: metrics.map((m) => m.unit), fmt, progress })
  // Results name each row by the system's key for the case (P2P_KEY), and say which form it is.
  const key = (s: SystemName): string => opts.keys?.[s] ?? s
  const got = new Map([...outcome.got].map(([s, v]) => [key(s), v]))
  const errors = new Map([...outcome.errors].map(([s, v]) => [key(s), v]))
  const bySystem = new Map(systems.map((s) => [key(s), s]))
  rows.recordAll(metrics, { got, errors }, (k) => {
    const s = bySystem.get(k)!
    return { ...(opts.keys ? { system: s, form: FORMS[s] } : {}), ...opts.extra?.(s) }
  })
  load.push({ case: label, before, after: loadavg()[0]! })
}

/** How each system is used in the point-to-point cases (the results' `form`, docs/benchmarks.md). */
const FORMS: Record<SystemName, string> = {
  'p4net-api': 'createNode + node.plugin(id); `await plugin.send(user, msg)` per message (64 B many in flight: 1,000 sends started, then awaited); receiver: plugin.on("message")',
  'p4net-api-e2e': 'as p4net, with plugin.send(user, msg, { encrypted: true }) (sealed end to end to the recipient)',
  p4net: 'the bare Session beneath a link (bench/session-peer.ts): session.send() per message, "drain" when it says so; reference, not an API users call',
  'p4net-stream': 'plugin.openStream(user) Duplex: write() with "drain"; receiver: the "stream" event\'s Duplex',
  libp2p: 'one yamux stream per connection; bulk: a generator of 64 KiB chunks into stream.sink, receiver reads stream.source; messages: it-length-prefixed, a generator of lp.encode.single(msg) into stream.sink (one-way) or an it-pushable through lp.encode (ping-pong), lp.decode(stream.source)',
  'secret-stream': 'SecretStream over node:net: write() per message with "drain" (its README\'s Duplex use); each write is one framed message, "data" delivers it whole',
  raw: 'node:net, u32 length prefix, writes of one tick corked together, "drain" (bench/net-baseline.ts): the unencrypted ceiling',
}

// ---------------------------------------------------------------- broadcast

async function broadcastCase(n: number): Promise<void> {
  const base = `broadcast ${BROADCAST_MESSAGES} × ${BROADCAST_SIZE} B, ${n} nodes`
  const metrics: Metric[] = [
    { name: `${base}: time to full delivery`, unit: 'ms', better: 'lower' },
    { name: `${base}: messages/s to full delivery`, unit: 'msg/s', better: 'higher' },
    { name: `${base}: duplicates per delivery`, unit: 'receptions', better: 'lower' },
  ]
  if (!wanted(metrics) || !ACTIVE.includes('p4net') || !ACTIVE.includes('libp2p')) return
  const before = loadavg()[0]!
  const note = (s: string): void => {
    notes.push(s)
    progress(s)
  }
  // Each network lives in a worker process of its own (isolated as the
  // point-to-point trials are); the driver alternates their trials.
  const nets: { system: 'p4net' | 'gossipsub'; w: Child; meanLinks: number }[] = []
  try {
    progress(`${base}: starting ${n} p4net nodes`)
    const p4w = worker()
    nets.push({ system: 'p4net', w: p4w, meanLinks: 0 })
    const p4 = (await p4w.request({ op: 'bnet', system: 'p4net', n, plugin: PLUGIN, convergeMs: CONVERGE_MS }, 'bnet')) as unknown as { edges: [number, number][]; meanLinks: number; notes: string[] }
    nets[0]!.meanLinks = p4.meanLinks
    p4.notes.forEach(note)
    const edges = p4.edges
    progress(`${base}: p4net has ${edges.length} links (${p4.meanLinks.toFixed(2)} per node); starting ${n} gossipsub nodes on the same links`)
    const gsw = worker()
    nets.push({ system: 'gossipsub', w: gsw, meanLinks: 0 })
    const gs = (await gsw.request({ op: 'bnet', system: 'gossipsub', n, plugin: PLUGIN, convergeMs: CONVERGE_MS, edges }, 'bnet')) as unknown as { meanLinks: number; notes: string[] }
    nets[1]!.meanLinks = gs.meanLinks
    gs.notes.forEach(note)
    const results = new Map<string, (BroadcastTrial | null)[]>(nets.map((x) => [x.system, []]))
    const errors = new Map<string, string[]>(nets.map((x) => [x.system, []]))
    for (let t = 0; t < TRIALS; t++) {
      for (const { system, w } of nets) {
        try {
          const order = { op: 'btrial', trial: t, messages: BROADCAST_MESSAGES, size: BROADCAST_SIZE, stallMs: 5000, timeoutMs: TRIAL_TIMEOUT_MS }
          const r = (await withTimeout(w.request(order, 'btrial'), TRIAL_TIMEOUT_MS + 60_000, `${base} ${system}`)) as unknown as BroadcastTrial
          results.get(system)!.push(r)
          progress(
            `${base}: ${system} trial ${t + 1}/${TRIALS}: ${r.timeMs === null ? `INCOMPLETE (${r.missing} deliveries missing)` : `${r.timeMs.toFixed(0)} ms`}, ${r.duplicatesPerDelivery.toFixed(2)} duplicates/delivery${r.repeated ? `, ${r.repeated} delivered twice` : ''}`,
          )
          if (r.timeMs === null) errors.get(system)!.push(`trial ${t + 1}: incomplete, ${r.missing} of ${(n - 1) * BROADCAST_MESSAGES} deliveries missing`)
        } catch (err) {
          results.get(system)!.push(null)
          errors.get(system)!.push(`trial ${t + 1}: ${(err as Error).message}`)
          progress(`${base}: ${system} trial ${t + 1}/${TRIALS} FAILED: ${(err as Error).message}`)
        }
      }
    }
    for (const { system, meanLinks } of nets) {
      const rs = results.get(system)!
      const extra = {
        nodes: n,
        links: edges.length,
        meanLinks: round(meanLinks),
        missing: rs.map((r) => r?.missing ?? null),
        deliveredTwice: rs.map((r) => r?.repeated ?? null),
      }
      rows.record(metrics[0]!, system, rs.map((r) => r?.timeMs ?? null), errors.get(system)!, extra)
      rows.record(metrics[1]!, system, rs.map((r) => (r?.timeMs ? (BROADCAST_MESSAGES / r.timeMs) * 1e3 : null)), [], extra)
      rows.record(metrics[2]!, system, rs.map((r) => r?.duplicatesPerDelivery ?? null), [], extra)
    }
  } catch (err) {
    note(`${base}: FAILED to set up: ${(err as Error).message}`)
    for (const m of metrics) for (const system of ['p4net', 'gossipsub']) if (!rows.find(m.name, system)) rows.record(m, system, [null], [(err as Error).message])
  } finally {
    await Promise.allSettled(
      nets.map(async ({ w }) => {
        await withTimeout(w.request({ op: 'stop' }, 'stopped'), 30_000, 'stopping a broadcast network').catch(() => undefined)
        await w.end()
      }),
    )
  }
  load.push({ case: base, before, after: loadavg()[0]! })
}

// ---------------------------------------------------------------- footprint

function kib(b: number): number {
  return b / 1024
}

function footprintSizes(): void {
  const metrics: Metric[] = [
    { name: 'footprint: own package, unpacked', unit: 'KiB', better: 'lower' },
    { name: 'footprint: production dependencies (direct)', unit: 'packages', better: 'lower' },
    { name: 'footprint: installed production closure', unit: 'MiB', better: 'lower' },
    { name: 'footprint: packages in the production closure', unit: 'packages', better: 'lower' },
  ]
  if (!wanted(metrics)) return
  try {
    const pack = packInfo(ROOT)
    const deps = productionDependencies(ROOT)
    const own = closure(ROOT, deps)
    rows.record(metrics[0]!, 'p4net', [kib(pack.unpackedSize)], [], { packed: round(kib(pack.size)), files: pack.entryCount, byKindKiB: Object.fromEntries(Object.entries(pack.byKind).map(([k, v]) => [k, round(kib(v))])) })
    rows.record(metrics[1]!, 'p4net', [deps.length], [], { dependencies: deps })
    rows.record(metrics[2]!, 'p4net', [(pack.unpackedSize + own.bytes) / MiB], [], { note: 'the package as packed + its dependencies as installed' })
    rows.record(metrics[3]!, 'p4net', [own.packages + 1])
    const stacks: [string, string[]][] = [
      ['libp2p', ['libp2p', '@libp2p/tcp', '@chainsafe/libp2p-noise', '@chainsafe/libp2p-yamux']],
      ['gossipsub', ['libp2p', '@libp2p/tcp', '@chainsafe/libp2p-noise', '@chainsafe/libp2p-yamux', '@libp2p/identify', '@chainsafe/libp2p-gossipsub']],
      ['secret-stream', ['@hyperswarm/secret-stream']],
    ]
    for (const [system, roots] of stacks) {
      const c = closure(PEERS, roots)
      rows.record(metrics[2]!, system, [c.bytes / MiB], [], { roots })
      rows.record(metrics[3]!, system, [c.packages], [], { roots })
    }
    progress(`footprint: p4net packs to ${fmt(kib(pack.size))} KiB, ${fmt(kib(pack.unpackedSize))} KiB unpacked, ${deps.length} production dependencies`)
  } catch (err) {
    notes.push(`footprint sizes failed: ${(err as Error).message}`)
    progress(`footprint sizes FAILED: ${(err as Error).message}`)
  }
}

async function coldCase(): Promise<void> {
  const metrics: Metric[] = [
    { name: 'footprint: cold start to first link', unit: 'ms', better: 'lower' },
    { name: 'footprint: RSS at first link (fresh process)', unit: 'MiB', better: 'lower' },
  ]
  if (!wanted(metrics)) return
  const hosts = new Map<SystemName, ColdHost>()
  try {
    for (const s of NODE_SYSTEMS.filter((x) => ACTIVE.includes(x))) hosts.set(s, await coldHost(s))
    await measure(
      metrics,
      (s) => coldStart(s, hosts.get(s)!.address),
      { trials: COLD_TRIALS, systems: NODE_SYSTEMS },
    )
  } finally {
    await Promise.allSettled([...hosts.values()].map((h) => h.close()))
  }
}

// ---------------------------------------------------------------- table, targets, files

function find(caseName: string, system: string): Result | undefined {
  return rows.find(caseName, system)
}

/** system / p4net on the case's figure. */
function ratio(caseName: string, system: string): number | null {
  const p4 = find(caseName, 'p4net')?.value
  const v = find(caseName, system)?.value
  return p4 && v !== null && v !== undefined && Math.abs(p4) > 1e-9 ? v / p4 : null
}

const COLUMNS = ['p4net', 'p4net-e2e', 'p4net-session', 'p4net-stream', 'libp2p', 'gossipsub', 'secret-stream', 'raw']
const COLUMN_LABELS: Record<string, string> = {
  p4net: 'p4net API',
  'p4net-e2e': LABELS['p4net-api-e2e'],
  'p4net-session': LABELS.p4net,
  'p4net-stream': LABELS['p4net-stream'],
  libp2p: LABELS.libp2p,
  gossipsub: 'gossipsub 14',
  'secret-stream': LABELS['secret-stream'],
  raw: LABELS.raw,
}

function cell(r: Result | undefined): string {
  if (!r) return '-'
  if (r.value === null) return `failed (${r.errors?.length ?? 0})`
  const range = (r.trials?.length ?? 0) > 1 ? ` [${fmt(r.min ?? null)}–${fmt(r.max ?? null)}]` : ''
  const failed = r.errors?.length ? ` (${r.errors.length} failed)` : ''
  const q = r.impl === 'p4net' ? '' : ratio(r.case, r.impl)
  return `${fmt(r.value)}${range}${failed}${q === '' || q === null ? '' : ` ${ratioText(q)}`}`
}

function printTable(): void {
  const cases = [...new Set(rows.rows.map((r) => r.case))]
  const cols = COLUMNS.filter((c) => rows.rows.some((r) => r.impl === c))
  const w0 = Math.max(...cases.map((c) => c.length + (rows.rows.find((r) => r.case === c)?.unit.length ?? 0) + 3))
  const widths = cols.map((c) => Math.max(COLUMN_LABELS[c]!.length, ...cases.map((k) => cell(find(k, c)).length)))
  console.log(
    `\np4net vs its peers${quick ? ' (--quick: a smoke run, not figures)' : ''}: median of ${TRIALS} trial(s) [min–max] (throughput and 64 B: ${STREAM_TRIALS}, cold start ${COLD_TRIALS}), systems interleaved; loopback TCP; ` +
      `ratio after each figure = system / p4net; ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`,
  )
  console.log(`${'case (unit)'.padEnd(w0)}  ${cols.map((c, i) => COLUMN_LABELS[c]!.padStart(widths[i]!)).join('  ')}`)
  for (const c of cases) {
    const unit = rows.rows.find((r) => r.case === c)!.unit
    console.log(`${`${c} (${unit})`.padEnd(w0)}  ${cols.map((col, i) => cell(find(c, col)).padStart(widths[i]!)).join('  ')}`)
  }
}

function targets(): Target[] {
  const out: Target[] = []
  const PROCS = ['one process', 'two processes']
  // q = mine / other in case c (mine: p4net's key, 'p4net' = plugin.send unless said)
  const vs = (c: string, other: string, what: string, ok: (p4OverOther: number) => boolean, show: (x: number) => string, mine = 'p4net'): void => {
    const a = find(c, mine)
    const b = find(c, other)
    if (!a) return
    const q = a.value !== null && b?.value ? a.value / b.value : null
    out.push({ target: what, figure: q === null ? `n/a (${c})` : `${show(q)} (${c}: ${mine} ${fmt(a.value)} vs ${other} ${fmt(b!.value)} ${b!.unit})`, met: q === null ? null : ok(q) })
  }
  const floor = (c: string, what: string, min: number): void => {
    const a = find(c, 'p4net')
    if (a) out.push({ target: what, figure: `${fmt(a.value)} ${a.unit} (${c})`, met: a.value === null ? null : a.value >= min })
  }
  // issue 17, item 2: the public API against the session beneath it and the peers, same run
  const t1 = 'throughput 64 KiB, one process'
  vs(t1, 'p4net-session', 'issue 17: await plugin.send 64 KiB >= 0.9x the bare session', (q) => q >= 0.9, (q) => `${q.toFixed(2)}x`)
  vs(t1, 'secret-stream', 'issue 17: await plugin.send 64 KiB >= 1.5x secret-stream', (q) => q >= 1.5, (q) => `${q.toFixed(2)}x`)
  floor(`64 B one way, await each, one process`, 'issue 17: await plugin.send 64 B one at a time >= 1 M msg/s', 1e6)
  floor(`64 B one way, one process`, `issue 17: plugin.send 64 B, ${IN_FLIGHT_SENDS} in flight >= 2 M msg/s`, 2e6)
  vs(t1, 'p4net', 'issue 17: encrypted send >= 0.6x plain send at 64 KiB', (q) => q >= 0.6, (q) => `${q.toFixed(2)}x`, 'p4net-e2e')
  vs(`64 B one way, await each, one process`, 'p4net', 'issue 17: encrypted send >= 0.3x plain send at 64 B', (q) => q >= 0.3, (q) => `${q.toFixed(2)}x`, 'p4net-e2e')
  vs(t1, 'p4net-session', 'issue 17: p4net stream 64 KiB >= 0.9x the bare session', (q) => q >= 0.9, (q) => `${q.toFixed(2)}x`, 'p4net-stream')
  // issue 6, now against p4net's public API (the session's own ratios are in the table)
  for (const p of PROCS) {
    vs(`throughput 64 KiB, ${p}`, 'libp2p', 'throughput >= 5x js-libp2p', (q) => q >= 5, (q) => `${q.toFixed(2)}x`)
    vs(`throughput 64 KiB, ${p}`, 'raw', 'throughput >= 0.7x raw node:net', (q) => q >= 0.7, (q) => `${q.toFixed(2)}x`)
  }
  for (const p of PROCS) vs(`64 B one way, ${p}`, 'libp2p', '64-byte messages >= 10x js-libp2p', (q) => q >= 10, (q) => `${q.toFixed(1)}x`)
  for (const p of PROCS) vs(`ping-pong median RTT, ${p}`, 'libp2p', 'round-trip time <= 0.5x js-libp2p', (q) => q <= 0.5, (q) => `${q.toFixed(2)}x`)
  for (const m of ['RSS', 'heap used']) vs(`idle connection memory, ${m} per connection`, 'libp2p', `memory per idle connection <= 0.25x js-libp2p (${m}, p4net session)`, (q) => q <= 0.25, (q) => `${q.toFixed(3)}x`, 'p4net-session')
  const b50 = `broadcast ${BROADCAST_MESSAGES} × ${BROADCAST_SIZE} B, 50 nodes`
  vs(`${b50}: time to full delivery`, 'gossipsub', 'broadcast to 50 nodes faster than gossipsub', (q) => q < 1, (q) => `${q.toFixed(2)}x the time`)
  vs(`${b50}: duplicates per delivery`, 'gossipsub', 'broadcast to 50 nodes: fewer duplicates per delivery than gossipsub', (q) => q < 1, (q) => `${q.toFixed(2)}x the duplicates`)
  const own = find('footprint: own package, unpacked', 'p4net')
  if (own) out.push({ target: 'own package <= 400 KiB unpacked', figure: `${fmt(own.value)} KiB (${Object.entries((own.byKindKiB as Record<string, number>) ?? {}).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')})`, met: own.value === null ? null : own.value <= 400 })
  const deps = find('footprint: production dependencies (direct)', 'p4net')
  if (deps) out.push({ target: 'at most 3 production dependencies', figure: `${deps.value}${(deps.dependencies as string[]).length ? ` (${(deps.dependencies as string[]).join(', ')})` : ''}`, met: deps.value === null ? null : deps.value <= 3 })
  const cold = find('footprint: cold start to first link', 'p4net')
  if (cold) out.push({ target: 'cold start to first link <= 150 ms', figure: `${fmt(cold.value)} ms [${fmt(cold.min ?? null)}–${fmt(cold.max ?? null)}]`, met: cold.value === null ? null : cold.value <= 150 })
  return out
}

function versionOf(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(PEERS, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'not installed'
  }
}

// ---------------------------------------------------------------- the run

progress(`systems: ${ACTIVE.join(', ')}; ${TRIALS} trial(s); load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
if (ACTIVE.includes('p4net-stream') && !STREAMS) notes.push('p4net stream rows skipped: this build of p4net has no plugin.openStream')
const PROCS = [
  [1, 'one process'],
  [2, 'two processes'],
] as const
{
  for (const [procs, p] of PROCS) {
    await measure([{ name: `throughput 64 KiB, ${p}`, unit: 'MB/s', better: 'higher' }], trials('throughput', procs, () => BULK_BYTES, 1 / 8, quick), {
      extra: () => ({ bytes: BULK_BYTES, messageSize: BULK_SIZE }),
      trials: STREAM_TRIALS,
      keys: P2P_KEY,
    })
  }
  for (const [procs, p] of PROCS) {
    // `for (…) await plugin.send(user, msg)`: p4net alone (the peers' write() never waits for one message).
    const awaited = (s: SystemName): number => Math.ceil(SMALL_COUNT[s] * AWAITED_SHARE)
    await measure([{ name: `64 B one way, await each, ${p}`, unit: 'msg/s', better: 'higher' }], trials('one-way', procs, awaited, ONE_WAY_WARM, quick, { inFlight: 1 }), {
      extra: (s) => ({ messages: awaited(s), inFlight: 1 }),
      systems: ['p4net-api', 'p4net-api-e2e'],
      trials: STREAM_TRIALS,
      keys: P2P_KEY,
    })
    await measure([{ name: `64 B one way, ${p}`, unit: 'msg/s', better: 'higher' }], trials('one-way', procs, (s) => SMALL_COUNT[s], ONE_WAY_WARM, quick, { inFlight: IN_FLIGHT_SENDS }), {
      extra: (s) => ({ messages: SMALL_COUNT[s], ...(s.startsWith('p4net-api') ? { inFlight: IN_FLIGHT_SENDS } : {}) }),
      systems: ['p4net-api', 'p4net-api-e2e', 'p4net', 'libp2p', 'secret-stream', 'raw'],
      trials: STREAM_TRIALS,
      keys: P2P_KEY,
    })
  }
  for (const [procs, p] of PROCS) {
    await measure(
      [
        { name: `ping-pong 64 B, ${p}`, unit: 'round trips/s', better: 'higher' },
        { name: `ping-pong median RTT, ${p}`, unit: 'µs', better: 'lower' },
        { name: `ping-pong p99 RTT, ${p}`, unit: 'µs', better: 'lower' },
      ],
      trials('ping-pong', procs, () => ROUND_TRIPS, 1 / 10, quick),
      { extra: () => ({ roundTrips: ROUND_TRIPS }), systems: ['p4net-api', 'p4net', 'libp2p', 'secret-stream', 'raw'], keys: P2P_KEY },
    )
  }
  for (const [procs, p] of PROCS) {
    await measure([{ name: `connection setup (${IN_FLIGHT} in flight), ${p}`, unit: 'connections/s', better: 'higher' }], trials('setup', procs, () => SETUPS, 1 / 10, quick), {
      extra: () => ({ connections: SETUPS, what: 'connect, handshake, one 64-byte echo, close' }),
      systems: NODE_SYSTEMS,
      keys: P2P_KEY,
    })
  }
  for (const warm of [false, true]) {
    const w = warm ? ' after a warm-up' : ''
    await measure(
      [
        { name: `idle connection memory${w}, RSS per connection`, unit: 'KiB', better: 'lower' },
        { name: `idle connection memory${w}, heap used per connection`, unit: 'KiB', better: 'lower' },
        { name: `idle connection memory${w}, heap total per connection`, unit: 'KiB', better: 'lower' },
        { name: `idle connection memory${w}, external per connection`, unit: 'KiB', better: 'lower' },
      ],
      (s) => idleFigures(s, IDLE, warm),
      { extra: () => ({ connections: IDLE, warmUp: warm }), systems: NODE_SYSTEMS, keys: P2P_KEY },
    )
  }
  for (const n of BROADCAST_NODES) await broadcastCase(n)
  footprintSizes()
  await coldCase()
  await measure(
    [
      { name: `footprint: one node with ${NODE_LINKS} links, RSS`, unit: 'MiB', better: 'lower' },
      { name: `footprint: one node with ${NODE_LINKS} links, RSS over bare Node`, unit: 'MiB', better: 'lower' },
      { name: `footprint: one node with ${NODE_LINKS} links, heap used over bare Node`, unit: 'MiB', better: 'lower' },
    ],
    (s) => nodeFigures(s),
    { systems: NODE_SYSTEMS },
  )
}

// --merge: the committed file's rows of other cases come back, in their order, before the table and the targets see them.
const previous = merge ? readResults('compare') : null
if (merge && !previous) throw new Error('--merge: there is no bench/results/compare.json to merge into')
if (previous) {
  const fresh = rows.rows.splice(0)
  const placed = new Set<string>()
  for (const r of previous.results) {
    if (!r.case.includes(only)) rows.rows.push(r)
    else if (!placed.has(r.case)) {
      placed.add(r.case)
      rows.rows.push(...fresh.filter((f) => f.case === r.case))
    }
  }
  rows.rows.push(...fresh.filter((f) => !placed.has(f.case)))
  notes.push(...(previous.notes ?? []).filter((n) => !n.startsWith('rows of cases matching')))
  notes.push(`rows of cases matching "${only}" re-measured on ${new Date().toISOString().slice(0, 10)} (--merge); the others are from ${(previous.merged as { from?: string } | undefined)?.from?.slice(0, 10) ?? previous.date.slice(0, 10)}`)
}

printTable()
const goals = targets()
printTargets('issues 6 and 17', goals, quick)
console.log(`\nload average (1 min) per case: ${load.map((l) => `${l.case.split(',')[0]} ${l.before.toFixed(2)}→${l.after.toFixed(2)}`).join('; ')}`)
for (const n of notes) console.log(`note: ${n}`)

const body = {
  ...(previous ? { merged: { from: (previous.merged as { from?: string } | undefined)?.from ?? previous.date, cases: only } } : {}),
  quick,
  // --merge keeps the header of the run whose other rows stay.
  trials: previous?.trials ?? TRIALS,
  streamTrials: (previous?.streamTrials as number | undefined) ?? STREAM_TRIALS,
  coldTrials: COLD_TRIALS,
  versions: Object.fromEntries(
    ['libp2p', '@libp2p/tcp', '@chainsafe/libp2p-noise', '@chainsafe/libp2p-yamux', '@libp2p/identify', '@chainsafe/libp2p-gossipsub', '@hyperswarm/secret-stream', 'it-length-prefixed', 'it-pushable'].map((p) => [p, versionOf(p)]),
  ),
  setup: {
    loopback: '127.0.0.1, port 0, Nagle off on every socket',
    bulk: { messageSize: BULK_SIZE, bytesPerTrial: BULK_BYTES },
    oneWay: { messageSize: SMALL_SIZE, messages: SMALL_COUNT, awaitedShare: AWAITED_SHARE, p4netInFlight: IN_FLIGHT_SENDS },
    pingPong: { messageSize: SMALL_SIZE, roundTrips: ROUND_TRIPS },
    connectionSetup: { connections: SETUPS, inFlight: IN_FLIGHT, what: 'connect, handshake, one 64-byte echo, close' },
    idle: { connections: IDLE, what: 'process.memoryUsage() after two gc() in a fresh child, one connection open before; measured without and with a warm-up of as many connections opened and closed first (bench/compare/worker.ts measureIdle)' },
    broadcast: { nodes: BROADCAST_NODES, messages: BROADCAST_MESSAGES, size: BROADCAST_SIZE, what: 'every node in this process; gossipsub wired along the links p4net chose; duplicates per delivery = (receptions of already-seen messages) / deliveries over all nodes' },
    p4net: 'column p4net: the public API (createNode, `await plugin.send`, `await plugin.broadcast`); p4net session: TCP + P4/2 preamble + Noise XX + Session, one DATA frame per message (bench/session-peer.ts), also the p4net of connection setup and idle memory; cold start and node memory: createNode',
    forms: FORMS,
    libp2p: { ...LIBP2P_CONFIG, channel: 'one yamux stream per connection (dial with force: true); bulk: generator into stream.sink; messages: it-length-prefixed' },
    gossipsub: { ...GOSSIPSUB_OPTIONS, rest: 'defaults (StrictSign, D 6, Dlo 4, Dhi 12, floodPublish, heartbeat 1 s)', services: 'identify + gossipsub on the libp2p stack above' },
    secretStream: 'one SecretStream per node:net socket, one fixed key pair per side; write() with drain, each write() is one message',
    raw: 'bench/net-baseline.ts: u32 length prefix, one socket write per tick',
    streams: STREAMS ? 'p4net stream rows: plugin.openStream' : 'p4net stream rows: skipped, no plugin.openStream in this build',
  },
  load: previous ? [...((previous.load as typeof load | undefined) ?? []).filter((l) => !l.case.includes(only)), ...load] : load,
  results: rows.rows,
  targets: goals,
  notes,
}
// A smoke run or a partial one (--only, --systems) leaves bench/results alone.
const { file, report } = writeResults('compare', body, { smoke: quick || (only !== '' && !merge) || args.systems !== undefined })
const chartDir = join(dirname(file), 'charts')
progress(`${drawCharts(report, chartDir).length} charts in ${chartDir}`)
// libp2p and p4net leave timers and sockets to unwind; the run is over.
process.exit(0)
