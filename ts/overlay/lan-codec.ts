// LAN beacons: the signed UDP datagram a node multicasts on its local network
// so that nodes there find it with no bootstrap (docs/protocol.md, "LAN
// beacons"). Not a P4 frame: its own magic, version and signature domain.
// Encoding validates its input (BAD_ARGUMENT); decoding is strict (exact
// lengths, caps, no trailing bytes) and throws only BAD_PAYLOAD; a wrong
// magic or version is told apart so it can be counted on its own.
import { P4Error } from '../core/errors.js'
import { sign, verify, type Identity } from '../core/identity.js'
import { encodeUsername, USERNAME_MAX_BYTES } from '../core/username.js'
import { bad, Reader, Writer } from './codec-cursor.js'
import { checkSafeU64, HOST_MAX_BYTES, hostBytes, validateHost, validatePort } from './codec-fields.js'
import { CERTIFICATE_MAX_BYTES } from './hello-codec.js'
import { ED25519_KEY_SIZE, ED25519_SIG_SIZE } from './signing.js'

/** "P4LB". */
export const BEACON_MAGIC = Uint8Array.of(0x50, 0x34, 0x4c, 0x42)
export const BEACON_VERSION = 1
/** Hosts a beacon may list. */
export const BEACON_MAX_HOSTS = 4
/** Opaque extension bytes a version-1 receiver skips (room for optional fields). */
export const BEACON_EXTENSION_MAX = 512
/** Signed statement prefix: keeps beacon signatures apart from every other use of the identity key. */
export const BEACON_DOMAIN = new TextEncoder().encode('p4net/2 lan beacon\0')

const FIXED = BEACON_MAGIC.length + 1 + 1 + ED25519_KEY_SIZE + 8
/** Smallest beacon: 1-byte name, no host, no certificate, no extension. */
export const BEACON_MIN_BYTES = FIXED + 1 + 1 + 2 + 1 + 2 + 2 + ED25519_SIG_SIZE
/** Largest beacon: every variable field at its cap. A larger datagram is dropped unread. */
export const BEACON_MAX_BYTES =
  FIXED + 1 + USERNAME_MAX_BYTES + 2 + 1 + BEACON_MAX_HOSTS * (1 + HOST_MAX_BYTES) + 2 + CERTIFICATE_MAX_BYTES + 2 + BEACON_EXTENSION_MAX + ED25519_SIG_SIZE

export interface BeaconFields {
  /** Ed25519 identity key of the sender (its long-term key, which the trust policy checks). */
  identityKey: Uint8Array
  /** Sender's wall clock, Unix ms, strictly increasing per sender: freshness and replay order. */
  time: number
  username: string
  /** TCP port the sender accepts overlay links on. */
  port: number
  /** Hosts to dial it at (empty: the address the beacon came from). */
  hosts: string[]
  /** Username certificate (authority trust policy), or empty. */
  certificate: Uint8Array
}

export interface Beacon extends BeaconFields {
  flags: number
  /** The signed bytes (domain excluded) and the signature, for verifyBeacon. */
  signed: Uint8Array
  signature: Uint8Array
}

/** A beacon of another version: counted apart from other malformed datagrams. */
export class BeaconVersionError extends P4Error {}

function signedStatement(bytes: Uint8Array): Uint8Array {
  const m = new Uint8Array(BEACON_DOMAIN.length + bytes.length)
  m.set(BEACON_DOMAIN, 0)
  m.set(bytes, BEACON_DOMAIN.length)
  return m
}

/** The signed beacon of `identity` (whose public key must be `f.identityKey`). */
export function encodeBeacon(identity: Identity, f: BeaconFields): Uint8Array {
  if (!(f.identityKey instanceof Uint8Array) || f.identityKey.length !== ED25519_KEY_SIZE) throw new P4Error('BAD_ARGUMENT', 'identityKey must be 32 bytes')
  checkSafeU64(f.time, 'time')
  const name = encodeUsername(f.username)
  validatePort(f.port, 1)
  if (!Array.isArray(f.hosts) || f.hosts.length > BEACON_MAX_HOSTS) throw new P4Error('BAD_ARGUMENT', `hosts must be an array of at most ${BEACON_MAX_HOSTS}`)
  const hosts = f.hosts.map((h) => {
    validateHost(h)
    if (h === '') throw new P4Error('BAD_ARGUMENT', 'a host must not be empty')
    return hostBytes(h)
  })
  const cert = f.certificate
  if (!(cert instanceof Uint8Array) || cert.length > CERTIFICATE_MAX_BYTES) throw new P4Error('BAD_ARGUMENT', `certificate must be at most ${CERTIFICATE_MAX_BYTES} bytes`)
  const size = FIXED + 1 + name.length + 2 + 1 + hosts.reduce((n, h) => n + 1 + h.length, 0) + 2 + cert.length + 2 + ED25519_SIG_SIZE
  const w = new Writer(size)
  w.bytes(BEACON_MAGIC)
  w.u8(BEACON_VERSION)
  w.u8(0)
  w.bytes(f.identityKey)
  w.u64(BigInt(f.time))
  w.u8(name.length)
  w.bytes(name)
  w.u16(f.port)
  w.u8(hosts.length)
  for (const h of hosts) {
    w.u8(h.length)
    w.bytes(h)
  }
  w.u16(cert.length)
  w.bytes(cert)
  w.u16(0) // no extension
  const body = w.buf.subarray(0, size - ED25519_SIG_SIZE)
  w.bytes(sign(identity, signedStatement(body)))
  return w.done()
}

/**
 * Decodes a beacon without checking its signature (verifyBeacon does).
 * BeaconVersionError (BAD_PAYLOAD) for another version, plain BAD_PAYLOAD otherwise.
 */
export function decodeBeacon(data: Uint8Array): Beacon {
  if (!(data instanceof Uint8Array)) bad('beacon: not bytes')
  if (data.length < BEACON_MAGIC.length + 1 || !BEACON_MAGIC.every((b, i) => data[i] === b)) bad('beacon: not a p4net LAN beacon (magic)')
  if (data[BEACON_MAGIC.length] !== BEACON_VERSION) throw new BeaconVersionError('BAD_PAYLOAD', `beacon: unknown version ${data[BEACON_MAGIC.length]}`)
  if (data.length < BEACON_MIN_BYTES || data.length > BEACON_MAX_BYTES) bad(`beacon: ${data.length} bytes, not ${BEACON_MIN_BYTES}..${BEACON_MAX_BYTES}`)
  const r = new Reader(data, 'beacon')
  r.view(BEACON_MAGIC.length + 1)
  const flags = r.u8() // reserved: unknown bits are ignored
  const identityKey = r.copy(ED25519_KEY_SIZE)
  const time = r.safeU64('time')
  const username = r.username()
  const port = r.u16()
  if (port === 0) bad('beacon: port 0')
  const count = r.u8()
  if (count > BEACON_MAX_HOSTS) bad(`beacon: ${count} hosts, at most ${BEACON_MAX_HOSTS}`)
  const hosts: string[] = []
  for (let i = 0; i < count; i++) hosts.push(r.host(false))
  const certLength = r.u16()
  if (certLength > CERTIFICATE_MAX_BYTES) bad('beacon: certificate too large')
  const certificate = r.copy(certLength)
  const extLength = r.u16()
  if (extLength > BEACON_EXTENSION_MAX) bad('beacon: extension too large')
  r.view(extLength)
  const signedLength = data.length - r.remaining
  const signature = r.copy(ED25519_SIG_SIZE)
  r.end()
  return { flags, identityKey, time, username, port, hosts, certificate, signed: data.slice(0, signedLength), signature }
}

/** Whether the beacon's signature is its identity key's, over the beacon domain and every byte before it. */
export function verifyBeacon(b: Beacon): boolean {
  return verify(b.identityKey, signedStatement(b.signed), b.signature)
}
