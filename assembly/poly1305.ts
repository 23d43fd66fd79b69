// Poly1305 (RFC 8439 §2.5) over raw pointers, radix 2^32: h is four limbs of
// about 32 bits plus a small top limb h4 (bits 128 and up), r four 32-bit
// limbs. Clamping leaves r1..r3 divisible by 4, so a product term that wraps
// past 2^128 folds back exactly as h_i * (5 * r_j / 4) = h_i * s_j
// (2^130 = 5 mod p). 20 multiplications per 16-byte block, no branches on
// secrets.
//
// Bounds (all u64, nothing overflows): after each block's reduction
// h1..h3 < 2^32, h4 <= 3 and h0 < 2.25 * 2^32 (it also absorbs the fold of
// the bits above 2^130, below 5 * 2^30). The message is added without
// carrying, so at the multiplication h0 < 3.25 * 2^32, h1..h3 < 2^33 and
// h4 <= 4. With r_j < 2^28 and s_j < 1.25 * 2^28, each column sum d_k is
// below (3.25 + 7.5) * 2^60 < 2^64. polyFinish carries fully before reducing.

/**
 * State: h0..h4 (u64 at 0..40), r0..r3 (u64 at 40..72), pad s (16 bytes at
 * 72), s1..s3 = r_j + r_j / 4 (u64 at 88..112).
 */
const CTX = memory.data(112, 16)
/** A zero-padded final block. */
const PAD = memory.data(16, 16)
export const M32: u64 = 0xffffffff

/** Starts a MAC with the 32-byte one-time key at keyPtr (r || s). */
export function polyInit(keyPtr: usize): void {
  store<u64>(CTX, 0, 0)
  store<u64>(CTX, 0, 8)
  store<u64>(CTX, 0, 16)
  store<u64>(CTX, 0, 24)
  store<u64>(CTX, 0, 32)
  store<u64>(CTX, <u64>(load<u32>(keyPtr, 0) & 0x0fffffff), 40)
  store<u64>(CTX, <u64>(load<u32>(keyPtr, 4) & 0x0ffffffc), 48)
  store<u64>(CTX, <u64>(load<u32>(keyPtr, 8) & 0x0ffffffc), 56)
  store<u64>(CTX, <u64>(load<u32>(keyPtr, 12) & 0x0ffffffc), 64)
  store<u64>(CTX, load<u64>(keyPtr, 16), 72)
  store<u64>(CTX, load<u64>(keyPtr, 24), 80)
  for (let j: usize = 1; j < 4; j++) {
    const r = load<u64>(CTX + (j << 3), 40)
    store<u64>(CTX + (j << 3), r + (r >> 2), 80)
  }
}

// Accessors for the SIMD ChaCha rounds (chacha20.ts), which absorb blocks
// between their half rounds with h kept in locals: r_j and s_j are read from
// memory at each use, so they cost the rounds no registers.

/** Limb i of the accumulator h (0..4). */
// @ts-ignore: decorator
@inline export function polyH(i: usize): u64 {
  return load<u64>(CTX + (i << 3))
}
/** Stores the accumulator h back. */
// @ts-ignore: decorator
@inline export function polySetH(h0: u64, h1: u64, h2: u64, h3: u64, h4: u64): void {
  store<u64>(CTX, h0, 0)
  store<u64>(CTX, h1, 8)
  store<u64>(CTX, h2, 16)
  store<u64>(CTX, h3, 24)
  store<u64>(CTX, h4, 32)
}
/** Limb j of the clamped r (0..3). */
// @ts-ignore: decorator
@inline export function polyR(j: usize): u64 {
  return load<u64>(CTX + (j << 3), 40)
}
/** s_j = 5 * r_j / 4 (j = 1..3), the factor of a product term that wraps past 2^128. */
// @ts-ignore: decorator
@inline export function polyS(j: usize): u64 {
  return load<u64>(CTX + (j << 3), 80)
}

/**
 * Absorbs `blocks` 16-byte blocks at ptr; hibit is 1 for full blocks, 0 for a
 * 0x01-padded final one. Inlined so the ChaCha chunk loop can interleave it.
 */
// @ts-ignore: decorator
@inline export function polyBlocks(ptr: usize, blocks: usize, hibit: u64): void {
  if (blocks == 0) return
  const r0 = load<u64>(CTX, 40), r1 = load<u64>(CTX, 48), r2 = load<u64>(CTX, 56), r3 = load<u64>(CTX, 64)
  const s1 = polyS(1), s2 = polyS(2), s3 = polyS(3)
  let h0 = load<u64>(CTX, 0), h1 = load<u64>(CTX, 8), h2 = load<u64>(CTX, 16)
  let h3 = load<u64>(CTX, 24), h4 = load<u64>(CTX, 32)
  const end = ptr + (blocks << 4)
  do {
    // h += m without carrying (see the bounds at the top of this file)
    h0 += <u64>load<u32>(ptr, 0)
    h1 += <u64>load<u32>(ptr, 4)
    h2 += <u64>load<u32>(ptr, 8)
    h3 += <u64>load<u32>(ptr, 12)
    h4 += hibit
    // h *= r (mod 2^130 - 5), columns of the schoolbook product with wrapped terms folded
    const d0 = h0 * r0 + h1 * s3 + h2 * s2 + h3 * s1
    let d1 = h0 * r1 + h1 * r0 + h2 * s3 + h3 * s2 + h4 * s1
    let d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s3 + h4 * s2
    let d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s3
    h4 = h4 * r0
    d1 += d0 >> 32; h0 = d0 & M32
    d2 += d1 >> 32; h1 = d1 & M32
    d3 += d2 >> 32; h2 = d2 & M32
    h4 += d3 >> 32; h3 = d3 & M32
    // bits from 2^130 up fold back times 5; h0's excess is carried by the next block or by polyFinish
    h0 += (h4 >> 2) * 5
    h4 &= 3
    ptr += 16
  } while (ptr < end)
  store<u64>(CTX, h0, 0)
  store<u64>(CTX, h1, 8)
  store<u64>(CTX, h2, 16)
  store<u64>(CTX, h3, 24)
  store<u64>(CTX, h4, 32)
}

/** Absorbs len bytes as the AEAD does: zero-padded to a multiple of 16. */
export function polyPadded(ptr: usize, len: usize): void {
  polyBlocks(ptr, len >> 4, 1)
  const rest = len & 15
  if (rest != 0) {
    store<u64>(PAD, 0, 0)
    store<u64>(PAD, 0, 8)
    memory.copy(PAD, ptr + len - rest, rest)
    polyBlocks(PAD, 1, 1)
  }
}

/** Absorbs len bytes as plain Poly1305 does: a final partial block gets 0x01 and no 2^128 bit. */
export function polyMessage(ptr: usize, len: usize): void {
  polyBlocks(ptr, len >> 4, 1)
  const rest = len & 15
  if (rest != 0) {
    store<u64>(PAD, 0, 0)
    store<u64>(PAD, 0, 8)
    memory.copy(PAD, ptr + len - rest, rest)
    store<u8>(PAD + rest, 1)
    polyBlocks(PAD, 1, 0)
  }
}

/** Writes the 16-byte tag (h mod p) + s mod 2^128 to out. */
export function polyFinish(out: usize): void {
  let h0 = load<u64>(CTX, 0), h1 = load<u64>(CTX, 8), h2 = load<u64>(CTX, 16)
  let h3 = load<u64>(CTX, 24), h4 = load<u64>(CTX, 32)
  // full carry, fold, full carry: h < 2^130 + 2^32
  h1 += h0 >> 32; h0 &= M32
  h2 += h1 >> 32; h1 &= M32
  h3 += h2 >> 32; h2 &= M32
  h4 += h3 >> 32; h3 &= M32
  h0 += (h4 >> 2) * 5; h4 &= 3
  h1 += h0 >> 32; h0 &= M32
  h2 += h1 >> 32; h1 &= M32
  h3 += h2 >> 32; h2 &= M32
  h4 += h3 >> 32; h3 &= M32
  // g = h + 5 - 2^130; take g when it is not negative (bit 130 of h + 5 set), without branching
  const g0 = h0 + 5
  const g1 = h1 + (g0 >> 32)
  const g2 = h2 + (g1 >> 32)
  const g3 = h3 + (g2 >> 32)
  const g4 = h4 + (g3 >> 32)
  const use = <u64>0 - (g4 >> 2)
  const keep = ~use
  h0 = (h0 & keep) | (g0 & use)
  h1 = (h1 & keep) | (g1 & use)
  h2 = (h2 & keep) | (g2 & use)
  h3 = (h3 & keep) | (g3 & use)
  // + s mod 2^128
  const f0 = (h0 & M32) + <u64>load<u32>(CTX, 72)
  const f1 = (h1 & M32) + <u64>load<u32>(CTX, 76) + (f0 >> 32)
  const f2 = (h2 & M32) + <u64>load<u32>(CTX, 80) + (f1 >> 32)
  const f3 = (h3 & M32) + <u64>load<u32>(CTX, 84) + (f2 >> 32)
  store<u32>(out, <u32>f0, 0)
  store<u32>(out, <u32>f1, 4)
  store<u32>(out, <u32>f2, 8)
  store<u32>(out, <u32>f3, 12)
}
