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
/** Refused (name, key) pairs already reported as a warning, remembered at most. */
const MAX_REPORTED = 256

export class Admission {
  /** Identities cut off by quotas → monotonic ms until which they are refused. */
  private readonly banned = new Map<string, number>()
  /** `name key` pairs refused and reported: each is reported once, not at every redial or HELLO. */
  private readonly reported = new Set<string>()

  constructor(private readonly core: Core) {}

  /**
   * `quiet`: for a hint that is not a session or a HELLO (a LAN beacon):
   * a refusal is neither counted in untrustedKey nor reported as a warning
   * (the caller counts it), since strangers on a LAN are no fault.
   */
  checkTrust(username: string, identityKey: Uint8Array, certificate?: Uint8Array, quiet = false): void {
    const { cfg, stats } = this.core
    if (username === cfg.username && !sameBytes(identityKey, cfg.identity.publicKey)) {
      // A node's own name is always bound to its own key, whatever the policy.
      if (!quiet) stats.untrustedKey++
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
      if (quiet) throw err
      stats.untrustedKey++
      this.report(username, hex, err)
      throw err
    }
  }

  /** Tells the user (a 'warning') that the policy refused a key for a name: often a peer that lost its identity. */
  private report(username: string, hex: string, err: unknown): void {
    const pair = `${username} ${hex}`
    if (!(err instanceof P4Error) || this.reported.has(pair)) return
    this.reported.add(pair)
    if (this.reported.size > MAX_REPORTED) this.reported.delete(this.reported.values().next().value!)
    this.core.emit('warning', new P4Error('UNTRUSTED_KEY', `refused key ${hex.slice(0, 16)}… for ${JSON.stringify(username)}: ${err.message}`, { cause: err }))
  }

  ban(peer: Peer): void {
    this.banned.set(peer.keyHex, this.core.clock.now() + this.core.cfg.quotas.banMs)
    if (this.banned.size > MAX_BANNED) this.banned.delete(this.banned.keys().next().value!)
  }
}
