// End-to-end encrypted unicast against plain unicast, through the public API
// as a user writes it: `for (…) await plugin.send(user, msg, { encrypted })`
// between two linked loopback TCP nodes, at 64 B and 64 KiB.
//
// Each trial is a fresh child process (this file with --child) holding one
// two-node network; in it plain and encrypted run back to back, in
// alternating order, so each encrypted figure has a plain one from the same
// moment (the per-round ratio cancels most of the machine's drift). The
// figure is messages/s (and MB/s) from the first send to the receiver's
// 'message' for the last one.
//
//   node dist/bench/e2e.bench.js [--quick]
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import type { Node } from '../ts/index.js'
import { startNet } from '../common/net.js'
import { median, writeResults, type Target } from '../common/results.js'
import { isMain, runJson } from './child.js'
import { Rows } from './lib.js'

const PLUGIN = 4243
const quick = process.argv.includes('--quick')
const TRIALS = quick ? 1 : 5
const ROUNDS = quick ? 1 : 2
const CASES = [
  { size: 64, count: quick ? 5_000 : 50_000 },
  { size: 64 * 1024, count: quick ? 256 : 2_048 },
] as const
const MODES = ['plain', 'encrypted'] as const
type Mode = (typeof MODES)[number]

interface ChildOut {
  size: number
  /** Per mode, messages/s of each round. */
  rates: Record<Mode, number[]>
}

/** Messages/s of `count` sends of `size` bytes, first send to last delivery. */
async function sendLoop(from: Node, to: Node, size: number, count: number, encrypted: boolean): Promise<number> {
  const buf = new Uint8Array(size).fill(0x5a)
  let got = 0
  let doneAt = 0
  let resolveDone!: () => void
  const done = new Promise<void>((r) => (resolveDone = r))
  const onMessage = (): void => {
    if (++got === count) {
      doneAt = performance.now()
      resolveDone()
    }
  }
  const rx = to.plugin(PLUGIN)
  rx.on('message', onMessage)
  try {
    const chat = from.plugin(PLUGIN)
    const t0 = performance.now()
    for (let k = 0; k < count; k++) await chat.send(to.username, buf, { encrypted })
    await done
    return count / ((doneAt - t0) / 1000)
  } finally {
    rx.off('message', onMessage)
  }
}

async function child(size: number, count: number, rounds: number): Promise<ChildOut> {
  const net = await startNet({ n: 2, transport: 'tcp', plugins: [PLUGIN] })
  try {
    const [a, b] = net.nodes as [Node, Node]
    // Warm-up: both paths tier up (and the key caches fill) before timing.
    for (const m of MODES) await sendLoop(a, b, size, Math.min(count, size > 1024 ? 64 : 5_000), m === 'encrypted')
    const rates: Record<Mode, number[]> = { plain: [], encrypted: [] }
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? MODES : [...MODES].reverse()
      for (const m of order) rates[m].push(await sendLoop(a, b, size, count, m === 'encrypted'))
    }
    return { size, rates }
  } finally {
    await net.stop()
  }
}

async function parent(): Promise<void> {
  const self = fileURLToPath(import.meta.url)
  const rows = new Rows()
  const targets: Target[] = []
  const load0 = loadavg()
  const lines: string[] = []
  for (const c of CASES) {
    const label = c.size >= 1024 ? `${c.size / 1024} KiB` : `${c.size} B`
    const rates: Record<Mode, number[]> = { plain: [], encrypted: [] }
    const ratios: number[] = []
    for (let t = 0; t < TRIALS; t++) {
      const out = await runJson<ChildOut>(self, ['--child', String(c.size), String(c.count), String(ROUNDS)], `e2e child ${label}`)
      for (const m of MODES) rates[m].push(...out.rates[m])
      out.rates.plain.forEach((p, i) => ratios.push(out.rates.encrypted[i]! / p))
      process.stderr.write(`[e2e] ${label} trial ${t + 1}/${TRIALS}: plain ${out.rates.plain.map(fmtRate).join(' ')}, encrypted ${out.rates.encrypted.map(fmtRate).join(' ')} msg/s\n`)
    }
    for (const m of MODES) {
      rows.record({ name: `await plugin.send ${label}: messages/s`, unit: 'msg/s', better: 'higher' }, m, rates[m])
      rows.record({ name: `await plugin.send ${label}: MB/s`, unit: 'MB/s', better: 'higher' }, m, rates[m].map((r) => (r * c.size) / 1e6))
    }
    rows.record({ name: `await plugin.send ${label}: encrypted / plain, same round`, unit: '×', better: 'higher' }, 'ratio', ratios)
    const goal = c.size >= 1024 ? 0.6 : 0.3
    const r = median(ratios)
    targets.push({ target: `encrypted send ≥ ${goal}× plain at ${label}`, figure: `${r.toFixed(2)}× [${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}]`, met: r >= goal })
    const span = (xs: number[]): string => `${fmtRate(median(xs))} [${fmtRate(Math.min(...xs))}–${fmtRate(Math.max(...xs))}]`
    lines.push(`${label.padEnd(7)} plain ${span(rates.plain)} msg/s (${((median(rates.plain) * c.size) / 1e6).toFixed(1)} MB/s); encrypted ${span(rates.encrypted)} msg/s (${((median(rates.encrypted) * c.size) / 1e6).toFixed(1)} MB/s); ratio ${r.toFixed(2)}× [${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}]`)
  }
  const load1 = loadavg()
  const loadNote = `load average ${load0[0]!.toFixed(2)} at start, ${load1[0]!.toFixed(2)} at end (${cpus().length} cores)`
  console.log(`\np4net e2e: await plugin.send, loopback TCP, ${TRIALS} process(es) × ${ROUNDS} round(s), median [min–max]; ${loadNote}`)
  for (const l of lines) console.log(l)
  for (const t of targets) console.log(`${t.met ? 'met ' : 'MISS'} ${t.target}: ${t.figure}`)
  writeResults('e2e', { quick, trials: TRIALS * ROUNDS, targets, notes: [loadNote], results: rows.rows })
}

function fmtRate(x: number): string {
  return x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0)
}

if (isMain(import.meta.url)) {
  const i = process.argv.indexOf('--child')
  if (i >= 0) {
    const [size, count, rounds] = process.argv.slice(i + 1, i + 4).map(Number) as [number, number, number]
    console.log(JSON.stringify(await child(size, count, rounds)))
  } else {
    await parent()
  }
}
