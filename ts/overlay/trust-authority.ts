// The authority trust policy: username certificates signed by a configured
// authority key, and the certificates themselves.
import { P4Error } from '../core/errors.js'
import { ed25519KeyFlaw, sign, verify, type Identity } from '../core/identity.js'
import { decodeUsername, encodeUsername } from '../core/username.js'
import { CERTIFICATE_MAX_BYTES } from './hello-codec.js'
import { checkArgs, parseKey, type TrustPolicy } from './trust-policy.js'

// Certificate layout:
//   0  version u8 (= 1)
//   1  usernameLength u8 (1..31) | username UTF-8
//   .. identityKey (32) | notBefore u64 | notAfter u64 (Unix ms)
//   .. signature (64): Ed25519 by the authority over
//        "p4net/2 cert\0" || every certificate byte before the signature

export const CERT_VERSION = 1
export const CERT_DOMAIN = new TextEncoder().encode('p4net/2 cert\0')

export interface Certificate {
  username: string
  identityKey: Uint8Array
  notBefore: number
  notAfter: number
  signature: Uint8Array
  /** The certificate bytes the signature covers (without the domain prefix). */
  signed: Uint8Array
}

function certMessage(signed: Uint8Array): Uint8Array {
  const m = new Uint8Array(CERT_DOMAIN.length + signed.length)
  m.set(CERT_DOMAIN, 0)
  m.set(signed, CERT_DOMAIN.length)
  return m
}

function checkTimeMs(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new P4Error('BAD_ARGUMENT', `${what} must be a non-negative integer (Unix ms)`)
  return v
}

/**
 * Issues a certificate binding `username` to `identityKey` for
 * [notBefore, notAfter] (Unix ms; notBefore defaults to now).
 */
export function issueCertificate(
  authority: Identity,
  username: string,
  identityKey: Uint8Array,
  validity: { notBefore?: number; notAfter: number },
): Uint8Array {
  if (typeof authority !== 'object' || authority === null || typeof authority.signingKey !== 'object') {
    throw new P4Error('BAD_ARGUMENT', 'authority must be an Identity (generateIdentity())')
  }
  const name = encodeUsername(username)
  if (!(identityKey instanceof Uint8Array) || identityKey.length !== 32) throw new P4Error('BAD_ARGUMENT', 'identityKey must be 32 bytes')
  if (typeof validity !== 'object' || validity === null) throw new P4Error('BAD_ARGUMENT', 'validity must be { notBefore?, notAfter }')
  const notBefore = checkTimeMs(validity.notBefore ?? Date.now(), 'notBefore')
  const notAfter = checkTimeMs(validity.notAfter, 'notAfter')
  if (notAfter < notBefore) throw new P4Error('BAD_ARGUMENT', 'notAfter must not be before notBefore')
  const signedLen = 1 + 1 + name.length + 32 + 8 + 8
  const cert = new Uint8Array(signedLen + 64)
  const dv = new DataView(cert.buffer)
  cert[0] = CERT_VERSION
  cert[1] = name.length
  cert.set(name, 2)
  cert.set(identityKey, 2 + name.length)
  dv.setBigUint64(2 + name.length + 32, BigInt(notBefore))
  dv.setBigUint64(2 + name.length + 40, BigInt(notAfter))
  let sig: Uint8Array
  try {
    sig = sign(authority, certMessage(cert.subarray(0, signedLen)))
  } catch (cause) {
    throw new P4Error('BAD_ARGUMENT', 'authority.signingKey cannot sign', { cause })
  }
  cert.set(sig, signedLen)
  return cert
}

/**
 * Strict certificate decoding (no signature check); throws P4Error
 * 'BAD_PAYLOAD', also for a small-order or non-canonical identity key.
 */
export function decodeCertificate(bytes: Uint8Array): Certificate {
  const bad = (why: string): never => {
    throw new P4Error('BAD_PAYLOAD', `certificate: ${why}`)
  }
  if (!(bytes instanceof Uint8Array)) bad('not bytes')
  if (bytes.length > CERTIFICATE_MAX_BYTES) bad('too large')
  if (bytes.length < 2) bad('truncated')
  if (bytes[0] !== CERT_VERSION) bad(`unknown version ${bytes[0]}`)
  const n = bytes[1]!
  const signedLen = 2 + n + 32 + 16
  if (bytes.length !== signedLen + 64) bad(bytes.length < signedLen + 64 ? 'truncated' : 'trailing bytes')
  const username = decodeUsername(bytes.subarray(2, 2 + n))
  if (username === undefined) bad('invalid username')
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const nb = dv.getBigUint64(2 + n + 32)
  const na = dv.getBigUint64(2 + n + 40)
  if (nb > BigInt(Number.MAX_SAFE_INTEGER) || na > BigInt(Number.MAX_SAFE_INTEGER)) bad('time out of range')
  if (na < nb) bad('notAfter before notBefore')
  const flaw = ed25519KeyFlaw(bytes.subarray(2 + n, 2 + n + 32))
  if (flaw !== undefined) bad(`identity key is ${flaw}`)
  return {
    username: username as string,
    identityKey: bytes.slice(2 + n, 2 + n + 32),
    notBefore: Number(nb),
    notAfter: Number(na),
    signature: bytes.slice(signedLen),
    signed: bytes.slice(0, signedLen),
  }
}

export interface AuthorityOptions {
  authorityKey: Uint8Array | string
  /** Tolerated clock difference when checking validity (default 5 min). */
  clockSkewMs?: number
  /** Wall clock (Unix ms); tests pass a fixed one. */
  now?: () => number
}

export class AuthorityPolicy implements TrustPolicy {
  readonly kind = 'authority'
  readonly authorityKey: Uint8Array
  private readonly skew: number
  private readonly now: () => number

  constructor(opts: AuthorityOptions) {
    if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_OPTION', 'authority options must be an object')
    this.authorityKey = parseKey(opts.authorityKey, 'authorityKey')
    const skew = opts.clockSkewMs ?? 5 * 60_000
    if (!Number.isSafeInteger(skew) || skew < 0) throw new P4Error('BAD_OPTION', 'clockSkewMs must be an integer >= 0')
    if (opts.now !== undefined && typeof opts.now !== 'function') throw new P4Error('BAD_OPTION', 'now must be a function')
    this.skew = skew
    this.now = opts.now ?? Date.now
  }

  check(username: string, identityKey: Uint8Array, certificate?: Uint8Array): void {
    checkArgs(username, identityKey)
    const untrusted = (why: string): never => {
      throw new P4Error('UNTRUSTED_KEY', `${JSON.stringify(username)}: ${why}`)
    }
    if (certificate === undefined) untrusted('no certificate')
    let cert: Certificate
    try {
      cert = decodeCertificate(certificate as Uint8Array)
    } catch (err) {
      return untrusted(err instanceof Error ? err.message : 'malformed certificate')
    }
    if (!verify(this.authorityKey, certMessage(cert.signed), cert.signature)) untrusted('certificate signature is not the authority’s')
    if (cert.username !== username) untrusted(`certificate is for ${JSON.stringify(cert.username)}`)
    if (!Buffer.from(cert.identityKey).equals(identityKey)) untrusted('certificate is for a different key')
    const now = this.now()
    if (now + this.skew < cert.notBefore) untrusted('certificate is not valid yet')
    if (now - this.skew > cert.notAfter) untrusted('certificate has expired')
  }

  /** notAfter plus the tolerated clock skew; -Infinity for a missing or malformed certificate. */
  validUntil(certificate: Uint8Array | undefined): number {
    if (certificate === undefined) return -Infinity
    try {
      return decodeCertificate(certificate).notAfter + this.skew
    } catch {
      return -Infinity
    }
  }
}
