// End-to-end sealing for ENCRYPTED DATA, so relays cannot read it.
//
// Unicast box (sealed to the recipient's X25519 HELLO staticKey):
//   box = ephPub(32) || ChaCha20-Poly1305(key, nonce = 12 zero bytes, pt, aad)
//   key = HKDF-SHA256(ikm = X25519(eph, recipient), salt = ephPub || recipientPub,
//                     info = "p4net/2 e2e")
// Every box has a fresh ephemeral key, hence a fresh AEAD key, so the fixed
// nonce is never reused under one key.
//
// Group box (encrypted broadcast under an application-given 32-byte key):
//   box = nonce(12, random) || ChaCha20-Poly1305(HKDF(groupKey, info = "p4net/2 group"), nonce, pt, aad)
//
// The AAD (e2eAad / groupAad) binds the sender's identity key, the recipient,
// the plugin and the message ID, so a relay can neither re-target a box nor
// splice it into another message nor re-send it as its own.
import { createPublicKey, diffieHellman, hkdfSync, randomBytes, type KeyObject } from 'node:crypto'
import { aead } from './crypto.js'
import { P4Error, expectBytes } from './core/errors.js'
import { freshKeyPair, x25519PrivateKey } from './core/identity.js'
import { encodeUsername } from './core/username.js'

export const E2E_INFO = new TextEncoder().encode('p4net/2 e2e')
export const GROUP_INFO = new TextEncoder().encode('p4net/2 group')
export const AAD_DOMAIN = new TextEncoder().encode('p4net/2 e2e aad\0')
export const X25519_SIZE = 32
export const TAG_SIZE = 16
export const NONCE_SIZE = 12
/** Bytes a unicast box adds to the plaintext. */
export const SEAL_OVERHEAD = X25519_SIZE + TAG_SIZE
/** Bytes a group box adds to the plaintext. */
export const GROUP_OVERHEAD = NONCE_SIZE + TAG_SIZE

const ZERO_NONCE = new Uint8Array(NONCE_SIZE)
const AAD_UNICAST = 1
const AAD_GROUP = 2

/** The AEAD used for boxes; ts/crypto.ts `aead` (WASM ChaCha20-Poly1305) by default. */
export interface AeadCipher {
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array | null): Uint8Array
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array | null): Uint8Array | null
}

/** A recipient's X25519 private key: a KeyObject, the raw 32 bytes, or an Identity's pair. */
export type X25519Private = KeyObject | Uint8Array | { staticKey: KeyObject; staticPublicKey: Uint8Array }

// Raw X25519 keys cross into node:crypto as JWK: importing and exporting a
// raw key that way is much cheaper than through a DER SubjectPublicKeyInfo
// (OpenSSL 3's decoder framework).
function importPublic(raw: Uint8Array): KeyObject {
  const x = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url')
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' })
}

function exportPublic(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  return new Uint8Array(Buffer.from(pub.export({ format: 'jwk' }).x as string, 'base64url'))
}

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, 32))
}

function allZero(b: Uint8Array): boolean {
  let acc = 0
  for (let i = 0; i < b.length; i++) acc |= b[i]!
  return acc === 0
}

/** X25519; null when the peer key is unusable or the result is all zero (a low-order point). */
function dh(privateKey: KeyObject, publicRaw: Uint8Array): Uint8Array | null {
  let shared: Buffer
  try {
    shared = diffieHellman({ privateKey, publicKey: importPublic(publicRaw) })
  } catch {
    return null
  }
  return allZero(shared) ? null : new Uint8Array(shared)
}

function e2eKey(shared: Uint8Array, ephPub: Uint8Array, recipientPub: Uint8Array): Uint8Array {
  const salt = new Uint8Array(2 * X25519_SIZE)
  salt.set(ephPub, 0)
  salt.set(recipientPub, X25519_SIZE)
  return hkdf(shared, salt, E2E_INFO)
}

/** Seals `plaintext` to `recipientPub` (X25519, 32 bytes). Throws BAD_ARGUMENT for a bad or low-order key. */
export function sealTo(recipientPub: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, cipher: AeadCipher = aead): Uint8Array {
  expectBytes(recipientPub, X25519_SIZE, 'recipient X25519 key')
  expectBytes(plaintext, undefined, 'plaintext')
  expectBytes(aad, undefined, 'aad')
  // Not generateKeyPairSync's KeyObjects: exporting those can deadlock (see freshKeyPair).
  const eph = freshKeyPair('x25519')
  const ephPub = eph.publicKey
  const shared = dh(eph.privateKey, recipientPub)
  if (shared === null) throw new P4Error('BAD_ARGUMENT', 'recipient X25519 key is invalid (low-order point)')
  const sealed = cipher.seal(e2eKey(shared, ephPub, recipientPub), ZERO_NONCE, plaintext, aad)
  const box = new Uint8Array(X25519_SIZE + sealed.length)
  box.set(ephPub, 0)
  box.set(sealed, X25519_SIZE)
  return box
}

function recipientKeys(r: X25519Private): { priv: KeyObject; pub: Uint8Array } {
  if (r instanceof Uint8Array) {
    const priv = x25519PrivateKey(r)
    return { priv, pub: exportPublic(priv) }
  }
  if (typeof r === 'object' && r !== null && 'staticKey' in r) {
    expectBytes(r.staticPublicKey, X25519_SIZE, 'staticPublicKey')
    if (r.staticKey?.asymmetricKeyType !== 'x25519' || r.staticKey.type !== 'private') throw new P4Error('BAD_ARGUMENT', 'staticKey must be an X25519 private KeyObject')
    return { priv: r.staticKey, pub: r.staticPublicKey }
  }
  const k = r as KeyObject
  if (typeof k !== 'object' || k === null || k.asymmetricKeyType !== 'x25519' || k.type !== 'private') {
    throw new P4Error('BAD_ARGUMENT', 'recipient key must be an X25519 private key (KeyObject, 32 bytes or an Identity)')
  }
  return { priv: k, pub: exportPublic(k) }
}

/**
 * Opens a unicast box with the recipient's X25519 private key. Returns the
 * plaintext, or null when the box is malformed, not for this key, tampered
 * with, or the AAD differs. Bad *arguments* (not bytes) throw BAD_ARGUMENT.
 */
export function openFrom(recipient: X25519Private, box: Uint8Array, aad: Uint8Array, cipher: AeadCipher = aead): Uint8Array | null {
  const { priv, pub } = recipientKeys(recipient)
  expectBytes(box, undefined, 'box')
  expectBytes(aad, undefined, 'aad')
  if (box.length < SEAL_OVERHEAD) return null
  const ephPub = box.subarray(0, X25519_SIZE)
  const shared = dh(priv, ephPub)
  if (shared === null) return null
  return cipher.open(e2eKey(shared, ephPub, pub), ZERO_NONCE, box.subarray(X25519_SIZE), aad)
}

function groupKeyOf(groupKey: Uint8Array): Uint8Array {
  expectBytes(groupKey, 32, 'group key')
  return hkdf(groupKey, new Uint8Array(0), GROUP_INFO)
}

/**
 * Seals under a 32-byte group key with a random 96-bit nonce. Random nonces
 * collide after about 2^48 messages; rotate a group key long before 2^32.
 */
export function sealGroup(groupKey: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, cipher: AeadCipher = aead): Uint8Array {
  const key = groupKeyOf(groupKey)
  expectBytes(plaintext, undefined, 'plaintext')
  expectBytes(aad, undefined, 'aad')
  const nonce = new Uint8Array(randomBytes(NONCE_SIZE))
  const sealed = cipher.seal(key, nonce, plaintext, aad)
  const box = new Uint8Array(NONCE_SIZE + sealed.length)
  box.set(nonce, 0)
  box.set(sealed, NONCE_SIZE)
  return box
}

/** Opens a group box; null when malformed, under another key, tampered with, or the AAD differs. */
export function openGroup(groupKey: Uint8Array, box: Uint8Array, aad: Uint8Array, cipher: AeadCipher = aead): Uint8Array | null {
  const key = groupKeyOf(groupKey)
  expectBytes(box, undefined, 'box')
  expectBytes(aad, undefined, 'aad')
  if (box.length < GROUP_OVERHEAD) return null
  return cipher.open(key, box.subarray(0, NONCE_SIZE), box.subarray(NONCE_SIZE), aad)
}

// ---------------------------------------------------------------------------
// AAD

function checkAadFields(sender: Uint8Array, pluginId: number, messageId: bigint): void {
  expectBytes(sender, 32, 'sender identity key')
  if (!Number.isInteger(pluginId) || pluginId < 0 || pluginId > 0xffff) throw new P4Error('BAD_ARGUMENT', `bad pluginId ${String(pluginId)}`)
  if (typeof messageId !== 'bigint' || messageId < 0n || messageId > 0xffffffffffffffffn) throw new P4Error('BAD_ARGUMENT', 'messageId must be a u64 bigint')
}

/**
 * AAD for a unicast box:
 *   "p4net/2 e2e aad\0" || 0x01 || senderIdentityKey(32) || str8 recipientUsername
 *   || pluginId u16 || messageId u64
 * Both ends rebuild it: the sender from its own key and the target, the
 * recipient from the authenticated sender (session peer or origin key), its
 * own username and the frame header.
 */
export function e2eAad(f: { sender: Uint8Array; recipient: string; pluginId: number; messageId: bigint }): Uint8Array {
  if (typeof f !== 'object' || f === null) throw new P4Error('BAD_ARGUMENT', 'AAD fields must be an object')
  checkAadFields(f.sender, f.pluginId, f.messageId)
  const name = encodeUsername(f.recipient)
  const d = AAD_DOMAIN.length
  const out = new Uint8Array(d + 1 + 32 + 1 + name.length + 2 + 8)
  const dv = new DataView(out.buffer)
  out.set(AAD_DOMAIN, 0)
  out[d] = AAD_UNICAST
  out.set(f.sender, d + 1)
  out[d + 33] = name.length
  out.set(name, d + 34)
  dv.setUint16(d + 34 + name.length, f.pluginId)
  dv.setBigUint64(d + 36 + name.length, f.messageId)
  return out
}

/**
 * AAD for a group box:
 *   "p4net/2 e2e aad\0" || 0x02 || originKey(32) || pluginId u16 || messageId u64
 */
export function groupAad(f: { sender: Uint8Array; pluginId: number; messageId: bigint }): Uint8Array {
  if (typeof f !== 'object' || f === null) throw new P4Error('BAD_ARGUMENT', 'AAD fields must be an object')
  checkAadFields(f.sender, f.pluginId, f.messageId)
  const d = AAD_DOMAIN.length
  const out = new Uint8Array(d + 1 + 32 + 2 + 8)
  const dv = new DataView(out.buffer)
  out.set(AAD_DOMAIN, 0)
  out[d] = AAD_GROUP
  out.set(f.sender, d + 1)
  dv.setUint16(d + 33, f.pluginId)
  dv.setBigUint64(d + 35, f.messageId)
  return out
}
