// MsgType.STREAM frames (docs/protocol.md, "Streams"). The header carries
// the stream and the op so that DATA needs no payload prefix (no copy):
//
//   message ID high 32 bits: stream ID; bit 31 set when the frame's sender
//                            is not the side that opened the stream
//   message ID low 32 bits:  op (OPEN 1, DATA 2, WINDOW 3, FIN 4, RST 5)
//   plugin ID:               the plugin the stream belongs to
//
// Payloads: OPEN u32 window, u8 flags | DATA bytes | WINDOW u32 increment |
// FIN empty | RST u8 code length, code (ASCII A-Z _), UTF-8 text.
// An encrypted stream (OPEN flag ENCRYPTED, feature STREAM_BOX1) adds the
// opener's 16-byte salt to OPEN and the acceptor's to its first WINDOW (the
// accept); its DATA is one sealed chunk (ciphertext || 16-byte tag) and its
// FIN a 16-byte tag (ts/stream-box.ts makes and opens them).
import { P4Error, type P4ErrorCode } from '../core/errors.js'
import { HandshakeFeature } from '../core/protocol.js'

export const StreamOp = { OPEN: 1, DATA: 2, WINDOW: 3, FIN: 4, RST: 5 } as const
export type StreamOp = (typeof StreamOp)[keyof typeof StreamOp]

/** Bit 31 of the stream ID field: the sender did not open the stream. */
export const REPLY_BIT = 0x80000000
/** Stream IDs one side may open: 1..MAX_STREAM_ID. */
export const MAX_STREAM_ID = 0x7fffffff
/** OPEN flags: the stream's chunks are sealed end to end (feature STREAM_BOX1). */
export const OPEN_ENCRYPTED = 0x01
/** Random bytes each side of an encrypted stream adds to its keys (in OPEN, and in the accept). */
export const STREAM_SALT = 16
/** What sealing adds to a chunk of an encrypted stream (the Poly1305 tag); a FIN is this tag alone. */
export const SEAL_TAG = 16

/**
 * Largest DATA payload: 64 KiB, so a 64 KiB write is one frame (two records;
 * measured faster than one-record frames plus a 35-byte tail each). The
 * flows scheduler (session/flows.ts) switches between frames, so a bulk
 * stream delays another flow by about two records at most.
 */
export const MAX_CHUNK = 65536

/**
 * The handshake feature bits for streams: STREAMS when streams are on and
 * this node's sessions take a full DATA frame (maxMessage + 4096 ≥ MAX_CHUNK),
 * and STREAM_BOX1 too when they take a full sealed one (MAX_CHUNK + SEAL_TAG).
 */
export function streamFeature(cfg: { streams: { max: number }; maxMessage: number }): number {
  if (cfg.streams.max <= 0 || cfg.maxMessage + 4096 < MAX_CHUNK) return 0
  return HandshakeFeature.STREAMS | (cfg.maxMessage + 4096 >= MAX_CHUNK + SEAL_TAG ? HandshakeFeature.STREAM_BOX1 : 0)
}

const CODE = /^[A-Z][A-Z_]{0,31}$/
const MAX_RST_TEXT = 200

export function bad(message: string): P4Error {
  return new P4Error('BAD_FRAME', `stream frame: ${message}`)
}

/** OPEN: u32 window, u8 flags, and with flag ENCRYPTED the opener's salt. */
export function encodeOpen(window: number, salt: Uint8Array | null): Uint8Array {
  const b = new Uint8Array(5 + (salt?.length ?? 0))
  new DataView(b.buffer).setUint32(0, window)
  if (salt !== null) {
    b[4] = OPEN_ENCRYPTED
    b.set(salt, 5)
  }
  return b
}

export function decodeOpen(p: Uint8Array): { window: number; flags: number; salt: Uint8Array | null } {
  const flags = p[4] ?? 0
  const want = flags & OPEN_ENCRYPTED ? 5 + STREAM_SALT : 5
  if (p.length !== want) throw bad(`OPEN payload of ${p.length} bytes (want ${want})`)
  const salt = flags & OPEN_ENCRYPTED ? p.slice(5) : null
  return { window: new DataView(p.buffer, p.byteOffset, 5).getUint32(0), flags, salt }
}

/** The accept (first WINDOW) of an encrypted stream: u32 window, the acceptor's salt. */
export function encodeAccept(window: number, salt: Uint8Array): Uint8Array {
  const b = new Uint8Array(4 + STREAM_SALT)
  new DataView(b.buffer).setUint32(0, window)
  b.set(salt, 4)
  return b
}

export function decodeAccept(p: Uint8Array): { window: number; salt: Uint8Array } {
  if (p.length !== 4 + STREAM_SALT) throw bad(`accept of an encrypted stream of ${p.length} bytes (want ${4 + STREAM_SALT})`)
  return { window: decodeWindow(p.subarray(0, 4)), salt: p.slice(4) }
}

export function encodeU32(n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

export function decodeWindow(p: Uint8Array): number {
  if (p.length !== 4) throw bad(`WINDOW payload of ${p.length} bytes (want 4)`)
  const n = new DataView(p.buffer, p.byteOffset, 4).getUint32(0)
  if (n === 0) throw bad('WINDOW of 0 bytes')
  return n
}

export function encodeRst(code: string, text: string): Uint8Array {
  const c = CODE.test(code) ? code : 'STREAM_RESET'
  const t = Buffer.from(text.slice(0, MAX_RST_TEXT), 'utf8').subarray(0, MAX_RST_TEXT)
  const b = Buffer.allocUnsafe(1 + c.length + t.length)
  b[0] = c.length
  b.write(c, 1, 'latin1')
  b.set(t, 1 + c.length)
  return b
}

/** The code and text of a RST (a code this version does not know is still passed on: the peer may be newer). */
export function decodeRst(p: Uint8Array): { code: P4ErrorCode; text: string } {
  const n = p[0] ?? 0
  if (p.length < 1 + n) throw bad('RST shorter than its code')
  const code = Buffer.from(p.subarray(1, 1 + n)).toString('latin1')
  if (!CODE.test(code)) throw bad('RST code is not A-Z and _')
  const text = Buffer.from(p.subarray(1 + n, 1 + n + MAX_RST_TEXT)).toString('utf8')
  return { code: code as P4ErrorCode, text }
}
