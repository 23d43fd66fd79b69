import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { createDecipheriv, hkdfSync, diffieHellman } from 'node:crypto'
import { x25519PrivateKey, x25519PublicKey } from '../ts/core/identity.js'
import { loadKernel, simdSupported } from '../ts/wasm/loader.js'
import { aeadFor } from '../ts/wasm/aead.js'
import {
  AAD_DOMAIN,
  BOX_HEADER,
  BOX_VERSION,
  E2eBoxes,
  GROUP_OVERHEAD,
  NODE_CRYPTO_FROM,
  SEAL_OVERHEAD,
  VIEW_MAX,
  e2eAad,
  groupAad,
  openGroup,
  sealGroup,
  type AeadCipher,
  type BoxCipherChoice,
} from '../ts/e2e.js'
import { x25519 } from '../ts/e2e-keys.js'
import { throwsCode } from './helpers/errors.js'
import { fixedIdentity } from './helpers/identities.js'

const alice = fixedIdentity(1)
const bob = fixedIdentity(2)
const carol = fixedIdentity(3)

const aad = e2eAad({ sender: alice.publicKey, recipient: 'bob', pluginId: 1001, messageId: 77n })
const text = new TextEncoder().encode('hello bob, relays cannot read this')
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'))

/** ChaCha20-Poly1305 open by OpenSSL (node:crypto): a reference independent of p4net's WASM cipher. */
function opensslOpen(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array {
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
  d.setAAD(ad, { plaintextLength: sealed.length - 16 })
  d.setAuthTag(sealed.subarray(sealed.length - 16))
  return new Uint8Array(Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]))
}

/** The documented key, derived here with node:crypto alone. */
function referenceKey(senderStatic: Uint8Array, recipient: typeof bob, salt: Uint8Array): Uint8Array {
  const shared = diffieHellman({ privateKey: recipient.staticKey, publicKey: x25519PublicKey(senderStatic) })
  const info = Buffer.concat([Buffer.from('p4net/2 e2e v1'), senderStatic, recipient.staticPublicKey])
  return new Uint8Array(hkdfSync('sha256', shared, salt, info, 32))
}

const ciphers: [string, AeadCipher][] = [['scalar', aeadFor(loadKernel('scalar'))]]
if (simdSupported()) ciphers.push(['simd', aeadFor(loadKernel('simd'))])
const CHOICES: BoxCipherChoice[] = ['auto', 'wasm', 'node']
const SIZES = [0, 1, 64, NODE_CRYPTO_FROM - 1, NODE_CRYPTO_FROM, 70_000]
const payload = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff)

// X25519 points of small order (RFC 7748 §5 / libsodium blocklist): 0, 1, and an order-8 point.
const lowOrder = [
  new Uint8Array(32),
  new Uint8Array([1, ...new Array(31).fill(0)]),
  new Uint8Array(Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex')),
]

test('X25519 (RFC 7748 §6.1) and HKDF-SHA256 (RFC 5869 case 1) vectors, as the box keys use them', () => {
  const a = x25519PrivateKey(unhex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'))
  const b = x25519PrivateKey(unhex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'))
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'
  assert.is(hex(x25519(a, unhex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'))!), shared)
  assert.is(hex(x25519(b, unhex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'))!), shared)
  const okm = hkdfSync('sha256', new Uint8Array(22).fill(0x0b), unhex('000102030405060708090a0b0c'), unhex('f0f1f2f3f4f5f6f7f8f9'), 42)
  assert.is(hex(new Uint8Array(okm)), '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865')
  for (const p of lowOrder) assert.is(x25519(a, p), null)
})

const kernels = [loadKernel('scalar'), ...(simdSupported() ? [loadKernel('simd')] : [])]

test('unicast: round trip with every cipher choice and WASM build, and boxes interoperate across them', () => {
  const bobBoxes = CHOICES.flatMap((cipher) => kernels.map((kernel) => new E2eBoxes(bob, { cipher, kernel })))
  for (const [cipher, kernel] of CHOICES.flatMap((c) => kernels.map((k) => [c, k] as const))) {
    const a = new E2eBoxes(alice, { cipher, kernel })
    for (const n of SIZES) {
      const pt = payload(n)
      const box = a.seal(bob.staticPublicKey, pt, aad)
      assert.is(box.length, n + SEAL_OVERHEAD, `${cipher} ${n}`)
      assert.is(box[0], BOX_VERSION)
      for (const [i, b] of bobBoxes.entries()) {
        const got = b.open(alice.staticPublicKey, box, aad)!
        assert.equal(got, pt, `${cipher} ${kernel.variant} → ${i} ${n}`)
        // The plaintext owns its memory: no view into a shared pool or WASM memory.
        assert.is(got.buffer.byteLength, n, `own buffer ${cipher} → ${i} ${n}`)
      }
    }
  }
})

test('unicast: sealUnicast / openUnicast (AAD built in place, no bigint) make and take the same boxes as seal / open with e2eAad', () => {
  const ids: [number, number, number][] = [
    [1001, 0, 77],
    [0xffff, 0xdeadbeef, 0xfffffffe],
    [0, 0x80000000, 1],
  ]
  for (const [cipher, kernel] of CHOICES.flatMap((c) => kernels.map((k) => [c, k] as const))) {
    const a = new E2eBoxes(alice, { cipher, kernel })
    const b = new E2eBoxes(bob, { cipher, kernel })
    for (const n of SIZES) {
      for (const [pluginId, hi, lo] of ids) {
        const pt = payload(n)
        const ad = e2eAad({ sender: alice.publicKey, recipient: 'bob', pluginId, messageId: (BigInt(hi) << 32n) | BigInt(lo) })
        const what = `${cipher} ${kernel.variant} ${n} B, ids ${pluginId}/${hi}/${lo}`
        // A small box from WASM is a view of WASM memory until the next call: copied at once.
        const out = a.sealUnicast(bob.staticPublicKey, pt, alice.publicKey, 'bob', pluginId, hi, lo)
        const fast = out.slice()
        if (out.length >= VIEW_MAX) {
          a.sealUnicast(bob.staticPublicKey, payload(n + 1), alice.publicKey, 'bob', pluginId, hi, lo)
          assert.equal(out, fast, `a large box is its own array: ${what}`)
        }
        assert.is(fast.length, n + SEAL_OVERHEAD, what)
        assert.equal(b.open(alice.staticPublicKey, fast, ad), pt, `open() takes it: ${what}`)
        const slow = a.seal(bob.staticPublicKey, pt, ad)
        assert.equal(b.openUnicast(alice.staticPublicKey, slow, alice.publicKey, 'bob', pluginId, hi, lo), pt, `openUnicast() takes seal()'s: ${what}`)
        assert.equal(b.openUnicast(alice.staticPublicKey, fast, alice.publicKey, 'bob', pluginId, hi, lo), pt, what)
        // Any other field of the AAD and it does not open.
        assert.is(b.openUnicast(alice.staticPublicKey, fast, alice.publicKey, 'bob', pluginId ^ 1, hi, lo), null, `other plugin: ${what}`)
        assert.is(b.openUnicast(alice.staticPublicKey, fast, alice.publicKey, 'bob', pluginId, hi, lo ^ 1), null, `other message: ${what}`)
        assert.is(b.openUnicast(alice.staticPublicKey, fast, carol.publicKey, 'bob', pluginId, hi, lo), null, `other sender: ${what}`)
        assert.is(b.openUnicast(alice.staticPublicKey, fast, alice.publicKey, 'carol', pluginId, hi, lo), null, `other recipient: ${what}`)
        // Still opens after those failures (nothing cached wrongly).
        assert.equal(b.openUnicast(alice.staticPublicKey, fast, alice.publicKey, 'bob', pluginId, hi, lo), pt, `again: ${what}`)
      }
    }
  }
})

test('unicast: matches the documented construction (independent X25519, HKDF and ChaCha20-Poly1305)', () => {
  for (const cipher of CHOICES) {
    const a = new E2eBoxes(alice, { cipher })
    for (const n of SIZES) {
      const pt = payload(n)
      const box = a.seal(bob.staticPublicKey, pt, aad)
      const salt = box.subarray(1, 17)
      assert.equal(salt, a.salt)
      const nonce = new Uint8Array(12)
      nonce.set(box.subarray(17, 25), 4)
      assert.equal(opensslOpen(referenceKey(alice.staticPublicKey, bob, salt), nonce, aad, box.subarray(BOX_HEADER)), pt, `${cipher} ${n}`)
    }
  }
  // The WASM kernels (both builds) open what OpenSSL's key schedule says.
  const box = new E2eBoxes(alice, { cipher: 'node' }).seal(bob.staticPublicKey, text, aad)
  const nonce = new Uint8Array(12)
  nonce.set(box.subarray(17, 25), 4)
  const key = referenceKey(alice.staticPublicKey, bob, box.subarray(1, 17))
  for (const [name, c] of ciphers) assert.equal(c.open(key, nonce, box.subarray(BOX_HEADER), aad), text, name)
})

// A box made once from the documented construction (fixed identities 1 → 2,
// salt 00..0f, counter 5): the format may not drift.
const KNOWN_BOX = unhex(`01 000102030405060708090a0b0c0d0e0f 0000000000000005
  05436ed8e60fdb0a9a58c69b2d273631f4e8a5936c4b97cff8b2c554e5d82fac
  74ba5a82b50e771ac4644fe1fe5527b40738`)

test('unicast: a known box opens, with the counter as nonce', () => {
  const salt = unhex('000102030405060708090a0b0c0d0e0f')
  const nonce = unhex('000000000000000000000005')
  assert.is(hex(referenceKey(alice.staticPublicKey, bob, salt)), 'eb170b04660d0410ff0d1760111c9a24feb27eed76988e730f7877c4ee2140a0')
  assert.equal(opensslOpen(referenceKey(alice.staticPublicKey, bob, salt), nonce, aad, KNOWN_BOX.subarray(BOX_HEADER)), text)
  for (const cipher of CHOICES) assert.equal(new E2eBoxes(bob, { cipher }).open(alice.staticPublicKey, KNOWN_BOX, aad), text, cipher)
})

test('unicast: wrong recipient, wrong sender, reflection, tampering, truncation, version and AAD changes give null', () => {
  const a = new E2eBoxes(alice)
  const b = new E2eBoxes(bob)
  const box = a.seal(bob.staticPublicKey, text, aad)
  assert.equal(b.open(alice.staticPublicKey, box, aad), text)
  assert.is(new E2eBoxes(carol).open(alice.staticPublicKey, box, aad), null, 'wrong recipient')
  assert.is(b.open(carol.staticPublicKey, box, aad), null, 'wrong sender')
  // Alice's own box handed back to her as if bob sent it.
  assert.is(new E2eBoxes(alice).open(bob.staticPublicKey, box, aad), null, 'reflected')
  for (let i = 0; i < box.length; i++) {
    const t = box.slice()
    t[i] ^= 0x04
    assert.is(b.open(alice.staticPublicKey, t, aad), null, `byte ${i}`)
  }
  for (const v of [0, 2, 0xff]) {
    const t = box.slice()
    t[0] = v
    assert.is(b.open(alice.staticPublicKey, t, aad), null, `version ${v}`)
  }
  for (const n of [0, 1, 24, 25, SEAL_OVERHEAD - 1, box.length - 1]) assert.is(b.open(alice.staticPublicKey, box.subarray(0, n), aad), null, `len ${n}`)
  assert.is(b.open(alice.staticPublicKey, new Uint8Array([...box, 0]), aad), null, 'extended')
  const variants = [
    e2eAad({ sender: carol.publicKey, recipient: 'bob', pluginId: 1001, messageId: 77n }), // re-sent as someone else's
    e2eAad({ sender: alice.publicKey, recipient: 'carol', pluginId: 1001, messageId: 77n }), // re-targeted
    e2eAad({ sender: alice.publicKey, recipient: 'bob', pluginId: 1002, messageId: 77n }), // other plugin
    e2eAad({ sender: alice.publicKey, recipient: 'bob', pluginId: 1001, messageId: 78n }), // spliced into another message
    groupAad({ sender: alice.publicKey, pluginId: 1001, messageId: 77n }),
    new Uint8Array(0),
  ]
  for (const v of variants) assert.is(b.open(alice.staticPublicKey, box, v), null)
  // Large boxes (node:crypto path) too.
  const big = a.seal(bob.staticPublicKey, payload(70_000), aad)
  for (const i of [0, 5, 20, 100, big.length - 1]) {
    const t = big.slice()
    t[i] ^= 0x01
    assert.is(b.open(alice.staticPublicKey, t, aad), null, `big byte ${i}`)
  }
})

test('unicast: a restarted sender (new E2eBoxes) has a new salt; no (key, nonce) pair repeats, also across evicted keys', () => {
  const recipients = [bob, carol, fixedIdentity(4)]
  const seen = new Set<string>()
  const salts = new Set<string>()
  for (let life = 0; life < 20; life++) {
    // One sending key kept: every change of recipient evicts and re-derives one.
    const a = new E2eBoxes(alice, { limits: { peers: 1 } })
    salts.add(hex(a.salt))
    for (let i = 0; i < 30; i++) {
      const r = recipients[i % 3]!
      const box = a.seal(r.staticPublicKey, text, aad)
      const id = `${hex(r.staticPublicKey)}:${hex(box.subarray(1, BOX_HEADER))}` // (key, nonce) = (recipient, salt, counter)
      assert.not.ok(seen.has(id), `repeated ${id}`)
      seen.add(id)
      assert.equal(new E2eBoxes(r).open(alice.staticPublicKey, box, aad), text)
    }
    assert.is(a.sealed, 30)
    assert.ok(a.cacheSizes().sending <= 1)
  }
  assert.is(salts.size, 20)
  assert.is(seen.size, 600)
})

test('unicast: caches stay bounded under many senders and many salts, and still open', () => {
  const b = new E2eBoxes(bob, { limits: { peers: 8, receiving: 16 } })
  const senders = Array.from({ length: 40 }, (_, i) => fixedIdentity(10 + i))
  for (let round = 0; round < 3; round++) {
    for (const s of senders) {
      // A fresh E2eBoxes per box: a new salt each time, as a hostile sender could.
      const box = new E2eBoxes(s).seal(bob.staticPublicKey, text, aad)
      assert.equal(b.open(s.staticPublicKey, box, aad), text)
      const z = b.cacheSizes()
      assert.ok(z.shared <= 8 && z.sending <= 8 && z.receiving <= 16, JSON.stringify(z))
    }
  }
  // One sender, many salts.
  for (let i = 0; i < 100; i++) assert.equal(b.open(alice.staticPublicKey, new E2eBoxes(alice).seal(bob.staticPublicKey, text, aad), aad), text)
  assert.ok(b.cacheSizes().receiving <= 16)
  // A sender to many recipients.
  const a = new E2eBoxes(alice, { limits: { peers: 4 } })
  for (const r of senders) a.seal(r.staticPublicKey, text, aad)
  assert.ok(a.cacheSizes().sending <= 4 && a.cacheSizes().shared <= 4)
})

test('unicast: low-order keys are refused', () => {
  const a = new E2eBoxes(alice)
  const b = new E2eBoxes(bob)
  const box = a.seal(bob.staticPublicKey, text, aad)
  for (const p of lowOrder) {
    throwsCode(() => a.seal(p, text, aad), 'BAD_ARGUMENT', 'seal to low-order key')
    assert.is(b.open(p, box, aad), null, 'low-order sender key')
  }
})

test('unicast: bad arguments are BAD_ARGUMENT', () => {
  const a = new E2eBoxes(alice)
  throwsCode(() => a.seal(new Uint8Array(31), text, aad), 'BAD_ARGUMENT')
  throwsCode(() => a.seal(bob.staticPublicKey, 'x' as never, aad), 'BAD_ARGUMENT')
  throwsCode(() => a.seal(bob.staticPublicKey, text, undefined as never), 'BAD_ARGUMENT')
  const box = a.seal(bob.staticPublicKey, text, aad)
  const b = new E2eBoxes(bob)
  throwsCode(() => b.open(new Uint8Array(5), box, aad), 'BAD_ARGUMENT')
  throwsCode(() => b.open(alice.staticPublicKey, 'box' as never, aad), 'BAD_ARGUMENT')
  throwsCode(() => b.open(alice.staticPublicKey, box, null as never), 'BAD_ARGUMENT')
  throwsCode(() => new E2eBoxes(null as never), 'BAD_ARGUMENT')
  throwsCode(() => new E2eBoxes({ staticKey: bob.signingKey, staticPublicKey: bob.staticPublicKey }), 'BAD_ARGUMENT', 'Ed25519 key')
  throwsCode(() => new E2eBoxes({ staticKey: x25519PublicKey(bob.staticPublicKey), staticPublicKey: bob.staticPublicKey }), 'BAD_ARGUMENT', 'public key')
  throwsCode(() => new E2eBoxes(bob, { cipher: 'rot13' as never }), 'BAD_ARGUMENT')
})

test('group: round trip on both builds, random nonces, wrong key / tamper / AAD give null', () => {
  const gk = new Uint8Array(32).fill(9)
  const gaad = groupAad({ sender: alice.publicKey, pluginId: 1001, messageId: 5n })
  for (const [name, cipher] of ciphers) {
    const box = sealGroup(gk, text, gaad, cipher)
    assert.is(box.length, text.length + GROUP_OVERHEAD)
    assert.equal(openGroup(gk, box, gaad, cipher), text, name)
  }
  const a = sealGroup(gk, text, gaad)
  const b = sealGroup(gk, text, gaad)
  assert.not.equal(a.subarray(0, 12), b.subarray(0, 12))
  // Independent check of the construction.
  const k = new Uint8Array(hkdfSync('sha256', gk, new Uint8Array(0), 'p4net/2 group', 32))
  assert.equal(opensslOpen(k, a.subarray(0, 12), gaad, a.subarray(12)), text)
  assert.is(openGroup(new Uint8Array(32).fill(8), a, gaad), null)
  for (let i = 0; i < a.length; i += 3) {
    const t = a.slice()
    t[i] ^= 0x80
    assert.is(openGroup(gk, t, gaad), null, `byte ${i}`)
  }
  assert.is(openGroup(gk, a, groupAad({ sender: bob.publicKey, pluginId: 1001, messageId: 5n })), null)
  assert.is(openGroup(gk, a, groupAad({ sender: alice.publicKey, pluginId: 1001, messageId: 6n })), null)
  assert.is(openGroup(gk, a.subarray(0, 27), gaad), null)
  assert.equal(openGroup(gk, sealGroup(gk, new Uint8Array(0), gaad), gaad), new Uint8Array(0))
  throwsCode(() => sealGroup(new Uint8Array(16), text, gaad), 'BAD_ARGUMENT')
  throwsCode(() => openGroup(gk, null as never, gaad), 'BAD_ARGUMENT')
})

test('AAD layouts are exact and validated', () => {
  const d = AAD_DOMAIN.length
  assert.is(new TextDecoder().decode(AAD_DOMAIN), 'p4net/2 e2e aad\0')
  const u = e2eAad({ sender: alice.publicKey, recipient: 'bob', pluginId: 0x0102, messageId: 0x0304050607080910n })
  assert.is(u.length, d + 1 + 32 + 1 + 3 + 2 + 8)
  assert.is(u[d], 1)
  assert.equal(u.subarray(d + 1, d + 33), alice.publicKey)
  assert.equal([...u.subarray(d + 33)], [3, 0x62, 0x6f, 0x62, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x10])
  const g = groupAad({ sender: alice.publicKey, pluginId: 0x0102, messageId: 1n })
  assert.is(g[d], 2)
  assert.equal([...g.subarray(d + 33)], [1, 2, 0, 0, 0, 0, 0, 0, 0, 1])
  throwsCode(() => e2eAad({ sender: alice.publicKey, recipient: '', pluginId: 1, messageId: 1n }), 'BAD_USERNAME')
  throwsCode(() => e2eAad({ sender: new Uint8Array(3), recipient: 'b', pluginId: 1, messageId: 1n }), 'BAD_ARGUMENT')
  throwsCode(() => e2eAad({ sender: alice.publicKey, recipient: 'b', pluginId: 65536, messageId: 1n }), 'BAD_ARGUMENT')
  throwsCode(() => groupAad({ sender: alice.publicKey, pluginId: 1, messageId: -1n }), 'BAD_ARGUMENT')
  throwsCode(() => e2eAad({ sender: alice.publicKey, recipient: 'b', pluginId: 1, messageId: 1n << 64n }), 'BAD_ARGUMENT')
  throwsCode(() => e2eAad({ sender: alice.publicKey, recipient: 'b', pluginId: 1, messageId: 1 as never }), 'BAD_ARGUMENT')
  const top = e2eAad({ sender: alice.publicKey, recipient: 'b', pluginId: 0xffff, messageId: (1n << 64n) - 1n })
  assert.equal([...top.subarray(top.length - 10)], new Array(10).fill(0xff))
  // The memoised prefix follows the sender and the recipient.
  const other = e2eAad({ sender: carol.publicKey, recipient: 'bob', pluginId: 1, messageId: 1n })
  assert.equal(other.subarray(d + 1, d + 33), carol.publicKey)
  assert.equal([...e2eAad({ sender: carol.publicKey, recipient: 'carol', pluginId: 1, messageId: 1n }).subarray(d + 33, d + 39)], [5, 0x63, 0x61, 0x72, 0x6f, 0x6c])
  throwsCode(() => groupAad(null as never), 'BAD_ARGUMENT')
})

test.run()
