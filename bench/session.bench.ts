// The p4net encrypted session against raw node:net carrying the same u32 BE
// length-prefixed messages unencrypted (bench/net-baseline.ts), side by side
// in one run, loopback TCP (127.0.0.1, port 0):
//   1. throughput, 64 KiB messages                       MB/s (10^6 bytes)
//   2. one-way rate, 64-byte messages                     messages/s
//   3. ping-pong, one 64-byte message each way            round trips/s, median and p99 µs
//   4. handshakes (dial + preamble + Noise XX) vs plain connects, 8 in flight
//   5. memory per idle connection: a fresh child (--expose-gc) per measurement
//      opens them to this process; process.memoryUsage() after gc(), before
//      and after, following a warm-up that opens and closes as many
// plus, for context, node:crypto ChaCha20-Poly1305 seal/open speed on one
// core (Session seals and opens records of 16 KiB and more with it).
// Cases 1–3 run with both ends in this process and with the receiver in a
// child (dist/bench/session-peer.js). p4net channels are fully handshaken.
// Each figure is the median of TRIALS trials (memory: MEMORY_TRIALS), with
// min and max; raw and p4net trials alternate, because other jobs and core
// placement move the numbers on this 2-core machine. Failed trials are
// reported, not dropped.
//
//   node dist/bench/session.bench.js [--quick] [--only <case substring>] [--impl raw|p4net]
// (--only / --impl are for profiling: results/session.json is written only by a full run)
import { fork, type ChildProcess } from 'node:child_process'
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { acceptSession, initiateSession } from '../ts/session/handshake.js'
import { tcp } from '../ts/transport/tcp.js'
import type { Conn } from '../ts/transport/types.js'
import { rawDial, rawListen } from './net-baseline.js'
import {
  dialChannel,
  dialerIdentity,
  listenChannels,
  listenerIdentity,
  serve,
  type Channel,
  type Impl,
  type MemorySample,
  type Role,
} from './session-peer.js'
import { interleaved, median, withTimeout, pingPong as pingPongOn } from './lib.js'

const quick = process.argv.includes('--quick')
const onlyAt = process.argv.indexOf('--only')
const only = onlyAt >= 0 ? (process.argv[onlyAt + 1] ?? '') : ''
const TRIALS = quick ? 1 : 3
const MiB = 1024 * 1024
const BULK_SIZE = 64 * 1024
const BULK_BYTES = quick ? 32 * MiB : 1024 * MiB
const SMALL_SIZE = 64
const SMALL_COUNT = quick ? 100_000 : 2_000_000
const ROUND_TRIPS = quick ? 2_000 : 20_000
const HANDSHAKES = quick ? 50 : 1_000
const IN_FLIGHT = 8
const RECORD_PLAIN = 65_519 // a full record's plaintext
const IDLE = 200
// rss moves with V8 heap sizing and malloc arenas by several KiB per connection: more trials.
const MEMORY_TRIALS = quick ? 1 : 5
const TRIAL_TIMEOUT_MS = 300_000
const implAt = process.argv.indexOf('--impl')
const IMPLS: Impl[] = implAt >= 0 ? [process.argv[implAt + 1] as Impl] : ['raw', 'p4net']
if (!IMPLS.every((i) => i === 'raw' || i === 'p4net')) throw new Error('--impl takes raw or p4net')
const PEER = fileURLToPath(new URL('./session-peer.js', import.meta.url))

function progress(msg: string): void {
  process.stderr.write(`[session] ${msg}\n`)
}



// ---- the child process that runs the far end of two-process cases ----

type Reply = { op: string; [k: string]: unknown }

/** A forked session-peer and the replies it owes us. */
class Peer {
  readonly child: ChildProcess
  private waiting: { op: string; resolve: (r: Reply) => void; reject: (e: Error) => void }[] = []
  private dead: Error | null = null

  constructor(execArgv: string[] = process.execArgv) {
    this.child = fork(PEER, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (m: Reply) => {
      if (m.op === 'error') {
        // Fails whatever waits; nothing waiting means the trial it belonged to is over.
        if (this.waiting.length === 0) progress(`peer reported after its trial: ${String(m.message)}`)
        return this.failAll(new Error(`peer: ${String(m.message)}`))
      }
      const i = this.waiting.findIndex((w) => w.op === m.op)
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m)
    })
    // A broken IPC pipe is as final as an exit (and may be seen first).
    this.child.on('error', (err) => this.die(new Error(`peer: ${err.message}`)))
    this.child.on('exit', (code, signal) => this.die(new Error(`peer exited (${signal ?? code})`)))
  }

  private die(err: Error): void {
    this.dead ??= err
    this.failAll(err)
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill()
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.splice(0)) w.reject(err)
  }

  get alive(): boolean {
    return this.dead === null
  }

  /** The next reply `op`; rejects on an error report from the child or its exit. */
  expect(op: string): Promise<Reply> {
    if (this.dead) return Promise.reject(this.dead)
    return new Promise((resolve, reject) => this.waiting.push({ op, resolve, reject }))
  }

  order(msg: object): void {
    if (this.dead || !this.child.connected) return // expect() reports it
    this.child.send(msg, (err) => {
      if (err) this.die(new Error(`peer: ${err.message}`))
    })
  }

  end(): void {
    if (this.child.connected) this.child.disconnect()
  }
}

let peer: Peer | null = null
function twoProcessPeer(): Peer {
  if (peer === null || !peer.alive) peer = new Peer()
  return peer
}
function endPeer(): void {
  peer?.end()
  peer = null
}

/** The far end of a trial: in this process, or in the child. */
interface Far {
  port: number
  /** Sink only: resolves with what the far end counted. */
  done(): Promise<{ messages: number; bytes: number }>
  close(): Promise<void>
}

async function far(procs: 1 | 2, impl: Impl, role: Role, messages: number): Promise<Far> {
  if (procs === 1) {
    const s = await serve(impl, role, messages)
    return { port: s.port, done: () => s.result, close: async () => s.close() }
  }
  const p = twoProcessPeer()
  const listening = p.expect('listening')
  p.order({ op: 'serve', impl, role, messages })
  const { port } = (await listening) as unknown as { port: number }
  return {
    port,
    done: () => p.expect('done') as unknown as Promise<{ messages: number; bytes: number }>,
    async close() {
      const stopped = p.expect('stopped')
      p.order({ op: 'stop' })
      await stopped
    },
  }
}

// ---- workloads; each returns the trial's figures ----

/** count messages of `size` bytes one way as fast as backpressure allows; returns elapsed ms. */
async function stream(procs: 1 | 2, impl: Impl, size: number, count: number): Promise<number> {
  const f = await far(procs, impl, 'sink', count)
  const ch = await dialChannel(impl, f.port)
  try {
    ch.onmessage = () => {}
    const payload = Buffer.alloc(size, 0x5a)
    const done = f.done()
    done.catch(() => {}) // observed below; a failure must not go unhandled while we send
    const t0 = performance.now()
    for (let i = 0; i < count; i++) if (!ch.send(payload)) await ch.drain()
    const r = await done
    const ms = performance.now() - t0
    if (r.messages !== count || r.bytes !== count * size) {
      throw new Error(`received ${r.messages} messages / ${r.bytes} bytes, sent ${count} / ${count * size}`)
    }
    return ms
  } finally {
    ch.close()
    await f.close()
  }
}

async function throughput(procs: 1 | 2, impl: Impl, bytes: number): Promise<number[]> {
  const ms = await stream(procs, impl, BULK_SIZE, bytes / BULK_SIZE)
  return [bytes / ms / 1e3]
}

async function rate(procs: 1 | 2, impl: Impl, count: number): Promise<number[]> {
  const ms = await stream(procs, impl, SMALL_SIZE, count)
  return [(count / ms) * 1e3]
}

async function pingPong(procs: 1 | 2, impl: Impl, n: number): Promise<number[]> {
  const f = await far(procs, impl, 'echo', 0)
  const ch = await dialChannel(impl, f.port)
  try {
    return await pingPongOn(ch, n, SMALL_SIZE)
  } finally {
    ch.close()
    await f.close()
  }
}
/** Connections (raw) or handshakes (p4net) per second, IN_FLIGHT at a time, both ends here. */
async function handshakes(impl: Impl, total: number): Promise<number[]> {
  // The two ends meet by the dialler's port, whichever finishes first; each
  // side leaves a function that closes its end.
  type Meeting = { promise: Promise<() => void>; resolve: (close: () => void) => void; reject: (e: Error) => void }
  const meet = new Map<number, Meeting>()
  const slot = (port: number): Meeting => {
    let s = meet.get(port)
    if (!s) {
      let resolve!: (close: () => void) => void
      let reject!: (e: Error) => void
      const promise = new Promise<() => void>((res, rej) => {
        resolve = res
        reject = rej
      })
      promise.catch(() => {})
      s = { promise, resolve, reject }
      meet.set(port, s)
    }
    return s
  }
  const listenOpts = { identity: listenerIdentity(), username: 'bench-listener' }
  const dialOpts = { identity: dialerIdentity(), username: 'bench-dialer' }
  const server =
    impl === 'raw'
      ? await rawListen((socket) => {
          socket.on('error', () => {})
          slot(socket.remotePort!).resolve(() => socket.destroy())
        })
      : await (async () => {
          const l = await tcp.listen('127.0.0.1', 0, (conn: Conn) => {
            const s = slot(conn.remotePort)
            acceptSession(conn, listenOpts).then((r) => s.resolve(() => r.conn.destroy()), s.reject)
          })
          return { port: l.address.port, close: () => void l.close() }
        })()
  let started = 0
  const worker = async (): Promise<void> => {
    while (started < total) {
      started++
      try {
        await one()
      } catch (err) {
        started = total // the other workers stop too
        throw err
      }
    }
  }
  const one = async (): Promise<void> => {
    let port: number
    let close: () => void
    if (impl === 'raw') {
      const socket = await rawDial(server.port)
      socket.on('error', () => {})
      port = socket.localPort!
      close = () => socket.destroy()
    } else {
      const conn = await tcp.dial('127.0.0.1', server.port)
      port = conn.localPort
      const r = await initiateSession(conn, dialOpts)
      close = () => r.conn.destroy()
    }
    const closeFar = await slot(port).promise
    meet.delete(port)
    close()
    closeFar()
  }
  try {
    const t0 = performance.now()
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
    return [(total / (performance.now() - t0)) * 1e3]
  } finally {
    server.close()
  }
}

/**
 * Context for the throughput case, not a p4net figure: node:crypto
 * ChaCha20-Poly1305 over full 65 519-byte records on one core, sealing and
 * opening (what Session uses for records of 16 KiB and more).
 */
async function aeadCeiling(ms: number): Promise<number[]> {
  const key = randomBytes(32)
  const iv = Buffer.alloc(12)
  const plain = Buffer.alloc(RECORD_PLAIN, 0x5a)
  const mbps = (op: () => void): number => {
    let n = 0
    const t0 = performance.now()
    let t = t0
    while (t - t0 < ms) {
      op()
      n++
      if ((n & 7) === 0) t = performance.now()
    }
    return (n * RECORD_PLAIN) / (performance.now() - t0) / 1e3
  }
  const seal = (): { ct: Buffer; tag: Buffer } => {
    const c = createCipheriv('chacha20-poly1305', key, iv, { authTagLength: 16 })
    const ct = c.update(plain)
    c.final()
    return { ct, tag: c.getAuthTag() }
  }
  const sealed = seal()
  const open = (): void => {
    const d = createDecipheriv('chacha20-poly1305', key, iv, { authTagLength: 16 })
    d.setAuthTag(sealed.tag)
    d.update(sealed.ct)
    d.final()
  }
  return [mbps(seal), mbps(open)]
}

/** KiB per idle connection above the baseline, measured in a fresh child. */
async function idleMemory(impl: Impl, count: number): Promise<number[]> {
  const held: Channel[] = []
  let acceptError: Error | null = null
  const server = await listenChannels(impl, (ch) => held.push(ch), (e) => (acceptError = e))
  const p = new Peer([...process.execArgv, '--expose-gc'])
  try {
    const reply = p.expect('memory')
    p.order({ op: 'memory', impl, port: server.port, count })
    const m = (await reply) as unknown as { before: MemorySample; after: MemorySample }
    if (acceptError) throw acceptError
    const per = (k: keyof MemorySample): number => (m.after[k] - m.before[k]) / count / 1024
    return [per('rss'), per('heapTotal'), per('heapUsed'), per('external')]
  } finally {
    p.end()
    for (const ch of held) ch.close()
    server.close()
  }
}

// ---- trials, results, table ----

interface Metric {
  name: string
  unit: string
}

interface Row {
  case: string
  impl: Impl
  value: number | null
  unit: string
  min: number | null
  max: number | null
  trials: (number | null)[]
  errors?: string[]
}

const rows: Row[] = []

/**
 * Runs `trials` alternating raw / p4net trials of fn; each trial yields one
 * figure per metric. A warm-up run per impl (not recorded) precedes a full run.
 */
async function measure(
  metrics: Metric[],
  fn: (impl: Impl) => Promise<number[]>,
  warm?: (impl: Impl) => Promise<unknown>,
  impls: Impl[] = IMPLS,
  trials = TRIALS,
): Promise<void> {
  if (only && !metrics.some((m) => m.name.includes(only))) return
  const label = metrics[0]!.name
  if (warm && !quick) {
    for (const impl of impls) {
      progress(`${label}: ${impl} warm-up`)
      await withTimeout(warm(impl), TRIAL_TIMEOUT_MS, 'warm-up').catch((e: Error) => progress(`  warm-up failed: ${e.message}`))
    }
  }
  const { got, errors } = await interleaved(impls, trials, label, fn, { timeoutMs: TRIAL_TIMEOUT_MS, units: metrics.map((m) => m.unit), fmt, progress })
  metrics.forEach((metric, mi) => {
    for (const impl of impls) {
      const trials = got.get(impl)!.map((v) => (v === null ? null : round(v[mi]!)))
      const ok = trials.filter((v): v is number => v !== null)
      const row: Row = {
        case: metric.name,
        impl,
        value: ok.length ? median(ok) : null,
        unit: metric.unit,
        min: ok.length ? Math.min(...ok) : null,
        max: ok.length ? Math.max(...ok) : null,
        trials,
      }
      if (errors.get(impl)!.length) row.errors = errors.get(impl)
      rows.push(row)
    }
  })
}

function round(x: number): number {
  return Math.round(x * 100) / 100
}

function fmt(x: number | null): string {
  if (x === null) return 'failed'
  const a = Math.abs(x)
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)} M`
  if (a >= 1e4) return `${(x / 1e3).toFixed(1)} k`
  if (a >= 100) return x.toFixed(0)
  return x.toFixed(1)
}

function find(caseName: string, impl: Impl): Row | undefined {
  return rows.find((r) => r.case === caseName && r.impl === impl)
}

function ratio(caseName: string): number | null {
  const raw = find(caseName, 'raw')?.value
  const p4 = find(caseName, 'p4net')?.value
  // A ratio to a figure near zero (memory rows) says nothing: p4net−raw does.
  return raw && Math.abs(raw) >= 1 && p4 !== null && p4 !== undefined ? p4 / raw : null
}

function printTable(): void {
  const cases = [...new Set(rows.map((r) => r.case))]
  const cell = (r: Row | undefined): string => {
    if (!r) return '-'
    if (r.value === null) return 'failed'
    const range = r.trials.length > 1 ? ` [${fmt(r.min)}–${fmt(r.max)}]` : ''
    const failed = r.errors ? ` (${r.errors.length} failed)` : ''
    return `${fmt(r.value)}${range}${failed}`
  }
  const w0 = Math.max(4, ...cases.map((c) => c.length + 12))
  console.log(
    `p4net session vs raw node:net${quick ? ' (--quick)' : ''}: median of ${TRIALS} trial(s)${TRIALS > 1 ? ` (memory ${MEMORY_TRIALS}) [min–max]` : ''}, raw and p4net interleaved; loopback TCP, ${cpus().length} cores`,
  )
  console.log(`${'case'.padEnd(w0)} ${'raw node:net'.padStart(30)} ${'p4net'.padStart(30)} ${'p4net/raw'.padStart(10)} ${'p4net−raw'.padStart(10)}`)
  for (const c of cases) {
    const raw = find(c, 'raw')
    const p4 = find(c, 'p4net')
    const unit = raw?.unit ?? p4?.unit ?? ''
    const r = ratio(c)
    const d = unit === 'KiB' && raw?.value != null && p4?.value != null ? (p4.value - raw.value).toFixed(1) : '-'
    console.log(
      `${`${c} (${unit})`.padEnd(w0)} ${cell(raw).padStart(30)} ${cell(p4).padStart(30)} ${(r === null ? '-' : `${r.toFixed(2)}x`).padStart(10)} ${d.padStart(10)}`,
    )
  }
}

interface Target {
  target: string
  figure: string
  met: boolean | null
}

function targets(): Target[] {
  const out: Target[] = []
  const ratioTarget = (c: string, what: string, ok: (r: number) => boolean): void => {
    if (!find(c, 'raw')) return
    const r = ratio(c)
    out.push({ target: what, figure: r === null ? 'n/a' : `${r.toFixed(2)}x (${c})`, met: r === null ? null : ok(r) })
  }
  for (const p of ['one process', 'two processes']) {
    ratioTarget(`throughput 64 KiB, ${p}`, 'encrypted throughput >= 0.7x raw', (r) => r >= 0.7)
  }
  for (const p of ['one process', 'two processes']) {
    const row = find(`64 B one way, ${p}`, 'p4net')
    if (row) {
      out.push({
        target: '64-byte messages one way >= 1 M/s',
        figure: `${fmt(row.value)} msg/s (${p})`,
        met: row.value === null ? null : row.value >= 1e6,
      })
    }
  }
  for (const p of ['one process', 'two processes']) {
    ratioTarget(`ping-pong median RTT, ${p}`, 'round-trip time <= 1.3x raw', (r) => r <= 1.3)
  }
  for (const m of ['rss', 'heapUsed']) {
    const c = `idle memory ${m} per connection`
    const raw = find(c, 'raw')?.value
    const p4 = find(c, 'p4net')?.value
    if (raw === undefined || p4 === undefined) continue
    const d = raw === null || p4 === null ? null : p4 - raw
    out.push({ target: `idle session memory <= 16 KiB above raw (${m})`, figure: d === null ? 'n/a' : `${d.toFixed(1)} KiB`, met: d === null ? null : d <= 16 })
  }
  return out
}

// ---- the run ----

const ONE = 'one process'
const TWO = 'two processes'
for (const [procs, p] of [
  [1, ONE],
  [2, TWO],
] as const) {
  await measure(
    [{ name: `throughput 64 KiB, ${p}`, unit: 'MB/s' }],
    (impl) => throughput(procs, impl, BULK_BYTES),
    (impl) => throughput(procs, impl, 64 * MiB),
  )
}
await measure(
  [
    { name: 'context: node:crypto AEAD seal 64 KiB, 1 core', unit: 'MB/s' },
    { name: 'context: node:crypto AEAD open 64 KiB, 1 core', unit: 'MB/s' },
  ],
  () => aeadCeiling(quick ? 50 : 500),
  undefined,
  ['p4net'],
)
for (const [procs, p] of [
  [1, ONE],
  [2, TWO],
] as const) {
  await measure(
    [{ name: `64 B one way, ${p}`, unit: 'msg/s' }],
    (impl) => rate(procs, impl, SMALL_COUNT),
    (impl) => rate(procs, impl, 200_000),
  )
}
for (const [procs, p] of [
  [1, ONE],
  [2, TWO],
] as const) {
  await measure(
    [
      { name: `ping-pong 64 B, ${p}`, unit: 'round trips/s' },
      { name: `ping-pong median RTT, ${p}`, unit: 'µs' },
      { name: `ping-pong p99 RTT, ${p}`, unit: 'µs' },
    ],
    (impl) => pingPong(procs, impl, ROUND_TRIPS),
    (impl) => pingPong(procs, impl, 2_000),
  )
}
endPeer()
await measure(
  [{ name: `handshakes (${IN_FLIGHT} in flight), one process`, unit: '/s' }],
  (impl) => handshakes(impl, HANDSHAKES),
  (impl) => handshakes(impl, 100),
)
await measure(
  [
    { name: 'idle memory rss per connection', unit: 'KiB' },
    { name: 'idle memory heapTotal per connection', unit: 'KiB' },
    { name: 'idle memory heapUsed per connection', unit: 'KiB' },
    { name: 'idle memory external per connection', unit: 'KiB' },
  ],
  (impl) => idleMemory(impl, IDLE),
  undefined,
  IMPLS,
  MEMORY_TRIALS,
)

printTable()
const goals = targets()
if (goals.length) {
  console.log(`\ntargets (issue 3, item 8)${quick ? ' — --quick runs are cold single trials, a smoke test, not figures' : ''}:`)
  for (const g of goals) console.log(`  ${g.met === null ? 'n/a ' : g.met ? 'met ' : 'MISS'}  ${g.target}: ${g.figure}`)
}

const report = {
  name: 'session',
  date: new Date().toISOString(),
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  quick,
  trials: TRIALS,
  memoryTrials: MEMORY_TRIALS,
  setup: {
    transport: 'loopback TCP 127.0.0.1, Nagle off both sides',
    p4net: 'dial + preamble + Noise XX (ts/session/handshake.ts), then Session; DATA frames',
    raw: 'node:net, u32 BE length || payload, unencrypted, batched per tick like Session (bench/net-baseline.ts)',
    bulkBytes: BULK_BYTES,
    smallMessages: SMALL_COUNT,
    roundTrips: ROUND_TRIPS,
    handshakes: HANDSHAKES,
    handshakesInFlight: IN_FLIGHT,
    idleConnections: IDLE,
  },
  results: rows,
  targets: goals,
}
if (!only && implAt < 0) {
  const dir = new URL('../../bench/results/', import.meta.url)
  mkdirSync(dir, { recursive: true })
  writeFileSync(new URL('session.json', dir), JSON.stringify(report, null, 2) + '\n')
}
