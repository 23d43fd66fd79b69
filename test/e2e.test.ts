import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { createDecipheriv, hkdfSync, diffieHellman } from 'node:crypto'
import { x25519PublicKey } from '../ts/core/identity.js'
import { loadKernel, simdSupported } from '../ts/wasm/loader.js'
import { aeadFor } from '../ts/wasm/aead.js'
import {
  AAD_DOMAIN,
  GROUP_OVERHEAD,
  SEAL_OVERHEAD,
  e2eAad,
  groupAad,
  openFrom,
  openGroup,
  sealGroup,
  sealTo,
  type AeadCipher,
} from '../ts/e2e.js'
import { throwsCode } from './helpers/errors.js'
import { fixedIdentity } from './helpers/identities.js'

const alice = fixedIdentity(1)
const bob = fixedIdentity(2)
const carol = fixedIdentity(3)

const aad = e2eAad({ sender: alice.publicKey, recipient: 'bob', pluginId: 1001, messageId: 77n })
const text = new TextEncoder().encode('hello bob, relays cannot read this')

/** ChaCha20-Poly1305 open by OpenSSL (node:crypto): a reference independent of p4net's WASM cipher. */
function opensslOpen(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, sealed: Uint8Array): Uint8Array {
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
  d.setAAD(ad, { plaintextLength: sealed.length - 16 })
  d.setAuthTag(sealed.subarray(sealed.length - 16))
  return new Uint8Array(Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]))
}

const ciphers: [string, AeadCipher][] = [['scalar', aeadFor(loadKernel('scalar'))]]
if (simdSupported()) ciphers.push(['simd', aeadFor(loadKernel('simd'))])

// X25519 points of small order (RFC 7748 §5 / libsodium blocklist): 0, 1, and an order-8 point.
const lowOrder = [
  new Uint8Array(32),
  new Uint8Array([1, ...new Array(31).fill(0)]),
  new Uint8Array(Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex')),
]

test('unicast: round trip on both WASM builds and the default, for every key form', () => {
  for (const [name, cipher] of ciphers) {
    for (const pt of [text, new Uint8Array(0), new Uint8Array(70_000).fill(7)]) {
      const box = sealTo(bob.staticPublicKey, pt, aad, cipher)
      assert.is(box.length, pt.length + SEAL_OVERHEAD, name)
      assert.equal(openFrom(bob, box, aad, cipher), pt, name)
      assert.equal(openFrom(bob.staticKey, box, aad, cipher), pt, name)
      assert.equal(openFrom(bob.staticSecretKey, box, aad, cipher), pt, name)
    }
  }
  const box = sealTo(bob.staticPublicKey, text, aad)
  assert.equal(openFrom(bob, box, aad), text)
  // Boxes across builds interoperate.
  const other = ciphers[ciphers.length - 1]![1]
  assert.equal(openFrom(bob, sealTo(bob.staticPublicKey, text, aad, ciphers[0]![1]), aad, other), text)
})

test('unicast: matches the documented construction (independent ChaCha20-Poly1305)', () => {
  const box = sealTo(bob.staticPublicKey, text, aad)
  const ephPub = box.subarray(0, 32)
  const shared = diffieHellman({ privateKey: bob.staticKey, publicKey: x25519PublicKey(ephPub) })
  const key = new Uint8Array(hkdfSync('sha256', shared, Buffer.concat([ephPub, bob.staticPublicKey]), 'p4net/2 e2e', 32))
  const pt = opensslOpen(key, new Uint8Array(12), aad, box.subarray(32))
  assert.equal(pt, text)
  // Fresh ephemeral key per box.
  assert.not.equal(sealTo(bob.staticPublicKey, text, aad).subarray(0, 32), ephPub)
})

test('unicast: wrong key, tampering, truncation and any AAD change give null', () => {
  const box = sealTo(bob.staticPublicKey, text, aad)
  assert.is(openFrom(carol, box, aad), null, 'wrong recipient')
  for (let i = 0; i < box.length; i++) {
    const t = box.slice()
    t[i] ^= 0x04
    assert.is(openFrom(bob, t, aad), null, `byte ${i}`)
  }
  for (const n of [0, 1, 31, 32, 47, box.length - 1]) assert.is(openFrom(bob, box.subarray(0, n), aad), null, `len ${n}`)
  assert.is(openFrom(bob, new Uint8Array([...box, 0]), aad), null, 'extended')
  const variants = [
    e2eAad({ sender: carol.publicKey, recipient: 'bob', pluginId: 1001, messageId: 77n }), // re-sent as someone else's
    e2eAad({ sender: alice.publicKey, recipient: 'carol', pluginId: 1001, messageId: 77n }), // re-targeted
    e2eAad({ sender: alice.publicKey, recipient: 'bob', pluginId: 1002, messageId: 77n }), // other plugin
    e2eAad({ sender: alice.publicKey, recipient: 'bob', pluginId: 1001, messageId: 78n }), // spliced into another message
    groupAad({ sender: alice.publicKey, pluginId: 1001, messageId: 77n }),
    new Uint8Array(0),
  ]
  for (const v of variants) assert.is(openFrom(bob, box, v), null)
})

test('unicast: low-order keys are refused', () => {
  for (const p of lowOrder) {
    throwsCode(() => sealTo(p, text, aad), 'BAD_ARGUMENT', 'seal to low-order key')
    const forged = new Uint8Array(32 + 16 + 4)
    forged.set(p, 0)
    assert.is(openFrom(bob, forged, aad), null, 'low-order ephemeral key')
  }
})

test('unicast: bad arguments are BAD_ARGUMENT', () => {
  throwsCode(() => sealTo(new Uint8Array(31), text, aad), 'BAD_ARGUMENT')
  throwsCode(() => sealTo(bob.staticPublicKey, 'x' as never, aad), 'BAD_ARGUMENT')
  throwsCode(() => sealTo(bob.staticPublicKey, text, undefined as never), 'BAD_ARGUMENT')
  const box = sealTo(bob.staticPublicKey, text, aad)
  throwsCode(() => openFrom(new Uint8Array(5), box, aad), 'BAD_ARGUMENT')
  throwsCode(() => openFrom(bob.signingKey, box, aad), 'BAD_ARGUMENT', 'Ed25519 key')
  throwsCode(() => openFrom(x25519PublicKey(bob.staticPublicKey), box, aad), 'BAD_ARGUMENT', 'public key')
  throwsCode(() => openFrom(null as never, box, aad), 'BAD_ARGUMENT')
  throwsCode(() => openFrom(bob, 'box' as never, aad), 'BAD_ARGUMENT')
  throwsCode(() => openFrom({ staticKey: bob.signingKey, staticPublicKey: bob.staticPublicKey }, box, aad), 'BAD_ARGUMENT')
  throwsCode(() => openFrom(new Uint8Array(33), box, aad), 'BAD_ARGUMENT', 'raw private key of 33 bytes')
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
  throwsCode(() => groupAad(null as never), 'BAD_ARGUMENT')
})

test.run()
