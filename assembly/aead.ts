// ChaCha20-Poly1305 AEAD (RFC 8439 §2.8), in place over raw pointers.
// Layout and calling conventions are documented in ts/wasm/aead.ts, the only
// TypeScript that calls these exports.
import { CHUNK, ZERO, chachaChunk, chachaChunkMac, chachaKey, chachaXor, xorBytes } from './chacha20'
import { polyBlocks, polyFinish, polyInit, polyMessage, polyPadded } from './poly1305'

/** Keystream scratch: blocks 0..3 of a message (block 0 = Poly1305 key), or a tail chunk. */
const KS = memory.data(256, 16)
/** The final Poly1305 block: le64(aad length) || le64(text length). */
const LENS = memory.data(16, 16)
/** The tag computed by open, compared with the received one. */
const TAG = memory.data(16, 16)
/**
 * Keystream bytes left in KS after the Poly1305 key: SIMD makes blocks 0..3
 * in one call, so a message's first 192 bytes need no further ChaCha call.
 */
const FIRST: usize = CHUNK - 64

/** Makes the one-time key from block 0 and starts the MAC with the AAD. */
// @ts-ignore: decorator
@inline function begin(keyPtr: usize, n0: u32, n1: u32, n2: u32, aadPtr: usize, aadLen: usize): void {
  chachaKey(keyPtr, n0, n1, n2)
  chachaChunk(KS, ZERO, 0)
  polyInit(KS)
  polyPadded(aadPtr, aadLen)
}

// @ts-ignore: decorator
@inline function lengths(aadLen: usize, len: usize): void {
  store<u64>(LENS, <u64>aadLen, 0)
  store<u64>(LENS, <u64>len, 8)
  polyBlocks(LENS, 1, 1)
}

/** Encrypts [ptr, ptr+len) in place and writes the tag at ptr+len. */
function sealOne(keyPtr: usize, n0: u32, n1: u32, n2: u32, aadPtr: usize, aadLen: usize, ptr: usize, len: usize): void {
  begin(keyPtr, n0, n1, n2, aadPtr, aadLen)
  // Each chunk is encrypted while the previous chunk's ciphertext is MACed.
  let off = len < FIRST ? len : FIRST
  xorBytes(ptr, KS + 64, off)
  let macOff: usize = 0
  let counter: u32 = <u32>(CHUNK >> 6)
  while (len - off >= CHUNK) {
    const ready = (off - macOff) >> 4
    chachaChunkMac(ptr + off, ptr + off, counter, ptr + macOff, ready)
    macOff += ready << 4
    off += CHUNK
    counter += <u32>(CHUNK >> 6)
  }
  chachaXor(ptr + off, len - off, counter, KS)
  polyPadded(ptr + macOff, len - macOff)
  lengths(aadLen, len)
  polyFinish(ptr + len)
}

/**
 * Checks the tag at ptr+len over the AAD and ciphertext [ptr, ptr+len), and
 * only if it matches decrypts in place. Returns 1, or 0 with the buffer untouched.
 */
function openOne(keyPtr: usize, n0: u32, n1: u32, n2: u32, aadPtr: usize, aadLen: usize, ptr: usize, len: usize): i32 {
  begin(keyPtr, n0, n1, n2, aadPtr, aadLen)
  polyPadded(ptr, len)
  lengths(aadLen, len)
  polyFinish(TAG)
  // constant time: OR of XORs, no early exit
  const diff =
    (load<u64>(TAG, 0) ^ load<u64>(ptr + len, 0)) | (load<u64>(TAG, 8) ^ load<u64>(ptr + len, 8))
  if (diff != 0) return 0
  const first = len < FIRST ? len : FIRST
  xorBytes(ptr, KS + 64, first)
  chachaXor(ptr + first, len - first, <u32>(CHUNK >> 6), KS)
  return 1
}

/** Single message: seals [ptr, ptr+len) in place, tag written at ptr+len (16 bytes). */
export function aead_seal(keyPtr: usize, noncePtr: usize, aadPtr: usize, aadLen: usize, ptr: usize, len: usize): void {
  sealOne(keyPtr, load<u32>(noncePtr, 0), load<u32>(noncePtr, 4), load<u32>(noncePtr, 8), aadPtr, aadLen, ptr, len)
}

/** Single message: opens sealedLen bytes (ciphertext || tag) at ptr in place; 1 = authentic. */
export function aead_open(keyPtr: usize, noncePtr: usize, aadPtr: usize, aadLen: usize, ptr: usize, sealedLen: usize): i32 {
  if (sealedLen < 16) return 0
  return openOne(keyPtr, load<u32>(noncePtr, 0), load<u32>(noncePtr, 4), load<u32>(noncePtr, 8), aadPtr, aadLen, ptr, sealedLen - 16)
}

/**
 * Noise transport batch: descriptor i (8 bytes at descPtr + 8i) is u32 ptr,
 * u32 len of a plaintext; it is sealed in place with nonce 0^32 || le64(counter + i),
 * empty AAD, tag at ptr+len.
 */
export function aead_seal_batch(keyPtr: usize, counter: u64, descPtr: usize, count: usize): void {
  for (let i: usize = 0; i < count; i++) {
    const n = counter + <u64>i
    const d = descPtr + (i << 3)
    sealOne(keyPtr, 0, <u32>n, <u32>(n >> 32), 0, 0, load<u32>(d, 0), load<u32>(d, 4))
  }
}

/**
 * Noise transport batch open: descriptor len is ciphertext + tag. Opens in
 * order and stops at the first record that fails (or is shorter than a tag);
 * returns how many opened. Records from the failing one on are untouched.
 */
export function aead_open_batch(keyPtr: usize, counter: u64, descPtr: usize, count: usize): usize {
  for (let i: usize = 0; i < count; i++) {
    const n = counter + <u64>i
    const d = descPtr + (i << 3)
    const len = load<u32>(d, 4)
    if (len < 16) return i
    if (!openOne(keyPtr, 0, <u32>n, <u32>(n >> 32), 0, 0, load<u32>(d, 0), len - 16)) return i
  }
  return count
}

/** As aead_seal_batch with AAD: descriptor i (16 bytes at descPtr + 16i) is u32 ptr, len, aadPtr, aadLen. */
export function aead_seal_batch_ad(keyPtr: usize, counter: u64, descPtr: usize, count: usize): void {
  for (let i: usize = 0; i < count; i++) {
    const n = counter + <u64>i
    const d = descPtr + (i << 4)
    sealOne(keyPtr, 0, <u32>n, <u32>(n >> 32), load<u32>(d, 8), load<u32>(d, 12), load<u32>(d, 0), load<u32>(d, 4))
  }
}

/** As aead_open_batch with AAD: 16-byte descriptors u32 ptr, len (ciphertext + tag), aadPtr, aadLen. */
export function aead_open_batch_ad(keyPtr: usize, counter: u64, descPtr: usize, count: usize): usize {
  for (let i: usize = 0; i < count; i++) {
    const n = counter + <u64>i
    const d = descPtr + (i << 4)
    const len = load<u32>(d, 4)
    if (len < 16) return i
    if (!openOne(keyPtr, 0, <u32>n, <u32>(n >> 32), load<u32>(d, 8), load<u32>(d, 12), load<u32>(d, 0), len - 16)) return i
  }
  return count
}

/** Raw ChaCha20 (RFC 8439 §2.4): XORs the keystream from block `counter` over [ptr, ptr+len) in place. */
export function chacha20_xor(keyPtr: usize, noncePtr: usize, counter: u32, ptr: usize, len: usize): void {
  chachaKey(keyPtr, load<u32>(noncePtr, 0), load<u32>(noncePtr, 4), load<u32>(noncePtr, 8))
  chachaXor(ptr, len, counter, KS)
}

/** Raw Poly1305 (RFC 8439 §2.5): 16-byte tag of [ptr, ptr+len) under the 32-byte key, written to out. */
export function poly1305_mac(keyPtr: usize, ptr: usize, len: usize, out: usize): void {
  polyInit(keyPtr)
  polyMessage(ptr, len)
  polyFinish(out)
}
