// Plain TypeScript frame codec: the obviously-correct reference for the WASM
// kernel (differential tests) and its benchmark baseline. Same results as
// FrameScanner, but frames come back as objects.
import { P4Error } from '../../ts/core/errors.js'
import {
  ALLOWED_FLAGS,
  DEFAULT_MAX_MESSAGE,
  FrameError,
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
} from '../../ts/core/protocol.js'
import { ScanStop, type Frame, type FrameHeader, type ScanOutcome } from '../../ts/wasm/frame.js'

export interface ReferenceScan extends ScanOutcome {
  frames: Frame[]
}

/** The first rule a header breaks, in the documented order, or NONE. */
export function headerError(
  version: number,
  type: number,
  flags: number,
  payloadLength: number,
  maxPayload: number,
): FrameError {
  if (version !== PROTOCOL_VERSION) return FrameError.BAD_VERSION
  if (type < 1 || type > MSG_TYPE_MAX) return FrameError.BAD_TYPE
  const allowed = ALLOWED_FLAGS[type]!
  const required = REQUIRED_FLAGS[type]!
  if ((flags & ~allowed) !== 0 || (flags & required) !== required) return FrameError.BAD_FLAGS
  if (payloadLength > maxPayload) return FrameError.TOO_LARGE
  return FrameError.NONE
}

function checkUint(v: unknown, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be an integer in 0..${max}, got ${String(v)}`)
  }
  return v
}

/** Writes `h` as an 18-byte header into out at offset (a new array by default). */
export function encodeHeader(h: FrameHeader, out: Uint8Array = new Uint8Array(HEADER_SIZE), offset = 0): Uint8Array {
  if (typeof h !== 'object' || h === null) throw new P4Error('BAD_ARGUMENT', 'header must be an object')
  checkUint(h.type, 0xff, 'type')
  checkUint(h.flags, 0xff, 'flags')
  checkUint(h.hops, 0xff, 'hops')
  checkUint(h.pluginId, 0xffff, 'pluginId')
  checkUint(h.payloadLength, 0xffffffff, 'payloadLength')
  if (typeof h.messageId !== 'bigint' || h.messageId < 0n || h.messageId > 0xffffffffffffffffn) {
    throw new P4Error('BAD_ARGUMENT', 'messageId must be a bigint in 0..2^64-1')
  }
  if (!(out instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'out must be a Uint8Array')
  checkUint(offset, Math.max(0, out.length - HEADER_SIZE), 'offset')
  if (out.length < HEADER_SIZE) throw new P4Error('BAD_ARGUMENT', `out must hold ${HEADER_SIZE} bytes`)
  const err = headerError(PROTOCOL_VERSION, h.type, h.flags, h.payloadLength, 0xffffffff)
  if (err !== FrameError.NONE) throw new P4Error('BAD_ARGUMENT', `cannot encode header: error ${err}`)
  const dv = new DataView(out.buffer, out.byteOffset + offset, HEADER_SIZE)
  dv.setUint8(HDR_VERSION, PROTOCOL_VERSION)
  dv.setUint8(HDR_TYPE, h.type)
  dv.setUint8(HDR_FLAGS, h.flags)
  dv.setUint8(HDR_HOPS, h.hops)
  dv.setUint16(HDR_PLUGIN, h.pluginId)
  dv.setUint32(HDR_LENGTH, h.payloadLength)
  dv.setBigUint64(HDR_MSGID, h.messageId)
  return out
}

/** Header plus payload in one new array; payloadLength comes from the payload. */
export function encodeFrame(h: Omit<FrameHeader, 'payloadLength'>, payload: Uint8Array): Uint8Array {
  if (!(payload instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'payload must be a Uint8Array')
  const out = new Uint8Array(HEADER_SIZE + payload.length)
  encodeHeader({ ...h, payloadLength: payload.length }, out, 0)
  out.set(payload, HEADER_SIZE)
  return out
}

/** Reads the header at offset without judging it (the version byte is read apart). */
function readFrame(dv: DataView, offset: number): Frame {
  return {
    offset,
    type: dv.getUint8(offset + HDR_TYPE),
    flags: dv.getUint8(offset + HDR_FLAGS),
    hops: dv.getUint8(offset + HDR_HOPS),
    pluginId: dv.getUint16(offset + HDR_PLUGIN),
    payloadLength: dv.getUint32(offset + HDR_LENGTH),
    messageId: dv.getBigUint64(offset + HDR_MSGID),
  }
}

/**
 * Decodes and checks the header at offset (returned with that offset). Throws BAD_ARGUMENT when fewer
 * than 18 bytes are there, MESSAGE_TOO_LARGE for a length over maxPayload,
 * BAD_FRAME for any other broken rule.
 */
export function decodeHeader(buf: Uint8Array, offset = 0, maxPayload = DEFAULT_MAX_MESSAGE): Frame {
  if (!(buf instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'buf must be a Uint8Array')
  checkUint(offset, Number.MAX_SAFE_INTEGER, 'offset')
  checkUint(maxPayload, 0xffffffff, 'maxPayload')
  if (buf.length - offset < HEADER_SIZE) throw new P4Error('BAD_ARGUMENT', `a header needs ${HEADER_SIZE} bytes`)
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length)
  const h = readFrame(dv, offset)
  const err = headerError(dv.getUint8(offset + HDR_VERSION), h.type, h.flags, h.payloadLength, maxPayload)
  if (err === FrameError.TOO_LARGE) {
    throw new P4Error('MESSAGE_TOO_LARGE', `payload of ${h.payloadLength} bytes exceeds ${maxPayload}`)
  }
  if (err !== FrameError.NONE) throw new P4Error('BAD_FRAME', `malformed frame header: error ${err}`)
  return h
}

/**
 * Walks complete frames from the start of buf. Stops after maxFrames frames,
 * at the first incomplete frame, or at the first malformed header, which is
 * judged as soon as its 18 bytes are present.
 */
export function scanFrames(buf: Uint8Array, maxPayload = DEFAULT_MAX_MESSAGE, maxFrames = Infinity): ReferenceScan {
  if (!(buf instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'buf must be a Uint8Array')
  checkUint(maxPayload, 0xffffffff, 'maxPayload')
  if (maxFrames !== Infinity) checkUint(maxFrames, 0xffffffff, 'maxFrames')
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.length)
  const frames: Frame[] = []
  let offset = 0
  const result = (stop: ScanStop, needed: number, error = 0, errorOffset = -1): ReferenceScan => ({
    frames,
    count: frames.length,
    consumed: offset,
    needed,
    error,
    errorOffset,
    stop,
  })
  for (;;) {
    if (frames.length >= maxFrames) return result(ScanStop.LIMIT, 0)
    const left = buf.length - offset
    if (left < HEADER_SIZE) return result(ScanStop.HEADER, HEADER_SIZE - left)
    const h = readFrame(dv, offset)
    const err = headerError(dv.getUint8(offset + HDR_VERSION), h.type, h.flags, h.payloadLength, maxPayload)
    if (err !== FrameError.NONE) return result(ScanStop.ERROR, 0, err, offset)
    const available = left - HEADER_SIZE
    if (h.payloadLength > available) return result(ScanStop.PAYLOAD, h.payloadLength - available)
    frames.push(h)
    offset += HEADER_SIZE + h.payloadLength
  }
}
