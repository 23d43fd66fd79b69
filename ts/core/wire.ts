// The P4/2 frame header, defined once for both compilers: tsc builds it into
// ts/core/protocol.ts, asc into the frame kernel (assembly/frame.ts imports it
// and assembly/index.ts exports every name, so a build reports what it was
// compiled with and ts/wasm/loader.ts refuses a stale one).
//
// Only syntax that TypeScript and AssemblyScript read alike: no imports (tsc
// wants a .js suffix that asc cannot resolve), no type annotations (u8 and
// number mean different things to each), `export const NAME = <i32 literal or
// constant expression>` and small integer arrays. docs/protocol.md documents
// the layout.

/** Header byte 0 of every P4/2 frame. */
export const PROTOCOL_VERSION = 2

// Message types (header byte 1).
export const MSG_HELLO = 1
export const MSG_PING = 2
export const MSG_PING_ACK = 3
export const MSG_CONNECT = 4
export const MSG_DISCOVER = 5
export const MSG_LKA = 6
export const MSG_LKA_ACK = 7
export const MSG_DATA = 8
export const MSG_BYE = 9
/**
 * Session control (ACK, CLOSE): consumed by the session layer, never seen by
 * the overlay; sent only to a peer that announced handshake feature RESUME.
 */
export const MSG_SESSION = 10
/**
 * Delivery confirmation of a unicast DATA that carried FLAG_ACK: same plugin
 * and message ID, a 1-byte status payload. Sent only to a peer that announced
 * handshake feature ACK.
 */
export const MSG_DATA_ACK = 11
/**
 * Stream multiplexing (OPEN, DATA, WINDOW, FIN, RST; the op is in the
 * message ID): sent only to a peer that announced handshake feature STREAMS.
 */
export const MSG_STREAM = 12
/**
 * Reachability (observed address, dial-back request and result): sent only
 * to a peer that announced handshake feature REACH.
 */
export const MSG_REACH = 13
/**
 * Relayed sessions (reservations and circuits; the op is in the message ID):
 * sent only to a peer that announced handshake feature RELAY, or in answer
 * to that peer's own RELAY requests.
 */
export const MSG_RELAY = 14
/** Largest valid type; 0 and everything above are invalid. */
export const MSG_TYPE_MAX = MSG_RELAY

// Header flags (header byte 2).
/** Flooded to every link but the one it came in on. */
export const FLAG_BROADCAST = 0x01
/** Payload is end-to-end sealed (to a recipient key, or a plugin group key). */
export const FLAG_ENCRYPTED = 0x02
/** Payload starts with the origin's Ed25519 key (32) and signature (64). */
export const FLAG_SIGNED = 0x04
/** Unicast DATA only: the sender wants a DATA_ACK once the message was delivered (handshake feature ACK). */
export const FLAG_ACK = 0x08
export const FLAG_MASK = FLAG_BROADCAST | FLAG_ENCRYPTED | FLAG_SIGNED | FLAG_ACK

/**
 * Which flags each type may carry, and which it must carry; index = type.
 * HELLO floods and is signed; DISCOVER walks and is signed; DATA may be any
 * combination except BROADCAST without SIGNED. Point-to-point control
 * messages carry no flags.
 */
export const ALLOWED_FLAGS = [
  0, // 0: invalid type
  FLAG_BROADCAST | FLAG_SIGNED, // HELLO
  0, // PING
  0, // PING_ACK
  0, // CONNECT
  FLAG_SIGNED, // DISCOVER
  0, // LKA
  0, // LKA_ACK
  FLAG_BROADCAST | FLAG_ENCRYPTED | FLAG_SIGNED | FLAG_ACK, // DATA
  0, // BYE
  0, // SESSION
  0, // DATA_ACK
  0, // STREAM
  0, // REACH
  0, // RELAY
]
export const REQUIRED_FLAGS = [
  0, // 0: invalid type
  FLAG_BROADCAST | FLAG_SIGNED, // HELLO
  0, // PING
  0, // PING_ACK
  0, // CONNECT
  FLAG_SIGNED, // DISCOVER
  0, // LKA
  0, // LKA_ACK
  0, // DATA
  0, // BYE
  0, // SESSION
  0, // DATA_ACK
  0, // STREAM
  0, // REACH
  0, // RELAY
]

// Header layout, 18 bytes, big-endian:
//   0 version u8 | 1 type u8 | 2 flags u8 | 3 hops u8 | 4 pluginId u16
//   6 payloadLength u32 | 10 messageId u64
export const HEADER_SIZE = 18
export const HDR_VERSION = 0
export const HDR_TYPE = 1
export const HDR_FLAGS = 2
export const HDR_HOPS = 3
export const HDR_PLUGIN = 4
export const HDR_LENGTH = 6
export const HDR_MSGID = 10

// Frame-codec error codes, in the order the rules are checked (returned by
// the WASM scanner and the TS reference).
export const FRAME_OK = 0
export const FRAME_BAD_VERSION = 1
export const FRAME_BAD_TYPE = 2
export const FRAME_BAD_FLAGS = 3
export const FRAME_TOO_LARGE = 4
