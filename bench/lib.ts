// Pieces every benchmark uses: statistics, deadlines, interleaved trials,
// a ping-pong over any message channel, and the machine description that
// heads each results file.
import { cpus } from 'node:os'

/** Median (the mean of the two middle values for an even count); 0 for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

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

/** The fields that head every bench/results/*.json. */
export function machine(): { date: string; node: string; cpu: string; cores: number } {
  return { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length }
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
