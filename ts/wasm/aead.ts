// Typed wrapper over the ChaCha20-Poly1305 kernel (assembly/aead.ts).
//
// Exports of the module (pointers are byte offsets into WASM memory; every
// call works in place; lengths are u32):
//
//   aead_seal(keyPtr, noncePtr, aadPtr, aadLen, ptr, len): void
//       key 32 bytes, nonce 12 bytes. Encrypts [ptr, ptr+len) in place and
//       writes the 16-byte tag at ptr+len (the caller leaves room for it).
//   aead_open(keyPtr, noncePtr, aadPtr, aadLen, ptr, sealedLen): i32
//       [ptr, ptr+sealedLen) is ciphertext || tag. Checks the tag first; on a
//       match decrypts in place and returns 1, otherwise returns 0 and leaves
//       the buffer untouched (also 0 when sealedLen < 16).
//   aead_seal_batch(keyPtr, counter: u64, descPtr, count): void
//   aead_open_batch(keyPtr, counter: u64, descPtr, count): u32
//       Noise transport records: record i uses nonce 0x00000000 || le64(counter + i)
//       and empty AAD. descPtr holds `count` descriptors of 8 bytes:
//       u32 ptr, u32 len (little-endian). For seal, len is the plaintext length
//       and the tag goes to ptr+len; for open, len is ciphertext + tag. Open
//       stops at the first record that fails (or is shorter than 16 bytes) and
//       returns how many opened; that record and later ones are untouched.
//   aead_seal_batch_ad / aead_open_batch_ad(keyPtr, counter: u64, descPtr, count)
//       The same with AAD: 16-byte descriptors u32 ptr, u32 len, u32 aadPtr, u32 aadLen.
//   chacha20_xor(keyPtr, noncePtr, counter: u32, ptr, len): void
//       Raw ChaCha20 (RFC 8439 §2.4) from block `counter`, in place.
//   poly1305_mac(keyPtr, ptr, len, outPtr): void
//       Raw Poly1305 (RFC 8439 §2.5): 16-byte tag of [ptr, ptr+len) to outPtr.
//
// u64 counters cross the boundary as BigInt. The kernel keeps per-message
// state in static memory (no heap use; mostly the keystream open prepares
// while it checks the tag), so calls must not interleave — they cannot in
// single-threaded JS. In the SIMD build a batch seals or opens two
// consecutive records of at most 64 bytes of plaintext with one 4-block
// ChaCha call.
import { P4Error, expectBytes } from '../core/errors.js'
import { kernel as defaultKernel, kernelFault, type Kernel } from './loader.js'

export const KEY_SIZE = 32
export const NONCE_SIZE = 12
export const TAG_SIZE = 16
/** Largest Noise nonce a batch may use: 2^64 - 1 is reserved by Noise. */
const MAX_NONCE = (1n << 64n) - 2n

interface AeadExports {
  aead_seal(keyPtr: number, noncePtr: number, aadPtr: number, aadLen: number, ptr: number, len: number): void
  aead_open(keyPtr: number, noncePtr: number, aadPtr: number, aadLen: number, ptr: number, sealedLen: number): number
  aead_seal_batch(keyPtr: number, counter: bigint, descPtr: number, count: number): void
  aead_open_batch(keyPtr: number, counter: bigint, descPtr: number, count: number): number
  aead_seal_batch_ad(keyPtr: number, counter: bigint, descPtr: number, count: number): void
  aead_open_batch_ad(keyPtr: number, counter: bigint, descPtr: number, count: number): number
  chacha20_xor(keyPtr: number, noncePtr: number, counter: number, ptr: number, len: number): void
  poly1305_mac(keyPtr: number, ptr: number, len: number, outPtr: number): void
}

function exportsOf(k: Kernel): AeadExports {
  return k.exports as unknown as AeadExports
}

const align16 = (n: number): number => (n + 15) & ~15

/** Scratch layout: key (32) | nonce (16) | tag out (16) | message + tag | AAD. */
const HEAD = 64

export interface AeadOptions {
  /** Largest message expected; larger ones grow the scratch region. Default 64 KiB. */
  maxMessage?: number
  /** Largest AAD expected; default 1 KiB. */
  maxAad?: number
}

/**
 * Single-message ChaCha20-Poly1305 on one kernel. Owns one scratch region in
 * WASM memory, allocated once and regrown (never per call) when a larger
 * message arrives. Each call copies the inputs in, crosses into WASM once and
 * copies the result out.
 */
export class Aead {
  readonly kernel: Kernel
  private readonly ex: AeadExports
  private base: number
  private capacity: number

  constructor(k: Kernel = defaultKernel(), options: AeadOptions = {}) {
    this.kernel = k
    this.ex = exportsOf(k)
    const maxMessage = options.maxMessage ?? 65536
    const maxAad = options.maxAad ?? 1024
    this.capacity = HEAD + align16(maxMessage + TAG_SIZE) + maxAad
    this.base = k.alloc(this.capacity)
  }

  /** Ensures room for a message of msgLen bytes (+ tag) and aadLen bytes of AAD; returns the memory view. */
  private reserve(msgLen: number, aadLen: number): Uint8Array {
    const need = HEAD + align16(msgLen + TAG_SIZE) + aadLen
    if (need > this.capacity) {
      const size = Math.max(need, this.capacity * 2)
      const next = this.kernel.alloc(size) // may grow memory: views are refreshed below
      this.kernel.free(this.base)
      this.base = next
      this.capacity = size
    }
    return this.kernel.bytes()
  }

  /** ChaCha20-Poly1305 seal: returns ciphertext || 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array | null): Uint8Array {
    expectBytes(key, KEY_SIZE, 'key')
    expectBytes(nonce, NONCE_SIZE, 'nonce')
    expectBytes(plaintext, undefined, 'plaintext')
    if (aad != null) expectBytes(aad, undefined, 'aad')
    const aadLen = aad?.length ?? 0
    const len = plaintext.length
    const mem = this.reserve(len, aadLen)
    const b = this.base
    const msg = b + HEAD
    const ad = msg + align16(len + TAG_SIZE)
    mem.set(key, b)
    mem.set(nonce, b + 32)
    mem.set(plaintext, msg)
    if (aad != null) mem.set(aad, ad)
    try {
      this.ex.aead_seal(b, b + 32, ad, aadLen, msg, len)
    } catch (err) {
      throw kernelFault(err, 'aead_seal')
    }
    return mem.slice(msg, msg + len + TAG_SIZE)
  }

  /** ChaCha20-Poly1305 open: the plaintext, or null when authentication fails or sealed is shorter than a tag. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array | null): Uint8Array | null {
    expectBytes(key, KEY_SIZE, 'key')
    expectBytes(nonce, NONCE_SIZE, 'nonce')
    expectBytes(sealed, undefined, 'sealed')
    if (aad != null) expectBytes(aad, undefined, 'aad')
    if (sealed.length < TAG_SIZE) return null
    const aadLen = aad?.length ?? 0
    const len = sealed.length - TAG_SIZE
    const mem = this.reserve(len, aadLen)
    const b = this.base
    const msg = b + HEAD
    const ad = msg + align16(len + TAG_SIZE)
    mem.set(key, b)
    mem.set(nonce, b + 32)
    mem.set(sealed, msg)
    if (aad != null) mem.set(aad, ad)
    let ok: number
    try {
      ok = this.ex.aead_open(b, b + 32, ad, aadLen, msg, sealed.length)
    } catch (err) {
      throw kernelFault(err, 'aead_open')
    }
    if (ok !== 1) return null
    return mem.slice(msg, msg + len)
  }

  /** Raw ChaCha20 (RFC 8439 §2.4) of data from block `counter`; for tests and vectors. */
  chacha20(key: Uint8Array, nonce: Uint8Array, counter: number, data: Uint8Array): Uint8Array {
    expectBytes(key, KEY_SIZE, 'key')
    expectBytes(nonce, NONCE_SIZE, 'nonce')
    expectBytes(data, undefined, 'data')
    if (!Number.isInteger(counter) || counter < 0 || counter > 0xffffffff) {
      throw new P4Error('BAD_ARGUMENT', 'counter must be a u32')
    }
    const mem = this.reserve(data.length, 0)
    const b = this.base
    mem.set(key, b)
    mem.set(nonce, b + 32)
    mem.set(data, b + HEAD)
    try {
      this.ex.chacha20_xor(b, b + 32, counter, b + HEAD, data.length)
    } catch (err) {
      throw kernelFault(err, 'chacha20_xor')
    }
    return mem.slice(b + HEAD, b + HEAD + data.length)
  }

  /** Raw Poly1305 (RFC 8439 §2.5) tag of data under a 32-byte one-time key; for tests and vectors. */
  poly1305(key: Uint8Array, data: Uint8Array): Uint8Array {
    expectBytes(key, KEY_SIZE, 'key')
    expectBytes(data, undefined, 'data')
    const mem = this.reserve(data.length, 0)
    const b = this.base
    mem.set(key, b)
    mem.set(data, b + HEAD)
    try {
      this.ex.poly1305_mac(b, b + HEAD, data.length, b + 48)
    } catch (err) {
      throw kernelFault(err, 'poly1305_mac')
    }
    return mem.slice(b + 48, b + 64)
  }

  /** Frees the scratch region; the object must not be used afterwards. */
  dispose(): void {
    this.kernel.free(this.base)
    this.base = 0
    this.capacity = 0
  }
}

const shared = new Map<Kernel, Aead>()

/** The process-wide Aead for a kernel (default: kernel()), created on first use. */
export function aeadFor(k: Kernel = defaultKernel()): Aead {
  let a = shared.get(k)
  if (!a) {
    a = new Aead(k)
    shared.set(k, a)
  }
  return a
}

/** Seals with the default kernel: ciphertext || tag. */
export function seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array | null): Uint8Array {
  return aeadFor().seal(key, nonce, plaintext, aad)
}

/** Opens with the default kernel: plaintext, or null when authentication fails. */
export function open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array | null): Uint8Array | null {
  return aeadFor().open(key, nonce, sealed, aad)
}

function checkCounter(counter: bigint | number, count: number): bigint {
  let c: bigint
  if (typeof counter === 'bigint') c = counter
  else if (Number.isSafeInteger(counter)) c = BigInt(counter)
  else throw new P4Error('BAD_ARGUMENT', 'counter must be a non-negative integer')
  if (c < 0n) throw new P4Error('BAD_ARGUMENT', 'counter must be a non-negative integer')
  if (c + BigInt(count) - 1n > MAX_NONCE) {
    throw new P4Error('NONCE_EXHAUSTED', 'Noise nonce would reach 2^64 - 1')
  }
  return c
}

/**
 * Batch sealing/opening of Noise transport records that already sit in WASM
 * memory (the session layer places them). Holds a 32-byte key slot and a
 * descriptor table for up to `maxRecords` records, both allocated once.
 *
 *   const b = new AeadBatch(kernel())
 *   b.setKey(k)                          // or write 32 bytes at b.keyPtr
 *   b.setRecord(0, ptr, len) ...         // plaintext len (seal) or ciphertext+tag (open)
 *   b.seal(counter, count)               // in place, tags at ptr+len
 *   const ok = b.open(counter, count)    // number of leading records opened
 *
 * setRecordAd / sealAd / openAd do the same with per-record AAD.
 */
export class AeadBatch {
  readonly kernel: Kernel
  /** The 32-byte key slot in WASM memory. */
  readonly keyPtr: number
  /** The descriptor table: 8-byte entries for seal/open, 16-byte entries for sealAd/openAd. */
  readonly descPtr: number
  readonly maxRecords: number
  private readonly ex: AeadExports

  constructor(k: Kernel = defaultKernel(), maxRecords = 1024) {
    if (!Number.isInteger(maxRecords) || maxRecords < 1) {
      throw new P4Error('BAD_ARGUMENT', 'maxRecords must be a positive integer')
    }
    this.kernel = k
    this.ex = exportsOf(k)
    this.maxRecords = maxRecords
    this.keyPtr = k.alloc(KEY_SIZE)
    this.descPtr = k.alloc(maxRecords * 16)
  }

  setKey(key: Uint8Array): void {
    expectBytes(key, KEY_SIZE, 'key')
    this.kernel.bytes().set(key, this.keyPtr)
  }

  /** Descriptor i for seal/open: a record at ptr of len bytes. */
  setRecord(i: number, ptr: number, len: number): void {
    const dv = this.kernel.view()
    const d = this.descPtr + i * 8
    dv.setUint32(d, ptr, true)
    dv.setUint32(d + 4, len, true)
  }

  /** Descriptor i for sealAd/openAd: a record at ptr of len bytes with aadLen bytes of AAD at aadPtr. */
  setRecordAd(i: number, ptr: number, len: number, aadPtr: number, aadLen: number): void {
    const dv = this.kernel.view()
    const d = this.descPtr + i * 16
    dv.setUint32(d, ptr, true)
    dv.setUint32(d + 4, len, true)
    dv.setUint32(d + 8, aadPtr, true)
    dv.setUint32(d + 12, aadLen, true)
  }

  private checkCount(count: number): void {
    if (!Number.isInteger(count) || count < 0 || count > this.maxRecords) {
      throw new P4Error('BAD_ARGUMENT', `count must be an integer in 0..${this.maxRecords}`)
    }
  }

  /** Seals records 0..count-1 with nonces counter..counter+count-1. */
  seal(counter: bigint | number, count: number): void {
    this.checkCount(count)
    if (count === 0) return
    const c = checkCounter(counter, count)
    try {
      this.ex.aead_seal_batch(this.keyPtr, c, this.descPtr, count)
    } catch (err) {
      throw kernelFault(err, 'aead_seal_batch')
    }
  }

  /** Opens records 0..count-1 in place; returns how many opened before the first failure. */
  open(counter: bigint | number, count: number): number {
    this.checkCount(count)
    if (count === 0) return 0
    const c = checkCounter(counter, count)
    try {
      return this.ex.aead_open_batch(this.keyPtr, c, this.descPtr, count)
    } catch (err) {
      throw kernelFault(err, 'aead_open_batch')
    }
  }

  /** seal() with the AAD given by setRecordAd. */
  sealAd(counter: bigint | number, count: number): void {
    this.checkCount(count)
    if (count === 0) return
    const c = checkCounter(counter, count)
    try {
      this.ex.aead_seal_batch_ad(this.keyPtr, c, this.descPtr, count)
    } catch (err) {
      throw kernelFault(err, 'aead_seal_batch_ad')
    }
  }

  /** open() with the AAD given by setRecordAd. */
  openAd(counter: bigint | number, count: number): number {
    this.checkCount(count)
    if (count === 0) return 0
    const c = checkCounter(counter, count)
    try {
      return this.ex.aead_open_batch_ad(this.keyPtr, c, this.descPtr, count)
    } catch (err) {
      throw kernelFault(err, 'aead_open_batch_ad')
    }
  }

  /** Frees the key slot (zeroed first) and the descriptor table. */
  dispose(): void {
    this.kernel.bytes().fill(0, this.keyPtr, this.keyPtr + KEY_SIZE)
    this.kernel.free(this.keyPtr)
    this.kernel.free(this.descPtr)
  }
}

/** Noise ChaChaPoly nonce for a counter: 4 zero bytes || le64(counter). */
export function noiseNonce(counter: bigint | number): Uint8Array {
  const n = new Uint8Array(NONCE_SIZE)
  new DataView(n.buffer).setBigUint64(4, BigInt(counter), true)
  return n
}
