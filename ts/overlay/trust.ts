// Trust policies: which Ed25519 identity key may speak for which username.
// P4 left PKI open; p4net ships three policies behind one interface:
//   tofu      (default) pin username → key on first sight; a different key for
//             a pinned name is rejected. Pins persist in the data directory.
//   allowlist only listed keys (optionally each bound to one username).
//   authority username certificates signed by a configured authority key.
import { join } from 'node:path'
import { P4Error } from '../core/errors.js'
import { isValidUsername, validateUsername, encodeUsername, decodeUsername, quoteUsername, usernameProblem, USERNAME_MAX_BYTES } from '../core/username.js'
import { CERTIFICATE_MAX_BYTES } from './hello-codec.js'
import { debugWarn, JsonFileSaver, readFileIfExists } from './peer-cache.js'
import { sign, verify, type Identity } from '../core/identity.js'
import { ed25519KeyFlaw } from '../core/identity.js'

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

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

function fingerprint(key: Uint8Array): string {
  return hex(key.subarray(0, 8))
}

function checkArgs(username: unknown, identityKey: unknown): void {
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

// ---------------------------------------------------------------------------
// tofu

export interface TofuOptions {
  /** Pins are saved to <dataDir>/<fileName>; in memory only without it. */
  dataDir?: string
  fileName?: string
  /** Most pins kept (default 65536); a full table refuses new names (fails closed). */
  maxPins?: number
  /** Delay between a new pin and its save (default 1 s). */
  flushDelayMs?: number
  /**
   * Called once per pin dropped while loading the file because its username
   * breaks the username rules (P4Error 'BAD_USERNAME' naming the file and the
   * pin). Default: logged under NODE_DEBUG=p4net.
   */
  warn?: (err: P4Error) => void
}

const PIN_FILE_VERSION = 1

/**
 * Trust on first use. The pin table is bounded and fails closed: once full,
 * a name not yet pinned is refused (UNTRUSTED_KEY), never pinned by pushing
 * another out — forgetting a pin would let a flood of fresh names evict a
 * user and then take the name with another key. The default bound is large
 * enough that only a flood fills it. A corrupt pin file is an error
 * (BAD_CONFIG), not silently an empty table: losing pins would quietly
 * downgrade security.
 */
export class TofuPolicy implements TrustPolicy {
  readonly kind = 'tofu'
  readonly maxPins: number
  readonly path: string | undefined
  /** username → key, least recently confirmed first. */
  private readonly pins = new Map<string, Uint8Array>()
  private readonly saver: JsonFileSaver | undefined
  private readonly warn: (err: P4Error) => void

  constructor(opts: TofuOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_OPTION', 'tofu options must be an object')
    const maxPins = opts.maxPins ?? 65536
    if (!Number.isSafeInteger(maxPins) || maxPins < 1) throw new P4Error('BAD_OPTION', `maxPins must be an integer >= 1, got ${String(maxPins)}`)
    this.maxPins = maxPins
    const delay = opts.flushDelayMs ?? 1000
    if (!Number.isSafeInteger(delay) || delay < 0) throw new P4Error('BAD_OPTION', 'flushDelayMs must be an integer >= 0')
    if (opts.warn !== undefined && typeof opts.warn !== 'function') throw new P4Error('BAD_OPTION', 'warn must be a function')
    this.warn = opts.warn ?? debugWarn
    if (opts.dataDir !== undefined) {
      if (typeof opts.dataDir !== 'string' || opts.dataDir === '') throw new P4Error('BAD_OPTION', 'dataDir must be a non-empty string')
      const fileName = opts.fileName ?? 'pinned-keys.json'
      if (typeof fileName !== 'string' || fileName === '' || /[/\\]/.test(fileName)) throw new P4Error('BAD_OPTION', 'fileName must be a plain file name')
      this.path = join(opts.dataDir, fileName)
      this.saver = new JsonFileSaver(this.path, opts.dataDir, () => this.toJSON(), delay)
      this.load()
    }
  }

  get size(): number {
    return this.pins.size
  }

  check(username: string, identityKey: Uint8Array): void {
    checkArgs(username, identityKey)
    const pinned = this.pins.get(username)
    if (pinned === undefined) {
      // Fail closed when full: forgetting a pin would let a flood of fresh
      // names push a user out and then take the name with another key.
      if (this.pins.size >= this.maxPins) {
        throw new P4Error('UNTRUSTED_KEY', `cannot pin ${JSON.stringify(username)}: the pin table is full (${this.maxPins} pins)`)
      }
      this.pins.set(username, identityKey.slice())
      this.saver?.schedule()
      return
    }
    if (!Buffer.from(pinned).equals(identityKey)) {
      throw new P4Error(
        'UNTRUSTED_KEY',
        `username ${JSON.stringify(username)} is pinned to key ${fingerprint(pinned)}…, not ${fingerprint(identityKey)}…`,
      )
    }
    // Re-confirmed: move to the most-recently-used end (saved with the next write).
    this.pins.delete(username)
    this.pins.set(username, pinned)
  }

  /**
   * Pins this node's own name to its own key, replacing any earlier pin of
   * it (the node's identity is the authority for its own name; a data
   * directory may hold a pin from an identity since replaced). Tofu would
   * otherwise let the first peer to claim the name take it.
   */
  bindOwn(username: string, identityKey: Uint8Array): void {
    checkArgs(username, identityKey)
    const pinned = this.pins.get(username)
    if (pinned !== undefined && Buffer.from(pinned).equals(identityKey)) return
    this.pins.delete(username)
    this.pins.set(username, identityKey.slice())
    this.saver?.schedule()
  }

  /** The pinned key for `username`, if any. */
  pinned(username: string): Uint8Array | undefined {
    return this.pins.get(username)?.slice()
  }

  /** Forgets a pin (operator action after a legitimate key change). */
  unpin(username: string): boolean {
    const ok = this.pins.delete(username)
    if (ok) this.saver?.schedule()
    return ok
  }

  /** Saves pending pins now; rejects with IO_ERROR. */
  flush(): Promise<void> {
    return this.saver?.flush() ?? Promise.resolve()
  }

  flushSync(): void {
    this.saver?.flushSync()
  }

  toJSON(): { version: number; pins: [string, string][] } {
    return { version: PIN_FILE_VERSION, pins: [...this.pins].map(([name, key]) => [name, hex(key)]) }
  }

  private load(): void {
    const path = this.path!
    let text: string | undefined
    try {
      text = readFileIfExists(path)
    } catch (cause) {
      throw new P4Error('IO_ERROR', `cannot read pinned keys ${path}`, { cause })
    }
    if (text === undefined) return
    const corrupt = (why: string): never => {
      throw new P4Error('BAD_CONFIG', `pinned keys file ${path} is corrupt (${why}); fix or remove it to re-pin`)
    }
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch {
      corrupt('not JSON')
    }
    const d = doc as { version?: unknown; pins?: unknown } | null
    if (d === null || typeof d !== 'object' || d.version !== PIN_FILE_VERSION || !Array.isArray(d.pins)) corrupt('unknown layout')
    for (const entry of (d as { pins: unknown[] }).pins) {
      if (!Array.isArray(entry) || entry.length !== 2) corrupt('bad entry')
      const [name, key] = entry as unknown[]
      // A name that is not 1..31 bytes of text was never valid: corruption.
      if (typeof name !== 'string' || name === '' || Buffer.byteLength(name) > USERNAME_MAX_BYTES) corrupt('bad entry')
      if (typeof key !== 'string' || !/^[0-9a-f]{64}$/.test(key)) corrupt('bad entry')
      // One that breaks today's character rules was pinned under an older,
      // looser rule. No HELLO can carry it any more, so the pin protects
      // nothing: drop it with a warning rather than refuse to start.
      const problem = usernameProblem(name)
      if (problem !== undefined) {
        this.warn(new P4Error('BAD_USERNAME', `pinned keys file ${path}: dropped the pin of ${quoteUsername(name as string)} to key ${(key as string).slice(0, 16)}…: ${problem}`))
        continue
      }
      if (this.pins.has(name as string)) corrupt(`duplicate username ${JSON.stringify(name)}`)
      this.pins.set(name as string, new Uint8Array(Buffer.from(key as string, 'hex')))
    }
    while (this.pins.size > this.maxPins) this.pins.delete(this.pins.keys().next().value as string)
  }
}

// ---------------------------------------------------------------------------
// allowlist

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

// ---------------------------------------------------------------------------
// authority certificates
//
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

// ---------------------------------------------------------------------------
// configuration

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
