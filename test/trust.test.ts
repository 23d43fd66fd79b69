import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { existsSync, readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { isP4Error, P4Error } from '../ts/core/errors.js'
import { AllowlistPolicy } from '../ts/overlay/trust-allowlist.js'
import { AuthorityPolicy, decodeCertificate, issueCertificate } from '../ts/overlay/trust-authority.js'
import { TofuPolicy } from '../ts/overlay/trust-tofu.js'
import { createTrustPolicy, parseTrustConfig } from '../ts/overlay/trust.js'
import { parseKey } from '../ts/overlay/trust-policy.js'
import { throwsCode } from './helpers/errors.js'
import { tempDirs } from './helpers/tmp.js'
import { fixedIdentity } from './helpers/identities.js'
import { waitFor } from '../common/net.js'

const id = fixedIdentity
const alice = id(1)
const bob = id(2)
const authority = id(3)
const rogue = id(4)
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

const tmp = tempDirs('p4net-trust-')
test.after(tmp.cleanup)

// ---------------------------------------------------------------------------
// tofu

test('tofu: pins on first sight, rejects a different key, accepts the pinned one', () => {
  const p = new TofuPolicy()
  p.check('alice', alice.publicKey)
  p.check('alice', alice.publicKey)
  throwsCode(() => p.check('alice', bob.publicKey), 'UNTRUSTED_KEY')
  p.check('bob', bob.publicKey)
  assert.equal(p.pinned('alice'), alice.publicKey)
  assert.is(p.size, 2)
  assert.ok(p.unpin('alice'))
  p.check('alice', bob.publicKey) // re-pinned after an operator unpin
  throwsCode(() => p.check('alice', alice.publicKey), 'UNTRUSTED_KEY')
})

test('tofu: bad arguments', () => {
  const p = new TofuPolicy()
  throwsCode(() => p.check('', alice.publicKey), 'BAD_USERNAME')
  throwsCode(() => p.check('alice', alice.publicKey.subarray(1)), 'BAD_ARGUMENT')
  throwsCode(() => new TofuPolicy({ maxPins: 0 }), 'BAD_OPTION')
  throwsCode(() => new TofuPolicy({ dataDir: '' }), 'BAD_OPTION')
  throwsCode(() => new TofuPolicy({ dataDir: '/tmp', fileName: '../x' }), 'BAD_OPTION')
})

test('tofu: bounded, and fails closed when full (no pin is ever forgotten to make room)', () => {
  const p = new TofuPolicy({ maxPins: 2 })
  p.check('a', alice.publicKey)
  p.check('b', bob.publicKey)
  assert.throws(() => p.check('c', rogue.publicKey), (e: unknown) => e instanceof P4Error && e.code === 'UNTRUSTED_KEY')
  assert.ok(p.pinned('a'))
  assert.ok(p.pinned('b'))
  assert.is(p.pinned('c'), undefined)
  assert.is(p.size, 2)
  p.check('a', alice.publicKey) // known names still pass
  assert.throws(() => p.check('b', rogue.publicKey), (e: unknown) => e instanceof P4Error && e.code === 'UNTRUSTED_KEY')
})

test('tofu: pins persist across reload, file is private JSON written atomically', async () => {
  const dir = join(tmp.make(), 'nested')
  const p = new TofuPolicy({ dataDir: dir })
  p.check('alice', alice.publicKey)
  p.check('bob', bob.publicKey)
  await p.flush()
  const file = join(dir, 'pinned-keys.json')
  assert.is(statSync(file).mode & 0o777, 0o600)
  const doc = JSON.parse(readFileSync(file, 'utf8'))
  assert.equal(doc, { version: 1, pins: [['alice', hex(alice.publicKey)], ['bob', hex(bob.publicKey)]] })
  assert.equal(readdirSync(dir), ['pinned-keys.json']) // no temporary files left
  const q = new TofuPolicy({ dataDir: dir })
  assert.is(q.size, 2)
  throwsCode(() => q.check('alice', bob.publicKey), 'UNTRUSTED_KEY', 'pin survived reload')
  q.check('bob', bob.publicKey)
})

test('tofu: a new pin is saved after the debounce delay', async () => {
  const dir = tmp.make()
  const p = new TofuPolicy({ dataDir: dir, flushDelayMs: 5 })
  p.check('alice', alice.publicKey)
  // Nothing written at once; the debounce timer (5 ms) writes it, within a deadline.
  assert.not.ok(existsSync(join(dir, 'pinned-keys.json')), 'not written synchronously')
  const saved = (): boolean => existsSync(join(dir, 'pinned-keys.json')) && readFileSync(join(dir, 'pinned-keys.json'), 'utf8').includes(hex(alice.publicKey))
  await waitFor(saved, 5000, 'the pin saved')
  p.flushSync() // nothing pending: no-op
})

test('tofu: a corrupt pin file is BAD_CONFIG, not an empty table', () => {
  const corrupt = [
    'not json',
    '{}',
    '{"version":2,"pins":[]}',
    '{"version":1,"pins":[["alice"]]}',
    `{"version":1,"pins":[["", "${hex(alice.publicKey)}"]]}`,
    '{"version":1,"pins":[["alice","zz"]]}',
    `{"version":1,"pins":[["a","${hex(alice.publicKey)}"],["a","${hex(bob.publicKey)}"]]}`,
  ]
  for (const text of corrupt) {
    const dir = tmp.make()
    writeFileSync(join(dir, 'pinned-keys.json'), text)
    throwsCode(() => new TofuPolicy({ dataDir: dir }), 'BAD_CONFIG', text)
  }
})

// ---------------------------------------------------------------------------
// allowlist

test('allowlist: only listed keys; a bound key only as its username', () => {
  const p = new AllowlistPolicy([hex(alice.publicKey), { key: Buffer.from(bob.publicKey).toString('base64'), username: 'bob' }])
  p.check('alice', alice.publicKey)
  p.check('anyone', alice.publicKey)
  p.check('bob', bob.publicKey)
  throwsCode(() => p.check('robert', bob.publicKey), 'UNTRUSTED_KEY')
  throwsCode(() => p.check('rogue', rogue.publicKey), 'UNTRUSTED_KEY')
  const q = new AllowlistPolicy([{ key: rogue.publicKey }, Buffer.from(bob.publicKey).toString('base64url')])
  q.check('x', rogue.publicKey)
  q.check('x', bob.publicKey)
  assert.is(q.size, 2)
})

test('allowlist: bad configs are BAD_OPTION', () => {
  throwsCode(() => new AllowlistPolicy([]), 'BAD_OPTION')
  throwsCode(() => new AllowlistPolicy('x' as never), 'BAD_OPTION')
  throwsCode(() => new AllowlistPolicy(['abc']), 'BAD_OPTION')
  throwsCode(() => new AllowlistPolicy([null as never]), 'BAD_OPTION')
  throwsCode(() => new AllowlistPolicy([{ key: alice.publicKey, username: 'a\nb' }]), 'BAD_OPTION')
  throwsCode(() => new AllowlistPolicy([alice.publicKey, hex(alice.publicKey)]), 'BAD_OPTION')
  throwsCode(() => new AllowlistPolicy([new Uint8Array(31)]), 'BAD_OPTION')
})

test('parseKey accepts bytes, hex, base64 and base64url', () => {
  const k = alice.publicKey
  for (const form of [k, hex(k), hex(k).toUpperCase(), Buffer.from(k).toString('base64'), Buffer.from(k).toString('base64url')]) {
    assert.equal(parseKey(form), k)
  }
  for (const bad of ['', hex(k).slice(2), Buffer.from(new Uint8Array(33)).toString('base64'), 42]) throwsCode(() => parseKey(bad), 'BAD_OPTION')
})

// ---------------------------------------------------------------------------
// authority

const T0 = 1_700_000_000_000
const DAY = 86_400_000

test('authority: a valid certificate is accepted', () => {
  const cert = issueCertificate(authority, 'alice', alice.publicKey, { notBefore: T0, notAfter: T0 + DAY })
  const p = new AuthorityPolicy({ authorityKey: authority.publicKey, now: () => T0 + 1000 })
  p.check('alice', alice.publicKey, cert)
  const c = decodeCertificate(cert)
  assert.is(c.username, 'alice')
  assert.equal(c.identityKey, alice.publicKey)
  assert.is(c.notBefore, T0)
  assert.is(c.notAfter, T0 + DAY)
  assert.ok(cert.length <= 1024)
})

test('authority: expired, not yet valid (beyond skew), wrong name, wrong key, forged, tampered, missing', () => {
  const cert = issueCertificate(authority, 'alice', alice.publicKey, { notBefore: T0, notAfter: T0 + DAY })
  const at = (t: number) => new AuthorityPolicy({ authorityKey: hex(authority.publicKey), now: () => t, clockSkewMs: 60_000 })
  at(T0 + DAY + 59_000).check('alice', alice.publicKey, cert) // within skew
  throwsCode(() => at(T0 + DAY + 61_000).check('alice', alice.publicKey, cert), 'UNTRUSTED_KEY', 'expired')
  at(T0 - 59_000).check('alice', alice.publicKey, cert)
  throwsCode(() => at(T0 - 61_000).check('alice', alice.publicKey, cert), 'UNTRUSTED_KEY', 'not yet valid')
  const p = at(T0)
  throwsCode(() => p.check('mallory', alice.publicKey, cert), 'UNTRUSTED_KEY', 'wrong name')
  throwsCode(() => p.check('alice', bob.publicKey, cert), 'UNTRUSTED_KEY', 'wrong key')
  const forged = issueCertificate(rogue, 'alice', bob.publicKey, { notBefore: T0, notAfter: T0 + DAY })
  throwsCode(() => p.check('alice', bob.publicKey, forged), 'UNTRUSTED_KEY', 'forged')
  for (let i = 0; i < cert.length; i++) {
    const t = cert.slice()
    t[i] ^= 0x01
    throwsCode(() => p.check('alice', alice.publicKey, t), 'UNTRUSTED_KEY', `tampered byte ${i}`)
  }
  throwsCode(() => p.check('alice', alice.publicKey), 'UNTRUSTED_KEY', 'missing')
  throwsCode(() => p.check('alice', alice.publicKey, cert.subarray(0, cert.length - 1)), 'UNTRUSTED_KEY', 'truncated')
  throwsCode(() => p.check('alice', alice.publicKey, new Uint8Array([...cert, 0])), 'UNTRUSTED_KEY', 'extended')
})

test('certificates: strict decoding and issuing checks', () => {
  const cert = issueCertificate(authority, 'zoë', alice.publicKey, { notBefore: T0, notAfter: T0 })
  assert.is(decodeCertificate(cert).username, 'zoë')
  throwsCode(() => decodeCertificate(new Uint8Array(0)), 'BAD_PAYLOAD')
  throwsCode(() => decodeCertificate(new Uint8Array(2000)), 'BAD_PAYLOAD')
  const v2 = cert.slice()
  v2[0] = 2
  throwsCode(() => decodeCertificate(v2), 'BAD_PAYLOAD', 'version')
  const badName = cert.slice()
  badName[2] = 0xff
  throwsCode(() => decodeCertificate(badName), 'BAD_PAYLOAD', 'utf-8')
  const reversed = issueCertificate(authority, 'a', alice.publicKey, { notBefore: T0, notAfter: T0 + 1 })
  const dv = new DataView(reversed.buffer)
  dv.setBigUint64(3 + 32 + 8, BigInt(T0 - 1)) // notAfter < notBefore
  throwsCode(() => decodeCertificate(reversed), 'BAD_PAYLOAD', 'reversed window')
  throwsCode(() => issueCertificate(authority, 'a\u0000', alice.publicKey, { notAfter: T0 }), 'BAD_USERNAME')
  throwsCode(() => issueCertificate(authority, 'a', new Uint8Array(3), { notAfter: T0 }), 'BAD_ARGUMENT')
  throwsCode(() => issueCertificate(authority, 'a', alice.publicKey, { notBefore: T0, notAfter: T0 - 1 }), 'BAD_ARGUMENT')
  throwsCode(() => issueCertificate(authority, 'a', alice.publicKey, { notAfter: -1 }), 'BAD_ARGUMENT')
  throwsCode(() => issueCertificate({} as never, 'a', alice.publicKey, { notAfter: T0 }), 'BAD_ARGUMENT')
  const dflt = issueCertificate(authority, 'a', alice.publicKey, { notAfter: Date.now() + DAY })
  new AuthorityPolicy({ authorityKey: authority.publicKey }).check('a', alice.publicKey, dflt)
})

// ---------------------------------------------------------------------------
// config

test('config: default tofu, string shorthand, validation with BAD_OPTION', () => {
  assert.equal(parseTrustConfig(undefined), { policy: 'tofu' })
  assert.equal(parseTrustConfig('tofu'), { policy: 'tofu' })
  assert.equal(parseTrustConfig({ policy: 'tofu', maxPins: 10 }), { policy: 'tofu', maxPins: 10 })
  const ak = hex(authority.publicKey)
  assert.equal(parseTrustConfig({ policy: 'authority', authorityKey: ak }), { policy: 'authority', authorityKey: ak })
  throwsCode(() => parseTrustConfig({ policy: 'pki' }), 'BAD_OPTION')
  throwsCode(() => parseTrustConfig('allowlist'), 'BAD_OPTION', 'allowlist without keys')
  throwsCode(() => parseTrustConfig({ policy: 'tofu', maxpins: 3 }), 'BAD_OPTION', 'typo')
  throwsCode(() => parseTrustConfig({ policy: 'tofu', maxPins: -3 }), 'BAD_OPTION')
  throwsCode(() => parseTrustConfig({ policy: 'authority' }), 'BAD_OPTION')
  throwsCode(() => parseTrustConfig({ policy: 'authority', authorityKey: ak, clockSkewMs: -1 }), 'BAD_OPTION')
  throwsCode(() => parseTrustConfig([]), 'BAD_OPTION')
  throwsCode(() => parseTrustConfig(null), 'BAD_OPTION')
})

test('createTrustPolicy builds each kind', () => {
  const dir = tmp.make()
  const t = createTrustPolicy(undefined, { dataDir: dir })
  assert.is(t.kind, 'tofu')
  assert.is((t as TofuPolicy).path, join(dir, 'pinned-keys.json'))
  const a = createTrustPolicy({ policy: 'allowlist', keys: [hex(alice.publicKey)] })
  assert.is(a.kind, 'allowlist')
  throwsCode(() => a.check('x', bob.publicKey), 'UNTRUSTED_KEY')
  const au = createTrustPolicy({ policy: 'authority', authorityKey: authority.publicKey }, { now: () => T0 })
  assert.is(au.kind, 'authority')
  au.check('alice', alice.publicKey, issueCertificate(authority, 'alice', alice.publicKey, { notBefore: T0, notAfter: T0 }))
})

// ---------------------------------------------------------------------------
// tofu: names pinned under an older, looser username rule

test('tofu: pins whose name breaks the current rules are dropped with one warning each; the rest load', async () => {
  const dir = tmp.make()
  const file = join(dir, 'pinned-keys.json')
  const pins = [
    ['alice', hex(alice.publicKey)],
    ['Bob', hex(bob.publicKey)], // upper case
    ['a b', hex(rogue.publicKey)], // a space
    ['ev\u202eil', hex(rogue.publicKey)], // a bidi override
    ['p\u0430ypal', hex(rogue.publicKey)], // Latin + Cyrillic
    ['carol', hex(bob.publicKey)],
  ]
  writeFileSync(file, JSON.stringify({ version: 1, pins }))
  const warnings: P4Error[] = []
  const p = new TofuPolicy({ dataDir: dir, warn: (e) => warnings.push(e) })
  assert.is(p.size, 2)
  assert.equal(p.pinned('alice'), alice.publicKey)
  assert.equal(p.pinned('carol'), bob.publicKey)
  assert.is(warnings.length, 4)
  for (const w of warnings) {
    assert.ok(isP4Error(w, 'BAD_USERNAME'), String(w))
    assert.ok(w.message.includes(file), w.message)
  }
  assert.match(warnings[0]!.message, `dropped the pin of "Bob" to key ${hex(bob.publicKey).slice(0, 16)}…: is not lower case`)
  assert.match(warnings[2]!.message, '"ev\\u{202E}il"')
  assert.not.match(warnings[2]!.message, '\u202e')
  // The default warn (NODE_DEBUG log) never stops the policy from loading.
  assert.is(new TofuPolicy({ dataDir: dir }).size, 2)
  // The next save writes only the valid pins.
  p.check('dave', rogue.publicKey)
  await p.flush()
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).pins.map((e: string[]) => e[0]), ['alice', 'carol', 'dave'])
})

test('tofu: a pin that was never a name (not a string, empty, over 31 bytes) is still corruption', () => {
  for (const name of [5, null, '', 'x'.repeat(32)]) {
    const dir = tmp.make()
    writeFileSync(join(dir, 'pinned-keys.json'), JSON.stringify({ version: 1, pins: [[name, hex(alice.publicKey)]] }))
    throwsCode(() => new TofuPolicy({ dataDir: dir, warn: () => assert.unreachable('no warning for corruption') }), 'BAD_CONFIG', String(name))
  }
  throwsCode(() => new TofuPolicy({ warn: 1 as never }), 'BAD_OPTION')
})

test.run()
