import { test, waiting } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { chmod, chown, open, readFile, stat, symlink, writeFile, readdir, mkdir } from 'node:fs/promises'
import { constants as fsConstants } from 'node:fs'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { execFileSync, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { diffieHellman, createPublicKey } from 'node:crypto'
import { spawn } from 'node:child_process'
import { isP4Error } from '../ts/core/errors.js'
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
} from '../ts/core/identity.js'
import { rejectsCode } from './helpers/errors.js'
import { tempDirs } from './helpers/tmp.js'

const tmp = tempDirs('p4net-id-')
test.after(tmp.cleanup)

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
  const dir = join(tmp.make(), 'nested', 'data')
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
  await rejectsCode(saveIdentity(dir, {} as never), 'BAD_ARGUMENT')
  await rejectsCode(saveIdentity('', id), 'BAD_ARGUMENT')
})

test('loadOrCreateIdentity: creates once, then loads the same', async () => {
  const dir = tmp.make()
  const a = await loadOrCreateIdentity(dir)
  const b = await loadOrCreateIdentity(dir)
  assert.ok(eq(a.publicKey, b.publicKey))
  assert.is((await stat(join(dir, IDENTITY_FILE))).mode & 0o777, 0o600)
  // Concurrent creators agree on one identity.
  const dir2 = tmp.make()
  const many = await Promise.all(Array.from({ length: 4 }, () => loadOrCreateIdentity(dir2)))
  for (const m of many) assert.ok(eq(m.publicKey, many[0]!.publicKey))
  assert.equal(await readdir(dir2), [IDENTITY_FILE])
})

test('loadIdentity: a missing file is BAD_IDENTITY (ENOENT cause), never created', async () => {
  const dir = tmp.make()
  const err = await rejectsCode(loadIdentity(dir), 'BAD_IDENTITY')
  assert.is((err.cause as NodeJS.ErrnoException).code, 'ENOENT')
  assert.equal(await readdir(dir), [])
})

// Every broken file must fail loudly, in both loaders, and stay untouched.
async function brokenFileCases(): Promise<[string, string][]> {
  const good = generateIdentity()
  const dir = tmp.make()
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
    const dir = tmp.make()
    const path = join(dir, IDENTITY_FILE)
    await writeFile(path, content, { mode: 0o600 })
    const e1 = await rejectsCode(loadIdentity(dir), 'BAD_IDENTITY')
    assert.ok(e1.message.includes(path), what)
    await rejectsCode(loadOrCreateIdentity(dir), 'BAD_IDENTITY')
    assert.is(await readFile(path, 'utf8'), content, `${what}: file untouched`)
  }
})

test('loadIdentity: an unreadable path is IO_ERROR', async () => {
  const dir = tmp.make()
  await mkdir(join(dir, IDENTITY_FILE)) // a directory where the file should be
  await rejectsCode(loadIdentity(dir), 'IO_ERROR')
  await rejectsCode(loadOrCreateIdentity(dir), 'IO_ERROR')
  await rejectsCode(loadIdentity(42 as unknown as string), 'BAD_ARGUMENT')
})

// ---- the identity file: links, permissions, failed writes ----

/** A saved identity in a fresh 0700 directory; returns the dir, the file and the identity. */
async function savedIdentity(): Promise<{ dir: string; path: string; id: ReturnType<typeof generateIdentity> }> {
  const dir = tmp.make()
  const id = generateIdentity()
  await saveIdentity(dir, id)
  return { dir, path: join(dir, IDENTITY_FILE), id }
}

test('loadIdentity: the safe case, 0600 (or 0400) in a 0700 or 0755 directory, loads', async () => {
  const { dir, path, id } = await savedIdentity()
  assert.is((await stat(dir)).mode & 0o7777, 0o700)
  assert.ok(eq((await loadIdentity(dir)).publicKey, id.publicKey))
  await chmod(path, 0o400)
  assert.ok(eq((await loadOrCreateIdentity(dir)).publicKey, id.publicKey))
  await chmod(dir, 0o755) // others may list, not write
  assert.ok(eq((await loadIdentity(dir)).publicKey, id.publicKey))
  await chmod(dir, 0o1777) // world-writable with the sticky bit (like /tmp): others cannot replace our file
  assert.ok(eq((await loadIdentity(dir)).publicKey, id.publicKey))
})

test('loadIdentity / loadOrCreateIdentity: a symlinked identity.json is refused, never followed or replaced', async () => {
  // The attacker's identity, which they hold the secret of, and a link to it.
  const theirs = await savedIdentity()
  const dir = tmp.make()
  const path = join(dir, IDENTITY_FILE)
  await symlink(theirs.path, path)
  for (const load of [loadIdentity, loadOrCreateIdentity]) {
    const err = await rejectsCode(load(dir), 'BAD_IDENTITY')
    assert.match(err.message, path)
    assert.match(err.message, /symbolic link/)
    assert.match(err.message, /replace the link with the file itself/)
  }
  // A dangling link is refused too (not "missing": no new identity behind it).
  const dir2 = tmp.make()
  await symlink(join(dir2, 'nowhere.json'), join(dir2, IDENTITY_FILE))
  await rejectsCode(loadOrCreateIdentity(dir2), 'BAD_IDENTITY')
  assert.equal(await readdir(dir2), [IDENTITY_FILE])
  await rejectsCode(loadIdentity(dir2), 'BAD_IDENTITY')
})

test('loadIdentity / loadOrCreateIdentity: a file with group or other permission bits is refused with "chmod 600"', async () => {
  const { dir, path } = await savedIdentity()
  for (const mode of [0o644, 0o640, 0o604, 0o660, 0o606, 0o601, 0o610, 0o700 | 0o004]) {
    await chmod(path, mode)
    for (const load of [loadIdentity, loadOrCreateIdentity]) {
      const err = await rejectsCode(load(dir), 'BAD_IDENTITY')
      assert.match(err.message, `chmod 600 ${path}`)
      assert.match(err.message, '0' + mode.toString(8))
    }
    assert.is((await stat(path)).mode & 0o777, mode, 'left as it was')
  }
})

test('loadIdentity / loadOrCreateIdentity / saveIdentity: a directory others can write is refused with "chmod 700"', async () => {
  const { dir, path, id } = await savedIdentity()
  const before = await readFile(path, 'utf8')
  for (const mode of [0o777, 0o775, 0o770, 0o757, 0o722, 0o720, 0o702]) {
    await chmod(dir, mode)
    for (const run of [() => loadIdentity(dir), () => loadOrCreateIdentity(dir), () => saveIdentity(dir, generateIdentity())]) {
      const err = await rejectsCode(run(), 'BAD_IDENTITY')
      assert.match(err.message, `chmod 700 ${dir}`)
      assert.match(err.message, '0' + mode.toString(8))
    }
    assert.is(await readFile(path, 'utf8'), before, 'not replaced')
    assert.equal(await readdir(dir), [IDENTITY_FILE], 'no temp file')
  }
  await chmod(dir, 0o700)
  assert.ok(eq((await loadIdentity(dir)).publicKey, id.publicKey))
  // A fresh directory created by loadOrCreateIdentity is 0700 and passes.
  const fresh = join(tmp.make(), 'new')
  await loadOrCreateIdentity(fresh)
  assert.is((await stat(fresh)).mode & 0o777, 0o700)
})

const root = process.geteuid?.() === 0
test('loadIdentity: a file or directory owned by another user is refused (needs root to set up)', async () => {
  if (!root) return
  const { dir, path } = await savedIdentity()
  await chown(path, 4242, 4242)
  let err = await rejectsCode(loadIdentity(dir), 'BAD_IDENTITY')
  assert.match(err.message, /owned by uid 4242/)
  assert.match(err.message, `chown 0 ${path}`)
  await chown(path, 0, 0)
  await chown(dir, 4242, 4242)
  err = await rejectsCode(loadOrCreateIdentity(dir), 'BAD_IDENTITY')
  assert.match(err.message, /owned by uid 4242/)
  assert.match(err.message, dir)
  await chown(dir, 0, 0)
  await loadIdentity(dir)
})

test('loadIdentity: a FIFO at identity.json is refused at once (no hang), and left alone', async () => {
  const dir = tmp.make()
  const path = join(dir, IDENTITY_FILE)
  try {
    execFileSync('mkfifo', ['-m', '600', path])
  } catch {
    return // no mkfifo here
  }
  for (const load of [loadIdentity, loadOrCreateIdentity]) {
    const p = load(dir)
    p.catch(() => {})
    // A hang shows as no answer within 2 s (the answer is expected at once); the timer goes with the answer.
    let timer: NodeJS.Timeout | undefined
    const first = await Promise.race([p.then(() => 'loaded', () => 'refused'), new Promise((r) => (timer = setTimeout(r, 2000, 'blocked')))]).finally(() => clearTimeout(timer))
    if (first === 'blocked') {
      // Release the open() stuck in the thread pool (a writer ends its wait), then fail.
      await (await open(path, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK)).close()
      await p.catch(() => {})
      assert.unreachable('opening a FIFO identity.json blocked')
    }
    await rejectsCode(p, 'IO_ERROR')
  }
  assert.ok((await stat(path)).isFIFO())
})

const identityModule = fileURLToPath(new URL('../ts/core/identity.js', import.meta.url))

test('a write that fails mid-way (EFBIG under RLIMIT_FSIZE, as root too) leaves no temp file and the old identity intact', async () => {
  const { dir, path } = await savedIdentity()
  const before = await readFile(path, 'utf8')
  const empty = tmp.make()
  // In a child limited to 0-byte files: creating the temp file works, writing it fails.
  const script = `
    import { saveIdentity, loadOrCreateIdentity, generateIdentity } from ${JSON.stringify(identityModule)}
    const out = []
    for (const run of [() => saveIdentity(process.argv[1], generateIdentity()), () => loadOrCreateIdentity(process.argv[2])]) {
      try { await run(); out.push('ok') } catch (e) { out.push(e.code + ' ' + e.message) }
    }
    console.log(JSON.stringify(out))`
  const r = spawnSync('sh', ['-c', 'ulimit -f 0 && exec "$@"', 'sh', process.execPath, '--input-type=module', '-e', script, dir, empty], { encoding: 'utf8' })
  assert.is(r.status, 0, r.stderr)
  const [save, create] = JSON.parse(r.stdout) as string[]
  assert.match(save!, /^IO_ERROR cannot write identity file .*\.tmp: .*(EFBIG|too large)/i)
  assert.match(create!, /^IO_ERROR cannot write identity file/)
  assert.is(await readFile(path, 'utf8'), before, 'the old identity is intact')
  assert.equal(await readdir(dir), [IDENTITY_FILE], 'no temp file left by saveIdentity')
  assert.equal(await readdir(empty), [], 'no temp file (and no identity) left by loadOrCreateIdentity')
})

test('saveIdentity: a rename that fails (a directory in the way) leaves no temp file and the directory as is', async () => {
  const dir = tmp.make()
  await mkdir(join(dir, IDENTITY_FILE))
  await writeFile(join(dir, IDENTITY_FILE, 'keep'), 'x')
  const err = await rejectsCode(saveIdentity(dir, generateIdentity()), 'IO_ERROR')
  assert.match(err.message, dir)
  assert.equal(await readdir(dir), [IDENTITY_FILE])
  assert.equal(await readdir(join(dir, IDENTITY_FILE)), ['keep'])
})

// fsync and link failures cannot be produced for real as root, so the
// node:fs/promises functions are swapped for failing ones (the live ESM
// bindings in identity.ts follow syncBuiltinESMExports); FileHandle.sync is
// patched on its prototype. Also records the order of operations.
const fsp = createRequire(import.meta.url)('node:fs/promises') as typeof import('node:fs/promises')
async function withFs<T>(patch: { link?: typeof fsp.link; rename?: typeof fsp.rename; sync?: (path: string) => Promise<void> }, trace: string[], fn: () => Promise<T>): Promise<T> {
  const orig = { open: fsp.open, link: fsp.link, rename: fsp.rename }
  const fh = await fsp.open(identityModule, 'r')
  const proto = Object.getPrototypeOf(fh) as { sync: () => Promise<void> }
  await fh.close()
  const origSync = proto.sync
  const paths = new WeakMap<object, string>()
  fsp.open = (async (p: string, ...rest: never[]) => {
    const h = await orig.open(p, ...rest)
    paths.set(h, String(p))
    return h
  }) as typeof fsp.open
  fsp.link = (async (a: string, b: string) => {
    trace.push(`link ${b}`)
    return (patch.link ?? orig.link)(a, b)
  }) as typeof fsp.link
  fsp.rename = (async (a: string, b: string) => {
    trace.push(`rename ${b}`)
    return (patch.rename ?? orig.rename)(a, b)
  }) as typeof fsp.rename
  proto.sync = async function (this: object) {
    const p = paths.get(this) ?? '?'
    trace.push(`sync ${p.endsWith('.tmp') ? 'tmp' : p}`)
    if (patch.sync) await patch.sync(p)
    return origSync.call(this)
  }
  syncBuiltinESMExports()
  try {
    return await fn()
  } finally {
    Object.assign(fsp, orig)
    proto.sync = origSync
    syncBuiltinESMExports()
  }
}
const eio = (): Promise<never> => Promise.reject(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }))

test('saveIdentity / loadOrCreateIdentity: the temp file is synced before it is put in place, and the directory after', async () => {
  const { dir } = await savedIdentity()
  const path = join(dir, IDENTITY_FILE)
  let trace: string[] = []
  await withFs({}, trace, () => saveIdentity(dir, generateIdentity()))
  assert.equal(trace, ['sync tmp', `rename ${path}`, `sync ${dir}`])
  const fresh = tmp.make()
  trace = []
  await withFs({}, trace, () => loadOrCreateIdentity(fresh))
  assert.equal(trace, ['sync tmp', `link ${join(fresh, IDENTITY_FILE)}`, `sync ${fresh}`])
})

test('an fsync or link failure leaves no temp file, and nothing replaced', async () => {
  const { dir, path } = await savedIdentity()
  const before = await readFile(path, 'utf8')
  await withFs({ sync: (p) => (p.endsWith('.tmp') ? eio() : Promise.resolve()) }, [], async () => {
    const err = await rejectsCode(saveIdentity(dir, generateIdentity()), 'IO_ERROR')
    assert.match(err.message, /EIO/)
  })
  assert.is(await readFile(path, 'utf8'), before)
  assert.equal(await readdir(dir), [IDENTITY_FILE])

  const fresh = tmp.make()
  await withFs({ sync: (p) => (p.endsWith('.tmp') ? eio() : Promise.resolve()) }, [], () => rejectsCode(loadOrCreateIdentity(fresh), 'IO_ERROR'))
  assert.equal(await readdir(fresh), [])
  const eperm = (): Promise<never> => Promise.reject(Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' }))
  await withFs({ link: eperm }, [], () => rejectsCode(loadOrCreateIdentity(fresh), 'IO_ERROR'))
  assert.equal(await readdir(fresh), [])
  // A failed directory flush is reported, not swallowed; the file linked in place is then the identity.
  await withFs({ sync: (p) => (p === fresh ? eio() : Promise.resolve()) }, [], () => rejectsCode(loadOrCreateIdentity(fresh), 'IO_ERROR'))
  assert.equal(await readdir(fresh), [IDENTITY_FILE])
  const linked = await loadIdentity(fresh)
  assert.ok(eq((await loadOrCreateIdentity(fresh)).publicKey, linked.publicKey))
})

test('fresh keys never deadlock the process (Node: JWK export of a generated KeyObject vs the key job\'s finalizer)', async () => {
  // Node locks a key's mutex in its JWK export and, in a GC during that
  // export, again in the destructor of the job that generated the key: the
  // thread waits on itself. A child generates keys 3,000 times with frequent
  // GCs; a hang shows here as a child that never exits. The bound only tells
  // a hang from a slow machine.
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
