// Trust policies: which Ed25519 identity key may speak for which username.
// P4 left PKI open; p4net ships three policies behind one interface:
//   tofu      (default) pin username → key on first sight; a different key for
//             a pinned name is rejected. Pins persist in the data directory.
//   allowlist only listed keys (optionally each bound to one username).
//   authority username certificates signed by a configured authority key.
// This file holds what they share: the interface and key checks; trust.ts
// builds the one a config names.
import { P4Error } from '../core/errors.js'
import { ed25519KeyFlaw } from '../core/identity.js'
import { validateUsername } from '../core/username.js'

export type TrustKind = 'tofu' | 'allowlist' | 'authority'

export interface TrustPolicy {
  readonly kind: TrustKind
  /**
   * Returns when `identityKey` may act as `username`; otherwise throws
   * P4Error 'UNTRUSTED_KEY' whose message gives the reason.
   */
  check(username: string, identityKey: Uint8Array, certificate?: Uint8Array): void
  /**
   * For policies whose trust expires (certificates): the wall-clock ms
   * (Unix) until which `certificate`, already accepted by check(), vouches
   * for its user. Absent: trust never expires.
   */
  validUntil?(certificate: Uint8Array | undefined): number
  /**
   * Binds this node's own username to its own key (tofu: a pin that no peer
   * can take first). Called once when the node starts.
   */
  bindOwn?(username: string, identityKey: Uint8Array): void
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

export function fingerprint(key: Uint8Array): string {
  return hex(key.subarray(0, 8))
}

export function checkArgs(username: unknown, identityKey: unknown): void {
  validateUsername(username)
  if (!(identityKey instanceof Uint8Array) || identityKey.length !== 32) throw new P4Error('BAD_ARGUMENT', 'identityKey must be 32 bytes')
}

/**
 * Parses a 32-byte Ed25519 public key given as bytes, 64 hex digits, or
 * base64 / base64url (43 or 44 characters). Throws BAD_OPTION, also for a
 * small-order or non-canonical key (ed25519KeyFlaw): an allowlisted or
 * authority key of small order would accept signatures anyone can forge.
 */
export function parseKey(v: unknown, what = 'key'): Uint8Array {
  let key: Uint8Array | undefined
  if (v instanceof Uint8Array) {
    if (v.length !== 32) throw new P4Error('BAD_OPTION', `${what} must be 32 bytes`)
    key = v.slice()
  } else if (typeof v === 'string') {
    if (/^[0-9a-fA-F]{64}$/.test(v)) key = new Uint8Array(Buffer.from(v, 'hex'))
    else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(v)) {
      const b = Buffer.from(v, 'base64')
      if (b.length === 32) key = new Uint8Array(b)
    }
  }
  if (key === undefined) throw new P4Error('BAD_OPTION', `${what} must be a 32-byte key as bytes, hex or base64`)
  const flaw = ed25519KeyFlaw(key)
  if (flaw !== undefined) throw new P4Error('BAD_OPTION', `${what} ${hex(key)} is not a usable Ed25519 public key: ${flaw}`)
  return key
}
