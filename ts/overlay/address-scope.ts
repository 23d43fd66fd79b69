// How far an IP address reaches, for deciding which addresses a peer may
// make this node dial (hole punching, punch.ts): a loopback address stays
// on this host; a private, shared (carrier-grade NAT) or link-local one on a
// local network; anything else is global. An address that names no one
// host (unspecified, multicast, broadcast) has no scope: 'none'.
//
// The address is judged by its value, not its spelling: an IPv6 literal is
// read into its eight groups, so that "::ffff:7f00:1" is 127.0.0.1 and
// "0::0" is "::" (a socket connects to both spellings alike; 0.0.0.0 and ::
// reach this host).
import { isIP } from 'node:net'
import { P4Error } from '../core/errors.js'

export type AddressScope = 'none' | 'loopback' | 'local' | 'global'

const RANK: Record<AddressScope, number> = { none: -1, loopback: 0, local: 1, global: 2 }

function v4Scope(a: number, b: number): AddressScope {
  // 0.0.0.0/8 (this network), multicast and reserved (224/3, with the broadcast address).
  if (a === 0 || a >= 224) return 'none'
  if (a === 127) return 'loopback'
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'local'
  if ((a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254)) return 'local'
  return 'global'
}

/** The eight 16-bit groups of a valid IPv6 literal (a zone ID dropped, a dotted IPv4 tail as two groups). */
function v6Groups(literal: string): number[] {
  let s = literal
  const zone = s.indexOf('%')
  if (zone >= 0) s = s.slice(0, zone)
  const dot = s.indexOf('.')
  if (dot >= 0) {
    const at = s.lastIndexOf(':') + 1
    const [a, b, c, d] = s.slice(at).split('.').map(Number) as [number, number, number, number]
    s = `${s.slice(0, at)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)))
  const gap = s.indexOf('::')
  if (gap < 0) return groups(s)
  const head = groups(s.slice(0, gap))
  const tail = groups(s.slice(gap + 2))
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]
}

function v6Scope(g: number[]): AddressScope {
  const zeroUpTo = (n: number): boolean => g.slice(0, n).every((x) => x === 0)
  if (zeroUpTo(5) && g[5] === 0xffff) return v4Scope(g[6]! >> 8, g[6]! & 0xff) // IPv4-mapped
  if (zeroUpTo(7)) return g[7] === 1 ? 'loopback' : g[7] === 0 ? 'none' : 'global'
  if ((g[0]! & 0xff00) === 0xff00) return 'none' // multicast
  // fc00::/7 (unique local), fe80::/10 (link-local).
  if ((g[0]! & 0xfe00) === 0xfc00 || (g[0]! & 0xffc0) === 0xfe80) return 'local'
  return 'global'
}

/**
 * The scope of an IP literal, whatever its spelling (an IPv4-mapped IPv6
 * address as its IPv4 one). Anything else is BAD_ARGUMENT: a name has no
 * scope of its own, and calling it global would let it through the checks
 * this serves.
 */
export function addressScope(host: string): AddressScope {
  const v = typeof host === 'string' ? isIP(host) : 0
  if (v === 0) throw new P4Error('BAD_ARGUMENT', `not an IP address: ${JSON.stringify(host)}`)
  if (v === 4) {
    const [a, b] = host.split('.').map(Number) as [number, number]
    return v4Scope(a, b)
  }
  return v6Scope(v6Groups(host))
}

/** Whether `host` reaches no less far than `own`: a loopback address only from loopback, a local one only from a non-global one, one of scope 'none' never. */
export function withinScope(host: string, own: string): boolean {
  const scope = addressScope(host)
  return scope !== 'none' && RANK[scope] >= RANK[addressScope(own)]
}

/**
 * Whether `host` reaches less far than `than`, both IP literals (false when
 * either is not one): a peer that this node reaches at a global address sees
 * this node at a global one too, never at a loopback or private one.
 */
export function narrowerScope(host: string, than: string): boolean {
  if (isIP(host) === 0 || isIP(than) === 0) return false
  return RANK[addressScope(host)] < RANK[addressScope(than)]
}
