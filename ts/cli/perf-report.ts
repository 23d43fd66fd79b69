// What `p4net perf` reports: the result object (`--json` prints it as is;
// docs/cli.md lists every field) and the table made from it. MB is 10^6
// bytes; times are wall-clock (performance.now()).

/** The tests a run can do, in the order it does them. */
export const PERF_TESTS = ['send', 'stream', 'rate', 'rtt', 'latency', 'handshake'] as const
export type PerfTest = (typeof PERF_TESTS)[number]

export interface Percentiles {
  p50: number
  p90: number
  p99: number
  max: number
}

export interface BulkResult {
  /** Bytes the server counted as received. */
  bytes: number
  /** From the first byte sent until the server's count came back, s. */
  seconds: number
  /** bytes / seconds / 10^6. */
  throughputMBps: number
}

export interface SendResult extends BulkResult {
  /** Size of each message, bytes. */
  messageBytes: number
  sentMessages: number
  /** Messages the server counted (equals sentMessages unless some were lost). */
  messages: number
}

export interface RateRun {
  sentMessages: number
  messages: number
  seconds: number
  /** Delivered messages per second (messages / seconds). */
  messagesPerSecond: number
}

export interface PerfResult {
  /** Format of this object; bumped when a field changes meaning. */
  version: 1
  server: { username: string; address: string }
  client: { username: string }
  /** What bounded each timed test: a duration, or bytes per test. */
  limit: { seconds: number } | { bytes: number }
  send?: SendResult
  /** writeBytes: size of each stream.write(), bytes. */
  stream?: BulkResult & { writeBytes: number }
  rate?: { messageBytes: number; awaited: RateRun; inFlight: RateRun & { window: number } }
  /** Round trips of a PING message to the server's plugin and its echo, through plugin.send. */
  rtt?: { samples: number; rttMs: Percentiles }
  /** node.latency(): the overlay's own PING / PING-ACK on the session. */
  latency?: { samples: number; latencyMs: Percentiles }
  /** node.connect() from a fresh node (new identity, new TCP connection, Noise handshake, link set-up). */
  handshake?: { samples: number; handshakeMs: { median: number; min: number; max: number } }
}

/** `n` rounded to `digits` decimals: a report shows no false precision. */
export function round(n: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

/** Nearest-rank percentiles of `samples` (at least one). */
export function percentiles(samples: number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b)
  const at = (p: number): number => s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!
  const r = (n: number): number => round(n, 4)
  return { p50: r(at(50)), p90: r(at(90)), p99: r(at(99)), max: r(s[s.length - 1]!) }
}

export function median(samples: number[]): number {
  const s = [...samples].sort((a, b) => a - b)
  const mid = s.length >> 1
  return round(s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, 4)
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US')
const ms = (n: number): string => (n < 10 ? n.toFixed(3) : n < 100 ? n.toFixed(2) : n.toFixed(1))
const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`
const secs = (s: number): string => `${s.toFixed(2)} s`
const kib = (bytes: number): string => (bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`)

function lost(sent: number, got: number): string {
  return got === sent ? 'all delivered' : `${int(sent - got)} of ${int(sent)} NOT delivered`
}

/** The table rows of the tests that ran: [test, result, detail]. */
export function perfRows(r: PerfResult): Array<[string, string, string]> {
  const rows: Array<[string, string, string]> = []
  if (r.send) {
    const s = r.send
    rows.push([`send ${kib(s.messageBytes)} (plugin.send)`, `${s.throughputMBps.toFixed(1)} MB/s`, `${int(s.messages)} messages, ${mb(s.bytes)} in ${secs(s.seconds)}, ${lost(s.sentMessages, s.messages)}`])
  }
  if (r.stream) {
    const s = r.stream
    rows.push([`stream ${kib(s.writeBytes)} writes (openStream)`, `${s.throughputMBps.toFixed(1)} MB/s`, `${mb(s.bytes)} in ${secs(s.seconds)}`])
  }
  if (r.rate) {
    const { awaited: a, inFlight: f, messageBytes } = r.rate
    rows.push([`${messageBytes} B messages, awaited one by one`, `${int(a.messagesPerSecond)} msg/s`, `${int(a.messages)} in ${secs(a.seconds)}, ${lost(a.sentMessages, a.messages)}`])
    rows.push([`${messageBytes} B messages, ${int(f.window)} in flight`, `${int(f.messagesPerSecond)} msg/s`, `${int(f.messages)} in ${secs(f.seconds)}, ${lost(f.sentMessages, f.messages)}`])
  }
  const pct = (p: Percentiles, n: number): [string, string] => [`p50 ${ms(p.p50)} ms`, `p90 ${ms(p.p90)}  p99 ${ms(p.p99)}  max ${ms(p.max)} ms, ${int(n)} samples`]
  if (r.rtt) rows.push(['round trip (plugin.send echo)', ...pct(r.rtt.rttMs, r.rtt.samples)])
  if (r.latency) rows.push(['round trip (node.latency)', ...pct(r.latency.latencyMs, r.latency.samples)])
  if (r.handshake) {
    const h = r.handshake.handshakeMs
    rows.push(['handshake (fresh node.connect)', `median ${ms(h.median)} ms`, `min ${ms(h.min)}  max ${ms(h.max)} ms, ${int(r.handshake.samples)} samples`])
  }
  return rows
}

/** The first line of the report: who measures whom, bounded by what. */
export function perfHeader(r: Pick<PerfResult, 'server' | 'client' | 'limit'>): string {
  const limit = 'seconds' in r.limit ? `${r.limit.seconds} s per test` : `${int(r.limit.bytes)} bytes per test`
  return `p4net perf: ${r.client.username} -> ${r.server.username} at ${r.server.address}, ${limit} (MB = 10^6 bytes, as counted by the server)`
}

/** The table of results, one row per test that ran. */
export function perfTable(r: PerfResult): string {
  const rows: Array<[string, string, string]> = [['test', 'result', 'detail'], ...perfRows(r)]
  const w0 = Math.max(...rows.map((x) => x[0].length))
  const w1 = Math.max(...rows.map((x) => x[1].length))
  return rows.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`.trimEnd() + '\n').join('')
}

/** The human-readable report: the header line, then the table. */
export function formatPerf(r: PerfResult): string {
  return perfHeader(r) + '\n' + perfTable(r)
}
