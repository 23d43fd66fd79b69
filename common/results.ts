// The results files, bench/results/<name>.json, in one format for every bench
// (and the fuzz run); bench/report.ts turns them into the README's
// performance section:
//
//   { name, date, node, cpu, cores, quick?, …what the bench adds (trials,
//     setup, targets, notes…), results: [{ case, impl, value, unit, …}] }
//
// Smoke runs (--quick) and partial ones write to SMOKE_DIR instead, so that
// only a full run replaces the committed figures.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** bench/results of this checkout (this file runs as dist/common/results.js). */
export const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url))
/** Where smoke and partial runs write. */
export const SMOKE_DIR = join(tmpdir(), 'p4net-bench-quick')

/** One figure. */
export interface Result {
  case: string
  /** Whose figure: an implementation, a compared system, a profile, a trial. */
  impl: string
  /** The figure (a median or best of trials, as the bench says); null when every trial failed. */
  value: number | null
  unit: string
  better?: 'higher' | 'lower'
  min?: number | null
  max?: number | null
  /** Per trial, null for a failed one. */
  trials?: (number | null)[]
  /** The failed trials, as "trial N: message". */
  errors?: string[]
  [extra: string]: unknown
}

/** The machine and moment a file was measured on: the head of every file. */
export interface Machine {
  date: string
  node: string
  cpu: string
  cores: number
}

/** A goal of an issue and how this run did (met: null when the figure is missing). */
export interface Target {
  target: string
  figure: string
  met: boolean | null
}

/** What a bench puts in its file: the rows and whatever describes the run. */
export interface ReportBody {
  /** A smoke run (--quick): not figures. */
  quick?: boolean
  trials?: number
  targets?: Target[]
  notes?: string[]
  results: Result[]
  [extra: string]: unknown
}

export interface Report extends Machine, ReportBody {
  name: string
}

export function machine(): Machine {
  return { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length }
}

/** Median (the mean of the two middle values for an even count); 0 for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

function dirFor(smoke: boolean): string {
  return smoke ? SMOKE_DIR : RESULTS_DIR
}

/**
 * Writes `<name>.json`, the machine at its head, to bench/results — or to
 * SMOKE_DIR for a quick (body.quick) or otherwise partial (smoke) run.
 * Returns the file's path and what it holds.
 */
export function writeResults(name: string, body: ReportBody, opts: { smoke?: boolean } = {}): { file: string; report: Report } {
  const dir = dirFor(body.quick === true || opts.smoke === true)
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${name}.json`)
  const report: Report = { name, ...machine(), ...body }
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n')
  process.stderr.write(`wrote ${file}\n`)
  return { file, report }
}

/** `<name>.json` as written by writeResults (bench/results, or SMOKE_DIR); null if absent or unreadable. */
export function readResults(name: string, opts: { smoke?: boolean } = {}): Report | null {
  const file = join(dirFor(opts.smoke === true), `${name}.json`)
  if (!existsSync(file)) return null
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Report
  } catch (err) {
    process.stderr.write(`skipping ${file}: ${(err as Error).message}\n`)
    return null
  }
}
