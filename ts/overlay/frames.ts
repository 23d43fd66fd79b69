// Small pieces of frame handling shared by the flood, walk and LKA modules.
import { P4Error } from '../core/errors.js'
import { HDR_MSGID, HEADER_SIZE, writeHeader } from '../core/protocol.js'

/**
 * The header of a received frame, rebuilt for signature checks. One scratch
 * buffer: verification reads it synchronously and copies what it keeps.
 */
const HEADER_SCRATCH = Buffer.alloc(HEADER_SIZE)
const HEADER_VIEW = new DataView(HEADER_SCRATCH.buffer, HEADER_SCRATCH.byteOffset, HEADER_SIZE)

export function headerOf(f: { type: number; flags: number; hops: number; pluginId: number; idHi: number; idLo: number }, length: number): Buffer {
  writeHeader(HEADER_VIEW, 0, f.type, f.flags, f.hops, f.pluginId, length, f.idHi, f.idLo)
  return HEADER_SCRATCH
}

/**
 * What identifies a flood in sets of stored frames (header || origin block
 * || body): its origin's key and its message ID together, as in the
 * seen-table (a reused ID under another key is another message).
 */
export function floodKey(frame: Uint8Array): string {
  if (frame.length < HEADER_SIZE + 32) throw new P4Error('BAD_ARGUMENT', 'not a signed frame')
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)
  return b.toString('latin1', HDR_MSGID, HDR_MSGID + 8) + b.toString('latin1', HEADER_SIZE, HEADER_SIZE + 32)
}
