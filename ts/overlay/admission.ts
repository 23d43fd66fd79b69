// Who may hold a session or speak for a name: this node's own name only with
// its own key, no identity cut off by quotas (for quotas.banMs), and only
// what the trust policy admits. Used by the peer table for handshakes and by
// membership for HELLOs.
import { sameBytes, toHex } from '../core/bytes.js'
import { P4Error } from '../core/errors.js'
import type { Core } from './context.js'
import type { Peer } from './peer.js'

/** Banned identities remembered at most. */
const MAX_BANNED = 4096

export class Admission {
  /** Identities cut off by quotas → monotonic ms until which they are refused. */
  private readonly banned = new Map<string, number>()

  constructor(private readonly core: Core) {}

  checkTrust(username: string, identityKey: Uint8Array, certificate?: Uint8Array): void {
    const { cfg, stats } = this.core
    if (username === cfg.username && !sameBytes(identityKey, cfg.identity.publicKey)) {
      // A node's own name is always bound to its own key, whatever the policy.
      stats.untrustedKey++
      throw new P4Error('UNTRUSTED_KEY', `${JSON.stringify(username)} is this node's own username; key ${toHex(identityKey).slice(0, 16)}… is not its key`)
    }
    const hex = toHex(identityKey)
    const until = this.banned.get(hex)
    if (until !== undefined) {
      if (this.core.clock.now() < until) throw new P4Error('QUOTA_EXCEEDED', `${username} was cut off for exceeding a quota`)
      this.banned.delete(hex)
    }
    try {
      cfg.trust.check(username, identityKey, certificate && certificate.length > 0 ? certificate : undefined)
    } catch (err) {
      stats.untrustedKey++
      throw err
    }
  }

  ban(peer: Peer): void {
    this.banned.set(peer.keyHex, this.core.clock.now() + this.core.cfg.quotas.banMs)
    if (this.banned.size > MAX_BANNED) this.banned.delete(this.banned.keys().next().value!)
  }
}
