// Typed wrapper over the BLAKE2s kernel (assembly/blake2s.ts): the Noise
// handshake hash, in the same WebAssembly module as the data plane, so a
// node compiles and keeps one module.
//
// Exports of the module (pointers are byte offsets into WASM memory):
//   blake2s_hash(aPtr, aLen, bPtr, bLen, outPtr): void
//       BLAKE2s-256 (RFC 7693, unkeyed) of a || b to outPtr (32 bytes).
//   blake2s_hmac(keyPtr, keyLen, aPtr, aLen, bPtr, bLen, outPtr): void
//       HMAC (RFC 2104, 64-byte block) over BLAKE2s-256 of a || b; a key
//       longer than 64 bytes is hashed first.
// The kernel keeps its state in static memory: calls must not interleave
// (they cannot, in single-threaded JS).
import { expectBytes } from '../core/errors.js'
import { kernel as defaultKernel, kernelFault, type Kernel } from './loader.js'

interface Blake2sExports {
  blake2s_hash(aPtr: number, aLen: number, bPtr: number, bLen: number, outPtr: number): void
  blake2s_hmac(keyPtr: number, keyLen: number, aPtr: number, aLen: number, bPtr: number, bLen: number, outPtr: number): void
}

const OUT = 32
/** Scratch at first: a handshake's hashes are of keys, hashes and messages of a few hundred bytes. */
const INITIAL = 1024

/**
 * BLAKE2s and HMAC-BLAKE2s on one kernel, through one scratch region
 * (out | key | a | b) that grows when a larger input comes.
 */
export class Blake2s {
  readonly kernel: Kernel
  private readonly ex: Blake2sExports
  private base: number
  private capacity: number

  constructor(k: Kernel = defaultKernel()) {
    this.kernel = k
    this.ex = k.exports as unknown as Blake2sExports
    this.capacity = INITIAL
    this.base = k.alloc(INITIAL)
  }

  private reserve(need: number): Uint8Array {
    if (need > this.capacity) {
      const size = Math.max(need, this.capacity * 2)
      const next = this.kernel.alloc(size) // may grow memory: the view is taken after
      this.kernel.free(this.base)
      this.base = next
      this.capacity = size
    }
    return this.kernel.bytes()
  }

  /** BLAKE2s-256(a || b). */
  hash(a: Uint8Array, b?: Uint8Array): Uint8Array {
    expectBytes(a, undefined, 'input')
    if (b !== undefined) expectBytes(b, undefined, 'input')
    const bLen = b?.length ?? 0
    const mem = this.reserve(OUT + a.length + bLen)
    const out = this.base
    const ap = out + OUT
    const bp = ap + a.length
    mem.set(a, ap)
    if (b !== undefined) mem.set(b, bp)
    try {
      this.ex.blake2s_hash(ap, a.length, bp, bLen, out)
    } catch (err) {
      throw kernelFault(err, 'blake2s_hash')
    }
    return this.kernel.bytes().slice(out, out + OUT)
  }

  /** HMAC-BLAKE2s(key, a || b). */
  hmac(key: Uint8Array, a: Uint8Array, b?: Uint8Array): Uint8Array {
    expectBytes(key, undefined, 'key')
    expectBytes(a, undefined, 'input')
    if (b !== undefined) expectBytes(b, undefined, 'input')
    const bLen = b?.length ?? 0
    const mem = this.reserve(OUT + key.length + a.length + bLen)
    const out = this.base
    const kp = out + OUT
    const ap = kp + key.length
    const bp = ap + a.length
    mem.set(key, kp)
    mem.set(a, ap)
    if (b !== undefined) mem.set(b, bp)
    try {
      this.ex.blake2s_hmac(kp, key.length, ap, a.length, bp, bLen, out)
    } catch (err) {
      throw kernelFault(err, 'blake2s_hmac')
    }
    return this.kernel.bytes().slice(out, out + OUT)
  }
}

const shared = new Map<Kernel, Blake2s>()

/** The process-wide Blake2s of a kernel (default: kernel()), made on first use. */
export function blake2sFor(k: Kernel = defaultKernel()): Blake2s {
  let b = shared.get(k)
  if (!b) {
    b = new Blake2s(k)
    shared.set(k, b)
  }
  return b
}
