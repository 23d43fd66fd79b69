// The P4 preamble: the initiator sends "P4 CONNECT/2.0\0", the responder
// answers "P4 OK\0" or, for another version, "P4 ERROR unsupported
// version\0" and closes. Garbage or silence is closed without an answer.
// Also the small buffered reader the handshake stages share.
import { systemClock, type Clock, type Timer } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import { PREAMBLE_CONNECT, PREAMBLE_OK } from '../core/protocol.js'
import type { Conn } from '../transport/types.js'

export const CONNECT_BYTES: Uint8Array = Buffer.from(PREAMBLE_CONNECT, 'latin1')
export const OK_BYTES: Uint8Array = Buffer.from(PREAMBLE_OK, 'latin1')
/** The answer to a CONNECT with another version, sent before closing. */
export const REFUSE_VERSION_BYTES: Uint8Array = Buffer.from('P4 ERROR unsupported version\0', 'latin1')
/** The Noise prologue: both preambles exactly as sent, CONNECT || OK. */
export const PROLOGUE: Uint8Array = Buffer.concat([CONNECT_BYTES, OK_BYTES])

/** Most bytes the responder buffers before it must have seen a whole CONNECT line. */
export const MAX_PREAMBLE = 32
/** Most bytes of a "P4 ERROR <reason>\0" answer the initiator reads. */
export const MAX_ERROR_LINE = 128

const CONNECT_PREFIX = Buffer.from('P4 CONNECT/', 'latin1')
const ERROR_PREFIX = Buffer.from('P4 ERROR ', 'latin1')

/** Length of the common prefix of `a` and `b`. */
function common(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  let i = 0
  while (i < n && a[i] === b[i]) i++
  return i
}

function printable(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '?'
  return s
}

/**
 * Responder side: examines the first bytes received. Returns the CONNECT
 * line's length once complete and acceptable, 0 when more bytes are needed;
 * throws BAD_VERSION for "P4 CONNECT/<other version>\0" and BAD_PREAMBLE for
 * anything else (decided as soon as the bytes cannot become a CONNECT line).
 */
export function parseConnect(buf: Uint8Array): number {
  const p = common(buf, CONNECT_PREFIX)
  if (p < CONNECT_PREFIX.length) {
    if (p < buf.length) throw new P4Error('BAD_PREAMBLE', `expected "P4 CONNECT/", got "${printable(buf.subarray(0, 16))}"`)
    return 0
  }
  const limit = Math.min(buf.length, MAX_PREAMBLE)
  for (let i = p; i < limit; i++) {
    const c = buf[i]!
    if (c === 0) {
      if (i === CONNECT_PREFIX.length) throw new P4Error('BAD_PREAMBLE', 'CONNECT without a version')
      if (i + 1 === CONNECT_BYTES.length && common(buf, CONNECT_BYTES) === CONNECT_BYTES.length) return i + 1
      throw new P4Error('BAD_VERSION', `unsupported protocol version "${printable(buf.subarray(p, i))}" (this is 2.0)`)
    }
    if (!((c >= 0x30 && c <= 0x39) || c === 0x2e)) {
      throw new P4Error('BAD_PREAMBLE', `bad character in the CONNECT version: "${printable(buf.subarray(0, i + 1))}"`)
    }
  }
  if (buf.length >= MAX_PREAMBLE) throw new P4Error('BAD_PREAMBLE', `no end of the CONNECT line in ${MAX_PREAMBLE} bytes`)
  return 0
}

/**
 * Initiator side: examines the answer. Returns 6 once "P4 OK\0" is complete,
 * 0 when more bytes are needed; throws BAD_VERSION when the responder refused
 * our version ("P4 ERROR unsupported version\0"), BAD_PREAMBLE for another
 * refusal or for anything else.
 */
export function parseOk(buf: Uint8Array): number {
  const ok = common(buf, OK_BYTES)
  if (ok === OK_BYTES.length) return ok
  if (ok === buf.length) return 0
  const e = common(buf, ERROR_PREFIX)
  if (e < ERROR_PREFIX.length) {
    if (e === buf.length) return 0
    throw new P4Error('BAD_PREAMBLE', `expected "P4 OK", got "${printable(buf.subarray(0, 16))}"`)
  }
  const end = buf.subarray(0, MAX_ERROR_LINE).indexOf(0)
  if (end < 0) {
    if (buf.length >= MAX_ERROR_LINE) throw new P4Error('BAD_PREAMBLE', 'peer refused with an overlong error line')
    return 0
  }
  const reason = printable(buf.subarray(ERROR_PREFIX.length, end))
  const code = reason.startsWith('unsupported version') ? 'BAD_VERSION' : 'BAD_PREAMBLE'
  throw new P4Error(code, `peer refused the connection: ${reason}`)
}

/**
 * Buffers what a Conn delivers during the handshake, and turns 'close',
 * 'error' and a deadline (via fail()) into one rejection. detach() hands the
 * unread bytes on.
 */
export class ConnReader {
  private chunks: Buffer[] = []
  private size = 0
  private wake: (() => void) | undefined
  private failure: P4Error | undefined
  private failedPromise: Promise<never> | undefined
  private rejectFailed: ((err: P4Error) => void) | undefined
  private closedSeen = false
  private closeWaiters: (() => void)[] = []

  constructor(readonly conn: Conn) {
    conn.on('data', this.onData)
    conn.on('error', this.onError)
    conn.on('close', this.onClose)
    if (conn.destroyed) {
      // Its 'close' may be gone already: do not wait for it.
      this.closedSeen = true
      this.fail(new P4Error('PEER_CLOSED', 'the connection is already closed'))
    }
  }

  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk)
    this.size += chunk.length
    this.wakeUp()
  }

  private readonly onError = (err: Error): void => {
    this.fail(new P4Error('PEER_CLOSED', `connection failed during the handshake: ${err.message}`, { cause: err }))
  }

  private readonly onClose = (): void => {
    this.closedSeen = true
    this.fail(new P4Error('PEER_CLOSED', 'peer closed the connection during the handshake'))
    for (const w of this.closeWaiters.splice(0)) w()
  }

  private wakeUp(): void {
    const w = this.wake
    this.wake = undefined
    w?.()
  }

  /** Makes every pending and later wait reject with `err` (the first failure wins). */
  fail(err: P4Error): void {
    if (this.failure) return
    this.failure = err
    this.rejectFailed?.(err)
    this.wakeUp()
  }

  get failed(): P4Error | undefined {
    return this.failure
  }

  /** Bytes buffered so far (one contiguous view). */
  peek(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.size)]
    return this.chunks[0] ?? Buffer.alloc(0)
  }

  get buffered(): number {
    return this.size
  }

  consume(n: number): void {
    const all = this.peek()
    const rest = all.subarray(n)
    this.chunks = rest.length > 0 ? [rest] : []
    this.size = rest.length
  }

  /** Resolves when more bytes arrive; rejects on failure. */
  more(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure)
    return new Promise<void>((resolve, reject) => {
      this.wake = () => (this.failure ? reject(this.failure) : resolve())
    })
  }

  /** Waits until at least `n` bytes are buffered. */
  async need(n: number): Promise<Buffer> {
    while (this.size < n) await this.more()
    if (this.failure) throw this.failure
    return this.peek()
  }

  /** `p`, unless the reader fails first. */
  guard<T>(p: Promise<T>): Promise<T> {
    if (!this.failedPromise) {
      this.failedPromise = new Promise<never>((_, reject) => {
        this.rejectFailed = reject
        if (this.failure) reject(this.failure)
      })
      this.failedPromise.catch(() => {})
    }
    return Promise.race([p, this.failedPromise])
  }

  /** Resolves once the Conn has emitted 'close'. */
  whenClosed(): Promise<void> {
    if (this.closedSeen) return Promise.resolve()
    return new Promise((resolve) => this.closeWaiters.push(resolve))
  }

  /** Stops listening; returns the bytes not consumed. */
  detach(): Uint8Array {
    this.conn.off('data', this.onData)
    this.conn.off('error', this.onError)
    this.conn.off('close', this.onClose)
    const rest = this.size > 0 ? new Uint8Array(this.peek()) : new Uint8Array(0)
    this.chunks = []
    this.size = 0
    return rest
  }
}

/** Responder: reads the CONNECT line; on another version answers the refusal (the caller then closes). */
export async function readConnect(reader: ConnReader): Promise<void> {
  for (;;) {
    let n: number
    try {
      n = parseConnect(reader.peek())
    } catch (err) {
      if (err instanceof P4Error && err.code === 'BAD_VERSION') reader.conn.write(REFUSE_VERSION_BYTES)
      throw err
    }
    if (n > 0) return reader.consume(n)
    await reader.more()
  }
}

/** Initiator: reads "P4 OK\0" (or the refusal). */
export async function readOk(reader: ConnReader): Promise<void> {
  for (;;) {
    const n = parseOk(reader.peek())
    if (n > 0) return reader.consume(n)
    await reader.more()
  }
}

/**
 * Closes `conn` after a failed handshake step and resolves once it has
 * closed. `graceful` (a refusal that was answered) ends it so the answer is
 * delivered, then destroys it if the peer has not closed within `graceMs`.
 */
export async function closeAfterFailure(reader: ConnReader, graceful: boolean, graceMs = 1000, clock: Clock = systemClock): Promise<void> {
  const conn = reader.conn
  const closed = reader.whenClosed()
  if (graceful && !conn.destroyed) {
    conn.end()
    let timer: Timer | undefined
    await Promise.race([closed, new Promise<void>((r) => (timer = clock.setTimeout(r, graceMs)))])
    clock.clearTimeout(timer)
  }
  conn.destroy()
  await closed
  reader.detach()
}

export interface PreambleOptions {
  /** Deadline for the whole exchange. Default 10 000 ms. */
  timeoutMs?: number
}

export interface PreambleResult {
  /** Bytes received after the preamble (the start of the next stage). */
  leftover: Uint8Array
}

/**
 * Runs one side of the preamble exchange on its own (the handshake runs the
 * same steps under its own deadline). On failure the Conn is closed and the
 * P4Error (BAD_VERSION, BAD_PREAMBLE, TIMEOUT, PEER_CLOSED) is thrown.
 * `then` is written right after CONNECT (the initiator may pipeline).
 */
export async function initiatePreamble(conn: Conn, opts: PreambleOptions = {}, then?: Uint8Array): Promise<PreambleResult> {
  return runPreamble(conn, opts, true, async (reader) => {
    conn.write(then && then.length > 0 ? Buffer.concat([CONNECT_BYTES, then]) : CONNECT_BYTES)
    await readOk(reader)
  })
}

/** The responder side: reads CONNECT, answers OK (plus `then`, if given). */
export async function acceptPreamble(conn: Conn, opts: PreambleOptions = {}, then?: Uint8Array): Promise<PreambleResult> {
  return runPreamble(conn, opts, false, async (reader) => {
    await readConnect(reader)
    conn.write(then && then.length > 0 ? Buffer.concat([OK_BYTES, then]) : OK_BYTES)
  })
}

async function runPreamble(
  conn: Conn,
  opts: PreambleOptions,
  initiator: boolean,
  steps: (reader: ConnReader) => Promise<void>,
): Promise<PreambleResult> {
  const timeoutMs = opts.timeoutMs ?? 10_000
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) throw new P4Error('BAD_ARGUMENT', 'timeoutMs must be positive')
  const reader = new ConnReader(conn)
  const timer = setTimeout(() => {
    const what = initiator ? 'no answer to the preamble' : 'no preamble'
    reader.fail(new P4Error('TIMEOUT', `${what} within ${timeoutMs} ms`))
  }, timeoutMs)
  try {
    await steps(reader)
    clearTimeout(timer)
    // Paused so nothing is lost before the next stage listens (it calls resume()).
    conn.pause()
    return { leftover: reader.detach() }
  } catch (err) {
    clearTimeout(timer)
    await closeAfterFailure(reader, !initiator && err instanceof P4Error && err.code === 'BAD_VERSION')
    throw err
  }
}
