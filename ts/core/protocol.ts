// P4/2 wire constants shared by every layer (the byte layout is documented in
// docs/protocol.md). Only constants and tiny pure helpers live here.
import { P4Error } from './errors.js'
import {
  ALLOWED_FLAGS as WIRE_ALLOWED_FLAGS,
  FLAG_BROADCAST,
  FLAG_ENCRYPTED,
  FLAG_SIGNED,
  FLAG_ACK,
  FRAME_BAD_FLAGS,
  FRAME_BAD_TYPE,
  FRAME_BAD_VERSION,
  FRAME_OK,
  FRAME_TOO_LARGE,
  HDR_LENGTH,
  HDR_MSGID,
  HDR_PLUGIN,
  HEADER_SIZE,
  MSG_BYE,
  MSG_CONNECT,
  MSG_DATA_ACK,
  MSG_DATA,
  MSG_DISCOVER,
  MSG_HELLO,
  MSG_LKA,
  MSG_LKA_ACK,
  MSG_PING,
  MSG_PING_ACK,
  MSG_SESSION,
  MSG_STREAM,
  MSG_REACH,
  MSG_RELAY,
  PROTOCOL_VERSION,
  REQUIRED_FLAGS as WIRE_REQUIRED_FLAGS,
} from './wire.js'

// The header itself is defined in ./wire.ts, which the WASM kernels compile too.
export {
  FLAG_MASK,
  HDR_FLAGS,
  HDR_HOPS,
  HDR_LENGTH,
  HDR_MSGID,
  HDR_PLUGIN,
  HDR_TYPE,
  HDR_VERSION,
  HEADER_SIZE,
  MSG_SESSION,
  MSG_TYPE_MAX,
  PROTOCOL_VERSION,
} from './wire.js'

export const PREAMBLE_CONNECT = 'P4 CONNECT/2.0\0'
export const PREAMBLE_OK = 'P4 OK\0'

/** Message types (header byte 1). */
export const MsgType = {
  HELLO: MSG_HELLO,
  PING: MSG_PING,
  PING_ACK: MSG_PING_ACK,
  CONNECT: MSG_CONNECT,
  DISCOVER: MSG_DISCOVER,
  LKA: MSG_LKA,
  LKA_ACK: MSG_LKA_ACK,
  DATA: MSG_DATA,
  BYE: MSG_BYE,
  /** Session control, handled by the session layer (docs/protocol.md, "Session control"). */
  SESSION: MSG_SESSION,
  /** Delivery confirmation of a DATA sent with Flag.ACK (handshake feature ACK). */
  DATA_ACK: MSG_DATA_ACK,
  /** Stream multiplexing (docs/protocol.md, "Streams"); only with peers that announce HandshakeFeature.STREAMS. */
  STREAM: MSG_STREAM,
  /** Reachability (docs/protocol.md, "REACH"); only with peers that announce HandshakeFeature.REACH. */
  REACH: MSG_REACH,
  /** Relayed sessions (docs/protocol.md, "RELAY"): reservations and circuits, with peers that announce HandshakeFeature.RELAY. */
  RELAY: MSG_RELAY,
} as const
export type MsgType = (typeof MsgType)[keyof typeof MsgType]

/**
 * Handshake feature bits (the u32 `features` of the handshake payload; HELLO
 * has feature bits of its own). A capability is used only when both ends set
 * its bit.
 */
export const HandshakeFeature = {
  /** Session resumption: ACK / CLOSE control frames, moving a session to a new Conn. */
  RESUME: 1,
  /** Delivery confirmation: DATA with Flag.ACK, answered by DATA_ACK. */
  ACK: 2,
  /** Streams: MsgType.STREAM frames (plugin.openStream). */
  STREAMS: 4,
  /** End-to-end unicast boxes of version 1 (ts/e2e.ts): an encrypted send goes only to a peer that announces it. */
  E2E_BOX1: 8,
  /** Reachability: MsgType.REACH frames (observed address, dial-back) and probe connections (LinkIntent.PROBE). */
  REACH: 16,
  /** This node relays: it grants reservations and splices circuits (MsgType.RELAY). */
  RELAY: 32,
  /** End-to-end encrypted streams (plugin.openStream(user, { encrypted: true })): sealed STREAM chunks; only with STREAMS. */
  STREAM_BOX1: 64,
  /** Hole punching: REACH PUNCH_* over a relayed session, then the session moves (RESUME) to a direct Conn. */
  PUNCH: 128,
} as const

/** Header flags (header byte 2). */
export const Flag = {
  /** Flooded to every link but the one it came in on. */
  BROADCAST: FLAG_BROADCAST,
  /** Payload is end-to-end sealed (to a recipient key, or a plugin group key). */
  ENCRYPTED: FLAG_ENCRYPTED,
  /** Payload starts with the origin's Ed25519 key (32) and signature (64). */
  SIGNED: FLAG_SIGNED,
  /** Unicast DATA: answer with DATA_ACK once delivered (only to a peer with HandshakeFeature.ACK). */
  ACK: FLAG_ACK,
} as const

/**
 * Which flags each type may carry, and which it must carry. Index = type
 * (the rules are in ./wire.ts). Frozen: the kernel compiled its own copy.
 */
export const ALLOWED_FLAGS: readonly number[] = Object.freeze(WIRE_ALLOWED_FLAGS)
export const REQUIRED_FLAGS: readonly number[] = Object.freeze(WIRE_REQUIRED_FLAGS)

/** Size of the origin block that starts a SIGNED payload: Ed25519 key + signature. */
export const ORIGIN_BLOCK_SIZE = 32 + 64

export const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024
export const DEFAULT_HOP_LIMIT = 16

/** Frame-codec error codes (returned by the WASM scanner and the TS reference). */
export const FrameError = {
  NONE: FRAME_OK,
  BAD_VERSION: FRAME_BAD_VERSION,
  BAD_TYPE: FRAME_BAD_TYPE,
  BAD_FLAGS: FRAME_BAD_FLAGS,
  TOO_LARGE: FRAME_TOO_LARGE,
} as const
export type FrameError = (typeof FrameError)[keyof typeof FrameError]

/** Writes an 18-byte P4 header at `at` (the one TS encoder; the WASM kernel has its own, from the same ./wire.ts). */
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
  // One BigInt made, not four (every delivered message pays this).
  ID_VIEW.setUint32(0, hi)
  ID_VIEW.setUint32(4, lo)
  return ID_VIEW.getBigUint64(0)
}
const ID_VIEW = new DataView(new ArrayBuffer(8))
