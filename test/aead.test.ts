import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { createCipheriv, createDecipheriv } from 'node:crypto'
import { aead } from '../ts/crypto.js'
import { Aead, AeadBatch, aeadFor, noiseNonce, TAG_SIZE } from '../ts/wasm/aead.js'
import { loadKernel, simdSupported, type Kernel, type Variant } from '../ts/wasm/loader.js'
import { throwsCode } from './helpers/errors.js'
import { seededRandom } from '../common/random.js'

const VARIANTS: Variant[] = simdSupported() ? ['simd', 'scalar'] : ['scalar']

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s:]/g, ''), 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

function bytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0
  return b
}

/** The reference: node:crypto (OpenSSL). */
function refSeal(key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, aad: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
  c.setAAD(aad, { plaintextLength: pt.length })
  return new Uint8Array(Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]))
}
function refOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
  d.setAAD(aad, { plaintextLength: sealed.length - 16 })
  d.setAuthTag(sealed.subarray(sealed.length - 16))
  try {
    return new Uint8Array(Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]))
  } catch {
    return null
  }
}

/** Poly1305 straight from RFC 8439 §2.5.1 with BigInt: the reference for extreme inputs. */
function poly1305Ref(key: Uint8Array, msg: Uint8Array): Uint8Array {
  const le = (b: Uint8Array): bigint => b.reduceRight((x, v) => (x << 8n) | BigInt(v), 0n)
  const p = (1n << 130n) - 5n
  const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn
  let h = 0n
  for (let i = 0; i < msg.length; i += 16) {
    const block = msg.subarray(i, i + 16)
    h = ((h + le(block) + (1n << BigInt(8 * block.length))) * r) % p
  }
  let t = (h + le(key.subarray(16, 32))) & ((1n << 128n) - 1n)
  const out = new Uint8Array(16)
  for (let i = 0; i < 16; i++, t >>= 8n) out[i] = Number(t & 0xffn)
  return out
}

// RFC 8439 test vectors, typed in; the first test checks them against node:crypto.
const SUNSCREEN = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
)
const V242 = {
  key: hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'),
  nonce: hex('000000000000004a00000000'),
  counter: 1,
  ciphertext: hex(`6e2e359a2568f98041ba0728dd0d6981 e97e7aec1d4360c20a27afccfd9fae0b
    f91b65c5524733ab8f593dabcd62b357 1639d624e65152ab8f530c359f0861d8
    07ca0dbf500d6a6156a38e088a22b65e 52bc514d16ccf806818ce91ab7793736
    5af90bbf74a35be6b40b8eedf2785e42 874d`),
}
const V252 = {
  key: hex('85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b'),
  message: new TextEncoder().encode('Cryptographic Forum Research Group'),
  tag: hex('a8061dc1305136c6c22b8baf0c0127a9'),
}
const V282 = {
  key: hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'),
  nonce: hex('070000004041424344454647'),
  aad: hex('50515253c0c1c2c3c4c5c6c7'),
  ciphertext: hex(`d31a8d34648e60db7b86afbc53ef7ec2 a4aded51296e08fea9e2b5a736ee62d6
    3dbea45e8ca9671282fafb69da92728b 1a71de0a9e060b2905d6a5b67ecd3b36
    92ddbd7f2d778b8c9803aee328091b58 fab324e4fad675945585808b4831d7bc
    3ff4def08e4b7a9de576d26586cec64b 6116`),
  tag: hex('1ae10b594f09e26a7e902ecbd0600691'),
}
const VA5 = {
  key: hex('1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0'),
  nonce: hex('000000000102030405060708'),
  aad: hex('f33388860000000000004e91'),
  tag: hex('eead9d67890cbb22392336fea1851f38'),
  ciphertext: hex(`64a0861575861af460f062c79be643bd 5e805cfd345cf389f108670ac76c8cb2
    4c6cfc18755d43eea09ee94e382d26b0 bdb7b73c321b0100d4f03b7f355894cf
    332f830e710b97ce98c8a84abd0b9481 14ad176e008d33bd60f982b1ff37c855
    9797a06ef4f0ef61c186324e2b350638 3606907b6a7c02b0f9f6157b53c867e4
    b9166c767b804d46a59b5216cde7a4e9 9040c5a40433225ee282a1b0a06c523e
    af4534d7f83fa1155b0047718cbc546a 0d072b04b3564eea1b422273f548271a
    0bb2316053fa76991955ebd63159434e cebb4e466dae5a1073a6727627097a10
    49e617d91d361094fa68f0ff77987130 305beaba2eda04df997b714d6c6f2c29
    a6ad5cb4022b02709b`),
  plaintext: new TextEncoder().encode(
    'Internet-Drafts are draft documents valid for a maximum of six months and may be updated, ' +
      'replaced, or obsoleted by other documents at any time. It is inappropriate to use ' +
      'Internet-Drafts as reference material or to cite them other than as /\u201cwork in progress./\u201d',
  ),
}

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

test('typed RFC 8439 vectors agree with node:crypto (and §2.5.2 with the BigInt Poly1305)', () => {
  assert.is(toHex(poly1305Ref(V252.key, V252.message)), toHex(V252.tag))
  const c = createCipheriv('chacha20', V242.key, concat(hex('01000000'), V242.nonce))
  assert.is(toHex(Buffer.concat([c.update(SUNSCREEN), c.final()])), toHex(V242.ciphertext))
  assert.is(toHex(refSeal(V282.key, V282.nonce, SUNSCREEN, V282.aad)), toHex(concat(V282.ciphertext, V282.tag)))
  const pt = refOpen(VA5.key, VA5.nonce, concat(VA5.ciphertext, VA5.tag), VA5.aad)
  assert.ok(pt)
  assert.is(toHex(pt!), toHex(VA5.plaintext))
})

for (const variant of VARIANTS) {
  const k: Kernel = loadKernel(variant)
  const a = new Aead(k)

  test(`${variant}: RFC 8439 §2.4.2 ChaCha20 and §2.5.2 Poly1305`, () => {
    assert.is(toHex(a.chacha20(V242.key, V242.nonce, V242.counter, SUNSCREEN)), toHex(V242.ciphertext))
    assert.is(toHex(a.chacha20(V242.key, V242.nonce, V242.counter, V242.ciphertext)), toHex(SUNSCREEN))
    assert.is(toHex(a.poly1305(V252.key, V252.message)), toHex(V252.tag))
  })

  test(`${variant}: RFC 8439 §2.8.2 AEAD and Appendix A.5 decryption`, () => {
    assert.is(toHex(a.seal(V282.key, V282.nonce, SUNSCREEN, V282.aad)), toHex(concat(V282.ciphertext, V282.tag)))
    assert.is(toHex(a.open(V282.key, V282.nonce, concat(V282.ciphertext, V282.tag), V282.aad)!), toHex(SUNSCREEN))
    const pt = a.open(VA5.key, VA5.nonce, concat(VA5.ciphertext, VA5.tag), VA5.aad)
    assert.ok(pt)
    assert.is(toHex(pt!), toHex(VA5.plaintext))
    assert.is(toHex(a.seal(VA5.key, VA5.nonce, VA5.plaintext, VA5.aad)), toHex(concat(VA5.ciphertext, VA5.tag)))
  })

  test(`${variant}: matches node:crypto on edge lengths and seeded random inputs`, () => {
    const rand = seededRandom(variant === 'simd' ? 1 : 2)
    const edges = [0, 1, 15, 16, 17, 63, 64, 65, 191, 192, 193, 255, 256, 257, 4095, 4096, 65535, 65536, 70000]
    const cases: Array<[number, number]> = []
    for (const len of edges) cases.push([len, (rand() * 301) | 0])
    for (const aadLen of [0, 1, 15, 16, 17, 300]) cases.push([100, aadLen])
    for (let i = 0; i < 60; i++) {
      // mostly short messages, some up to 70,000 bytes
      const len = rand() < 0.8 ? (rand() * 1100) | 0 : (rand() * 70001) | 0
      cases.push([len, (rand() * 301) | 0])
    }
    for (const [len, aadLen] of cases) {
      const key = bytes(rand, 32)
      const nonce = bytes(rand, 12)
      const pt = bytes(rand, len)
      const ad = bytes(rand, aadLen)
      const sealed = a.seal(key, nonce, pt, ad)
      const want = refSeal(key, nonce, pt, ad)
      assert.ok(Buffer.from(sealed).equals(want), `seal len=${len} aad=${aadLen}`)
      const opened = a.open(key, nonce, want, ad)
      assert.ok(opened && Buffer.from(opened).equals(pt), `open len=${len} aad=${aadLen}`)
      // raw ChaCha20 from an arbitrary counter against node's chacha20 (16-byte IV = le32 counter || nonce)
      if (len <= 5000) {
        const counter = (rand() * 0xffffffff) >>> 0
        const iv = new Uint8Array(16)
        new DataView(iv.buffer).setUint32(0, counter, true)
        iv.set(nonce, 4)
        const c = createCipheriv('chacha20', key, iv)
        // node's counter carries into the nonce word past 2^32 blocks; stay below it
        if (counter + Math.ceil(len / 64) < 2 ** 32) {
          assert.ok(Buffer.from(a.chacha20(key, nonce, counter, pt)).equals(Buffer.concat([c.update(pt), c.final()])))
        }
      }
    }
  })

  test(`${variant}: every length 0..600 and 700..1100 matches node:crypto (MAC interleaved in the ChaCha rounds)`, () => {
    // the SIMD rounds absorb up to 2 Poly1305 blocks per double round while
    // making 4 keystream blocks; these lengths cross every block, chunk and
    // tail boundary of the first few 256-byte chunks, with and without AAD
    const rand = seededRandom(variant === 'simd' ? 3 : 4)
    const key = bytes(rand, 32)
    const lens = [...Array.from({ length: 601 }, (_, i) => i), ...Array.from({ length: 401 }, (_, i) => 700 + i)]
    for (const len of lens) {
      const nonce = bytes(rand, 12)
      const pt = bytes(rand, len)
      const ad = bytes(rand, len % 3 === 0 ? 0 : len % 41)
      const want = refSeal(key, nonce, pt, ad)
      assert.ok(Buffer.from(a.seal(key, nonce, pt, ad)).equals(want), `seal len=${len}`)
      const opened = a.open(key, nonce, want, ad)
      assert.ok(opened && Buffer.from(opened).equals(pt), `open len=${len}`)
      const bad = Uint8Array.from(want)
      bad[(len * 7) % bad.length]! ^= 1 << (len % 8)
      assert.is(a.open(key, nonce, bad, ad), null, `bit flip len=${len}`)
    }
  })

  test(`${variant}: Poly1305 and AEAD at extreme limb values (all-ones key, all-0xff data)`, () => {
    // the lazy carries in assembly/poly1305.ts are tightest when every limb is at its maximum
    const rand = seededRandom(10)
    const keys = [new Uint8Array(32).fill(0xff), concat(new Uint8Array(16).fill(0xff), bytes(rand, 16)), bytes(rand, 32)]
    for (const key of keys) {
      for (const len of [0, 1, 15, 16, 17, 64, 1000, 4096, 70000]) {
        const msg = new Uint8Array(len).fill(0xff)
        assert.is(toHex(a.poly1305(key, msg)), toHex(poly1305Ref(key, msg)), `len ${len}`)
      }
    }
    // AEAD whose ciphertext and AAD are all 0xff: plaintext = 0xff.. ^ keystream from block 1
    const key = bytes(rand, 32)
    const nonce = bytes(rand, 12)
    for (const len of [16, 64, 256, 5000, 70000]) {
      const iv = concat(hex('01000000'), nonce)
      const c = createCipheriv('chacha20', key, iv)
      const pt = new Uint8Array(Buffer.concat([c.update(new Uint8Array(len).fill(0xff)), c.final()]))
      const ad = new Uint8Array(300).fill(0xff)
      const sealed = a.seal(key, nonce, pt, ad)
      assert.ok(Buffer.from(sealed).equals(refSeal(key, nonce, pt, ad)))
      assert.ok(sealed.subarray(0, len).every((x) => x === 0xff))
      assert.ok(Buffer.from(a.open(key, nonce, sealed, ad)!).equals(pt))
    }
  })

  test(`${variant}: every single-bit flip of ciphertext, tag and AAD is rejected`, () => {
    const rand = seededRandom(3)
    const key = bytes(rand, 32)
    const nonce = bytes(rand, 12)
    const check = (pt: Uint8Array, ad: Uint8Array, bits: number[] | null): void => {
      const sealed = a.seal(key, nonce, pt, ad)
      const total = (sealed.length + ad.length) * 8
      const list = bits ?? Array.from({ length: total }, (_, i) => i)
      for (const bit of list) {
        const s = sealed.slice()
        const d = ad.slice()
        const byte = bit >> 3
        if (byte < s.length) s[byte] ^= 1 << (bit & 7)
        else d[byte - s.length] ^= 1 << (bit & 7)
        assert.is(a.open(key, nonce, s, d), null, `bit ${bit} of ${total}`)
      }
      // and the untouched message still opens
      assert.ok(Buffer.from(a.open(key, nonce, sealed, ad)!).equals(pt))
    }
    check(bytes(rand, 37), bytes(rand, 13), null) // exhaustive: (37 + 16 + 13) * 8 flips
    check(bytes(rand, 0), bytes(rand, 0), null) // tag only
    const longBits = Array.from({ length: 400 }, () => (rand() * (5000 + 16 + 40) * 8) | 0)
    check(bytes(rand, 5000), bytes(rand, 40), longBits)
    // wrong key or nonce
    const sealed = a.seal(key, nonce, SUNSCREEN)
    const otherNonce = nonce.slice()
    otherNonce[11] ^= 0x80
    assert.is(a.open(key, otherNonce, sealed), null)
    const otherKey = key.slice()
    otherKey[0] ^= 1
    assert.is(a.open(otherKey, nonce, sealed), null)
  })

  test(`${variant}: a failed open leaves the buffer untouched`, () => {
    const ex = k.exports as unknown as {
      aead_seal(kp: number, np: number, ap: number, al: number, p: number, l: number): void
      aead_open(kp: number, np: number, ap: number, al: number, p: number, l: number): number
    }
    const base = k.alloc(72000)
    try {
      const rand = seededRandom(4)
      for (const len of [0, 10, 64, 300, 1000, 5000, 70000]) {
        const mem = k.bytes()
        mem.set(bytes(rand, 44), base) // key | nonce
        const msg = base + 64
        mem.set(bytes(rand, len), msg)
        ex.aead_seal(base, base + 32, 0, 0, msg, len)
        k.bytes()[msg + (len >> 1)] ^= 4
        const before = k.bytes().slice(msg, msg + len + 16)
        assert.is(ex.aead_open(base, base + 32, 0, 0, msg, len + 16), 0)
        assert.ok(Buffer.from(k.bytes().subarray(msg, msg + len + 16)).equals(before))
      }
      assert.is(ex.aead_open(base, base + 32, 0, 0, base + 64, 15), 0)
    } finally {
      k.free(base)
    }
  })

  test(`${variant}: scratch grows for larger messages and survives memory.grow`, () => {
    const small = new Aead(k, { maxMessage: 16, maxAad: 0 })
    const rand = seededRandom(5)
    const key = bytes(rand, 32)
    const nonce = bytes(rand, 12)
    for (const [len, aadLen] of [[10, 0], [20, 5], [70000, 300], [100, 1]]) {
      const pt = bytes(rand, len)
      const ad = bytes(rand, aadLen)
      assert.ok(Buffer.from(small.seal(key, nonce, pt, ad)).equals(refSeal(key, nonce, pt, ad)))
    }
    // growing by one page detaches every view, without leaving megabytes of free heap behind
    // (other test files in this process expect their large tables to grow memory)
    const before = k.bytes()
    k.exports.memory.grow(1)
    assert.is(before.byteLength, 0)
    const pt = bytes(rand, 3000)
    const sealed = small.seal(key, nonce, pt)
    assert.ok(Buffer.from(sealed).equals(refSeal(key, nonce, pt, new Uint8Array(0))))
    assert.ok(Buffer.from(small.open(key, nonce, sealed)!).equals(pt))
    small.dispose()
  })

  test(`${variant}: batch seal/open equal single seal/open with the Noise nonce`, () => {
    const rand = seededRandom(6)
    const batch = new AeadBatch(k, 64)
    const key = bytes(rand, 32)
    batch.setKey(key)
    const lens = [0, 1, 15, 16, 17, 63, 64, 65, 100, 191, 192, 193, 256, 1000, 4096, 5000, 64, 64, 64, 64, 3]
    const total = lens.reduce((s, n) => s + n + 32, 0)
    const region = k.alloc(total)
    try {
      // across the 2^32 boundary, so both nonce words are exercised
      for (const counter of [0n, 7n, (1n << 32n) - 5n, (1n << 64n) - 2n - BigInt(lens.length)]) {
        const pts = lens.map((n) => bytes(rand, n))
        let p = region
        const ptrs: number[] = []
        for (let i = 0; i < lens.length; i++) {
          k.bytes().set(pts[i], p)
          batch.setRecord(i, p, lens[i])
          ptrs.push(p)
          p += lens[i] + 32
        }
        batch.seal(counter, lens.length)
        for (let i = 0; i < lens.length; i++) {
          const want = refSeal(key, noiseNonce(counter + BigInt(i)), pts[i], new Uint8Array(0))
          assert.ok(Buffer.from(k.bytes().subarray(ptrs[i], ptrs[i] + lens[i] + TAG_SIZE)).equals(want), `seal ${i}`)
          assert.ok(Buffer.from(want).equals(a.seal(key, noiseNonce(counter + BigInt(i)), pts[i])))
          batch.setRecord(i, ptrs[i], lens[i] + TAG_SIZE)
        }
        assert.is(batch.open(counter, lens.length), lens.length)
        for (let i = 0; i < lens.length; i++) {
          assert.ok(Buffer.from(k.bytes().subarray(ptrs[i], ptrs[i] + lens[i])).equals(pts[i]), `open ${i}`)
        }
      }
    } finally {
      k.free(region)
      batch.dispose()
    }
  })

  test(`${variant}: batch with AAD equals single seal/open`, () => {
    const rand = seededRandom(7)
    const batch = new AeadBatch(k, 16)
    const key = bytes(rand, 32)
    batch.setKey(key)
    const recs = [[0, 0], [10, 5], [64, 16], [200, 33], [1000, 0], [64, 300]]
    const region = k.alloc(4096)
    try {
      const counter = 1000n
      let p = region
      const items = recs.map(([len, aadLen], i) => {
        const pt = bytes(rand, len)
        const ad = bytes(rand, aadLen)
        const ptr = p
        const adPtr = p + len + 16
        p = adPtr + aadLen
        k.bytes().set(pt, ptr)
        k.bytes().set(ad, adPtr)
        batch.setRecordAd(i, ptr, len, adPtr, aadLen)
        return { pt, ad, ptr, adPtr }
      })
      batch.sealAd(counter, recs.length)
      items.forEach(({ pt, ad, ptr, adPtr }, i) => {
        const want = refSeal(key, noiseNonce(counter + BigInt(i)), pt, ad)
        assert.ok(Buffer.from(k.bytes().subarray(ptr, ptr + pt.length + 16)).equals(want), `sealAd ${i}`)
        batch.setRecordAd(i, ptr, pt.length + 16, adPtr, ad.length)
      })
      k.bytes()[items[4].adPtr - 1] ^= 1 // tag of record 4
      assert.is(batch.openAd(counter, recs.length), 4)
      items.slice(0, 4).forEach(({ pt, ptr }) => {
        assert.ok(Buffer.from(k.bytes().subarray(ptr, ptr + pt.length)).equals(pt))
      })
    } finally {
      k.free(region)
      batch.dispose()
    }
  })

  test(`${variant}: open_batch stops at a tampered record and reports the count`, () => {
    const rand = seededRandom(8)
    const batch = new AeadBatch(k, 16)
    const key = bytes(rand, 32)
    batch.setKey(key)
    const n = 10
    const region = k.alloc(n * 128)
    try {
      // 40-byte records go through the paired path of the SIMD build, 80-byte ones one by one
      for (const size of [40, 80]) {
        for (const bad of [0, 3, 8, 9]) {
          const pts = Array.from({ length: n }, () => bytes(rand, size))
          pts.forEach((pt, i) => {
            k.bytes().set(pt, region + i * 128)
            batch.setRecord(i, region + i * 128, size)
          })
          batch.seal(42, n)
          for (let i = 0; i < n; i++) batch.setRecord(i, region + i * 128, size + 16)
          k.bytes()[region + bad * 128 + (bad & 1 ? size + 3 : 5)] ^= 0x10 // ciphertext or tag
          const sealedAfter = k.bytes().slice(region + bad * 128, region + n * 128)
          assert.is(batch.open(42, n), bad)
          for (let i = 0; i < bad; i++) {
            assert.ok(Buffer.from(k.bytes().subarray(region + i * 128, region + i * 128 + size)).equals(pts[i]))
          }
          // the failing record and every later one are untouched
          assert.ok(Buffer.from(k.bytes().subarray(region + bad * 128, region + n * 128)).equals(sealedAfter))
        }
      }
      // a record shorter than a tag stops the batch too
      batch.setRecord(0, region, 15)
      assert.is(batch.open(0, 1), 0)
      // a wrong counter fails the first record
      const pt = bytes(rand, 30)
      k.bytes().set(pt, region)
      batch.setRecord(0, region, 30)
      batch.seal(5, 1)
      batch.setRecord(0, region, 46)
      assert.is(batch.open(6, 1), 0)
      assert.is(batch.open(5, 1), 1)
    } finally {
      k.free(region)
      batch.dispose()
    }
  })
}

test('p4net/crypto aead: round trip and node:crypto interop', () => {
  const rand = seededRandom(9)
  for (const len of [0, 1, 64, 1000, 20000]) {
    const key = bytes(rand, 32)
    const nonce = bytes(rand, 12)
    const pt = bytes(rand, len)
    const ad = bytes(rand, 20)
    const sealed = aead.seal(key, nonce, pt, ad)
    assert.ok(sealed instanceof Uint8Array)
    assert.is(sealed.length, len + 16)
    assert.ok(Buffer.from(sealed).equals(refSeal(key, nonce, pt, ad)))
    assert.ok(Buffer.from(aead.open(key, nonce, sealed, ad)!).equals(pt))
    assert.ok(Buffer.from(aead.open(key, nonce, refSeal(key, nonce, pt, new Uint8Array(0)))!).equals(pt))
    assert.is(aead.open(key, nonce, sealed), null) // AAD missing
  }
  // results are fresh arrays, not views of WASM memory
  const s1 = aead.seal(new Uint8Array(32), new Uint8Array(12), new Uint8Array(8))
  const s2 = aead.seal(new Uint8Array(32), new Uint8Array(12), new Uint8Array(8).fill(1))
  assert.is.not(toHex(s1), toHex(s2))
  assert.is(s1.buffer.byteLength, 24)
})

test('p4net/crypto aead: bad arguments throw BAD_ARGUMENT; short sealed gives null', () => {
  const key = new Uint8Array(32)
  const nonce = new Uint8Array(12)
  const pt = new Uint8Array(5)
  const sealed = aead.seal(key, nonce, pt)
  const bad: Array<() => unknown> = [
    () => aead.seal(new Uint8Array(31), nonce, pt),
    () => aead.seal(new Uint8Array(33), nonce, pt),
    () => aead.seal(key, new Uint8Array(11), pt),
    () => aead.seal(key, new Uint8Array(13), pt),
    () => aead.seal('k'.repeat(32) as unknown as Uint8Array, nonce, pt),
    () => aead.seal(Array.from(key) as unknown as Uint8Array, nonce, pt),
    () => aead.seal(key, nonce, 'hello' as unknown as Uint8Array),
    () => aead.seal(key, nonce, pt, 'ad' as unknown as Uint8Array),
    () => aead.seal(key, nonce, undefined as unknown as Uint8Array),
    () => aead.open(new Uint8Array(16), nonce, sealed),
    () => aead.open(key, new Uint8Array(8), sealed),
    () => aead.open(key, nonce, null as unknown as Uint8Array),
    () => aead.open(key, nonce, sealed, 7 as unknown as Uint8Array),
  ]
  for (const fn of bad) throwsCode(fn, 'BAD_ARGUMENT')
  assert.is(aead.open(key, nonce, new Uint8Array(15)), null)
  assert.is(aead.open(key, nonce, new Uint8Array(0)), null)
  assert.ok(aead.open(key, nonce, sealed, null))
  assert.ok(aead.open(Buffer.from(key), Buffer.from(nonce), Buffer.from(sealed)))
})

test('AeadBatch: bad counts and exhausted nonces', () => {
  const batch = new AeadBatch(aeadFor().kernel, 4)
  try {
    throwsCode(() => batch.setKey(new Uint8Array(16)), 'BAD_ARGUMENT')
    throwsCode(() => batch.seal(0, 5), 'BAD_ARGUMENT')
    throwsCode(() => batch.open(0, -1), 'BAD_ARGUMENT')
    throwsCode(() => batch.seal(-1, 1), 'BAD_ARGUMENT')
    throwsCode(() => batch.seal(1.5, 1), 'BAD_ARGUMENT')
    throwsCode(() => batch.seal((1n << 64n) - 1n, 1), 'NONCE_EXHAUSTED')
    throwsCode(() => batch.open((1n << 64n) - 3n, 3), 'NONCE_EXHAUSTED')
    throwsCode(() => new AeadBatch(aeadFor().kernel, 0), 'BAD_ARGUMENT')
    batch.seal(0, 0)
    assert.is(batch.open(0, 0), 0)
  } finally {
    batch.dispose()
  }
})

test.run()
