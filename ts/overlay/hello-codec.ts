// HELLO and the LKA exchange, whose answers carry whole signed HELLO frames.
// Conventions in codec-cursor.ts.
import { P4Error } from '../core/errors.js'
import {
  Flag,
  HDR_FLAGS,
  HDR_HOPS,
  HDR_LENGTH,
  HDR_TYPE,
  HDR_VERSION,
  HEADER_SIZE,
  MsgType,
  ORIGIN_BLOCK_SIZE,
  PROTOCOL_VERSION,
} from '../core/protocol.js'
import { USERNAME_MAX_BYTES, encodeUsername } from '../core/username.js'
import { checkSafeU64, checkU16, checkU32, checkU64, HOST_MAX_BYTES, hostBytes, validateHost, validatePort } from './codec-fields.js'
import { bad, Reader, Writer } from './codec-cursor.js'

export const MAX_PLUGINS = 256
export const CERTIFICATE_MAX_BYTES = 1024
export const X25519_KEY_SIZE = 32

/** Largest HELLO body: every variable field at its cap. */
export const HELLO_BODY_MAX =
  1 + USERNAME_MAX_BYTES + X25519_KEY_SIZE + 1 + HOST_MAX_BYTES + 2 + 8 + 4 + 2 + 2 * MAX_PLUGINS + 2 + CERTIFICATE_MAX_BYTES
/** Smallest HELLO body: 1-byte name, empty host, no plugins, no certificate. */
export const HELLO_BODY_MIN = 1 + 1 + X25519_KEY_SIZE + 1 + 2 + 8 + 4 + 2 + 2
/** A whole signed HELLO frame (header + origin block + body) as carried in LKA_ACK. */
export const HELLO_FRAME_MAX = HEADER_SIZE + ORIGIN_BLOCK_SIZE + HELLO_BODY_MAX
export const HELLO_FRAME_MIN = HEADER_SIZE + ORIGIN_BLOCK_SIZE + HELLO_BODY_MIN

/** Caps for one LKA_ACK body; a larger table is split over several messages. */
export const LKA_ACK_MAX_ENTRIES = 256
export const LKA_ACK_MAX_BYTES = 64 * 1024
const LKA_ACK_MORE = 0x01

function checkKey(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== X25519_KEY_SIZE) throw new P4Error('BAD_ARGUMENT', `${what} must be ${X25519_KEY_SIZE} bytes`)
  return v
}

/** Plugin IDs must be u16, strictly increasing (sorted, unique), at most 256. */
function checkPlugins(v: unknown): number[] {
  if (!Array.isArray(v) || v.length > MAX_PLUGINS) throw new P4Error('BAD_ARGUMENT', `plugins must be an array of at most ${MAX_PLUGINS} IDs`)
  let prev = -1
  for (const id of v) {
    checkU16(id, 'plugin ID')
    if (id <= prev) throw new P4Error('BAD_ARGUMENT', 'plugin IDs must be sorted and unique')
    prev = id
  }
  return v as number[]
}

// ---------------------------------------------------------------------------
// HELLO (SIGNED | BROADCAST; the identity key is the origin key)

export interface Hello {
  username: string
  /** X25519 static public key for end-to-end sealing to this user. */
  staticKey: Uint8Array
  /** Where to reach the user; '' = "the address my link to you comes from" (meaningful to a direct neighbour). */
  host: string
  /** Listen port; 0 = not accepting connections. */
  port: number
  /** Per-identity, strictly increasing (see nextHelloSeq). */
  seq: bigint
  features: number
  /** Active plugin IDs, sorted and unique. */
  plugins: number[]
  /** Username certificate for the authority trust policy. */
  certificate?: Uint8Array
  /**
   * Extension fields after the certificate, verbatim (see helloExtensions):
   * a TLV list kept byte for byte, so that a HELLO with fields this version
   * does not know still verifies, relays and re-encodes unchanged.
   */
  extensions?: Uint8Array
}

/**
 * Tags of HELLO extension fields. None is written yet; 1 is reserved for the
 * relays a node can be reached through (issue 18.2). Unknown tags are ignored.
 */
export const HelloExtension = { RELAYS: 1 } as const

/**
 * The extension fields of a HELLO (after the certificate): u8 tag (1..255,
 * strictly increasing, so each appears once and the bytes are canonical),
 * u16 length, value. Throws BAD_PAYLOAD on anything else.
 */
export function helloExtensions(bytes: Uint8Array): Map<number, Uint8Array> {
  const r = new Reader(bytes, 'HELLO extensions')
  const out = new Map<number, Uint8Array>()
  let prev = 0
  while (r.remaining > 0) {
    const tag = r.u8()
    if (tag <= prev) bad('HELLO: extension tags not increasing (or tag 0)')
    const len = r.u16()
    out.set(tag, r.copy(len))
    prev = tag
  }
  return out
}

export function encodeHello(h: Hello): Uint8Array {
  if (typeof h !== 'object' || h === null) throw new P4Error('BAD_ARGUMENT', 'hello must be an object')
  const name = encodeUsername(h.username)
  const staticKey = checkKey(h.staticKey, 'staticKey')
  const host = hostBytes(validateHost(h.host))
  const port = validatePort(h.port)
  const seq = checkU64(h.seq, 'seq')
  const features = checkU32(h.features, 'features')
  const plugins = checkPlugins(h.plugins)
  const cert = h.certificate ?? new Uint8Array(0)
  if (!(cert instanceof Uint8Array) || cert.length > CERTIFICATE_MAX_BYTES) {
    throw new P4Error('BAD_ARGUMENT', `certificate must be a Uint8Array of at most ${CERTIFICATE_MAX_BYTES} bytes`)
  }
  const ext = h.extensions ?? new Uint8Array(0)
  if (!(ext instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'extensions must be a Uint8Array')
  try {
    helloExtensions(ext)
  } catch (err) {
    throw new P4Error('BAD_ARGUMENT', `extensions: ${(err as Error).message}`)
  }
  const size = 1 + name.length + 32 + 1 + host.length + 2 + 8 + 4 + 2 + 2 * plugins.length + 2 + cert.length + ext.length
  if (size > HELLO_BODY_MAX) throw new P4Error('BAD_ARGUMENT', `a HELLO body is at most ${HELLO_BODY_MAX} bytes, this one would be ${size}`)
  const w = new Writer(size)
  w.u8(name.length)
  w.bytes(name)
  w.bytes(staticKey)
  w.u8(host.length)
  w.bytes(host)
  w.u16(port)
  w.u64(seq)
  w.u32(features)
  w.u16(plugins.length)
  for (const id of plugins) w.u16(id)
  w.u16(cert.length)
  w.bytes(cert)
  w.bytes(ext)
  return w.done()
}

export function decodeHello(body: Uint8Array): Hello {
  const r = new Reader(body, 'HELLO')
  if (body.length > HELLO_BODY_MAX) bad('HELLO: body too large')
  const username = r.username()
  const staticKey = r.copy(X25519_KEY_SIZE)
  const host = r.host(true)
  const port = r.u16()
  const seq = r.u64()
  const features = r.u32()
  const count = r.u16()
  if (count > MAX_PLUGINS) bad(`HELLO: ${count} plugins exceeds ${MAX_PLUGINS}`)
  if (r.remaining < count * 2) bad('HELLO: truncated plugin list')
  const plugins = new Array<number>(count)
  let prev = -1
  for (let i = 0; i < count; i++) {
    const id = r.u16()
    if (id <= prev) bad('HELLO: plugin IDs not sorted and unique')
    plugins[i] = id
    prev = id
  }
  const certLen = r.u16()
  if (certLen > CERTIFICATE_MAX_BYTES) bad('HELLO: certificate too large')
  const hello: Hello = { username, staticKey, host, port, seq, features, plugins }
  if (certLen > 0) hello.certificate = r.copy(certLen)
  if (r.remaining > 0) {
    const ext = r.copy(r.remaining)
    helloExtensions(ext)
    hello.extensions = ext
  }
  r.end()
  return hello
}

/**
 * The next HELLO sequence number: wall-clock milliseconds, but always above
 * the previous one. Timestamps survive restarts without storing a counter;
 * the max() keeps the order strict when HELLOs come faster than 1 ms or the
 * clock steps back.
 */
export function nextHelloSeq(prev: bigint, nowMs: number): bigint {
  checkU64(prev, 'prev')
  checkSafeU64(Math.floor(nowMs), 'nowMs')
  const t = BigInt(Math.floor(nowMs))
  return t > prev ? t : prev + 1n
}

// ---------------------------------------------------------------------------
// LKA (request) / LKA_ACK (signed HELLO frames, verified by the receiver)

export interface LkaRequest {
  /** Most entries wanted; 0 = the responder's default. */
  max: number
}

export function encodeLkaRequest(q: LkaRequest): Uint8Array {
  if (typeof q !== 'object' || q === null) throw new P4Error('BAD_ARGUMENT', 'LKA request must be an object')
  const w = new Writer(2)
  w.u16(checkU16(q.max, 'max'))
  return w.done()
}

export function decodeLkaRequest(body: Uint8Array): LkaRequest {
  const r = new Reader(body, 'LKA')
  const max = r.u16()
  r.end()
  return { max }
}

export interface LkaAck {
  /** More LKA_ACK messages follow for the same request. */
  more: boolean
  /** Whole signed HELLO frames (header with hops 0 + origin block + body). */
  hellos: Uint8Array[]
}

/**
 * Shape check for a stored HELLO frame (not its signature): size bounds,
 * version, type HELLO, flags exactly BROADCAST|SIGNED, hops 0 and a
 * payloadLength that matches. Returns a reason, or undefined when fine.
 */
export function helloFrameProblem(frame: Uint8Array): string | undefined {
  if (!(frame instanceof Uint8Array)) return 'not a Uint8Array'
  if (frame.length < HELLO_FRAME_MIN || frame.length > HELLO_FRAME_MAX) return `size ${frame.length} out of range`
  if (frame[HDR_VERSION] !== PROTOCOL_VERSION) return 'bad version'
  if (frame[HDR_TYPE] !== MsgType.HELLO) return 'not a HELLO'
  if (frame[HDR_FLAGS] !== (Flag.BROADCAST | Flag.SIGNED)) return 'bad flags'
  if (frame[HDR_HOPS] !== 0) return 'hops not zeroed'
  const len = new DataView(frame.buffer, frame.byteOffset + HDR_LENGTH, 4).getUint32(0)
  if (len !== frame.length - HEADER_SIZE) return 'payloadLength mismatch'
  return undefined
}

function lkaAckSize(hellos: readonly Uint8Array[]): number {
  let size = 1 + 2
  for (const h of hellos) size += 2 + h.length
  return size
}

export function encodeLkaAck(a: LkaAck): Uint8Array {
  if (typeof a !== 'object' || a === null || !Array.isArray(a.hellos)) throw new P4Error('BAD_ARGUMENT', 'LKA_ACK must have a hellos array')
  const { hellos } = a
  if (hellos.length > LKA_ACK_MAX_ENTRIES) throw new P4Error('BAD_ARGUMENT', `LKA_ACK holds at most ${LKA_ACK_MAX_ENTRIES} entries`)
  for (const h of hellos) {
    const problem = helloFrameProblem(h)
    if (problem !== undefined) throw new P4Error('BAD_ARGUMENT', `LKA_ACK entry: ${problem}`)
  }
  const size = lkaAckSize(hellos)
  if (size > LKA_ACK_MAX_BYTES) throw new P4Error('BAD_ARGUMENT', `LKA_ACK body exceeds ${LKA_ACK_MAX_BYTES} bytes`)
  const w = new Writer(size)
  w.u8(a.more ? LKA_ACK_MORE : 0)
  w.u16(hellos.length)
  for (const h of hellos) {
    w.u16(h.length)
    w.bytes(h)
  }
  return w.done()
}

/**
 * Splits HELLO frames over as many LKA_ACK bodies as the caps need, in order;
 * every body but the last has `more` set. Zero frames give one empty body.
 */
export function encodeLkaAckParts(hellos: readonly Uint8Array[]): Uint8Array[] {
  if (!Array.isArray(hellos)) throw new P4Error('BAD_ARGUMENT', 'hellos must be an array')
  const groups: Uint8Array[][] = [[]]
  let size = 3
  for (const h of hellos) {
    const cur = groups[groups.length - 1]!
    const add = 2 + (h instanceof Uint8Array ? h.length : 0)
    if (cur.length > 0 && (cur.length === LKA_ACK_MAX_ENTRIES || size + add > LKA_ACK_MAX_BYTES)) {
      groups.push([h])
      size = 3 + add
    } else {
      cur.push(h)
      size += add
    }
  }
  return groups.map((g, i) => encodeLkaAck({ more: i < groups.length - 1, hellos: g }))
}

export function decodeLkaAck(body: Uint8Array): LkaAck {
  const r = new Reader(body, 'LKA_ACK')
  if (body.length > LKA_ACK_MAX_BYTES) bad('LKA_ACK: body too large')
  const flags = r.u8()
  if ((flags & ~LKA_ACK_MORE) !== 0) bad('LKA_ACK: unknown flags')
  const count = r.u16()
  if (count > LKA_ACK_MAX_ENTRIES) bad(`LKA_ACK: ${count} entries exceeds ${LKA_ACK_MAX_ENTRIES}`)
  // Every entry needs a length prefix plus a minimal frame: refuse counts the input cannot hold.
  if (count * (2 + HELLO_FRAME_MIN) > r.remaining) bad('LKA_ACK: truncated')
  const hellos = new Array<Uint8Array>(count)
  for (let i = 0; i < count; i++) {
    const len = r.u16()
    const frame = r.view(len)
    const problem = helloFrameProblem(frame)
    if (problem !== undefined) bad(`LKA_ACK: entry ${i}: ${problem}`)
    hellos[i] = frame.slice()
  }
  r.end()
  return { more: (flags & LKA_ACK_MORE) !== 0, hellos }
}
