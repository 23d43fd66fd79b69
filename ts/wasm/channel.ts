// The encrypted channel's WASM side: a seal region where outgoing records are
// built (batch-writer.ts) and sealed in one call; opens every complete
// incoming record of a read in one call and hands back the contiguous
// plaintext for frame scanning.
//
// Record layout on the wire (docs/protocol.md, "Encrypted channel"):
//   u16 BE sealedLength | ciphertext (sealedLength - 16) | tag (16)
// nonce = Noise ChaChaPoly nonce for the record counter, empty AAD.
//
// One ChannelScratch exists per kernel (process-wide). Sessions borrow it
// synchronously for one read or one flush, so no session holds WASM memory
// while idle.
import { P4Error } from '../core/errors.js'
import { HEADER_SIZE } from '../core/protocol.js'
import { HDR_LENGTH } from '../core/wire.js'
import { OPEN_AUTH, OPEN_LENGTH, OPEN_OK } from './abi.js'
import { kernel as defaultKernel, kernelFault, type Kernel } from './loader.js'
import { FrameScanner, ScanStop } from './frame.js'

export const TAG_SIZE = 16
export const RECORD_PREFIX = 2
/** Noise limits a transport message to 65535 bytes; a record is one. */
export const RECORD_MAX_SEALED = 65535
export const RECORD_MAX_PLAIN = RECORD_MAX_SEALED - TAG_SIZE

/** Sizes of the shared regions. */
const IN_CAP = 4 * (RECORD_PREFIX + RECORD_MAX_SEALED)
/** Plaintext of a partial frame carried from one read to the next, at most. */
export const PLAIN_CARRY_MAX = 64 * 1024
const PLAIN_CAP = PLAIN_CARRY_MAX + IN_CAP
const SEAL_CAP = 4 * (RECORD_PREFIX + RECORD_MAX_SEALED)

/** channel_open error codes (assembly/channel.ts). */
export const OpenError = { NONE: OPEN_OK, AUTH: OPEN_AUTH, LENGTH: OPEN_LENGTH } as const

interface ChannelExports {
  channel_seal(keyPtr: number, counter: bigint, ptr: number, len: number): number
  channel_open(keyPtr: number, counter: bigint, inPtr: number, inLen: number, outPtr: number, resPtr: number, maxSealed: number): number
}

/**
 * Bytes of frames one scan covers (Node's Buffer.poolSize): a scan copied
 * out below half of it is a slice of Node's pool, above it a buffer of its own.
 */
export const SCAN_BYTES = 8192

export class ChannelScratch {
  readonly kernel: Kernel
  readonly scanner: FrameScanner
  private readonly ex: ChannelExports
  readonly keyPtr: number
  private readonly resPtr: number
  readonly inPtr: number
  readonly plainPtr: number
  readonly sealPtr: number
  /** Results of the last open(). */
  consumed = 0
  plainLen = 0
  error = 0

  constructor(k: Kernel) {
    this.kernel = k
    this.ex = k.exports as unknown as ChannelExports
    this.keyPtr = k.alloc(32)
    this.resPtr = k.alloc(16)
    this.inPtr = k.alloc(IN_CAP)
    this.plainPtr = k.alloc(PLAIN_CAP)
    this.sealPtr = k.alloc(SEAL_CAP)
    this.scanner = new FrameScanner(4096, k)
  }

  get inCapacity(): number {
    return IN_CAP
  }
  get sealCapacity(): number {
    return SEAL_CAP
  }

  setKey(key: Uint8Array): void {
    this.kernel.bytes().set(key, this.keyPtr)
  }

  /**
   * Opens every complete record in input [inFrom, inFrom+inLen) into the
   * plaintext region at plainOffset, stopping before a record sealed larger
   * than maxSealed. Returns the number of records opened;
   * consumed / plainLen / error describe the rest. Stops at the first record
   * that fails authentication (error AUTH) without exposing its plaintext.
   */
  open(counter: number, inFrom: number, inLen: number, plainOffset: number, maxSealed: number): number {
    let n: number
    try {
      n = this.ex.channel_open(this.keyPtr, BigInt(counter), this.inPtr + inFrom, inLen, this.plainPtr + plainOffset, this.resPtr, maxSealed)
    } catch (err) {
      throw kernelFault(err, 'channel_open')
    }
    const dv = this.kernel.view()
    this.consumed = dv.getUint32(this.resPtr, true)
    this.plainLen = dv.getUint32(this.resPtr + 4, true)
    this.error = dv.getUint32(this.resPtr + 8, true)
    return n
  }

  /** Bytes of `chunk` that load() took in its last call. */
  taken = 0

  /**
   * Loads a carried partial record and then as much of chunk[from..] as fits
   * into the input region; returns the input length (taken says how much of
   * the chunk).
   */
  loadCipher(carry: Uint8Array | null, chunk: Uint8Array, from: number): number {
    const u8 = this.kernel.bytes()
    let len = 0
    if (carry !== null) {
      u8.set(carry, this.inPtr)
      len = carry.length
    }
    const n = Math.min(IN_CAP - len, chunk.length - from)
    u8.set(from === 0 && n === chunk.length ? chunk : chunk.subarray(from, from + n), this.inPtr + len)
    this.taken = n
    return len + n
  }

  /** Copies input bytes [from, to) out (an incomplete record kept for the next read). */
  cipherSlice(from: number, to: number): Uint8Array {
    return this.kernel.bytes().slice(this.inPtr + from, this.inPtr + to)
  }

  /** The sealed length of the record at input offset `at` (2 bytes must be there). */
  recordLength(at: number): number {
    const u8 = this.kernel.bytes()
    return (u8[this.inPtr + at]! << 8) | u8[this.inPtr + at + 1]!
  }

  /** A view of input bytes [from, to) (valid until the next WASM call that can grow memory). */
  cipherView(from: number, to: number): Uint8Array {
    return this.kernel.bytes().subarray(this.inPtr + from, this.inPtr + to)
  }

  /** Copies bytes into the plaintext region at `at`. */
  loadPlainAt(at: number, bytes: Uint8Array): void {
    this.kernel.bytes().set(bytes, this.plainPtr + at)
  }

  /** Puts a carried partial frame at the start of the plaintext region; returns its length. */
  loadPlain(carry: Uint8Array): number {
    this.kernel.bytes().set(carry, this.plainPtr)
    return carry.length
  }

  /** Copies plaintext [from, to) into a fresh Buffer. */
  plainCopy(from: number, to: number): Buffer {
    const out = Buffer.allocUnsafe(to - from)
    out.set(this.kernel.bytes().subarray(this.plainPtr + from, this.plainPtr + to))
    return out
  }

  /** Copies plaintext [from, to) into dest at destOffset. */
  plainInto(from: number, to: number, dest: Uint8Array, destOffset: number): void {
    dest.set(this.kernel.bytes().subarray(this.plainPtr + from, this.plainPtr + to), destOffset)
  }

  /**
   * Scans frames in plaintext [from, from+len); descriptor offsets are
   * relative to `from`. At most about SCAN_BYTES of frames at a time (a
   * larger frame alone): the receiver copies each scan out in one buffer
   * that the frames' payloads are views of, so a small message an
   * application keeps holds at most that much alive, not the whole record.
   * Stopped early, the scan reports LIMIT (scan again from `consumed`).
   */
  scan(from: number, len: number, maxPayload: number): number {
    const sc = this.scanner
    const ptr = this.plainPtr + from
    if (len <= SCAN_BYTES) return sc.scan(ptr, len, maxPayload)
    // A first frame larger than the budget goes alone (its header is here: len > 18).
    const m = this.kernel.bytes()
    const at = ptr + HDR_LENGTH
    const first = HEADER_SIZE + (((m[at]! << 24) | (m[at + 1]! << 16) | (m[at + 2]! << 8) | m[at + 3]!) >>> 0)
    if (first > SCAN_BYTES) return sc.scan(ptr, len, maxPayload, 1)
    const n = sc.scan(ptr, SCAN_BYTES, maxPayload)
    if (n > 0 && (sc.stop === ScanStop.HEADER || sc.stop === ScanStop.PAYLOAD)) {
      // It stopped at the budget, not at the end of the data: more follows.
      sc.stop = ScanStop.LIMIT
      sc.needed = 0
    }
    return n
  }

  /** A DataView positioned on the plaintext header at `from` (18 bytes must be there). */
  plainHeader(from: number): DataView {
    return new DataView(this.kernel.exports.memory.buffer, this.plainPtr + from, HEADER_SIZE)
  }

  /** Seals the records laid out in [sealPtr+from, sealPtr+from+len) in place; returns how many. */
  seal(counter: number, len: number, from = 0): number {
    let n: number
    try {
      n = this.ex.channel_seal(this.keyPtr, BigInt(counter), this.sealPtr + from, len)
    } catch (err) {
      throw kernelFault(err, 'channel_seal')
    }
    if (n < 0) throw new P4Error('BAD_ARGUMENT', 'malformed record layout in the seal region')
    return n
  }
}

const scratches = new Map<Kernel, ChannelScratch>()

/** The process-wide channel scratch of a kernel (default: the process's kernel). */
export function channelScratch(k: Kernel = defaultKernel()): ChannelScratch {
  let s = scratches.get(k)
  if (!s) {
    s = new ChannelScratch(k)
    scratches.set(k, s)
  }
  return s
}
