// A node's long-term keys: Ed25519 (who it is: signs statements, HELLOs,
// relayed messages) and X25519 (its Noise static key, certified by the
// Ed25519 key in every handshake). Kept as node:crypto KeyObjects for speed,
// with the raw 32-byte forms for the wire and for saving.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign as cryptoSign,
  verify as cryptoVerify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto'
import { mkdir, readFile, rename, unlink, link, open } from 'node:fs/promises'
import { join } from 'node:path'
import { expectBytes, P4Error } from './errors.js'

export interface Identity {
  /** Ed25519 public key, 32 bytes: the node's identity on the wire. */
  readonly publicKey: Uint8Array
  /** Ed25519 private key (seed), 32 bytes. */
  readonly secretKey: Uint8Array
  readonly signingKey: KeyObject
  /** X25519 public key, 32 bytes: the Noise static key. */
  readonly staticPublicKey: Uint8Array
  /** X25519 private key, 32 bytes. */
  readonly staticSecretKey: Uint8Array
  readonly staticKey: KeyObject
}

// Raw 32-byte keys <-> KeyObjects. Public keys go through JWK: with OpenSSL 3,
// JWK import/export is ~10x faster than DER (decoder framework), and the
// handshake imports two public keys and exports one per side. Private keys
// are imported rarely (loading an identity), through PKCS#8 DER (RFC 8410),
// which needs nothing but the secret.
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex')
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex')

const b64url = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64url')
const fromB64url = (s: string | undefined): Uint8Array => new Uint8Array(Buffer.from(s ?? '', 'base64url'))

export function ed25519PrivateKey(secret: Uint8Array): KeyObject {
  expectBytes(secret, 32, 'Ed25519 secret key')
  return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, secret]), format: 'der', type: 'pkcs8' })
}
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  expectBytes(raw, 32, 'Ed25519 public key')
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) }, format: 'jwk' })
}
export function x25519PrivateKey(secret: Uint8Array): KeyObject {
  expectBytes(secret, 32, 'X25519 secret key')
  return createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secret]), format: 'der', type: 'pkcs8' })
}
export function x25519PublicKey(raw: Uint8Array): KeyObject {
  expectBytes(raw, 32, 'X25519 public key')
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(raw) }, format: 'jwk' })
}
/** The raw 32-byte public key of an Ed25519 or X25519 KeyObject (public or private). */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  return fromB64url(pub.export({ format: 'jwk' }).x)
}
/** The raw 32-byte private key of an Ed25519 or X25519 private KeyObject. */
export function rawPrivateKey(key: KeyObject): Uint8Array {
  return fromB64url(key.export({ format: 'jwk' }).d)
}

/** A fresh key pair: the raw 32-byte keys and the private key as a KeyObject. */
export interface FreshKeyPair {
  publicKey: Uint8Array
  secretKey: Uint8Array
  privateKey: KeyObject
}

/**
 * A fresh Ed25519 or X25519 key pair. Never export (JWK) a KeyObject that
 * generateKeyPairSync returned: Node's JWK export of an OKP key holds the
 * key's mutex while it allocates, a GC in that allocation may finalize the
 * finished key-generation job, and the job's destructor (~KeyPairGenConfig)
 * locks the same mutex — the main thread then waits on itself forever (Node
 * 20.20; a test generating 2,000 identities hung in about one run in three,
 * gdb: ExportJWKEdKey → GC → ~KeyGenJob → uv_mutex_lock). So the job encodes
 * the pair as JWK itself (it is alive while it does) and the KeyObject is
 * imported from that: no KeyObject shares its mutex with a job.
 */
export function freshKeyPair(type: 'ed25519' | 'x25519'): FreshKeyPair {
  // (@types/node has no overload for JWK output, which Node has had since 15.9.)
  const generate = generateKeyPairSync as unknown as (t: string, o: object) => { publicKey: JsonWebKey; privateKey: JsonWebKey }
  const jwk = generate(type, { publicKeyEncoding: { format: 'jwk' }, privateKeyEncoding: { format: 'jwk' } })
  return {
    publicKey: fromB64url(jwk.publicKey.x),
    secretKey: fromB64url(jwk.privateKey.d),
    privateKey: createPrivateKey({ key: jwk.privateKey, format: 'jwk' }),
  }
}

export function generateIdentity(): Identity {
  const ed = freshKeyPair('ed25519')
  const x = freshKeyPair('x25519')
  return {
    publicKey: ed.publicKey,
    secretKey: ed.secretKey,
    signingKey: ed.privateKey,
    staticPublicKey: x.publicKey,
    staticSecretKey: x.secretKey,
    staticKey: x.privateKey,
  }
}

/** Rebuilds an identity from its two raw secret keys (the public keys are derived). */
export function identityFromSecrets(secretKey: Uint8Array, staticSecretKey: Uint8Array): Identity {
  const signingKey = ed25519PrivateKey(secretKey)
  const staticKey = x25519PrivateKey(staticSecretKey)
  return {
    publicKey: rawPublicKey(signingKey),
    secretKey: new Uint8Array(secretKey),
    signingKey,
    staticPublicKey: rawPublicKey(staticKey),
    staticSecretKey: new Uint8Array(staticSecretKey),
    staticKey,
  }
}

/** Ed25519 signature (64 bytes) by the identity over `bytes`. */
export function sign(identity: Identity, bytes: Uint8Array): Uint8Array {
  if (typeof identity?.signingKey !== 'object') throw new P4Error('BAD_ARGUMENT', 'sign() needs an Identity')
  expectBytes(bytes, undefined, 'bytes to sign')
  return new Uint8Array(cryptoSign(null, bytes, identity.signingKey))
}

// Imported public keys, most recently used last. The overlay verifies many
// signatures from the same origins; importing a key costs about as much as
// a verification, so keep the KeyObjects.
const KEY_CACHE_MAX = 4096
const keyCache = new Map<string, KeyObject | null>()

function cachedPublicKey(raw: Uint8Array): KeyObject | null {
  const id = Buffer.from(raw.buffer, raw.byteOffset, 32).toString('latin1')
  let key = keyCache.get(id)
  if (key !== undefined) {
    keyCache.delete(id)
  } else {
    try {
      key = ed25519PublicKey(raw)
    } catch {
      key = null // not a valid point: every signature by it is invalid
    }
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value as string)
  }
  keyCache.set(id, key)
  return key
}

/**
 * Verifications shared by the nodes of one process. When several nodes run
 * in one process (simulations, tests, a host of many identities) each of
 * them checks the same flooded signature; a signature that verified once is
 * then taken from here. The key is SHA-256 of publicKey || signature ||
 * bytes, so a hit means exactly these bytes were verified under this key;
 * only successes are kept. With a single node it is off (every signature it
 * sees is new to it, so the hash would be pure cost), and large messages are
 * never cached (hashing them costs as much as verifying).
 */
const SHARED_VERIFY_MAX = 16384
const SHARED_VERIFY_MAX_BYTES = 4096
const sharedVerified = new Set<string>()
let sharedVerifyUsers = 0
let sharedVerifyHits = 0

/** A node of this process starts (true) or stops (false) sharing verifications; on from two nodes. */
export function shareVerifications(on: boolean): void {
  sharedVerifyUsers = Math.max(0, sharedVerifyUsers + (on ? 1 : -1))
  if (sharedVerifyUsers < 2) sharedVerified.clear()
}

/** Signature checks answered from the shared verifications so far (for benchmarks). */
export function sharedVerificationHits(): number {
  return sharedVerifyHits
}

/**
 * Whether `signature` is a valid Ed25519 signature by `publicKey` over
 * `bytes`. A malformed signature is simply invalid (false); a public key or
 * bytes of the wrong type or length is a caller bug (BAD_ARGUMENT).
 */
export function verify(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean {
  expectBytes(publicKey, 32, 'public key')
  expectBytes(bytes, undefined, 'signed bytes')
  expectBytes(signature, undefined, 'signature')
  if (signature.length !== 64) return false
  const shared = sharedVerifyUsers >= 2 && bytes.length <= SHARED_VERIFY_MAX_BYTES
  let id = ''
  if (shared) {
    id = createHash('sha256').update(publicKey).update(signature).update(bytes).digest('base64')
    if (sharedVerified.has(id)) {
      sharedVerifyHits++
      return true
    }
  }
  const key = cachedPublicKey(publicKey)
  if (key === null) return false
  let ok: boolean
  try {
    ok = cryptoVerify(null, bytes, key, signature)
  } catch {
    return false
  }
  if (ok && shared) {
    if (sharedVerified.size >= SHARED_VERIFY_MAX) sharedVerified.delete(sharedVerified.values().next().value as string)
    sharedVerified.add(id)
  }
  return ok
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/**
 * A short human-comparable name for a public key: the first 80 bits of its
 * SHA-256 in base32, in groups of 4 ("7kq2-mzfa-3xbc-po4d").
 */
export function fingerprint(publicKey: Uint8Array): string {
  expectBytes(publicKey, 32, 'public key')
  const digest = createHash('sha256').update(publicKey).digest()
  let out = ''
  let bits = 0
  let acc = 0
  for (let i = 0; i < 10; i++) {
    acc = (acc << 8) | digest[i]!
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += BASE32[(acc >>> bits) & 31]
    }
  }
  return out.match(/.{4}/g)!.join('-')
}

// ---- the identity file ----

export const IDENTITY_FILE = 'identity.json'
const FILE_TYPE = 'p4net-identity'
const FILE_VERSION = 1

interface IdentityFile {
  type: typeof FILE_TYPE
  version: typeof FILE_VERSION
  ed25519: { publicKey: string; secretKey: string }
  x25519: { publicKey: string; secretKey: string }
}

function encodeIdentity(id: Identity): string {
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
  const file: IdentityFile = {
    type: FILE_TYPE,
    version: FILE_VERSION,
    ed25519: { publicKey: b64(id.publicKey), secretKey: b64(id.secretKey) },
    x25519: { publicKey: b64(id.staticPublicKey), secretKey: b64(id.staticSecretKey) },
  }
  return JSON.stringify(file, null, 2) + '\n'
}

function bad(path: string, why: string, cause?: unknown): P4Error {
  return new P4Error('BAD_IDENTITY', `identity file ${path}: ${why}`, cause === undefined ? undefined : { cause })
}

function key32(value: unknown, path: string, what: string): Uint8Array {
  if (typeof value !== 'string') throw bad(path, `${what} is missing`)
  const bytes = Buffer.from(value, 'base64')
  // Buffer's base64 decoder skips junk; insist on the canonical encoding.
  if (bytes.length !== 32 || bytes.toString('base64') !== value) throw bad(path, `${what} is not 32 bytes of base64`)
  return new Uint8Array(bytes)
}

function decodeIdentity(text: string, path: string): Identity {
  let file: unknown
  try {
    file = JSON.parse(text)
  } catch (err) {
    throw bad(path, 'not valid JSON (corrupt or truncated)', err)
  }
  if (typeof file !== 'object' || file === null || (file as { type?: unknown }).type !== FILE_TYPE) {
    throw bad(path, `not a p4net identity (type must be "${FILE_TYPE}")`)
  }
  const f = file as Partial<IdentityFile> & { version?: unknown }
  if (f.version !== FILE_VERSION) throw bad(path, `unsupported version ${String(f.version)} (expected ${FILE_VERSION})`)
  const ed = f.ed25519 as Record<string, unknown> | undefined
  const x = f.x25519 as Record<string, unknown> | undefined
  if (typeof ed !== 'object' || ed === null || typeof x !== 'object' || x === null) throw bad(path, 'keys are missing')
  const edPub = key32(ed.publicKey, path, 'ed25519.publicKey')
  const edSec = key32(ed.secretKey, path, 'ed25519.secretKey')
  const xPub = key32(x.publicKey, path, 'x25519.publicKey')
  const xSec = key32(x.secretKey, path, 'x25519.secretKey')
  let id: Identity
  try {
    id = identityFromSecrets(edSec, xSec)
  } catch (err) {
    throw bad(path, 'secret keys are invalid', err)
  }
  if (!Buffer.from(id.publicKey).equals(edPub)) throw bad(path, 'ed25519.publicKey does not match its secret key')
  if (!Buffer.from(id.staticPublicKey).equals(xPub)) throw bad(path, 'x25519.publicKey does not match its secret key')
  return id
}

function checkDir(dir: unknown): string {
  if (typeof dir !== 'string' || dir.length === 0) throw new P4Error('BAD_ARGUMENT', 'dir must be a non-empty string')
  return dir
}

/** Writes `<dir>/identity.json` (mode 0600) into a temp file; returns its path. */
async function writeTemp(dir: string, id: Identity): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const tmp = join(dir, `.${IDENTITY_FILE}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', 0o600)
  try {
    await fh.writeFile(encodeIdentity(id))
    await fh.sync()
  } finally {
    await fh.close()
  }
  return tmp
}

/**
 * Saves the identity to `<dir>/identity.json` with mode 0600, atomically
 * (temp file + rename: a crash leaves the old file or the new one, never half).
 * Format: JSON { type: "p4net-identity", version: 1, ed25519: { publicKey,
 * secretKey }, x25519: { publicKey, secretKey } }, keys as base64 of 32 bytes.
 */
export async function saveIdentity(dir: string, id: Identity): Promise<void> {
  checkDir(dir)
  checkIdentity(id)
  const tmp = await writeTemp(dir, id)
  try {
    await rename(tmp, join(dir, IDENTITY_FILE))
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw new P4Error('IO_ERROR', `cannot save identity in ${dir}: ${(err as Error).message}`, { cause: err })
  }
}

/**
 * Loads `<dir>/identity.json`. A missing, corrupt, truncated, foreign or
 * wrong-version file, or keys that do not match, is P4Error 'BAD_IDENTITY'
 * (a missing file's cause has code ENOENT); other read failures are 'IO_ERROR'.
 */
export async function loadIdentity(dir: string): Promise<Identity> {
  checkDir(dir)
  const path = join(dir, IDENTITY_FILE)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw bad(path, 'does not exist', err)
    throw new P4Error('IO_ERROR', `cannot read identity file ${path}: ${(err as Error).message}`, { cause: err })
  }
  return decodeIdentity(text, path)
}

/**
 * Loads the identity in `dir`, or creates and saves a new one if there is no
 * identity file. An existing but unusable file is an error (BAD_IDENTITY),
 * never a reason to make a new key. Safe against a concurrent creator: the
 * new file is linked into place only if none exists.
 */
export async function loadOrCreateIdentity(dir: string): Promise<Identity> {
  try {
    return await loadIdentity(dir)
  } catch (err) {
    const missing = (err as P4Error).cause as NodeJS.ErrnoException | undefined
    if (!(err instanceof P4Error && err.code === 'BAD_IDENTITY' && missing?.code === 'ENOENT')) throw err
  }
  const id = generateIdentity()
  const tmp = await writeTemp(dir, id)
  try {
    await link(tmp, join(dir, IDENTITY_FILE))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return await loadIdentity(dir)
    throw new P4Error('IO_ERROR', `cannot save identity in ${dir}: ${(err as Error).message}`, { cause: err })
  } finally {
    await unlink(tmp).catch(() => {})
  }
  return id
}

/** Throws BAD_ARGUMENT unless `id` looks like an Identity. */
export function checkIdentity(id: unknown): Identity {
  const i = id as Identity | null
  if (
    typeof i !== 'object' ||
    i === null ||
    !(i.publicKey instanceof Uint8Array) ||
    i.publicKey.length !== 32 ||
    !(i.staticPublicKey instanceof Uint8Array) ||
    i.staticPublicKey.length !== 32 ||
    !(i.secretKey instanceof Uint8Array) ||
    !(i.staticSecretKey instanceof Uint8Array) ||
    typeof i.signingKey !== 'object' ||
    typeof i.staticKey !== 'object'
  ) {
    throw new P4Error('BAD_ARGUMENT', 'not an Identity (use generateIdentity() or loadIdentity())')
  }
  return i
}
