import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { mkdtemp, readFile, rm, stat, writeFile, readdir, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { diffieHellman, createPublicKey } from 'node:crypto'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { isP4Error } from '../ts/errors.js'
import {
  checkIdentity,
  fingerprint,
  generateIdentity,
  identityFromSecrets,
  IDENTITY_FILE,
  loadIdentity,
  loadOrCreateIdentity,
  saveIdentity,
  shareVerifications,
  sharedVerificationHits,
  sign,
  verify,
  x25519PublicKey,
} from '../ts/identity.js'
import { waiting } from './helpers/waits.js'

let dirs: string[] = []
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'p4net-id-'))
  dirs.push(d)
  return d
}
test.after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
  dirs = []
})

async function rejectsWith(p: Promise<unknown>, code: string): Promise<Error> {
  try {
    await p
  } catch (err) {
    assert.ok(isP4Error(err), `expected a P4Error, got ${String(err)}`)
    assert.is((err as { code: string }).code, code, (err as Error).message)
    return err as Error
  }
  throw new Error(`expected rejection with ${code}`)
}

const eq = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(b)

test('generateIdentity: raw keys and KeyObjects agree', () => {
  const id = generateIdentity()
  for (const k of [id.publicKey, id.secretKey, id.staticPublicKey, id.staticSecretKey]) assert.is(k.length, 32)
  assert.is(id.signingKey.asymmetricKeyType, 'ed25519')
  assert.is(id.staticKey.asymmetricKeyType, 'x25519')
  const spki = createPublicKey(id.signingKey).export({ format: 'der', type: 'spki' })
  assert.ok(eq(spki.subarray(12), id.publicKey))
  const again = identityFromSecrets(id.secretKey, id.staticSecretKey)
  assert.ok(eq(again.publicKey, id.publicKey))
  assert.ok(eq(again.staticPublicKey, id.staticPublicKey))
  // The X25519 pair works for DH both ways.
  const other = generateIdentity()
  const ab = diffieHellman({ privateKey: id.staticKey, publicKey: x25519PublicKey(other.staticPublicKey) })
  const ba = diffieHellman({ privateKey: other.staticKey, publicKey: x25519PublicKey(id.staticPublicKey) })
  assert.ok(ab.equals(ba))
  assert.not.ok(eq(generateIdentity().publicKey, id.publicKey))
})

test('sign / verify, with the cached key path and bad inputs', () => {
  const id = generateIdentity()
  const msg = Buffer.from('hello p4net')
  const sig = sign(id, msg)
  assert.is(sig.length, 64)
  assert.ok(verify(id.publicKey, msg, sig))
  assert.ok(verify(id.publicKey, msg, sig), 'second time from the cache')
  assert.not.ok(verify(id.publicKey, Buffer.from('hello p4neT'), sig))
  const bent = new Uint8Array(sig)
  bent[10] ^= 1
  assert.not.ok(verify(id.publicKey, msg, bent))
  assert.not.ok(verify(generateIdentity().publicKey, msg, sig))
  assert.not.ok(verify(id.publicKey, msg, sig.subarray(0, 63)), 'short signature is just invalid')
  // A key that is not a curve point: invalid, not a crash (and cached as such).
  const junk = new Uint8Array(32).fill(0xff)
  assert.not.ok(verify(junk, msg, sig))
  assert.not.ok(verify(junk, msg, sig))
  const code = (fn: () => unknown): string | undefined => {
    try {
      fn()
    } catch (e) {
      return isP4Error(e) ? e.code : 'not a P4Error'
    }
    return undefined
  }
  assert.is(code(() => verify(id.publicKey.subarray(0, 31), msg, sig)), 'BAD_ARGUMENT')
  assert.is(code(() => verify(id.publicKey, 'x' as unknown as Uint8Array, sig)), 'BAD_ARGUMENT')
  assert.is(code(() => sign(id, 'x' as unknown as Uint8Array)), 'BAD_ARGUMENT')
  assert.is(code(() => sign({} as never, msg)), 'BAD_ARGUMENT')
  assert.is(code(() => identityFromSecrets(new Uint8Array(31), new Uint8Array(32))), 'BAD_ARGUMENT')
  assert.is(code(() => checkIdentity({ publicKey: 1 })), 'BAD_ARGUMENT')
})

test('verify: the key cache stays bounded and correct past its size', () => {
  const ids = Array.from({ length: 5 }, () => generateIdentity())
  const msg = Buffer.from('m')
  const sigs = ids.map((id) => sign(id, msg))
  // Fill the cache with many junk keys, then check the real ones still verify.
  for (let i = 0; i < 5000; i++) {
    const k = new Uint8Array(32)
    new DataView(k.buffer).setUint32(0, i)
    verify(k, msg, sigs[0]!)
  }
  ids.forEach((id, i) => assert.ok(verify(id.publicKey, msg, sigs[i]!)))
  ids.forEach((id, i) => assert.not.ok(verify(id.publicKey, msg, sigs[(i + 1) % 5]!)))
})

test('shared verifications (two or more nodes in a process): a repeat is a hit, and nothing unverified or altered ever passes', () => {
  const id = generateIdentity()
  const other = generateIdentity()
  const msg = Buffer.from('flooded HELLO')
  const sig = sign(id, msg)
  const hits0 = sharedVerificationHits()
  // One node: off.
  shareVerifications(true)
  try {
    assert.ok(verify(id.publicKey, msg, sig))
    assert.ok(verify(id.publicKey, msg, sig))
    assert.is(sharedVerificationHits(), hits0, 'no sharing with one node')
    shareVerifications(true)
    try {
      assert.ok(verify(id.publicKey, msg, sig))
      assert.ok(verify(id.publicKey, msg, sig))
      assert.is(sharedVerificationHits(), hits0 + 1, 'the second check was a hit')
      // Every variation of key, bytes or signature is checked for real, and fails.
      const altered = Buffer.from(msg)
      altered[0] ^= 1
      const badSig = Buffer.from(sig)
      badSig[10] ^= 1
      assert.not.ok(verify(other.publicKey, msg, sig))
      assert.not.ok(verify(id.publicKey, altered, sig))
      assert.not.ok(verify(id.publicKey, msg, badSig))
      // A failure is never remembered as a success.
      assert.not.ok(verify(id.publicKey, msg, badSig))
      assert.is(sharedVerificationHits(), hits0 + 1)
      // Large messages are never shared.
      const big = Buffer.alloc(8192, 7)
      const bigSig = sign(id, big)
      assert.ok(verify(id.publicKey, big, bigSig))
      assert.ok(verify(id.publicKey, big, bigSig))
      assert.is(sharedVerificationHits(), hits0 + 1)
    } finally {
      shareVerifications(false)
    }
    // Back to one node: the shared set is dropped.
    assert.ok(verify(id.publicKey, msg, sig))
    assert.is(sharedVerificationHits(), hits0 + 1)
  } finally {
    shareVerifications(false)
  }
})

test('fingerprint: short, grouped, stable, distinct', () => {
  const id = generateIdentity()
  const f = fingerprint(id.publicKey)
  assert.match(f, /^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$/)
  assert.is(fingerprint(id.publicKey), f)
  assert.is.not(fingerprint(generateIdentity().publicKey), f)
  // Fixed key, fixed answer: RFC 4648 base32 of the first 10 bytes of SHA-256(32 zero bytes) = 66687aadf862bd776c8f.
  assert.is(fingerprint(new Uint8Array(32)), 'mzuh-vlpy-mk6x-o3ep')
  assert.throws(() => fingerprint(new Uint8Array(3)), (e: unknown) => isP4Error(e, 'BAD_ARGUMENT'))
})

test('save / load round trip; file is 0600, versioned JSON, no temp files left', async () => {
  const dir = join(await tempDir(), 'nested', 'data')
  const id = generateIdentity()
  await saveIdentity(dir, id)
  const path = join(dir, IDENTITY_FILE)
  assert.is((await stat(path)).mode & 0o777, 0o600)
  const file = JSON.parse(await readFile(path, 'utf8'))
  assert.is(file.type, 'p4net-identity')
  assert.is(file.version, 1)
  const loaded = await loadIdentity(dir)
  for (const k of ['publicKey', 'secretKey', 'staticPublicKey', 'staticSecretKey'] as const) {
    assert.ok(eq(loaded[k], id[k]), k)
  }
  assert.ok(verify(id.publicKey, Buffer.from('x'), sign(loaded, Buffer.from('x'))))
  // Overwrite atomically with another identity.
  const id2 = generateIdentity()
  await saveIdentity(dir, id2)
  assert.ok(eq((await loadIdentity(dir)).publicKey, id2.publicKey))
  assert.equal(await readdir(dir), [IDENTITY_FILE])
  await rejectsWith(saveIdentity(dir, {} as never), 'BAD_ARGUMENT')
  await rejectsWith(saveIdentity('', id), 'BAD_ARGUMENT')
})

test('loadOrCreateIdentity: creates once, then loads the same', async () => {
  const dir = await tempDir()
  const a = await loadOrCreateIdentity(dir)
  const b = await loadOrCreateIdentity(dir)
  assert.ok(eq(a.publicKey, b.publicKey))
  assert.is((await stat(join(dir, IDENTITY_FILE))).mode & 0o777, 0o600)
  // Concurrent creators agree on one identity.
  const dir2 = await tempDir()
  const many = await Promise.all(Array.from({ length: 4 }, () => loadOrCreateIdentity(dir2)))
  for (const m of many) assert.ok(eq(m.publicKey, many[0]!.publicKey))
  assert.equal(await readdir(dir2), [IDENTITY_FILE])
})

test('loadIdentity: a missing file is BAD_IDENTITY (ENOENT cause), never created', async () => {
  const dir = await tempDir()
  const err = await rejectsWith(loadIdentity(dir), 'BAD_IDENTITY')
  assert.is((err.cause as NodeJS.ErrnoException).code, 'ENOENT')
  assert.equal(await readdir(dir), [])
})

// Every broken file must fail loudly, in both loaders, and stay untouched.
async function brokenFileCases(): Promise<[string, string][]> {
  const good = generateIdentity()
  const dir = await tempDir()
  await saveIdentity(dir, good)
  const text = await readFile(join(dir, IDENTITY_FILE), 'utf8')
  const json = JSON.parse(text)
  const other = generateIdentity()
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64')
  const variant = (f: (j: typeof json) => void): string => {
    const j = JSON.parse(text)
    f(j)
    return JSON.stringify(j)
  }
  return [
    ['empty', ''],
    ['truncated', text.slice(0, text.length / 2)],
    ['corrupt', text.replace('"ed25519"', '"ed25519" x')],
    ['binary junk', '\u0000\u0001\u0002\u00ff'],
    ['foreign JSON', JSON.stringify({ hello: 'world' })],
    ['JSON null', 'null'],
    ['wrong type tag', variant((j) => (j.type = 'ssh-key'))],
    ['version 2', variant((j) => (j.version = 2))],
    ['no version', variant((j) => delete j.version)],
    ['missing keys', variant((j) => delete j.x25519)],
    ['short key', variant((j) => (j.ed25519.secretKey = b64(new Uint8Array(31))))],
    ['non-canonical base64', variant((j) => (j.ed25519.secretKey = '!!' + json.ed25519.secretKey))],
    ['ed25519 public mismatch', variant((j) => (j.ed25519.publicKey = b64(other.publicKey)))],
    ['x25519 public mismatch', variant((j) => (j.x25519.publicKey = b64(other.staticPublicKey)))],
    ['secret of another key', variant((j) => (j.ed25519.secretKey = b64(other.secretKey)))],
  ]
}

test('loadIdentity / loadOrCreateIdentity: every broken file is BAD_IDENTITY and left as is', async () => {
  for (const [what, content] of await brokenFileCases()) {
    const dir = await tempDir()
    const path = join(dir, IDENTITY_FILE)
    await writeFile(path, content, { mode: 0o600 })
    const e1 = await rejectsWith(loadIdentity(dir), 'BAD_IDENTITY')
    assert.ok(e1.message.includes(path), what)
    await rejectsWith(loadOrCreateIdentity(dir), 'BAD_IDENTITY')
    assert.is(await readFile(path, 'utf8'), content, `${what}: file untouched`)
  }
})

test('loadIdentity: an unreadable path is IO_ERROR', async () => {
  const dir = await tempDir()
  await mkdir(join(dir, IDENTITY_FILE)) // a directory where the file should be
  await rejectsWith(loadIdentity(dir), 'IO_ERROR')
  await rejectsWith(loadOrCreateIdentity(dir), 'IO_ERROR')
  await rejectsWith(loadIdentity(42 as unknown as string), 'BAD_ARGUMENT')
})

test('fresh keys never deadlock the process (Node: JWK export of a generated KeyObject vs the key job\'s finalizer)', async () => {
  // Node 20 locks a key's mutex in its JWK export and, in a GC during that
  // export, again in the destructor of the job that generated the key: the
  // thread waits on itself. Before freshKeyPair a child doing this 3,000
  // times with frequent GCs hung in about 4 runs of 6; a hang shows here as
  // a child that never exits. It takes about 1.5 s; the bound only tells a
  // hang from a slow machine.
  const file = fileURLToPath(new URL('./fixtures/keygen-loop.js', import.meta.url))
  const child = spawn(process.execPath, ['--max-semi-space-size=1', file], { env: { ...process.env, KEYGEN_LOOPS: '3000' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const boundMs = 60_000
  const timer = setTimeout(() => child.kill('SIGKILL'), boundMs)
  const [code, signal] = await waiting(
    'the key-generation child to exit',
    new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s]))),
  ).finally(() => clearTimeout(timer))
  assert.is(signal, null, `the child did not finish within ${boundMs} ms (deadlocked): ${out}`)
  assert.is(code, 0, out)
  assert.match(out, 'done')
}, { deadlineMs: 90_000 })

test.run()
