// Encrypted channel records (docs/protocol.md, "Encrypted channel"):
//   u16 BE sealedLength | ciphertext | 16-byte tag
// sealed with the Noise transport nonce for the record counter and empty AAD.
// These walk a whole read or a whole outgoing batch in one call.
import { aead_open_batch, aead_seal_batch } from './aead'
import { OPEN_AUTH, OPEN_LENGTH } from '../ts/wasm/abi'

const GROUP: usize = 256
/** (ptr, len) descriptors for one group of records. */
const DESC = memory.data(<i32>(GROUP * 8), 16)
const TAG: u32 = 16

// @ts-ignore: decorator
@inline function recordLength(p: usize): u32 {
  return (<u32>load<u8>(p) << 8) | <u32>load<u8>(p, 1)
}

/**
 * Seals every record laid out in [ptr, ptr+len): each is u16 BE sealedLength,
 * then sealedLength-16 bytes of plaintext and 16 bytes of room for the tag.
 * Counters run from `counter`. Returns the record count, or -1 when the
 * layout does not add up to len.
 */
export function channel_seal(keyPtr: usize, counter: u64, ptr: usize, len: u32): i32 {
  const end = ptr + <usize>len
  let p = ptr
  let total: i32 = 0
  while (p < end) {
    let n: usize = 0
    while (n < GROUP && p < end) {
      if (end - p < 2) return -1
      const sealed = recordLength(p)
      if (sealed < TAG || end - p - 2 < <usize>sealed) return -1
      store<u32>(DESC + (n << 3), <u32>(p + 2))
      store<u32>(DESC + (n << 3), sealed - TAG, 4)
      p += 2 + <usize>sealed
      n++
    }
    aead_seal_batch(keyPtr, counter + <u64>total, DESC, n)
    total += <i32>n
  }
  return total
}

/**
 * Opens every complete record in [inPtr, inPtr+inLen) and writes their
 * plaintexts back to back at outPtr (outPtr must not overlap the input).
 * Results at resPtr: u32 consumed input bytes, u32 plaintext bytes, u32 error
 * (OPEN_OK, OPEN_AUTH: authentication failed, OPEN_LENGTH: record shorter
 * than a tag; ts/wasm/abi.ts).
 * Returns the number of records opened; stops at the first failure, whose
 * plaintext is never written, and before the first record whose sealed
 * length exceeds maxSealed (error 0).
 */
export function channel_open(keyPtr: usize, counter: u64, inPtr: usize, inLen: u32, outPtr: usize, resPtr: usize, maxSealed: u32): i32 {
  const end = inPtr + <usize>inLen
  let p = inPtr
  let out = outPtr
  let total: i32 = 0
  let error: u32 = 0
  while (error == 0) {
    let n: usize = 0
    const groupStart = p
    while (n < GROUP && end - p >= 2) {
      const sealed = recordLength(p)
      if (sealed < TAG) {
        error = OPEN_LENGTH
        break
      }
      // a record above maxSealed is left for the caller (node:crypto opens large ones)
      if (sealed > maxSealed || end - p - 2 < <usize>sealed) break
      store<u32>(DESC + (n << 3), <u32>(p + 2))
      store<u32>(DESC + (n << 3), sealed, 4)
      p += 2 + <usize>sealed
      n++
    }
    if (n == 0) break
    const opened = aead_open_batch(keyPtr, counter + <u64>total, DESC, n)
    for (let i: usize = 0; i < opened; i++) {
      const d = DESC + (i << 3)
      const plain = load<u32>(d, 4) - TAG
      memory.copy(out, <usize>load<u32>(d), plain)
      out += plain
    }
    total += <i32>opened
    if (opened < n) {
      // consumed stops before the failing record
      p = <usize>load<u32>(DESC + (opened << 3)) - 2
      error = OPEN_AUTH
      break
    }
    if (groupStart == p) break
  }
  store<u32>(resPtr, <u32>(p - inPtr))
  store<u32>(resPtr, <u32>(out - outPtr), 4)
  store<u32>(resPtr, error, 8)
  return total
}
