// The resume exchange that moves a session to a new Conn (docs/protocol.md,
// "Moving a session"). Plaintext framing, authenticated under the session's
// own channel keys:
//
//   mover → responder   RESUME  "P4 RESUME/2.0\0" | token 16 | epoch u32 | received u64 | tag 16
//   responder → mover   "P4 OK\0" | epoch u32 | received u64 | tag 16
//                  or   "P4 ERROR resume refused\0", then close
//
// `token` names the session (the responder finds it by this); `received`
// says how many of the other side's records the sender of the message has
// opened, so the other side resends from there. Each tag is a
// ChaCha20-Poly1305 tag over the message (as AAD, empty plaintext) under the
// writer's channel send key, with a nonce no record can use: records count
// from 0 and stop before 2^53, these nonces have 0xFFFFFFFE as their high 32
// bits and 2·epoch (RESUME) or 2·epoch + 1 (the answer) as their low bits.
// A responder accepts each mover epoch once, increasing, so a key never
// seals two messages under one nonce, and a recorded RESUME is refused when
// replayed. The answer's AAD includes the RESUME's tag: it answers that
// request and no other.
import { createCipheriv, createHash, timingSafeEqual } from 'node:crypto'
import { systemClock, type Clock } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import type { Conn } from '../transport/types.js'
import { closeAfterFailure, ConnReader } from './preamble.js'

const MAGIC = Buffer.from('P4 RESUME/2.0\0', 'latin1')
const OK = Buffer.from('P4 OK\0', 'latin1')
const REFUSED = Buffer.from('P4 ERROR resume refused\0', 'latin1')
const TOKEN_LABEL = Buffer.from('p4net/2 resume token', 'latin1')
export const TOKEN_SIZE = 16
const TAG = 16
/** RESUME message size: magic 14, token 16, epoch 4, received 8, tag 16. */
export const RESUME_SIZE = MAGIC.length + TOKEN_SIZE + 4 + 8 + TAG
/** Answer size: "P4 OK\0" 6, epoch 4, received 8, tag 16. */
export const RESUMED_SIZE = OK.length + 4 + 8 + TAG
/** Epochs stay below 2^31 so 2·epoch + 1 fits the nonce's low word. */
export const MAX_EPOCH = 0x7fffffff

export const DEFAULT_RESUME_TIMEOUT_MS = 10_000

/** The session's name in RESUME: a hash of both channel keys (the same at both ends, and secret-derived). */
export function resumeToken(sendKey: Uint8Array, recvKey: Uint8Array): Uint8Array {
  const [lo, hi] = Buffer.compare(Buffer.from(sendKey), Buffer.from(recvKey)) <= 0 ? [sendKey, recvKey] : [recvKey, sendKey]
  return new Uint8Array(createHash('sha256').update(TOKEN_LABEL).update(lo).update(hi).digest().subarray(0, TOKEN_SIZE))
}

function tag(key: Uint8Array, low: number, aad: Uint8Array): Buffer {
  const nonce = Buffer.alloc(12)
  nonce.writeUInt32LE(low >>> 0, 4)
  nonce.writeUInt32LE(0xfffffffe, 8)
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG })
  c.setAAD(aad, { plaintextLength: 0 })
  c.final()
  return c.getAuthTag()
}

function putCount(b: Buffer, at: number, n: number): void {
  b.writeUInt32BE(Math.floor(n / 0x100000000), at)
  b.writeUInt32BE(n >>> 0, at + 4)
}

function getCount(b: Uint8Array, at: number): number {
  const v = new DataView(b.buffer, b.byteOffset + at, 8)
  const hi = v.getUint32(0)
  if (hi >= 0x200000) throw new P4Error('BAD_RESUME', 'record count beyond 2^53')
  return hi * 0x100000000 + v.getUint32(4)
}

/** A RESUME message, sealed with the mover's send key. */
export function encodeResume(sendKey: Uint8Array, token: Uint8Array, epoch: number, received: number): Buffer {
  const out = Buffer.alloc(RESUME_SIZE)
  MAGIC.copy(out, 0)
  out.set(token, MAGIC.length)
  out.writeUInt32BE(epoch, MAGIC.length + TOKEN_SIZE)
  putCount(out, MAGIC.length + TOKEN_SIZE + 4, received)
  const body = RESUME_SIZE - TAG
  tag(sendKey, 2 * epoch, out.subarray(0, body)).copy(out, body)
  return out
}

/** A RESUME read from a new Conn; its tag is checked by Session.adopt(). */
export interface ResumeRequest {
  /** The new Conn, paused. */
  conn: Conn
  token: Uint8Array
  epoch: number
  /** Records of ours the mover has opened: we resend from here. */
  received: number
  /** The whole message, as received. */
  bytes: Uint8Array
  /** Bytes received after it. */
  leftover: Uint8Array
}

/** True when `req` carries a valid tag under `recvKey` (the mover's send key). */
export function verifyResume(req: ResumeRequest, recvKey: Uint8Array): boolean {
  const body = RESUME_SIZE - TAG
  const want = tag(recvKey, 2 * req.epoch, req.bytes.subarray(0, body))
  return timingSafeEqual(want, req.bytes.subarray(body))
}

/** The answer to an accepted RESUME, sealed with the responder's send key. */
export function encodeResumed(sendKey: Uint8Array, req: ResumeRequest, received: number): Buffer {
  const out = Buffer.alloc(RESUMED_SIZE)
  OK.copy(out, 0)
  out.writeUInt32BE(req.epoch, OK.length)
  putCount(out, OK.length + 4, received)
  const body = RESUMED_SIZE - TAG
  const aad = Buffer.concat([out.subarray(0, body), req.bytes.subarray(RESUME_SIZE - TAG)])
  tag(sendKey, 2 * req.epoch + 1, aad).copy(out, body)
  return out
}

export interface ReadResumeOptions {
  /** Deadline for the whole message. Default 10 000 ms. */
  timeoutMs?: number
  clock?: Clock
}

function deadline(reader: ConnReader, opts: ReadResumeOptions, what: string): () => void {
  const ms = opts.timeoutMs ?? DEFAULT_RESUME_TIMEOUT_MS
  if (typeof ms !== 'number' || !(ms > 0) || !Number.isFinite(ms)) throw new P4Error('BAD_OPTION', 'timeoutMs must be a positive number')
  const clock = opts.clock ?? systemClock
  const t = clock.setTimeout(() => reader.fail(new P4Error('TIMEOUT', `${what} within ${ms} ms`)), ms)
  return () => clock.clearTimeout(t)
}

/**
 * Responder: reads a RESUME from a freshly accepted Conn (the listener's
 * first bytes are "P4 RESUME/" instead of "P4 CONNECT/"). Checks only its
 * shape; find the session by `token`, then session.adopt(request) checks the
 * tag. On bad input or silence the Conn is closed and BAD_RESUME, TIMEOUT or
 * PEER_CLOSED thrown. Reads nothing beyond RESUME_SIZE bytes before deciding.
 */
export async function readResume(conn: Conn, opts: ReadResumeOptions = {}): Promise<ResumeRequest> {
  const reader = new ConnReader(conn)
  let stop: () => void = () => {}
  try {
    stop = deadline(reader, opts, 'no RESUME')
    for (;;) {
      const have = reader.peek()
      const n = Math.min(have.length, MAGIC.length)
      if (!have.subarray(0, n).equals(MAGIC.subarray(0, n))) throw new P4Error('BAD_RESUME', 'not a RESUME message')
      if (have.length >= RESUME_SIZE) break
      await reader.more()
    }
    stop()
    const bytes = new Uint8Array(reader.peek().subarray(0, RESUME_SIZE))
    reader.consume(RESUME_SIZE)
    const epoch = new DataView(bytes.buffer).getUint32(MAGIC.length + TOKEN_SIZE)
    const received = getCount(bytes, MAGIC.length + TOKEN_SIZE + 4)
    if (epoch === 0 || epoch > MAX_EPOCH) throw new P4Error('BAD_RESUME', `epoch ${epoch} out of range`)
    conn.pause()
    return { conn, token: bytes.slice(MAGIC.length, MAGIC.length + TOKEN_SIZE), epoch, received, bytes, leftover: reader.detach() }
  } catch (err) {
    stop()
    await closeAfterFailure(reader, false, undefined, opts.clock)
    throw err
  }
}

/** Responder: refuses a RESUME (the answer is delivered, then the Conn closed). */
export function refuseResume(conn: Conn, clock: Clock): void {
  if (!conn.destroyed) conn.write(REFUSED)
  void closeAfterFailure(new ConnReader(conn), true, 1000, clock)
}

/**
 * Mover: sends RESUME on `conn` and reads the answer. Resolves with the
 * responder's `received` and the bytes after the answer (the Conn is left
 * paused); on a refusal, a bad answer, a close or the deadline the Conn is
 * closed and BAD_RESUME, PEER_CLOSED or TIMEOUT thrown.
 */
export async function requestResume(
  conn: Conn,
  keys: { sendKey: Uint8Array; recvKey: Uint8Array; token: Uint8Array },
  epoch: number,
  received: number,
  opts: ReadResumeOptions,
): Promise<{ received: number; leftover: Uint8Array }> {
  const reader = new ConnReader(conn)
  let stop: () => void = () => {}
  try {
    stop = deadline(reader, opts, 'no answer to RESUME')
    const req = encodeResume(keys.sendKey, keys.token, epoch, received)
    conn.write(req)
    const head = await reader.need(OK.length)
    if (!head.subarray(0, OK.length).equals(OK)) {
      if (head.subarray(0, OK.length).equals(REFUSED.subarray(0, OK.length))) throw new P4Error('BAD_RESUME', 'the peer refused to resume the session')
      throw new P4Error('BAD_RESUME', 'unexpected answer to RESUME')
    }
    const ans = new Uint8Array((await reader.need(RESUMED_SIZE)).subarray(0, RESUMED_SIZE))
    reader.consume(RESUMED_SIZE)
    stop()
    const body = RESUMED_SIZE - TAG
    const aad = Buffer.concat([ans.subarray(0, body), req.subarray(RESUME_SIZE - TAG)])
    const ok = new DataView(ans.buffer).getUint32(OK.length) === epoch && timingSafeEqual(tag(keys.recvKey, 2 * epoch + 1, aad), ans.subarray(body))
    if (!ok) throw new P4Error('BAD_RESUME', 'the answer to RESUME failed authentication')
    const theirs = getCount(ans, OK.length + 4)
    conn.pause()
    return { received: theirs, leftover: reader.detach() }
  } catch (err) {
    stop()
    await closeAfterFailure(reader, false, undefined, opts.clock)
    throw err
  }
}
