import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { readFileSync } from 'node:fs'
import { createHMAC, createBLAKE2s } from 'hash-wasm'
import fc from 'fast-check'
import { isP4Error } from '../ts/core/errors.js'
import { aead as defaultWasmAead } from '../ts/crypto.js'
import { aeadFor } from '../ts/wasm/aead.js'
import { loadKernel, simdSupported } from '../ts/wasm/loader.js'
import {
  CipherState,
  getDefaultAead,
  HandshakeState,
  hkdf2,
  initNoise,
  nodeAead,
  noiseHash,
  x25519KeyPair,
  type Aead,
  type NoiseHashName,
} from '../ts/session/noise.js'

// ../shared/vectors beside the repository; from dist/test that is three levels up.
// A missing file must fail the run, never skip it.
const VECTORS = new URL('../../../shared/vectors/noise-cacophony.json', import.meta.url)

interface Vector {
  protocol_name: string
  init_prologue: string
  init_static: string
  init_ephemeral: string
  resp_prologue: string
  resp_static: string
  resp_ephemeral: string
  handshake_hash: string
  messages: { payload: string; ciphertext: string }[]
}

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const EMPTY = new Uint8Array(0)

const aeads: [string, Aead][] = [
  ['wasm default', defaultWasmAead],
  ['wasm scalar', aeadFor(loadKernel('scalar'))],
  ['node:crypto', nodeAead],
]
if (simdSupported()) aeads.push(['wasm simd', aeadFor(loadKernel('simd'))])

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (e) {
    return isP4Error(e) ? e.code : `not a P4Error: ${String(e)}`
  }
  return undefined
}

test.before(async () => {
  await initNoise()
})

test('the default AEAD is the WebAssembly one from ts/crypto.ts', () => {
  assert.is(getDefaultAead(), defaultWasmAead)
})

test('vectors file has both XX entries we must match', () => {
  const all = JSON.parse(readFileSync(VECTORS, 'utf8')).vectors as Vector[]
  const names = all.map((v) => v.protocol_name)
  assert.ok(names.includes('Noise_XX_25519_ChaChaPoly_BLAKE2s'))
  assert.ok(names.includes('Noise_XX_25519_ChaChaPoly_SHA256'))
})

for (const name of ['BLAKE2s', 'SHA256'] as NoiseHashName[]) {
  for (const [aeadName, aead] of aeads) {
    test(`cacophony Noise_XX_25519_ChaChaPoly_${name} byte for byte (${aeadName})`, () => {
      const all = JSON.parse(readFileSync(VECTORS, 'utf8')).vectors as Vector[]
      const v = all.find((x) => x.protocol_name === `Noise_XX_25519_ChaChaPoly_${name}`)
      assert.ok(v, 'vector present')
      const hash = noiseHash(name)
      // Each side with the vector's prologue and fixed static and ephemeral keys.
      const side = (initiator: boolean): HandshakeState => {
        const [prologue, s, e] = initiator ? [v.init_prologue, v.init_static, v.init_ephemeral] : [v.resp_prologue, v.resp_static, v.resp_ephemeral]
        return new HandshakeState({ initiator, hash, aead, prologue: hex(prologue), s: x25519KeyPair(hex(s)), e: x25519KeyPair(hex(e)) })
      }
      const init = side(true)
      const resp = side(false)
      assert.is(init.protocolName, v.protocol_name)
      assert.ok(v.messages.length > 3, 'handshake and transport messages')
      let c1i: CipherState | undefined, c2i: CipherState | undefined
      let c1r: CipherState | undefined, c2r: CipherState | undefined
      // Cacophony alternates senders over all messages: 0, 2, 4 … from the
      // initiator, 1, 3, 5 … from the responder, handshake and transport alike.
      v.messages.forEach((m, i) => {
        const fromInitiator = i % 2 === 0
        let sent: Uint8Array
        let got: Uint8Array
        if (i < 3) {
          const [w, r] = fromInitiator ? [init, resp] : [resp, init]
          assert.ok(w.writing && !r.writing)
          sent = w.writeMessage(hex(m.payload))
          got = r.readMessage(sent)
          if (i === 2) {
            assert.ok(init.finished && resp.finished)
            assert.is(toHex(init.handshakeHash), v.handshake_hash, 'initiator handshake hash')
            assert.is(toHex(resp.handshakeHash), v.handshake_hash, 'responder handshake hash')
            assert.is(toHex(init.remoteStaticKey!), toHex(x25519KeyPair(hex(v.resp_static)).publicKey))
            assert.is(toHex(resp.remoteStaticKey!), toHex(x25519KeyPair(hex(v.init_static)).publicKey))
            ;[c1i, c2i] = init.split()
            ;[c1r, c2r] = resp.split()
          }
        } else {
          const [w, r] = fromInitiator ? [c1i!, c1r!] : [c2r!, c2i!]
          sent = w.encryptWithAd(EMPTY, hex(m.payload))
          got = r.decryptWithAd(EMPTY, sent)
        }
        assert.is(toHex(sent), m.ciphertext, `message ${i} ciphertext`)
        assert.is(toHex(got), m.payload, `message ${i} payload`)
      })
    })
  }
}

test('BLAKE2s HMAC matches hash-wasm createHMAC, short and long keys', async () => {
  const mine = noiseHash('BLAKE2s')
  for (const keyLen of [0, 32, 64, 65, 200]) {
    const key = new Uint8Array(keyLen).map((_, i) => (i * 7 + keyLen) & 0xff)
    const data = new Uint8Array(300).map((_, i) => i & 0xff)
    const ref = await createHMAC(createBLAKE2s(256), key)
    ref.init().update(data)
    assert.is(toHex(mine.hmac(key, data.subarray(0, 100), data.subarray(100))), ref.digest('hex'), `key ${keyLen}`)
  }
})

test('HKDF (SHA256) follows the Noise definition', () => {
  const h = noiseHash('SHA256')
  const ck = new Uint8Array(32).fill(1)
  const ikm = new Uint8Array(32).fill(2)
  const temp = h.hmac(ck, ikm)
  const o1 = h.hmac(temp, new Uint8Array([1]))
  const o2 = h.hmac(temp, new Uint8Array([...o1, 2]))
  const [a, b] = hkdf2(h, ck, ikm)
  assert.is(toHex(a), toHex(o1))
  assert.is(toHex(b), toHex(o2))
})

test('CipherState: nonce is 4 zero bytes || LE u64 n; n advances', () => {
  const key = new Uint8Array(32).fill(9)
  const cs = new CipherState(key, nodeAead)
  cs.setNonce(0x0102030405060708n)
  const ad = new Uint8Array([1, 2, 3])
  const pt = new Uint8Array([4, 5, 6, 7])
  const ct = cs.encryptWithAd(ad, pt)
  const nonce = hex('000000000807060504030201')
  assert.is(toHex(ct), toHex(nodeAead.seal(key, nonce, pt, ad)))
  assert.is(cs.n, 0x0102030405060709n)
  // Carry from the low 32 bits into the high ones.
  cs.setNonce(0xffffffffn)
  cs.encryptWithAd(ad, pt)
  assert.is(cs.n, 0x100000000n)
  // No key: plaintext passes through.
  const none = new CipherState(null, nodeAead)
  assert.is(none.encryptWithAd(ad, pt), pt)
  assert.not.ok(none.hasKey())
})

test('CipherState: refuses to use nonce 2^64-1 (NONCE_EXHAUSTED), both ways', () => {
  const key = new Uint8Array(32).fill(3)
  const a = new CipherState(key, nodeAead)
  const b = new CipherState(key, nodeAead)
  a.setNonce(0xfffffffffffffffen)
  b.setNonce(0xfffffffffffffffen)
  const ct = a.encryptWithAd(EMPTY, new Uint8Array([1]))
  assert.equal(b.decryptWithAd(EMPTY, ct), new Uint8Array([1]))
  assert.is(codeOf(() => a.encryptWithAd(EMPTY, new Uint8Array([1]))), 'NONCE_EXHAUSTED')
  assert.is(codeOf(() => b.decryptWithAd(EMPTY, ct)), 'NONCE_EXHAUSTED')
  assert.is(codeOf(() => a.setNonce(1n << 64n)), 'BAD_ARGUMENT')
  assert.is(codeOf(() => a.setNonce(-1n)), 'BAD_ARGUMENT')
})

test('CipherState: a failed decryption is DECRYPT_FAILED and leaves n alone', () => {
  const key = new Uint8Array(32).fill(4)
  const a = new CipherState(key)
  const b = new CipherState(key)
  const ct = a.encryptWithAd(EMPTY, new Uint8Array([1, 2, 3]))
  const bad = new Uint8Array(ct)
  bad[0]! ^= 1
  assert.is(codeOf(() => b.decryptWithAd(EMPTY, bad)), 'DECRYPT_FAILED')
  assert.is(codeOf(() => b.decryptWithAd(EMPTY, new Uint8Array(5))), 'DECRYPT_FAILED')
  assert.is(b.n, 0n)
  assert.equal(b.decryptWithAd(EMPTY, ct), new Uint8Array([1, 2, 3]))
  assert.is(codeOf(() => new CipherState(new Uint8Array(31))), 'BAD_ARGUMENT')
  assert.is(codeOf(() => new CipherState(null, {} as Aead)), 'BAD_ARGUMENT')
})

test('CipherState: rekey is ENCRYPT(k, 2^64-1, empty, zeros)[0:32] and keeps n', () => {
  const key = new Uint8Array(32).fill(5)
  const cs = new CipherState(key, nodeAead)
  cs.setNonce(7n)
  cs.rekey()
  const expected = nodeAead.seal(key, hex('00000000ffffffffffffffff'), new Uint8Array(32), EMPTY).subarray(0, 32)
  assert.is(toHex(cs.key!), toHex(expected))
  assert.is(cs.n, 7n)
})

function pair(hash: NoiseHashName, prologueA = EMPTY, prologueB = EMPTY): [HandshakeState, HandshakeState] {
  const h = noiseHash(hash)
  return [
    new HandshakeState({ initiator: true, hash: h, s: x25519KeyPair(), prologue: prologueA }),
    new HandshakeState({ initiator: false, hash: h, s: x25519KeyPair(), prologue: prologueB }),
  ]
}

test('random payloads round-trip through full handshakes (fast-check, fixed seed)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<NoiseHashName>('BLAKE2s', 'SHA256'),
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }),
      fc.uint8Array({ maxLength: 200 }),
      (hash, p1, p2, p3) => {
        const [i, r] = pair(hash)
        assert.equal(r.readMessage(i.writeMessage(p1)), p1)
        assert.equal(i.readMessage(r.writeMessage(p2)), p2)
        assert.equal(r.readMessage(i.writeMessage(p3)), p3)
        const [ki1, ki2] = i.splitKeys()
        const [kr1, kr2] = r.splitKeys()
        assert.is(toHex(ki1), toHex(kr1))
        assert.is(toHex(ki2), toHex(kr2))
        assert.is.not(toHex(ki1), toHex(ki2))
        assert.is(toHex(i.handshakeHash), toHex(r.handshakeHash))
      },
    ),
    { seed: 4242, numRuns: 60 },
  )
})

test('handshake failures: tampering, prologue mismatch, misuse, low-order keys', () => {
  // Any flipped byte in message 2 or 3 is caught.
  for (const which of [1, 2]) {
    for (const at of [0, 40, 90]) {
      const [i, r] = pair('BLAKE2s')
      const m1 = i.writeMessage()
      r.readMessage(m1)
      const m2 = r.writeMessage(new Uint8Array(10))
      if (which === 1) {
        m2[at % m2.length]! ^= 0x20
        const code = codeOf(() => i.readMessage(m2))
        assert.is(code, 'BAD_HANDSHAKE', `message 2 byte ${at}`)
        assert.is(codeOf(() => i.readMessage(m2)), 'BAD_HANDSHAKE', 'stays failed')
        continue
      }
      i.readMessage(m2)
      const m3 = i.writeMessage(new Uint8Array(10))
      m3[at % m3.length]! ^= 0x20
      assert.is(codeOf(() => r.readMessage(m3)), 'BAD_HANDSHAKE', `message 3 byte ${at}`)
    }
  }
  // Different prologues: the responder's message 2 does not decrypt.
  {
    const [i, r] = pair('SHA256', new Uint8Array([1]), new Uint8Array([2]))
    r.readMessage(i.writeMessage())
    assert.is(codeOf(() => i.readMessage(r.writeMessage())), 'BAD_HANDSHAKE')
  }
  // Different hashes do not interoperate.
  {
    const i = new HandshakeState({ initiator: true, hash: noiseHash('SHA256'), s: x25519KeyPair() })
    const r = new HandshakeState({ initiator: false, hash: noiseHash('BLAKE2s'), s: x25519KeyPair() })
    r.readMessage(i.writeMessage())
    assert.is(codeOf(() => i.readMessage(r.writeMessage())), 'BAD_HANDSHAKE')
  }
  // Truncated messages.
  {
    const [i, r] = pair('BLAKE2s')
    assert.is(codeOf(() => r.readMessage(i.writeMessage().subarray(0, 31))), 'BAD_HANDSHAKE')
  }
  // A low-order ephemeral key (all zeros) makes X25519 fail: refused.
  {
    const [, r] = pair('BLAKE2s')
    r.readMessage(new Uint8Array(32))
    assert.is(codeOf(() => r.writeMessage()), 'BAD_HANDSHAKE')
  }
  // Out of turn, twice, after the end, before the end.
  {
    const [i, r] = pair('BLAKE2s')
    assert.is(codeOf(() => r.writeMessage()), 'BAD_ARGUMENT')
    assert.is(codeOf(() => i.readMessage(new Uint8Array(32))), 'BAD_ARGUMENT')
    assert.is(codeOf(() => i.splitKeys()), 'BAD_ARGUMENT')
    r.readMessage(i.writeMessage())
    i.readMessage(r.writeMessage())
    r.readMessage(i.writeMessage())
    assert.is(codeOf(() => i.writeMessage()), 'BAD_ARGUMENT')
  }
  // Too large for Noise.
  {
    const [i] = pair('BLAKE2s')
    assert.is(codeOf(() => i.writeMessage(new Uint8Array(65535))), 'MESSAGE_TOO_LARGE')
  }
  assert.is(codeOf(() => noiseHash('MD5' as NoiseHashName)), 'BAD_ARGUMENT')
  assert.is(codeOf(() => new HandshakeState({} as never)), 'BAD_ARGUMENT')
  assert.is(codeOf(() => x25519KeyPair(new Uint8Array(5))), 'BAD_ARGUMENT')
})

test.run()
