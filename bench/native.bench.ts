// Socket options through the native addon, side by side with the TypeScript
// fallback, on raw node:net sockets over loopback (127.0.0.1, port 0). The
// far end runs in a child process (this file with --peer) so each end has its
// own event loop; both ends get the same options through the same tuner.
//   1. ping-pong, 64-byte request and reply, median and p99 round trip (µs):
//      a. the request in one write
//      b. the request in two writes (8-byte header, then 56-byte body): the
//         pattern where Nagle's algorithm meets delayed ACKs
//      with NODELAY on/off and QUICKACK (set once, or re-armed after every
//      read, which is what it takes on Linux: the kernel drops back to
//      delayed-ACK mode by itself).
//   2. throughput of 64 KiB writes, with kernel buffer autotuning (fallback)
//      and with SO_SNDBUF/SO_RCVBUF fixed at several sizes (native).
// Cases run interleaved, latency 3 times and throughput 5 times (once with
// --quick); a latency figure is the run with the lowest median (its p99
// beside it), a throughput figure the best run (median beside it), with every
// run listed: other jobs may share the machine.
//   node dist/bench/native.bench.js [--quick]
import { once } from 'node:events'
import { writeResults, type Result } from '../common/results.js'
import { Child, childMain } from './child.js'
import * as net from 'node:net'
import { fileURLToPath } from 'node:url'
import { fallbackTuner, loadNative, nativeTuner, nativeUnavailableReason, socketFd, type SocketOptions, type SocketTuner } from '../ts/native/index.js'

const quick = process.argv.includes('--quick')
const TRIALS = quick ? 1 : 3
// Throughput runs are short and swing widely with other load: take more.
const BULK_TRIALS = quick ? 1 : 5
const MSG = 64
const HEADER = 8
const WARMUP_ROUNDS = quick ? 20 : 200
const MAX_ROUNDS = quick ? 400 : 20_000
const ROUND_BUDGET_MS = quick ? 120 : 1_500
const CHUNK = 64 * 1024
const BULK_BYTES = (quick ? 16 : 256) * 1024 * 1024
const KiB = 1024

type TunerKind = 'native' | 'fallback'

interface PeerSetup {
  id: number
  mode: 'echo' | 'sink'
  tuner: TunerKind
  opts: SocketOptions
  /** Re-arm TCP_QUICKACK after every read (native only). */
  rearm: boolean
  /** sink: bytes per acknowledged transfer. */
  bytes: number
}

const addon = loadNative()
function tunerOf(kind: TunerKind): SocketTuner {
  if (kind === 'fallback') return fallbackTuner()
  if (addon === null) throw new Error('native tuner asked for without the addon')
  return nativeTuner(addon)
}

// Re-arming QUICKACK is not a p4net option (it costs a syscall per read);
// the bench does it to show what QUICKACK needs to matter.
function rearmQuickAck(socket: net.Socket): void {
  const fd = socketFd(socket)
  if (addon !== null && fd !== undefined) addon.setOption(fd, 'quickAck', 1)
}

function applyAll(tuner: SocketTuner, socket: net.Socket, opts: SocketOptions): void {
  const r = tuner.apply(socket, opts)
  if (tuner.kind === 'native' && r.skipped.length > 0) {
    throw new Error(`native tuner skipped ${r.skipped.map((s) => `${s.option} (${s.reason})`).join(', ')}`)
  }
}

// ---- the child: echo and sink servers on demand ----

type PeerOrder = ({ op: 'serve' } & PeerSetup) | { op: 'close'; id: number }

function runPeer(): void {
  const servers = new Map<number, { server: net.Server; sockets: Set<net.Socket> }>()
  childMain<PeerOrder>((msg, { send }) => {
    if (msg.op === 'close') {
      const s = servers.get(msg.id)
      if (s === undefined) return
      servers.delete(msg.id)
      for (const socket of s.sockets) socket.destroy()
      s.server.close(() => send({ op: 'closed', id: msg.id }))
      return
    }
    const tuner = tunerOf(msg.tuner)
    const sockets = new Set<net.Socket>()
    const server = net.createServer((socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
      applyAll(tuner, socket, msg.opts)
      if (msg.mode === 'echo') {
        const reply = Buffer.alloc(MSG, 2)
        let pending = 0
        socket.on('data', (chunk: Buffer) => {
          if (msg.rearm) rearmQuickAck(socket)
          pending += chunk.length
          while (pending >= MSG) {
            pending -= MSG
            socket.write(reply)
          }
        })
      } else {
        let got = 0
        socket.on('data', (chunk: Buffer) => {
          got += chunk.length
          if (got >= msg.bytes) {
            got -= msg.bytes
            socket.write(Buffer.of(1))
          }
        })
      }
    })
    server.listen(0, '127.0.0.1', () => {
      servers.set(msg.id, { server, sockets })
      send({ op: 'listening', id: msg.id, port: (server.address() as net.AddressInfo).port })
    })
  })
}

// ---- the parent: clients and the report ----

let nextId = 1
async function withPeerServer<T>(peer: Child, setup: Omit<PeerSetup, 'id'>, fn: (port: number) => Promise<T>): Promise<T> {
  const id = nextId++
  const { port } = (await peer.request({ op: 'serve', ...setup, id }, 'listening')) as unknown as { port: number }
  try {
    return await fn(port)
  } finally {
    await peer.request({ op: 'close', id }, 'closed')
  }
}

async function connect(port: number, tuner: SocketTuner, opts: SocketOptions): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  applyAll(tuner, socket, opts)
  return socket
}

/** Round-trip times in µs, after a warm-up, until MAX_ROUNDS or the time budget. */
async function pingPong(socket: net.Socket, split: boolean, rearm: boolean): Promise<number[]> {
  const msg = Buffer.alloc(MSG, 1)
  const head = msg.subarray(0, HEADER)
  const body = msg.subarray(HEADER)
  const samples: number[] = []
  let round = 0
  let got = 0
  let start = 0n
  let deadline = 0
  return new Promise((resolve, reject) => {
    const send = (): void => {
      start = process.hrtime.bigint()
      if (split) {
        socket.write(head)
        socket.write(body)
      } else {
        socket.write(msg)
      }
    }
    socket.on('error', reject)
    socket.on('data', (chunk: Buffer) => {
      if (rearm) rearmQuickAck(socket)
      got += chunk.length
      if (got < MSG) return
      got -= MSG
      const us = Number(process.hrtime.bigint() - start) / 1000
      round++
      if (round === WARMUP_ROUNDS) deadline = performance.now() + ROUND_BUDGET_MS
      if (round > WARMUP_ROUNDS) samples.push(us)
      // Nagle cases wait for a delayed ACK every round: the warm-up ends early for them too.
      if (round < WARMUP_ROUNDS && us > 10_000 && round >= 3) {
        round = WARMUP_ROUNDS
        deadline = performance.now() + ROUND_BUDGET_MS
      }
      if (samples.length >= MAX_ROUNDS || (round > WARMUP_ROUNDS && performance.now() > deadline)) {
        resolve(samples)
        return
      }
      send()
    })
    send()
  })
}

/** MB/s (10^6 bytes) for BULK_BYTES in CHUNK writes, until the peer acknowledges the last byte. */
async function throughput(socket: net.Socket): Promise<number> {
  const chunk = Buffer.alloc(CHUNK, 3)
  const acked = once(socket, 'data')
  const t0 = performance.now()
  let sent = 0
  while (sent < BULK_BYTES) {
    sent += CHUNK
    if (!socket.write(chunk)) await once(socket, 'drain')
  }
  await acked
  return BULK_BYTES / 1e6 / ((performance.now() - t0) / 1000)
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

interface LatencyCase {
  kind: 'latency'
  case: string
  impl: TunerKind
  options: string
  opts: SocketOptions
  split: boolean
  rearm: boolean
  runs: { median: number; p99: number; rounds: number }[]
}
interface ThroughputCase {
  kind: 'throughput'
  case: string
  impl: TunerKind
  options: string
  opts: SocketOptions
  runs: number[]
}
type Case = LatencyCase | ThroughputCase

function cases(): Case[] {
  const out: Case[] = []
  for (const split of [false, true]) {
    const name = split ? `ping-pong ${MSG} B, two writes (${HEADER}+${MSG - HEADER})` : `ping-pong ${MSG} B, one write`
    const lat = (impl: TunerKind, options: string, opts: SocketOptions, rearm = false): LatencyCase => ({
      kind: 'latency', case: name, impl, options, opts, split, rearm, runs: [],
    })
    out.push(lat('fallback', 'noDelay (p4net default)', { noDelay: true }))
    out.push(lat('fallback', 'Nagle on (noDelay false)', { noDelay: false }))
    if (addon !== null && addon.supported.quickAck) {
      out.push(lat('native', 'noDelay + quickAck', { noDelay: true, quickAck: true }))
      out.push(lat('native', 'Nagle on + quickAck', { noDelay: false, quickAck: true }))
      out.push(lat('native', 'Nagle on + quickAck re-armed per read', { noDelay: false, quickAck: true }, true))
    }
  }
  const bulk = `throughput ${CHUNK / KiB} KiB writes`
  out.push({ kind: 'throughput', case: bulk, impl: 'fallback', options: 'kernel autotuning', opts: { noDelay: true }, runs: [] })
  if (addon !== null) {
    for (const size of [64 * KiB, 256 * KiB, 1024 * KiB, 4096 * KiB]) {
      const label = size >= 1024 * KiB ? `${size / 1024 / KiB} MiB` : `${size / KiB} KiB`
      out.push({
        kind: 'throughput', case: bulk, impl: 'native', options: `SO_SNDBUF = SO_RCVBUF = ${label}`,
        opts: { noDelay: true, sendBuffer: size, receiveBuffer: size }, runs: [],
      })
    }
  }
  return out
}

async function runCase(peer: Child, c: Case): Promise<void> {
  const tuner = tunerOf(c.impl)
  if (c.kind === 'latency') {
    const setup = { mode: 'echo' as const, tuner: c.impl, opts: c.opts, rearm: c.rearm, bytes: 0 }
    await withPeerServer(peer, setup, async (port) => {
      const socket = await connect(port, tuner, c.opts)
      try {
        const samples = (await pingPong(socket, c.split, c.rearm)).sort((x, y) => x - y)
        c.runs.push({ median: percentile(samples, 0.5), p99: percentile(samples, 0.99), rounds: samples.length })
      } finally {
        socket.destroy()
      }
    })
  } else {
    const setup = { mode: 'sink' as const, tuner: c.impl, opts: c.opts, rearm: false, bytes: BULK_BYTES }
    await withPeerServer(peer, setup, async (port) => {
      const socket = await connect(port, tuner, c.opts)
      try {
        c.runs.push(await throughput(socket))
      } finally {
        socket.destroy()
      }
    })
  }
}

const round1 = (x: number): number => Math.round(x * 10) / 10

async function main(): Promise<void> {
  if (addon === null) console.log(`native addon not loaded (${nativeUnavailableReason()}): fallback cases only`)
  const peer = new Child(fileURLToPath(import.meta.url), { args: ['--peer'], name: 'peer' })
  const all = cases()
  try {
    for (let t = 0; t < Math.max(TRIALS, BULK_TRIALS); t++) {
      for (const c of all) {
        if (t < (c.kind === 'latency' ? TRIALS : BULK_TRIALS)) await runCase(peer, c)
      }
    }
  } finally {
    await peer.end()
  }

  const results: Result[] = []
  const rows: string[][] = [['case', 'impl', 'options', 'value', 'p99 µs / median', 'runs']]
  for (const c of all) {
    if (c.kind === 'latency') {
      const best = c.runs.reduce((a, b) => (b.median < a.median ? b : a))
      results.push({
        case: c.case, impl: c.impl, options: c.options, value: round1(best.median), unit: 'µs median RTT',
        p99: round1(best.p99), rounds: best.rounds, trials: c.runs.map((r) => round1(r.median)),
      })
      rows.push([c.case, c.impl, c.options, `${round1(best.median)} µs`, `${round1(best.p99)}`, c.runs.map((r) => `${round1(r.median)}/${r.rounds}`).join(' ')])
    } else {
      const best = Math.max(...c.runs)
      const sorted = [...c.runs].sort((a, b) => a - b)
      results.push({
        case: c.case, impl: c.impl, options: c.options, value: Math.round(best), unit: 'MB/s',
        median: Math.round(sorted[Math.floor(sorted.length / 2)]), trials: c.runs.map(Math.round),
      })
      const median = Math.round(sorted[Math.floor(sorted.length / 2)])
      rows.push([c.case, c.impl, c.options, `${Math.round(best)} MB/s`, `${median} MB/s`, c.runs.map(Math.round).join(' ')])
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)))
  for (const r of rows) console.log(r.map((cell, i) => cell.padEnd(widths[i])).join('  '))
  console.log(`(latency: the run with the lowest median of ${TRIALS}, its p99; runs as median/rounds. throughput: best and median of ${BULK_TRIALS})`)

  writeResults('native', {
    quick,
    trials: TRIALS,
    throughputTrials: BULK_TRIALS,
    addon: addon === null ? `not loaded: ${nativeUnavailableReason()}` : addon.platform,
    setup: {
      transport: 'raw node:net, loopback 127.0.0.1, far end in a child process, same options both ends',
      pingPong: { messageBytes: MSG, splitHeaderBytes: HEADER, warmupRounds: WARMUP_ROUNDS, maxRounds: MAX_ROUNDS, budgetMs: ROUND_BUDGET_MS },
      throughput: { chunkBytes: CHUNK, bytes: BULK_BYTES },
    },
    results,
  })
}

if (process.argv.includes('--peer')) runPeer()
else await main()
