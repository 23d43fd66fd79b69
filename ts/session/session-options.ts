// The options, keys and statistics of a Session (session.ts), and their checks.
import type { Clock } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import type { Conn } from '../transport/types.js'

export interface ResumeOptions {
  /**
   * Sealed bytes kept for resending after a move, at most (default 8 MiB,
   * at least 1 MiB): past it no new frame is started until the peer
   * acknowledges (send() then returns false, as under backpressure). The
   * frame being written finishes, so the bound is this plus one frame.
   */
  retainBytes?: number
  /** How long a session that lost its Conn waits for a move before it closes (default 30 000 ms). */
  graceMs?: number
  /** Deadline of moveTo() (default 10 000 ms). */
  timeoutMs?: number
}

export interface SessionOptions {
  /** Largest payload sent or accepted, bytes (default 16 MiB). */
  maxMessage?: number
  /**
   * send() returns false once this many bytes wait to be written (default 1
   * MiB), or the transport's own high-water mark if that is higher: only
   * above it does the transport promise the 'drain' that follows. Counted
   * per flow: the flow's queued bytes plus the transport's.
   */
  highWaterMark?: number
  /**
   * Payloads (sending) and records (receiving) of at least this many bytes
   * are sealed / opened with node:crypto instead of the WASM kernel, which
   * wins on small and batched frames (default 16 KiB; Infinity = WASM only,
   * 0 = node:crypto for every record). Peers need not agree: the bytes are
   * the same either way.
   */
  nodeCryptoThreshold?: number
  /** send() throws QUOTA_EXCEEDED past this many waiting bytes on its flow (default maxMessage + 4 × highWaterMark). */
  maxQueue?: number
  /** Tuning of a resumable session (ignored unless both ends announced HandshakeFeature.RESUME). */
  resume?: ResumeOptions
  /** Whose time the grace period and move deadlines run on. Default: the system clock. */
  clock?: Clock
}

/** What a session needs from the handshake. */
export interface SessionKeys<R> {
  conn: Conn
  remote: R
  sendKey: Uint8Array
  recvKey: Uint8Array
  /** Bytes read after the handshake's last message (already part of the channel). */
  leftover?: Uint8Array
  /** The handshake feature bits this side announced (default 0). */
  localFeatures?: number
  /** The handshake feature bits the peer announced (default 0). Resumable when both have RESUME. */
  remoteFeatures?: number
}

export interface SessionStats {
  bytesIn: number
  bytesOut: number
  /** Frames, session control frames included. */
  framesIn: number
  framesOut: number
  recordsIn: number
  recordsOut: number
  /** Bytes written again on new Conns after moves. */
  bytesResent: number
  /** Sealed bytes kept until the peer acknowledges them (resumable sessions). */
  retainedBytes: number
  /** Moves completed, in either role. */
  moves: number
}

export function checkSize(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new P4Error('BAD_OPTION', `${name} must be an integer ${min}..${max}, got ${String(value)}`)
  }
  return value
}
