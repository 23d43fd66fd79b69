// Point-to-point messages of one link: PING / PING_ACK and BYE.
// Conventions in codec-cursor.ts.
import { P4Error } from '../core/errors.js'
import { checkU64, checkU8, hasControl } from './codec-fields.js'
import { Reader, Writer } from './codec-cursor.js'

export const BYE_TEXT_MAX_BYTES = 128

const utf8 = new TextEncoder()

function checkText(v: unknown, max: number, what: string): Uint8Array {
  if (typeof v !== 'string') throw new P4Error('BAD_ARGUMENT', `${what} must be a string`)
  if (hasControl(v) || hasLoneSurrogate(v)) throw new P4Error('BAD_ARGUMENT', `${what} must not contain control characters or lone surrogates`)
  const bytes = utf8.encode(v)
  if (bytes.length > max) throw new P4Error('BAD_ARGUMENT', `${what} must be at most ${max} bytes of UTF-8`)
  return bytes
}

function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff) {
      const n = s.charCodeAt(i + 1)
      if (!(n >= 0xdc00 && n <= 0xdfff)) return true
      i++
    } else if (c >= 0xdc00 && c <= 0xdfff) return true
  }
  return false
}

// ---------------------------------------------------------------------------
// PING / PING_ACK (point-to-point, same layout; the ack echoes the ping)

export interface Ping {
  nonce: bigint
  /** The pinger's monotonic clock (e.g. microseconds); opaque to the responder, echoed back. */
  sentAt: bigint
}

export const PING_BODY_SIZE = 16

export function encodePing(p: Ping): Uint8Array {
  if (typeof p !== 'object' || p === null) throw new P4Error('BAD_ARGUMENT', 'ping must be an object')
  const w = new Writer(PING_BODY_SIZE)
  w.u64(checkU64(p.nonce, 'nonce'))
  w.u64(checkU64(p.sentAt, 'sentAt'))
  return w.done()
}

export function decodePing(body: Uint8Array): Ping {
  const r = new Reader(body, 'PING')
  const nonce = r.u64()
  const sentAt = r.u64()
  r.end()
  return { nonce, sentAt }
}

export const encodePingAck = encodePing
export const decodePingAck = decodePing

// ---------------------------------------------------------------------------
// BYE (point-to-point clean leave)

export const ByeReason = {
  /** Leaving the network (node stopping). */
  SHUTDOWN: 0,
  /** Closing this link only (too many links, rebalancing). */
  LINK_CLOSE: 1,
  /** The peer broke the protocol. */
  PROTOCOL_ERROR: 2,
  /** The peer's identity is not trusted. */
  UNTRUSTED: 3,
  /** The peer exceeded a quota. */
  RATE_LIMITED: 4,
  /** The link was idle too long. */
  IDLE: 5,
} as const
export type ByeReason = (typeof ByeReason)[keyof typeof ByeReason]

export interface Bye {
  /** A ByeReason; unknown codes are kept (newer peers may add some). */
  reason: number
  /** Human-readable, at most 128 bytes of UTF-8, no control characters. */
  text: string
}

export function encodeBye(b: Bye): Uint8Array {
  if (typeof b !== 'object' || b === null) throw new P4Error('BAD_ARGUMENT', 'bye must be an object')
  const reason = checkU8(b.reason, 'reason')
  const text = checkText(b.text, BYE_TEXT_MAX_BYTES, 'bye text')
  const w = new Writer(2 + text.length)
  w.u8(reason)
  w.u8(text.length)
  w.bytes(text)
  return w.done()
}

export function decodeBye(body: Uint8Array): Bye {
  const r = new Reader(body, 'BYE')
  const reason = r.u8()
  const text = r.text(BYE_TEXT_MAX_BYTES)
  r.end()
  return { reason, text }
}
