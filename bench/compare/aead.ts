// The other projects' ChaCha20-Poly1305 implementations that
// bench/aead-worker.ts times beside p4net's and node:crypto's: @noble/ciphers,
// @chainsafe/as-chacha20poly1305 and libsodium-wrappers (bench/compare's
// packages, loaded through importPeerModule).
import { noise, type Impl } from '../aead-impl.js'

export async function aeadImpl(name: 'noble' | 'chainsafe' | 'libsodium'): Promise<Impl> {
  switch (name) {
    case 'noble': {
      const { chacha20poly1305 } = await import('@noble/ciphers/chacha.js')
      const nonce = new Uint8Array(12)
      return {
        seal: (key, nonce, pt) => chacha20poly1305(key, nonce).encrypt(pt),
        open(key, nonce, sealed) {
          try {
            return chacha20poly1305(key, nonce).decrypt(sealed)
          } catch {
            return null
          }
        },
        frames(key, counter, frames) {
          for (let i = 0; i < frames.length; i++) chacha20poly1305(key, noise(nonce, counter + i)).encrypt(frames[i]!)
        },
      }
    }
    case 'chainsafe': {
      const { ChaCha20Poly1305, newInstance } = await import('@chainsafe/as-chacha20poly1305')
      const c = new ChaCha20Poly1305(newInstance())
      const nonce = new Uint8Array(12)
      return {
        seal: (key, nonce, pt) => c.seal(key, nonce, pt),
        open: (key, nonce, sealed) => c.open(key, nonce, sealed),
        frames(key, counter, frames) {
          for (let i = 0; i < frames.length; i++) c.seal(key, noise(nonce, counter + i), frames[i]!)
        },
      }
    }
    case 'libsodium': {
      const sodium = (await import('libsodium-wrappers')).default
      await sodium.ready
      const nonce = new Uint8Array(12)
      return {
        seal: (key, nonce, pt) => sodium.crypto_aead_chacha20poly1305_ietf_encrypt(pt, null, null, nonce, key),
        open(key, nonce, sealed) {
          try {
            return sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, sealed, null, nonce, key)
          } catch {
            return null
          }
        },
        frames(key, counter, frames) {
          for (let i = 0; i < frames.length; i++) {
            sodium.crypto_aead_chacha20poly1305_ietf_encrypt(frames[i]!, null, null, noise(nonce, counter + i), key)
          }
        },
      }
    }
  }
}
