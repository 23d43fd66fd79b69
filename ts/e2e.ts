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
import { unicastAad, unicastPrefix } from './e2e-aad.js'
import { NONCE_SIZE, SizedAead, TAG_SIZE, type BoxCipherChoice } from './e2e-aead.js'
import { E2eKeyCache, SALT_SIZE, X25519_SIZE, type BoxKey, type KeyCacheLimits } from './e2e-keys.js'
import type { Kernel } from './wasm/loader.js'
import { writeU32 } from './core/bytes.js'

export { X25519_SIZE, SALT_SIZE } from './e2e-keys.js'
export { AAD_DOMAIN, e2eAad, groupAad } from './e2e-aad.js'
export { NODE_CRYPTO_FROM, NONCE_SIZE, TAG_SIZE, type BoxCipherChoice } from './e2e-aead.js'
export const GROUP_INFO = new TextEncoder().encode('p4net/2 group')
/** The unicast box format this build writes and reads (its first byte). */
export const BOX_VERSION = 1
/** version (1) + salt (16) + counter (8). */
export const BOX_HEADER = 1 + SALT_SIZE + 8
/** Bytes a unicast box adds to the plaintext. */
export const SEAL_OVERHEAD = BOX_HEADER + TAG_SIZE
/** Bytes a group box adds to the plaintext. */
export const GROUP_OVERHEAD = NONCE_SIZE + TAG_SIZE
/**
 * sealUnicast() hands out smaller boxes as views of WASM memory; its callers
 * copy them at once (the send queue copies every payload below 16 KiB).
 */
export const VIEW_MAX = 8 * 1024
/** Past this many boxes an E2eBoxes takes a new salt (the counter stays exact in a double). */
const MAX_COUNTER = 2 ** 53 - 1


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
  /** The counter of the box being sealed, as two u32 halves. */
  private counterHi = 0
  private counterLo = 0
  private readonly nonce = new Uint8Array(NONCE_SIZE)
  /** version || salt || counter of the next box. */
  private readonly head = new Uint8Array(BOX_HEADER)
  /** version || salt: a new array with every salt (WasmBoxCipher keeps it by identity). */
  private saltHead = new Uint8Array(1 + SALT_SIZE)
  private readonly aead: SizedAead

  constructor(own: { staticKey: KeyObject; staticPublicKey: Uint8Array }, opts: E2eBoxesOptions = {}) {
    if (typeof own !== 'object' || own === null) throw new P4Error('BAD_ARGUMENT', 'E2eBoxes needs { staticKey, staticPublicKey }')
    expectBytes(own.staticPublicKey, X25519_SIZE, 'staticPublicKey')
    if (own.staticKey?.asymmetricKeyType !== 'x25519' || own.staticKey.type !== 'private') throw new P4Error('BAD_ARGUMENT', 'staticKey must be an X25519 private KeyObject')
    this.aead = new SizedAead(BOX_HEADER, opts.cipher ?? 'auto', opts.kernel)
    this.keys = new E2eKeyCache(own.staticKey, own.staticPublicKey.slice(), opts.limits)
    this.head[0] = BOX_VERSION
    this.head.set(this.saltBytes, 1)
    this.saltHead = this.head.slice(0, 1 + SALT_SIZE)
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
    expectBytes(aad, undefined, 'aad')
    const key = this.nextBox(recipientPub, plaintext)
    this.writeNonce()
    return this.aead.seal(this.head, key, this.nonce, plaintext, aad)
  }

  /**
   * seal() with the unicast AAD (e2eAad) of sender identity key `sender`,
   * `recipient`, `pluginId` and message ID (hi, lo), built without an AAD
   * array or a bigint. A box sealed in WASM under VIEW_MAX bytes is returned
   * as a view of WASM memory, valid only until the next call into this
   * E2eBoxes or anything that can grow WASM memory: copy it before then.
   */
  sealUnicast(recipientPub: Uint8Array, plaintext: Uint8Array, sender: Uint8Array, recipient: string, pluginId: number, hi: number, lo: number): Uint8Array {
    const prefix = unicastPrefix(sender, recipient)
    const key = this.nextBox(recipientPub, plaintext)
    if (!this.aead.useNode(plaintext.length)) {
      // (the kernel writes the counter into the nonce and the header itself)
      const box = this.aead.wasm.sealIds(this.saltHead, this.counterHi, this.counterLo, key.raw, plaintext, prefix, pluginId, hi, lo)
      return box.length < VIEW_MAX ? box : box.slice()
    }
    this.writeNonce()
    return this.aead.seal(this.head, key, this.nonce, plaintext, unicastAad(prefix, pluginId, hi, lo))
  }

  // The key for the next box to `recipientPub`, with the counter drawn for it.
  private nextBox(recipientPub: Uint8Array, plaintext: Uint8Array): BoxKey {
    expectBytes(recipientPub, X25519_SIZE, 'recipient X25519 key')
    expectBytes(plaintext, undefined, 'plaintext')
    if (this.counter >= MAX_COUNTER) {
      this.saltBytes = new Uint8Array(randomBytes(SALT_SIZE))
      this.head.set(this.saltBytes, 1)
      this.saltHead = this.head.slice(0, 1 + SALT_SIZE)
      this.counter = 0
      this.keys.resetSending()
    }
    const key = this.keys.sendingKey(recipientPub, this.saltBytes)
    if (key === null) throw new P4Error('BAD_ARGUMENT', 'recipient X25519 key is invalid (low-order point)')
    const c = this.counter++
    this.counterHi = Math.floor(c / 2 ** 32)
    this.counterLo = c >>> 0
    return key
  }

  // this.nonce and the counter in this.head for the box nextBox() drew (the node:crypto and AAD-array paths).
  private writeNonce(): void {
    const nonce = this.nonce
    writeU32(nonce, 0, 0)
    writeU32(nonce, 4, this.counterHi)
    writeU32(nonce, 8, this.counterLo)
    const head = this.head
    for (let i = 4; i < NONCE_SIZE; i++) head[1 + SALT_SIZE + i - 4] = nonce[i]!
  }

  /** Receiving keys derived so far: an open that derived one cost an HKDF (and an X25519 for a new sender). */
  get derivations(): number {
    return this.keys.derivations
  }

  /**
   * Opens a box from the sender whose static X25519 key is `senderPub`.
   * Returns the plaintext, or null when the box is malformed, of another
   * version, not for this key pair, tampered with, or the AAD differs.
   * Bad *arguments* (not bytes) throw BAD_ARGUMENT.
   */
  open(senderPub: Uint8Array, box: Uint8Array, aad: Uint8Array): Uint8Array | null {
    expectBytes(aad, undefined, 'aad')
    const key = this.boxKeyOf(senderPub, box)
    if (key === null) return null
    this.readNonce(box)
    return this.aead.open(key, this.nonce, box.subarray(BOX_HEADER), aad)
  }

  /** open() with the unicast AAD, as sealUnicast() builds it. */
  openUnicast(senderPub: Uint8Array, box: Uint8Array, sender: Uint8Array, recipient: string, pluginId: number, hi: number, lo: number): Uint8Array | null {
    const prefix = unicastPrefix(sender, recipient)
    const key = this.boxKeyOf(senderPub, box)
    if (key === null) return null
    if (!this.aead.useNode(box.length - SEAL_OVERHEAD)) return this.aead.wasm.openIds(key.raw, box, prefix, pluginId, hi, lo)
    this.readNonce(box)
    return this.aead.open(key, this.nonce, box.subarray(BOX_HEADER), unicastAad(prefix, pluginId, hi, lo))
  }

  // The receiving key of a box (null: malformed, another version, unusable key).
  private boxKeyOf(senderPub: Uint8Array, box: Uint8Array): BoxKey | null {
    expectBytes(senderPub, X25519_SIZE, 'sender X25519 key')
    expectBytes(box, undefined, 'box')
    if (box.length < SEAL_OVERHEAD || box[0] !== BOX_VERSION) return null
    return this.keys.receivingKey(senderPub, box, 1)
  }

  // this.nonce from a box's counter (the node:crypto and AAD-array paths; the kernel reads it itself).
  private readNonce(box: Uint8Array): void {
    const nonce = this.nonce
    writeU32(nonce, 0, 0)
    for (let i = 4; i < NONCE_SIZE; i++) nonce[i] = box[1 + SALT_SIZE + i - 4]!
  }
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
