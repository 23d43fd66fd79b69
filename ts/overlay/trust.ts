// Building the trust policy a configuration names (trust-config.ts checks it).
import type { P4Error } from '../core/errors.js'
import { AllowlistPolicy } from './trust-allowlist.js'
import { AuthorityPolicy } from './trust-authority.js'
import { parseTrustConfig } from './trust-config.js'
import type { TrustPolicy } from './trust-policy.js'
import { TofuPolicy } from './trust-tofu.js'

export { parseTrustConfig, type TrustConfig } from './trust-config.js'

/** Builds the policy a config names; tofu pins live in `dataDir` when given. */
export function createTrustPolicy(config: unknown, env: { dataDir?: string; now?: () => number; warn?: (err: P4Error) => void } = {}): TrustPolicy {
  const c = parseTrustConfig(config)
  switch (c.policy) {
    case 'tofu':
      return new TofuPolicy({ dataDir: env.dataDir, maxPins: c.maxPins, warn: env.warn })
    case 'allowlist':
      return new AllowlistPolicy(c.keys)
    case 'authority':
      return new AuthorityPolicy({ authorityKey: c.authorityKey, clockSkewMs: c.clockSkewMs, now: env.now })
  }
}
