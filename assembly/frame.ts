// P4/2 frame codec: header encoding (single and batched) and a scanner that
// walks the decrypted plaintext stream in place. Layouts are documented in
// docs/protocol.md and mirrored by ts/wasm/frame.ts; the plain TypeScript
// reference is test/reference/frame-reference.ts.
//
// The header constants and flag rules come from ts/core/wire.ts and the
// calling conventions from ts/wasm/abi.ts, the same files tsc compiles.
//
// Descriptor, 24 bytes little-endian (one per frame, shared by scan and batch
// encode): +0 u32 header offset | +4 u32 type | flags<<8 | hops<<16 |
// +8 u32 pluginId | +12 u32 payloadLength | +16 u64 messageId.
import {
  ALLOWED_FLAGS,
  FRAME_BAD_FLAGS,
  FRAME_BAD_TYPE,
  FRAME_BAD_VERSION,
  FRAME_TOO_LARGE,
  HDR_FLAGS,
  HDR_HOPS,
  HDR_LENGTH,
  HDR_MSGID,
  HDR_PLUGIN,
  HDR_TYPE,
  HDR_VERSION,
  HEADER_SIZE,
  MSG_TYPE_MAX,
  PROTOCOL_VERSION,
  REQUIRED_FLAGS,
} from '../ts/core/wire'
import {
  FRAME_BAD_DESCRIPTOR,
  FRAME_DESC_SIZE,
  FRAME_NO_OFFSET,
  SCAN_STOP_ERROR,
  SCAN_STOP_HEADER,
  SCAN_STOP_LIMIT,
  SCAN_STOP_PAYLOAD,
} from '../ts/wasm/abi'

const HEADER: u32 = HEADER_SIZE
const VERSION: u32 = PROTOCOL_VERSION
const DESC: usize = FRAME_DESC_SIZE
const NO_OFFSET: u32 = FRAME_NO_OFFSET

// The code below reads version, type, flags and hops as one u32 and the SIMD
// encoder moves pluginId, payloadLength and messageId with one shuffle: a
// different layout needs new code, not just new numbers.
if (
  HDR_VERSION != 0 || HDR_TYPE != 1 || HDR_FLAGS != 2 || HDR_HOPS != 3 ||
  HDR_PLUGIN != 4 || HDR_LENGTH != 6 || HDR_MSGID != 10 || HEADER_SIZE != 18
) ERROR('assembly/frame.ts is written for the 18-byte P4/2 header of ts/core/wire.ts')
// The flag tables hold 16 types; types 16..255 fail the `t >> 4` test.
if (MSG_TYPE_MAX > 15) ERROR('frame kernel flag tables hold at most 15 types')

// Per-type flag rules, index = type & 15, filled once at instantiation from
// ALLOWED_FLAGS / REQUIRED_FLAGS. Invalid types require bit 8, which no flags
// byte has, so the validity test below needs no separate type branch.
const ALLOWED = memory.data(16)
const REQUIRED = memory.data(32, 2)
for (let t = 0; t < 16; t++) {
  const valid = t >= 1 && t <= MSG_TYPE_MAX
  store<u8>(ALLOWED + <usize>t, valid ? <u8>ALLOWED_FLAGS[t] : 0)
  store<u16>(REQUIRED + (<usize>t << 1), valid ? <u16>REQUIRED_FLAGS[t] : 0x100)
}

// Result block: u32 count, consumed, needed, error, errorOffset, stop.
const RESULT = memory.data(24, 8)

/** Address of the 6×u32 result block written by frame_scan and frame_encode_batch. */
export function frame_result(): usize {
  return RESULT
}

// Nonzero when (version, type, flags) break the rules. `w` is the first four
// header bytes loaded little-endian: version | type<<8 | flags<<16 | hops<<24.
@inline
function badHeaderWord(w: u32): u32 {
  const t = (w >> 8) & 0xff
  const f = (w >> 16) & 0xff
  const i = <usize>(t & 15)
  return ((w & 0xff) ^ VERSION) | (t >> 4) | (f & ~(<u32>load<u8>(ALLOWED + i))) | (<u32>load<u16>(REQUIRED + (i << 1)) & ~f)
}

// The specific error, checked in the documented order; only run once a header
// is known to be bad, so clarity beats speed here.
function headerError(w: u32, payloadLength: u32, maxPayload: u32): u32 {
  const t = (w >> 8) & 0xff
  const f = (w >> 16) & 0xff
  if ((w & 0xff) != VERSION) return FRAME_BAD_VERSION
  if (t == 0 || t > <u32>MSG_TYPE_MAX) return FRAME_BAD_TYPE
  const allowed = <u32>load<u8>(ALLOWED + <usize>t)
  const required = <u32>load<u16>(REQUIRED + (<usize>t << 1))
  if ((f & ~allowed) != 0 || (f & required) != required) return FRAME_BAD_FLAGS
  if (payloadLength > maxPayload) return FRAME_TOO_LARGE
  return 0
}

@inline
function setResult(count: u32, consumed: u32, needed: u32, error: u32, errorOffset: u32, stop: u32): void {
  store<u32>(RESULT, count, 0)
  store<u32>(RESULT, consumed, 4)
  store<u32>(RESULT, needed, 8)
  store<u32>(RESULT, error, 12)
  store<u32>(RESULT, errorOffset, 16)
  store<u32>(RESULT, stop, 20)
}

/**
 * Walks complete frames in [ptr, ptr+len), writing one descriptor per frame
 * at descPtr. Stops before frame maxFrames+1, at the first incomplete frame,
 * or at the first malformed header (reported as soon as its 18 bytes are
 * present, whatever length it declares). Returns the frame count; the rest
 * of the outcome is in the result block.
 */
export function frame_scan(ptr: usize, len: u32, maxPayload: u32, descPtr: usize, maxFrames: u32): i32 {
  // Walk with pointers: the loop-carried chain is then just
  // load length -> byte swap -> add. (A SIMD shuffle of the header into the
  // descriptor measured slower here: it lengthens that chain.)
  const end = ptr + <usize>len
  const dEnd = <usize>min<u64>(<u64>descPtr + <u64>maxFrames * <u64>DESC, <u64>usize.MAX_VALUE)
  let p = ptr
  let d = descPtr
  let needed: u32 = 0
  let error: u32 = 0
  let errorOffset = NO_OFFSET
  let stop = SCAN_STOP_LIMIT
  while (d < dEnd) {
    const rem = <u32>(end - p)
    if (rem < HEADER) {
      stop = SCAN_STOP_HEADER
      needed = HEADER - rem
      break
    }
    const w = load<u32>(p)
    const plen = bswap<u32>(load<u32>(p, HDR_LENGTH))
    if ((badHeaderWord(w) | <u32>(plen > maxPayload)) != 0) {
      error = headerError(w, plen, maxPayload)
      errorOffset = <u32>(p - ptr)
      stop = SCAN_STOP_ERROR
      break
    }
    if (plen > rem - HEADER) {
      stop = SCAN_STOP_PAYLOAD
      needed = plen - (rem - HEADER)
      break
    }
    store<u32>(d, <u32>(p - ptr), 0)
    store<u32>(d, w >> 8, 4)
    store<u32>(d, <u32>bswap<u16>(load<u16>(p, HDR_PLUGIN)), 8)
    store<u32>(d, plen, 12)
    store<u64>(d, bswap<u64>(load<u64>(p, HDR_MSGID)), 16)
    d += DESC
    p += <usize>(HEADER + plen)
  }
  const n = <u32>((d - descPtr) / DESC)
  setResult(n, <u32>(p - ptr), needed, error, errorOffset, stop)
  return <i32>n
}

// Writes one header at p from already-validated fields.
@inline
function writeHeader(p: usize, tfh: u32, pluginId: u32, payloadLength: u32, messageId: u64): void {
  store<u32>(p, VERSION | (tfh << 8))
  store<u16>(p, bswap<u16>(<u16>pluginId), HDR_PLUGIN)
  store<u32>(p, bswap<u32>(payloadLength), HDR_LENGTH)
  store<u64>(p, bswap<u64>(messageId), HDR_MSGID)
}

/**
 * Writes an 18-byte header at ptr. Returns 0, or a FrameError code (5 when
 * hops or pluginId is out of range) and writes nothing.
 */
export function frame_encode_header(
  ptr: usize,
  type: u32,
  flags: u32,
  hops: u32,
  pluginId: u32,
  payloadLength: u32,
  messageId: u64,
): i32 {
  if ((hops | type | flags) > 0xff || pluginId > 0xffff) return <i32>FRAME_BAD_DESCRIPTOR
  const tfh = type | (flags << 8) | (hops << 16)
  const err = headerError(VERSION | (tfh << 8), payloadLength, 0xffffffff)
  if (err != 0) return <i32>err
  writeHeader(ptr, tfh, pluginId, payloadLength, messageId)
  return 0
}

/**
 * Writes the header of each of `count` descriptors at base + descriptor
 * offset; the payloads are expected to be in place already. A descriptor is
 * refused (FrameError code, or 5 when a field is out of range or the frame
 * does not fit in [base, base+len)) and encoding stops there. Returns the
 * number of headers written; on refusal the result block holds the error and,
 * as errorOffset, the descriptor index.
 */
export function frame_encode_batch(base: usize, len: u32, descPtr: usize, count: u32, maxPayload: u32): i32 {
  let d = descPtr
  let error: u32 = 0
  let i: u32 = 0
  for (; i < count; i++, d += DESC) {
    const off = load<u32>(d)
    const tfh = load<u32>(d, 4)
    const pluginId = load<u32>(d, 8)
    const plen = load<u32>(d, 12)
    const w = VERSION | (tfh << 8)
    if (((tfh >> 24) | (pluginId >> 16)) != 0 || <u64>off + <u64>HEADER + <u64>plen > <u64>len) {
      error = FRAME_BAD_DESCRIPTOR
      break
    }
    if ((badHeaderWord(w) | <u32>(plen > maxPayload)) != 0) {
      error = headerError(w, plen, maxPayload)
      break
    }
    const p = base + <usize>off
    if (ASC_FEATURE_SIMD) {
      // Descriptor bytes 8..23 into header bytes 4..17 (lanes 0 and 1 land on
      // bytes 2 and 3 and are overwritten by the version/type/flags/hops word).
      const v = v128.load(d, 8)
      v128.store(p, i8x16.shuffle(v, v, 0, 0, 1, 0, 7, 6, 5, 4, 15, 14, 13, 12, 11, 10, 9, 8), 2)
      store<u32>(p, w)
    } else {
      writeHeader(p, tfh, pluginId, plen, load<u64>(d, 16))
    }
  }
  setResult(i, 0, 0, error, error != 0 ? i : NO_OFFSET, error != 0 ? SCAN_STOP_ERROR : 0)
  return <i32>i
}
