// Body codecs for every P4/2 message type (docs/protocol-overlay.md has the
// byte layouts). A body is what follows the 18-byte header, after the 96-byte
// origin block for SIGNED messages. Encoders validate their input and throw
// BAD_ARGUMENT (BAD_USERNAME for names); decoders are strict — exact lengths,
// caps, strict UTF-8, no trailing bytes — and throw only P4Error 'BAD_PAYLOAD'.
// Decoders copy what they return (the input may be a reused buffer or WASM
// memory) and never allocate more than the input's own length.
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
import { USERNAME_MAX_BYTES, decodeUsername, encodeUsername } from '../core/username.js'

export const HOST_MAX_BYTES = 255
export const MAX_PLUGINS = 256
export const CERTIFICATE_MAX_BYTES = 1024
export const X25519_KEY_SIZE = 32
export const BYE_TEXT_MAX_BYTES = 128

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

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const U64_MAX = 0xffffffffffffffffn

// ---------------------------------------------------------------------------
// Field checks (encode side: BAD_ARGUMENT)

const HOST_CHARS = /^[A-Za-z0-9._:%-]*$/

/**
 * A host is a DNS name or an IP literal (IPv6 without brackets, optional
 * %zone): ASCII letters, digits and . - _ : %, at most 255 bytes. Empty is
 * allowed where a message says so. Rejecting anything else keeps logs and
 * dialers safe from odd bytes.
 */
export function isValidHost(host: unknown): host is string {
  return typeof host === 'string' && host.length <= HOST_MAX_BYTES && HOST_CHARS.test(host)
}

export function validateHost(host: unknown, what = 'host'): string {
  if (!isValidHost(host)) throw new P4Error('BAD_ARGUMENT', `${what} must be a host name or IP literal of at most ${HOST_MAX_BYTES} bytes`)
  return host
}

export function validatePort(port: unknown, min = 0, what = 'port'): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < min || port > 65535) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be an integer in ${min}..65535, got ${String(port)}`)
  }
  return port
}

function checkU8(v: unknown, what: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 255) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be an integer in ${min}..255, got ${String(v)}`)
  }
  return v
}

function checkU16(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be an integer in 0..65535, got ${String(v)}`)
  }
  return v
}

function checkU32(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be an integer in 0..2^32-1, got ${String(v)}`)
  }
  return v
}

function checkU64(v: unknown, what: string): bigint {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new P4Error('BAD_ARGUMENT', `${what} must be a bigint in 0..2^64-1`)
  return v
}

function checkSafeU64(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be a non-negative safe integer, got ${String(v)}`)
  }
  return v
}

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

function checkText(v: unknown, max: number, what: string): Uint8Array {
  if (typeof v !== 'string') throw new P4Error('BAD_ARGUMENT', `${what} must be a string`)
  if (hasControl(v) || hasLoneSurrogate(v)) throw new P4Error('BAD_ARGUMENT', `${what} must not contain control characters or lone surrogates`)
  const bytes = utf8.encode(v)
  if (bytes.length > max) throw new P4Error('BAD_ARGUMENT', `${what} must be at most ${max} bytes of UTF-8`)
  return bytes
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true
  }
  return false
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
// Byte cursor

function bad(msg: string): never {
  throw new P4Error('BAD_PAYLOAD', msg)
}

class Writer {
  readonly buf: Uint8Array
  private readonly dv: DataView
  private off = 0
  constructor(size: number) {
    this.buf = new Uint8Array(size)
    this.dv = new DataView(this.buf.buffer)
  }
  u8(v: number): void {
    this.dv.setUint8(this.off, v)
    this.off += 1
  }
  u16(v: number): void {
    this.dv.setUint16(this.off, v)
    this.off += 2
  }
  u32(v: number): void {
    this.dv.setUint32(this.off, v)
    this.off += 4
  }
  u64(v: bigint): void {
    this.dv.setBigUint64(this.off, v)
    this.off += 8
  }
  bytes(b: Uint8Array): void {
    this.buf.set(b, this.off)
    this.off += b.length
  }
  /** Returns the buffer after checking the precomputed size was exact. */
  done(): Uint8Array {
    if (this.off !== this.buf.length) throw new Error(`internal: wrote ${this.off} of ${this.buf.length} bytes`)
    return this.buf
  }
}

class Reader {
  private readonly dv: DataView
  private off = 0
  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {
    if (!(buf instanceof Uint8Array)) throw new P4Error('BAD_PAYLOAD', `${what}: body must be a Uint8Array`)
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }
  get remaining(): number {
    return this.buf.length - this.off
  }
  private need(n: number): void {
    if (this.remaining < n) bad(`${this.what}: truncated`)
  }
  u8(): number {
    this.need(1)
    return this.dv.getUint8(this.off++)
  }
  u16(): number {
    this.need(2)
    const v = this.dv.getUint16(this.off)
    this.off += 2
    return v
  }
  u32(): number {
    this.need(4)
    const v = this.dv.getUint32(this.off)
    this.off += 4
    return v
  }
  u64(): bigint {
    this.need(8)
    const v = this.dv.getBigUint64(this.off)
    this.off += 8
    return v
  }
  safeU64(field: string): number {
    const v = this.u64()
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad(`${this.what}: ${field} out of range`)
    return Number(v)
  }
  /** A view of the next n bytes (callers copy what they keep). */
  view(n: number): Uint8Array {
    this.need(n)
    const v = this.buf.subarray(this.off, this.off + n)
    this.off += n
    return v
  }
  copy(n: number): Uint8Array {
    return this.view(n).slice()
  }
  username(): string {
    const n = this.u8()
    if (n === 0 || n > USERNAME_MAX_BYTES) bad(`${this.what}: username length ${n} out of range`)
    const name = decodeUsername(this.view(n))
    if (name === undefined) bad(`${this.what}: invalid username`)
    return name
  }
  host(allowEmpty: boolean): string {
    const n = this.u8()
    if (n === 0 && !allowEmpty) bad(`${this.what}: empty host`)
    const b = this.view(n)
    let host = ''
    for (let i = 0; i < b.length; i++) host += String.fromCharCode(b[i]!)
    if (!HOST_CHARS.test(host)) bad(`${this.what}: invalid host`)
    return host
  }
  text(max: number): string {
    const n = this.u8()
    if (n > max) bad(`${this.what}: text longer than ${max} bytes`)
    let s: string
    try {
      s = strictUtf8.decode(this.view(n))
    } catch {
      bad(`${this.what}: text is not valid UTF-8`)
    }
    if (hasControl(s)) bad(`${this.what}: text contains control characters`)
    return s
  }
  end(): void {
    if (this.remaining !== 0) bad(`${this.what}: ${this.remaining} trailing bytes`)
  }
}

function hostBytes(host: string): Uint8Array {
  // Hosts are ASCII (checked), so one byte per character.
  return utf8.encode(host)
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
  const w = new Writer(1 + name.length + 32 + 1 + host.length + 2 + 8 + 4 + 2 + 2 * plugins.length + 2 + cert.length)
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
// CONNECT (point-to-point: "make this a long-lived overlay link")

export interface Connect {
  username: string
  /** The sender's listen address ('' / 0 when it does not accept connections). */
  host: string
  port: number
  /** The DISCOVER walk this link answers; 0n when not answering a walk. */
  walkId: bigint
}

export function encodeConnect(c: Connect): Uint8Array {
  if (typeof c !== 'object' || c === null) throw new P4Error('BAD_ARGUMENT', 'connect must be an object')
  const name = encodeUsername(c.username)
  const host = hostBytes(validateHost(c.host))
  const port = validatePort(c.port)
  const walkId = checkU64(c.walkId, 'walkId')
  const w = new Writer(1 + name.length + 1 + host.length + 2 + 8)
  w.u8(name.length)
  w.bytes(name)
  w.u8(host.length)
  w.bytes(host)
  w.u16(port)
  w.u64(walkId)
  return w.done()
}

export function decodeConnect(body: Uint8Array): Connect {
  const r = new Reader(body, 'CONNECT')
  const username = r.username()
  const host = r.host(true)
  const port = r.u16()
  const walkId = r.u64()
  r.end()
  return { username, host, port, walkId }
}

// ---------------------------------------------------------------------------
// DISCOVER (SIGNED random walk). Forwarders cannot change the signed body,
// so the hops taken is the header's hop count; hops left = maxHops - hops.

export interface Discover {
  username: string
  /** Where the walk's end connects back to: never empty, port >= 1. */
  host: string
  port: number
  walkId: bigint
  /** The walk may not end before this many hops (so it does not end at a current neighbour). */
  minHops: number
  /** The walk ends (connects back) at this many hops at the latest; 1..255. */
  maxHops: number
  /** Origin's wall clock (Unix ms) when it started the walk; receivers drop old walks. */
  sentAt: number
}

export function encodeDiscover(d: Discover): Uint8Array {
  if (typeof d !== 'object' || d === null) throw new P4Error('BAD_ARGUMENT', 'discover must be an object')
  const name = encodeUsername(d.username)
  const host = hostBytes(validateHost(d.host))
  if (host.length === 0) throw new P4Error('BAD_ARGUMENT', 'discover host must not be empty')
  const port = validatePort(d.port, 1)
  const walkId = checkU64(d.walkId, 'walkId')
  const maxHops = checkU8(d.maxHops, 'maxHops', 1)
  const minHops = checkU8(d.minHops, 'minHops')
  if (minHops > maxHops) throw new P4Error('BAD_ARGUMENT', 'minHops must not exceed maxHops')
  const sentAt = checkSafeU64(d.sentAt, 'sentAt')
  const w = new Writer(1 + name.length + 1 + host.length + 2 + 8 + 1 + 1 + 8)
  w.u8(name.length)
  w.bytes(name)
  w.u8(host.length)
  w.bytes(host)
  w.u16(port)
  w.u64(walkId)
  w.u8(minHops)
  w.u8(maxHops)
  w.u64(BigInt(sentAt))
  return w.done()
}

export function decodeDiscover(body: Uint8Array): Discover {
  const r = new Reader(body, 'DISCOVER')
  const username = r.username()
  const host = r.host(false)
  const port = r.u16()
  if (port === 0) bad('DISCOVER: port 0')
  const walkId = r.u64()
  const minHops = r.u8()
  const maxHops = r.u8()
  if (maxHops === 0 || minHops > maxHops) bad('DISCOVER: bad hop bounds')
  const sentAt = r.safeU64('sentAt')
  r.end()
  return { username, host, port, walkId, minHops, maxHops, sentAt }
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
