// Unicast as an application writes it, next to the bare session beneath it,
// two loopback TCP nodes in one process (sender and receiver share the core):
//   session        Session.send() in a loop, waiting for 'drain' when it says so
//   session-await  the same, awaiting a resolved promise after each accepted
//                  send (the loop shape of await plugin.send: a tick per message)
//   session-resume the session loop over a resumable pair, as nodes run them
//                  (records kept until the peer acknowledges them, for moving
//                  a session to another connection without loss)
//   await          for (…) await plugin.send(user, msg)
//   in flight      plugin.send() without awaiting, IN_FLIGHT outstanding at a
//                  time (each batch awaited with Promise.all)
// at 64 B (messages/s) and 64 KiB (MB/s, 10^6 bytes), from the first send to
// the receiver's last message. Each trial runs in a fresh process (its own
// warm-up first) and the impls alternate; each figure is the median of
// TRIALS [min–max]. Plugin trials use fully handshaken nodes (createNode) of
// the package entry, the bundle users import (package-entry.ts).
// Each rate is given per wall-clock second and per CPU second of the process
// (user + system over all its threads): on a shared machine the second moves
// far less from run to run.
//
//   node dist/bench/api-send.bench.js [--quick] [--only <impl,impl…> <size>]
//   node --cpu-prof dist/bench/api-send.bench.js --child <impl> <size>   (one trial, for profiling)
import { execFileSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { makeTransport, resumablePair, sessionPair } from '../common/pair.js'
import { nodePair } from './package-entry.js'
import { MsgType } from '../ts/core/protocol.js'
import { Stopwatch } from './lib.js'

type Impl = 'session' | 'session-await' | 'session-resume' | 'await' | 'in-flight'
const IMPLS: Impl[] = ['session', 'session-await', 'session-resume', 'await', 'in-flight']
const SIZES = [64, 64 * 1024]
const PLUGIN = 7
const IN_FLIGHT = 1000
const quick = process.argv.includes('--quick')
const RESOLVED = Promise.resolve()
const TRIALS = quick ? 1 : 3

/** Messages per trial: about 2 s of work at the targets. */
function countFor(size: number): number {
  return size <= 1024 ? (quick ? 200_000 : 2_000_000) : (quick ? 512 : 4096)
}

/** Wall-clock ms and CPU ms (user + system, all threads) of one trial. */
interface Timing {
  ms: number
  cpuMs: number
}

async function trial(impl: Impl, size: number): Promise<Timing> {
  const count = countFor(size)
  const msg = new Uint8Array(size).fill(0x5a)
  let received = 0
  let resolveDone!: (t: Timing) => void
  const done = new Promise<Timing>((r) => (resolveDone = r))
  const watch = new Stopwatch()
  const start = (): void => watch.start()
  const onMessage = (): void => {
    if (++received === count) resolveDone(watch.read())
  }
  if (impl === 'session' || impl === 'session-await' || impl === 'session-resume') {
    const { a, b, close } = impl === 'session-resume' ? await resumablePair(makeTransport('tcp')) : await sessionPair('tcp')
    const each = impl === 'session-await'
    try {
      b.onframe = onMessage
      start()
      for (let k = 0; k < count; k++) {
        if (!a.send(MsgType.DATA, 0, 0, PLUGIN, 0, k, msg)) await new Promise((r) => a.once('drain', r))
        else if (each) await RESOLVED
      }
      return await done
    } finally {
      await close()
    }
  }
  // The nodes as an application gets them: the package entry (package-entry.ts).
  const net = await nodePair(PLUGIN)
  try {
    const { from, to } = net
    to.plugin(PLUGIN).on('message', onMessage)
    const chat = from.plugin(PLUGIN)
    const user = to.username
    start()
    if (impl === 'await') {
      for (let k = 0; k < count; k++) await chat.send(user, msg)
    } else {
      const batch: Promise<void>[] = []
      for (let k = 0; k < count; k++) {
        batch.push(chat.send(user, msg))
        if (batch.length === IN_FLIGHT) {
          await Promise.all(batch)
          batch.length = 0
        }
      }
      await Promise.all(batch)
    }
    return await done
  } finally {
    await net.stop()
  }
}

/** One process: a short warm-up trial, then the measured one; prints its rate. */
async function child(impl: Impl, size: number): Promise<void> {
  const at = process.argv.indexOf('--warmups')
  const warmups = process.argv.includes('--no-warmup') ? 0 : at >= 0 ? Number(process.argv[at + 1]) : 1
  for (let w = 0; w < warmups; w++) await trial(impl, size)
  const { ms, cpuMs } = await trial(impl, size)
  const count = countFor(size)
  const per = (t: number): number => (size <= 1024 ? count / (t / 1000) : (count * size) / (t / 1000) / 1e6)
  process.stdout.write(JSON.stringify({ impl, size, rate: per(ms), cpuRate: per(cpuMs) }) + '\n')
}

interface Rates {
  /** Per wall-clock second. */
  rate: number
  /** Per CPU second of the process (all threads): steadier than wall time on a shared machine. */
  cpuRate: number
}

function runChild(impl: Impl, size: number): Rates | null {
  try {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', impl, String(size), ...(quick ? ['--quick'] : [])], { encoding: 'utf8', timeout: 300_000 })
    return JSON.parse(out.trim().split('\n').pop()!) as Rates
  } catch (err) {
    process.stderr.write(`[api-send] ${impl} ${size} B failed: ${(err as Error).message}\n`)
    return null
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

async function main(): Promise<void> {
  const at = process.argv.indexOf('--child')
  if (at >= 0) return child(process.argv[at + 1] as Impl, Number(process.argv[at + 2]))
  const onlyAt = process.argv.indexOf('--only')
  const impls = onlyAt >= 0 ? (process.argv[onlyAt + 1]!.split(',') as Impl[]) : IMPLS
  const sizes = onlyAt >= 0 && process.argv[onlyAt + 2] ? [Number(process.argv[onlyAt + 2])] : SIZES
  // A misspelt impl would run the in-flight loop under its name (trial's fall-through).
  for (const i of impls) if (!IMPLS.includes(i)) throw new Error(`--only: unknown impl ${i} (have ${IMPLS.join(', ')})`)
  for (const n of sizes) if (!Number.isInteger(n) || n < 1) throw new Error(`--only: the size must be a whole number of bytes >= 1, got ${process.argv[onlyAt + 2]}`)
  console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  for (const size of sizes) {
    const got = new Map<Impl, Rates[]>(impls.map((i) => [i, []]))
    for (let t = 0; t < TRIALS; t++) {
      for (const impl of impls) {
        const r = runChild(impl, size)
        if (r !== null) got.get(impl)!.push(r)
      }
    }
    const unit = size <= 1024 ? 'msg/s' : 'MB/s'
    const f = (x: number): string => (unit === 'msg/s' ? `${(x / 1e6).toFixed(2)} M` : x.toFixed(0))
    for (const key of ['rate', 'cpuRate'] as const) {
      const base = (name: Impl): number[] | undefined => got.get(name)?.map((r) => r[key])
      const session = base('session')
      const resumable = base('session-resume')
      for (const impl of impls) {
        const v = got.get(impl)!.map((r) => r[key])
        if (v.length === 0) {
          console.log(`${size} B  ${impl.padEnd(14)} failed`)
          continue
        }
        const vs = (of: number[] | undefined, name: string): string => (of && of.length ? `  ${(median(v) / median(of)).toFixed(2)}× ${name}` : '')
        const ratio = impl.startsWith('session') ? (impl !== 'session' ? vs(session, 'session') : '') : vs(session, 'session') + vs(resumable, 'resumable session')
        const per = key === 'rate' ? 'wall' : 'CPU'
        console.log(`${String(size).padStart(5)} B  ${impl.padEnd(14)} ${f(median(v))} ${unit} per ${per} s [${f(Math.min(...v))}–${f(Math.max(...v))}]${ratio}`)
      }
    }
  }
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
}

await main()
