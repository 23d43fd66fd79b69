// The ChaCha20-Poly1305 of end-to-end unicast boxes (ts/e2e.ts) and sealed
// stream chunks (ts/stream-box.ts), chosen by size: node:crypto (OpenSSL)
// from NODE_CRYPTO_FROM bytes of plaintext up, the WASM kernel in place
// below it (ts/e2e-wasm.ts). The bytes are the same either way.
import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto'
import { P4Error } from './core/errors.js'
import { nodeKey, type BoxKey } from './e2e-keys.js'
import { WasmBoxCipher } from './e2e-wasm.js'
import type { Kernel } from './wasm/loader.js'

export const TAG_SIZE = 16
export const NONCE_SIZE = 12
/**
 * Plaintexts from this size up are sealed and opened with node:crypto, smaller
 * ones with the WASM kernel: a node:crypto call costs a few microseconds of
 * setup, the WASM kernel is slower per byte on large messages
 * (bench/e2e-box.bench.ts measures both: the WASM kernel is faster up to
 * 2 KiB, node:crypto from 4 KiB on).
 */
export const NODE_CRYPTO_FROM = 4096

/** Which ChaCha20-Poly1305 seals: by size (default), always WASM, or always node:crypto. */
export type BoxCipherChoice = 'auto' | 'wasm' | 'node'

function nodeSeal(key: KeyObject, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array): Uint8Array[] {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_SIZE })
  c.setAAD(aad, { plaintextLength: pt.length })
  const ct = c.update(pt)
  c.final()
  return [ct, c.getAuthTag()]
}

function nodeOpen(key: KeyObject, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
  const n = sealed.length - TAG_SIZE
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_SIZE })
  d.setAAD(aad, { plaintextLength: n })
  d.setAuthTag(sealed.subarray(n))
  const pt = d.update(sealed.subarray(0, n))
  try {
    d.final()
  } catch {
    return null
  }
  // A small result may sit in Buffer's shared pool: never hand out a view of it.
  if (pt.byteOffset !== 0 || pt.buffer.byteLength !== pt.byteLength) return new Uint8Array(pt)
  return new Uint8Array(pt.buffer, 0, pt.byteLength)
}

/** nonce (12 bytes) = 4 zero bytes || counter as u64 big-endian (counter < 2^53). Returns `nonce`. */
export function counterNonce(nonce: Uint8Array, counter: number): Uint8Array {
  const hi = Math.floor(counter / 2 ** 32)
  const lo = counter >>> 0
  nonce[0] = nonce[1] = nonce[2] = nonce[3] = 0
  nonce[4] = hi >>> 24
  nonce[5] = (hi >>> 16) & 0xff
  nonce[6] = (hi >>> 8) & 0xff
  nonce[7] = hi & 0xff
  nonce[8] = lo >>> 24
  nonce[9] = (lo >>> 16) & 0xff
  nonce[10] = (lo >>> 8) & 0xff
  nonce[11] = lo & 0xff
  return nonce
}

/** A ChaCha20-Poly1305 that writes `header || ciphertext || tag` in one fresh array. */
export class SizedAead {
  /** The WASM side, for callers that seal in place (E2eBoxes.sealUnicast). */
  readonly wasm: WasmBoxCipher

  constructor(
    /** Bytes of the header written in front of every sealed message. */
    readonly header: number,
    private readonly cipher: BoxCipherChoice = 'auto',
    kernel?: Kernel,
  ) {
    if (cipher !== 'auto' && cipher !== 'wasm' && cipher !== 'node') throw new P4Error('BAD_ARGUMENT', `unknown cipher ${String(cipher)}`)
    this.wasm = new WasmBoxCipher(header, kernel)
  }

  /** Whether `len` bytes of plaintext go to node:crypto. */
  useNode(len: number): boolean {
    return this.cipher === 'node' || (this.cipher === 'auto' && len >= NODE_CRYPTO_FROM)
  }

  /** head || ChaCha20-Poly1305(key, nonce, plaintext, aad). */
  seal(head: Uint8Array, key: BoxKey, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    if (!this.useNode(plaintext.length)) return this.wasm.seal(head, key.raw, nonce, plaintext, aad)
    const [ct, tag] = nodeSeal(nodeKey(key), nonce, plaintext, aad)
    // Every byte is written below: no zero-fill (a large message is 64 KiB).
    const h = this.header
    const n = h + plaintext.length + TAG_SIZE
    const out = new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n)
    out.set(head, 0)
    out.set(ct!, h)
    out.set(tag!, h + plaintext.length)
    return out
  }

  /** The plaintext of `sealed` (ciphertext || tag, no header), or null when it does not authenticate. */
  open(key: BoxKey, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
    if (sealed.length < TAG_SIZE) return null
    return this.useNode(sealed.length - TAG_SIZE) ? nodeOpen(nodeKey(key), nonce, sealed, aad) : this.wasm.open(key.raw, nonce, sealed, aad)
  }
}
