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
import { P4Error, type P4ErrorCode } from '../core/errors.js'
import { HandshakeFeature } from '../core/protocol.js'

export const StreamOp = { OPEN: 1, DATA: 2, WINDOW: 3, FIN: 4, RST: 5 } as const
export type StreamOp = (typeof StreamOp)[keyof typeof StreamOp]

/** Bit 31 of the stream ID field: the sender did not open the stream. */
export const REPLY_BIT = 0x80000000
/** Stream IDs one side may open: 1..MAX_STREAM_ID. */
export const MAX_STREAM_ID = 0x7fffffff
/** OPEN flags: the stream's chunks are sealed end to end (reserved: refused for now). */
export const OPEN_ENCRYPTED = 0x01

/**
 * Largest DATA payload: 64 KiB, so a 64 KiB write is one frame (two records;
 * measured faster than one-record frames plus a 35-byte tail each). The
 * flows scheduler (session/flows.ts) switches between frames, so a bulk
 * stream delays another flow by about two records at most.
 */
export const MAX_CHUNK = 65536

/**
 * The handshake feature bits for streams: announced when streams are on and
 * this node's sessions take a full DATA frame (maxMessage + 4096 ≥ MAX_CHUNK).
 */
export function streamFeature(cfg: { streams: { max: number }; maxMessage: number }): number {
  return cfg.streams.max > 0 && cfg.maxMessage + 4096 >= MAX_CHUNK ? HandshakeFeature.STREAMS : 0
}

const CODE = /^[A-Z][A-Z_]{0,31}$/
const MAX_RST_TEXT = 200

export function bad(message: string): P4Error {
  return new P4Error('BAD_FRAME', `stream frame: ${message}`)
}

export function encodeOpen(window: number, flags: number): Uint8Array {
  const b = new Uint8Array(5)
  new DataView(b.buffer).setUint32(0, window)
  b[4] = flags
  return b
}

export function decodeOpen(p: Uint8Array): { window: number; flags: number } {
  if (p.length !== 5) throw bad(`OPEN payload of ${p.length} bytes (want 5)`)
  return { window: new DataView(p.buffer, p.byteOffset, 5).getUint32(0), flags: p[4]! }
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
