// Event-loop delay of a node under a full-speed attacker: the attacker runs
// in its own process (test/helpers/attacker.ts) over loopback TCP; the
// victim and one honest peer run here, and the honest peer measures round
// trips to the victim (latency()) all through the attack.
//
//   boxes       one known peer sends tiny end-to-end boxes that do not open
//               (each costs an X25519 to try)
//   broadcasts  one known peer sends valid broadcasts it signed beforehand
//               (each costs an Ed25519 verification)
//
// Reported per case: the victim's event-loop delay (perf_hooks
// monitorEventLoopDelay, 10 ms resolution: p50 / p99 / max) over the attack,
// the honest round trips (median / max), how long the attack took to be dealt
// with (cut off, or every frame processed), and the victim's counters.
//
// Each figure is the median of the trials, every trial kept.
//
//   node dist/bench/attack.bench.js [--quick] [--boxes N] [--broadcasts N] [--trials N]
import { spawn } from 'node:child_process'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createNode } from '../ts/index.js'
import { median, writeResults } from '../common/results.js'
import { Rows, withTimeout } from './lib.js'

const { values } = parseArgs({
  options: { boxes: { type: 'string', default: '115000' }, broadcasts: { type: 'string', default: '60000' }, trials: { type: 'string', default: '3' }, quick: { type: 'boolean', default: false } },
})
// --quick: a smoke run (2,000 of each, one trial) that leaves bench/results alone.
const quick = values.quick!
const ATTACKER = fileURLToPath(new URL('../test/helpers/attacker.js', import.meta.url))
const CHAT = 1001

interface Outcome {
  loopP50: number
  loopP99: number
  loopMax: number
  rttMedian: number
  rttMax: number
  rtts: number
  seconds: number
  stats: Record<string, unknown>
}

async function trial(mode: 'boxes' | 'broadcasts', n: number): Promise<Outcome> {
  const victim = await createNode({ username: 'victim', links: { min: 1, max: 4 } })
  await victim.start()
  victim.plugin(CHAT)
  const honest = await createNode({ username: 'honest', bootstrap: [victim.address], links: { min: 1, max: 4 } })
  honest.plugin(CHAT)
  await honest.start()
  const child = spawn(process.execPath, [ATTACKER, String(victim.address.port), mode, String(n)], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const lines: string[] = []
    const waitLine = (what: string): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (lines.includes(what)) resolve()
        }
        child.stdout!.on('data', (d: Buffer) => {
          lines.push(...d.toString().split('\n').filter(Boolean))
          check()
        })
        child.on('exit', () => reject(new Error(`attacker exited before "${what}"`)))
        check()
      })
    await withTimeout(waitLine('ready'), 60_000, 'the attacker getting ready')
    const loop = monitorEventLoopDelay({ resolution: 10 })
    const rtts: number[] = []
    let stop = false
    const pinger = (async () => {
      while (!stop) {
        try {
          rtts.push(await honest.latency('victim'))
        } catch {
          // a timed-out PING is the worst round trip there is
          rtts.push(Infinity)
        }
      }
    })()
    loop.enable()
    const t0 = performance.now()
    const done = (): boolean => {
      const s = victim.stats()
      if (mode === 'boxes') return (s.cutOffReasons['decrypt-failures'] ?? 0) > 0 || s.decryptFailed >= n
      return s.delivered >= n || s.cutOff > 0
    }
    await withTimeout(
      new Promise<void>((resolve) => {
        const t = setInterval(() => {
          if (done()) {
            clearInterval(t)
            resolve()
          }
        }, 20)
      }),
      300_000,
      `the victim dealing with ${n} ${mode}`,
    )
    const seconds = (performance.now() - t0) / 1000
    loop.disable()
    stop = true
    await pinger
    const s = victim.stats()
    const finite = rtts.filter(Number.isFinite)
    return {
      loopP50: loop.percentile(50) / 1e6,
      loopP99: loop.percentile(99) / 1e6,
      loopMax: loop.max / 1e6,
      rttMedian: median(finite),
      rttMax: rtts.reduce((m, x) => Math.max(m, x), rtts.length > 0 ? -Infinity : NaN),
      rtts: rtts.length,
      seconds,
      stats: { delivered: s.delivered, decryptFailed: s.decryptFailed, cutOffReasons: s.cutOffReasons, throttled: (s as { throttled?: number }).throttled, badSignature: s.badSignature },
    }
  } finally {
    child.kill()
    await Promise.all([victim.stop(), honest.stop()])
  }
}

async function main(): Promise<void> {
  const trials = quick ? 1 : Number(values.trials)
  const cases: Array<['boxes' | 'broadcasts', number]> = [
    ['boxes', quick ? 2000 : Number(values.boxes)],
    ['broadcasts', quick ? 2000 : Number(values.broadcasts)],
  ]
  const rows = new Rows()
  for (const [mode, n] of cases) {
    const outs: Outcome[] = []
    for (let t = 0; t < trials; t++) {
      const o = await trial(mode, n)
      outs.push(o)
      console.log(
        `${mode} ×${n} trial ${t + 1}: event-loop delay p50 ${o.loopP50.toFixed(1)} / p99 ${o.loopP99.toFixed(1)} / max ${o.loopMax.toFixed(1)} ms; ` +
          `honest RTT median ${o.rttMedian.toFixed(2)} ms, max ${o.rttMax.toFixed(1)} ms (${o.rtts} pings); dealt with in ${o.seconds.toFixed(2)} s; ${JSON.stringify(o.stats)}`,
      )
    }
    const label = `${mode} x${n}`
    const figures: Array<[string, string, (o: Outcome) => number]> = [
      ['event-loop delay p50', 'ms', (o) => o.loopP50],
      ['event-loop delay p99', 'ms', (o) => o.loopP99],
      ['event-loop delay max', 'ms', (o) => o.loopMax],
      ['honest round trip median', 'ms', (o) => o.rttMedian],
      ['honest round trip max', 'ms', (o) => o.rttMax],
      ['dealt with in', 's', (o) => o.seconds],
    ]
    for (const [what, unit, f] of figures) rows.record({ name: `${label}: ${what}`, unit, better: 'lower' }, 'p4net', outs.map(f))
    // The victim's counters per trial, with the pings behind the round-trip figures.
    rows.rows.at(-1)!.victim = outs.map((o) => ({ pings: o.rtts, ...o.stats }))
  }
  writeResults('attack', { quick, trials, results: rows.rows })
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
