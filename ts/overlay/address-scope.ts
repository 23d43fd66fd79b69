// How far an IP address reaches, for deciding which addresses a peer may
// make this node dial (hole punching, punch.ts): a loopback address stays
// on this host; a private, shared (carrier-grade NAT) or link-local one on a
// local network; anything else is global.
import { isIP } from 'node:net'
import { P4Error } from '../core/errors.js'
import { canonicalHost } from './reach-codec.js'

export type AddressScope = 'loopback' | 'local' | 'global'

const RANK: Record<AddressScope, number> = { loopback: 0, local: 1, global: 2 }

function v4Scope(host: string): AddressScope {
  const [a, b] = host.split('.').map(Number) as [number, number]
  if (a === 127) return 'loopback'
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) return 'local'
  if ((a === 100 && b >= 64 && b <= 127) || (a === 169 && b === 254)) return 'local'
  return 'global'
}

/**
 * The scope of an IP literal (an IPv4-mapped IPv6 address as its IPv4 one).
 * Anything else is BAD_ARGUMENT: a name has no scope of its own, and calling
 * it global would let it through the checks this serves.
 */
export function addressScope(host: string): AddressScope {
  const h = typeof host === 'string' ? canonicalHost(host) : ''
  const v = isIP(h)
  if (v === 0) throw new P4Error('BAD_ARGUMENT', `not an IP address: ${JSON.stringify(host)}`)
  if (v === 4) return v4Scope(h)
  if (h === '::1' || /^0{0,4}(:0{0,4}){0,6}:0{0,3}1$/.test(h)) return 'loopback'
  // fc00::/7 (unique local), fe80::/10 (link-local).
  if (/^f[cd][0-9a-f]{2}:/.test(h) || /^fe[89ab][0-9a-f]:/.test(h)) return 'local'
  return 'global'
}

/** Whether `host` reaches no less far than `own`: a loopback address only from loopback, a local one only from a non-global one. */
export function withinScope(host: string, own: string): boolean {
  return RANK[addressScope(host)] >= RANK[addressScope(own)]
}
