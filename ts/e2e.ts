// End-to-end sealing for ENCRYPTED DATA, so relays cannot read it.
//
// Unicast box, version 1 (E2eBoxes; keys in ts/e2e-keys.ts):
//   box   = 0x01 || salt (16) || counter (u64 BE) || ChaCha20-Poly1305(key, nonce, pt, aad)
//   key   = HKDF-SHA256(X25519(sender static, recipient static), salt,
//                       "p4net/2 e2e v1" || senderStaticPub || recipientStaticPub)
//   nonce = 4 zero bytes || counter (u64 BE)
// The salt is random per E2eBoxes (per node instance), so a restarted sender
// has new keys; the counter is one per E2eBoxes, shared by all its
// recipients, so no (key, nonce) pair repeats even when a cached key is
// evicted and derived again. One X25519 per peer and one HKDF per (peer,
// salt), not per message.
//
// Group box (encrypted broadcast under an application-given 32-byte key):
//   box = nonce(12, random) || ChaCha20-Poly1305(HKDF(groupKey, info = "p4net/2 group"), nonce, pt, aad)
//
// The AAD (e2eAad / groupAad) binds the sender's identity key, the recipient,
// the plugin and the message ID, so a relay can neither re-target a box nor
// splice it into another message nor re-send it as its own.
import { hkdfSync, randomBytes, type KeyObject } from 'node:crypto'
import { aead } from './crypto.js'
import { P4Error, expectBytes } from './core/errors.js'
import { encodeUsername } from './core/username.js'
import { counterNonce, NONCE_SIZE, SizedAead, TAG_SIZE, type BoxCipherChoice } from './e2e-aead.js'
import { E2eKeyCache, SALT_SIZE, X25519_SIZE, sameBytes, type BoxKey, type KeyCacheLimits } from './e2e-keys.js'
import type { Kernel } from './wasm/loader.js'

export { X25519_SIZE, SALT_SIZE } from './e2e-keys.js'
export { NODE_CRYPTO_FROM, NONCE_SIZE, TAG_SIZE, type BoxCipherChoice } from './e2e-aead.js'
export const GROUP_INFO = new TextEncoder().encode('p4net/2 group')
export const AAD_DOMAIN = new TextEncoder().encode('p4net/2 e2e aad\0')
/** The unicast box format this build writes and reads (its first byte). */
export const BOX_VERSION = 1
/** version (1) + salt (16) + counter (8). */
export const BOX_HEADER = 1 + SALT_SIZE + 8
/** Bytes a unicast box adds to the plaintext. */
export const SEAL_OVERHEAD = BOX_HEADER + TAG_SIZE
/** Bytes a group box adds to the plaintext. */
export const GROUP_OVERHEAD = NONCE_SIZE + TAG_SIZE
/** Past this many boxes an E2eBoxes takes a new salt (the counter stays exact in a double). */
const MAX_COUNTER = 2 ** 53 - 1

const AAD_UNICAST = 1
const AAD_GROUP = 2

/** The AEAD used for group boxes; ts/crypto.ts `aead` (WASM ChaCha20-Poly1305) by default. */
export interface AeadCipher {
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array | null): Uint8Array
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array | null): Uint8Array | null
}

export interface E2eBoxesOptions {
  cipher?: BoxCipherChoice
  limits?: KeyCacheLimits
  /** The WASM kernel build (default: the process's; tests compare builds). */
  kernel?: Kernel
}

/**
 * One node's end-to-end unicast boxes: seals to recipients and opens from
 * senders, with its own static X25519 key pair, a random salt and a box
 * counter. Use one per identity and process lifetime; never share a salt.
 */
export class E2eBoxes {
  private readonly keys: E2eKeyCache
  private saltBytes: Uint8Array = new Uint8Array(randomBytes(SALT_SIZE))
  private counter = 0
  private readonly nonce = new Uint8Array(NONCE_SIZE)
  /** version || salt || counter of the next box. */
  private readonly head = new Uint8Array(BOX_HEADER)
  private readonly aead: SizedAead

  constructor(own: { staticKey: KeyObject; staticPublicKey: Uint8Array }, opts: E2eBoxesOptions = {}) {
    if (typeof own !== 'object' || own === null) throw new P4Error('BAD_ARGUMENT', 'E2eBoxes needs { staticKey, staticPublicKey }')
    expectBytes(own.staticPublicKey, X25519_SIZE, 'staticPublicKey')
    if (own.staticKey?.asymmetricKeyType !== 'x25519' || own.staticKey.type !== 'private') throw new P4Error('BAD_ARGUMENT', 'staticKey must be an X25519 private KeyObject')
    this.aead = new SizedAead(BOX_HEADER, opts.cipher ?? 'auto', opts.kernel)
    this.keys = new E2eKeyCache(own.staticKey, own.staticPublicKey.slice(), opts.limits)
    this.head[0] = BOX_VERSION
    this.head.set(this.saltBytes, 1)
  }

  /** This instance's salt (a copy). */
  get salt(): Uint8Array {
    return this.saltBytes.slice()
  }

  /** Boxes sealed under the current salt. */
  get sealed(): number {
    return this.counter
  }

  cacheSizes(): { shared: number; sending: number; receiving: number } {
    return this.keys.sizes()
  }

  /** X25519(own static, `peerPub`), cached per peer: the pair secret box and stream keys are derived from. Null for a low-order key. */
  pairSecret(peerPub: Uint8Array): Uint8Array | null {
    expectBytes(peerPub, X25519_SIZE, 'peer X25519 key')
    return this.keys.pairSecret(peerPub)
  }

  /** Seals `plaintext` to `recipientPub` (X25519, 32 bytes). Throws BAD_ARGUMENT for a bad or low-order key. */
  seal(recipientPub: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    expectBytes(recipientPub, X25519_SIZE, 'recipient X25519 key')
    expectBytes(plaintext, undefined, 'plaintext')
    expectBytes(aad, undefined, 'aad')
    if (this.counter >= MAX_COUNTER) {
      this.saltBytes = new Uint8Array(randomBytes(SALT_SIZE))
      this.head.set(this.saltBytes, 1)
      this.counter = 0
      this.keys.resetSending()
    }
    const key = this.keys.sendingKey(recipientPub, this.saltBytes)
    if (key === null) throw new P4Error('BAD_ARGUMENT', 'recipient X25519 key is invalid (low-order point)')
    const c = this.counter++
    const nonce = counterNonce(this.nonce, c)
    const head = this.head
    head.set(nonce.subarray(4), 1 + SALT_SIZE)
    return this.aead.seal(head, key, nonce, plaintext, aad)
  }

  /**
   * Opens a box from the sender whose static X25519 key is `senderPub`.
   * Returns the plaintext, or null when the box is malformed, of another
   * version, not for this key pair, tampered with, or the AAD differs.
   * Bad *arguments* (not bytes) throw BAD_ARGUMENT.
   */
  /** Receiving keys derived so far: an open that derived one cost an HKDF (and an X25519 for a new sender). */
  get derivations(): number {
    return this.keys.derivations
  }

  open(senderPub: Uint8Array, box: Uint8Array, aad: Uint8Array): Uint8Array | null {
    expectBytes(senderPub, X25519_SIZE, 'sender X25519 key')
    expectBytes(box, undefined, 'box')
    expectBytes(aad, undefined, 'aad')
    if (box.length < SEAL_OVERHEAD || box[0] !== BOX_VERSION) return null
    const key: BoxKey | null = this.keys.receivingKey(senderPub, box.subarray(1, 1 + SALT_SIZE))
    if (key === null) return null
    const nonce = this.nonce
    nonce.fill(0, 0, 4)
    nonce.set(box.subarray(1 + SALT_SIZE, BOX_HEADER), 4)
    return this.aead.open(key, nonce, box.subarray(BOX_HEADER), aad)
  }
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24
  b[at + 1] = (v >>> 16) & 0xff
  b[at + 2] = (v >>> 8) & 0xff
  b[at + 3] = v & 0xff
}

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, 32))
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
  if (typeof messageId !== 'bigint' || BigInt.asUintN(64, messageId) !== messageId) throw new P4Error('BAD_ARGUMENT', 'messageId must be a u64 bigint')
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
  const prefix = unicastPrefix(f.sender, f.recipient)
  const out = new Uint8Array(prefix.length + 2 + 8)
  out.set(prefix, 0)
  writeIds(out, prefix.length, f.pluginId, f.messageId)
  return out
}

/** u16 pluginId || u64 messageId, big-endian, at `at` (bytes by hand: a DataView per AAD cost a microsecond). */
function writeIds(out: Uint8Array, at: number, pluginId: number, messageId: bigint): void {
  out[at] = pluginId >>> 8
  out[at + 1] = pluginId & 0xff
  writeU32(out, at + 2, Number(messageId >> 32n))
  writeU32(out, at + 6, Number(messageId & 0xffffffffn))
}

// The unicast AAD up to the recipient's name is the same for every message
// between two users: the last one is kept (validating and encoding a
// username costs more than the rest of the AAD).
let lastPrefix: { sender: Uint8Array; recipient: string; prefix: Uint8Array } | undefined

function unicastPrefix(sender: Uint8Array, recipient: string): Uint8Array {
  const m = lastPrefix
  if (m !== undefined && m.recipient === recipient && sameBytes(m.sender, sender)) return m.prefix
  const name = encodeUsername(recipient)
  const d = AAD_DOMAIN.length
  const prefix = new Uint8Array(d + 1 + 32 + 1 + name.length)
  prefix.set(AAD_DOMAIN, 0)
  prefix[d] = AAD_UNICAST
  prefix.set(sender, d + 1)
  prefix[d + 33] = name.length
  prefix.set(name, d + 34)
  lastPrefix = { sender: sender.slice(), recipient, prefix }
  return prefix
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
  out.set(AAD_DOMAIN, 0)
  out[d] = AAD_GROUP
  out.set(f.sender, d + 1)
  writeIds(out, d + 33, f.pluginId, f.messageId)
  return out
}
