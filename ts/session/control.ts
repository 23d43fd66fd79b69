// Session control frames (type SESSION, 10), exchanged only when both ends
// announced handshake feature RESUME (docs/protocol.md, "Session control"):
//
//   ACK    u8 1 | u64 BE records   the sender of the ACK has opened every
//                                   record below `records` (a running total)
//   CLOSE  u8 2                     the session ends on purpose: a Conn that
//                                   closes after it is a clean end, one that
//                                   closes without it is a lost Conn
//
// Header fields other than type are zero. Decoding is strict: anything else
// is BAD_FRAME and closes the session.
import { P4Error } from '../core/errors.js'
import type { Frame } from './receiver.js'

export const CONTROL_ACK = 1
export const CONTROL_CLOSE = 2

/**
 * A receiver acknowledges at the latest once it has read this many bytes
 * (or ACK_RECORDS records) since its last ACK. A sender's retention cap must
 * be above it, so that the peer always reaches the point where it acks.
 */
export const ACK_BYTES = 512 * 1024
export const ACK_RECORDS = 256

const CLOSE_PAYLOAD = new Uint8Array([CONTROL_CLOSE])

export function encodeAck(records: number): Uint8Array {
  const out = new Uint8Array(9)
  const v = new DataView(out.buffer)
  v.setUint8(0, CONTROL_ACK)
  v.setUint32(1, Math.floor(records / 0x100000000))
  v.setUint32(5, records >>> 0)
  return out
}

export function encodeClose(): Uint8Array {
  return CLOSE_PAYLOAD
}

export type Control = { kind: typeof CONTROL_ACK; records: number } | { kind: typeof CONTROL_CLOSE }

export function decodeControl(f: Frame): Control {
  if (f.flags !== 0 || f.hops !== 0 || f.pluginId !== 0 || f.idHi !== 0 || f.idLo !== 0) {
    throw new P4Error('BAD_FRAME', 'session control frame with non-zero header fields')
  }
  const p = f.payload
  if (p.length === 9 && p[0] === CONTROL_ACK) {
    const v = new DataView(p.buffer, p.byteOffset, 9)
    const hi = v.getUint32(1)
    if (hi >= 0x200000) throw new P4Error('BAD_FRAME', 'ACK beyond 2^53 records')
    return { kind: CONTROL_ACK, records: hi * 0x100000000 + v.getUint32(5) }
  }
  if (p.length === 1 && p[0] === CONTROL_CLOSE) return { kind: CONTROL_CLOSE }
  throw new P4Error('BAD_FRAME', `malformed session control frame (${p.length} bytes, kind ${p[0] ?? 'none'})`)
}
