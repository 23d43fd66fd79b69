// p4net/crypto: the cryptographic kernels, usable on their own.
export { P4Error } from './core/errors.js'
import { open, seal } from './wasm/aead.js'

/**
 * ChaCha20-Poly1305 (RFC 8439) in WebAssembly.
 *
 * - `seal(key, nonce, plaintext, aad?)` returns ciphertext || 16-byte tag.
 * - `open(key, nonce, sealed, aad?)` returns the plaintext, or null when
 *   authentication fails; a `sealed` shorter than the 16-byte tag also gives null.
 *
 * key is 32 bytes and nonce 12 bytes; a wrong size or a value that is not a
 * Uint8Array throws P4Error 'BAD_ARGUMENT'. Results are fresh arrays.
 */
export const aead = Object.freeze({
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array | null): Uint8Array {
    return seal(key, nonce, plaintext, aad)
  },
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array | null): Uint8Array | null {
    return open(key, nonce, sealed, aad)
  },
})
