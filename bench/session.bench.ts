// The p4net encrypted session against raw node:net carrying the same u32 BE
// length-prefixed messages unencrypted (bench/net-baseline.ts), side by side
// in one run, loopback TCP (127.0.0.1, port 0):
//   1. throughput, 64 KiB messages                       MB/s (10^6 bytes)
//   2. one-way rate, 64-byte messages                     messages/s
//   3. ping-pong, one 64-byte message each way            round trips/s, median and p99 µs
//   4. handshakes (dial + preamble + Noise XX) vs plain connects, 8 in flight
//   5. memory per idle connection: a fresh child (--expose-gc) per measurement
//      opens them to this process; process.memoryUsage() after gc(), before
//      and after, following a warm-up that opens and closes as many
// plus, for context, node:crypto ChaCha20-Poly1305 seal/open speed on one
// core (Session seals and opens records of 16 KiB and more with it).
// Cases 1–3 are bench:compare's point-to-point workloads for these two
// systems (bench/compare/workloads.ts): each trial runs in a fresh process
// after its own warm-up, with the receiver in that process ("one process") or
// in another fresh one ("two processes"). p4net channels are fully handshaken.
// Each figure is the median of TRIALS trials (memory: MEMORY_TRIALS), with
// min and max; raw and p4net trials alternate, because other jobs and core
// placement move the numbers on a shared machine. Failed trials are
// reported, not dropped.
//
//   node dist/bench/session.bench.js [--quick] [--only <case substring>] [--impl raw|p4net]
// (--only / --impl are for profiling: results/session.json is written only by a full run)
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { cpus } from 'node:os'
import { writeResults, type Result, type Target } from '../common/results.js'
import { acceptSession, initiateSession } from '../ts/session/handshake.js'
import { tcp } from '../ts/transport/tcp.js'
import type { Conn } from '../ts/transport/types.js'
import { fmt } from './compare/chart.js'
import { idleMemory, IN_FLIGHT, trials } from './compare/workloads.js'
import { interleaved, printTargets, ratePerSecond, Rows, withTimeout, type Metric } from './lib.js'
import { rawDial, rawListen } from './net-baseline.js'
import { dialerIdentity, listenerIdentity, type Impl } from './session-peer.js'

const quick = process.argv.includes('--quick')
const onlyAt = process.argv.indexOf('--only')
const only = onlyAt >= 0 ? (process.argv[onlyAt + 1] ?? '') : ''
const TRIALS = quick ? 1 : 3
const MiB = 1024 * 1024
const BULK_BYTES = quick ? 32 * MiB : 1024 * MiB
const SMALL_COUNT = quick ? 100_000 : 2_000_000
const ROUND_TRIPS = quick ? 2_000 : 20_000
const HANDSHAKES = quick ? 50 : 1_000
const RECORD_PLAIN = 65_519 // a full record's plaintext
const IDLE = 200
// rss moves with V8 heap sizing and malloc arenas by several KiB per connection: more trials.
const MEMORY_TRIALS = quick ? 1 : 5
const TRIAL_TIMEOUT_MS = 300_000
const implAt = process.argv.indexOf('--impl')
const IMPLS: Impl[] = implAt >= 0 ? [process.argv[implAt + 1] as Impl] : ['raw', 'p4net']
if (!IMPLS.every((i) => i === 'raw' || i === 'p4net')) throw new Error('--impl takes raw or p4net')
const PROCS = [
  [1, 'one process'],
  [2, 'two processes'],
] as const

function progress(msg: string): void {
  process.stderr.write(`[session] ${msg}\n`)
}

// ---- workloads; each returns the trial's figures ----
// (Throughput, 64 B one way and ping-pong: bench:compare's, trials() of
// bench/compare/workloads.ts, each trial in a fresh process.)

/** Connections (raw) or handshakes (p4net) per second, IN_FLIGHT at a time, both ends here. */
async function handshakes(impl: Impl, total: number): Promise<number[]> {
  // The two ends meet by the dialler's port, whichever finishes first; each
  // side leaves a function that closes its end.
  type Meeting = { promise: Promise<() => void>; resolve: (close: () => void) => void; reject: (e: Error) => void }
  const meet = new Map<number, Meeting>()
  const slot = (port: number): Meeting => {
    let s = meet.get(port)
    if (!s) {
      let resolve!: (close: () => void) => void
      let reject!: (e: Error) => void
      const promise = new Promise<() => void>((res, rej) => {
        resolve = res
        reject = rej
      })
      promise.catch(() => {})
      s = { promise, resolve, reject }
      meet.set(port, s)
    }
    return s
  }
  const listenOpts = { identity: listenerIdentity(), username: 'bench-listener' }
  const dialOpts = { identity: dialerIdentity(), username: 'bench-dialer' }
  const server =
    impl === 'raw'
      ? await rawListen((socket) => {
          socket.on('error', () => {})
          slot(socket.remotePort!).resolve(() => socket.destroy())
        })
      : await (async () => {
          const l = await tcp.listen('127.0.0.1', 0, (conn: Conn) => {
            const s = slot(conn.remotePort)
            acceptSession(conn, listenOpts).then((r) => s.resolve(() => r.conn.destroy()), s.reject)
          })
          return { port: l.address.port, close: () => void l.close() }
        })()
  const one = async (): Promise<void> => {
    let port: number
    let close: () => void
    if (impl === 'raw') {
      const socket = await rawDial(server.port)
      socket.on('error', () => {})
      port = socket.localPort!
      close = () => socket.destroy()
    } else {
      const conn = await tcp.dial('127.0.0.1', server.port)
      port = conn.localPort
      const r = await initiateSession(conn, dialOpts)
      close = () => r.conn.destroy()
    }
    const closeFar = await slot(port).promise
    meet.delete(port)
    close()
    closeFar()
  }
  try {
    return [await ratePerSecond(total, IN_FLIGHT, one)]
  } finally {
    server.close()
  }
}

/**
 * Context for the throughput case, not a p4net figure: node:crypto
 * ChaCha20-Poly1305 over full 65 519-byte records on one core, sealing and
 * opening (what Session uses for records of 16 KiB and more).
 */
async function aeadCeiling(ms: number): Promise<number[]> {
  const key = randomBytes(32)
  const iv = Buffer.alloc(12)
  const plain = Buffer.alloc(RECORD_PLAIN, 0x5a)
  const mbps = (op: () => void): number => {
    let n = 0
    const t0 = performance.now()
    let t = t0
    while (t - t0 < ms) {
      op()
      n++
      if ((n & 7) === 0) t = performance.now()
    }
    return (n * RECORD_PLAIN) / (performance.now() - t0) / 1e3
  }
  const seal = (): { ct: Buffer; tag: Buffer } => {
    const c = createCipheriv('chacha20-poly1305', key, iv, { authTagLength: 16 })
    const ct = c.update(plain)
    c.final()
    return { ct, tag: c.getAuthTag() }
  }
  const sealed = seal()
  const open = (): void => {
    const d = createDecipheriv('chacha20-poly1305', key, iv, { authTagLength: 16 })
    d.setAuthTag(sealed.tag)
    d.update(sealed.ct)
    d.final()
  }
  return [mbps(seal), mbps(open)]
}

/** KiB per idle connection above the baseline (after a warm-up), in the metrics' order. */
async function idleFigures(impl: Impl, count: number): Promise<number[]> {
  const m = await idleMemory(impl, count, true)
  return [m.rss, m.heapTotal, m.heapUsed, m.external]
}

// ---- trials, results, table ----

const rows = new Rows()

/**
 * Runs `trials` alternating raw / p4net trials of fn; each trial yields one
 * figure per metric. A warm-up run per impl (not recorded) precedes a full run.
 */
async function measure(
  metrics: Metric[],
  fn: (impl: Impl) => Promise<number[]>,
  warm?: (impl: Impl) => Promise<unknown>,
  impls: Impl[] = IMPLS,
  trials = TRIALS,
): Promise<void> {
  if (only && !metrics.some((m) => m.name.includes(only))) return
  const label = metrics[0]!.name
  if (warm && !quick) {
    for (const impl of impls) {
      progress(`${label}: ${impl} warm-up`)
      await withTimeout(warm(impl), TRIAL_TIMEOUT_MS, 'warm-up').catch((e: Error) => progress(`  warm-up failed: ${e.message}`))
    }
  }
  rows.recordAll(metrics, await interleaved(impls, trials, label, fn, { timeoutMs: TRIAL_TIMEOUT_MS, units: metrics.map((m) => m.unit), fmt, progress }))
}

function find(caseName: string, impl: Impl): Result | undefined {
  return rows.find(caseName, impl)
}

function ratio(caseName: string): number | null {
  const raw = find(caseName, 'raw')?.value
  const p4 = find(caseName, 'p4net')?.value
  // A ratio to a figure near zero (memory rows) says nothing: p4net−raw does.
  return raw && Math.abs(raw) >= 1 && p4 !== null && p4 !== undefined ? p4 / raw : null
}

function printTable(): void {
  const cases = [...new Set(rows.rows.map((r) => r.case))]
  const cell = (r: Result | undefined): string => {
    if (!r) return '-'
    if (r.value === null) return 'failed'
    const range = (r.trials?.length ?? 0) > 1 ? ` [${fmt(r.min ?? null)}–${fmt(r.max ?? null)}]` : ''
    const failed = r.errors ? ` (${r.errors.length} failed)` : ''
    return `${fmt(r.value)}${range}${failed}`
  }
  const w0 = Math.max(4, ...cases.map((c) => c.length + 12))
  console.log(
    `p4net session vs raw node:net${quick ? ' (--quick)' : ''}: median of ${TRIALS} trial(s)${TRIALS > 1 ? ` (memory ${MEMORY_TRIALS}) [min–max]` : ''}, raw and p4net interleaved; loopback TCP, ${cpus().length} cores`,
  )
  console.log(`${'case'.padEnd(w0)} ${'raw node:net'.padStart(30)} ${'p4net'.padStart(30)} ${'p4net/raw'.padStart(10)} ${'p4net−raw'.padStart(10)}`)
  for (const c of cases) {
    const raw = find(c, 'raw')
    const p4 = find(c, 'p4net')
    const unit = raw?.unit ?? p4?.unit ?? ''
    const r = ratio(c)
    const d = unit === 'KiB' && raw?.value != null && p4?.value != null ? (p4.value - raw.value).toFixed(1) : '-'
    console.log(
      `${`${c} (${unit})`.padEnd(w0)} ${cell(raw).padStart(30)} ${cell(p4).padStart(30)} ${(r === null ? '-' : `${r.toFixed(2)}x`).padStart(10)} ${d.padStart(10)}`,
    )
  }
}

function targets(): Target[] {
  const out: Target[] = []
  const ratioTarget = (c: string, what: string, ok: (r: number) => boolean): void => {
    if (!find(c, 'raw')) return
    const r = ratio(c)
    out.push({ target: what, figure: r === null ? 'n/a' : `${r.toFixed(2)}x (${c})`, met: r === null ? null : ok(r) })
  }
  for (const p of ['one process', 'two processes']) {
    ratioTarget(`throughput 64 KiB, ${p}`, 'encrypted throughput >= 0.7x raw', (r) => r >= 0.7)
  }
  for (const p of ['one process', 'two processes']) {
    const row = find(`64 B one way, ${p}`, 'p4net')
    if (row) {
      out.push({
        target: '64-byte messages one way >= 1 M/s',
        figure: `${fmt(row.value)} msg/s (${p})`,
        met: row.value === null ? null : row.value >= 1e6,
      })
    }
  }
  for (const p of ['one process', 'two processes']) {
    ratioTarget(`ping-pong median RTT, ${p}`, 'round-trip time <= 1.3x raw', (r) => r <= 1.3)
  }
  for (const m of ['rss', 'heapUsed']) {
    const c = `idle memory ${m} per connection`
    const raw = find(c, 'raw')?.value
    const p4 = find(c, 'p4net')?.value
    if (raw === undefined || p4 === undefined) continue
    const d = raw === null || p4 === null ? null : p4 - raw
    out.push({ target: `idle session memory <= 16 KiB above raw (${m})`, figure: d === null ? 'n/a' : `${d.toFixed(1)} KiB`, met: d === null ? null : d <= 16 })
  }
  return out
}

// ---- the run ----

for (const [procs, p] of PROCS) {
  await measure([{ name: `throughput 64 KiB, ${p}`, unit: 'MB/s' }], trials('throughput', procs, () => BULK_BYTES, 1 / 16, quick))
}
await measure(
  [
    { name: 'context: node:crypto AEAD seal 64 KiB, 1 core', unit: 'MB/s' },
    { name: 'context: node:crypto AEAD open 64 KiB, 1 core', unit: 'MB/s' },
  ],
  () => aeadCeiling(quick ? 50 : 500),
  undefined,
  ['p4net'],
)
for (const [procs, p] of PROCS) {
  await measure([{ name: `64 B one way, ${p}`, unit: 'msg/s' }], trials('one-way', procs, () => SMALL_COUNT, 1 / 10, quick))
}
for (const [procs, p] of PROCS) {
  await measure(
    [
      { name: `ping-pong 64 B, ${p}`, unit: 'round trips/s' },
      { name: `ping-pong median RTT, ${p}`, unit: 'µs' },
      { name: `ping-pong p99 RTT, ${p}`, unit: 'µs' },
    ],
    trials('ping-pong', procs, () => ROUND_TRIPS, 1 / 10, quick),
  )
}
await measure(
  [{ name: `handshakes (${IN_FLIGHT} in flight), one process`, unit: '/s' }],
  (impl) => handshakes(impl, HANDSHAKES),
  (impl) => handshakes(impl, 100),
)
await measure(
  [
    { name: 'idle memory rss per connection', unit: 'KiB' },
    { name: 'idle memory heapTotal per connection', unit: 'KiB' },
    { name: 'idle memory heapUsed per connection', unit: 'KiB' },
    { name: 'idle memory external per connection', unit: 'KiB' },
  ],
  (impl) => idleFigures(impl, IDLE),
  undefined,
  IMPLS,
  MEMORY_TRIALS,
)

printTable()
const goals = targets()
printTargets('issue 3, item 8', goals, quick)

writeResults(
  'session',
  {
    quick,
    trials: TRIALS,
    memoryTrials: MEMORY_TRIALS,
    setup: {
      transport: 'loopback TCP 127.0.0.1, Nagle off both sides',
      p4net: 'dial + preamble + Noise XX (ts/session/handshake.ts), then Session; DATA frames (bench/session-peer.ts)',
      raw: 'node:net, u32 BE length || payload, unencrypted, batched per tick like Session (bench/net-baseline.ts)',
      trials: 'throughput, 64 B one way, ping-pong: each trial in a fresh process after its own warm-up (bench/compare/workloads.ts), the far end in it or in another fresh one; handshakes: both ends in this process; idle memory: a fresh child dialling this process',
      bulkBytes: BULK_BYTES,
      smallMessages: SMALL_COUNT,
      roundTrips: ROUND_TRIPS,
      handshakes: HANDSHAKES,
      handshakesInFlight: IN_FLIGHT,
      idleConnections: IDLE,
    },
    results: rows.rows,
    targets: goals,
  },
  // --only and --impl are for profiling: a partial run leaves bench/results alone.
  { smoke: only !== '' || implAt >= 0 },
)
