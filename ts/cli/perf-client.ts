// `p4net perf HOST:PORT`: measures a perf server (perf-server.ts) through the
// public API only, as an application would see the network: plugin.send,
// plugin.openStream, node.latency, node.connect. Throughput and message
// rates count what the server says it received (its REPORT after the test,
// which arrives after every message sent before it), so they are delivered
// figures, not queued ones.
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { LinkInfo, Node, P4Stream, Plugin, PluginMessage } from '../index.js'
import { P4Error } from '../core/errors.js'
import { dataMessage, decodeJson, encodeJson, Kind, PERF_PLUGIN, PERF_VERSION, type PerfRequest } from './perf-protocol.js'
import { median, percentiles, round, type BulkResult, type PerfResult, type PerfTest, type RateRun, type SendResult } from './perf-report.js'

export interface ClientOptions {
  host: string
  port: number
  limit: { seconds: number } | { bytes: number }
  tests: readonly PerfTest[]
  /** Sends kept in flight in the second message-rate test. */
  window: number
  /** Round trips measured by rtt and by latency. */
  count: number
  /** Fresh sessions timed by handshake. */
  handshakes: number
  /** Called once connected, before the tests (the table's first line). */
  connected?: (server: string, client: string) => void
}

const BULK_BYTES = 64 * 1024
const SMALL_BYTES = 64
/** How long any one answer from the server may take. */
const WAIT_MS = 10_000
/** The message-rate loops look at the clock once per this many sends. */
const CLOCK_EVERY = 64

const now = (): number => performance.now()
// The client's own nodes: no links of their own making, one at most (the server).
const CLIENT_LINKS = { min: 0, max: 1 }

export async function runPerf(o: ClientOptions): Promise<PerfResult> {
  const { createNode } = await import('../index.js')
  const username = `perf-${randomBytes(5).toString('hex')}`
  const node = await createNode({ username, host: '127.0.0.1', port: 0, links: CLIENT_LINKS })
  const plugin = node.plugin(PERF_PLUGIN)
  try {
    await node.start()
    const link = await node.connect(o.host, o.port)
    const c = new Conversation(node, plugin, link)
    // A perf server announces its plugin from its first HELLO on.
    await node.waitForUser(c.server, { timeout: WAIT_MS })
    if (!node.pluginsOf(c.server).includes(PERF_PLUGIN)) {
      throw new P4Error('UNSUPPORTED', `${o.host}:${o.port} is user ${c.server}, which does not run p4net perf --serve (plugin ${PERF_PLUGIN})`)
    }
    const hello = await c.request({ op: 'hello', version: PERF_VERSION })
    if (hello.op !== 'hello') throw new P4Error('UNSUPPORTED', `perf server ${c.server}: ${String(hello.message ?? JSON.stringify(hello))}`)
    o.connected?.(c.server, username)
    const result: PerfResult = { version: 1, server: { username: c.server, address: `${o.host}:${o.port}` }, client: { username }, limit: o.limit }
    for (const t of o.tests) {
      if (t === 'send') result.send = await c.bulkSend(o.limit)
      if (t === 'stream') result.stream = await c.bulkStream(o.limit)
      if (t === 'rate') result.rate = { messageBytes: SMALL_BYTES, awaited: await c.rate(o.limit, 1), inFlight: { window: o.window, ...(await c.rate(o.limit, o.window)) } }
      if (t === 'rtt') result.rtt = { samples: o.count, rttMs: percentiles(await c.roundTrips(o.count)) }
      if (t === 'latency') result.latency = { samples: o.count, latencyMs: percentiles(await c.latencies(o.count)) }
      if (t === 'handshake') {
        const hs = await handshakes(createNode, username, o)
        result.handshake = { samples: hs.length, handshakeMs: { median: median(hs), min: round(Math.min(...hs), 4), max: round(Math.max(...hs), 4) } }
      }
    }
    return result
  } finally {
    await node.stop()
  }
}

/** Time of node.connect() from a fresh node each (own identity, new TCP connection), in ms. */
async function handshakes(createNode: typeof import('../index.js').createNode, prefix: string, o: ClientOptions): Promise<number[]> {
  const samples: number[] = []
  for (let i = 0; i < o.handshakes; i++) {
    const fresh = await createNode({ username: `${prefix}-h${i}`, host: '127.0.0.1', port: 0, links: CLIENT_LINKS })
    try {
      await fresh.start()
      const t0 = now()
      await fresh.connect(o.host, o.port)
      samples.push(now() - t0)
    } finally {
      await fresh.stop()
    }
  }
  return samples
}

/**
 * Whether a test loop goes on: until `n` messages of `unit` bytes (bytes /
 * unit, at least one), or until the deadline, looking at the clock once per
 * `every` messages.
 */
function keepGoing(limit: ClientOptions['limit'], unit: number, every = 1): (sent: number) => boolean {
  if ('bytes' in limit) {
    const n = Math.max(1, Math.ceil(limit.bytes / unit))
    return (sent) => sent < n
  }
  const end = now() + limit.seconds * 1000
  return (sent) => sent % every !== 0 || sent === 0 || now() < end
}

/** The client's side of one run: requests and their replies, pings and their echoes, the tests. */
class Conversation {
  readonly server: string
  private readonly replies: Array<(r: Record<string, unknown>) => void> = []
  private readonly pongs = new Map<number, () => void>()
  private readonly lost: Promise<never>

  constructor(
    private readonly node: Node,
    private readonly plugin: Plugin,
    link: LinkInfo,
  ) {
    this.server = link.username
    this.lost = new Promise<never>((_, reject) => {
      node.on('link-down', (l: LinkInfo, reason?: Error | null) => {
        if (l.username === this.server) reject(new P4Error('UNREACHABLE', `lost the link to ${this.server}${reason ? `: ${reason.message}` : ''}`))
      })
    })
    this.lost.catch(() => undefined)
    plugin.on('message', (m: PluginMessage) => {
      if (m.from !== this.server || m.broadcast) return
      if (m.data[0] === Kind.REPLY) this.replies.shift()?.(decodeJson(m.data) ?? {})
      else if (m.data[0] === Kind.PONG && m.data.length === 5) {
        const seq = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length).readUInt32BE(1)
        this.pongs.get(seq)?.()
      }
    })
  }

  /** `p`, or TIMEOUT after WAIT_MS, or UNREACHABLE when the link to the server goes down first. */
  private async bounded<T>(what: string, p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new P4Error('TIMEOUT', `no ${what} from ${this.server} after ${WAIT_MS} ms`)), WAIT_MS)
    })
    try {
      return await Promise.race([p, timeout, this.lost])
    } finally {
      clearTimeout(timer)
    }
  }

  async request(req: PerfRequest): Promise<Record<string, unknown>> {
    const answer = new Promise<Record<string, unknown>>((resolve) => this.replies.push(resolve))
    await this.plugin.send(this.server, encodeJson(Kind.REQUEST, req))
    return this.bounded(`answer to ${req.op}`, answer)
  }

  /** What the server received since the last report (or hello). */
  private async report(): Promise<{ bytes: number; messages: number }> {
    const r = await this.request({ op: 'report' })
    if (r.op !== 'report' || typeof r.bytes !== 'number' || typeof r.messages !== 'number') throw new P4Error('BAD_PAYLOAD', `perf server ${this.server} answered ${JSON.stringify(r)}`)
    return { bytes: r.bytes, messages: r.messages }
  }

  /** 64 KiB messages, each `await plugin.send`. */
  async bulkSend(limit: ClientOptions['limit']): Promise<SendResult> {
    await this.report()
    const msg = dataMessage(BULK_BYTES)
    const more = keepGoing(limit, BULK_BYTES)
    const t0 = now()
    let sent = 0
    while (more(sent)) {
      await this.plugin.send(this.server, msg)
      sent++
    }
    const r = await this.report()
    const seconds = (now() - t0) / 1000
    return { messageBytes: BULK_BYTES, sentMessages: sent, messages: r.messages, bytes: r.bytes, seconds: round(seconds, 6), throughputMBps: round(r.bytes / seconds / 1e6, 3) }
  }

  /** 64 KiB writes into one stream (waiting for 'drain' when write() says so); the server answers with its count on the stream. */
  async bulkStream(limit: ClientOptions['limit']): Promise<BulkResult & { writeBytes: number }> {
    const s = await this.bounded('stream accept', this.plugin.openStream(this.server))
    let answer = ''
    s.setEncoding('utf8')
    s.on('data', (t: string) => (answer += t))
    const ended = new Promise<void>((resolve, reject) => {
      s.once('end', resolve)
      s.once('error', reject)
    })
    ended.catch(() => undefined)
    const chunk = Buffer.alloc(BULK_BYTES)
    const more = keepGoing(limit, BULK_BYTES)
    const t0 = now()
    try {
      for (let n = 0; more(n); n++) if (!s.write(chunk)) await this.bounded('stream drain', drained(s))
      s.end()
      await this.bounded('stream count', ended)
    } catch (err) {
      s.destroy()
      throw err
    }
    const seconds = (now() - t0) / 1000
    const bytes = (JSON.parse(answer) as { bytes?: unknown }).bytes
    if (typeof bytes !== 'number') throw new P4Error('BAD_PAYLOAD', `perf server ${this.server} answered the stream with ${JSON.stringify(answer)}`)
    return { writeBytes: BULK_BYTES, bytes, seconds: round(seconds, 6), throughputMBps: round(bytes / seconds / 1e6, 3) }
  }

  /** 64-byte messages with `window` sends in flight (1: each awaited before the next). */
  async rate(limit: ClientOptions['limit'], window: number): Promise<RateRun> {
    await this.report()
    const msg = dataMessage(SMALL_BYTES)
    const more = keepGoing(limit, SMALL_BYTES, CLOCK_EVERY)
    let failed: unknown
    const fail = (err: unknown): void => void (failed ??= err)
    const ring: Array<Promise<void> | undefined> = new Array(window)
    const t0 = now()
    let sent = 0
    if (window === 1) {
      while (more(sent)) {
        await this.plugin.send(this.server, msg)
        sent++
      }
    } else {
      while (failed === undefined && more(sent)) {
        const slot = sent % window
        if (sent >= window) await ring[slot]
        // Caught at once: a send may fail while it waits in the ring.
        ring[slot] = this.plugin.send(this.server, msg).catch(fail)
        sent++
      }
      await Promise.all(ring)
      if (failed !== undefined) throw failed
    }
    const r = await this.report()
    const seconds = (now() - t0) / 1000
    return { sentMessages: sent, messages: r.messages, seconds: round(seconds, 6), messagesPerSecond: round(r.messages / seconds, 1) }
  }

  /** `count` PINGs to the server's plugin, one at a time, each timed until its echo is here (ms). */
  async roundTrips(count: number): Promise<number[]> {
    const samples: number[] = []
    const ping = Buffer.alloc(5)
    ping[0] = Kind.PING
    for (let seq = 0; seq < count; seq++) {
      ping.writeUInt32BE(seq, 1)
      const echoed = new Promise<void>((resolve) => this.pongs.set(seq, resolve))
      const t0 = now()
      await this.plugin.send(this.server, ping) // copied: under 16 KiB
      await this.bounded('echo', echoed)
      samples.push(now() - t0)
      this.pongs.delete(seq)
    }
    return samples
  }

  /** `count` node.latency() calls, one at a time (ms). */
  async latencies(count: number): Promise<number[]> {
    const samples: number[] = []
    for (let i = 0; i < count; i++) samples.push(await this.bounded('PING-ACK', this.node.latency(this.server)))
    return samples
  }
}

/** Resolves on 'drain'; rejects when the stream fails or closes first. */
function drained(s: P4Stream): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      s.off('drain', onDrain)
      s.off('error', onError)
      s.off('close', onClose)
      if (err) reject(err)
      else resolve()
    }
    const onDrain = (): void => done()
    const onError = (err: Error): void => done(err)
    const onClose = (): void => done(new P4Error('CLOSED', 'stream closed while writing'))
    s.on('drain', onDrain)
    s.on('error', onError)
    s.on('close', onClose)
  })
}
