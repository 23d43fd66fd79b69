// Before/after check for a refactor: the same four workloads run against two
// builds of p4net (two checkouts, each built: `npm run build`), trials
// interleaved (before, after, before, …), each trial in a fresh process, and
// the medians compared:
//   session-64k   Session pair over loopback TCP, 64 KiB frames    MB/s (10^6 bytes)
//   session-64b   the same, 64-byte frames                          messages/s
//   broadcast-50  50 nodes on the memory transport (public API), one node
//                 broadcasts 1,000 × 256 B; time until all 49 others have all  ms
//   converge-1000 1,000 memory-transport nodes, each bootstrapped to one or
//                 two earlier ones (seeded); time from the first start until
//                 every node lists all 1,000 users                          s
// The two network workloads also report time per frame handled (µs): their
// links come from random walks, so how many frames a trial handles varies
// from trial to trial, and this separates a frame's cost from that.
// The workloads use only what both builds share: the public API
// (dist/ts/index.js) and the session layer's Session and tcp transport
// (dist/ts/session/session.js, dist/ts/transport/tcp.js).
//
//   node dist/bench/regression.js --before DIR --after DIR [--trials 5] [--only a,b]
// Writes bench/results/regression.json.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { pathToFileURL, fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { median, writeResults, type Result } from '../common/results.js'
import { seededRandom } from '../common/random.js'

const CASES = ['session-64k', 'session-64b', 'broadcast-50', 'converge-1000'] as const
type Case = (typeof CASES)[number]
const UNIT: Record<Case, string> = { 'session-64k': 'MB/s', 'session-64b': 'msg/s', 'broadcast-50': 'ms', 'converge-1000': 's' }
const HIGHER_IS_BETTER: Record<Case, boolean> = { 'session-64k': true, 'session-64b': true, 'broadcast-50': false, 'converge-1000': false }

// Types are this tree's; the module loaded at run time is the tree under test.
type Api = typeof import('../ts/index.js')
type SessionMod = typeof import('../ts/session/session.js')
type TcpMod = typeof import('../ts/transport/tcp.js')

async function load<T>(root: string, rel: string): Promise<T> {
  return (await import(pathToFileURL(resolve(root, 'dist', rel)).href)) as T
}

async function sessionCase(root: string, size: number, total: number): Promise<number> {
  const { Session } = await load<SessionMod>(root, 'ts/session/session.js')
  const { tcp } = await load<TcpMod>(root, 'ts/transport/tcp.js')
  let accepted: ((c: unknown) => void) | undefined
  const got = new Promise<unknown>((r) => (accepted = r))
  const listener = await tcp.listen('127.0.0.1', 0, (c) => accepted!(c))
  const ca = await tcp.dial('127.0.0.1', listener.address.port)
  const cb = (await got) as typeof ca
  const k1 = randomBytes(32)
  const k2 = randomBytes(32)
  const a = new Session({ conn: ca, remote: 'b', sendKey: k1, recvKey: k2 }, { maxMessage: 1 << 20 })
  const b = new Session({ conn: cb, remote: 'a', sendKey: k2, recvKey: k1 }, { maxMessage: 1 << 20 })
  const payload = randomBytes(size)
  const count = Math.floor(total / size)
  const send = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      if (!a.send(8 /* DATA */, 0, 0, 7, 0, i, payload)) await new Promise<void>((r) => a.once('drain', () => r()))
    }
  }
  // Warm-up, then the timed run.
  const run = async (n: number): Promise<number> => {
    let left = n
    const done = new Promise<void>((r) => (b.onframe = () => --left === 0 && r()))
    const t0 = performance.now()
    await send(n)
    await done
    return performance.now() - t0
  }
  await run(Math.max(1, Math.floor(count / 10)))
  const ms = await run(count)
  a.destroy()
  b.destroy()
  await Promise.all([a.done, b.done])
  await listener.close()
  return size >= 1024 ? (count * size) / 1e3 / ms : (count / ms) * 1000
}

const FAST = { maintenanceMs: 50, walkTimeoutMs: 1000, requestTimeoutMs: 3000, handshakeTimeoutMs: 5000 }

async function network(root: string, n: number, timers: object, onCreate: (node: InstanceType<Api['Node']>, i: number) => void) {
  const api = await load<Api>(root, 'ts/index.js')
  const net = new api.MemoryNetwork()
  const rand = seededRandom(1)
  const nodes: Array<InstanceType<Api['Node']>> = []
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const peers = i === 0 ? [] : [...new Set([nodes[Math.floor(rand() * i)]!, nodes[Math.floor(rand() * i)]!])]
    const node = await api.createNode({
      username: `u${i}`,
      transport: api.memoryTransport(net),
      host: '127.0.0.1',
      port: 0,
      bootstrap: peers.map((p) => p.address),
      timers,
    })
    onCreate(node, i)
    await node.start()
    nodes.push(node)
  }
  return { nodes, t0, stop: () => Promise.all(nodes.map((x) => x.stop())) }
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/** A workload's figure, and for the network ones the frames the nodes handled meanwhile. */
interface Measured {
  value: number
  frames?: number
}

const framesIn = (nodes: Array<{ stats(): { framesIn: number } }>): number => nodes.reduce((n, x) => n + x.stats().framesIn, 0)

async function broadcastCase(root: string): Promise<Measured> {
  const N = 50
  const M = 1000
  const counts = new Map<number, number>()
  const net = await network(root, N, FAST, (node, i) => {
    counts.set(i, 0)
    node.plugin(9).on('message', () => counts.set(i, counts.get(i)! + 1))
  })
  try {
    await until(() => net.nodes.every((x) => x.users().length === N), 60_000, 'convergence')
    const p = net.nodes[0]!.plugin(9)
    const body = randomBytes(256)
    const f0 = framesIn(net.nodes)
    const t0 = performance.now()
    for (let i = 0; i < M; i++) await p.broadcast(body)
    await until(() => [...counts.entries()].every(([i, c]) => i === 0 || c >= M), 60_000, 'delivery')
    return { value: performance.now() - t0, frames: framesIn(net.nodes) - f0 }
  } finally {
    await net.stop()
  }
}

async function convergeCase(root: string): Promise<Measured> {
  const N = 1000
  const net = await network(root, N, { maintenanceMs: 200 }, () => undefined)
  try {
    await until(() => net.nodes.every((x) => x.stats().users === N), 240_000, 'convergence')
    return { value: (performance.now() - net.t0) / 1000, frames: framesIn(net.nodes) }
  } finally {
    await net.stop()
  }
}

async function worker(root: string, c: Case): Promise<void> {
  const m: Measured =
    c === 'session-64k' ? { value: await sessionCase(root, 65536, 256 << 20) }
    : c === 'session-64b' ? { value: await sessionCase(root, 64, 64 * 2_000_000) }
    : c === 'broadcast-50' ? await broadcastCase(root)
    : await convergeCase(root)
  console.log(JSON.stringify(m))
}

function trial(root: string, c: Case): Measured {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', c, '--root', root], { encoding: 'utf8', maxBuffer: 1 << 24 })
  const line = r.stdout.trim().split('\n').pop() ?? ''
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`${c} in ${root} failed (exit ${r.status}):\n${r.stderr}`)
  return JSON.parse(line) as Measured
}

/** Time per frame handled (µs): the network workloads' links come from random walks, so the work per trial varies; this separates the cost of a frame from it. */
function perFrame(c: Case, m: Measured): number | undefined {
  if (m.frames === undefined || m.frames === 0) return undefined
  return ((c === 'converge-1000' ? m.value * 1000 : m.value) * 1000) / m.frames
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { before: { type: 'string' }, after: { type: 'string' }, trials: { type: 'string', default: '5' }, only: { type: 'string' }, worker: { type: 'string' }, root: { type: 'string' } } })
  if (values.worker) return worker(values.root!, values.worker as Case)
  if (!values.before || !values.after) {
    console.error('usage: node dist/bench/regression.js --before DIR --after DIR [--trials 5] [--only case,…]')
    process.exit(2)
  }
  const trials = Number(values.trials)
  const only = (values.only ? values.only.split(',') : [...CASES]) as Case[]
  const results: Result[] = []
  const notes: string[] = []
  for (const c of only) {
    const before: number[] = []
    const after: number[] = []
    const beforeUs: number[] = []
    const afterUs: number[] = []
    for (let t = 0; t < trials; t++) {
      const b = trial(values.before, c)
      const a = trial(values.after, c)
      before.push(b.value)
      after.push(a.value)
      const [bu, au] = [perFrame(c, b), perFrame(c, a)]
      if (bu !== undefined && au !== undefined) {
        beforeUs.push(bu)
        afterUs.push(au)
      }
      const frames = b.frames !== undefined ? ` (frames ${b.frames} / ${a.frames}; ${bu?.toFixed(2)} / ${au?.toFixed(2)} µs a frame)` : ''
      process.stderr.write(`${c} trial ${t + 1}: before ${b.value.toFixed(1)}, after ${a.value.toFixed(1)} ${UNIT[c]}${frames}\n`)
    }
    const mb = median(before)
    const ma = median(after)
    const change = HIGHER_IS_BETTER[c] ? ma / mb - 1 : mb / ma - 1
    const better = HIGHER_IS_BETTER[c] ? 'higher' : 'lower'
    results.push({ case: c, impl: 'before', value: mb, unit: UNIT[c], better, min: Math.min(...before), max: Math.max(...before), trials: before })
    results.push({ case: c, impl: 'after', value: ma, unit: UNIT[c], better, min: Math.min(...after), max: Math.max(...after), trials: after })
    const line = `${c.padEnd(14)} before ${mb.toFixed(1).padStart(10)}  after ${ma.toFixed(1).padStart(10)} ${UNIT[c].padEnd(6)} ${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)} % (positive = faster)`
    notes.push(line)
    console.log(line)
    if (beforeUs.length > 0) {
      const [mbu, mau] = [median(beforeUs), median(afterUs)]
      results.push({ case: `${c}/frame`, impl: 'before', value: mbu, unit: 'µs', better: 'lower', trials: beforeUs })
      results.push({ case: `${c}/frame`, impl: 'after', value: mau, unit: 'µs', better: 'lower', trials: afterUs })
      const l2 = `${(c + '/frame').padEnd(14)} before ${mbu.toFixed(2).padStart(10)}  after ${mau.toFixed(2).padStart(10)} µs     ${mbu / mau - 1 >= 0 ? '+' : ''}${((mbu / mau - 1) * 100).toFixed(1)} % (time per frame handled)`
      notes.push(l2)
      console.log(l2)
    }
  }
  const partial = only.length < CASES.length
  writeResults('regression', { trials, before: resolve(values.before), after: resolve(values.after), notes, results }, { smoke: partial })
}

await main()
