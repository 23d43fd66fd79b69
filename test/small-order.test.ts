// Small-order Ed25519 public keys. node:crypto
// accepts them, and with one a signature over any message can be forged
// without a secret. These tests derive the small-order encodings from the
// curve, show the forgery against node:crypto itself, and check that every
// place p4net takes an Ed25519 key from outside refuses them.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { createPublicKey, randomBytes, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { isP4Error, P4Error } from '../ts/core/errors.js'
import { ed25519KeyFlaw, ed25519PublicKey, generateIdentity, sign, SMALL_ORDER_Y_HEX, verify } from '../ts/core/identity.js'
import { buildSignedFrame, verifySignedParts } from '../ts/overlay/signing.js'
import { Flag, HEADER_SIZE, MsgType } from '../ts/core/protocol.js'
import { AllowlistPolicy } from '../ts/overlay/trust-allowlist.js'
import { AuthorityPolicy, decodeCertificate, issueCertificate } from '../ts/overlay/trust-authority.js'
import { parseKey } from '../ts/overlay/trust-policy.js'
import { parseTrustConfig } from '../ts/overlay/trust.js'
import { acceptSession, initiateSession, type HandshakeResult } from '../ts/session/handshake.js'
import { decodePayload, encodePayload, LinkIntent, staticKeyStatement } from '../ts/session/handshake-payload.js'
import { initNoise, type DhKeyPair } from '../ts/session/noise.js'
import { MemoryNetwork } from '../ts/transport/memory.js'
import { rogueInitiator, rogueResponder } from './helpers/rogue.js'
import { throwsCode } from './helpers/errors.js'

// ---------------------------------------------------------------------------
// edwards25519 in BigInt: -x^2 + y^2 = 1 + d x^2 y^2 over GF(p), extended
// coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, xy = T/Z (Hisil et al. 2008, a = -1).

const P = 2n ** 255n - 19n
const L = 2n ** 252n + 27742317777372353535851937790883648493n // prime order of the base point
const mod = (a: bigint): bigint => ((a % P) + P) % P
function pow(b: bigint, e: bigint): bigint {
  let r = 1n
  b = mod(b)
  for (; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) r = (r * b) % P
  return r
}
const inv = (a: bigint): bigint => pow(a, P - 2n)
const D = mod(-121665n * inv(121666n))
const SQRT_M1 = pow(2n, (P - 1n) / 4n)

type Ext = [bigint, bigint, bigint, bigint]
const fromAffine = (x: bigint, y: bigint): Ext => [x, y, 1n, mod(x * y)]
const ZERO: Ext = fromAffine(0n, 1n)
function add([X1, Y1, Z1, T1]: Ext, [X2, Y2, Z2, T2]: Ext): Ext {
  const A = mod((Y1 - X1) * (Y2 - X2))
  const B = mod((Y1 + X1) * (Y2 + X2))
  const C = mod(2n * D * T1 * T2)
  const Dd = mod(2n * Z1 * Z2)
  const E = B - A
  const F = Dd - C
  const G = Dd + C
  const H = B + A
  return [mod(E * F), mod(G * H), mod(F * G), mod(E * H)]
}
function mul(k: bigint, pt: Ext): Ext {
  let r = ZERO
  for (let q = pt; k > 0n; k >>= 1n, q = add(q, q)) if (k & 1n) r = add(r, q)
  return r
}
function affine([X, Y, Z]: Ext): [bigint, bigint] {
  const zi = inv(Z)
  return [mod(X * zi), mod(Y * zi)]
}
const isZero = (pt: Ext): boolean => {
  const [x, y] = affine(pt)
  return x === 0n && y === 1n
}
/** The x with the given sign bit for y, or undefined when y is on no point (RFC 8032 5.1.3). */
function xFor(y: bigint, sign: number): bigint | undefined {
  const u = mod(y * y - 1n)
  const v = mod(D * y * y + 1n)
  const x2 = mod(u * inv(v))
  let x = pow(x2, (P + 3n) / 8n)
  if (mod(x * x - x2) !== 0n) x = mod(x * SQRT_M1)
  if (mod(x * x - x2) !== 0n) return undefined
  return (Number(x & 1n) === sign || x === 0n) ? x : P - x
}
function encode(y: bigint, sign: number): string {
  const b = Buffer.alloc(32)
  for (let i = 0, v = y; i < 32; i++, v >>= 8n) b[i] = Number(v & 0xffn)
  if (sign) b[31]! |= 0x80
  return b.toString('hex')
}
const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'))

/**
 * The 8 points of order dividing 8: the curve group is Z/8 x Z/L, so [L]Q
 * lands in the 8-torsion for any Q; the first of order exactly 8 generates it.
 */
function torsionPoints(): [bigint, bigint][] {
  for (let y = 2n; ; y++) {
    const x = xFor(y, 0)
    if (x === undefined) continue
    const t = mul(L, fromAffine(x, y))
    if (isZero(mul(4n, t))) continue // order 1, 2 or 4: not a generator
    assert.ok(isZero(mul(8n, t)), '[8][L]Q is the identity')
    return Array.from({ length: 8 }, (_, i) => affine(mul(BigInt(i), t)))
  }
}

/**
 * Every 32-byte string a lenient decoder (like OpenSSL's, which ignores
 * y >= p and the sign of x = 0) reads as a small-order point: y and its alias
 * y + p where that fits in 255 bits, with either sign bit.
 */
function smallOrderEncodings(): Set<string> {
  const out = new Set<string>()
  for (const [, y] of torsionPoints()) {
    for (const yy of [y, y + P]) if (yy < 2n ** 255n) for (const s of [0, 1]) out.add(encode(yy, s))
  }
  return out
}

const SMALL = [...smallOrderEncodings()]
const IDENTITY_POINT = bytes(encode(1n, 0)) // 01 00 .. 00

/** node:crypto, untouched by p4net: the raw Ed25519 KeyObject for these bytes. */
const rawKey = (k: Uint8Array): KeyObject =>
  createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(k).toString('base64url') }, format: 'jwk' })

/**
 * A signature over `msg` by small-order key `k` made without any secret:
 * R = a small-order point, S = 0; it verifies whenever R + [H(R,A,M)]A is the
 * identity, which for A = 01 00..00 and R = 01 00..00 is always. Undefined if
 * no R works for this message (try another one).
 */
function forge(k: Uint8Array, msg: Uint8Array): Uint8Array | undefined {
  const key = rawKey(k)
  for (const r of SMALL) {
    const sig = Buffer.concat([bytes(r), Buffer.alloc(32)])
    if (cryptoVerify(null, msg, key, sig)) return new Uint8Array(sig)
  }
  return undefined
}

// ---------------------------------------------------------------------------

test('the curve arithmetic is right: [L]B is the identity for the base point', () => {
  const by = mod(4n * inv(5n))
  const B = fromAffine(xFor(by, 0)!, by)
  assert.ok(isZero(mul(L, B)))
  assert.not.ok(isZero(mul(L - 1n, B)))
})

test('the blocklist is exactly the 14 encodings of the 8 torsion points (derived, not copied)', () => {
  const pts = torsionPoints()
  assert.is(new Set(pts.map(([x, y]) => `${x},${y}`)).size, 8, '8 distinct points')
  for (const [x, y] of pts) assert.ok(isZero(mul(8n, fromAffine(x, y))), 'order divides 8')
  const fromList = new Set<string>()
  for (const h of SMALL_ORDER_Y_HEX) {
    const b = bytes(h)
    assert.is(b[31]! & 0x80, 0, 'listed with the sign bit clear')
    fromList.add(h)
    b[31]! |= 0x80
    fromList.add(Buffer.from(b).toString('hex'))
  }
  assert.is(SMALL.length, 14)
  assert.equal([...fromList].sort(), [...SMALL].sort())
})

test('node:crypto alone verifies forged signatures under small-order keys (the attack)', () => {
  // Key 01 00..00, R = 01 00..00, S = 0: every message "verifies".
  const sig = Buffer.concat([IDENTITY_POINT, Buffer.alloc(32)])
  for (let i = 0; i < 20; i++) assert.ok(cryptoVerify(null, randomBytes(1 + i * 7), rawKey(IDENTITY_POINT), sig))
  // Every one of the 14 encodings imports, and forges for some messages.
  for (const h of SMALL) {
    let forged = 0
    for (let i = 0; i < 16; i++) if (forge(bytes(h), randomBytes(40))) forged++
    assert.ok(forged > 0, `${h}: forged ${forged}/16`)
  }
})

test('ed25519KeyFlaw: the 14 small-order encodings, non-canonical y >= p, and nothing else', () => {
  for (const h of SMALL) assert.match(ed25519KeyFlaw(bytes(h)) ?? '', /small-order/, h)
  // y + p for y = 2..18: non-canonical (the ones not already small-order), either sign.
  for (let y = 2n; y < 19n; y++) {
    for (const s of [0, 1]) assert.match(ed25519KeyFlaw(bytes(encode(y + P, s))) ?? '', /non-canonical/, String(y))
  }
  // Just below p, and keys next to the listed ones, are fine.
  assert.is(ed25519KeyFlaw(bytes(encode(P - 2n, 0))), undefined)
  assert.is(ed25519KeyFlaw(bytes(encode(2n, 0))), undefined)
  for (const h of SMALL_ORDER_Y_HEX) {
    const b = bytes(h)
    b[5] ^= 0x10
    assert.is(ed25519KeyFlaw(b), undefined, `near ${h}`)
  }
  for (let i = 0; i < 200; i++) assert.is(ed25519KeyFlaw(generateIdentity().publicKey), undefined)
  throwsCode(() => ed25519KeyFlaw(new Uint8Array(31)), 'BAD_ARGUMENT', 'short key')
})

test('ed25519PublicKey throws BAD_ARGUMENT for each small-order or non-canonical key', () => {
  for (const h of SMALL) throwsCode(() => ed25519PublicKey(bytes(h)), 'BAD_ARGUMENT', h, /small-order/)
  throwsCode(() => ed25519PublicKey(bytes(encode(P + 2n, 0))), 'BAD_ARGUMENT', 'y = p + 2', /non-canonical/)
  const id = generateIdentity()
  assert.is(ed25519PublicKey(id.publicKey).asymmetricKeyType, 'ed25519')
})

test('verify() rejects every forged signature that node:crypto accepts', () => {
  const sig = new Uint8Array(Buffer.concat([IDENTITY_POINT, Buffer.alloc(32)]))
  for (let i = 0; i < 5; i++) assert.not.ok(verify(IDENTITY_POINT, randomBytes(30), sig))
  for (const h of SMALL) {
    const k = bytes(h)
    let tried = 0
    for (let i = 0; i < 64 && tried < 3; i++) {
      const msg = randomBytes(50)
      const forged = forge(k, msg)
      if (!forged) continue
      tried++
      assert.not.ok(verify(k, msg, forged), h)
      assert.not.ok(verify(k, msg, forged), `${h}, from the key cache`)
    }
    assert.ok(tried > 0, `${h}: found a forgery to try`)
  }
  // Honest keys still verify.
  const id = generateIdentity()
  assert.ok(verify(id.publicKey, Buffer.from('m'), sign(id, Buffer.from('m'))))
})

test('verifySignedParts refuses forged HELLO, DISCOVER and broadcast DATA frames by small-order origins', () => {
  const someone = generateIdentity()
  const kinds = [
    { type: MsgType.HELLO, flags: Flag.BROADCAST },
    { type: MsgType.DISCOVER, flags: 0 },
    { type: MsgType.DATA, flags: Flag.BROADCAST, pluginId: 7 },
  ]
  for (const h of SMALL) {
    for (const kind of kinds) {
      // A real frame shape, then the origin block swapped for the small-order
      // key and a forged signature; messageId is ground until node:crypto takes it.
      let done = false
      for (let id = 1n; id < 200n && !done; id++) {
        const frame = buildSignedFrame(someone, { ...kind, messageId: id, body: new TextEncoder().encode('I am someone else') })
        frame.set(bytes(h), HEADER_SIZE)
        const header = frame.subarray(0, HEADER_SIZE)
        const payload = frame.subarray(HEADER_SIZE)
        const signed = Buffer.concat([Buffer.from('p4net/2 msg\0'), header, payload.subarray(96)])
        signed[12 + 3] = 0 // hops
        const sig = forge(bytes(h), signed)
        if (!sig) continue
        frame.set(sig, HEADER_SIZE + 32)
        assert.ok(cryptoVerify(null, signed, rawKey(bytes(h)), sig), 'node:crypto accepts the forgery')
        const r = verifySignedParts(header, payload)
        assert.is(r.ok, false, `${h} type ${kind.type}`)
        done = true
      }
      assert.ok(done, `${h} type ${kind.type}: a forgery was found`)
    }
  }
})

test('decodePayload refuses a small-order identity key with BAD_PAYLOAD', () => {
  for (const h of SMALL) {
    const payload = encodePayload({
      identityKey: bytes(h),
      signature: new Uint8Array(64),
      username: 'mallory',
      listenPort: 0,
      intent: LinkIntent.OVERLAY,
      features: 0,
      extension: new Uint8Array(0),
    })
    throwsCode(() => decodePayload(payload), 'BAD_PAYLOAD', h, /identity key is a small-order point/)
  }
})

test('parseKey and the trust configs refuse small-order keys in every form (BAD_OPTION)', () => {
  for (const h of SMALL) {
    const k = bytes(h)
    for (const form of [k, h, h.toUpperCase(), Buffer.from(k).toString('base64'), Buffer.from(k).toString('base64url')]) {
      throwsCode(() => parseKey(form, 'authorityKey'), 'BAD_OPTION', h, /authorityKey .* small-order/)
    }
    throwsCode(() => new AllowlistPolicy([generateIdentity().publicKey, h]), 'BAD_OPTION', `allowlist ${h}`)
    throwsCode(() => new AllowlistPolicy([{ key: k, username: 'x' }]), 'BAD_OPTION', `allowlist entry ${h}`)
    throwsCode(() => new AuthorityPolicy({ authorityKey: k }), 'BAD_OPTION', `authority ${h}`)
    throwsCode(() => parseTrustConfig({ policy: 'authority', authorityKey: h }), 'BAD_OPTION', `config ${h}`)
  }
  throwsCode(() => parseKey(encode(P + 3n, 1)), 'BAD_OPTION', 'non-canonical', /non-canonical/)
  const good = generateIdentity().publicKey
  assert.equal(parseKey(Buffer.from(good).toString('hex')), good)
})

test('decodeCertificate refuses a certified small-order key (BAD_PAYLOAD); the authority policy refuses it', () => {
  const authority = generateIdentity()
  const T0 = 1_700_000_000_000
  const policy = new AuthorityPolicy({ authorityKey: authority.publicKey, now: () => T0 })
  for (const h of SMALL) {
    const cert = issueCertificate(authority, 'mallory', bytes(h), { notBefore: T0, notAfter: T0 + 1000 })
    throwsCode(() => decodeCertificate(cert), 'BAD_PAYLOAD', h, /identity key is a small-order point/)
    throwsCode(() => policy.check('mallory', bytes(h), cert), 'UNTRUSTED_KEY', h, /small-order/)
  }
  const ok = generateIdentity().publicKey
  decodeCertificate(issueCertificate(authority, 'a', ok, { notBefore: T0, notAfter: T0 }))
})

// ---------------------------------------------------------------------------
// the handshake: a peer whose identity key is small order, with the forged
// static-key signature that node:crypto would accept (as in test/handshake.test.ts).

async function rejection(p: Promise<unknown>): Promise<P4Error> {
  try {
    await p
  } catch (err) {
    assert.ok(isP4Error(err), `expected a P4Error, got ${String(err)}`)
    return err
  }
  assert.unreachable('the handshake succeeded with a small-order identity key')
  throw new Error('unreachable')
}

test.before(async () => {
  await initNoise()
})

test('handshake: a peer with a small-order identity key is refused (BAD_PAYLOAD), both roles', async () => {
  const net = new MemoryNetwork()
  const t = net.transport()
  const honest = { identity: generateIdentity(), username: 'bob' }
  const mallory = generateIdentity() // only her Noise static key is real
  const s: DhKeyPair = { publicKey: mallory.staticPublicKey, keyObject: mallory.staticKey }
  const statement = staticKeyStatement(mallory.staticPublicKey)
  const payload = encodePayload({
    identityKey: IDENTITY_POINT,
    signature: forge(IDENTITY_POINT, statement)!,
    username: 'alice',
    listenPort: 0,
    intent: LinkIntent.OVERLAY,
    features: 0,
    extension: new Uint8Array(0),
  })
  assert.ok(cryptoVerify(null, statement, rawKey(IDENTITY_POINT), Buffer.from(payload.subarray(32, 96))), 'node:crypto takes the binding')

  // Mallory dials.
  let accepted!: Promise<HandshakeResult>
  const l = await t.listen('127.0.0.1', 0, (c) => {
    accepted = acceptSession(c, honest)
    accepted.catch(() => {})
  })
  const raw = await t.dial('127.0.0.1', l.address.port)
  raw.on('data', () => {})
  rogueInitiator(raw, s, payload).catch(() => {})
  const e1 = await rejection(accepted)
  assert.is(e1.code, 'BAD_PAYLOAD', e1.message)
  assert.match(e1.message, /small-order/)
  await l.close()

  // Mallory answers.
  const l2 = await t.listen('127.0.0.1', 0, (c) => {
    c.on('data', () => {})
    rogueResponder(c, s, payload).catch(() => {})
  })
  const e2 = await rejection(initiateSession(await t.dial('127.0.0.1', l2.address.port), honest))
  assert.is(e2.code, 'BAD_PAYLOAD', e2.message)
  assert.match(e2.message, /small-order/)
  await l2.close()
})

test.run()
