// Records sealed and opened with node:crypto. For large records OpenSSL's
// ChaCha20-Poly1305 (~2.5 GB/s at 64 KiB) beats the WASM kernel, while its
// per-call cost (~6 µs) makes it lose on small ones; the session picks per
// record by size (SessionOptions.nodeCryptoThreshold). Both engines produce
// identical bytes: the same record format and the same counter nonces.
import { createCipheriv, createDecipheriv } from 'node:crypto'
import { P4Error } from '../core/errors.js'

const TAG = 16

/** Noise ChaChaPoly nonce: 4 zero bytes || little-endian 64-bit counter (one buffer, reused: node:crypto copies the IV). */
const NONCE = Buffer.alloc(12)
function nonce(counter: number): Buffer {
  NONCE.writeUInt32LE(counter >>> 0, 4)
  NONCE.writeUInt32LE(Math.floor(counter / 0x100000000), 8)
  return NONCE
}

/** Bytes of the wire record sealRecord makes of `plainLen` plaintext bytes. */
export function sealedSize(plainLen: number): number {
  return 2 + plainLen + TAG
}

/**
 * Seals one record whose plaintext is head || body (head may be empty) into
 * `out` (sealedSize bytes; a new buffer when not given): u16 BE length,
 * ciphertext, tag.
 */
export function sealRecord(key: Uint8Array, counter: number, head: Uint8Array | null, body: Uint8Array, out?: Uint8Array): Uint8Array {
  const plainLen = (head?.length ?? 0) + body.length
  out ??= Buffer.allocUnsafe(sealedSize(plainLen))
  if (out.length !== 2 + plainLen + TAG) throw new P4Error('BAD_ARGUMENT', `record buffer of ${out.length} bytes for ${plainLen} plaintext bytes`)
  out[0] = (plainLen + TAG) >>> 8
  out[1] = (plainLen + TAG) & 0xff
  const c = createCipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: TAG })
  let at = 2
  if (head !== null && head.length > 0) {
    const h = c.update(head)
    out.set(h, at)
    at += h.length
  }
  const b = c.update(body)
  out.set(b, at)
  at += b.length
  c.final()
  out.set(c.getAuthTag(), at)
  return out
}

/** Seals one record of plaintext `plain` into out[at..]: u16 BE length, ciphertext, tag. */
export function sealRecordInto(key: Uint8Array, counter: number, plain: Uint8Array, out: Uint8Array, at: number): void {
  const sealed = plain.length + TAG
  out[at] = sealed >>> 8
  out[at + 1] = sealed & 0xff
  const c = createCipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: TAG })
  out.set(c.update(plain), at + 2)
  c.final()
  out.set(c.getAuthTag(), at + 2 + plain.length)
}

/** Opens one record body (ciphertext || tag); null when authentication fails. */
export function openRecord(key: Uint8Array, counter: number, sealed: Uint8Array): Buffer | null {
  if (sealed.length < TAG) return null
  const d = createDecipheriv('chacha20-poly1305', key, nonce(counter), { authTagLength: TAG })
  d.setAuthTag(sealed.subarray(sealed.length - TAG))
  const pt = d.update(sealed.subarray(0, sealed.length - TAG))
  try {
    d.final()
  } catch {
    pt.fill(0) // never let unauthenticated plaintext escape
    return null
  }
  return pt
}
