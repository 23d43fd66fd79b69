// Typed wrapper over the frame kernel (assembly/frame.ts): a scanner that owns
// its descriptor array in WASM memory, a batch header encoder, and a single
// header encoder. Layouts are documented in docs/protocol.md.
import { P4Error } from '../core/errors.js'
import { DEFAULT_MAX_MESSAGE, FrameError, HEADER_SIZE } from '../core/protocol.js'
import {
  FRAME_BAD_DESCRIPTOR,
  FRAME_DESC_SIZE,
  FRAME_NO_OFFSET,
  SCAN_STOP_ERROR,
  SCAN_STOP_HEADER,
  SCAN_STOP_LIMIT,
  SCAN_STOP_PAYLOAD,
} from './abi.js'
import { kernel, kernelFault, type Kernel } from './loader.js'

// FRAME_DESC_SIZE: bytes per descriptor, u32 offset, u32 type|flags<<8|hops<<16,
// u32 pluginId, u32 payloadLength, u64 messageId (LE). FRAME_BAD_DESCRIPTOR:
// encoder-only error, a descriptor field is out of range or its frame does
// not fit the region.
export { FRAME_BAD_DESCRIPTOR, FRAME_DESC_SIZE }
/** u32 words per frame descriptor (see words()). */
export const DESC_WORDS = FRAME_DESC_SIZE / 4
const NO_OFFSET = FRAME_NO_OFFSET

/** Why a scan stopped. */
export const ScanStop = {
  /** Fewer than 18 bytes left (possibly none): `needed` header bytes are missing. */
  HEADER: SCAN_STOP_HEADER,
  /** The next header is complete but `needed` payload bytes are missing. */
  PAYLOAD: SCAN_STOP_PAYLOAD,
  /** maxFrames descriptors were written; scan again from `consumed`. */
  LIMIT: SCAN_STOP_LIMIT,
  /** The header at `errorOffset` is malformed (`error` says how). */
  ERROR: SCAN_STOP_ERROR,
} as const
export type ScanStop = (typeof ScanStop)[keyof typeof ScanStop]

export interface FrameHeader {
  type: number
  flags: number
  hops: number
  pluginId: number
  payloadLength: number
  messageId: bigint
}

/** A scanned frame; `offset` is where its header starts, the payload follows at offset + 18. */
export interface Frame extends FrameHeader {
  offset: number
}

/** Everything a scan reports besides the descriptors. */
export interface ScanOutcome {
  count: number
  /** Bytes taken by the complete frames described. */
  consumed: number
  /** Bytes the next frame still needs (0 when stopped by LIMIT or ERROR). */
  needed: number
  /** A FrameError code, 0 unless stop is ERROR. */
  error: number
  /** Offset of the malformed header, -1 when none. */
  errorOffset: number
  stop: ScanStop
}

interface FrameExports {
  frame_result(): number
  frame_scan(ptr: number, len: number, maxPayload: number, descPtr: number, maxFrames: number): number
  frame_encode_header(
    ptr: number,
    type: number,
    flags: number,
    hops: number,
    pluginId: number,
    payloadLength: number,
    messageId: bigint,
  ): number
  frame_encode_batch(base: number, len: number, descPtr: number, count: number, maxPayload: number): number
}

const ERROR_NAMES: Record<number, string> = {
  ...Object.fromEntries(Object.entries(FrameError).map(([name, code]) => [code, name])),
  [FRAME_BAD_DESCRIPTOR]: 'BAD_DESCRIPTOR',
}

/** Name of a FrameError code (or of FRAME_BAD_DESCRIPTOR), for messages. */
export function frameErrorName(code: number): string {
  return ERROR_NAMES[code] ?? `UNKNOWN(${code})`
}

// The descriptor size and the other conventions were checked at load (loader.ts).
function frameExports(k: Kernel): FrameExports {
  return k.exports as unknown as FrameExports
}

function isU32(v: unknown): v is number {
  return typeof v === 'number' && v >>> 0 === v
}

function checkUint(v: unknown, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be an integer in 0..${max}, got ${String(v)}`)
  }
  return v
}

// checkUint with a cheap common case, for per-frame calls.
function fits(v: number, max: number, what: string): void {
  if (v >>> 0 !== v || v > max) checkUint(v, max, what)
}

function checkRegion(k: Kernel, ptr: unknown, len: unknown, what: string): void {
  if (!isU32(ptr) || !isU32(len) || ptr + len > k.exports.memory.buffer.byteLength) {
    throw new P4Error('BAD_ARGUMENT', `${what} (${String(ptr)}, ${String(len)}) is not inside WASM memory`)
  }
}

function checkMessageId(v: unknown): bigint {
  if (typeof v !== 'bigint' || v < 0n || v > 0xffffffffffffffffn) {
    throw new P4Error('BAD_ARGUMENT', 'messageId must be a bigint in 0..2^64-1')
  }
  return v
}

/**
 * Scans frames in WASM memory into a descriptor array it owns. After scan(),
 * the outcome fields are set and descriptor i is read with the accessors,
 * which allocate nothing (except messageId() and frame()). Descriptors stay
 * valid until the next scan; the views follow memory growth by themselves.
 */
export class FrameScanner implements ScanOutcome {
  readonly kernel: Kernel
  /** Largest maxFrames a scan may use (descriptor array length). */
  readonly capacity: number
  count = 0
  consumed = 0
  needed = HEADER_SIZE
  error = 0
  errorOffset = -1
  stop: ScanStop = ScanStop.HEADER
  /** Address the last scan started at; descriptor offsets are relative to it. */
  base = 0
  private readonly ex: FrameExports
  private descPtr: number
  private readonly descWord: number
  private readonly resultWord: number
  private u32: Uint32Array
  private scratchPtr = 0
  private scratchSize = 0

  constructor(capacity = 1024, k: Kernel = kernel()) {
    checkUint(capacity, 1 << 24, 'capacity')
    if (capacity === 0) throw new P4Error('BAD_ARGUMENT', 'capacity must be at least 1')
    this.kernel = k
    this.capacity = capacity
    this.ex = frameExports(k)
    this.descPtr = k.alloc(capacity * FRAME_DESC_SIZE)
    this.descWord = this.descPtr >>> 2
    this.resultWord = this.ex.frame_result() >>> 2
    this.u32 = new Uint32Array(k.exports.memory.buffer)
  }

  /** Address of the descriptor array (capacity × 24 bytes). */
  get descriptors(): number {
    return this.descPtr
  }

  /**
   * Scans [ptr, ptr+len) of WASM memory, stopping after maxFrames frames
   * (default: capacity). Returns the frame count.
   */
  scan(ptr: number, len: number, maxPayload: number = DEFAULT_MAX_MESSAGE, maxFrames: number = this.capacity): number {
    if (this.descPtr === 0) throw new P4Error('CLOSED', 'FrameScanner was disposed')
    checkRegion(this.kernel, ptr, len, 'scan region')
    fits(maxPayload, 0xffffffff, 'maxPayload')
    fits(maxFrames, this.capacity, 'maxFrames')
    let count: number
    try {
      count = this.ex.frame_scan(ptr, len, maxPayload, this.descPtr, maxFrames)
    } catch (err) {
      throw kernelFault(err, 'frame_scan')
    }
    let a = this.u32
    if (a.length === 0) a = this.refresh()
    const r = this.resultWord
    this.base = ptr
    this.count = count
    this.consumed = a[r + 1]!
    this.needed = a[r + 2]!
    this.error = a[r + 3]!
    const off = a[r + 4]!
    this.errorOffset = off === NO_OFFSET ? -1 : off
    this.stop = a[r + 5]! as ScanStop
    return count
  }

  /** Copies `bytes` into a scratch region the scanner owns and scans it; offsets index `bytes`. */
  scanBytes(bytes: Uint8Array, maxPayload: number = DEFAULT_MAX_MESSAGE, maxFrames: number = this.capacity): number {
    if (this.descPtr === 0) throw new P4Error('CLOSED', 'FrameScanner was disposed')
    if (!(bytes instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'bytes must be a Uint8Array')
    if (bytes.length > this.scratchSize) {
      if (this.scratchPtr !== 0) this.kernel.free(this.scratchPtr)
      this.scratchPtr = 0
      this.scratchSize = 0
      const size = Math.max(bytes.length, 4096)
      this.scratchPtr = this.kernel.alloc(size)
      this.scratchSize = size
    }
    this.kernel.bytes().set(bytes, this.scratchPtr)
    return this.scan(this.scratchPtr, bytes.length, maxPayload, maxFrames)
  }

  /**
   * All of WASM memory as u32 words (refreshed after growth), for hot loops
   * that read descriptors without accessor calls: field f (0..5, the six
   * words of the layout) of descriptor i is words()[wordBase + i * 6 + f].
   */
  words(): Uint32Array {
    const a = this.u32
    return a.length === 0 ? this.refresh() : a
  }

  /** Word index of descriptor 0 in words(). */
  get wordBase(): number {
    return this.descWord
  }

  private refresh(): Uint32Array {
    this.u32 = new Uint32Array(this.kernel.exports.memory.buffer)
    return this.u32
  }

  // Word index of field `w` of descriptor i; one unsigned compare guards i.
  private word(i: number, w: number): number {
    if (i >>> 0 !== i || i >= this.count) {
      throw new P4Error('BAD_ARGUMENT', `descriptor index ${String(i)} is not below count ${this.count}`)
    }
    let a = this.u32
    if (a.length === 0) a = this.refresh()
    return a[this.descWord + i * DESC_WORDS + w]!
  }

  /** Header offset of frame i, relative to the scanned region. */
  offset(i: number): number {
    return this.word(i, 0)
  }
  /** Payload offset of frame i, relative to the scanned region. */
  payloadOffset(i: number): number {
    return this.word(i, 0) + HEADER_SIZE
  }
  type(i: number): number {
    return this.word(i, 1) & 0xff
  }
  flags(i: number): number {
    return (this.word(i, 1) >>> 8) & 0xff
  }
  hops(i: number): number {
    return this.word(i, 1) >>> 16
  }
  /** type | flags << 8 | hops << 16 in one read. */
  typeFlagsHops(i: number): number {
    return this.word(i, 1)
  }
  pluginId(i: number): number {
    return this.word(i, 2)
  }
  payloadLength(i: number): number {
    return this.word(i, 3)
  }
  messageIdLo(i: number): number {
    return this.word(i, 4)
  }
  messageIdHi(i: number): number {
    return this.word(i, 5)
  }
  /** The 64-bit message ID (allocates a bigint; use messageIdHi/Lo on hot paths). */
  messageId(i: number): bigint {
    return (BigInt(this.word(i, 5)) << 32n) | BigInt(this.word(i, 4))
  }

  /** A view of frame i's payload in WASM memory (scan()), or in the scratch copy (scanBytes()). */
  payloadView(i: number): Uint8Array {
    const start = this.base + this.payloadOffset(i)
    return this.kernel.bytes().subarray(start, start + this.payloadLength(i))
  }

  /** Frame i as an object (allocates; for tests and cold paths). */
  frame(i: number): Frame {
    return {
      offset: this.offset(i),
      type: this.type(i),
      flags: this.flags(i),
      hops: this.hops(i),
      pluginId: this.pluginId(i),
      payloadLength: this.payloadLength(i),
      messageId: this.messageId(i),
    }
  }

  frames(): Frame[] {
    const out: Frame[] = []
    for (let i = 0; i < this.count; i++) out.push(this.frame(i))
    return out
  }

  /** A snapshot of the outcome fields. */
  outcome(): ScanOutcome {
    const { count, consumed, needed, error, errorOffset, stop } = this
    return { count, consumed, needed, error, errorOffset, stop }
  }

  /** Frees the descriptor array and scratch region; the scanner is unusable afterwards. */
  dispose(): void {
    if (this.descPtr !== 0) this.kernel.free(this.descPtr)
    if (this.scratchPtr !== 0) this.kernel.free(this.scratchPtr)
    this.descPtr = 0
    this.scratchPtr = 0
    this.scratchSize = 0
    this.count = 0
  }
}

/**
 * Headers for an outgoing batch whose payloads are already in WASM memory:
 * fill descriptors with set(), then encode() writes every header in one call.
 */
export class HeaderBatch {
  readonly kernel: Kernel
  readonly capacity: number
  private readonly ex: FrameExports
  private descPtr: number
  private readonly descWord: number
  private u32: Uint32Array

  constructor(capacity = 1024, k: Kernel = kernel()) {
    checkUint(capacity, 1 << 24, 'capacity')
    if (capacity === 0) throw new P4Error('BAD_ARGUMENT', 'capacity must be at least 1')
    this.kernel = k
    this.capacity = capacity
    this.ex = frameExports(k)
    this.descPtr = k.alloc(capacity * FRAME_DESC_SIZE)
    this.descWord = this.descPtr >>> 2
    this.u32 = new Uint32Array(k.exports.memory.buffer)
  }

  get descriptors(): number {
    return this.descPtr
  }

  /**
   * Fills descriptor i: the header goes at base + offset (see encode), the
   * payload must follow it. Type/flag rules are checked by encode().
   */
  set(
    i: number,
    offset: number,
    type: number,
    flags: number,
    hops: number,
    pluginId: number,
    payloadLength: number,
    messageIdHi: number,
    messageIdLo: number,
  ): void {
    if (this.descPtr === 0) throw new P4Error('CLOSED', 'HeaderBatch was disposed')
    fits(i, this.capacity - 1, 'descriptor index')
    fits(offset, 0xffffffff, 'offset')
    fits(type, 0xff, 'type')
    fits(flags, 0xff, 'flags')
    fits(hops, 0xff, 'hops')
    fits(pluginId, 0xffff, 'pluginId')
    fits(payloadLength, 0xffffffff, 'payloadLength')
    fits(messageIdHi, 0xffffffff, 'messageIdHi')
    fits(messageIdLo, 0xffffffff, 'messageIdLo')
    let a = this.u32
    if (a.length === 0) a = this.u32 = new Uint32Array(this.kernel.exports.memory.buffer)
    const w = this.descWord + i * DESC_WORDS
    a[w] = offset
    a[w + 1] = type | (flags << 8) | (hops << 16)
    a[w + 2] = pluginId
    a[w + 3] = payloadLength
    a[w + 4] = messageIdLo
    a[w + 5] = messageIdHi
  }

  /** set() with a header object (bigint messageId). */
  setHeader(i: number, offset: number, h: FrameHeader): void {
    const id = checkMessageId(h.messageId)
    this.set(i, offset, h.type, h.flags, h.hops, h.pluginId, h.payloadLength, Number(id >> 32n), Number(id & 0xffffffffn))
  }

  /**
   * Writes the headers of descriptors 0..count-1 into [base, base+len).
   * Throws BAD_ARGUMENT naming the first refused descriptor (bad type/flags,
   * payload over maxPayload, field out of range, or frame outside the
   * region); headers before it have been written.
   */
  encode(base: number, len: number, count: number, maxPayload: number = DEFAULT_MAX_MESSAGE): void {
    if (this.descPtr === 0) throw new P4Error('CLOSED', 'HeaderBatch was disposed')
    checkRegion(this.kernel, base, len, 'batch region')
    checkUint(count, this.capacity, 'count')
    checkUint(maxPayload, 0xffffffff, 'maxPayload')
    let written: number
    try {
      written = this.ex.frame_encode_batch(base, len, this.descPtr, count, maxPayload)
    } catch (err) {
      throw kernelFault(err, 'frame_encode_batch')
    }
    if (written !== count) {
      const code = new Uint32Array(this.kernel.exports.memory.buffer)[(this.ex.frame_result() >>> 2) + 3]!
      throw new P4Error('BAD_ARGUMENT', `frame descriptor ${written}: ${frameErrorName(code)}`)
    }
  }

  dispose(): void {
    if (this.descPtr !== 0) this.kernel.free(this.descPtr)
    this.descPtr = 0
  }
}

/** Checks a header's fields; throws BAD_ARGUMENT. */
function checkHeader(h: FrameHeader): void {
  if (typeof h !== 'object' || h === null) throw new P4Error('BAD_ARGUMENT', 'header must be an object')
  checkUint(h.type, 0xff, 'type')
  checkUint(h.flags, 0xff, 'flags')
  checkUint(h.hops, 0xff, 'hops')
  checkUint(h.pluginId, 0xffff, 'pluginId')
  checkUint(h.payloadLength, 0xffffffff, 'payloadLength')
  checkMessageId(h.messageId)
}

/** Writes the 18-byte header `h` at ptr in WASM memory; BAD_ARGUMENT if it breaks the type/flag rules. */
export function encodeHeaderAt(ptr: number, h: FrameHeader, k: Kernel = kernel()): void {
  checkHeader(h)
  checkRegion(k, ptr, HEADER_SIZE, 'header region')
  let err: number
  try {
    err = frameExports(k).frame_encode_header(ptr, h.type, h.flags, h.hops, h.pluginId, h.payloadLength, h.messageId)
  } catch (cause) {
    throw kernelFault(cause, 'frame_encode_header')
  }
  if (err !== FrameError.NONE) throw new P4Error('BAD_ARGUMENT', `cannot encode header: ${frameErrorName(err)}`)
}
