// A relayed session next to a direct one, on loopback TCP, three nodes in
// one process (r relays; a sends; b receives). Rows:
//   direct   b can be dialled: a dials it (a direct session)
//   relayed  b tells everyone to dial 127.0.0.2, where nothing listens, and
//            holds a reservation with r: a reaches it through a circuit
// Figures: round trip (node.latency, ms: median and p99 of PINGS after a
// warm-up) and bulk throughput (one stream, BYTES in 64 KiB writes, MB/s).
// Every trial runs in a fresh child process, rows interleaved per round;
// median [min–max] of the trials, with the load average.
//
//   node dist/bench/relay.bench.js [--quick] [--trials N] [--bytes MiB]
import { execFileSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { FAST_TIMERS, waitFor } from '../common/net.js'
import { writeResults, type Result } from '../common/results.js'
import { createNode, tcp, type Node, type P4Stream } from '../ts/index.js'

const APP = 4242
const SIZE = 64 * 1024
const PINGS = 300
type Row = 'direct' | 'relayed'
const ROWS: Row[] = ['direct', 'relayed']

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, trials: { type: 'string' }, bytes: { type: 'string' }, child: { type: 'string' } } })
const MIB = Number(values.bytes ?? (values.quick ? 16 : 128))
const BYTES = MIB * 1024 * 1024
const TRIALS = Number(values.trials ?? (values.quick ? 1 : 5))

interface Figures {
  rttMedianMs: number
  rttP99Ms: number
  mbps: number
}

async function trial(row: Row): Promise<Figures> {
  const opts = { transport: tcp, host: '127.0.0.1', port: 0, timers: FAST_TIMERS, links: { min: 1, max: 8 } }
  const r = await createNode({ username: 'r', ...opts })
  const b = await createNode({ username: 'b', ...opts, ...(row === 'relayed' ? { advertiseHost: '127.0.0.2', relay: { client: 'always' as const } } : {}) })
  const a = await createNode({ username: 'a', ...opts })
  const nodes: Node[] = [r, b, a]
  try {
    for (const n of nodes) n.plugin(APP)
    await r.start()
    for (const n of [b, a]) {
      await n.start()
      await n.connect('127.0.0.1', r.address.port)
    }
    await waitFor(() => a.users(APP).includes('b') && (row === 'direct' || b.stats().relaysHeld === 1), 10_000, 'b known (and reserved)')
    // Its HELLO with the relay list reaches a.
    await new Promise((res) => setTimeout(res, 200))
    for (let i = 0; i < 20; i++) await a.latency('b')
    const via = a.links({ direct: true }).find((l) => l.username === 'b')?.via
    if ((row === 'relayed') !== (via === 'r')) throw new Error(`${row}: the session to b runs ${via ? `through ${via}` : 'directly'}`)
    const rtts: number[] = []
    for (let i = 0; i < PINGS; i++) {
      const t0 = performance.now()
      await a.latency('b')
      rtts.push(performance.now() - t0)
    }
    rtts.sort((x, y) => x - y)
    let received = 0
    let resolveDone!: () => void
    const done = new Promise<void>((res) => (resolveDone = res))
    b.plugin(APP).on('stream', (s: P4Stream) => {
      s.on('data', (c: Buffer) => {
        received += c.length
        if (received >= BYTES) resolveDone()
      })
      s.on('end', () => s.end())
    })
    const s = await a.plugin(APP).openStream('b')
    const buf = new Uint8Array(SIZE).fill(0x5a)
    const t0 = performance.now()
    for (let k = 0; k < BYTES / SIZE; k++) if (!s.write(buf)) await new Promise((res) => s.once('drain', res))
    await done
    const ms = performance.now() - t0
    const closed = new Promise((res) => s.once('close', res))
    s.resume()
    s.end()
    await closed
    return { rttMedianMs: rtts[rtts.length >> 1]!, rttP99Ms: rtts[Math.floor(rtts.length * 0.99)]!, mbps: BYTES / (ms / 1000) / 1e6 }
  } finally {
    await Promise.all(nodes.map((n) => n.stop()))
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

async function main(): Promise<void> {
  if (values.child) {
    process.stdout.write(JSON.stringify(await trial(values.child as Row)) + '\n')
    return
  }
  const self = fileURLToPath(import.meta.url)
  const got = new Map<Row, Figures[]>(ROWS.map((r) => [r, []]))
  const load: number[] = []
  for (let t = 0; t < TRIALS; t++) {
    for (const row of ROWS) {
      load.push(loadavg()[0]!)
      const out = execFileSync(process.execPath, [self, '--child', row, '--bytes', String(MIB)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
      const f = JSON.parse(out.trim().split('\n').pop()!) as Figures
      got.get(row)!.push(f)
      process.stderr.write(`[relay] ${row} trial ${t + 1}/${TRIALS}: rtt ${f.rttMedianMs.toFixed(3)} ms (p99 ${f.rttP99Ms.toFixed(3)}), ${f.mbps.toFixed(0)} MB/s\n`)
    }
  }
  const results: Result[] = []
  const add = (kase: string, unit: string, better: 'higher' | 'lower', pick: (f: Figures) => number, digits: number): void => {
    for (const row of ROWS) {
      const xs = got.get(row)!.map(pick)
      const round = (x: number): number => Number(x.toFixed(digits))
      results.push({ case: kase, impl: row, value: round(median(xs)), unit, better, min: round(Math.min(...xs)), max: round(Math.max(...xs)), trials: xs.map(round) })
    }
  }
  add(`round trip, node.latency(), median of ${PINGS}`, 'ms', 'lower', (f) => f.rttMedianMs, 3)
  add(`round trip, node.latency(), p99 of ${PINGS}`, 'ms', 'lower', (f) => f.rttP99Ms, 3)
  add(`one stream, ${MIB} MiB in ${SIZE / 1024} KiB writes`, 'MB/s', 'higher', (f) => f.mbps, 0)
  const lo = Math.min(...load).toFixed(2)
  const hi = Math.max(...load).toFixed(2)
  console.log(`\np4net relayed vs direct, loopback TCP, one process, median of ${TRIALS} [min–max], each trial a fresh process; load avg ${lo}–${hi}`)
  for (const r of results) console.log(`  ${r.case.padEnd(48)} ${r.impl.padEnd(8)} ${String(r.value).padStart(8)} ${r.unit.padEnd(5)} [${r.min}–${r.max}]`)
  writeResults('relay', { quick: values.quick || MIB < 128, trials: TRIALS, notes: [`load average ${lo}–${hi}`], results })
}

await main()
