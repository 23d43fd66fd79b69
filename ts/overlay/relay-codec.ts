// MsgType.RELAY frames (docs/protocol.md, "RELAY"): reservations and
// circuits. Like STREAM, the header carries the circuit and the op, so DATA
// needs no payload prefix and a relay forwards its bytes without a copy:
//
//   message ID high 32 bits: circuit ID (1..2^31-1, chosen by the side that
//                            opened the circuit on this session); bit 31 set
//                            when the frame's sender did not open it; 0 for
//                            reservation ops
//   message ID low 32 bits:  op (below)
//
// Also the relay list a private node announces in its HELLO (extension tag
// RELAYS): the relays it holds reservations with.
import { P4Error, type P4ErrorCode } from '../core/errors.js'
import { HandshakeFeature } from '../core/protocol.js'
import { checkU16, checkU32, HOST_MAX_BYTES, hostBytes, validateHost, validatePort } from './codec-fields.js'
import { bad, Reader, Writer } from './codec-cursor.js'
import { HelloExtension } from './hello-codec.js'

export const RelayOp = {
  RESERVE: 1,
  RESERVED: 2,
  REFUSED: 3,
  UNRESERVE: 4,
  CONNECT: 5,
  INCOMING: 6,
  ACCEPT: 7,
  DATA: 8,
  WINDOW: 9,
  CLOSE: 10,
} as const
export type RelayOp = (typeof RelayOp)[keyof typeof RelayOp]

/** Bit 31 of the circuit field: the frame's sender did not open the circuit. */
export const REPLY_BIT = 0x80000000
export const MAX_CIRCUIT_ID = 0x7fffffff
/** DATA payloads are 1..maxChunk bytes; maxChunk is announced in CONNECT, INCOMING and ACCEPT, within these bounds. */
export const MIN_CHUNK = 1024
export const MAX_CHUNK = 65536
export const KEY_BYTES = 32

/**
 * Codes a relay or a target refuses or ends a circuit (CLOSE) or a
 * reservation (REFUSED) with; stable, counted in stats().relayRefusedReasons.
 */
export const RelayCode = {
  /** This node does not relay (relay.serve off, or 'auto' on a node that found itself private). */
  RELAY_OFF: 'RELAY_OFF',
  /** relay.maxReservations held already. */
  RESERVATION_LIMIT: 'RESERVATION_LIMIT',
  /** relay.reservationsPerHost held for the asker's host already. */
  HOST_LIMIT: 'HOST_LIMIT',
  /** The target holds no reservation here (or it expired). */
  NO_RESERVATION: 'NO_RESERVATION',
  /** relay.circuitsPerReservation open to the target already. */
  CIRCUIT_LIMIT: 'CIRCUIT_LIMIT',
  /** relay.circuitsPerPeer open by this opener already. */
  PEER_LIMIT: 'PEER_LIMIT',
  /** relay.maxCircuits open in all. */
  RELAY_FULL: 'RELAY_FULL',
  /** The opener asked for circuits faster than relay.connectsPerMinute. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** The circuit carried relay.circuitBytes. */
  BYTE_LIMIT: 'BYTE_LIMIT',
  /** The circuit was open for relay.circuitMs. */
  TIME_LIMIT: 'TIME_LIMIT',
  /** One of the circuit's two sessions with the relay closed. */
  LINK_LOST: 'LINK_LOST',
  /** The relay could not queue a frame on the other session (a peer not reading). */
  RELAY_BUSY: 'RELAY_BUSY',
  /** The target did not accept within the handshake deadline. */
  TIMEOUT: 'TIMEOUT',
  /** A frame broke the circuit rules (DATA beyond credit, before ACCEPT, …). */
  PROTOCOL: 'PROTOCOL',
  /** The target refused (too many handshakes in progress, stopping). */
  TARGET_BUSY: 'TARGET_BUSY',
  /** An end aborted the circuit (its session failed, or it was destroyed). */
  RESET: 'RESET',
} as const
export type RelayCode = (typeof RelayCode)[keyof typeof RelayCode]

/** The P4Error code a relay or peer code stands for. */
export function errorCodeOf(code: string): P4ErrorCode {
  switch (code) {
    case RelayCode.BYTE_LIMIT:
    case RelayCode.TIME_LIMIT:
    case RelayCode.CIRCUIT_LIMIT:
    case RelayCode.PEER_LIMIT:
    case RelayCode.RELAY_FULL:
    case RelayCode.RATE_LIMITED:
    case RelayCode.RESERVATION_LIMIT:
    case RelayCode.HOST_LIMIT:
      return 'QUOTA_EXCEEDED'
    case RelayCode.TIMEOUT:
      return 'TIMEOUT'
    case RelayCode.RELAY_OFF:
      return 'UNSUPPORTED'
    case RelayCode.RESET:
      return 'PEER_CLOSED'
    default:
      return 'UNREACHABLE'
  }
}

const CODE = /^[A-Z][A-Z_]{0,31}$/
const MAX_TEXT = 200

/** The handshake feature bits for relaying: RELAY when this node may serve (relay.serve true or 'auto'). */
export function relayFeature(cfg: { relay: { serve: boolean | 'auto' } }): number {
  return cfg.relay.serve === false ? 0 : HandshakeFeature.RELAY
}

export function relayBad(message: string): P4Error {
  return new P4Error('BAD_FRAME', `relay frame: ${message}`)
}

/** RESERVED: what the relay grants (all informational but the lifetime). */
export interface Grant {
  /** The reservation lasts this long unless renewed (RESERVE again). */
  ttlMs: number
  /** Circuits open to this node at once. */
  circuits: number
  /** Each circuit closes after this long. */
  circuitMs: number
  /** Each circuit closes after carrying this many DATA bytes (both ways). */
  circuitBytes: number
}

export function encodeGrant(g: Grant): Uint8Array {
  const w = new Writer(4 + 2 + 4 + 8)
  w.u32(checkU32(g.ttlMs, 'ttlMs'))
  w.u16(checkU16(g.circuits, 'circuits'))
  w.u32(checkU32(g.circuitMs, 'circuitMs'))
  if (!Number.isSafeInteger(g.circuitBytes) || g.circuitBytes < 0) throw new P4Error('BAD_ARGUMENT', 'circuitBytes must be a safe integer >= 0')
  w.u64(BigInt(g.circuitBytes))
  return w.done()
}

export function decodeGrant(p: Uint8Array): Grant {
  const r = new Reader(p, 'RESERVED')
  const g = { ttlMs: r.u32(), circuits: r.u16(), circuitMs: r.u32(), circuitBytes: r.safeU64('circuitBytes') }
  r.end()
  if (g.ttlMs === 0) bad('RESERVED: a 0 ms reservation')
  return g
}

/** CONNECT and INCOMING: the other end's identity key, then what the sender takes (OPEN). */
export interface Open {
  key: Uint8Array
  /** DATA bytes the sender of this frame accepts before its first WINDOW. */
  window: number
  /** Largest DATA payload the sender of this frame accepts. */
  maxChunk: number
}

export function encodeOpen(o: Open): Uint8Array {
  if (!(o.key instanceof Uint8Array) || o.key.length !== KEY_BYTES) throw new P4Error('BAD_ARGUMENT', `key must be ${KEY_BYTES} bytes`)
  const w = new Writer(KEY_BYTES + 8)
  w.bytes(o.key)
  w.bytes(encodeAccept(o))
  return w.done()
}

export function decodeOpen(p: Uint8Array, what: string): Open {
  if (p.length !== KEY_BYTES + 8) throw relayBad(`${what} payload of ${p.length} bytes (want ${KEY_BYTES + 8})`)
  return { key: p.slice(0, KEY_BYTES), ...decodeAccept(p.subarray(KEY_BYTES)) }
}

/** ACCEPT: what the accepting side takes. */
export function encodeAccept(a: { window: number; maxChunk: number }): Uint8Array {
  const b = new Uint8Array(8)
  const v = new DataView(b.buffer)
  v.setUint32(0, checkU32(a.window, 'window'))
  v.setUint32(4, checkU32(a.maxChunk, 'maxChunk'))
  return b
}

export function decodeAccept(p: Uint8Array): { window: number; maxChunk: number } {
  if (p.length !== 8) throw relayBad(`ACCEPT payload of ${p.length} bytes (want 8)`)
  const v = new DataView(p.buffer, p.byteOffset, 8)
  const window = v.getUint32(0)
  const maxChunk = v.getUint32(4)
  if (window === 0) throw relayBad('a 0-byte window')
  if (maxChunk < MIN_CHUNK || maxChunk > MAX_CHUNK) throw relayBad(`maxChunk ${maxChunk} outside ${MIN_CHUNK}..${MAX_CHUNK}`)
  return { window, maxChunk }
}

export function encodeWindow(n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n)
  return b
}

export function decodeWindow(p: Uint8Array): number {
  if (p.length !== 4) throw relayBad(`WINDOW payload of ${p.length} bytes (want 4)`)
  const n = new DataView(p.buffer, p.byteOffset, 4).getUint32(0)
  if (n === 0) throw relayBad('WINDOW of 0 bytes')
  return n
}

/** REFUSED and CLOSE: u8 code length, code (A-Z and _; empty in a clean CLOSE), UTF-8 text. */
export function encodeReason(code: string, text: string): Uint8Array {
  const c = code === '' || CODE.test(code) ? code : 'PROTOCOL'
  const t = Buffer.from(text, 'utf8').subarray(0, MAX_TEXT)
  const b = Buffer.allocUnsafe(1 + c.length + t.length)
  b[0] = c.length
  b.write(c, 1, 'latin1')
  b.set(t, 1 + c.length)
  return b
}

/** The code ('' for a clean end) and text; a code this version does not know is passed on as it is. */
export function decodeReason(p: Uint8Array): { code: string; text: string } {
  const n = p[0] ?? -1
  if (n < 0 || p.length < 1 + n) throw relayBad('reason shorter than its code')
  const code = Buffer.from(p.subarray(1, 1 + n)).toString('latin1')
  if (n > 0 && !CODE.test(code)) throw relayBad('reason code is not A-Z and _')
  if (p.length - 1 - n > MAX_TEXT) throw relayBad(`reason text longer than ${MAX_TEXT} bytes`)
  return { code, text: Buffer.from(p.subarray(1 + n)).toString('utf8') }
}

// ---------------------------------------------------------------------------
// The relay list of a HELLO (extension tag RELAYS)

/** A relay a node holds a reservation with: its identity key and where to dial it. */
export interface RelayAddress {
  key: Uint8Array
  host: string
  port: number
}

/** Most relays a HELLO lists. */
export const MAX_ANNOUNCED_RELAYS = 4

/** u8 count (1..4), then count × (identity key (32), str8 host (non-empty), u16 port (1..65535)). */
export function encodeRelayList(relays: readonly RelayAddress[]): Uint8Array {
  if (!Array.isArray(relays) || relays.length === 0 || relays.length > MAX_ANNOUNCED_RELAYS) {
    throw new P4Error('BAD_ARGUMENT', `a relay list holds 1..${MAX_ANNOUNCED_RELAYS} relays`)
  }
  const parts = relays.map((r) => {
    if (!(r.key instanceof Uint8Array) || r.key.length !== KEY_BYTES) throw new P4Error('BAD_ARGUMENT', `relay key must be ${KEY_BYTES} bytes`)
    const host = hostBytes(validateHost(r.host))
    if (host.length === 0) throw new P4Error('BAD_ARGUMENT', 'relay host must not be empty')
    return { key: r.key, host, port: validatePort(r.port, 1) }
  })
  const w = new Writer(1 + parts.reduce((n, p) => n + KEY_BYTES + 1 + p.host.length + 2, 0))
  w.u8(parts.length)
  for (const p of parts) {
    w.bytes(p.key)
    w.u8(p.host.length)
    w.bytes(p.host)
    w.u16(p.port)
  }
  return w.done()
}

export function decodeRelayList(bytes: Uint8Array): RelayAddress[] {
  const r = new Reader(bytes, 'HELLO relays')
  const n = r.u8()
  if (n === 0 || n > MAX_ANNOUNCED_RELAYS) bad(`HELLO relays: ${n} relays (1..${MAX_ANNOUNCED_RELAYS})`)
  if (r.remaining < n * (KEY_BYTES + 1 + 1 + 2)) bad('HELLO relays: truncated')
  const out: RelayAddress[] = []
  for (let i = 0; i < n; i++) {
    const key = r.copy(KEY_BYTES)
    const host = r.host(false)
    const port = r.u16()
    if (port === 0) bad('HELLO relays: port 0')
    out.push({ key, host, port })
  }
  r.end()
  return out
}

/** Most bytes a relay list takes. */
export const RELAY_LIST_MAX_BYTES = 1 + MAX_ANNOUNCED_RELAYS * (KEY_BYTES + 1 + HOST_MAX_BYTES + 2)

/** The HELLO extension field (tag RELAYS) that lists `relays`. */
export function relayExtension(relays: readonly RelayAddress[]): Uint8Array {
  const value = encodeRelayList(relays)
  const w = new Writer(3 + value.length)
  w.u8(HelloExtension.RELAYS)
  w.u16(value.length)
  w.bytes(value)
  return w.done()
}
