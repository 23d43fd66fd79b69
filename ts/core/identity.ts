// A node's long-term keys: Ed25519 (who it is: signs statements, HELLOs,
// relayed messages) and X25519 (its Noise static key, certified by the
// Ed25519 key in every handshake). Kept as node:crypto KeyObjects for speed,
// with the raw 32-byte forms for the wire and for saving.
import type { JsonWebKey, KeyObject } from 'node:crypto'
import type { Stats } from 'node:fs'
import { constants as fsConstants, link, lstat, mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { nodeCrypto } from './builtins.js'
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
// JWK import/export is much faster than DER (decoder framework), and the
// handshake imports two public keys and exports one per side. Private keys
// are imported rarely (loading an identity), through PKCS#8 DER (RFC 8410),
// which needs nothing but the secret.
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex')
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex')

const b64url = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64url')
const fromB64url = (s: string | undefined): Uint8Array => new Uint8Array(Buffer.from(s ?? '', 'base64url'))

export function ed25519PrivateKey(secret: Uint8Array): KeyObject {
  expectBytes(secret, 32, 'Ed25519 secret key')
  return nodeCrypto().createPrivateKey({ key: Buffer.concat([ED25519_PKCS8, secret]), format: 'der', type: 'pkcs8' })
}
/**
 * The y-coordinates (little-endian, sign bit clear) whose points have small
 * order (1, 2, 4 or 8): 0, 1, the two order-8 values, p-1, and the
 * non-canonical aliases p (= 0) and p+1 (= 1), as in libsodium's
 * ge25519_has_small_order. Either sign bit is blocked, which also covers the
 * non-canonical "negative zero" x of y = 1 and y = p-1: 14 encodings in all.
 * test/small-order.test.ts derives this list from the 8-torsion points.
 */
export const SMALL_ORDER_Y_HEX: readonly string[] = Object.freeze([
  '0000000000000000000000000000000000000000000000000000000000000000', // 0: order 4
  '0100000000000000000000000000000000000000000000000000000000000000', // 1: order 1 (the identity)
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p-1: order 2
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p (non-canonical 0): order 4
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // p+1 (non-canonical 1): order 1
])
const SMALL_ORDER_Y = SMALL_ORDER_Y_HEX.map((h) => new Uint8Array(Buffer.from(h, 'hex')))

function hasSmallOrder(k: Uint8Array): boolean {
  next: for (const y of SMALL_ORDER_Y) {
    for (let i = 0; i < 31; i++) if (k[i] !== y[i]) continue next
    if ((k[31]! & 0x7f) === y[31]) return true
  }
  return false
}

/** y >= p = 2^255 - 19 (little-endian ed ff .. ff 7f): RFC 8032 5.1.3 rejects it, OpenSSL does not. */
function hasNonCanonicalY(k: Uint8Array): boolean {
  if ((k[31]! & 0x7f) !== 0x7f) return false
  for (let i = 30; i > 0; i--) if (k[i] !== 0xff) return false
  return k[0]! >= 0xed
}

/**
 * Why a raw Ed25519 public key must not be used, or undefined. node:crypto
 * (OpenSSL) accepts small-order keys, and with one anybody can forge a
 * signature over any message (key 01 00..00, R = 01 00..00, S = 0 verifies
 * everything), so every key taken from outside goes through this. A
 * non-canonical encoding (y >= p) is refused too: no honest key has one, and
 * it would give one point two identities. A cheap byte compare (no curve
 * arithmetic); keys of mixed order are not detected (that needs a scalar
 * multiplication, and they do not let anyone forge someone else's key).
 */
export function ed25519KeyFlaw(raw: Uint8Array): string | undefined {
  expectBytes(raw, 32, 'Ed25519 public key')
  if (hasSmallOrder(raw)) return 'a small-order point (it would verify forged signatures)'
  if (hasNonCanonicalY(raw)) return 'a non-canonical encoding (y >= 2^255 - 19)'
  return undefined
}

/** Imports a raw Ed25519 public key; BAD_ARGUMENT for a small-order or non-canonical one (ed25519KeyFlaw). */
export function ed25519PublicKey(raw: Uint8Array): KeyObject {
  const flaw = ed25519KeyFlaw(raw)
  if (flaw !== undefined) throw new P4Error('BAD_ARGUMENT', `Ed25519 public key ${Buffer.from(raw).toString('hex')} is ${flaw}`)
  return nodeCrypto().createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(raw) }, format: 'jwk' })
}
export function x25519PrivateKey(secret: Uint8Array): KeyObject {
  expectBytes(secret, 32, 'X25519 secret key')
  return nodeCrypto().createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secret]), format: 'der', type: 'pkcs8' })
}
export function x25519PublicKey(raw: Uint8Array): KeyObject {
  expectBytes(raw, 32, 'X25519 public key')
  return nodeCrypto().createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(raw) }, format: 'jwk' })
}
/** The raw 32-byte public key of an Ed25519 or X25519 KeyObject (public or private). */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? nodeCrypto().createPublicKey(key) : key
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
 * locks the same mutex — the main thread then waits on itself forever
 * (ExportJWKEdKey → GC → ~KeyGenJob → uv_mutex_lock). So the job encodes
 * the pair as JWK itself (it is alive while it does) and the KeyObject is
 * imported from that: no KeyObject shares its mutex with a job.
 */
export function freshKeyPair(type: 'ed25519' | 'x25519'): FreshKeyPair {
  // (@types/node has no overload for JWK output, which Node has had since 15.9.)
  const generate = nodeCrypto().generateKeyPairSync as unknown as (t: string, o: object) => { publicKey: JsonWebKey; privateKey: JsonWebKey }
  const jwk = generate(type, { publicKeyEncoding: { format: 'jwk' }, privateKeyEncoding: { format: 'jwk' } })
  return {
    publicKey: fromB64url(jwk.publicKey.x),
    secretKey: fromB64url(jwk.privateKey.d),
    privateKey: nodeCrypto().createPrivateKey({ key: jwk.privateKey, format: 'jwk' }),
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
  return new Uint8Array(nodeCrypto().sign(null, bytes, identity.signingKey))
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
      // Refuses small-order keys (ed25519KeyFlaw), so that check runs once per cached key.
      key = ed25519PublicKey(raw)
    } catch {
      key = null // not a usable key: every signature by it is invalid
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
 * `bytes`. A malformed signature is simply invalid (false), and so is every
 * signature by a small-order or non-canonical key (ed25519KeyFlaw; node:crypto
 * is never asked). A public key or bytes of the wrong type or length is a
 * caller bug (BAD_ARGUMENT).
 */
export function verify(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean {
  expectBytes(publicKey, 32, 'public key')
  expectBytes(bytes, undefined, 'signed bytes')
  expectBytes(signature, undefined, 'signature')
  if (signature.length !== 64) return false
  const shared = sharedVerifyUsers >= 2 && bytes.length <= SHARED_VERIFY_MAX_BYTES
  let id = ''
  if (shared) {
    id = nodeCrypto().createHash('sha256').update(publicKey).update(signature).update(bytes).digest('base64')
    if (sharedVerified.has(id)) {
      sharedVerifyHits++
      return true
    }
  }
  const key = cachedPublicKey(publicKey)
  if (key === null) return false
  let ok: boolean
  try {
    ok = nodeCrypto().verify(null, bytes, key, signature)
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
  const digest = nodeCrypto().createHash('sha256').update(publicKey).digest()
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

// Permission bits and owners mean nothing on Windows; there only the
// symlink refusal applies (by lstat, as O_NOFOLLOW does not exist there).
const POSIX = process.platform !== 'win32'
const O_NOFOLLOW = fsConstants.O_NOFOLLOW ?? 0
// A planted FIFO would block a plain open() forever; non-blocking it opens, and fstat refuses it.
const O_NONBLOCK = fsConstants.O_NONBLOCK ?? 0
/** An identity file is ~300 bytes; anything much larger is not one (and is not read into memory). */
const MAX_FILE_BYTES = 64 * 1024

const octal = (mode: number): string => '0' + (mode & 0o7777).toString(8).padStart(3, '0')
const ioError = (what: string, err: unknown): P4Error =>
  new P4Error('IO_ERROR', `${what}: ${(err as Error).message}`, { cause: err })

/**
 * Refuses (BAD_IDENTITY) a data directory that someone else could use to
 * replace, delete or plant the identity file. On POSIX the rule is:
 *  - its owner must be this user (effective uid) or root, and
 *  - it must not be writable by group or others (mode & 0o022) unless the
 *    sticky bit is set (then others cannot rename or delete our file, and a
 *    file they plant is refused by checkFile for its owner).
 * Group-writable is refused even for our own directory: a group member could
 * delete identity.json, and loadOrCreateIdentity would then quietly make a
 * new identity. Parent directories are not checked. A missing directory is
 * ENOENT (the caller's "does not exist"); one that is not a directory is IO_ERROR.
 */
async function checkDirectory(dir: string, path: string): Promise<void> {
  let st: Stats
  try {
    st = await stat(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw bad(path, 'does not exist', err)
    throw ioError(`cannot use directory ${dir}`, err)
  }
  if (!st.isDirectory()) throw new P4Error('IO_ERROR', `cannot use ${dir} for the identity: not a directory`)
  if (!POSIX) return
  const me = process.geteuid!()
  if (st.uid !== me && st.uid !== 0) {
    throw bad(path, `its directory ${dir} is owned by uid ${st.uid}, not by this user (uid ${me}) or root, so that user could replace the identity: use a directory of your own, or run chown ${me} ${dir}`)
  }
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
    throw bad(path, `its directory ${dir} is writable by group or others (mode ${octal(st.mode)}), who could replace or delete the identity: run chmod 700 ${dir}`)
  }
}

/**
 * Refuses (BAD_IDENTITY) an identity file others could read or have written,
 * like ssh's "unprotected private key file": on POSIX the file must be owned
 * by this user or root and have no group or other permission bits
 * (mode & 0o077 === 0, e.g. 0600 or 0400). Not a regular file: IO_ERROR.
 */
function checkFile(st: Stats, path: string): void {
  if (!st.isFile()) throw new P4Error('IO_ERROR', `cannot read identity file ${path}: ${st.isDirectory() ? 'it is a directory' : 'not a regular file'}`)
  if (st.size > MAX_FILE_BYTES) throw bad(path, `is ${st.size} bytes, too large for an identity file`)
  if (!POSIX) return
  const me = process.geteuid!()
  if (st.uid !== me && st.uid !== 0) {
    throw bad(path, `is owned by uid ${st.uid}, not by this user (uid ${me}) or root, who could have written its keys: if it is yours, run chown ${me} ${path}`)
  }
  if ((st.mode & 0o077) !== 0) {
    throw bad(path, `permissions ${octal(st.mode)} are too open: the secret keys must not be readable or writable by group or others; run chmod 600 ${path}`)
  }
}

/**
 * Flushes a directory so a rename or link in it survives a crash: without
 * it the new entry can vanish, and the next start would make a new identity.
 * Filesystems that cannot sync a directory (EINVAL) are accepted as they are.
 */
async function syncDirectory(dir: string): Promise<void> {
  if (!POSIX) return
  let fh: FileHandle | undefined
  try {
    fh = await open(dir, fsConstants.O_RDONLY)
    await fh.sync()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EINVAL' && code !== 'ENOTSUP') throw ioError(`cannot flush directory ${dir} after saving the identity`, err)
  } finally {
    await fh?.close().catch(() => {})
  }
}

/**
 * Writes the identity into a new temp file in `dir` (created 0700 if
 * missing; checked with checkDirectory) with mode 0600, flushed to disk;
 * returns its path. Any failure after the temp file exists removes it.
 * Errors: BAD_IDENTITY (unsafe directory), IO_ERROR.
 */
async function writeTemp(dir: string, id: Identity): Promise<string> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw ioError(`cannot create directory ${dir} for the identity`, err)
  }
  await checkDirectory(dir, join(dir, IDENTITY_FILE))
  const tmp = join(dir, `.${IDENTITY_FILE}.${process.pid}.${nodeCrypto().randomBytes(6).toString('hex')}.tmp`)
  let fh: FileHandle
  try {
    // 'wx' (O_EXCL): never opens an existing file or follows a link at that name.
    fh = await open(tmp, 'wx', 0o600)
  } catch (err) {
    throw ioError(`cannot create ${tmp}`, err) // nothing of ours to clean up: the name was not created
  }
  try {
    await fh.writeFile(encodeIdentity(id))
    await fh.sync()
    await fh.close()
  } catch (err) {
    await fh.close().catch(() => {})
    await unlink(tmp).catch(() => {})
    throw ioError(`cannot write identity file ${tmp}`, err)
  }
  return tmp
}

/**
 * Saves the identity to `<dir>/identity.json` with mode 0600, atomically
 * (temp file + rename, then the directory is flushed: a crash leaves the old
 * file or the new one, never half, and no failure leaves a temp file).
 * Format: JSON { type: "p4net-identity", version: 1, ed25519: { publicKey,
 * secretKey }, x25519: { publicKey, secretKey } }, keys as base64 of 32 bytes.
 * A directory others could write to is refused (BAD_IDENTITY; see
 * checkDirectory); write failures are IO_ERROR.
 */
export async function saveIdentity(dir: string, id: Identity): Promise<void> {
  checkDir(dir)
  checkIdentity(id)
  const tmp = await writeTemp(dir, id)
  try {
    await rename(tmp, join(dir, IDENTITY_FILE))
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw ioError(`cannot save identity in ${dir}`, err)
  }
  await syncDirectory(dir)
}

/**
 * Loads `<dir>/identity.json`. A missing, corrupt, truncated, foreign or
 * wrong-version file, or keys that do not match, is P4Error 'BAD_IDENTITY'
 * (a missing file's cause has code ENOENT); other read failures are 'IO_ERROR'.
 * It is also BAD_IDENTITY, with the fix in the message, when on POSIX:
 *  - identity.json is a symbolic link (never followed: opened O_NOFOLLOW, so
 *    a link planted between a check and the open cannot slip through);
 *  - the file is not owned by this user or root, or has any group/other
 *    permission bit (mode & 0o077): "chmod 600 <file>";
 *  - the directory is not owned by this user or root, or is group/world
 *    writable without the sticky bit: "chmod 700 <dir>" (checkDirectory).
 * Owner and mode come from fstat of the opened file, not a second lookup.
 */
export async function loadIdentity(dir: string): Promise<Identity> {
  checkDir(dir)
  const path = join(dir, IDENTITY_FILE)
  await checkDirectory(dir, path)
  const symlink = (): P4Error =>
    bad(path, 'is a symbolic link, which p4net does not follow (a planted link could hand it someone else\'s key): replace the link with the file itself')
  if (O_NOFOLLOW === 0) {
    // No O_NOFOLLOW (Windows): check first; the small race remains there.
    const st = await lstat(path).catch(() => undefined)
    if (st?.isSymbolicLink()) throw symlink()
  }
  let fh: FileHandle
  try {
    fh = await open(path, fsConstants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw bad(path, 'does not exist', err)
    if (code === 'ELOOP' || code === 'EMLINK') throw symlink() // O_NOFOLLOW on a link: ELOOP (Linux, macOS), EMLINK (FreeBSD)
    throw ioError(`cannot read identity file ${path}`, err)
  }
  let text: string
  try {
    checkFile(await fh.stat(), path)
    text = await fh.readFile('utf8')
  } catch (err) {
    if (err instanceof P4Error) throw err
    throw ioError(`cannot read identity file ${path}`, err)
  } finally {
    await fh.close().catch(() => {})
  }
  return decodeIdentity(text, path)
}

/**
 * Loads the identity in `dir`, or creates and saves a new one if there is no
 * identity file. An existing but unusable file (or link, or unsafe
 * directory) is an error (BAD_IDENTITY), never a reason to make a new key.
 * Safe against a concurrent creator: the new file is linked into place only
 * if none exists, and the directory is flushed before the new identity is
 * returned, so it is not lost in a crash. No failure leaves a temp file.
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
    throw ioError(`cannot save identity in ${dir}`, err)
  } finally {
    await unlink(tmp).catch(() => {})
  }
  await syncDirectory(dir)
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
