// Bulk transfer through one stream (plugin.openStream) next to the bare
// session beneath it, in the same run: two nodes on loopback TCP in one
// process, BYTES written in SIZE-byte chunks as an application writes a
// Node stream (write() until false, then 'drain'), timed from the first
// write to the receiver's last byte. Rows:
//   session      a raw Session pair (common/pair.ts), SIZE-byte DATA frames
//   plugin.send  `await plugin.send(user, chunk)` of the same chunks
//   stream       one P4Stream, write()/'drain'
//   stream e2e   the same through openStream(user, { encrypted: true }):
//                every chunk also sealed end to end (ts/stream-box.ts)
// Every trial of every row runs in a fresh child process, rows interleaved
// per round; figures are the median [min–max] in MB/s (10^6 bytes/s), and
// the stream/session and stream e2e/stream ratios per round. Same units and
// sizes as bench/compare (64 KiB), so the rows sit next to yamux and
// secret-stream. 1 GiB per trial (32 MiB with --quick).
//
//   node dist/bench/stream.bench.js [--quick] [--bytes MiB] [--trials N] [--window KiB]
import { execFileSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { sessionPair } from '../common/pair.js'
import { writeResults, type Result } from '../common/results.js'
import { MsgType } from '../ts/core/protocol.js'
import type { P4Stream } from '../ts/index.js'
import { nodePair } from './package-entry.js'
import { Stopwatch } from './lib.js'

const PLUGIN = 4242
const SIZE = 64 * 1024
type Impl = 'session' | 'plugin.send' | 'stream' | 'stream e2e'
const IMPLS: Impl[] = ['session', 'plugin.send', 'stream', 'stream e2e']

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    bytes: { type: 'string' },
    trials: { type: 'string' },
    child: { type: 'string' },
    window: { type: 'string' },
  },
})
const MIB = Number(values.bytes ?? (values.quick ? 32 : 1024))
const BYTES = MIB * 1024 * 1024
const TRIALS = Number(values.trials ?? (values.quick ? 1 : 3))

/** One trial in this process: MB/s. */
async function trial(impl: Impl): Promise<{ mbps: number; cpuS: number }> {
  const buf = new Uint8Array(SIZE).fill(0x5a)
  const count = BYTES / SIZE
  let received = 0
  let resolveDone!: () => void
  const done = new Promise<void>((r) => (resolveDone = r))
  const watch = new Stopwatch()
  const start = (): void => watch.start()
  // Wall time and CPU time (user + system, both ends) from the first write to the last byte.
  const figures = (): { mbps: number; cpuS: number } => {
    const { ms, cpuMs } = watch.read()
    return { mbps: BYTES / (ms / 1000) / 1e6, cpuS: cpuMs / 1000 }
  }
  const onBytes = (n: number): void => {
    received += n
    if (received >= BYTES) resolveDone()
  }
  if (impl === 'session') {
    const { a, b, close } = await sessionPair('tcp')
    try {
      b.onframe = (f) => onBytes(f.payload.length)
      start()
      for (let k = 0; k < count; k++) {
        if (!a.send(MsgType.DATA, 0, 0, PLUGIN, 0, k, buf)) await new Promise((r) => a.once('drain', r))
      }
      await done
      return figures()
    } finally {
      await close()
    }
  }
  const streams = values.window ? { window: Number(values.window) * 1024 } : {}
  // The nodes as an application gets them: the package entry (package-entry.ts).
  const net = await nodePair(PLUGIN, { streams })
  try {
    const { from, to } = net
    const src = from.plugin(PLUGIN)
    const dst = to.plugin(PLUGIN)
    if (impl === 'plugin.send') {
      dst.on('message', (m) => onBytes(m.data.length))
      start()
      for (let k = 0; k < count; k++) await src.send(to.username, buf)
      await done
      return figures()
    }
    dst.on('stream', (s: P4Stream) => {
      s.on('data', (c: Buffer) => onBytes(c.length))
      s.on('end', () => s.end())
    })
    const s = await src.openStream(to.username, { encrypted: impl === 'stream e2e' })
    start()
    for (let k = 0; k < count; k++) {
      if (!s.write(buf)) await new Promise((r) => s.once('drain', r))
    }
    await done
    const f = figures()
    // A clean close both ways before the nodes stop.
    const closed = new Promise((r) => s.once('close', r))
    s.resume()
    s.end()
    await closed
    return f
  } finally {
    await net.stop()
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

async function main(): Promise<void> {
  if (values.child) {
    const f = await trial(values.child as Impl)
    // MB per CPU-second (both ends, the transfer only): steadier than MB/s on a shared machine.
    process.stdout.write(JSON.stringify({ mbps: f.mbps, mbPerCpuSecond: BYTES / 1e6 / f.cpuS }) + '\n')
    return
  }
  const self = fileURLToPath(import.meta.url)
  const got = new Map<Impl, number[]>(IMPLS.map((i) => [i, []]))
  const cpu = new Map<Impl, number[]>(IMPLS.map((i) => [i, []]))
  const load: number[] = []
  for (let t = 0; t < TRIALS; t++) {
    for (const impl of IMPLS) {
      load.push(loadavg()[0]!)
      const out = execFileSync(process.execPath, [self, '--child', impl, '--bytes', String(MIB), ...(values.window ? ['--window', values.window] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
      const r = JSON.parse(out.trim().split('\n').pop()!) as { mbps: number; mbPerCpuSecond: number }
      got.get(impl)!.push(r.mbps)
      cpu.get(impl)!.push(r.mbPerCpuSecond)
      process.stderr.write(`[stream] ${impl} trial ${t + 1}/${TRIALS}: ${r.mbps.toFixed(0)} MB/s, ${r.mbPerCpuSecond.toFixed(0)} MB per CPU-second\n`)
    }
  }
  const ratios = got.get('stream')!.map((v, i) => v / got.get('session')![i]!)
  const results: Result[] = IMPLS.map((impl) => {
    const xs = got.get(impl)!
    return { case: `bulk ${MIB} MiB in ${SIZE / 1024} KiB writes, loopback TCP, one process`, impl, value: Math.round(median(xs)), unit: 'MB/s', better: 'higher', min: Math.round(Math.min(...xs)), max: Math.round(Math.max(...xs)), trials: xs.map(Math.round) }
  })
  for (const impl of IMPLS) {
    const xs = cpu.get(impl)!
    results.push({ case: `bulk ${MIB} MiB: MB moved per CPU-second (both ends, the transfer only)`, impl, value: Math.round(median(xs)), unit: 'MB/CPU-s', better: 'higher', min: Math.round(Math.min(...xs)), max: Math.round(Math.max(...xs)), trials: xs.map(Math.round) })
  }
  const cpuRatios = cpu.get('stream')!.map((v, i) => v / cpu.get('session')![i]!)
  const ratioRow = (name: string, xs: number[]): Result => ({ case: name, impl: 'ratio', value: Number(median(xs).toFixed(2)), unit: '×', min: Number(Math.min(...xs).toFixed(2)), max: Number(Math.max(...xs).toFixed(2)), trials: xs.map((r) => Number(r.toFixed(2))) })
  const per = (m: Map<Impl, number[]>, x: Impl, y: Impl): number[] => m.get(x)!.map((v, i) => v / m.get(y)![i]!)
  results.push(ratioRow('stream / session, same round', ratios))
  results.push(ratioRow('stream / session, MB per CPU-second, same round', cpuRatios))
  results.push(ratioRow('stream e2e / stream, same round', per(got, 'stream e2e', 'stream')))
  results.push(ratioRow('stream e2e / session, same round', per(got, 'stream e2e', 'session')))
  results.push(ratioRow('stream e2e / stream, MB per CPU-second, same round', per(cpu, 'stream e2e', 'stream')))
  console.log(`\np4net streams: ${MIB} MiB, ${SIZE / 1024} KiB writes, median of ${TRIALS} [min–max], each trial a fresh process; load avg ${Math.min(...load).toFixed(2)}–${Math.max(...load).toFixed(2)}`)
  for (const r of results) console.log(`  ${r.case.slice(0, 60).padEnd(60)} ${r.impl.padEnd(12)} ${String(r.value).padStart(6)} ${r.unit.padEnd(8)} [${r.min}–${r.max}]`)
  const ratio = results.find((r) => r.case === 'stream / session, same round')!
  const target = { target: 'stream ≥ 0.9 × session (same round)', figure: `${ratio.value}×`, met: (ratio.value ?? 0) >= 0.9 }
  writeResults('stream', { quick: values.quick || MIB < 1024, trials: TRIALS, targets: [target], notes: [`load average ${Math.min(...load).toFixed(2)}–${Math.max(...load).toFixed(2)}`], results })
}

await main()
