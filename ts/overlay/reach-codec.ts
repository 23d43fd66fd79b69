// MsgType.REACH payloads (docs/protocol.md, "REACH"): point-to-point, only
// between two ends that announced HandshakeFeature.REACH. Conventions in
// codec-cursor.ts.
//
//   01 OBSERVED  str8 host, u16 port     where the sender sees the receiver (its end of this connection)
//   02 DIAL      u32 id, str8 host, u16 port   "dial me back at host:port" (host must be where you see me)
//   03 RESULT    u32 id, u8 status        the answer to DIAL id
// Hole punching (only over a relayed session where both announced PUNCH; punch.ts):
//   04 PUNCH_OFFER   u32 id, str8 host, u16 port   "my address, where we meet"; from the circuit's opener
//   05 PUNCH_ANSWER  u32 id, str8 host, u16 port   the other end's address, answering OFFER id
//   06 PUNCH_GO      u32 id                        the opener dials in RTT/2, the receiver at once
import { P4Error } from '../core/errors.js'
import { checkU32, hostBytes, validateHost, validatePort } from './codec-fields.js'
import { bad, Reader, Writer } from './codec-cursor.js'

export const ReachKind = { OBSERVED: 1, DIAL: 2, RESULT: 3, PUNCH_OFFER: 4, PUNCH_ANSWER: 5, PUNCH_GO: 6 } as const

/** The answer to a DIAL. */
export const DialStatus = {
  /** The handshake at the address proved the requester's identity key. */
  REACHABLE: 0,
  /** No connection, or a failed handshake, or another key answered. */
  UNREACHABLE: 1,
  /** Not tried: not the requester's own address, or over a dial-back limit. */
  REFUSED: 2,
} as const
export type DialStatus = (typeof DialStatus)[keyof typeof DialStatus]

export type ReachMessage =
  | { kind: typeof ReachKind.OBSERVED; host: string; port: number }
  | { kind: typeof ReachKind.DIAL; id: number; host: string; port: number }
  | { kind: typeof ReachKind.RESULT; id: number; status: DialStatus }
  | { kind: typeof ReachKind.PUNCH_OFFER | typeof ReachKind.PUNCH_ANSWER; id: number; host: string; port: number }
  | { kind: typeof ReachKind.PUNCH_GO; id: number }

function checkHost(host: unknown): Uint8Array {
  const h = validateHost(host)
  if (h.length === 0) throw new P4Error('BAD_ARGUMENT', 'host must not be empty')
  return hostBytes(h)
}

export function encodeReach(m: ReachMessage): Uint8Array {
  if (typeof m !== 'object' || m === null) throw new P4Error('BAD_ARGUMENT', 'a REACH message must be an object')
  switch (m.kind) {
    case ReachKind.OBSERVED: {
      const host = checkHost(m.host)
      const w = new Writer(1 + 1 + host.length + 2)
      w.u8(m.kind)
      w.u8(host.length)
      w.bytes(host)
      w.u16(validatePort(m.port, 1))
      return w.done()
    }
    case ReachKind.PUNCH_GO: {
      const w = new Writer(1 + 4)
      w.u8(m.kind)
      w.u32(checkU32(m.id, 'id'))
      return w.done()
    }
    case ReachKind.PUNCH_OFFER:
    case ReachKind.PUNCH_ANSWER:
    case ReachKind.DIAL: {
      const host = checkHost(m.host)
      const w = new Writer(1 + 4 + 1 + host.length + 2)
      w.u8(m.kind)
      w.u32(checkU32(m.id, 'id'))
      w.u8(host.length)
      w.bytes(host)
      w.u16(validatePort(m.port, 1))
      return w.done()
    }
    case ReachKind.RESULT: {
      if (!isDialStatus(m.status)) throw new P4Error('BAD_ARGUMENT', `status must be 0..2, got ${String(m.status)}`)
      const w = new Writer(1 + 4 + 1)
      w.u8(m.kind)
      w.u32(checkU32(m.id, 'id'))
      w.u8(m.status)
      return w.done()
    }
    default:
      throw new P4Error('BAD_ARGUMENT', `unknown REACH kind ${String((m as { kind: unknown }).kind)}`)
  }
}

function isDialStatus(v: unknown): v is DialStatus {
  return v === DialStatus.REACHABLE || v === DialStatus.UNREACHABLE || v === DialStatus.REFUSED
}

function port(r: Reader): number {
  const p = r.u16()
  if (p === 0) bad('REACH: port 0')
  return p
}

export function decodeReach(body: Uint8Array): ReachMessage {
  const r = new Reader(body, 'REACH')
  const kind = r.u8()
  let m: ReachMessage
  if (kind === ReachKind.OBSERVED) {
    const host = r.host(false)
    m = { kind, host, port: port(r) }
  } else if (kind === ReachKind.DIAL || kind === ReachKind.PUNCH_OFFER || kind === ReachKind.PUNCH_ANSWER) {
    const id = r.u32()
    const host = r.host(false)
    m = { kind, id, host, port: port(r) }
  } else if (kind === ReachKind.PUNCH_GO) {
    m = { kind, id: r.u32() }
  } else if (kind === ReachKind.RESULT) {
    const id = r.u32()
    const status = r.u8()
    if (!isDialStatus(status)) bad(`REACH: unknown dial status ${status}`)
    m = { kind, id, status }
  } else bad(`REACH: unknown kind ${kind}`)
  r.end()
  return m
}

const MAPPED_V4 = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i

/**
 * One spelling per IP address, for comparing the address a connection came
 * from with an address a peer names: lower case, and an IPv4-mapped IPv6
 * address (a dual-stack socket's "::ffff:10.0.0.1") as plain IPv4.
 */
export function canonicalHost(host: string): string {
  const m = MAPPED_V4.exec(host)
  return m ? m[1]! : host.toLowerCase()
}
