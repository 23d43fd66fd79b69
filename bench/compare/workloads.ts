// The point-to-point workloads of bench:compare and bench/session.bench.ts,
// each run as one trial in a fresh process (trial(): worker.ts, order
// 'trial'): systems loaded into one process disturb each other's figures,
// so a trial's process holds only its system. The trial
// first runs a shorter warm-up of the same workload (JIT, buffers), then the
// measured one. With procs 2 the far end (sink or echo) is one more fresh
// worker process. Also here: memory per idle connection, measured in a fresh
// child (idleMemory).
import { fileURLToPath } from 'node:url'
import { Child } from '../child.js'
import { pingPong as pingPongOn, ratePerSecond } from '../lib.js'
import { loadSystem, type Channel, type Listening, type Mode, type SystemName } from './system.js'
import type { MemorySample } from './worker.js'

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url))

/** A fresh worker process (worker.ts), taking orders. */
export function worker(execArgv: string[] = []): Child {
  return new Child(WORKER, { execArgv, name: 'worker' })
}

export type Role = 'sink' | 'echo'

export type TrialKind = 'throughput' | 'one-way' | 'ping-pong' | 'setup'

export interface TrialSpec {
  kind: TrialKind
  system: SystemName
  procs: 1 | 2
  /** throughput: bytes; one-way: messages; ping-pong: round trips; setup: connections. */
  amount: number
  /** The same workload, this much, first and unrecorded (0: none). */
  warm: number
  /** one-way, p4net public API: sends started before awaiting them (default 1: `await` each). */
  inFlight?: number
}

/** Throughput moves bytes over a plain stream; the other kinds keep messages whole. */
export function modeOf(kind: TrialKind): Mode {
  return kind === 'throughput' ? 'bulk' : 'messages'
}

export const BULK_SIZE = 64 * 1024
export const SMALL_SIZE = 64
export const IN_FLIGHT = 8

export interface Served {
  address: string
  /** sink: the counts once `messages` have arrived. */
  result: Promise<{ messages: number; bytes: number }>
  close(): Promise<void>
}

/**
 * Listens for `system`: one sink connection counting `messages` (bulk: until
 * messages × size bytes have come, whatever the chunks), or echo on every connection.
 */
export async function serve(name: SystemName, role: Role, messages: number, mode: Mode = 'messages', bytes = 0): Promise<Served> {
  const system = await loadSystem(name, mode)
  let resolve!: (r: { messages: number; bytes: number }) => void
  let reject!: (err: Error) => void
  const result = new Promise<{ messages: number; bytes: number }>((res, rej) => {
    resolve = res
    reject = rej
  })
  result.catch(() => {}) // an echo server's result is nobody's business
  const channels: Channel[] = []
  let sink: Channel | null = null
  const listening: Listening = await system.listen((ch) => {
    channels.push(ch)
    if (role === 'echo') {
      ch.onmessage = (p) => void ch.send(p)
      return
    }
    if (sink !== null) return ch.close()
    sink = ch
    let count = 0
    let got = 0
    ch.onmessage =
      mode === 'bulk'
        ? (p) => {
            count++
            if ((got += p.length) === bytes) resolve({ messages: count, bytes: got })
          }
        : (p) => {
            got += p.length
            if (++count === messages) resolve({ messages: count, bytes: got })
          }
    ch.closed.then(() => {
      if (mode === 'bulk' ? got < bytes : count < messages) reject(new Error(`${name} connection closed after ${count} messages, ${got} bytes`))
    })
  }, reject)
  return {
    address: listening.address,
    result,
    async close() {
      for (const ch of channels) ch.close()
      await listening.close()
      await system.shutdown()
    },
  }
}

/** The far end of a trial: in this process, or in a worker process of its own. */
interface Far {
  address: string
  done(): Promise<{ messages: number; bytes: number }>
  close(): Promise<void>
}

async function far(procs: 1 | 2, system: SystemName, role: Role, messages: number, mode: Mode = 'messages', bytes = 0): Promise<Far> {
  if (procs === 1) {
    const s = await serve(system, role, messages, mode, bytes)
    return { address: s.address, done: () => s.result, close: () => s.close() }
  }
  const w = worker()
  try {
    const { address } = (await w.request({ op: 'serve', system, role, messages, mode, bytes }, 'listening')) as unknown as { address: string }
    return {
      address,
      done: () => w.expect('done') as unknown as Promise<{ messages: number; bytes: number }>,
      async close() {
        await w.request({ op: 'stop' }, 'stopped').catch(() => undefined)
        await w.end()
      },
    }
  } catch (err) {
    await w.end()
    throw err
  }
}

/**
 * `count` messages of `size` bytes one way, as fast as backpressure allows,
 * sent the system's own way (Channel.pump) or with send() and drain(); elapsed ms.
 */
async function stream(procs: 1 | 2, name: SystemName, size: number, count: number, mode: Mode, inFlight = 1): Promise<number> {
  const system = await loadSystem(name, mode)
  const f = await far(procs, name, 'sink', count, mode, count * size)
  let ch: Channel | null = null
  try {
    ch = await system.dial(f.address)
    ch.onmessage = () => {}
    const payload = Buffer.alloc(size, 0x5a)
    const done = f.done()
    done.catch(() => {}) // observed below; must not go unhandled while we send
    const t0 = performance.now()
    if (ch.pump) await ch.pump(payload, count, inFlight)
    else for (let i = 0; i < count; i++) if (!ch.send(payload)) await ch.drain()
    const r = await done
    const ms = performance.now() - t0
    if ((mode === 'messages' && r.messages !== count) || r.bytes !== count * size) {
      throw new Error(`received ${r.messages} messages / ${r.bytes} bytes, sent ${count} / ${count * size}`)
    }
    return ms
  } finally {
    ch?.close()
    await f.close()
    await system.shutdown()
  }
}

/** One 64-byte message out, the echo back, `n` times: round trips/s, median µs, p99 µs. */
async function pingPong(procs: 1 | 2, name: SystemName, n: number): Promise<number[]> {
  const system = await loadSystem(name)
  const f = await far(procs, name, 'echo', 0)
  let ch: Channel | null = null
  try {
    ch = await system.dial(f.address)
    return await pingPongOn(ch, n, SMALL_SIZE)
  } finally {
    ch?.close()
    await f.close()
    await system.shutdown()
  }
}
/** Connections/s: connect, handshake, one 64-byte echo, close; IN_FLIGHT at a time. */
async function setup(procs: 1 | 2, name: SystemName, total: number): Promise<number[]> {
  const system = await loadSystem(name)
  const f = await far(procs, name, 'echo', 0)
  try {
    const payload = Buffer.alloc(SMALL_SIZE, 0x44)
    const one = async (): Promise<void> => {
      const ch = await system.dial(f.address)
      try {
        await new Promise<void>((resolve, reject) => {
          ch.onmessage = () => resolve()
          ch.closed.then(() => reject(new Error('closed before the echo')))
          ch.send(payload)
        })
      } finally {
        ch.close()
      }
    }
    return [await ratePerSecond(total, IN_FLIGHT, one)]
  } finally {
    await f.close()
    await system.shutdown()
  }
}

async function once(spec: TrialSpec, amount: number): Promise<number[]> {
  const { system, procs } = spec
  switch (spec.kind) {
    case 'throughput': {
      const ms = await stream(procs, system, BULK_SIZE, Math.ceil(amount / BULK_SIZE), 'bulk')
      return [amount / ms / 1e3]
    }
    case 'one-way': {
      const ms = await stream(procs, system, SMALL_SIZE, amount, 'messages', spec.inFlight)
      return [(amount / ms) * 1e3]
    }
    case 'ping-pong':
      return pingPong(procs, system, amount)
    case 'setup':
      return setup(procs, system, amount)
    default:
      throw new Error(`unknown trial kind ${String(spec.kind)}`)
  }
}

/** Warm-up (if any), then the measured run: the trial's figures. */
export async function runTrial(spec: TrialSpec): Promise<number[]> {
  if (spec.warm > 0) await once(spec, spec.warm)
  return once(spec, spec.amount)
}

/** One trial in a fresh worker process: its figures. */
export async function trial(spec: TrialSpec): Promise<number[]> {
  const w = worker()
  try {
    const r = (await w.request({ op: 'trial', spec }, 'trial')) as unknown as { values: number[] }
    return r.values
  } finally {
    await w.end()
  }
}

/**
 * A measure() function: a trial() of `kind` per call, of `amount` for the
 * system, each after a warm-up of `warmShare` of it (none in a quick run).
 */
export function trials<S extends SystemName>(
  kind: TrialKind,
  procs: 1 | 2,
  amount: (s: S) => number,
  warmShare: number,
  quick: boolean,
  more: { inFlight?: number } = {},
): (s: S) => Promise<number[]> {
  return (system) => trial({ kind, system, procs, amount: amount(system), warm: quick ? 0 : Math.ceil(amount(system) * warmShare), ...more })
}

/**
 * KiB per idle connection: this process listens, a fresh child (--expose-gc)
 * dials `count` connections and samples its memory before and after
 * (worker.ts measureIdle; `warm`: as many opened and closed first).
 */
export async function idleMemory(name: SystemName, count: number, warm: boolean): Promise<MemorySample> {
  const system = await loadSystem(name)
  const held: Channel[] = []
  let acceptError: Error | null = null
  const l = await system.listen(
    (ch) => held.push(ch),
    (e) => (acceptError = e),
  )
  const w = worker(['--expose-gc'])
  try {
    const m = (await w.request({ op: 'idle', system: name, address: l.address, count, warm }, 'idle')) as unknown as { before: MemorySample; after: MemorySample }
    if (acceptError) throw acceptError
    const per = (k: keyof MemorySample): number => (m.after[k] - m.before[k]) / count / 1024
    return { rss: per('rss'), heapUsed: per('heapUsed'), heapTotal: per('heapTotal'), external: per('external') }
  } finally {
    await w.end()
    for (const ch of held) ch.close()
    await l.close()
    await system.shutdown()
  }
}
