// The payload each side sends, encrypted, inside the Noise XX handshake
// (responder: message 2, initiator: message 3). All integers big-endian.
//
//   off      size  field
//   0        32    identityKey   Ed25519 public key
//   32       64    signature     Ed25519(identityKey) over "p4net/2 static key" || Noise static key (32)
//   96       1     nameLength    1..31
//   97       n     username      UTF-8, NFC, no control characters (ts/core/username.ts)
//   97+n     2     listenPort    u16, 0 = not listening
//   99+n     1     intent        1 = overlay link, 2 = direct session, 3 = reachability probe
//   100+n    4     features      u32 bit set
//   104+n    2     extLength     0..4096
//   106+n    m     extension     opaque (e.g. an authority certificate)
//
// The payload is exactly 106 + n + m bytes; anything else is BAD_PAYLOAD, and
// so is a small-order or non-canonical identityKey (ed25519KeyFlaw: with such
// a key anyone could produce the signature and pass as that identity).
import { expectBytes, P4Error } from '../core/errors.js'
import { ed25519KeyFlaw, sign, verify, type Identity } from '../core/identity.js'
import { decodeUsername, encodeUsername, USERNAME_MAX_BYTES } from '../core/username.js'

export const LinkIntent = {
  /** A long-lived overlay link (flooding, routing). */
  OVERLAY: 1,
  /** A direct session between two users (unicast). */
  DIRECT: 2,
  /**
   * A reachability probe (a dial-back a peer asked for, docs/protocol.md
   * "REACH"): the handshake proves who listens at the address, then the
   * responder closes the connection. Sent only to a node that asked for it.
   */
  PROBE: 3,
} as const
export type LinkIntent = (typeof LinkIntent)[keyof typeof LinkIntent]

/** Whether `v` is a LinkIntent this version knows. */
export function isLinkIntent(v: unknown): v is LinkIntent {
  return v === LinkIntent.OVERLAY || v === LinkIntent.DIRECT || v === LinkIntent.PROBE
}

export const MAX_USERNAME_BYTES = USERNAME_MAX_BYTES
export const MAX_EXTENSION = 4096
export const PAYLOAD_FIXED_SIZE = 106
export const MAX_PAYLOAD = PAYLOAD_FIXED_SIZE + MAX_USERNAME_BYTES + MAX_EXTENSION

/** What the signature covers, before the static key: domain separation from every other p4net signature. */
export const STATIC_KEY_CONTEXT: Uint8Array = Buffer.from('p4net/2 static key', 'latin1')

export interface HandshakePayload {
  identityKey: Uint8Array
  signature: Uint8Array
  username: string
  listenPort: number
  intent: LinkIntent
  features: number
  extension: Uint8Array
}

/** "p4net/2 static key" || staticKey: what the identity key signs. */
export function staticKeyStatement(staticKey: Uint8Array): Uint8Array {
  expectBytes(staticKey, 32, 'static key')
  const out = new Uint8Array(STATIC_KEY_CONTEXT.length + 32)
  out.set(STATIC_KEY_CONTEXT)
  out.set(staticKey, STATIC_KEY_CONTEXT.length)
  return out
}

// The statement never changes for an identity, so sign it once.
const bindingCache = new WeakMap<Identity, Uint8Array>()

/** The identity's signature over its own Noise static key (cached per identity). */
export function signStaticKey(identity: Identity): Uint8Array {
  let sig = bindingCache.get(identity)
  if (!sig) {
    sig = sign(identity, staticKeyStatement(identity.staticPublicKey))
    bindingCache.set(identity, sig)
  }
  return sig
}

/** Whether `signature` by `identityKey` certifies `staticKey` (false for a small-order identityKey: verify()). */
export function verifyStaticKey(identityKey: Uint8Array, staticKey: Uint8Array, signature: Uint8Array): boolean {
  return verify(identityKey, staticKeyStatement(staticKey), signature)
}

function checkFields(p: HandshakePayload): Uint8Array {
  expectBytes(p.identityKey, 32, 'identityKey')
  expectBytes(p.signature, 64, 'signature')
  const name = encodeUsername(p.username)
  if (!Number.isInteger(p.listenPort) || p.listenPort < 0 || p.listenPort > 65535) {
    throw new P4Error('BAD_ARGUMENT', `listenPort must be 0..65535, got ${String(p.listenPort)}`)
  }
  if (!isLinkIntent(p.intent)) {
    throw new P4Error('BAD_ARGUMENT', `intent must be 1 (overlay), 2 (direct) or 3 (probe), got ${String(p.intent)}`)
  }
  if (!Number.isInteger(p.features) || p.features < 0 || p.features > 0xffffffff) {
    throw new P4Error('BAD_ARGUMENT', `features must be a u32, got ${String(p.features)}`)
  }
  expectBytes(p.extension, undefined, 'extension')
  if (p.extension.length > MAX_EXTENSION) {
    throw new P4Error('BAD_ARGUMENT', `extension must be at most ${MAX_EXTENSION} bytes, got ${p.extension.length}`)
  }
  return name
}

export function encodePayload(p: HandshakePayload): Uint8Array {
  const name = checkFields(p)
  const n = name.length
  const out = new Uint8Array(PAYLOAD_FIXED_SIZE + n + p.extension.length)
  const view = new DataView(out.buffer)
  out.set(p.identityKey, 0)
  out.set(p.signature, 32)
  out[96] = n
  out.set(name, 97)
  view.setUint16(97 + n, p.listenPort)
  out[99 + n] = p.intent
  view.setUint32(100 + n, p.features)
  view.setUint16(104 + n, p.extension.length)
  out.set(p.extension, 106 + n)
  return out
}

/**
 * Parses a payload (copying what it keeps). Malformed, or an unusable
 * identity key (small order, non-canonical): BAD_PAYLOAD; a bad username:
 * BAD_USERNAME.
 */
export function decodePayload(bytes: Uint8Array): HandshakePayload {
  expectBytes(bytes, undefined, 'payload')
  const bad = (why: string): P4Error => new P4Error('BAD_PAYLOAD', `handshake payload: ${why}`)
  if (bytes.length < PAYLOAD_FIXED_SIZE + 1) throw bad(`too short (${bytes.length} bytes)`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
  const n = bytes[96]!
  if (n < 1 || n > MAX_USERNAME_BYTES) throw new P4Error('BAD_USERNAME', `username length ${n} is not 1–${MAX_USERNAME_BYTES}`)
  if (bytes.length < PAYLOAD_FIXED_SIZE + n) throw bad(`too short for a ${n}-byte username (${bytes.length} bytes)`)
  const username = decodeUsername(bytes.subarray(97, 97 + n))
  if (username === undefined) {
    throw new P4Error('BAD_USERNAME', 'username is not strict UTF-8 in NFC without control characters')
  }
  const listenPort = view.getUint16(97 + n)
  const intent = bytes[99 + n]!
  if (!isLinkIntent(intent)) throw bad(`unknown link intent ${intent}`)
  const features = view.getUint32(100 + n)
  const m = view.getUint16(104 + n)
  if (m > MAX_EXTENSION) throw bad(`extension of ${m} bytes (at most ${MAX_EXTENSION})`)
  if (bytes.length !== PAYLOAD_FIXED_SIZE + n + m) {
    throw bad(`length ${bytes.length} does not match its fields (expected ${PAYLOAD_FIXED_SIZE + n + m})`)
  }
  const flaw = ed25519KeyFlaw(bytes.subarray(0, 32))
  if (flaw !== undefined) throw bad(`identity key is ${flaw}`)
  return {
    identityKey: bytes.slice(0, 32),
    signature: bytes.slice(32, 96),
    username,
    listenPort,
    intent,
    features,
    extension: bytes.slice(106 + n),
  }
}
