// Origin signatures for relayed messages (HELLO, DISCOVER, broadcast DATA).
//
// A SIGNED frame is   header(18) || originKey(32) || signature(64) || body
// and the signature is Ed25519 by originKey over
//
//   "p4net/2 msg\0" (12 bytes) || header with the hops byte set to 0 || body
//
// The hop count is the one byte a forwarder changes, so it is zeroed before
// signing and verifying; every other header byte (version, type, flags incl.
// SIGNED, pluginId, payloadLength — which counts the 96-byte origin block —
// and messageId) is covered. The domain prefix keeps these signatures apart
// from every other Ed25519 use of the same identity key (handshake payloads,
// certificates). The origin key itself is not repeated in the signed bytes:
// Ed25519 already hashes the public key into every signature.
import { P4Error } from '../core/errors.js'
import { sign, verify, type Identity } from '../core/identity.js'
import { ALLOWED_FLAGS, REQUIRED_FLAGS, FLAG_MASK, Flag, HDR_FLAGS, HDR_HOPS, HDR_LENGTH, HDR_VERSION, HEADER_SIZE, MSG_TYPE_MAX, ORIGIN_BLOCK_SIZE, PROTOCOL_VERSION, writeHeader } from '../core/protocol.js'

export const SIGNATURE_DOMAIN = new TextEncoder().encode('p4net/2 msg\0')
export const ED25519_KEY_SIZE = 32
export const ED25519_SIG_SIZE = 64

// Signing and verifying use ts/core/identity.ts: sign() with the identity's
// KeyObject, verify() with its bounded LRU cache of imported public keys.

/** The exact bytes a frame signature covers: domain || header (hops zeroed) || body. */
export function signedBytes(header: Uint8Array, body: Uint8Array): Uint8Array {
  const d = SIGNATURE_DOMAIN.length
  const m = Buffer.allocUnsafe(d + HEADER_SIZE + body.length)
  m.set(SIGNATURE_DOMAIN, 0)
  m.set(header.subarray(0, HEADER_SIZE), d)
  m[d + HDR_HOPS] = 0
  m.set(body, d + HEADER_SIZE)
  return m
}

export interface SignedFrameFields {
  type: number
  /** BROADCAST / ENCRYPTED as needed; SIGNED is always added. */
  flags?: number
  pluginId?: number
  messageId: bigint
  body: Uint8Array
}

/** Builds header || origin block || body, signed by `identity`, with hops 0. */
export function buildSignedFrame(identity: Identity, f: SignedFrameFields): Uint8Array {
  if (typeof identity !== 'object' || identity === null || typeof identity.signingKey !== 'object') {
    throw new P4Error('BAD_ARGUMENT', 'identity must be an Identity (generateIdentity())')
  }
  if (!(identity.publicKey instanceof Uint8Array) || identity.publicKey.length !== ED25519_KEY_SIZE) {
    throw new P4Error('BAD_ARGUMENT', 'identity.publicKey must be 32 bytes')
  }
  if (typeof f !== 'object' || f === null) throw new P4Error('BAD_ARGUMENT', 'frame fields must be an object')
  const { type, messageId, body } = f
  const flags = (f.flags ?? 0) | Flag.SIGNED
  const pluginId = f.pluginId ?? 0
  if (!Number.isInteger(type) || type < 1 || type > MSG_TYPE_MAX) throw new P4Error('BAD_ARGUMENT', `bad message type ${String(type)}`)
  if (!Number.isInteger(flags) || (flags & ~FLAG_MASK) !== 0 || (flags & Flag.ACK) !== 0) throw new P4Error('BAD_ARGUMENT', `bad flags ${String(f.flags)} (ACK is for unicast DATA)`)
  // Only types that may be SIGNED, with the flags their type requires, so the frame codec accepts the result.
  const allowed = ALLOWED_FLAGS[type]!
  const required = REQUIRED_FLAGS[type]!
  if ((flags & ~allowed) !== 0 || (flags & required) !== required) {
    throw new P4Error('BAD_ARGUMENT', `flags 0x${flags.toString(16)} not valid for a SIGNED message of type ${type}`)
  }
  if (!Number.isInteger(pluginId) || pluginId < 0 || pluginId > 0xffff) throw new P4Error('BAD_ARGUMENT', `bad pluginId ${String(pluginId)}`)
  if (typeof messageId !== 'bigint' || messageId < 0n || messageId > 0xffffffffffffffffn) throw new P4Error('BAD_ARGUMENT', 'messageId must be a u64 bigint')
  if (!(body instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'body must be a Uint8Array')
  const payloadLength = ORIGIN_BLOCK_SIZE + body.length
  if (payloadLength > 0xffffffff) throw new P4Error('MESSAGE_TOO_LARGE', 'payload exceeds 2^32-1 bytes')

  const frame = new Uint8Array(HEADER_SIZE + payloadLength)
  writeHeader(new DataView(frame.buffer), 0, type, flags, 0, pluginId, payloadLength, Number(messageId >> 32n), Number(messageId & 0xffffffffn))
  frame.set(identity.publicKey, HEADER_SIZE)
  frame.set(body, HEADER_SIZE + ORIGIN_BLOCK_SIZE)
  let sig: Uint8Array
  try {
    sig = sign(identity, signedBytes(frame, body))
  } catch (cause) {
    throw new P4Error('BAD_ARGUMENT', 'identity.signingKey cannot sign (not an Ed25519 private key?)', { cause })
  }
  frame.set(sig, HEADER_SIZE + ED25519_KEY_SIZE)
  return frame
}

export type VerifyResult =
  | { ok: true; originKey: Uint8Array; body: Uint8Array }
  | { ok: false; reason: string }

/**
 * Verifies a SIGNED message given its 18-byte header and its payload (origin
 * block + body), as a frame scanner hands them over. On success `originKey`
 * and `body` are views into `payload` (copy them if the buffer is reused).
 * The hops byte of `header` is ignored; no input byte is modified.
 */
export function verifySignedParts(header: Uint8Array, payload: Uint8Array): VerifyResult {
  if (!(header instanceof Uint8Array) || header.length < HEADER_SIZE) return { ok: false, reason: 'short header' }
  if (!(payload instanceof Uint8Array)) return { ok: false, reason: 'payload is not bytes' }
  if (header[HDR_VERSION] !== PROTOCOL_VERSION) return { ok: false, reason: 'bad version' }
  if ((header[HDR_FLAGS]! & Flag.SIGNED) === 0) return { ok: false, reason: 'not SIGNED' }
  const declared = new DataView(header.buffer, header.byteOffset + HDR_LENGTH, 4).getUint32(0)
  if (declared !== payload.length) return { ok: false, reason: 'payloadLength mismatch' }
  if (payload.length < ORIGIN_BLOCK_SIZE) return { ok: false, reason: 'payload shorter than the origin block' }
  const originKey = payload.subarray(0, ED25519_KEY_SIZE)
  const signature = payload.subarray(ED25519_KEY_SIZE, ORIGIN_BLOCK_SIZE)
  const body = payload.subarray(ORIGIN_BLOCK_SIZE)
  if (!verify(originKey, signedBytes(header, body), signature)) return { ok: false, reason: 'bad signature' }
  return { ok: true, originKey, body }
}

/** verifySignedParts for a contiguous frame (header || payload, nothing after). */
export function verifySignedFrame(frame: Uint8Array): VerifyResult {
  if (!(frame instanceof Uint8Array) || frame.length < HEADER_SIZE) return { ok: false, reason: 'short frame' }
  return verifySignedParts(frame.subarray(0, HEADER_SIZE), frame.subarray(HEADER_SIZE))
}
