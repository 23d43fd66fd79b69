// P4/2 wire constants shared by every layer (the byte layout is documented in
// docs/protocol.md). Only constants and tiny pure helpers live here.
import { P4Error } from './errors.js'

export const PROTOCOL_VERSION = 2
export const PREAMBLE_CONNECT = 'P4 CONNECT/2.0\0'
export const PREAMBLE_OK = 'P4 OK\0'

/** Message types (header byte 1). */
export const MsgType = {
  HELLO: 1,
  PING: 2,
  PING_ACK: 3,
  CONNECT: 4,
  DISCOVER: 5,
  LKA: 6,
  LKA_ACK: 7,
  DATA: 8,
  BYE: 9,
} as const
export type MsgType = (typeof MsgType)[keyof typeof MsgType]
export const MSG_TYPE_MAX = 9

/** Header flags (header byte 2). */
export const Flag = {
  /** Flooded to every link but the one it came in on. */
  BROADCAST: 0x01,
  /** Payload is end-to-end sealed (to a recipient key, or a plugin group key). */
  ENCRYPTED: 0x02,
  /** Payload starts with the origin's Ed25519 key (32) and signature (64). */
  SIGNED: 0x04,
} as const
export const FLAG_MASK = 0x07

/**
 * Which flags each type may carry, and which it must carry. Index = type.
 * HELLO floods and is signed; DISCOVER walks and is signed; DATA may be any
 * combination except BROADCAST without SIGNED. Point-to-point control
 * messages carry no flags.
 */
export const ALLOWED_FLAGS: readonly number[] = [
  0, // 0: invalid type
  Flag.BROADCAST | Flag.SIGNED, // HELLO
  0, // PING
  0, // PING_ACK
  0, // CONNECT
  Flag.SIGNED, // DISCOVER
  0, // LKA
  0, // LKA_ACK
  Flag.BROADCAST | Flag.ENCRYPTED | Flag.SIGNED, // DATA
  0, // BYE
]
export const REQUIRED_FLAGS: readonly number[] = [0, Flag.BROADCAST | Flag.SIGNED, 0, 0, 0, Flag.SIGNED, 0, 0, 0, 0]

/**
 * P4 header, 18 bytes, big-endian:
 *   0 version u8 | 1 type u8 | 2 flags u8 | 3 hops u8 | 4 pluginId u16
 *   6 payloadLength u32 | 10 messageId u64
 */
export const HEADER_SIZE = 18
export const HDR_VERSION = 0
export const HDR_TYPE = 1
export const HDR_FLAGS = 2
export const HDR_HOPS = 3
export const HDR_PLUGIN = 4
export const HDR_LENGTH = 6
export const HDR_MSGID = 10

/** Size of the origin block that starts a SIGNED payload: Ed25519 key + signature. */
export const ORIGIN_BLOCK_SIZE = 32 + 64

export const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024
export const DEFAULT_HOP_LIMIT = 16

/** Frame-codec error codes (returned by the WASM scanner and the TS reference). */
export const FrameError = {
  NONE: 0,
  BAD_VERSION: 1,
  BAD_TYPE: 2,
  BAD_FLAGS: 3,
  TOO_LARGE: 4,
} as const
export type FrameError = (typeof FrameError)[keyof typeof FrameError]

/** Writes an 18-byte P4 header at `at` (the one TS encoder; the WASM kernel has its own). */
export function writeHeader(
  view: DataView,
  at: number,
  type: number,
  flags: number,
  hops: number,
  pluginId: number,
  payloadLength: number,
  idHi: number,
  idLo: number,
): void {
  view.setUint32(at, ((PROTOCOL_VERSION << 24) | (type << 16) | (flags << 8) | hops) >>> 0)
  view.setUint16(at + HDR_PLUGIN, pluginId)
  view.setUint32(at + HDR_LENGTH, payloadLength)
  view.setUint32(at + HDR_MSGID, idHi)
  view.setUint32(at + HDR_MSGID + 4, idLo)
}

/** The message ID in a whole frame's header (a stored HELLO, say). */
export function storedMessageId(frame: Uint8Array): bigint {
  if (!(frame instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'a frame must be a Uint8Array')
  if (frame.length < HEADER_SIZE) throw new P4Error('BAD_ARGUMENT', `a frame needs a ${HEADER_SIZE}-byte header, got ${frame.length} bytes`)
  return new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getBigUint64(HDR_MSGID)
}

/** The 64-bit message ID from its two 32-bit halves. */
export function messageIdOf(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo)
}
