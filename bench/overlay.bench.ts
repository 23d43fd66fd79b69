// The overlay as an application sees it, through the public API:
//   1. broadcast: one node floods MESSAGES × 256 B on 100 memory-transport
//      nodes and on 20 loopback TCP nodes (all in this process). Time until
//      every node has every message, messages/s, duplicate receptions per
//      delivered message (Δ dedupHits / Δ delivered over all nodes), mean
//      link count, and whether each node delivered each message exactly once;
//   2. unicast throughput between two linked TCP nodes, 64 KiB messages via
//      plugin.send (plain and end-to-end encrypted), next to a raw Session pair
//      (test/helpers/pair.ts sessionPair) moving the same messages, in one run;
//   3. memory of one default-profile and one small-profile node holding 8
//      links, each in a fresh child process (the 8 peers live in this one):
//      RSS / heap / external after GC, minus the child's baseline taken after
//      the WASM kernel is loaded.
// Every figure is the median of 3 trials [min–max] (unicast: 5, interleaved,
// plus the median of per-round ratios): other jobs share this 2-core machine,
// so single runs move. Broadcast trials reuse one network
// (a fresh message range per trial). Nodes use the test timers
// (test/helpers/testnet.ts: maintenance 50 ms), default link targets.
//
//   node dist/bench/overlay.bench.js [--quick]
// --quick is a CI smoke (20 memory nodes, 5 TCP nodes, 100 messages, 16 MiB,
// one trial) and does not write bench/results/overlay.json.
import { fork } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { createNode, type Node, type Profile } from '../ts/index.js'
import { MsgType } from '../ts/core/protocol.js'
import { kernel } from '../ts/wasm/loader.js'
import { sessionPair } from '../test/helpers/pair.js'
import { describeConvergence, FAST_TIMERS, sleep, startNet, waitFor, waitQuiet, type TestNet, type TransportName } from '../test/helpers/testnet.js'
import { median } from './lib.js'

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
const MEMORY_LINKS = 8
const PLUGIN = 4242

function progress(msg: string): void {
  process.stderr.write(`[overlay] ${msg}\n`)
}


function round(x: number): number {
  return Math.round(x * 1000) / 1000
}

interface Row {
  case: string
  impl: string
  value: number | null
  unit: string
  min?: number | null
  max?: number | null
  trials?: (number | null)[]
  [extra: string]: unknown
}

const rows: Row[] = []
const notes: string[] = []

/** Records one metric over trials (null = failed trial). */
function record(caseName: string, impl: string, unit: string, trials: (number | null)[], extra: Record<string, unknown> = {}): void {
  const ok = trials.filter((v): v is number => v !== null)
  rows.push({
    case: caseName,
    impl,
    value: ok.length ? round(median(ok)) : null,
    unit,
    min: ok.length ? round(Math.min(...ok)) : null,
    max: ok.length ? round(Math.max(...ok)) : null,
    trials: trials.map((v) => (v === null ? null : round(v))),
    ...extra,
  })
}

// ---------------------------------------------------------------- broadcast

interface BroadcastTrial {
  /** null when some node never got every message (then see missing). */
  timeMs: number | null
  perSecond: number | null
  duplicatesPerDelivery: number
  meanLinks: number
  exactlyOnce: boolean
  missing: number
  duplicates: number
  droppedSlowPeer: number
}

/** One node broadcasts MESSAGES on `net`; every other node counts what it gets. */
async function broadcastTrial(net: TestNet, trial: number): Promise<BroadcastTrial> {
  const nodes = net.nodes
  const sender = nodes[0]!
  const receivers = nodes.slice(1)
  const base = trial * MESSAGES
  const seen = receivers.map(() => new Uint8Array(MESSAGES))
  const got = receivers.map(() => 0)
  let duplicates = 0
  let done = 0
  let lastAt = 0
  const handlers = receivers.map((node, r) => {
    const h = (m: { data: Uint8Array }): void => {
      const k = new DataView(m.data.buffer, m.data.byteOffset, 4).getUint32(0) - base
      if (k < 0 || k >= MESSAGES) return
      if (seen[r]![k]) {
        duplicates++
        return
      }
      seen[r]![k] = 1
      if (++got[r]! === MESSAGES) {
        done++
        lastAt = performance.now()
      }
    }
    node.plugin(PLUGIN).on('message', h)
    return h
  })
  await waitQuiet(nodes, 100, 30_000)
  const before = nodes.map((x) => x.stats())
  const payload = new Uint8Array(MESSAGE_SIZE)
  const view = new DataView(payload.buffer)
  const chat = sender.plugin(PLUGIN)
  const t0 = performance.now()
  for (let k = 0; k < MESSAGES; k++) {
    view.setUint32(0, base + k)
    await chat.broadcast(payload)
  }
  // Done when every node has every message, or when nothing has moved for a
  // second (a node that does not know the sender never delivers its messages).
  let frames = -1
  let movedAt = performance.now()
  await waitFor(
    () => {
      if (done === receivers.length) return true
      const f = nodes.reduce((a, x) => a + x.stats().framesIn, 0)
      if (f !== frames) {
        frames = f
        movedAt = performance.now()
      }
      return performance.now() - movedAt > 1000
    },
    DELIVER_MS,
    'every message at every node',
    20,
  ).catch(() => undefined)
  const complete = done === receivers.length
  const timeMs = complete ? lastAt - t0 : null
  await waitQuiet(nodes, 200, 60_000)
  const after = nodes.map((x) => x.stats())
  let dedupHits = 0
  let delivered = 0
  let droppedSlowPeer = 0
  for (let i = 0; i < nodes.length; i++) {
    dedupHits += after[i]!.dedupHits - before[i]!.dedupHits
    delivered += after[i]!.delivered - before[i]!.delivered
    droppedSlowPeer += after[i]!.droppedSlowPeer - before[i]!.droppedSlowPeer
  }
  receivers.forEach((node, r) => node.plugin(PLUGIN).off('message', handlers[r]!))
  const missing = receivers.length * MESSAGES - got.reduce((a, b) => a + b, 0)
  return {
    timeMs,
    perSecond: timeMs === null ? null : (MESSAGES / timeMs) * 1000,
    duplicatesPerDelivery: delivered > 0 ? dedupHits / delivered : 0,
    meanLinks: nodes.reduce((a, x) => a + x.links().length, 0) / nodes.length,
    exactlyOnce: missing === 0 && duplicates === 0,
    missing,
    duplicates,
    droppedSlowPeer,
  }
}

async function broadcastCase(transport: TransportName, n: number): Promise<void> {
  const label = `broadcast ${MESSAGES} × ${MESSAGE_SIZE} B, ${n} ${transport === 'tcp' ? 'TCP' : 'memory'} nodes`
  progress(`${label}: starting the network`)
  const t0 = performance.now()
  const net = await startNet({ n, transport, seed: n, plugins: [PLUGIN], converge: false })
  try {
    const converged = await net.waitConverged(CONVERGE_MS).then(
      () => true,
      (err: Error) => {
        // Measured anyway: a node that does not know the sender cannot deliver its messages.
        notes.push(`${label}: not converged after ${CONVERGE_MS} ms — ${describeConvergence(net.nodes).replace(/:\n\s*/, ': ').replace(/\n\s*/g, '; ')}`)
        progress(`  ${err.message.split('\n')[0]}`)
        return false
      },
    )
    const convergeMs = performance.now() - t0
    progress(`${label}: ${converged ? 'converged' : 'NOT converged'} in ${convergeMs.toFixed(0)} ms`)
    const trials: (BroadcastTrial | null)[] = []
    for (let t = 0; t < TRIALS; t++) {
      try {
        const r = await broadcastTrial(net, t)
        trials.push(r)
        progress(
          `${label}: trial ${t + 1}/${TRIALS}: ${r.timeMs === null ? 'incomplete' : `${r.timeMs.toFixed(0)} ms, ${r.perSecond!.toFixed(0)} msg/s`}, ${r.duplicatesPerDelivery.toFixed(2)} dup/delivery, ${r.meanLinks.toFixed(2)} links, ${r.exactlyOnce ? 'exactly once' : `missing ${r.missing}, duplicates ${r.duplicates}`}`,
        )
      } catch (err) {
        trials.push(null)
        progress(`${label}: trial ${t + 1}/${TRIALS} FAILED: ${(err as Error).message}`)
      }
    }
    const pick = (f: (r: BroadcastTrial) => number | null): (number | null)[] => trials.map((r) => (r === null ? null : f(r)))
    const ok = trials.filter((r): r is BroadcastTrial => r !== null)
    const extra = {
      nodes: n,
      transport,
      converged,
      convergeMs: Math.round(convergeMs),
      exactlyOnce: ok.length === TRIALS && ok.every((r) => r.exactlyOnce),
      missing: ok.map((r) => r.missing),
      duplicateDeliveries: ok.map((r) => r.duplicates),
      droppedSlowPeer: ok.map((r) => r.droppedSlowPeer),
    }
    record(`${label}: time until all have all`, 'p4net', 'ms', pick((r) => r.timeMs), extra)
    record(`${label}: rate`, 'p4net', 'messages/s', pick((r) => r.perSecond))
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

interface MemorySample {
  op: 'memory'
  base: NodeJS.MemoryUsage
  used: NodeJS.MemoryUsage
  links: number
  dedupBytes: number
}

/** The child: one node of `profile`, measured once it holds MEMORY_LINKS links. */
async function child(profile: Profile): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined)
  const send = (m: unknown): void => void process.send!(m)
  kernel()
  gc()
  gc()
  const base = process.memoryUsage()
  const node = await createNode({
    username: 'measured',
    profile,
    // The small profile keeps at most 4 links (hardCap 8): raise max to hold 8.
    links: profile === 'small' ? { max: MEMORY_LINKS } : undefined,
    timers: FAST_TIMERS,
  })
  node.plugin(PLUGIN)
  await node.start()
  process.once('message', () => {
    void node.stop().then(() => process.exit(0))
  })
  send({ op: 'address', port: node.address.port })
  await waitFor(() => node.links().length >= MEMORY_LINKS && node.users().length === MEMORY_LINKS + 1, 30_000, `${MEMORY_LINKS} links`)
  await sleep(300)
  gc()
  gc()
  send({ op: 'memory', base, used: process.memoryUsage(), links: node.links().length, dedupBytes: node.stats().dedupBytes } satisfies MemorySample)
}

async function memoryTrial(profile: Profile): Promise<MemorySample> {
  const proc = fork(fileURLToPath(import.meta.url), ['--child', profile], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  let peers: TestNet | null = null
  try {
    const messages: Record<string, unknown>[] = []
    proc.on('message', (m) => messages.push(m as Record<string, unknown>))
    const exited = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`child exited (${code})`))))
    const next = (op: string): Promise<Record<string, unknown>> =>
      Promise.race([waitFor(() => messages.some((m) => m.op === op), 60_000, `child ${op}`).then(() => messages.find((m) => m.op === op)!), exited])
    const { port } = (await next('address')) as { port: number }
    peers = await startNet({
      n: MEMORY_LINKS,
      transport: 'tcp',
      plugins: [PLUGIN],
      converge: false,
      options: (i) => ({ username: `peer${i}`, bootstrap: [{ host: '127.0.0.1', port }], links: { min: 1, max: MEMORY_LINKS } }),
    })
    return (await next('memory')) as unknown as MemorySample
  } finally {
    if (proc.connected) proc.send('stop')
    await peers?.stop()
    await new Promise<void>((r) => {
      if (proc.exitCode !== null) return r()
      const t = setTimeout(() => proc.kill(), 5000)
      proc.once('exit', () => {
        clearTimeout(t)
        r()
      })
    })
  }
}

async function memoryCase(): Promise<void> {
  for (const profile of ['default', 'small'] as Profile[]) {
    const label = `memory, one ${profile}-profile node with ${MEMORY_LINKS} links`
    const samples: (MemorySample | null)[] = []
    for (let t = 0; t < TRIALS; t++) {
      try {
        const s = await memoryTrial(profile)
        samples.push(s)
        progress(`${label}: trial ${t + 1}/${TRIALS}: rss +${((s.used.rss - s.base.rss) / 1024 / 1024).toFixed(1)} MiB, heap +${((s.used.heapUsed - s.base.heapUsed) / 1024 / 1024).toFixed(2)} MiB, links ${s.links}`)
      } catch (err) {
        samples.push(null)
        progress(`${label}: trial ${t + 1}/${TRIALS} FAILED: ${(err as Error).message}`)
      }
    }
    const mib = (f: (s: MemorySample) => number): (number | null)[] => samples.map((s) => (s === null ? null : f(s) / 1024 / 1024))
    const dedup = samples.find((s) => s !== null)?.dedupBytes
    record(`${label}: RSS over baseline`, profile, 'MiB', mib((s) => s.used.rss - s.base.rss), { dedupTableBytes: dedup })
    record(`${label}: heap used over baseline`, profile, 'MiB', mib((s) => s.used.heapUsed - s.base.heapUsed))
    record(`${label}: external (ArrayBuffers, WASM) over baseline`, profile, 'MiB', mib((s) => s.used.external - s.base.external))
    record(`${label}: RSS total`, profile, 'MiB', mib((s) => s.used.rss))
  }
}

// ---------------------------------------------------------------- report

function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined) return 'failed'
  const a = Math.abs(x)
  if (a >= 1e4) return x.toFixed(0)
  if (a >= 100) return x.toFixed(0)
  if (a >= 10) return x.toFixed(1)
  return x.toFixed(2)
}

function find(caseName: string, impl: string): Row | undefined {
  return rows.find((r) => r.case === caseName && r.impl === impl)
}

function printTable(): void {
  const w0 = Math.max(...rows.map((r) => r.case.length + r.impl.length + 3))
  console.log(`\np4net overlay${quick ? ' (--quick)' : ''}: median of ${TRIALS} trial(s), unicast ${UNICAST_TRIALS} [min–max]; ${cpus().length} cores, ${process.version}`)
  for (const r of rows) {
    const range = (r.trials?.length ?? 0) > 1 ? ` [${fmt(r.min)}–${fmt(r.max)}]` : ''
    console.log(`${`${r.case} (${r.impl})`.padEnd(w0)}  ${`${fmt(r.value)}${range}`.padStart(24)} ${r.unit}`)
  }
  for (const n of notes) console.log(`note: ${n}`)
}

interface Target {
  target: string
  figure: string
  met: boolean | null
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
  console.log(`\ntargets (issue 4, item 13)${quick ? ' — --quick is a smoke test, not figures' : ''}:`)
  for (const g of goals) console.log(`  ${g.met === null ? 'n/a ' : g.met ? 'met ' : 'MISS'}  ${g.target}: ${g.figure}`)
  const report = {
    name: 'overlay',
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
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
    results: rows,
    targets: goals,
    notes,
  }
  if (!quick) {
    const dir = new URL('../../bench/results/', import.meta.url)
    mkdirSync(dir, { recursive: true })
    writeFileSync(new URL('overlay.json', dir), JSON.stringify(report, null, 2) + '\n')
    progress('wrote bench/results/overlay.json')
  }
}

const childAt = process.argv.indexOf('--child')
if (childAt >= 0) await child(process.argv[childAt + 1] as Profile)
else await main()
