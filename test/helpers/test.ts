// uvu's `test` and `suite` with a deadline on every test and hook, and a
// process backstop. uvu has no timeout: a test that waits forever prints
// nothing and holds the run until CI kills it, with no name. Here:
//
//   * each test (and hook) races a deadline (DEFAULT_DEADLINE_MS, or
//     setFileDeadline(ms) for the rest of a file, or a third argument
//     test(name, fn, { deadlineMs }) ); past it the test fails with an Error
//     naming the file, the test and the labelled waits still pending
//     (waitFor registers its own; wrap others with `waiting(what, promise)`).
//     The timer is cleared when the test ends and unref'd.
//   * a watchdog thread: if a test is still running BACKSTOP_MS after its
//     deadline (its deadline could not fire: the event loop is blocked), it
//     prints the test's name and kills the process.
//   * a failed hook is printed and fails the run (uvu swallows a failed
//     before hook: "(0 / n)" and exit code 0).
//   * once no test or hook has run for BACKSTOP_MS and the process is still
//     alive (the run is over but a handle is left open, e.g. by a test
//     abandoned at its deadline), it prints what is open and the tests that
//     timed out, and exits 1 — instead of hanging after the summary.
//
// `uvu dist/test pattern` imports every matching file into one process and
// then runs them in turn, so "the process" is the whole run; the messages
// name the file and the test.
import { writeSync } from 'node:fs'
import { basename } from 'node:path'
import { Worker } from 'node:worker_threads'
import { suite as uvuSuite, test as uvuTest, type Callback, type Test } from 'uvu'
import { pendingWaits } from '../../common/waits.js'

export { waiting } from '../../common/waits.js'

type Context = Record<string, any>

function envMs(name: string, dflt: number): number {
  const v = Number(process.env[name])
  return Number.isFinite(v) && v > 0 ? v : dflt
}

/** Deadline of a test or hook unless the file or the test says otherwise. */
export const DEFAULT_DEADLINE_MS = envMs('P4NET_TEST_DEADLINE_MS', 60_000)
/** Grace after a deadline (blocked loop) and after the last test (open handles) before the process is ended. */
export const BACKSTOP_MS = envMs('P4NET_TEST_BACKSTOP_MS', 15_000)

export type DeadlineOption = number | { deadlineMs?: number }

export interface DeadlineHook<T> {
  (fn: Callback<T>, opts?: DeadlineOption): void
  each(fn: Callback<T>, opts?: DeadlineOption): void
}

export interface DeadlineTest<T = Context> {
  (name: string, fn: Callback<T>, opts?: DeadlineOption): void
  before: DeadlineHook<T>
  after: DeadlineHook<T>
  run(): void
}

// ------------------------------------------------------------ the deadline

export class DeadlineError extends Error {
  override name = 'DeadlineError'
}

export interface DeadlineRun {
  file: string
  name: string
  deadlineMs: number
}

/**
 * Runs `fn` against a deadline: resolves or rejects with it, or rejects with
 * a DeadlineError naming `o.file` and `o.name` once `o.deadlineMs` passed.
 * `fn` itself cannot be stopped; whatever it still holds is left to the
 * backstop.
 */
export function withDeadline<R>(fn: () => R | Promise<R>, o: DeadlineRun): Promise<R> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const waits = pendingWaits()
      reject(
        new DeadlineError(
          `${o.file} › "${o.name}": no result within its deadline of ${o.deadlineMs} ms` +
            (waits.length > 0 ? `; still waiting for: ${waits.join(' | ')}` : '; no labelled wait pending (an unlabelled await never settled)'),
        ),
      )
    }, o.deadlineMs)
    // The deadline alone must never keep the process alive.
    timer.unref()
  })
  return Promise.race([Promise.resolve().then(fn), expired]).finally(() => clearTimeout(timer))
}

// ------------------------------------------------------------ backstop

interface Running extends DeadlineRun {
  startedAt: number
}

const running = new Set<Running>()
const timedOut: string[] = []
let last = ''
let backstop: NodeJS.Timeout | undefined
let watchdog: Worker | undefined

// The watchdog thread ends the process if a test outlives its deadline by
// `grace`: the main thread is then blocked and cannot report itself.
// It writes with writeSync (a worker's process.stderr goes through the
// blocked main thread) and kills with SIGKILL (a handler cannot hold it).
const WATCHDOG = `
const { parentPort, workerData } = require('node:worker_threads')
const { writeSync } = require('node:fs')
const running = new Map()
parentPort.on('message', (m) => { if (m.end) running.delete(m.id); else running.set(m.id, m) })
setInterval(() => {
  const now = Date.now()
  for (const r of running.values()) {
    if (now > r.startedAt + r.deadlineMs + workerData.grace) {
      writeSync(2, '\\n[test watchdog] ' + r.file + ' › "' + r.name + '" is still running ' + (now - r.startedAt) + ' ms after it started (deadline ' + r.deadlineMs + ' ms): the event loop is blocked; killing the process\\n')
      process.kill(process.pid, 'SIGKILL')
    }
  }
}, 250)
`

let nextId = 0
const ids = new WeakMap<Running, number>()

function started(r: Running): void {
  clearTimeout(backstop)
  running.add(r)
  if (!watchdog) {
    watchdog = new Worker(WATCHDOG, { eval: true, workerData: { grace: BACKSTOP_MS } })
    watchdog.unref()
  }
  const id = nextId++
  ids.set(r, id)
  watchdog.postMessage({ id, file: r.file, name: r.name, deadlineMs: r.deadlineMs, startedAt: Date.now() })
}

/**
 * Arms the backstop whenever nothing runs: between two tests uvu goes on at
 * once, so it fires only when the run is over (or uvu itself is stuck)
 * and something still holds the process.
 */
function ended(r: Running, err: unknown): void {
  running.delete(r)
  watchdog?.postMessage({ id: ids.get(r), end: true })
  last = `${r.file} › "${r.name}"`
  if (err instanceof DeadlineError) timedOut.push(last)
  if (running.size === 0) {
    clearTimeout(backstop)
    backstop = setTimeout(() => {
      const handles = process.getActiveResourcesInfo().filter((h) => h !== 'TTYWrap')
      writeSync(
        2,
        `\n[test backstop] the process is still alive ${BACKSTOP_MS} ms after its last test or hook (${last}) ended; ` +
          `open: ${JSON.stringify(countBy(handles))}` +
          (timedOut.length > 0 ? `; tests that timed out (and may hold them): ${timedOut.join(', ')}` : '') +
          '\n',
      )
      process.exit(1)
    }, BACKSTOP_MS)
    backstop.unref()
  }
}

function countBy(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const x of xs) out[x] = (out[x] ?? 0) + 1
  return out
}

let hookFailed = false

process.on('exit', () => {
  // uvu says only "Exiting early before testing is finished" when the event
  // loop empties while a test awaits something that nothing will settle.
  for (const r of running) writeSync(2, `\n[test] the process exited while ${r.file} › "${r.name}" was still running (it awaited something nothing could settle)\n`)
  // uvu swallows a failed before hook: its file shows "(0 / n)" and the run exits 0.
  if (hookFailed) process.exitCode = 1
})

// ------------------------------------------------------------ wrapping uvu

function deadlineOf(opts: DeadlineOption | undefined, dflt: number): number {
  const ms = typeof opts === 'number' ? opts : opts?.deadlineMs
  if (ms === undefined) return dflt
  if (!Number.isFinite(ms) || ms <= 0) throw new Error(`deadline must be a positive number of ms, got ${String(ms)}`)
  return ms
}

/** The file that called into this module (for messages). */
function callerFile(): string {
  const prepare = Error.prepareStackTrace
  try {
    Error.prepareStackTrace = (_, sites) => sites
    const sites = new Error().stack as unknown as NodeJS.CallSite[]
    for (const s of sites) {
      const f = s.getFileName()
      if (f && !f.includes('/helpers/test.') && !f.startsWith('node:')) return basename(f)
    }
  } finally {
    Error.prepareStackTrace = prepare
  }
  return '(unknown file)'
}

let fileDeadline = DEFAULT_DEADLINE_MS

/** The deadline of the tests and hooks registered after this call, up to this file's test.run(). */
export function setFileDeadline(ms: number): void {
  fileDeadline = deadlineOf(ms, DEFAULT_DEADLINE_MS)
}

/** The callback uvu runs for a test or hook: `fn` against its deadline, tracked for the backstop. */
export function guarded<T>(fn: Callback<T>, o: DeadlineRun, hook = false): Callback<T> {
  return async (ctx) => {
    const r: Running = { ...o, startedAt: Date.now() }
    started(r)
    let err: unknown = null
    try {
      await withDeadline(() => fn(ctx), o)
    } catch (e) {
      err = e
      if (hook) {
        hookFailed = true
        writeSync(2, `\n[test] ${o.file} › ${o.name} failed (the run will exit 1): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
      }
      throw e
    } finally {
      ended(r, err)
      // P4NET_TEST_TIMES=1: each test's wall time on stderr, to find the slow ones.
      if (process.env.P4NET_TEST_TIMES) writeSync(2, `[time] ${(Date.now() - r.startedAt).toString().padStart(6)} ms  ${o.file} › ${o.name}\n`)
    }
  }
}

function wrap<T>(inner: Test<T>, suiteName: string): DeadlineTest<T> {
  const label = (name: string): string => (suiteName ? `${suiteName} › ${name}` : name)
  const hook = (register: (fn: Callback<T>) => void, what: string) => (fn: Callback<T>, opts?: DeadlineOption) =>
    register(guarded(fn, { file: callerFile(), name: label(what), deadlineMs: deadlineOf(opts, fileDeadline) }, true))
  const t = ((name: string, fn: Callback<T>, opts?: DeadlineOption) => {
    inner(name, guarded(fn, { file: callerFile(), name: label(name), deadlineMs: deadlineOf(opts, fileDeadline) }))
  }) as DeadlineTest<T>
  const before = hook((fn) => inner.before(fn), 'before hook') as DeadlineHook<T>
  before.each = hook((fn) => inner.before.each(fn), 'before.each hook')
  const after = hook((fn) => inner.after(fn), 'after hook') as DeadlineHook<T>
  after.each = hook((fn) => inner.after.each(fn), 'after.each hook')
  t.before = before
  t.after = after
  t.run = () => {
    fileDeadline = DEFAULT_DEADLINE_MS // a file's setFileDeadline ends with it
    inner.run()
  }
  return t
}

export const test: DeadlineTest = wrap(uvuTest, '')

export function suite<T = Context>(title = '', context?: T): DeadlineTest<T> {
  return wrap(uvuSuite<T>(title, context), title)
}
