// Runs a fuzz target over inputs (seed, 0), (seed, 1), … and fails on the
// first input that crashes (a throw that is not an expected P4Error), breaks
// an oracle, allocates more than the target's limit, or runs too long. The
// failure names the seed and index, which regenerate that input alone:
//   node dist/test/fuzz/run.js --target NAME --seed SEED --index I
import { isP4Error, type P4ErrorCode } from '../../ts/core/errors.js'
import { installAllocGuard, largestAlloc, resetLargestAlloc, uninstallAllocGuard } from './alloc.js'
import { hexOf, Rng } from './rng.js'

export type Verdict = 'accepted' | 'rejected'

/** What one input did; `input` is kept for the failure report. */
export interface Trial {
  verdict: Verdict
  /** Largest allocation this input may make (bytes). */
  allocLimit: number
  /** The P4Error code of a rejection the target caught itself (for the tally). */
  code?: string
}

export interface FuzzTarget {
  name: string
  /** Codes an input may be rejected with; any other throw is a failure. */
  codes: readonly P4ErrorCode[]
  /** Inputs run at once (async targets only; default 1). */
  concurrency?: number
  /** One input may take at most this long, ms (default 2000). */
  hangMs?: number
  /**
   * Generates input number `rng` stands for and runs it. Throws (anything)
   * to report a failure; returns the verdict otherwise. `describe` receives
   * the input bytes as soon as they exist, for the report.
   */
  run(rng: Rng, describe: (input: Uint8Array | string) => void): Trial | Promise<Trial>
  close?(): void | Promise<void>
}

export class FuzzFailure extends Error {
  constructor(
    readonly target: string,
    readonly seed: number,
    readonly index: number,
    why: string,
    readonly input: string,
  ) {
    super(`fuzz target ${target}: input ${index} of seed ${seed} failed: ${why}\n  reproduce: node dist/test/fuzz/run.js --target ${target} --seed ${seed} --index ${index}\n  input: ${input}`)
    this.name = 'FuzzFailure'
  }
}

export interface RunResult {
  target: string
  seed: number
  inputs: number
  accepted: number
  rejected: number
  /** Rejections by P4Error code. */
  codes: Record<string, number>
  ms: number
  perSecond: number
  /** Largest single allocation seen over the run, bytes. */
  largestAlloc: number
  /** Slowest input, ms. */
  slowestMs: number
}

export interface RunOptions {
  seed: number
  /** Stop after this many inputs… */
  count?: number
  /** …or after this much time, whichever comes first. */
  timeMs?: number
  /** First index (default 0). */
  from?: number
  /** Progress callback, about once a second. */
  progress?: (done: number, ms: number) => void
}

function describeInput(x: Uint8Array | string | undefined): string {
  if (x === undefined) return '(not generated)'
  return typeof x === 'string' ? JSON.stringify(x.length > 600 ? x.slice(0, 600) + '…' : x) : hexOf(x)
}

/** Runs `target` and resolves with its figures; rejects with a FuzzFailure. */
export async function runTarget(target: FuzzTarget, o: RunOptions): Promise<RunResult> {
  const count = o.count ?? Infinity
  const timeMs = o.timeMs ?? Infinity
  if (count === Infinity && timeMs === Infinity) throw new Error('runTarget: give count or timeMs')
  const from = o.from ?? 0
  const hangMs = target.hangMs ?? 2000
  const concurrency = target.concurrency ?? 1
  const r: RunResult = { target: target.name, seed: o.seed, inputs: 0, accepted: 0, rejected: 0, codes: {}, ms: 0, perSecond: 0, largestAlloc: 0, slowestMs: 0 }
  const start = performance.now()
  let lastProgress = start
  let next = from
  const allowed = new Set<string>(target.codes)

  const one = async (index: number): Promise<void> => {
    let input: Uint8Array | string | undefined
    const fail = (why: string): never => {
      throw new FuzzFailure(target.name, o.seed, index, why, describeInput(input))
    }
    const t0 = performance.now()
    let trial: Trial
    // Sync targets are measured alone; concurrent ones share the record, so
    // for them the largest allocation of the run so far is checked.
    if (concurrency === 1) resetLargestAlloc()
    try {
      const pending = target.run(new Rng(o.seed, index), (x) => (input = x))
      trial = pending instanceof Promise ? await withDeadline(pending, hangMs) : pending
    } catch (err) {
      if (err instanceof FuzzFailure) throw err
      if (err instanceof HangError) return fail(`no result within ${hangMs} ms (hang)`)
      if (isP4Error(err) && allowed.has(err.code)) {
        // An expected rejection that the target let through: count it.
        trial = { verdict: 'rejected', allocLimit: Infinity }
        r.codes[err.code] = (r.codes[err.code] ?? 0) + 1
      } else {
        return fail(isP4Error(err) ? `unexpected P4Error ${err.code}: ${err.message}` : `crash: ${(err as Error)?.stack ?? String(err)}`)
      }
    }
    const ms = performance.now() - t0
    if (ms > r.slowestMs) r.slowestMs = ms
    if (concurrency === 1 && ms > hangMs) fail(`took ${ms.toFixed(0)} ms (limit ${hangMs} ms)`)
    const big = largestAlloc()
    if (big > r.largestAlloc) r.largestAlloc = big
    if (big > trial.allocLimit) fail(`allocated ${big} bytes at once (limit ${trial.allocLimit})`)
    if (trial.code !== undefined) r.codes[trial.code] = (r.codes[trial.code] ?? 0) + 1
    if (trial.verdict === 'accepted') r.accepted++
    else r.rejected++
    r.inputs++
  }

  installAllocGuard()
  resetLargestAlloc()
  try {
    if (concurrency === 1) {
      while (next - from < count && performance.now() - start < timeMs) {
        const p = one(next++)
        await p
        if (o.progress && performance.now() - lastProgress > 1000) {
          lastProgress = performance.now()
          o.progress(r.inputs, lastProgress - start)
        }
      }
    } else {
      // A pool of `concurrency` inputs in flight; the first failure wins.
      let failure: unknown = null
      const worker = async (): Promise<void> => {
        while (failure === null && next - from < count && performance.now() - start < timeMs) {
          const index = next++
          try {
            await one(index)
          } catch (err) {
            failure ??= err
          }
          if (o.progress && performance.now() - lastProgress > 1000) {
            lastProgress = performance.now()
            o.progress(r.inputs, lastProgress - start)
          }
        }
      }
      await Promise.all(Array.from({ length: concurrency }, worker))
      if (failure !== null) throw failure
    }
  } finally {
    uninstallAllocGuard()
  }
  r.ms = performance.now() - start
  r.perSecond = r.inputs / (r.ms / 1000)
  return r
}

class HangError extends Error {}

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HangError()), ms)
    }),
  ])
}
