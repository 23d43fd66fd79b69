// DISCOVER (the random walk) and CONNECT (the link that answers it, or any
// link request). Conventions in codec-cursor.ts.
import { P4Error } from '../core/errors.js'
import { encodeUsername } from '../core/username.js'
import { checkSafeU64, checkU64, checkU8, hostBytes, validateHost, validatePort } from './codec-fields.js'
import { bad, Reader, Writer } from './codec-cursor.js'

// ---------------------------------------------------------------------------
// CONNECT (point-to-point: "make this a long-lived overlay link")

export interface Connect {
  username: string
  /** The sender's listen address ('' / 0 when it does not accept connections). */
  host: string
  port: number
  /** The DISCOVER walk this link answers; 0n when not answering a walk. */
  walkId: bigint
}

export function encodeConnect(c: Connect): Uint8Array {
  if (typeof c !== 'object' || c === null) throw new P4Error('BAD_ARGUMENT', 'connect must be an object')
  const name = encodeUsername(c.username)
  const host = hostBytes(validateHost(c.host))
  const port = validatePort(c.port)
  const walkId = checkU64(c.walkId, 'walkId')
  const w = new Writer(1 + name.length + 1 + host.length + 2 + 8)
  w.u8(name.length)
  w.bytes(name)
  w.u8(host.length)
  w.bytes(host)
  w.u16(port)
  w.u64(walkId)
  return w.done()
}

export function decodeConnect(body: Uint8Array): Connect {
  const r = new Reader(body, 'CONNECT')
  const username = r.username()
  const host = r.host(true)
  const port = r.u16()
  const walkId = r.u64()
  r.end()
  return { username, host, port, walkId }
}

// ---------------------------------------------------------------------------
// DISCOVER (SIGNED random walk). Forwarders cannot change the signed body,
// so the hops taken is the header's hop count; hops left = maxHops - hops.

export interface Discover {
  username: string
  /** Where the walk's end connects back to: never empty, port >= 1. */
  host: string
  port: number
  walkId: bigint
  /** The walk may not end before this many hops (so it does not end at a current neighbour). */
  minHops: number
  /** The walk ends (connects back) at this many hops at the latest; 1..255. */
  maxHops: number
  /** Origin's wall clock (Unix ms) when it started the walk; receivers drop old walks. */
  sentAt: number
}

export function encodeDiscover(d: Discover): Uint8Array {
  if (typeof d !== 'object' || d === null) throw new P4Error('BAD_ARGUMENT', 'discover must be an object')
  const name = encodeUsername(d.username)
  const host = hostBytes(validateHost(d.host))
  if (host.length === 0) throw new P4Error('BAD_ARGUMENT', 'discover host must not be empty')
  const port = validatePort(d.port, 1)
  const walkId = checkU64(d.walkId, 'walkId')
  const maxHops = checkU8(d.maxHops, 'maxHops', 1)
  const minHops = checkU8(d.minHops, 'minHops')
  if (minHops > maxHops) throw new P4Error('BAD_ARGUMENT', 'minHops must not exceed maxHops')
  const sentAt = checkSafeU64(d.sentAt, 'sentAt')
  const w = new Writer(1 + name.length + 1 + host.length + 2 + 8 + 1 + 1 + 8)
  w.u8(name.length)
  w.bytes(name)
  w.u8(host.length)
  w.bytes(host)
  w.u16(port)
  w.u64(walkId)
  w.u8(minHops)
  w.u8(maxHops)
  w.u64(BigInt(sentAt))
  return w.done()
}

export function decodeDiscover(body: Uint8Array): Discover {
  const r = new Reader(body, 'DISCOVER')
  const username = r.username()
  const host = r.host(false)
  const port = r.u16()
  if (port === 0) bad('DISCOVER: port 0')
  const walkId = r.u64()
  const minHops = r.u8()
  const maxHops = r.u8()
  if (maxHops === 0 || minHops > maxHops) bad('DISCOVER: bad hop bounds')
  const sentAt = r.safeU64('sentAt')
  r.end()
  return { username, host, port, walkId, minHops, maxHops, sentAt }
}
