// What `p4net perf` client and server say to each other, on one plugin ID
// through the public plugin API. The first byte of every message says what it
// is; the server counts DATA per client, answers REQUESTs in order (messages
// on one session arrive in order, so a REPORT counts every DATA sent before
// it), and echoes PINGs.

/** The plugin the perf server runs (and the default port: iperf's). */
export const PERF_PLUGIN = 5201
export const PERF_DEFAULT_PORT = 5201
export const PERF_VERSION = 1

/** Message kinds: the first byte of each message. */
export const Kind = {
  /** Payload to count; the rest is filler. */
  DATA: 0,
  /** Echoed back as PONG with the same bytes after the kind. */
  PING: 1,
  PONG: 2,
  /** JSON request (PerfRequest); the server answers each with one REPLY. */
  REQUEST: 3,
  /** JSON answer (PerfReply). */
  REPLY: 4,
} as const

export type PerfRequest =
  /** Start of a run: resets the counters, tells the version. */
  | { op: 'hello'; version: number }
  /** What arrived since the last hello or report; the counters restart at zero. */
  | { op: 'report' }

export type PerfReply =
  | { op: 'hello'; version: number; username: string }
  | { op: 'report'; bytes: number; messages: number }
  | { op: 'error'; message: string }

/** A message of `size` bytes of kind DATA (filler bytes after the kind). */
export function dataMessage(size: number): Uint8Array {
  const m = new Uint8Array(size)
  m[0] = Kind.DATA
  return m
}

export function encodeJson(kind: number, value: object): Uint8Array {
  const body = Buffer.from(JSON.stringify(value), 'utf8')
  const out = new Uint8Array(1 + body.length)
  out[0] = kind
  out.set(body, 1)
  return out
}

/** The JSON object after the kind byte, or undefined when it is not one. */
export function decodeJson(data: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(Buffer.from(data.buffer, data.byteOffset + 1, data.length - 1).toString('utf8')) as unknown
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}
