// The trust configuration: which policy (trust-policy.ts) a node uses, as
// written in options or a config file, checked. Building the policy is
// trust.ts's (the tofu pin store is loaded only by a node that starts).
import { P4Error } from '../core/errors.js'
import { AllowlistPolicy, type AllowlistEntry } from './trust-allowlist.js'
import { AuthorityPolicy } from './trust-authority.js'

export type TrustConfig =
  | { policy: 'tofu'; maxPins?: number }
  | { policy: 'allowlist'; keys: Array<AllowlistEntry | string> }
  | { policy: 'authority'; authorityKey: string | Uint8Array; clockSkewMs?: number }

/**
 * Validates a trust config (e.g. from a config file); undefined means tofu.
 * Unknown fields are rejected so typos do not silently weaken trust.
 */
export function parseTrustConfig(raw: unknown): TrustConfig {
  if (raw === undefined) return { policy: 'tofu' }
  if (typeof raw === 'string') raw = { policy: raw }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new P4Error('BAD_OPTION', 'trust must be an object like { policy: "tofu" }')
  const o = raw as Record<string, unknown>
  const allow = (fields: string[]): void => {
    for (const k of Object.keys(o)) if (k !== 'policy' && !fields.includes(k)) throw new P4Error('BAD_OPTION', `unknown trust option ${JSON.stringify(k)} for policy ${String(o.policy)}`)
  }
  switch (o.policy) {
    case 'tofu': {
      allow(['maxPins'])
      if (o.maxPins !== undefined && (!Number.isSafeInteger(o.maxPins) || (o.maxPins as number) < 1)) throw new P4Error('BAD_OPTION', 'trust.maxPins must be an integer >= 1')
      return o.maxPins === undefined ? { policy: 'tofu' } : { policy: 'tofu', maxPins: o.maxPins as number }
    }
    case 'allowlist': {
      allow(['keys'])
      new AllowlistPolicy(o.keys as AllowlistEntry[]) // validates
      return { policy: 'allowlist', keys: o.keys as AllowlistEntry[] }
    }
    case 'authority': {
      allow(['authorityKey', 'clockSkewMs'])
      new AuthorityPolicy({ authorityKey: o.authorityKey as string, clockSkewMs: o.clockSkewMs as number | undefined }) // validates
      const c: TrustConfig = { policy: 'authority', authorityKey: o.authorityKey as string }
      if (o.clockSkewMs !== undefined) c.clockSkewMs = o.clockSkewMs as number
      return c
    }
    default:
      throw new P4Error('BAD_OPTION', `trust.policy must be "tofu", "allowlist" or "authority", got ${JSON.stringify(o.policy)}`)
  }
}

