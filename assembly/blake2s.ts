// BLAKE2s-256 (RFC 7693) and HMAC over it (RFC 2104, 64-byte block): the
// hash of the Noise handshake (Noise_XX_25519_ChaChaPoly_BLAKE2s). Handshakes
// hash a few dozen short inputs, so this is plain scalar code with its state
// in static memory; ts/wasm/blake2s.ts is the only TypeScript that calls it
// (layout and calling conventions there).

const IV = memory.data<u32>([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19])
// prettier-ignore
const SIGMA = memory.data<u8>([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
  11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4,
  7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
  9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13,
  2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
  12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11,
  13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
  6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5,
  10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
])
/** Chain value h[0..8]. */
const H = memory.data(32, 16)
/** Working vector v[0..16] of one compression. */
const V = memory.data(64, 16)
/** The block not yet compressed (the last one is compressed by finish, flagged final). */
const BUF = memory.data(64, 16)
/** HMAC: the key XOR ipad / opad. */
const PAD = memory.data(64, 16)
/** HMAC: the inner digest; a key longer than a block, hashed. */
const INNER = memory.data(32, 16)
const LONG_KEY = memory.data(32, 16)

const BLOCK: usize = 64
let bufLen: usize = 0
let counter: u64 = 0

// @ts-ignore: decorator
@inline function g(a: usize, b: usize, c: usize, d: usize, x: u32, y: u32): void {
  let va = load<u32>(V + (a << 2))
  let vb = load<u32>(V + (b << 2))
  let vc = load<u32>(V + (c << 2))
  let vd = load<u32>(V + (d << 2))
  va += vb + x
  vd = rotr<u32>(vd ^ va, 16)
  vc += vd
  vb = rotr<u32>(vb ^ vc, 12)
  va += vb + y
  vd = rotr<u32>(vd ^ va, 8)
  vc += vd
  vb = rotr<u32>(vb ^ vc, 7)
  store<u32>(V + (a << 2), va)
  store<u32>(V + (b << 2), vb)
  store<u32>(V + (c << 2), vc)
  store<u32>(V + (d << 2), vd)
}

// @ts-ignore: decorator
@inline function word(block: usize, s: usize, i: usize): u32 {
  return load<u32>(block + (<usize>load<u8>(s + i) << 2))
}

function compress(block: usize, last: bool): void {
  memory.copy(V, H, 32)
  memory.copy(V + 32, IV, 32)
  store<u32>(V, load<u32>(V, 48) ^ <u32>counter, 48)
  store<u32>(V, load<u32>(V, 52) ^ <u32>(counter >> 32), 52)
  if (last) store<u32>(V, ~load<u32>(V, 56), 56)
  for (let r: usize = 0; r < 10; r++) {
    const s = SIGMA + (r << 4)
    g(0, 4, 8, 12, word(block, s, 0), word(block, s, 1))
    g(1, 5, 9, 13, word(block, s, 2), word(block, s, 3))
    g(2, 6, 10, 14, word(block, s, 4), word(block, s, 5))
    g(3, 7, 11, 15, word(block, s, 6), word(block, s, 7))
    g(0, 5, 10, 15, word(block, s, 8), word(block, s, 9))
    g(1, 6, 11, 12, word(block, s, 10), word(block, s, 11))
    g(2, 7, 8, 13, word(block, s, 12), word(block, s, 13))
    g(3, 4, 9, 14, word(block, s, 14), word(block, s, 15))
  }
  for (let i: usize = 0; i < 32; i += 4) {
    store<u32>(H + i, load<u32>(H + i) ^ load<u32>(V + i) ^ load<u32>(V + i, 32))
  }
}

/** Starts an unkeyed 32-byte digest. */
function start(): void {
  memory.copy(H, IV, 32)
  // Parameter block: digest length 32, key length 0, fanout 1, depth 1.
  store<u32>(H, load<u32>(H) ^ 0x01010020)
  counter = 0
  bufLen = 0
}

function update(ptr: usize, len: usize): void {
  while (len > 0) {
    if (bufLen == BLOCK) {
      counter += BLOCK
      compress(BUF, false)
      bufLen = 0
    }
    // Whole blocks straight from the input, the last byte always kept back for finish.
    if (bufLen == 0) {
      while (len > BLOCK) {
        counter += BLOCK
        compress(ptr, false)
        ptr += BLOCK
        len -= BLOCK
      }
    }
    const n = len < BLOCK - bufLen ? len : BLOCK - bufLen
    memory.copy(BUF + bufLen, ptr, n)
    bufLen += n
    ptr += n
    len -= n
  }
}

function finish(outPtr: usize): void {
  counter += bufLen
  memory.fill(BUF + bufLen, 0, BLOCK - bufLen)
  compress(BUF, true)
  memory.copy(outPtr, H, 32)
}

/** BLAKE2s-256 of a || b (either may be empty) to outPtr (32 bytes). */
export function blake2s_hash(aPtr: usize, aLen: u32, bPtr: usize, bLen: u32, outPtr: usize): void {
  start()
  update(aPtr, aLen)
  update(bPtr, bLen)
  finish(outPtr)
}

function keyPad(keyPtr: usize, keyLen: usize, byte: u8): void {
  memory.fill(PAD, byte, BLOCK)
  for (let i: usize = 0; i < keyLen; i++) store<u8>(PAD + i, load<u8>(keyPtr + i) ^ byte)
}

/** HMAC-BLAKE2s(key, a || b) to outPtr (32 bytes); a key longer than 64 bytes is hashed first. */
export function blake2s_hmac(keyPtr: usize, keyLen: u32, aPtr: usize, aLen: u32, bPtr: usize, bLen: u32, outPtr: usize): void {
  let k = keyPtr
  let kl = <usize>keyLen
  if (kl > BLOCK) {
    blake2s_hash(keyPtr, keyLen, 0, 0, LONG_KEY)
    k = LONG_KEY
    kl = 32
  }
  keyPad(k, kl, 0x36)
  start()
  update(PAD, BLOCK)
  update(aPtr, aLen)
  update(bPtr, bLen)
  finish(INNER)
  keyPad(k, kl, 0x5c)
  start()
  update(PAD, BLOCK)
  update(INNER, 32)
  finish(outPtr)
}
