// Fixed identities for tests that want the same keys every run, without the
// cost of generating them: identity n has secrets filled with n and n + 100.
import { identityFromSecrets, type Identity } from '../../ts/core/identity.js'

export function fixedIdentity(n: number): Identity {
  return identityFromSecrets(new Uint8Array(32).fill(n), new Uint8Array(32).fill(n + 100))
}
