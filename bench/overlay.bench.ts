// The overlay as an application sees it, through the public API:
//   1. broadcast: one node floods MESSAGES × 256 B on 100 memory-transport
//      nodes and on 20 loopback TCP nodes (all in this process). Time until
//      every node has every message, messages/s, duplicate receptions per
//      delivered message (Δ dedupHits / Δ delivered over all nodes), mean
//      link count, and whether each node delivered each message exactly once;
//   2. unicast throughput between two linked TCP nodes, 64 KiB messages via
//      plugin.send (plain and end-to-end encrypted), next to a raw Session pair
//      (common/pair.ts sessionPair) moving the same messages, in one run;
//   3. memory of one default-profile and one small-profile node holding 8
//      links, each in a fresh child process (the 8 peers live in this one):
//      RSS / heap / external after GC, minus the child's baseline taken after
//      the WASM kernel is loaded.
// Every figure is the median of 3 trials [min–max] (unicast: 5, interleaved,
// plus the median of per-round ratios): other jobs may share the machine,
// so single runs move. Broadcast trials reuse one network
// (a fresh message range per trial). Nodes use the test timers
// (common/net.ts: maintenance 50 ms), default link targets. The broadcast
// trial and the node-memory child are bench:compare's (bench/compare/
// broadcast.ts, bench/compare/node-memory.ts).
//
//   node dist/bench/overlay.bench.js [--quick]
// --quick is a CI smoke (20 memory nodes, 5 TCP nodes, 100 messages, 16 MiB,
// one trial) and writes its JSON under $TMPDIR/p4net-bench-quick instead of
// bench/results/overlay.json.
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import type { Node, Profile } from '../ts/index.js'
import { FAST_TIMERS, startNet, type TestNet, type TransportName } from '../common/net.js'
import { sessionPair } from '../common/pair.js'
import { writeResults, type Result, type Target } from '../common/results.js'
import { MsgType } from '../ts/core/protocol.js'
import { broadcastTrial, p4netBroadcastNet, type BroadcastTrial } from './compare/broadcast.js'
import { fmt } from './compare/chart.js'
import { nodeMemory, type NodeMemory } from './compare/node-memory.js'
import { NODE_LINKS, PLUGIN } from './compare/worker.js'
import { printTargets, Rows } from './lib.js'

const quick = process.argv.includes('--quick')
const TRIALS = quick ? 1 : 3
/** Unicast trials are short and the noisiest figure here: more of them. */
const UNICAST_TRIALS = quick ? 1 : 5
const MESSAGES = quick ? 100 : 1000
const MESSAGE_SIZE = 256
const NETS: { transport: TransportName; n: number }[] = quick
  ? [
      { transport: 'memory', n: 20 },
      { transport: 'tcp', n: 5 },
    ]
  : [
      { transport: 'memory', n: 100 },
      { transport: 'tcp', n: 20 },
    ]
const CONVERGE_MS = quick ? 10_000 : 30_000
const DELIVER_MS = quick ? 20_000 : 120_000
const UNICAST_SIZE = 64 * 1024
const UNICAST_BYTES = (quick ? 16 : 256) * 1024 * 1024

function progress(msg: string): void {
  process.stderr.write(`[overlay] ${msg}\n`)
}

const rows = new Rows()
const notes: string[] = []

/** Records one metric over trials (null = failed trial). */
function record(caseName: string, impl: string, unit: string, trials: (number | null)[], extra: Record<string, unknown> = {}): void {
  rows.record({ name: caseName, unit }, impl, trials, [], extra)
}

// ---------------------------------------------------------------- broadcast

const perSecond = (timeMs: number): number => (MESSAGES / timeMs) * 1000
const exactlyOnce = (r: BroadcastTrial): boolean => r.missing === 0 && r.repeated === 0

async function broadcastCase(transport: TransportName, n: number): Promise<void> {
  const label = `broadcast ${MESSAGES} × ${MESSAGE_SIZE} B, ${n} ${transport === 'tcp' ? 'TCP' : 'memory'} nodes`
  progress(`${label}: starting the network`)
  const t0 = performance.now()
  // Measured even if not converged: a node that does not know the sender cannot deliver its messages.
  const net = await p4netBroadcastNet(n, PLUGIN, CONVERGE_MS, (s) => (notes.push(`${label}: ${s}`), progress(`  ${s}`)), transport)
  try {
    const converged = net.ready
    const convergeMs = performance.now() - t0
    progress(`${label}: ${converged ? 'converged' : 'NOT converged'} in ${convergeMs.toFixed(0)} ms`)
    const trials: ((BroadcastTrial & { meanLinks: number }) | null)[] = []
    for (let t = 0; t < TRIALS; t++) {
      try {
        // Incomplete once nothing has been delivered for a second (a node that does not know the sender never delivers).
        const r = { ...(await broadcastTrial(net, t, MESSAGES, MESSAGE_SIZE, 1000, DELIVER_MS)), meanLinks: net.meanLinks() }
        trials.push(r)
        progress(
          `${label}: trial ${t + 1}/${TRIALS}: ${r.timeMs === null ? 'incomplete' : `${r.timeMs.toFixed(0)} ms, ${perSecond(r.timeMs).toFixed(0)} msg/s`}, ${r.duplicatesPerDelivery.toFixed(2)} dup/delivery, ${r.meanLinks.toFixed(2)} links, ${exactlyOnce(r) ? 'exactly once' : `missing ${r.missing}, duplicates ${r.repeated}`}`,
        )
      } catch (err) {
        trials.push(null)
        progress(`${label}: trial ${t + 1}/${TRIALS} FAILED: ${(err as Error).message}`)
      }
    }
    const pick = (f: (r: BroadcastTrial & { meanLinks: number }) => number | null): (number | null)[] => trials.map((r) => (r === null ? null : f(r)))
    const ok = trials.filter((r): r is BroadcastTrial & { meanLinks: number } => r !== null)
    const extra = {
      nodes: n,
      transport,
      converged,
      convergeMs: Math.round(convergeMs),
      exactlyOnce: ok.length === TRIALS && ok.every(exactlyOnce),
      missing: ok.map((r) => r.missing),
      duplicateDeliveries: ok.map((r) => r.repeated),
      droppedSlowPeer: ok.map((r) => r.dropped),
    }
    record(`${label}: time until all have all`, 'p4net', 'ms', pick((r) => r.timeMs), extra)
    record(`${label}: rate`, 'p4net', 'messages/s', pick((r) => (r.timeMs === null ? null : perSecond(r.timeMs))))
    record(`${label}: duplicates per delivery`, 'p4net', 'receptions', pick((r) => r.duplicatesPerDelivery))
    record(`${label}: mean links per node`, 'p4net', 'links', pick((r) => r.meanLinks))
    const incomplete = ok.filter((r) => r.missing > 0)
    if (incomplete.length) notes.push(`${label}: ${incomplete.length} trial(s) incomplete, ${incomplete.map((r) => r.missing).join(' / ')} deliveries missing (a node that does not list the sender drops its broadcasts as unknownOrigin)`)
  } finally {
    await net.stop()
  }
}

// ---------------------------------------------------------------- unicast

type UnicastImpl = 'session' | 'plugin.send' | 'plugin.send encrypted'

/** MB/s (10^6 bytes) of UNICAST_BYTES in UNICAST_SIZE messages, sender's first send to receiver's last byte. */
async function unicastTrial(impl: UnicastImpl, net: TestNet | null): Promise<number> {
  const count = UNICAST_BYTES / UNICAST_SIZE
  const buf = new Uint8Array(UNICAST_SIZE).fill(0x5a)
  let received = 0
  let doneAt = 0
  let resolveDone!: () => void
  const done = new Promise<void>((r) => (resolveDone = r))
  const onBytes = (n: number): void => {
    received += n
    if (received >= UNICAST_BYTES && doneAt === 0) {
      doneAt = performance.now()
      resolveDone()
    }
  }
  if (impl === 'session') {
    const { a, b, close } = await sessionPair('tcp')
    try {
      b.onframe = (f) => onBytes(f.payload.length)
      const t0 = performance.now()
      for (let k = 0; k < count; k++) {
        if (!a.send(MsgType.DATA, 0, 0, PLUGIN, 0, k, buf)) await new Promise((r) => a.once('drain', r))
      }
      await done
      return UNICAST_BYTES / ((doneAt - t0) / 1000) / 1e6
    } finally {
      await close()
    }
  }
  const [from, to] = net!.nodes as [Node, Node]
  const handler = (m: { data: Uint8Array }): void => onBytes(m.data.length)
  to.plugin(PLUGIN).on('message', handler)
  try {
    const chat = from.plugin(PLUGIN)
    const encrypted = impl === 'plugin.send encrypted'
    const t0 = performance.now()
    for (let k = 0; k < count; k++) await chat.send(to.username, buf, { encrypted })
    await done
    return UNICAST_BYTES / ((doneAt - t0) / 1000) / 1e6
  } finally {
    to.plugin(PLUGIN).off('message', handler)
  }
}

async function unicastCase(): Promise<void> {
  const label = `unicast ${UNICAST_SIZE / 1024} KiB messages, loopback TCP`
  const impls: UnicastImpl[] = ['session', 'plugin.send', 'plugin.send encrypted']
  const net = await startNet({ n: 2, transport: 'tcp', plugins: [PLUGIN] })
  try {
    const got = new Map<UnicastImpl, (number | null)[]>(impls.map((i) => [i, []]))
    // Warm-up (not recorded), then trials with the impls interleaved.
    for (const impl of impls) await unicastTrial(impl, net).catch(() => 0)
    for (let t = 0; t < UNICAST_TRIALS; t++) {
      for (const impl of impls) {
        try {
          const v = await unicastTrial(impl, net)
          got.get(impl)!.push(v)
          progress(`${label}: ${impl} trial ${t + 1}/${UNICAST_TRIALS}: ${v.toFixed(0)} MB/s`)
        } catch (err) {
          got.get(impl)!.push(null)
          progress(`${label}: ${impl} trial ${t + 1}/${UNICAST_TRIALS} FAILED: ${(err as Error).message}`)
        }
      }
    }
    for (const impl of impls) record(`${label}: throughput`, impl, 'MB/s', got.get(impl)!, { bytes: UNICAST_BYTES })
    // Trials run back to back per round, so a per-round ratio cancels most of the machine's drift.
    const session = got.get('session')!
    const perRound = got.get('plugin.send')!.map((v, t) => (v === null || !session[t] ? null : v / session[t]!))
    record(`${label}: plugin.send / session, same round`, 'ratio', '×', perRound)
  } finally {
    await net.stop()
  }
}

// ---------------------------------------------------------------- memory

async function memoryCase(): Promise<void> {
  for (const profile of ['default', 'small'] as Profile[]) {
    const label = `memory, one ${profile}-profile node with ${NODE_LINKS} links`
    const samples: (NodeMemory | null)[] = []
    for (let t = 0; t < TRIALS; t++) {
      try {
        // The base sample with the WASM kernel loaded: what the node adds to a process that has p4net.
        const s = await nodeMemory('p4net', { profile, fastTimers: true, baseline: 'kernel' })
        samples.push(s)
        progress(`${label}: trial ${t + 1}/${TRIALS}: rss +${((s.used.rss - s.base.rss) / 1024 / 1024).toFixed(1)} MiB, heap +${((s.used.heapUsed - s.base.heapUsed) / 1024 / 1024).toFixed(2)} MiB, links ${s.links}`)
      } catch (err) {
        samples.push(null)
        progress(`${label}: trial ${t + 1}/${TRIALS} FAILED: ${(err as Error).message}`)
      }
    }
    const mib = (f: (s: NodeMemory) => number): (number | null)[] => samples.map((s) => (s === null ? null : f(s) / 1024 / 1024))
    const dedup = samples.find((s) => s !== null)?.dedupBytes
    record(`${label}: RSS over baseline`, profile, 'MiB', mib((s) => s.used.rss - s.base.rss), { dedupTableBytes: dedup })
    record(`${label}: heap used over baseline`, profile, 'MiB', mib((s) => s.used.heapUsed - s.base.heapUsed))
    record(`${label}: external (ArrayBuffers, WASM) over baseline`, profile, 'MiB', mib((s) => s.used.external - s.base.external))
    record(`${label}: RSS total`, profile, 'MiB', mib((s) => s.used.rss))
  }
}

// ---------------------------------------------------------------- report

function find(caseName: string, impl: string): Result | undefined {
  return rows.find(caseName, impl)
}

function printTable(): void {
  const w0 = Math.max(...rows.rows.map((r) => r.case.length + r.impl.length + 3))
  console.log(`\np4net overlay${quick ? ' (--quick)' : ''}: median of ${TRIALS} trial(s), unicast ${UNICAST_TRIALS} [min–max]; ${cpus().length} cores, ${process.version}`)
  for (const r of rows.rows) {
    const range = (r.trials?.length ?? 0) > 1 ? ` [${fmt(r.min ?? null)}–${fmt(r.max ?? null)}]` : ''
    console.log(`${`${r.case} (${r.impl})`.padEnd(w0)}  ${`${fmt(r.value)}${range}`.padStart(24)} ${r.unit}`)
  }
  for (const n of notes) console.log(`note: ${n}`)
}

function targets(): Target[] {
  const out: Target[] = []
  const net = NETS[0]!
  const label = `broadcast ${MESSAGES} × ${MESSAGE_SIZE} B, ${net.n} memory nodes`
  const time = find(`${label}: time until all have all`, 'p4net')
  const dup = find(`${label}: duplicates per delivery`, 'p4net')?.value
  const links = find(`${label}: mean links per node`, 'p4net')?.value
  if (time) {
    out.push({ target: `${net.n} memory nodes: every broadcast delivered at every node exactly once`, figure: time.exactlyOnce ? 'yes, every trial' : `no (missing ${String(time.missing)}, duplicates ${String(time.duplicateDeliveries)})`, met: time.exactlyOnce === true })
  }
  if (dup !== undefined && dup !== null && links !== undefined && links !== null) {
    out.push({ target: 'duplicates per delivery ≤ mean link count', figure: `${fmt(dup)} ≤ ${fmt(links)}`, met: dup <= links })
  }
  const ulabel = `unicast ${UNICAST_SIZE / 1024} KiB messages, loopback TCP`
  const s = find(`${ulabel}: throughput`, 'session')?.value
  const p = find(`${ulabel}: throughput`, 'plugin.send')?.value
  const r = find(`${ulabel}: plugin.send / session, same round`, 'ratio')?.value
  if (s && p !== undefined && r !== undefined) {
    out.push({
      target: 'public-API unicast ≥ 0.8 × session',
      figure: p === null || r === null ? 'failed' : `median ${fmt(p)} vs ${fmt(s)} MB/s; median per-round ratio ${r.toFixed(2)}×`,
      met: r === null ? false : r >= 0.8,
    })
  }
  return out
}

async function main(): Promise<void> {
  for (const net of NETS) await broadcastCase(net.transport, net.n)
  await unicastCase()
  await memoryCase()
  printTable()
  const goals = targets()
  printTargets('issue 4, item 13', goals, quick)
  writeResults('overlay', {
    quick,
    trials: TRIALS,
    unicastTrials: UNICAST_TRIALS,
    setup: {
      networks: NETS,
      messages: MESSAGES,
      messageSize: MESSAGE_SIZE,
      unicastMessageSize: UNICAST_SIZE,
      unicastBytes: UNICAST_BYTES,
      timers: FAST_TIMERS,
      process: 'every node of a network in this one process (memory: one MemoryNetwork; tcp: 127.0.0.1, port 0); memory figures from a child process per trial',
      duplicatesPerDelivery: 'Σ Δ stats().dedupHits / Σ Δ stats().delivered over all nodes during the trial',
    },
    results: rows.rows,
    targets: goals,
    notes,
  })
}

await main()
