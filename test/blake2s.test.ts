import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { createHash, createHmac } from 'node:crypto'
import { Blake2s } from '../ts/wasm/blake2s.js'
import { createKernel, loadKernel, simdSupported, type Variant } from '../ts/wasm/loader.js'
import { seededRandom } from '../common/random.js'

// The reference: node:crypto's (OpenSSL's) BLAKE2s-256 and HMAC over it.
const VARIANTS: Variant[] = simdSupported() ? ['simd', 'scalar'] : ['scalar']
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const refHash = (...parts: Uint8Array[]): string => parts.reduce((h, p) => h.update(p), createHash('blake2s256')).digest('hex')
const refHmac = (key: Uint8Array, ...parts: Uint8Array[]): string => parts.reduce((h, p) => h.update(p), createHmac('blake2s256', key)).digest('hex')

function bytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0
  return b
}

test('node:crypto has the reference (blake2s256)', () => {
  // RFC 7693 Appendix B: BLAKE2s-256("abc").
  assert.is(refHash(new TextEncoder().encode('abc')), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982')
})

for (const variant of VARIANTS) {
  const b2 = new Blake2s(loadKernel(variant))

  test(`${variant}: RFC 7693 "abc" and the empty input`, () => {
    assert.is(toHex(b2.hash(new TextEncoder().encode('abc'))), '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982')
    assert.is(toHex(b2.hash(new Uint8Array(0))), '69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9')
  })

  test(`${variant}: hash(a, b) equals node:crypto over every split around the block size`, () => {
    const rand = seededRandom(7)
    for (let total = 0; total <= 200; total++) {
      const all = bytes(rand, total)
      const want = refHash(all)
      for (const cut of new Set([0, 1, 63, 64, 65, 128, total >> 1, total])) {
        if (cut > total) continue
        assert.is(toHex(b2.hash(all.subarray(0, cut), all.subarray(cut))), want, `${total} bytes cut at ${cut}`)
      }
      assert.is(toHex(b2.hash(all)), want, `${total} bytes, one part`)
    }
  })

  test(`${variant}: hmac(key, a, b) equals node:crypto's HMAC for keys of 0 to 130 bytes`, () => {
    const rand = seededRandom(11)
    for (let keyLen = 0; keyLen <= 130; keyLen++) {
      const key = bytes(rand, keyLen)
      const a = bytes(rand, (keyLen * 3) % 97)
      const b = bytes(rand, keyLen % 40)
      assert.is(toHex(b2.hmac(key, a, b)), refHmac(key, a, b), `key ${keyLen} bytes`)
      assert.is(toHex(b2.hmac(key, a)), refHmac(key, a), `key ${keyLen} bytes, one part`)
    }
  })

  test(`${variant}: a 64 KiB input grows the scratch region (and memory) and still hashes right`, () => {
    const k = createKernel(variant)
    const own = new Blake2s(k)
    const big = bytes(seededRandom(3), 65535)
    const before = k.exports.memory.buffer.byteLength
    // Fill the module first, so the scratch region must come from grown memory.
    k.alloc(before)
    assert.is(toHex(own.hash(big, big)), refHash(big, big))
    assert.is(toHex(own.hmac(big, big)), refHmac(big, big))
    assert.ok(k.exports.memory.buffer.byteLength > before, 'memory grew')
    assert.is(toHex(own.hash(new Uint8Array([1, 2, 3]))), refHash(new Uint8Array([1, 2, 3])))
  })
}

test.run()
