// The allowlist trust policy: only listed keys, each optionally bound to one
// username.
import { P4Error } from '../core/errors.js'
import { isValidUsername } from '../core/username.js'
import { checkArgs, fingerprint, hex, parseKey, type TrustPolicy } from './trust-policy.js'

export interface AllowlistEntry {
  key: Uint8Array | string
  /** When given, the key may only act as this username. */
  username?: string
}

export class AllowlistPolicy implements TrustPolicy {
  readonly kind = 'allowlist'
  /** hex key → bound username ('' = any). */
  private readonly allowed = new Map<string, string>()

  constructor(entries: ReadonlyArray<AllowlistEntry | Uint8Array | string>) {
    if (!Array.isArray(entries) || entries.length === 0) throw new P4Error('BAD_OPTION', 'allowlist needs a non-empty array of keys')
    for (const e of entries) {
      const isPlain = typeof e === 'string' || e instanceof Uint8Array
      if (!isPlain && (typeof e !== 'object' || e === null)) throw new P4Error('BAD_OPTION', 'allowlist entries must be keys or { key, username? }')
      const key = hex(parseKey(isPlain ? e : (e as AllowlistEntry).key, 'allowlist key'))
      const username = isPlain ? undefined : (e as AllowlistEntry).username
      if (username !== undefined && !isValidUsername(username)) throw new P4Error('BAD_OPTION', `allowlist username ${JSON.stringify(username)} is invalid`)
      if (this.allowed.has(key)) throw new P4Error('BAD_OPTION', `allowlist key ${key.slice(0, 16)}… listed twice`)
      this.allowed.set(key, username ?? '')
    }
  }

  get size(): number {
    return this.allowed.size
  }

  check(username: string, identityKey: Uint8Array): void {
    checkArgs(username, identityKey)
    const bound = this.allowed.get(hex(identityKey))
    if (bound === undefined) throw new P4Error('UNTRUSTED_KEY', `key ${fingerprint(identityKey)}… is not on the allowlist`)
    if (bound !== '' && bound !== username) {
      throw new P4Error('UNTRUSTED_KEY', `key ${fingerprint(identityKey)}… is allowed only as ${JSON.stringify(bound)}, not ${JSON.stringify(username)}`)
    }
  }
}
