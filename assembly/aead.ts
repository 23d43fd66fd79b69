// ChaCha20-Poly1305 AEAD (RFC 8439 §2.8), in place over raw pointers.
// Layout and calling conventions are documented in ts/wasm/aead.ts, the only
// TypeScript that calls these exports.
import { CHUNK, ZERO, chachaChunk, chachaOneTwo, chachaChunkMac, chachaKey, chachaPair, chachaXor, xorBytes } from './chacha20'
import { polyBlocks, polyFinish, polyInit, polyMessage, polyPadded } from './poly1305'

/** Keystream scratch: blocks 0..3 of a message (block 0 = Poly1305 key), or a tail chunk. */
const KS = memory.data(256, 16)
/**
 * SIMD build: keystream made by open while it MACs the ciphertext (the two
 * overlap on different execution units), applied only once the tag matched.
 */
const PRE_SIZE: usize = 65536
const PRE = memory.data(ASC_FEATURE_SIMD ? <i32>PRE_SIZE : 16, 16)
/** The final Poly1305 block: le64(aad length) || le64(text length). */
const LENS = memory.data(16, 16)
/** The tag computed by open, compared with the received one. */
const TAG = memory.data(16, 16)
/**
 * Keystream bytes left in KS after the Poly1305 key: SIMD makes blocks 0..3
 * in one call, so a message's first 192 bytes need no further ChaCha call.
 */
const FIRST: usize = CHUNK - 64
/** Largest record that chachaPair serves: one keystream block besides the key block. */
const PAIR_MAX: usize = 64

// @ts-ignore: decorator
@inline function lengths(aadLen: usize, len: usize): void {
  store<u64>(LENS, <u64>aadLen, 0)
  store<u64>(LENS, <u64>len, 8)
  polyBlocks(LENS, 1, 1)
}

/**
 * Seals [ptr, ptr+len) in place, tag at ptr+len. `ks` holds keystream block 0
 * (the Poly1305 key) and then `avail` bytes of blocks 1.. ; later blocks come
 * from the ChaCha state set by chachaKey.
 */
function sealFrom(ks: usize, avail: usize, aadPtr: usize, aadLen: usize, ptr: usize, len: usize): void {
  polyInit(ks)
  polyPadded(aadPtr, aadLen)
  let off = len < avail ? len : avail
  xorBytes(ptr, ks + 64, off)
  // Each chunk is encrypted while the previous chunk's ciphertext is MACed.
  let macOff: usize = 0
  let counter = <u32>1 + <u32>(avail >> 6)
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
 * only if it matches decrypts in place. Returns 1, or 0 with the buffer
 * untouched. `ks` and `avail` as for sealFrom.
 */
function openFrom(ks: usize, avail: usize, aadPtr: usize, aadLen: usize, ptr: usize, len: usize): i32 {
  polyInit(ks)
  polyPadded(aadPtr, aadLen)
  const first = len < avail ? len : avail
  let counter = <u32>1 + <u32>(avail >> 6)
  let macOff: usize = 0
  let pre: usize = 0
  if (ASC_FEATURE_SIMD) {
    while (len - first - pre >= CHUNK && pre < PRE_SIZE) {
      const rest = (len - macOff) >> 4
      const blocks = rest < (CHUNK >> 4) ? rest : CHUNK >> 4
      chachaChunkMac(PRE + pre, ZERO, counter, ptr + macOff, blocks)
      macOff += blocks << 4
      pre += CHUNK
      counter += <u32>(CHUNK >> 6)
    }
  }
  polyPadded(ptr + macOff, len - macOff)
  lengths(aadLen, len)
  polyFinish(TAG)
  // constant time: OR of XORs, no early exit
  const diff = (load<u64>(TAG, 0) ^ load<u64>(ptr + len, 0)) | (load<u64>(TAG, 8) ^ load<u64>(ptr + len, 8))
  if (diff != 0) {
    // no keystream for a forged message stays behind
    memory.fill(KS, 0, 256)
    memory.fill(PRE, 0, pre)
    return 0
  }
  xorBytes(ptr, ks + 64, first)
  xorBytes(ptr + first, PRE, pre)
  chachaXor(ptr + first + pre, len - first - pre, counter, KS)
  return 1
}

/** One message: derives the keystream for nonce n0 || n1 || n2, then seals. */
function sealOne(keyPtr: usize, n0: u32, n1: u32, n2: u32, aadPtr: usize, aadLen: usize, ptr: usize, len: usize): void {
  chachaKey(keyPtr, n0, n1, n2)
  if (ASC_FEATURE_SIMD && len <= PAIR_MAX) {
    chachaOneTwo(KS)
    sealFrom(KS, 64, aadPtr, aadLen, ptr, len)
    return
  }
  chachaChunk(KS, ZERO, 0)
  sealFrom(KS, FIRST, aadPtr, aadLen, ptr, len)
}

function openOne(keyPtr: usize, n0: u32, n1: u32, n2: u32, aadPtr: usize, aadLen: usize, ptr: usize, len: usize): i32 {
  chachaKey(keyPtr, n0, n1, n2)
  if (ASC_FEATURE_SIMD && len <= PAIR_MAX) {
    chachaOneTwo(KS)
    return openFrom(KS, 64, aadPtr, aadLen, ptr, len)
  }
  chachaChunk(KS, ZERO, 0)
  return openFrom(KS, FIRST, aadPtr, aadLen, ptr, len)
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

// Batches. Descriptors are `stride` bytes: u32 ptr, u32 len, and with stride
// 16 also u32 aadPtr, u32 aadLen. Record i uses the Noise nonce
// 0^32 || le64(counter + i). In the SIMD build two consecutive records of at
// most 64 bytes share one 4-block ChaCha call (each needs only 2 blocks).

/** Descriptor field `i` (u32) of the record at d. */
// @ts-ignore: decorator
@inline function field(d: usize, i: usize): usize {
  return <usize>load<u32>(d + (i << 2))
}

// @ts-ignore: decorator
@inline function sealBatch(keyPtr: usize, counter: u64, descPtr: usize, count: usize, stride: usize): void {
  const ad = stride == 16
  let i: usize = 0
  while (i < count) {
    const d = descPtr + i * stride
    const e = d + stride
    const n = counter + <u64>i
    if (ASC_FEATURE_SIMD && i + 1 < count && field(d, 1) <= PAIR_MAX && field(e, 1) <= PAIR_MAX) {
      const m = n + 1
      chachaKey(keyPtr, 0, 0, 0)
      chachaPair(KS, <u32>n, <u32>(n >> 32), <u32>m, <u32>(m >> 32))
      sealFrom(KS, 64, ad ? field(d, 2) : 0, ad ? field(d, 3) : 0, field(d, 0), field(d, 1))
      sealFrom(KS + 128, 64, ad ? field(e, 2) : 0, ad ? field(e, 3) : 0, field(e, 0), field(e, 1))
      i += 2
    } else {
      sealOne(keyPtr, 0, <u32>n, <u32>(n >> 32), ad ? field(d, 2) : 0, ad ? field(d, 3) : 0, field(d, 0), field(d, 1))
      i++
    }
  }
}

// @ts-ignore: decorator
@inline function openBatch(keyPtr: usize, counter: u64, descPtr: usize, count: usize, stride: usize): usize {
  const ad = stride == 16
  let i: usize = 0
  while (i < count) {
    const d = descPtr + i * stride
    const e = d + stride
    const n = counter + <u64>i
    const len = field(d, 1)
    if (len < 16) return i
    // (a second length below 16 wraps to a huge value here and takes the single path)
    if (ASC_FEATURE_SIMD && i + 1 < count && len - 16 <= PAIR_MAX && field(e, 1) - 16 <= PAIR_MAX) {
      const m = n + 1
      chachaKey(keyPtr, 0, 0, 0)
      chachaPair(KS, <u32>n, <u32>(n >> 32), <u32>m, <u32>(m >> 32))
      if (!openFrom(KS, 64, ad ? field(d, 2) : 0, ad ? field(d, 3) : 0, field(d, 0), len - 16)) return i
      if (!openFrom(KS + 128, 64, ad ? field(e, 2) : 0, ad ? field(e, 3) : 0, field(e, 0), field(e, 1) - 16)) return i + 1
      i += 2
    } else {
      if (!openOne(keyPtr, 0, <u32>n, <u32>(n >> 32), ad ? field(d, 2) : 0, ad ? field(d, 3) : 0, field(d, 0), len - 16)) return i
      i++
    }
  }
  return count
}

/**
 * Noise transport batch: descriptor i (8 bytes at descPtr + 8i) is u32 ptr,
 * u32 len of a plaintext; it is sealed in place with nonce 0^32 || le64(counter + i),
 * empty AAD, tag at ptr+len.
 */
export function aead_seal_batch(keyPtr: usize, counter: u64, descPtr: usize, count: usize): void {
  sealBatch(keyPtr, counter, descPtr, count, 8)
}

/**
 * Noise transport batch open: descriptor len is ciphertext + tag. Opens in
 * order and stops at the first record that fails (or is shorter than a tag);
 * returns how many opened. Records from the failing one on are untouched.
 */
export function aead_open_batch(keyPtr: usize, counter: u64, descPtr: usize, count: usize): usize {
  return openBatch(keyPtr, counter, descPtr, count, 8)
}

/** As aead_seal_batch with AAD: descriptor i (16 bytes at descPtr + 16i) is u32 ptr, len, aadPtr, aadLen. */
export function aead_seal_batch_ad(keyPtr: usize, counter: u64, descPtr: usize, count: usize): void {
  sealBatch(keyPtr, counter, descPtr, count, 16)
}

/** As aead_open_batch with AAD: 16-byte descriptors u32 ptr, len (ciphertext + tag), aadPtr, aadLen. */
export function aead_open_batch_ad(keyPtr: usize, counter: u64, descPtr: usize, count: usize): usize {
  return openBatch(keyPtr, counter, descPtr, count, 16)
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
