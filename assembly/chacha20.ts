// ChaCha20 (RFC 8439 §2.3–2.4) over raw pointers. The SIMD build computes
// four blocks at once, one state word of all four blocks per v128 ("vertical"
// layout), then transposes; the scalar build computes one block at a time.
// State lives in static memory so callers set the key and nonce once per
// message and the block functions reload it into locals.

import { M32, polyBlocks, polyH, polyR, polyS, polySetH } from './poly1305'

/** 16 state words: constants, key, block counter (word 12, per call), nonce. */
const STATE = memory.data(64, 16)
/**
 * SIMD build: each state word splatted into a v128, the input of chacha4.
 * Word 12 holds the four lanes' block counters and is written before each
 * call; chachaPair also writes per-lane nonces into words 13..15.
 */
const SPLAT = memory.data(256, 16)
/** 256 zero bytes: XOR source when only the keystream is wanted. */
export const ZERO = memory.data(256, 16)
/** Bytes produced per call of chachaChunk: 4 blocks (SIMD) or 1 block (scalar). */
export const CHUNK: u32 = ASC_FEATURE_SIMD ? 256 : 64

/** Loads the key (32 bytes at keyPtr) and the three nonce words. */
export function chachaKey(keyPtr: usize, n0: u32, n1: u32, n2: u32): void {
  // "expand 32-byte k"
  store<u32>(STATE, 0x61707865, 0)
  store<u32>(STATE, 0x3320646e, 4)
  store<u32>(STATE, 0x79622d32, 8)
  store<u32>(STATE, 0x6b206574, 12)
  memory.copy(STATE + 16, keyPtr, 32)
  store<u32>(STATE, n0, 52)
  store<u32>(STATE, n1, 56)
  store<u32>(STATE, n2, 60)
  if (ASC_FEATURE_SIMD) {
    for (let w: usize = 0; w < 16; w++) {
      v128.store(SPLAT + (w << 4), v128.load32_splat(STATE + (w << 2)))
    }
  }
}

// Byte rotations are byte shuffles (pshufb); measured faster than shifts here.
// @ts-ignore: decorator
@inline function rotl16(x: v128, m: v128): v128 {
  return i8x16.swizzle(x, m)
}
// @ts-ignore: decorator
@inline function rotl8(x: v128, m: v128): v128 {
  return i8x16.swizzle(x, m)
}
// @ts-ignore: decorator
@inline function rotl12(x: v128): v128 {
  return v128.or(i32x4.shl(x, 12), i32x4.shr_u(x, 20))
}
// @ts-ignore: decorator
@inline function rotl7(x: v128): v128 {
  return v128.or(i32x4.shl(x, 7), i32x4.shr_u(x, 25))
}

/**
 * Stores src ^ (16 bytes of each of the 4 blocks) for state words 4q..4q+3:
 * a..d hold one word of all four blocks, so a 4x4 transpose yields one
 * 16-byte row of each block.
 */
// @ts-ignore: decorator
@inline function emit4(dst: usize, src: usize, q: usize, a: v128, b: v128, c: v128, d: v128): void {
  const t0 = i32x4.shuffle(a, b, 0, 4, 1, 5)
  const t1 = i32x4.shuffle(a, b, 2, 6, 3, 7)
  const t2 = i32x4.shuffle(c, d, 0, 4, 1, 5)
  const t3 = i32x4.shuffle(c, d, 2, 6, 3, 7)
  const o = q << 4
  v128.store(dst + o, v128.xor(v128.load(src + o), i64x2.shuffle(t0, t2, 0, 2)))
  v128.store(dst + o + 64, v128.xor(v128.load(src + o + 64), i64x2.shuffle(t0, t2, 1, 3)))
  v128.store(dst + o + 128, v128.xor(v128.load(src + o + 128), i64x2.shuffle(t1, t3, 0, 2)))
  v128.store(dst + o + 192, v128.xor(v128.load(src + o + 192), i64x2.shuffle(t1, t3, 1, 3)))
}

/**
 * dst[0..256) = src ^ the four keystream blocks whose states are in SPLAT
 * (dst may equal src). Keystream only: two double rounds per iteration
 * measured ~4% faster than chacha4Mac's loop shape when there is no MAC work.
 */
function chacha4(dst: usize, src: usize): void {
  const s = SPLAT
  let v0 = v128.load(s, 0), v1 = v128.load(s, 16), v2 = v128.load(s, 32), v3 = v128.load(s, 48)
  let v4 = v128.load(s, 64), v5 = v128.load(s, 80), v6 = v128.load(s, 96), v7 = v128.load(s, 112)
  let v8 = v128.load(s, 128), v9 = v128.load(s, 144), v10 = v128.load(s, 160), v11 = v128.load(s, 176)
  let v12 = v128.load(s, 192), v13 = v128.load(s, 208), v14 = v128.load(s, 224), v15 = v128.load(s, 240)
  const m8 = i8x16(3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14)
  const m16 = i8x16(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13)
  for (let i = 0; i < 5; i++) { // 20 rounds: two double rounds per iteration
    // columns
    v0 = i32x4.add(v0, v4); v1 = i32x4.add(v1, v5); v2 = i32x4.add(v2, v6); v3 = i32x4.add(v3, v7)
    v12 = rotl16(v128.xor(v12, v0), m16); v13 = rotl16(v128.xor(v13, v1), m16); v14 = rotl16(v128.xor(v14, v2), m16); v15 = rotl16(v128.xor(v15, v3), m16)
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15)
    v4 = rotl12(v128.xor(v4, v8)); v5 = rotl12(v128.xor(v5, v9)); v6 = rotl12(v128.xor(v6, v10)); v7 = rotl12(v128.xor(v7, v11))
    v0 = i32x4.add(v0, v4); v1 = i32x4.add(v1, v5); v2 = i32x4.add(v2, v6); v3 = i32x4.add(v3, v7)
    v12 = rotl8(v128.xor(v12, v0), m8); v13 = rotl8(v128.xor(v13, v1), m8); v14 = rotl8(v128.xor(v14, v2), m8); v15 = rotl8(v128.xor(v15, v3), m8)
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15)
    v4 = rotl7(v128.xor(v4, v8)); v5 = rotl7(v128.xor(v5, v9)); v6 = rotl7(v128.xor(v6, v10)); v7 = rotl7(v128.xor(v7, v11))
    // diagonals
    v0 = i32x4.add(v0, v5); v1 = i32x4.add(v1, v6); v2 = i32x4.add(v2, v7); v3 = i32x4.add(v3, v4)
    v15 = rotl16(v128.xor(v15, v0), m16); v12 = rotl16(v128.xor(v12, v1), m16); v13 = rotl16(v128.xor(v13, v2), m16); v14 = rotl16(v128.xor(v14, v3), m16)
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14)
    v5 = rotl12(v128.xor(v5, v10)); v6 = rotl12(v128.xor(v6, v11)); v7 = rotl12(v128.xor(v7, v8)); v4 = rotl12(v128.xor(v4, v9))
    v0 = i32x4.add(v0, v5); v1 = i32x4.add(v1, v6); v2 = i32x4.add(v2, v7); v3 = i32x4.add(v3, v4)
    v15 = rotl8(v128.xor(v15, v0), m8); v12 = rotl8(v128.xor(v12, v1), m8); v13 = rotl8(v128.xor(v13, v2), m8); v14 = rotl8(v128.xor(v14, v3), m8)
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14)
    v5 = rotl7(v128.xor(v5, v10)); v6 = rotl7(v128.xor(v6, v11)); v7 = rotl7(v128.xor(v7, v8)); v4 = rotl7(v128.xor(v4, v9))
    // columns (second double round of the pair)
    v0 = i32x4.add(v0, v4); v1 = i32x4.add(v1, v5); v2 = i32x4.add(v2, v6); v3 = i32x4.add(v3, v7)
    v12 = rotl16(v128.xor(v12, v0), m16); v13 = rotl16(v128.xor(v13, v1), m16); v14 = rotl16(v128.xor(v14, v2), m16); v15 = rotl16(v128.xor(v15, v3), m16)
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15)
    v4 = rotl12(v128.xor(v4, v8)); v5 = rotl12(v128.xor(v5, v9)); v6 = rotl12(v128.xor(v6, v10)); v7 = rotl12(v128.xor(v7, v11))
    v0 = i32x4.add(v0, v4); v1 = i32x4.add(v1, v5); v2 = i32x4.add(v2, v6); v3 = i32x4.add(v3, v7)
    v12 = rotl8(v128.xor(v12, v0), m8); v13 = rotl8(v128.xor(v13, v1), m8); v14 = rotl8(v128.xor(v14, v2), m8); v15 = rotl8(v128.xor(v15, v3), m8)
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15)
    v4 = rotl7(v128.xor(v4, v8)); v5 = rotl7(v128.xor(v5, v9)); v6 = rotl7(v128.xor(v6, v10)); v7 = rotl7(v128.xor(v7, v11))
    // diagonals
    v0 = i32x4.add(v0, v5); v1 = i32x4.add(v1, v6); v2 = i32x4.add(v2, v7); v3 = i32x4.add(v3, v4)
    v15 = rotl16(v128.xor(v15, v0), m16); v12 = rotl16(v128.xor(v12, v1), m16); v13 = rotl16(v128.xor(v13, v2), m16); v14 = rotl16(v128.xor(v14, v3), m16)
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14)
    v5 = rotl12(v128.xor(v5, v10)); v6 = rotl12(v128.xor(v6, v11)); v7 = rotl12(v128.xor(v7, v8)); v4 = rotl12(v128.xor(v4, v9))
    v0 = i32x4.add(v0, v5); v1 = i32x4.add(v1, v6); v2 = i32x4.add(v2, v7); v3 = i32x4.add(v3, v4)
    v15 = rotl8(v128.xor(v15, v0), m8); v12 = rotl8(v128.xor(v12, v1), m8); v13 = rotl8(v128.xor(v13, v2), m8); v14 = rotl8(v128.xor(v14, v3), m8)
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14)
    v5 = rotl7(v128.xor(v5, v10)); v6 = rotl7(v128.xor(v6, v11)); v7 = rotl7(v128.xor(v7, v8)); v4 = rotl7(v128.xor(v4, v9))
  }
  v0 = i32x4.add(v0, v128.load(s, 0)); v1 = i32x4.add(v1, v128.load(s, 16))
  v2 = i32x4.add(v2, v128.load(s, 32)); v3 = i32x4.add(v3, v128.load(s, 48))
  emit4(dst, src, 0, v0, v1, v2, v3)
  v4 = i32x4.add(v4, v128.load(s, 64)); v5 = i32x4.add(v5, v128.load(s, 80))
  v6 = i32x4.add(v6, v128.load(s, 96)); v7 = i32x4.add(v7, v128.load(s, 112))
  emit4(dst, src, 1, v4, v5, v6, v7)
  v8 = i32x4.add(v8, v128.load(s, 128)); v9 = i32x4.add(v9, v128.load(s, 144))
  v10 = i32x4.add(v10, v128.load(s, 160)); v11 = i32x4.add(v11, v128.load(s, 176))
  emit4(dst, src, 2, v8, v9, v10, v11)
  v12 = i32x4.add(v12, v128.load(s, 192)); v13 = i32x4.add(v13, v128.load(s, 208))
  v14 = i32x4.add(v14, v128.load(s, 224)); v15 = i32x4.add(v15, v128.load(s, 240))
  emit4(dst, src, 3, v12, v13, v14, v15)
}

/**
 * chacha4, and also absorbs `macBlocks` (at most 20) Poly1305 blocks
 * at `mac`, one before each half of a double round: the MAC runs on the
 * integer units while the rounds keep the vector units busy, and the CPU
 * overlaps them. Fine-grained, with h in locals and one double round per loop
 * iteration, measured ~15% faster at 64 KiB than 4 blocks per pair of double
 * rounds through polyBlocks (V8 then keeps the round state with fewer spills).
 */
function chacha4Mac(dst: usize, src: usize, mac: usize, macBlocks: usize): void {
  const s = SPLAT
  let v0 = v128.load(s, 0), v1 = v128.load(s, 16), v2 = v128.load(s, 32), v3 = v128.load(s, 48)
  let v4 = v128.load(s, 64), v5 = v128.load(s, 80), v6 = v128.load(s, 96), v7 = v128.load(s, 112)
  let v8 = v128.load(s, 128), v9 = v128.load(s, 144), v10 = v128.load(s, 160), v11 = v128.load(s, 176)
  let v12 = v128.load(s, 192), v13 = v128.load(s, 208), v14 = v128.load(s, 224), v15 = v128.load(s, 240)
  const m8 = i8x16(3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14)
  const m16 = i8x16(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13)
  let h0 = polyH(0), h1 = polyH(1), h2 = polyH(2), h3 = polyH(3), h4 = polyH(4)
  for (let i = 0; i < 10; i++) { // 20 rounds; unrolling this loop measured slower
    if (macBlocks != 0) {
      // one Poly1305 block, as in polyBlocks (poly1305.ts has the bounds)
      h0 += <u64>load<u32>(mac, 0); h1 += <u64>load<u32>(mac, 4); h2 += <u64>load<u32>(mac, 8); h3 += <u64>load<u32>(mac, 12); h4 += 1
      const d0 = h0 * polyR(0) + h1 * polyS(3) + h2 * polyS(2) + h3 * polyS(1)
      let d1 = h0 * polyR(1) + h1 * polyR(0) + h2 * polyS(3) + h3 * polyS(2) + h4 * polyS(1)
      let d2 = h0 * polyR(2) + h1 * polyR(1) + h2 * polyR(0) + h3 * polyS(3) + h4 * polyS(2)
      let d3 = h0 * polyR(3) + h1 * polyR(2) + h2 * polyR(1) + h3 * polyR(0) + h4 * polyS(3)
      h4 = h4 * polyR(0)
      d1 += d0 >> 32; h0 = d0 & M32
      d2 += d1 >> 32; h1 = d1 & M32
      d3 += d2 >> 32; h2 = d2 & M32
      h4 += d3 >> 32; h3 = d3 & M32
      h0 += (h4 >> 2) * 5; h4 &= 3
      mac += 16
      macBlocks--
    }
    // columns
    v0 = i32x4.add(v0, v4); v1 = i32x4.add(v1, v5); v2 = i32x4.add(v2, v6); v3 = i32x4.add(v3, v7)
    v12 = rotl16(v128.xor(v12, v0), m16); v13 = rotl16(v128.xor(v13, v1), m16); v14 = rotl16(v128.xor(v14, v2), m16); v15 = rotl16(v128.xor(v15, v3), m16)
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15)
    v4 = rotl12(v128.xor(v4, v8)); v5 = rotl12(v128.xor(v5, v9)); v6 = rotl12(v128.xor(v6, v10)); v7 = rotl12(v128.xor(v7, v11))
    v0 = i32x4.add(v0, v4); v1 = i32x4.add(v1, v5); v2 = i32x4.add(v2, v6); v3 = i32x4.add(v3, v7)
    v12 = rotl8(v128.xor(v12, v0), m8); v13 = rotl8(v128.xor(v13, v1), m8); v14 = rotl8(v128.xor(v14, v2), m8); v15 = rotl8(v128.xor(v15, v3), m8)
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15)
    v4 = rotl7(v128.xor(v4, v8)); v5 = rotl7(v128.xor(v5, v9)); v6 = rotl7(v128.xor(v6, v10)); v7 = rotl7(v128.xor(v7, v11))
    if (macBlocks != 0) {
      // one Poly1305 block, as in polyBlocks (poly1305.ts has the bounds)
      h0 += <u64>load<u32>(mac, 0); h1 += <u64>load<u32>(mac, 4); h2 += <u64>load<u32>(mac, 8); h3 += <u64>load<u32>(mac, 12); h4 += 1
      const d0 = h0 * polyR(0) + h1 * polyS(3) + h2 * polyS(2) + h3 * polyS(1)
      let d1 = h0 * polyR(1) + h1 * polyR(0) + h2 * polyS(3) + h3 * polyS(2) + h4 * polyS(1)
      let d2 = h0 * polyR(2) + h1 * polyR(1) + h2 * polyR(0) + h3 * polyS(3) + h4 * polyS(2)
      let d3 = h0 * polyR(3) + h1 * polyR(2) + h2 * polyR(1) + h3 * polyR(0) + h4 * polyS(3)
      h4 = h4 * polyR(0)
      d1 += d0 >> 32; h0 = d0 & M32
      d2 += d1 >> 32; h1 = d1 & M32
      d3 += d2 >> 32; h2 = d2 & M32
      h4 += d3 >> 32; h3 = d3 & M32
      h0 += (h4 >> 2) * 5; h4 &= 3
      mac += 16
      macBlocks--
    }
    // diagonals
    v0 = i32x4.add(v0, v5); v1 = i32x4.add(v1, v6); v2 = i32x4.add(v2, v7); v3 = i32x4.add(v3, v4)
    v15 = rotl16(v128.xor(v15, v0), m16); v12 = rotl16(v128.xor(v12, v1), m16); v13 = rotl16(v128.xor(v13, v2), m16); v14 = rotl16(v128.xor(v14, v3), m16)
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14)
    v5 = rotl12(v128.xor(v5, v10)); v6 = rotl12(v128.xor(v6, v11)); v7 = rotl12(v128.xor(v7, v8)); v4 = rotl12(v128.xor(v4, v9))
    v0 = i32x4.add(v0, v5); v1 = i32x4.add(v1, v6); v2 = i32x4.add(v2, v7); v3 = i32x4.add(v3, v4)
    v15 = rotl8(v128.xor(v15, v0), m8); v12 = rotl8(v128.xor(v12, v1), m8); v13 = rotl8(v128.xor(v13, v2), m8); v14 = rotl8(v128.xor(v14, v3), m8)
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14)
    v5 = rotl7(v128.xor(v5, v10)); v6 = rotl7(v128.xor(v6, v11)); v7 = rotl7(v128.xor(v7, v8)); v4 = rotl7(v128.xor(v4, v9))
  }
  polySetH(h0, h1, h2, h3, h4)
  v0 = i32x4.add(v0, v128.load(s, 0)); v1 = i32x4.add(v1, v128.load(s, 16))
  v2 = i32x4.add(v2, v128.load(s, 32)); v3 = i32x4.add(v3, v128.load(s, 48))
  emit4(dst, src, 0, v0, v1, v2, v3)
  v4 = i32x4.add(v4, v128.load(s, 64)); v5 = i32x4.add(v5, v128.load(s, 80))
  v6 = i32x4.add(v6, v128.load(s, 96)); v7 = i32x4.add(v7, v128.load(s, 112))
  emit4(dst, src, 1, v4, v5, v6, v7)
  v8 = i32x4.add(v8, v128.load(s, 128)); v9 = i32x4.add(v9, v128.load(s, 144))
  v10 = i32x4.add(v10, v128.load(s, 160)); v11 = i32x4.add(v11, v128.load(s, 176))
  emit4(dst, src, 2, v8, v9, v10, v11)
  v12 = i32x4.add(v12, v128.load(s, 192)); v13 = i32x4.add(v13, v128.load(s, 208))
  v14 = i32x4.add(v14, v128.load(s, 224)); v15 = i32x4.add(v15, v128.load(s, 240))
  emit4(dst, src, 3, v12, v13, v14, v15)
}

/** dst[0..64) = src ^ keystream block `counter` (dst may equal src). */
function chacha1(dst: usize, src: usize, counter: u32): void {
  const s = STATE
  let x0 = load<u32>(s, 0), x1 = load<u32>(s, 4), x2 = load<u32>(s, 8), x3 = load<u32>(s, 12)
  let x4 = load<u32>(s, 16), x5 = load<u32>(s, 20), x6 = load<u32>(s, 24), x7 = load<u32>(s, 28)
  let x8 = load<u32>(s, 32), x9 = load<u32>(s, 36), x10 = load<u32>(s, 40), x11 = load<u32>(s, 44)
  let x12 = counter, x13 = load<u32>(s, 52), x14 = load<u32>(s, 56), x15 = load<u32>(s, 60)
  for (let i = 0; i < 5; i++) { // 20 rounds: two double rounds per iteration
    // columns
    x0 += x4; x1 += x5; x2 += x6; x3 += x7
    x12 = rotl<u32>(x12 ^ x0, 16); x13 = rotl<u32>(x13 ^ x1, 16); x14 = rotl<u32>(x14 ^ x2, 16); x15 = rotl<u32>(x15 ^ x3, 16)
    x8 += x12; x9 += x13; x10 += x14; x11 += x15
    x4 = rotl<u32>(x4 ^ x8, 12); x5 = rotl<u32>(x5 ^ x9, 12); x6 = rotl<u32>(x6 ^ x10, 12); x7 = rotl<u32>(x7 ^ x11, 12)
    x0 += x4; x1 += x5; x2 += x6; x3 += x7
    x12 = rotl<u32>(x12 ^ x0, 8); x13 = rotl<u32>(x13 ^ x1, 8); x14 = rotl<u32>(x14 ^ x2, 8); x15 = rotl<u32>(x15 ^ x3, 8)
    x8 += x12; x9 += x13; x10 += x14; x11 += x15
    x4 = rotl<u32>(x4 ^ x8, 7); x5 = rotl<u32>(x5 ^ x9, 7); x6 = rotl<u32>(x6 ^ x10, 7); x7 = rotl<u32>(x7 ^ x11, 7)
    // diagonals
    x0 += x5; x1 += x6; x2 += x7; x3 += x4
    x15 = rotl<u32>(x15 ^ x0, 16); x12 = rotl<u32>(x12 ^ x1, 16); x13 = rotl<u32>(x13 ^ x2, 16); x14 = rotl<u32>(x14 ^ x3, 16)
    x10 += x15; x11 += x12; x8 += x13; x9 += x14
    x5 = rotl<u32>(x5 ^ x10, 12); x6 = rotl<u32>(x6 ^ x11, 12); x7 = rotl<u32>(x7 ^ x8, 12); x4 = rotl<u32>(x4 ^ x9, 12)
    x0 += x5; x1 += x6; x2 += x7; x3 += x4
    x15 = rotl<u32>(x15 ^ x0, 8); x12 = rotl<u32>(x12 ^ x1, 8); x13 = rotl<u32>(x13 ^ x2, 8); x14 = rotl<u32>(x14 ^ x3, 8)
    x10 += x15; x11 += x12; x8 += x13; x9 += x14
    x5 = rotl<u32>(x5 ^ x10, 7); x6 = rotl<u32>(x6 ^ x11, 7); x7 = rotl<u32>(x7 ^ x8, 7); x4 = rotl<u32>(x4 ^ x9, 7)
    // columns (second double round of the pair)
    x0 += x4; x1 += x5; x2 += x6; x3 += x7
    x12 = rotl<u32>(x12 ^ x0, 16); x13 = rotl<u32>(x13 ^ x1, 16); x14 = rotl<u32>(x14 ^ x2, 16); x15 = rotl<u32>(x15 ^ x3, 16)
    x8 += x12; x9 += x13; x10 += x14; x11 += x15
    x4 = rotl<u32>(x4 ^ x8, 12); x5 = rotl<u32>(x5 ^ x9, 12); x6 = rotl<u32>(x6 ^ x10, 12); x7 = rotl<u32>(x7 ^ x11, 12)
    x0 += x4; x1 += x5; x2 += x6; x3 += x7
    x12 = rotl<u32>(x12 ^ x0, 8); x13 = rotl<u32>(x13 ^ x1, 8); x14 = rotl<u32>(x14 ^ x2, 8); x15 = rotl<u32>(x15 ^ x3, 8)
    x8 += x12; x9 += x13; x10 += x14; x11 += x15
    x4 = rotl<u32>(x4 ^ x8, 7); x5 = rotl<u32>(x5 ^ x9, 7); x6 = rotl<u32>(x6 ^ x10, 7); x7 = rotl<u32>(x7 ^ x11, 7)
    // diagonals
    x0 += x5; x1 += x6; x2 += x7; x3 += x4
    x15 = rotl<u32>(x15 ^ x0, 16); x12 = rotl<u32>(x12 ^ x1, 16); x13 = rotl<u32>(x13 ^ x2, 16); x14 = rotl<u32>(x14 ^ x3, 16)
    x10 += x15; x11 += x12; x8 += x13; x9 += x14
    x5 = rotl<u32>(x5 ^ x10, 12); x6 = rotl<u32>(x6 ^ x11, 12); x7 = rotl<u32>(x7 ^ x8, 12); x4 = rotl<u32>(x4 ^ x9, 12)
    x0 += x5; x1 += x6; x2 += x7; x3 += x4
    x15 = rotl<u32>(x15 ^ x0, 8); x12 = rotl<u32>(x12 ^ x1, 8); x13 = rotl<u32>(x13 ^ x2, 8); x14 = rotl<u32>(x14 ^ x3, 8)
    x10 += x15; x11 += x12; x8 += x13; x9 += x14
    x5 = rotl<u32>(x5 ^ x10, 7); x6 = rotl<u32>(x6 ^ x11, 7); x7 = rotl<u32>(x7 ^ x8, 7); x4 = rotl<u32>(x4 ^ x9, 7)
  }
  store<u32>(dst, load<u32>(src, 0) ^ (x0 + load<u32>(s, 0)), 0)
  store<u32>(dst, load<u32>(src, 4) ^ (x1 + load<u32>(s, 4)), 4)
  store<u32>(dst, load<u32>(src, 8) ^ (x2 + load<u32>(s, 8)), 8)
  store<u32>(dst, load<u32>(src, 12) ^ (x3 + load<u32>(s, 12)), 12)
  store<u32>(dst, load<u32>(src, 16) ^ (x4 + load<u32>(s, 16)), 16)
  store<u32>(dst, load<u32>(src, 20) ^ (x5 + load<u32>(s, 20)), 20)
  store<u32>(dst, load<u32>(src, 24) ^ (x6 + load<u32>(s, 24)), 24)
  store<u32>(dst, load<u32>(src, 28) ^ (x7 + load<u32>(s, 28)), 28)
  store<u32>(dst, load<u32>(src, 32) ^ (x8 + load<u32>(s, 32)), 32)
  store<u32>(dst, load<u32>(src, 36) ^ (x9 + load<u32>(s, 36)), 36)
  store<u32>(dst, load<u32>(src, 40) ^ (x10 + load<u32>(s, 40)), 40)
  store<u32>(dst, load<u32>(src, 44) ^ (x11 + load<u32>(s, 44)), 44)
  store<u32>(dst, load<u32>(src, 48) ^ (x12 + counter), 48)
  store<u32>(dst, load<u32>(src, 52) ^ (x13 + load<u32>(s, 52)), 52)
  store<u32>(dst, load<u32>(src, 56) ^ (x14 + load<u32>(s, 56)), 56)
  store<u32>(dst, load<u32>(src, 60) ^ (x15 + load<u32>(s, 60)), 60)
}

/** dst[0..CHUNK) = src ^ keystream from block `counter` (CHUNK / 64 blocks). */
// @ts-ignore: decorator
@inline export function chachaChunk(dst: usize, src: usize, counter: u32): void {
  if (ASC_FEATURE_SIMD) {
    v128.store(SPLAT, i32x4.add(i32x4.splat(counter), i32x4(0, 1, 2, 3)), 192)
    chacha4(dst, src)
  } else {
    chacha1(dst, src, counter)
  }
}

/** chachaChunk, plus Poly1305 over `macBlocks` (at most CHUNK / 16) blocks at `mac`, disjoint from dst. */
// @ts-ignore: decorator
@inline export function chachaChunkMac(dst: usize, src: usize, counter: u32, mac: usize, macBlocks: usize): void {
  if (ASC_FEATURE_SIMD) {
    v128.store(SPLAT, i32x4.add(i32x4.splat(counter), i32x4(0, 1, 2, 3)), 192)
    chacha4Mac(dst, src, mac, macBlocks)
  } else {
    chacha1(dst, src, counter)
    polyBlocks(mac, macBlocks, 1)
  }
}

/**
 * SIMD build: blocks 0 and 1 of two messages at once, for two Noise records
 * under the key set by chachaKey with nonces 0 || a1 || a2 and 0 || b1 || b2:
 * dst gets a's block 0, a's block 1, b's block 0, b's block 1 (256 bytes).
 * Clobbers the nonce words, so the next single message calls chachaKey again.
 */
export function chachaPair(dst: usize, a1: u32, a2: u32, b1: u32, b2: u32): void {
  v128.store(SPLAT, i32x4(0, 1, 0, 1), 192)
  v128.store(SPLAT, i32x4.splat(0), 208)
  store<u32>(SPLAT, a1, 224); store<u32>(SPLAT, a1, 228); store<u32>(SPLAT, b1, 232); store<u32>(SPLAT, b1, 236)
  store<u32>(SPLAT, a2, 240); store<u32>(SPLAT, a2, 244); store<u32>(SPLAT, b2, 248); store<u32>(SPLAT, b2, 252)
  chacha4(dst, ZERO)
}

/**
 * Keystream blocks 0 and 1 (a message's Poly1305 key block and its first 64
 * bytes) into dst[0..128), one block at a time: for a message of at most 64
 * bytes, the SIMD build's chacha4 would make two blocks more than it needs
 * (measured: 64-byte seal 271 ns with chacha4, 249 ns with this; a
 * horizontal two-block SIMD form measured 242 ns, not worth its 40 lines).
 */
export function chachaOneTwo(dst: usize): void {
  chacha1(dst, ZERO, 0)
  chacha1(dst + 64, ZERO, 1)
}

/** XORs `len` bytes at `ks` into `ptr`. */
export function xorBytes(ptr: usize, ks: usize, len: usize): void {
  let i: usize = 0
  if (ASC_FEATURE_SIMD) {
    for (; i + 16 <= len; i += 16) v128.store(ptr + i, v128.xor(v128.load(ptr + i), v128.load(ks + i)))
  } else {
    for (; i + 8 <= len; i += 8) store<u64>(ptr + i, load<u64>(ptr + i) ^ load<u64>(ks + i))
  }
  for (; i < len; i++) store<u8>(ptr + i, load<u8>(ptr + i) ^ load<u8>(ks + i))
}

/**
 * XORs the keystream starting at block `counter` over [ptr, ptr+len) in place.
 * `ks` is a 256-byte scratch for the final partial chunk.
 */
export function chachaXor(ptr: usize, len: usize, counter: u32, ks: usize): void {
  while (len >= CHUNK) {
    chachaChunk(ptr, ptr, counter)
    ptr += CHUNK
    len -= CHUNK
    counter += CHUNK >> 6
  }
  if (len > 0) {
    chachaChunk(ks, ZERO, counter)
    xorBytes(ptr, ks, len)
  }
}
