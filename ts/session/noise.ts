// The Noise Protocol Framework (revision 34) pieces p4net uses: CipherState,
// SymmetricState and a HandshakeState for pattern XX, with DH = X25519
// (node:crypto), cipher = ChaCha20-Poly1305 (an Aead object), hash = BLAKE2s
// (the WebAssembly kernel, assembly/blake2s.ts) or SHA-256 (node:crypto).
// Everything is synchronous, so a handshake costs no promises.
import { createCipheriv, createDecipheriv, createHash, createHmac, diffieHellman } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { aead as wasmAead } from '../crypto.js'
import { expectBytes, P4Error } from '../core/errors.js'
import { freshKeyPair, rawPublicKey, x25519PrivateKey, x25519PublicKey } from '../core/identity.js'
import { blake2sFor, type Blake2s } from '../wasm/blake2s.js'

// ---- AEAD ----

/** ChaCha20-Poly1305 (RFC 8439) with a 32-byte key and 12-byte nonce; sealed = ciphertext || 16-byte tag. */
export interface Aead {
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array
  /** The plaintext, or null when the tag does not verify. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null
}

/** The node:crypto (OpenSSL) ChaCha20-Poly1305: a reference for tests and benchmarks. */
export const nodeAead: Aead = {
  seal(key, nonce, plaintext, aad) {
    const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
    c.setAAD(aad, { plaintextLength: plaintext.length })
    const body = c.update(plaintext)
    c.final()
    const out = new Uint8Array(body.length + 16)
    out.set(body)
    out.set(c.getAuthTag(), body.length)
    return out
  },
  open(key, nonce, sealed, aad) {
    if (sealed.length < 16) return null
    const n = sealed.length - 16
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
    d.setAAD(aad, { plaintextLength: n })
    d.setAuthTag(sealed.subarray(n))
    const body = d.update(sealed.subarray(0, n))
    try {
      d.final()
    } catch {
      return null
    }
    return new Uint8Array(body.buffer, body.byteOffset, body.length)
  },
}

// The WebAssembly ChaCha20-Poly1305 (ts/crypto.ts), like the data channel.
let defaultAead: Aead = wasmAead

/** The AEAD new CipherStates use when none is given. */
export function setDefaultAead(aead: Aead): void {
  if (typeof aead?.seal !== 'function' || typeof aead.open !== 'function') {
    throw new P4Error('BAD_ARGUMENT', 'an Aead needs seal() and open()')
  }
  defaultAead = aead
}
export function getDefaultAead(): Aead {
  return defaultAead
}

// ---- hash, HMAC, HKDF ----

export type NoiseHashName = 'BLAKE2s' | 'SHA256'

/** A Noise hash function. Both supported ones have HASHLEN 32 and BLOCKLEN 64. */
export interface NoiseHash {
  readonly name: NoiseHashName
  hash(a: Uint8Array, b?: Uint8Array): Uint8Array
  hmac(key: Uint8Array, a: Uint8Array, b?: Uint8Array): Uint8Array
}

const HASHLEN = 32

const sha256: NoiseHash = {
  name: 'SHA256',
  hash(a, b) {
    const h = createHash('sha256').update(a)
    if (b) h.update(b)
    return h.digest()
  },
  hmac(key, a, b) {
    const h = createHmac('sha256', key).update(a)
    if (b) h.update(b)
    return h.digest()
  },
}

// The kernel's BLAKE2s, taken on first use (instantiating the kernel if need be).
let kernelBlake2s: Blake2s | undefined
const b2 = (): Blake2s => (kernelBlake2s ??= blake2sFor())

const blake2s: NoiseHash = {
  name: 'BLAKE2s',
  hash: (a, b) => b2().hash(a, b),
  hmac: (key, a, b) => b2().hmac(key, a, b),
}

const ready = Promise.resolve()

/**
 * Kept for callers written when BLAKE2s came from an asynchronously loaded
 * module: everything here is synchronous now, and this resolves at once.
 */
export function initNoise(): Promise<void> {
  return ready
}

/** The named hash (BLAKE2s or SHA256). */
export function noiseHash(name: NoiseHashName): NoiseHash {
  if (name === 'SHA256') return sha256
  if (name === 'BLAKE2s') return blake2s
  throw new P4Error('BAD_ARGUMENT', `unknown Noise hash ${JSON.stringify(name)} (BLAKE2s or SHA256)`)
}

const ONE = new Uint8Array([1])
const TWO = new Uint8Array([2])
const EMPTY = new Uint8Array(0)

/** Noise HKDF with two outputs (the only count XX needs). */
export function hkdf2(hash: NoiseHash, chainingKey: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array] {
  const temp = hash.hmac(chainingKey, ikm)
  const out1 = hash.hmac(temp, ONE)
  const out2 = hash.hmac(temp, out1, TWO)
  return [out1, out2]
}

// ---- DH ----

export interface DhKeyPair {
  /** Raw 32-byte X25519 public key. */
  readonly publicKey: Uint8Array
  /** The private key as a node:crypto KeyObject. */
  readonly keyObject: KeyObject
}

/** An X25519 key pair: from a raw 32-byte secret (tests, saved keys) or fresh. */
export function x25519KeyPair(secretKey?: Uint8Array): DhKeyPair {
  if (!secretKey) {
    // Not generateKeyPairSync's KeyObject: exporting it can deadlock (see freshKeyPair).
    const fresh = freshKeyPair('x25519')
    return { publicKey: fresh.publicKey, keyObject: fresh.privateKey }
  }
  const keyObject = x25519PrivateKey(secretKey)
  return { publicKey: rawPublicKey(keyObject), keyObject }
}

/** X25519(own private, remote public). A low-order remote key is refused (BAD_HANDSHAKE). */
export function dh(own: DhKeyPair, remote: KeyObject): Uint8Array {
  try {
    return diffieHellman({ privateKey: own.keyObject, publicKey: remote })
  } catch (err) {
    throw new P4Error('BAD_HANDSHAKE', 'X25519 failed (low-order public key?)', { cause: err })
  }
}

// ---- CipherState ----

const U32 = 0x1_0000_0000

export class CipherState {
  private k: Uint8Array | null = null
  // n as two u32 halves: exact up to 2^64-1 without BigInt on the hot path.
  private lo = 0
  private hi = 0
  private readonly nonce = new Uint8Array(12)
  private readonly nonceView = new DataView(this.nonce.buffer)
  readonly aead: Aead

  constructor(key: Uint8Array | null = null, aead: Aead = defaultAead) {
    if (typeof aead?.seal !== 'function' || typeof aead.open !== 'function') {
      throw new P4Error('BAD_ARGUMENT', 'an Aead needs seal() and open()')
    }
    this.aead = aead
    if (key !== null) this.initializeKey(key)
  }

  /** InitializeKey: sets k and resets n to 0. */
  initializeKey(key: Uint8Array): void {
    expectBytes(key, 32, 'cipher key')
    this.k = new Uint8Array(key)
    this.lo = 0
    this.hi = 0
  }

  hasKey(): boolean {
    return this.k !== null
  }

  /** A copy of k (32 bytes), or null. */
  get key(): Uint8Array | null {
    return this.k && new Uint8Array(this.k)
  }

  /** The next nonce n. */
  get n(): bigint {
    return (BigInt(this.hi) << 32n) | BigInt(this.lo)
  }

  /** SetNonce (used by tests and by out-of-order transports). */
  setNonce(n: bigint): void {
    if (typeof n !== 'bigint' || n < 0n || n > 0xffff_ffff_ffff_ffffn) {
      throw new P4Error('BAD_ARGUMENT', 'nonce must be a bigint in 0..2^64-1')
    }
    this.lo = Number(n & 0xffff_ffffn)
    this.hi = Number(n >> 32n)
  }

  /** 4 zero bytes || little-endian u64 n; refuses the reserved 2^64-1. */
  private nextNonce(): Uint8Array {
    if (this.lo === U32 - 1 && this.hi === U32 - 1) {
      throw new P4Error('NONCE_EXHAUSTED', 'cipher nonce reached 2^64-1: rekey or start a new session')
    }
    this.nonceView.setUint32(4, this.lo, true)
    this.nonceView.setUint32(8, this.hi, true)
    return this.nonce
  }

  private advance(): void {
    if (++this.lo === U32) {
      this.lo = 0
      this.hi++
    }
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.k === null) return plaintext
    const sealed = this.aead.seal(this.k, this.nextNonce(), plaintext, ad)
    this.advance()
    return sealed
  }

  /** Throws DECRYPT_FAILED (n unchanged) when authentication fails. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (this.k === null) return ciphertext
    const nonce = this.nextNonce()
    const plain = ciphertext.length < 16 ? null : this.aead.open(this.k, nonce, ciphertext, ad)
    if (plain === null) throw new P4Error('DECRYPT_FAILED', 'authentication failed')
    this.advance()
    return plain
  }

  /** Rekey: k = first 32 bytes of ENCRYPT(k, 2^64-1, empty, 32 zero bytes). */
  rekey(): void {
    if (this.k === null) throw new P4Error('BAD_ARGUMENT', 'rekey() needs a key')
    const max = new Uint8Array(12).fill(0xff, 4)
    this.k = this.aead.seal(this.k, max, new Uint8Array(32), EMPTY).slice(0, 32)
  }
}

// ---- SymmetricState ----

export class SymmetricState {
  ck: Uint8Array
  h: Uint8Array
  readonly cipher: CipherState

  constructor(
    readonly hash: NoiseHash,
    protocolName: string,
    readonly aead: Aead = defaultAead,
  ) {
    const name = Buffer.from(protocolName, 'utf8')
    if (name.length <= HASHLEN) {
      this.h = new Uint8Array(HASHLEN)
      this.h.set(name)
    } else {
      this.h = hash.hash(name)
    }
    this.ck = this.h
    this.cipher = new CipherState(null, aead)
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, tempK] = hkdf2(this.hash, this.ck, ikm)
    this.ck = ck
    this.cipher.initializeKey(tempK)
  }

  mixHash(data: Uint8Array): void {
    this.h = this.hash.hash(this.h, data)
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const ct = this.cipher.encryptWithAd(this.h, plaintext)
    this.mixHash(ct)
    return ct
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const pt = this.cipher.decryptWithAd(this.h, ciphertext)
    this.mixHash(ciphertext)
    return pt
  }

  /** The two transport keys: [initiator→responder, responder→initiator]. */
  splitKeys(): [Uint8Array, Uint8Array] {
    return hkdf2(this.hash, this.ck, EMPTY)
  }
}

// ---- HandshakeState (pattern XX) ----

type Token = 'e' | 's' | 'ee' | 'es' | 'se'

/** XX:  -> e   <- e, ee, s, es   -> s, se */
const XX: readonly (readonly Token[])[] = [['e'], ['e', 'ee', 's', 'es'], ['s', 'se']]

export const NOISE_MAX_MESSAGE = 65535
const DHLEN = 32
const TAGLEN = 16

export interface HandshakeOptions {
  initiator: boolean
  hash: NoiseHash
  /** Our static key pair. */
  s: DhKeyPair
  prologue?: Uint8Array
  /** A fixed ephemeral key pair (test vectors only); fresh otherwise. */
  e?: DhKeyPair
  aead?: Aead
}

export class HandshakeState {
  readonly initiator: boolean
  readonly protocolName: string
  private readonly ss: SymmetricState
  private readonly s: DhKeyPair
  private e: DhKeyPair | undefined
  private re: KeyObject | undefined
  private rs: KeyObject | undefined
  private rsRaw: Uint8Array | undefined
  private index = 0
  private failed = false

  constructor(opts: HandshakeOptions) {
    if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_ARGUMENT', 'HandshakeState needs options')
    if (typeof opts.s?.keyObject !== 'object') throw new P4Error('BAD_ARGUMENT', 'HandshakeState needs a static key pair s')
    if (typeof opts.hash?.hmac !== 'function') throw new P4Error('BAD_ARGUMENT', 'HandshakeState needs a hash')
    this.initiator = !!opts.initiator
    this.protocolName = `Noise_XX_25519_ChaChaPoly_${opts.hash.name}`
    this.ss = new SymmetricState(opts.hash, this.protocolName, opts.aead ?? defaultAead)
    this.ss.mixHash(opts.prologue === undefined ? EMPTY : expectBytes(opts.prologue, undefined, 'prologue'))
    this.s = opts.s
    this.e = opts.e
  }

  /** True after the third message. */
  get finished(): boolean {
    return this.index === XX.length
  }

  /** Whether the next call should be writeMessage (else readMessage). */
  get writing(): boolean {
    return this.index % 2 === (this.initiator ? 0 : 1)
  }

  /** The remote static public key (32 bytes) once it has been received. */
  get remoteStaticKey(): Uint8Array | undefined {
    return this.rsRaw
  }

  /** h: a transcript hash both sides share, to bind channel-level statements to this handshake. */
  get handshakeHash(): Uint8Array {
    return new Uint8Array(this.ss.h)
  }

  private step(writing: boolean): readonly Token[] {
    if (this.failed) throw new P4Error('BAD_HANDSHAKE', 'handshake already failed')
    if (this.finished) throw new P4Error('BAD_ARGUMENT', 'handshake is already finished')
    if (this.writing !== writing) {
      throw new P4Error('BAD_ARGUMENT', `message ${this.index + 1} is ours to ${writing ? 'read' : 'write'}`)
    }
    return XX[this.index]!
  }

  private mixDh(token: 'ee' | 'es' | 'se'): void {
    // es: initiator's e with responder's s; se: initiator's s with responder's e.
    const ownEphemeral = token === 'ee' || (token === 'es') === this.initiator
    const remoteEphemeral = token === 'ee' || (token === 'se') === this.initiator
    const own = ownEphemeral ? this.e! : this.s
    const remote = remoteEphemeral ? this.re! : this.rs!
    this.ss.mixKey(dh(own, remote))
  }

  writeMessage(payload: Uint8Array = EMPTY): Uint8Array {
    expectBytes(payload, undefined, 'payload')
    const tokens = this.step(true)
    const parts: Uint8Array[] = []
    try {
      for (const t of tokens) {
        if (t === 'e') {
          this.e ??= x25519KeyPair()
          parts.push(this.e.publicKey)
          this.ss.mixHash(this.e.publicKey)
        } else if (t === 's') {
          parts.push(this.ss.encryptAndHash(this.s.publicKey))
        } else {
          this.mixDh(t)
        }
      }
      let size = payload.length + (this.ss.cipher.hasKey() ? TAGLEN : 0)
      for (const p of parts) size += p.length
      if (size > NOISE_MAX_MESSAGE) {
        throw new P4Error('MESSAGE_TOO_LARGE', `handshake message would be ${size} bytes (Noise allows ${NOISE_MAX_MESSAGE})`)
      }
      parts.push(this.ss.encryptAndHash(payload))
      this.index++
      return concat(parts, size)
    } catch (err) {
      this.failed = true
      throw err
    }
  }

  /** Processes the next message; returns its payload. Failures are BAD_HANDSHAKE. */
  readMessage(message: Uint8Array): Uint8Array {
    expectBytes(message, undefined, 'handshake message')
    const tokens = this.step(false)
    const n = this.index + 1
    let at = 0
    const take = (len: number, what: string): Uint8Array => {
      if (message.length - at < len) {
        throw new P4Error('BAD_HANDSHAKE', `handshake message ${n} is too short for ${what} (${message.length} bytes)`)
      }
      const part = message.subarray(at, at + len)
      at += len
      return part
    }
    try {
      if (message.length > NOISE_MAX_MESSAGE) {
        throw new P4Error('BAD_HANDSHAKE', `handshake message ${n} is ${message.length} bytes (Noise allows ${NOISE_MAX_MESSAGE})`)
      }
      for (const t of tokens) {
        if (t === 'e') {
          const re = take(DHLEN, 'an ephemeral key')
          this.re = importKey(re, n, 'ephemeral')
          this.ss.mixHash(re)
        } else if (t === 's') {
          const sealed = take(DHLEN + (this.ss.cipher.hasKey() ? TAGLEN : 0), 'a static key')
          const rs = decrypt(() => this.ss.decryptAndHash(sealed), n, 'static key').slice()
          this.rs = importKey(rs, n, 'static')
          this.rsRaw = rs
        } else {
          this.mixDh(t)
        }
      }
      const rest = message.subarray(at)
      if (this.ss.cipher.hasKey() && rest.length < TAGLEN) {
        throw new P4Error('BAD_HANDSHAKE', `handshake message ${n} is too short for its payload tag`)
      }
      const payload = decrypt(() => this.ss.decryptAndHash(rest), n, 'payload').slice()
      this.index++
      return payload
    } catch (err) {
      this.failed = true
      throw err
    }
  }

  /**
   * Split: [c1, c2] where c1 encrypts initiator→responder and c2 the other way.
   * Only after the last message.
   */
  split(aead: Aead = this.ss.aead): [CipherState, CipherState] {
    const [k1, k2] = this.splitKeys()
    return [new CipherState(k1, aead), new CipherState(k2, aead)]
  }

  /** The raw transport keys [initiator→responder, responder→initiator]. */
  splitKeys(): [Uint8Array, Uint8Array] {
    if (!this.finished) throw new P4Error('BAD_ARGUMENT', 'split() before the handshake finished')
    return this.ss.splitKeys()
  }
}

function importKey(raw: Uint8Array, n: number, what: string): KeyObject {
  try {
    return x25519PublicKey(raw)
  } catch (err) {
    throw new P4Error('BAD_HANDSHAKE', `handshake message ${n}: invalid ${what} key`, { cause: err })
  }
}

function decrypt(run: () => Uint8Array, n: number, what: string): Uint8Array {
  try {
    return run()
  } catch (err) {
    throw new P4Error('BAD_HANDSHAKE', `handshake message ${n}: cannot decrypt the ${what} (wrong keys or tampered)`, {
      cause: err,
    })
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}
