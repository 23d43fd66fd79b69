// Pieces every benchmark uses: deadlines, interleaved trials, the rows of a
// results file, and a ping-pong over any message channel. (Writing the file:
// common/results.ts; child processes: child.ts.)
import { median, type Result, type Target } from '../common/results.js'

/** Rejects with "<what> timed out after <ms> ms" unless p settles first. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

export interface TrialOutcome<K> {
  /** Per key, one entry per trial: the figures, or null when the trial failed. */
  got: Map<K, (number[] | null)[]>
  /** Per key, the failures as "trial N: message". */
  errors: Map<K, string[]>
}

/**
 * `trials` rounds; in each, every key (system or implementation) runs fn
 * once, in turn, so drift from other jobs lands on all of them alike.
 * Failed trials are kept as null with their error, never dropped.
 */
export async function interleaved<K extends string>(
  keys: readonly K[],
  trials: number,
  label: string,
  fn: (k: K) => Promise<number[]>,
  opts: { timeoutMs: number; units: readonly string[]; fmt: (x: number) => string; progress: (msg: string) => void },
): Promise<TrialOutcome<K>> {
  const got = new Map<K, (number[] | null)[]>(keys.map((k) => [k, []]))
  const errors = new Map<K, string[]>(keys.map((k) => [k, []]))
  for (let t = 0; t < trials; t++) {
    for (const k of keys) {
      try {
        const v = await withTimeout(fn(k), opts.timeoutMs, `${label} ${k}`)
        got.get(k)!.push(v)
        opts.progress(`${label}: ${k} trial ${t + 1}/${trials}: ${v.map((x, i) => `${opts.fmt(x)} ${opts.units[i]}`).join(', ')}`)
      } catch (err) {
        got.get(k)!.push(null)
        const msg = err instanceof Error ? err.message : String(err)
        errors.get(k)!.push(`trial ${t + 1}: ${msg}`)
        opts.progress(`${label}: ${k} trial ${t + 1}/${trials} FAILED: ${msg}`)
      }
    }
  }
  return { got, errors }
}

/** What one row measures. */
export interface Metric {
  name: string
  unit: string
  better?: 'higher' | 'lower'
}

/** Figures kept to what the trials can tell apart: 4 significant digits or so. */
export function round(x: number): number {
  return Math.abs(x) >= 100 ? Math.round(x * 10) / 10 : Math.round(x * 1000) / 1000
}

/** The results rows of one run: each the median of its trials, with min, max and every trial. */
export class Rows {
  readonly rows: Result[] = []

  /** One row; null trials are failed ones (their messages in `errors`). */
  record(m: Metric, impl: string, trials: (number | null)[], errors: string[] = [], extra: Record<string, unknown> = {}): void {
    const ok = trials.filter((v): v is number => v !== null)
    const row: Result = {
      case: m.name,
      impl,
      value: ok.length ? round(median(ok)) : null,
      unit: m.unit,
      ...(m.better ? { better: m.better } : {}),
      min: ok.length ? round(Math.min(...ok)) : null,
      max: ok.length ? round(Math.max(...ok)) : null,
      trials: trials.map((v) => (v === null ? null : round(v))),
      ...extra,
    }
    if (errors.length) row.errors = errors
    this.rows.push(row)
  }

  /** A row per metric and key of interleaved() trials whose function returned one figure per metric. */
  recordAll<K extends string>(metrics: Metric[], o: TrialOutcome<K>, extra?: (k: K) => Record<string, unknown>): void {
    metrics.forEach((m, i) => {
      for (const [k, runs] of o.got) this.record(m, k, runs.map((v) => (v === null ? null : v[i]!)), o.errors.get(k)!, extra?.(k))
    })
  }

  find(caseName: string, impl: string): Result | undefined {
    return this.rows.find((r) => r.case === caseName && r.impl === impl)
  }
}

/** A row whose figure is the best of timed rounds (other jobs only ever slow a round down), with their median and every round. */
export interface BestRow extends Result {
  value: number
  median: number
  runs: number[]
}

export function bestOf(caseName: string, impl: string, unit: string, rounds: number[], extra: Record<string, unknown> = {}): BestRow {
  return { case: caseName, impl, value: round(Math.max(...rounds)), unit, median: round(median(rounds)), runs: rounds.map(round), ...extra }
}

/** Prints the targets of `issue` with this run's figures. */
export function printTargets(issue: string, goals: Target[], quick: boolean): void {
  if (goals.length === 0) return
  console.log(`\ntargets (${issue})${quick ? ' — --quick is a smoke test, not figures' : ''}:`)
  for (const g of goals) console.log(`  ${g.met === null ? 'n/a ' : g.met ? 'met ' : 'MISS'}  ${g.target}: ${g.figure}`)
}

/**
 * Runs `one` `total` times, `inFlight` at a time; the rate per second. The
 * first failure stops the others from starting more and rejects.
 */
export async function ratePerSecond(total: number, inFlight: number, one: () => Promise<void>): Promise<number> {
  let started = 0
  const lane = async (): Promise<void> => {
    while (started < total) {
      started++
      try {
        await one()
      } catch (err) {
        started = total
        throw err
      }
    }
  }
  const t0 = performance.now()
  await Promise.all(Array.from({ length: inFlight }, lane))
  return (total / (performance.now() - t0)) * 1e3
}

/** What a channel's drain() waits on: a stream that says 'drain' and 'close'. */
interface Drains {
  once(event: 'drain' | 'close', fn: () => void): unknown
  off(event: 'close', fn: () => void): unknown
}

/** The next 'drain' of `s`; rejects if it closes first (or is closed already). */
export function nextDrain(s: Drains, closed: boolean, what: string): Promise<void> {
  const gone = new Error(`${what} closed while waiting for drain`)
  if (closed) return Promise.reject(gone)
  return new Promise((resolve, reject) => {
    const onClose = (): void => reject(gone)
    s.once('close', onClose)
    s.once('drain', () => {
      s.off('close', onClose)
      resolve()
    })
  })
}

/** A message channel as the session and compare benches see one. */
export interface EchoChannel {
  onmessage: ((payload: Uint8Array) => void) | null
  send(payload: Uint8Array): unknown
  readonly closed: Promise<unknown>
}

/** `n` round trips of `size` bytes against an echoing far end: [round trips/s, median µs, p99 µs]. */
export async function pingPong(ch: EchoChannel, n: number, size: number): Promise<number[]> {
  const rtt = new Float64Array(n)
  const payload = Buffer.alloc(size, 0x33)
  const t0 = performance.now()
  await new Promise<void>((resolve, reject) => {
    let i = 0
    let t = performance.now()
    ch.onmessage = (p) => {
      const now = performance.now()
      if (p.length !== size) reject(new Error(`echo of ${p.length} bytes`))
      rtt[i++] = now - t
      if (i === n) return resolve()
      t = now
      ch.send(payload)
    }
    ch.closed.then(() => reject(new Error(`connection closed after ${i} round trips`)))
    ch.send(payload)
  })
  const ms = performance.now() - t0
  rtt.sort()
  return [(n / ms) * 1e3, rtt[n >> 1]! * 1e3, rtt[Math.min(n - 1, Math.floor(n * 0.99))]! * 1e3]
}

/** Wall time and this process's CPU time (user + system) since start(). */
export class Stopwatch {
  private t0 = performance.now()
  private c0 = process.cpuUsage()

  start(): void {
    this.c0 = process.cpuUsage()
    this.t0 = performance.now()
  }

  /** Milliseconds of wall time and of CPU time since start(). */
  read(): { ms: number; cpuMs: number } {
    const c = process.cpuUsage(this.c0)
    return { ms: performance.now() - this.t0, cpuMs: (c.user + c.system) / 1000 }
  }
}
