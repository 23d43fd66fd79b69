// Keys of the end-to-end unicast box (ts/e2e.ts), derived once and cached.
//
//   shared(A, B)        = X25519(own static private, peer static public)   (same at both ends)
//   key(S → R, salt)    = HKDF-SHA256(ikm = shared, salt = salt (16),
//                                     info = "p4net/2 e2e v1" || S static pub || R static pub, 32)
//
// S is the sender, R the recipient, salt the sender's per-instance random
// epoch. The sender holds one key per recipient (under its own salt); the
// recipient one per (sender, salt). Every cache is bounded (least recently
// used goes first), so peers that keep changing keys or salts cost CPU for
// the derivations (charged to their sessions) but never grow memory.
import { createPublicKey, createSecretKey, diffieHellman, hkdfSync, type KeyObject } from 'node:crypto'

export const X25519_SIZE = 32
export const SALT_SIZE = 16
export const E2E_KEY_INFO = new TextEncoder().encode('p4net/2 e2e v1')

/** A derived box key: raw bytes (WASM AEAD) and the same key as a KeyObject (node:crypto AEAD), made on first use. */
export interface BoxKey {
  readonly raw: Uint8Array
  node: KeyObject | undefined
}

/** A Map that keeps at most `max` entries, dropping the least recently used. */
export class BoundedCache<V> {
  private readonly map = new Map<string, V>()
  constructor(readonly max: number) {}

  get(k: string): V | undefined {
    const v = this.map.get(k)
    if (v !== undefined) {
      // Most recently used last: delete and re-insert.
      this.map.delete(k)
      this.map.set(k, v)
    }
    return v
  }

  set(k: string, v: V): void {
    this.map.delete(k)
    this.map.set(k, v)
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value!)
  }

  clear(): void {
    this.map.clear()
  }

  get size(): number {
    return this.map.size
  }
}

function latin1(...parts: Uint8Array[]): string {
  let s = ''
  for (const p of parts) s += Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('latin1')
  return s
}

/** Whether `b` holds the bytes of `a` from `at` (public values). */
function sameAt(a: Uint8Array, b: Uint8Array, at: number): boolean {
  if (b.length < at + a.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[at + i]) return false
  return true
}

/** Byte equality (public values: no constant time needed). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function allZero(b: Uint8Array): boolean {
  let acc = 0
  for (let i = 0; i < b.length; i++) acc |= b[i]!
  return acc === 0
}

function importPublic(raw: Uint8Array): KeyObject {
  const x = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url')
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' })
}

/** X25519; null when the peer key is unusable or the result is all zero (a low-order point). */
export function x25519(privateKey: KeyObject, publicRaw: Uint8Array): Uint8Array | null {
  let shared: Buffer
  try {
    shared = diffieHellman({ privateKey, publicKey: importPublic(publicRaw) })
  } catch {
    return null
  }
  return allZero(shared) ? null : new Uint8Array(shared)
}

/** key(S → R, salt) as above, from the static-static shared secret. */
export function boxKey(shared: Uint8Array, salt: Uint8Array, senderPub: Uint8Array, recipientPub: Uint8Array): Uint8Array {
  const info = new Uint8Array(E2E_KEY_INFO.length + 2 * X25519_SIZE)
  info.set(E2E_KEY_INFO, 0)
  info.set(senderPub, E2E_KEY_INFO.length)
  info.set(recipientPub, E2E_KEY_INFO.length + X25519_SIZE)
  return new Uint8Array(hkdfSync('sha256', shared, salt, info, 32))
}

/** The node:crypto form of a box key, made once per key. */
export function nodeKey(k: BoxKey): KeyObject {
  return (k.node ??= createSecretKey(k.raw))
}

export interface KeyCacheLimits {
  /** Peers whose X25519 shared secret is kept, and recipients whose sending key is kept (default 1024). */
  peers?: number
  /** (sender, salt) receiving keys kept (default 2048: a restarted sender's new salt needs a slot next to its old one). */
  receiving?: number
}

/** Both ends' key caches for one static key pair. */
export class E2eKeyCache {
  private readonly shared: BoundedCache<Uint8Array>
  private readonly sending: BoundedCache<BoxKey>
  private readonly receiving: BoundedCache<BoxKey>

  constructor(
    private readonly priv: KeyObject,
    readonly pub: Uint8Array,
    limits: KeyCacheLimits = {},
  ) {
    const peers = limits.peers ?? 1024
    this.shared = new BoundedCache(peers)
    this.sending = new BoundedCache(peers)
    this.receiving = new BoundedCache(limits.receiving ?? 2 * peers)
  }

  /** X25519(own, `peerPub`), cached; null for a low-order key. */
  pairSecret(peerPub: Uint8Array): Uint8Array | null {
    return this.sharedWith(peerPub, latin1(peerPub))
  }

  private sharedWith(peerPub: Uint8Array, id: string): Uint8Array | null {
    let s = this.shared.get(id)
    if (s === undefined) {
      const dh = x25519(this.priv, peerPub)
      if (dh === null) return null
      this.shared.set(id, (s = dh))
    }
    return s
  }

  // The last key used each way, checked before the maps: a node mostly
  // talks to the peer it just talked to (no string key, no LRU reordering).
  // `ref` is the array the key came in (the user table's, never changed in
  // place): the same array is the same key without comparing bytes.
  private lastSend: { ref: Uint8Array; pub: Uint8Array; key: BoxKey } | undefined
  private lastRecv: { ref: Uint8Array; pub: Uint8Array; salt: Uint8Array; key: BoxKey } | undefined

  /** The key for sending to `recipientPub` under `salt` (this end's own); null for a low-order key. */
  sendingKey(recipientPub: Uint8Array, salt: Uint8Array): BoxKey | null {
    const last = this.lastSend
    if (last !== undefined && (last.ref === recipientPub || sameBytes(last.pub, recipientPub))) return last.key
    const id = latin1(recipientPub)
    let k = this.sending.get(id)
    if (k === undefined) {
      const s = this.sharedWith(recipientPub, id)
      if (s === null) return null
      k = { raw: boxKey(s, salt, this.pub, recipientPub), node: undefined }
      this.sending.set(id, k)
    }
    this.lastSend = { ref: recipientPub, pub: recipientPub.slice(), key: k }
    return k
  }

  /** The key for a box from `senderPub` under the sender's `salt`; null for a low-order key. */
  /** Receiving keys derived so far (an HKDF, and an X25519 for a new sender): the costly part of opening. */
  derivations = 0

  // (`salt` may be the whole box: the salt is its bytes from `at`.)
  receivingKey(senderPub: Uint8Array, bytes: Uint8Array, at = 0): BoxKey | null {
    const last = this.lastRecv
    if (last !== undefined && sameAt(last.salt, bytes, at) && (last.ref === senderPub || sameBytes(last.pub, senderPub))) return last.key
    const salt = bytes.subarray(at, at + SALT_SIZE)
    const id = latin1(senderPub, salt)
    let k = this.receiving.get(id)
    if (k === undefined) {
      this.derivations++
      const s = this.sharedWith(senderPub, id.slice(0, X25519_SIZE))
      if (s === null) return null
      k = { raw: boxKey(s, salt, senderPub, this.pub), node: undefined }
      this.receiving.set(id, k)
    }
    this.lastRecv = { ref: senderPub, pub: senderPub.slice(), salt: salt.slice(), key: k }
    return k
  }

  /** Forgets the sending keys (the sender's salt changed). */
  resetSending(): void {
    this.sending.clear()
    this.lastSend = undefined
  }

  sizes(): { shared: number; sending: number; receiving: number } {
    return { shared: this.shared.size, sending: this.sending.size, receiving: this.receiving.size }
  }
}
