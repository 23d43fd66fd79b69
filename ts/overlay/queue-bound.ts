// The one check of a session's hard queue bound the overlay makes, for every
// frame it queues (flooded and control frames in Peer.trySend, plugin sends
// in SendQueue): the frame counts as it will sit in the transport's buffer,
// sealed and framed, not as its payload alone. The documented bound,
// maxMessage + 4 KiB + 4 x highWaterMark (Session.maxQueue), then holds for
// what links() shows as queued. The session's own check under it (payload
// bytes) is a backstop that this one, stricter, never reaches.
import { HEADER_SIZE } from '../core/protocol.js'
import type { Session } from '../session/session.js'
import { RECORD_MAX_PLAIN, RECORD_PREFIX, TAG_SIZE } from '../wasm/channel.js'

/** Bytes a record adds to what it carries: its length prefix and its tag. */
const RECORD_OVERHEAD = RECORD_PREFIX + TAG_SIZE

/** The most a frame with `payloadLength` bytes of payload takes in the transport's buffer: payload, header, and the records it may open. */
export function wireBytes(payloadLength: number): number {
  return payloadLength + HEADER_SIZE + RECORD_OVERHEAD * (1 + Math.floor((HEADER_SIZE + payloadLength) / RECORD_MAX_PLAIN))
}

/** True when a frame of `payloadLength` payload bytes fits under `session`'s bound now. */
export function fitsQueue(session: Session, payloadLength: number): boolean {
  return session.bufferedBytes + wireBytes(payloadLength) <= session.maxQueue
}

/**
 * True when the session owes a 'drain': it is at or above the mark where
 * its send() answers false (Session.drainMark). A frame that does not fit
 * may wait for one only then.
 */
export function drainDue(session: Session): boolean {
  return session.bufferedBytes >= session.drainMark
}
