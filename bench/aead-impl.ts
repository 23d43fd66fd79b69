// What bench/aead-worker.ts times for each ChaCha20-Poly1305 implementation;
// the other projects' ones are in bench/compare/aead.ts.

export interface Impl {
  seal(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array): Uint8Array
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | null
  /** Seals `frames` (FRAMES plaintexts of FRAME_SIZE) with Noise nonces from counter. */
  frames(key: Uint8Array, counter: number, frames: Uint8Array[]): void
}

/** Writes the Noise nonce for `counter` into `nonce` (12 bytes: 4 zero, counter LE64) and returns it. */
export function noise(nonce: Uint8Array, counter: number): Uint8Array {
  const dv = new DataView(nonce.buffer, nonce.byteOffset, 12)
  dv.setUint32(4, counter >>> 0, true)
  dv.setUint32(8, Math.floor(counter / 2 ** 32), true)
  return nonce
}
