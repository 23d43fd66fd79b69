// The host a node bound to a wildcard address (0.0.0.0, ::) with no
// advertiseHost names in its HELLO before reachability has a verdict: one
// that peers on at least `need` different IP addresses agree they see it at
// (REACH OBSERVED). One peer's report is a claim, never enough: a hostile
// peer cannot point others at an address of its choosing alone.
import type { Address } from '../transport/types.js'
import { isWildcardHost } from './lan-config.js'
import type { Peer } from './peer.js'
import { canonicalHost } from './reach-codec.js'

/**
 * The observed host reported from the most peer IP addresses, when at least
 * `need`; `current` while it still is (so that ties do not flap), and when
 * no host is (peers come and go; a host learned once is still better than
 * none).
 */
export function agreedHost(observations: ReadonlyMap<Peer, Address>, need: number, current: string | undefined): string | undefined {
  const seenFrom = new Map<string, Set<string>>()
  for (const [peer, a] of observations) {
    if (isWildcardHost(a.host)) continue
    let ips = seenFrom.get(a.host)
    if (ips === undefined) seenFrom.set(a.host, (ips = new Set()))
    ips.add(canonicalHost(peer.remote.host))
  }
  if (current !== undefined && (seenFrom.get(current)?.size ?? 0) >= need) return current
  let best = current
  let most = need - 1
  for (const [host, ips] of seenFrom) {
    if (ips.size > most) {
      best = host
      most = ips.size
    }
  }
  return best
}
