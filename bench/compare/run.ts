// p4net side by side with what one would otherwise pick, in one run on one
// machine: js-libp2p 2.10 (TCP + noise + yamux), @hyperswarm/
// secret-stream over node:net, raw node:net (the unencrypted ceiling), and
// for broadcast @chainsafe/libp2p-gossipsub. Loopback only (127.0.0.1).
//   1. throughput, 64 KiB messages, BULK_BYTES per trial        one / two processes
//   2. one-way rate of 64-byte messages on one connection         one / two processes
//   3. ping-pong: round trips/s, median and p99 round-trip time   one / two processes
//   4. connection setup: connect + handshake + one 64-byte echo, 8 in flight
//   5. memory per idle connection, IDLE connections from a fresh child (--expose-gc)
//   6. broadcast of 1,000 × 256 B on 10 and 50 nodes: p4net flooding vs gossipsub
//      over the same link graph; time to full delivery, duplicates per delivery
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
//   node dist/bench/compare/run.js [--quick] [--only <case substring>] [--systems p4net,libp2p,...]
// (--only / --systems are for looking closer at one case or system)
import { readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createNode, type Node } from '../../ts/index.js'
import { writeResults, type Result, type Target } from '../../common/results.js'
import { runJson, type Child } from '../child.js'
import { interleaved, printTargets, round, Rows, withTimeout, type Metric } from '../lib.js'
import { drawCharts } from '../report.js'
import type { BroadcastTrial } from './broadcast.js'
import { fmt, ratioText } from './chart.js'
import { closure, packInfo, productionDependencies } from './footprint.js'
import { GOSSIPSUB_OPTIONS } from './gossipsub.js'
import { LIBP2P_CONFIG, startLibp2p } from './libp2p.js'
import { nodeMemory } from './node-memory.js'
import { LABELS, loadSystem, SYSTEMS, type Channel, type PeerModules, type SystemName } from './system.js'
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
  },
})
const quick = args.quick!
const only = args.only ?? ''
const ACTIVE: SystemName[] = args.systems ? (args.systems.split(',') as SystemName[]) : SYSTEMS
for (const s of ACTIVE) if (!SYSTEMS.includes(s)) throw new Error(`--systems: unknown system ${s} (have ${SYSTEMS.join(', ')})`)

const TRIALS = quick ? 1 : 3
/** Bulk and small-message trials are short and move most with other jobs: more of them. */
const STREAM_TRIALS = quick ? 1 : 5
const MiB = 1024 * 1024
const BULK_BYTES = quick ? 16 * MiB : 512 * MiB
/** Messages per one-way trial: each system's trial lasts about a second or more. */
const SMALL_COUNT: Record<SystemName, number> = quick
  ? { p4net: 20_000, raw: 20_000, 'secret-stream': 20_000, libp2p: 5_000, 'libp2p-batched': 20_000 }
  : { p4net: 2_000_000, raw: 2_000_000, 'secret-stream': 500_000, libp2p: 200_000, 'libp2p-batched': 1_000_000 }
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
  opts: { trials?: number; systems?: SystemName[]; extra?: (s: SystemName) => Record<string, unknown> } = {},
): Promise<void> {
  if (!wanted(metrics)) return
  const systems = (opts.systems ?? SYSTEMS).filter((s) => ACTIVE.includes(s === 'libp2p-batched' ? 'libp2p' : s))
  const label = metrics[0]!.name
  const before = loadavg()[0]!
  const outcome = await interleaved(systems, opts.trials ?? TRIALS, label, fn, { timeoutMs: TRIAL_TIMEOUT_MS, units: metrics.map((m) => m.unit), fmt, progress })
  rows.recordAll(metrics, outcome, opts.extra)
  load.push({ case: label, before, after: loadavg()[0]! })
}

// ---------------------------------------------------------------- broadcast

async function broadcastCase(n: number): Promise<void> {
  const base = `broadcast ${BROADCAST_MESSAGES} × ${BROADCAST_SIZE} B, ${n} nodes`
  const metrics: Metric[] = [
    { name: `${base}: time to full delivery`, unit: 'ms', better: 'lower' },
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
      rows.record(metrics[1]!, system, rs.map((r) => r?.duplicatesPerDelivery ?? null), [], extra)
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
    for (const s of SYSTEMS.filter((x) => ACTIVE.includes(x))) hosts.set(s, await coldHost(s))
    await measure(
      metrics,
      (s) => coldStart(s, hosts.get(s)!.address),
      { trials: COLD_TRIALS },
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

const COLUMNS = ['p4net', 'libp2p', 'libp2p-batched', 'gossipsub', 'secret-stream', 'raw']
const COLUMN_LABELS: Record<string, string> = { ...LABELS, gossipsub: 'gossipsub 14' }

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
  const vs = (c: string, other: string, what: string, ok: (p4OverOther: number) => boolean, show: (x: number) => string): void => {
    const r = ratio(c, other)
    if (!find(c, 'p4net')) return
    const q = r === null || r === 0 ? null : 1 / r
    out.push({ target: what, figure: q === null ? `n/a (${c})` : `${show(q)} (${c}: p4net ${fmt(find(c, 'p4net')!.value)} vs ${fmt(find(c, other)!.value)} ${find(c, other)!.unit})`, met: q === null ? null : ok(q) })
  }
  for (const p of PROCS) {
    vs(`throughput 64 KiB, ${p}`, 'libp2p', 'throughput >= 5x js-libp2p', (q) => q >= 5, (q) => `${q.toFixed(2)}x`)
    vs(`throughput 64 KiB, ${p}`, 'raw', 'throughput >= 0.7x raw node:net', (q) => q >= 0.7, (q) => `${q.toFixed(2)}x`)
  }
  for (const p of PROCS) vs(`64 B one way, ${p}`, 'libp2p', '64-byte messages >= 10x js-libp2p', (q) => q >= 10, (q) => `${q.toFixed(1)}x`)
  for (const p of PROCS) vs(`ping-pong median RTT, ${p}`, 'libp2p', 'round-trip time <= 0.5x js-libp2p', (q) => q <= 0.5, (q) => `${q.toFixed(2)}x`)
  for (const m of ['RSS', 'heap used']) vs(`idle connection memory, ${m} per connection`, 'libp2p', `memory per idle connection <= 0.25x js-libp2p (${m})`, (q) => q <= 0.25, (q) => `${q.toFixed(3)}x`)
  const b50 = `broadcast ${BROADCAST_MESSAGES} × ${BROADCAST_SIZE} B, 50 nodes`
  vs(`${b50}: time to full delivery`, 'gossipsub', 'broadcast to 50 nodes faster than gossipsub', (q) => q < 1, (q) => `${q.toFixed(2)}x the time`)
  vs(`${b50}: duplicates per delivery`, 'gossipsub', 'broadcast to 50 nodes: fewer duplicates per delivery than gossipsub', (q) => q < 1, (q) => `${q.toFixed(2)}x the duplicates`)
  const own = find('footprint: own package, unpacked', 'p4net')
  if (own) out.push({ target: 'own package <= 400 KiB unpacked', figure: `${fmt(own.value)} KiB (${Object.entries((own.byKindKiB as Record<string, number>) ?? {}).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')})`, met: own.value === null ? null : own.value <= 400 })
  const deps = find('footprint: production dependencies (direct)', 'p4net')
  if (deps) out.push({ target: 'at most 3 production dependencies', figure: `${deps.value} (${(deps.dependencies as string[]).join(', ')})`, met: deps.value === null ? null : deps.value <= 3 })
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
const PROCS = [
  [1, 'one process'],
  [2, 'two processes'],
] as const
{
  for (const [procs, p] of PROCS) {
    await measure([{ name: `throughput 64 KiB, ${p}`, unit: 'MB/s', better: 'higher' }], trials('throughput', procs, () => BULK_BYTES, 1 / 8, quick), {
      extra: () => ({ bytes: BULK_BYTES, messageSize: BULK_SIZE }),
      trials: STREAM_TRIALS,
    })
  }
  for (const [procs, p] of PROCS) {
    await measure([{ name: `64 B one way, ${p}`, unit: 'msg/s', better: 'higher' }], trials('one-way', procs, (s) => SMALL_COUNT[s], 1 / 10, quick), {
      extra: (s) => ({ messages: SMALL_COUNT[s] }),
      systems: ['p4net', 'libp2p', 'libp2p-batched', 'secret-stream', 'raw'],
      trials: STREAM_TRIALS,
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
      { extra: () => ({ roundTrips: ROUND_TRIPS }) },
    )
  }
  for (const [procs, p] of PROCS) {
    await measure([{ name: `connection setup (${IN_FLIGHT} in flight), ${p}`, unit: 'connections/s', better: 'higher' }], trials('setup', procs, () => SETUPS, 1 / 10, quick), {
      extra: () => ({ connections: SETUPS, what: 'connect, handshake, one 64-byte echo, close' }),
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
      { extra: () => ({ connections: IDLE, warmUp: warm }) },
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
  )
}

printTable()
const goals = targets()
printTargets('issue 6', goals, quick)
console.log(`\nload average (1 min) per case: ${load.map((l) => `${l.case.split(',')[0]} ${l.before.toFixed(2)}→${l.after.toFixed(2)}`).join('; ')}`)
for (const n of notes) console.log(`note: ${n}`)

const body = {
  quick,
  trials: TRIALS,
  streamTrials: STREAM_TRIALS,
  coldTrials: COLD_TRIALS,
  versions: Object.fromEntries(
    ['libp2p', '@libp2p/tcp', '@chainsafe/libp2p-noise', '@chainsafe/libp2p-yamux', '@libp2p/identify', '@chainsafe/libp2p-gossipsub', '@hyperswarm/secret-stream'].map((p) => [p, versionOf(p)]),
  ),
  setup: {
    loopback: '127.0.0.1, port 0, Nagle off on every socket',
    bulk: { messageSize: BULK_SIZE, bytesPerTrial: BULK_BYTES },
    oneWay: { messageSize: SMALL_SIZE, messages: SMALL_COUNT },
    pingPong: { messageSize: SMALL_SIZE, roundTrips: ROUND_TRIPS },
    connectionSetup: { connections: SETUPS, inFlight: IN_FLIGHT, what: 'connect, handshake, one 64-byte echo, close' },
    idle: { connections: IDLE, what: 'process.memoryUsage() after two gc() in a fresh child, one connection open before; measured without and with a warm-up of as many connections opened and closed first (bench/compare/worker.ts measureIdle)' },
    broadcast: { nodes: BROADCAST_NODES, messages: BROADCAST_MESSAGES, size: BROADCAST_SIZE, what: 'every node in this process; gossipsub wired along the links p4net chose; duplicates per delivery = (receptions of already-seen messages) / deliveries over all nodes' },
    p4net: 'point-to-point cases: TCP + P4/2 preamble + Noise XX + Session, one DATA frame per message (bench/session-peer.ts); broadcast, cold start and node memory: the public API (createNode)',
    libp2p: { ...LIBP2P_CONFIG, channel: 'one yamux stream per connection (dial with force: true), u32 length-prefixed messages, one sink chunk per tick' },
    gossipsub: { ...GOSSIPSUB_OPTIONS, rest: 'defaults (StrictSign, D 6, Dlo 4, Dhi 12, floodPublish, heartbeat 1 s)', services: 'identify + gossipsub on the libp2p stack above' },
    secretStream: 'one SecretStream per node:net socket, one fixed key pair per side; each write() is one message',
    raw: 'bench/net-baseline.ts: u32 length prefix, one socket write per tick',
  },
  load,
  results: rows.rows,
  targets: goals,
  notes,
}
// A smoke run or a partial one (--only, --systems) leaves bench/results alone.
const { file, report } = writeResults('compare', body, { smoke: quick || only !== '' || args.systems !== undefined })
const chartDir = join(dirname(file), 'charts')
progress(`${drawCharts(report, chartDir).length} charts in ${chartDir}`)
// libp2p and p4net leave timers and sockets to unwind; the run is over.
process.exit(0)
