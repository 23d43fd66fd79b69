import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { isP4Error } from '../ts/core/errors.js'
import { Flag, HDR_HOPS, HDR_LENGTH, HEADER_SIZE, MsgType, ORIGIN_BLOCK_SIZE } from '../ts/core/protocol.js'
import { USERNAME_MAX_BYTES, decodeUsername, encodeUsername, isValidUsername, validateUsername } from '../ts/core/username.js'
import { ByeReason, decodeBye, decodePing, encodeBye, encodePing } from '../ts/overlay/link-codec.js'
import {
  CERTIFICATE_MAX_BYTES,
  HELLO_BODY_MAX,
  HELLO_FRAME_MAX,
  LKA_ACK_MAX_BYTES,
  LKA_ACK_MAX_ENTRIES,
  decodeHello,
  decodeLkaAck,
  decodeLkaRequest,
  encodeHello,
  encodeLkaAck,
  encodeLkaAckParts,
  encodeLkaRequest,
  helloFrameProblem,
  nextHelloSeq,
  type Hello,
} from '../ts/overlay/hello-codec.js'
import { decodeConnect, decodeDiscover, encodeConnect, encodeDiscover } from '../ts/overlay/discover-codec.js'
import { SIGNATURE_DOMAIN, buildSignedFrame, signedBytes, verifySignedFrame, verifySignedParts } from '../ts/overlay/signing.js'
import { decodeReach, DialStatus, encodeReach, ReachKind } from '../ts/overlay/reach-codec.js'
import { throwsCode } from './helpers/errors.js'
import { seededRandom } from '../common/random.js'
import { fixedIdentity } from './helpers/identities.js'

// ---------------------------------------------------------------------------
// helpers

const alice = fixedIdentity(1)
const bob = fixedIdentity(2)

const key = (b: number): Uint8Array => new Uint8Array(32).fill(b)

const helloFull: Hello = {
  username: 'zoë',
  staticKey: key(7),
  host: 'node-1.example.org',
  port: 4001,
  seq: 1_700_000_000_123n,
  features: 0x80000001,
  plugins: [0, 1, 1001, 65535],
  certificate: new Uint8Array(100).fill(9),
}
const helloMin: Hello = { username: 'a', staticKey: key(0), host: '', port: 0, seq: 0n, features: 0, plugins: [] }
const helloMax: Hello = {
  username: 'x'.repeat(USERNAME_MAX_BYTES),
  staticKey: key(0xff),
  host: 'h'.repeat(255),
  port: 65535,
  seq: 0xffffffffffffffffn,
  features: 0xffffffff,
  plugins: Array.from({ length: 256 }, (_, i) => i * 250),
  certificate: new Uint8Array(CERTIFICATE_MAX_BYTES).fill(1),
}

function helloFrame(id = alice, h: Hello = helloFull, messageId = 42n): Uint8Array {
  return buildSignedFrame(id, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId, body: encodeHello(h) })
}

interface Codec {
  name: string
  encode: (v: never) => Uint8Array
  decode: (b: Uint8Array) => unknown
  samples: unknown[]
}

const codecs: Codec[] = [
  { name: 'HELLO', encode: encodeHello, decode: decodeHello, samples: [helloFull, helloMin, helloMax, { ...helloFull, certificate: undefined, host: '::1' }] },
  {
    name: 'PING',
    encode: encodePing,
    decode: decodePing,
    samples: [
      { nonce: 0n, sentAt: 0n },
      { nonce: 0xffffffffffffffffn, sentAt: 0xffffffffffffffffn },
      { nonce: 12345678901234n, sentAt: 987654321n },
    ],
  },
  {
    name: 'CONNECT',
    encode: encodeConnect,
    decode: decodeConnect,
    samples: [
      { username: 'bob', host: '10.0.0.1', port: 4001, walkId: 7n },
      { username: 'b', host: '', port: 0, walkId: 0n },
    ],
  },
  {
    name: 'DISCOVER',
    encode: encodeDiscover,
    decode: decodeDiscover,
    samples: [
      { username: 'alice', host: '127.0.0.1', port: 4001, walkId: 0xdeadbeefn, minHops: 2, maxHops: 8, sentAt: 1_700_000_000_000 },
      { username: 'ω', host: 'fe80::1%eth0', port: 1, walkId: 0n, minHops: 0, maxHops: 1, sentAt: 0 },
    ],
  },
  { name: 'LKA', encode: encodeLkaRequest, decode: decodeLkaRequest, samples: [{ max: 0 }, { max: 65535 }] },
  {
    name: 'LKA_ACK',
    encode: encodeLkaAck,
    decode: decodeLkaAck,
    samples: [
      { more: false, hellos: [] },
      { more: true, hellos: [helloFrame()] },
      { more: false, hellos: [helloFrame(), helloFrame(bob, helloMin, 1n)] },
    ],
  },
  {
    name: 'REACH',
    encode: encodeReach,
    decode: decodeReach,
    samples: [
      { kind: ReachKind.OBSERVED, host: '203.0.113.7', port: 40001 },
      { kind: ReachKind.OBSERVED, host: 'fe80::1%eth0', port: 1 },
      { kind: ReachKind.DIAL, id: 0xffffffff, host: '10.0.0.1', port: 65535 },
      { kind: ReachKind.RESULT, id: 7, status: DialStatus.REFUSED },
      { kind: ReachKind.RESULT, id: 0, status: DialStatus.REACHABLE },
    ],
  },
  {
    name: 'BYE',
    encode: encodeBye,
    decode: decodeBye,
    samples: [
      { reason: ByeReason.SHUTDOWN, text: '' },
      { reason: 200, text: 'au revoir — ça va' },
      { reason: ByeReason.IDLE, text: 'é'.repeat(64) },
    ],
  },
]

// ---------------------------------------------------------------------------
// usernames

test('usernames: valid names pass unchanged', () => {
  for (const n of ['a', 'alice', 'zoë', '名前', 'x'.repeat(31), 'a-b', '𠀀'.repeat(7), 'é'.repeat(15)]) {
    assert.is(validateUsername(n), n)
    assert.ok(isValidUsername(n))
    assert.is(decodeUsername(encodeUsername(n)), n)
  }
})

test('usernames: bad names are BAD_USERNAME', () => {
  const bad = [
    '',
    'x'.repeat(32),
    'é'.repeat(16), // 32 bytes
    '😀'.repeat(8), // 32 bytes
    'a\u0000b',
    'tab\there',
    'new\nline',
    'del\u007f',
    'c1\u0085',
    'c1\u009f',
    'e\u0301', // decomposed é: not NFC
    '\ud800x', // lone high surrogate
    'x\udc00', // lone low surrogate
  ]
  for (const n of bad) {
    throwsCode(() => validateUsername(n), 'BAD_USERNAME', JSON.stringify(n))
    assert.not.ok(isValidUsername(n))
  }
  for (const n of [undefined, null, 5, {}, ['a']]) throwsCode(() => validateUsername(n), 'BAD_USERNAME', String(n))
})

test('usernames: decoding rejects invalid UTF-8 and rule breaks', () => {
  const cases = [[], [0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0x61, 0x00], [0x65, 0xcc, 0x81], new Array(32).fill(0x61)]
  for (const c of cases) assert.is(decodeUsername(new Uint8Array(c)), undefined, JSON.stringify(c))
})

// ---------------------------------------------------------------------------
// generic codec properties

test('every codec round-trips its samples', () => {
  for (const c of codecs) {
    for (const s of c.samples) {
      const bytes = c.encode(s as never)
      const back = c.decode(bytes)
      const expected = c.name === 'HELLO' && (s as Hello).certificate === undefined ? { ...(s as object) } : s
      if (c.name === 'HELLO' && (s as Hello).certificate === undefined) delete (expected as { certificate?: unknown }).certificate
      assert.equal(back, expected, c.name)
      assert.equal(c.encode(back as never), bytes, `${c.name} re-encode`)
    }
  }
})

test('every strict prefix and every one-byte extension is BAD_PAYLOAD', () => {
  for (const c of codecs) {
    for (const s of c.samples) {
      const bytes = c.encode(s as never)
      for (let n = 0; n < bytes.length; n++) throwsCode(() => c.decode(bytes.subarray(0, n)), 'BAD_PAYLOAD', `${c.name} prefix ${n}`)
      for (const extra of [0, 1, 0xff]) {
        const longer = new Uint8Array(bytes.length + 1)
        longer.set(bytes)
        longer[bytes.length] = extra
        throwsCode(() => c.decode(longer), 'BAD_PAYLOAD', `${c.name} + ${extra}`)
      }
    }
  }
})

test('seeded mutations: decoders throw only BAD_PAYLOAD, and accept only canonical bytes', () => {
  const next = seededRandom(0x5eed)
  const int = (n: number): number => Math.floor(next() * n)
  for (const c of codecs) {
    let accepted = 0
    for (let i = 0; i < 1500; i++) {
      const base = c.encode(c.samples[int(c.samples.length)] as never)
      let m: Uint8Array = base.slice()
      const ops = 1 + int(3)
      for (let k = 0; k < ops; k++) {
        const op = int(6)
        if (op === 0 && m.length > 0) m[int(m.length)] ^= 1 << int(8)
        else if (op === 1 && m.length > 0) m[int(m.length)] = [0, 0xff, 0x80, 0x7f][int(4)]!
        else if (op === 2) m = m.subarray(0, int(m.length + 1)).slice()
        else if (op === 3) {
          const at = int(m.length + 1)
          const ins = new Uint8Array(1 + int(4)).map(() => int(256))
          m = new Uint8Array([...m.subarray(0, at), ...ins, ...m.subarray(at)])
        } else if (op === 4 && m.length > 0) {
          const at = int(m.length)
          m = new Uint8Array([...m.subarray(0, at), ...m.subarray(at + 1 + int(3))])
        } else if (m.length > 0) m[int(m.length)] = int(256)
      }
      let value: unknown
      try {
        value = c.decode(m)
      } catch (err) {
        assert.ok(isP4Error(err, 'BAD_PAYLOAD'), `${c.name}: unexpected ${String(err)}`)
        continue
      }
      accepted++
      // Whatever a decoder accepts must be exactly what the encoder writes.
      assert.equal(c.encode(value as never), m, `${c.name} non-canonical input accepted`)
    }
    assert.ok(accepted < 1500, `${c.name}: some mutations must be rejected`)
  }
})

test('decoders reject non-Uint8Array input with BAD_PAYLOAD', () => {
  for (const c of codecs) {
    for (const v of [undefined, null, 'abc', [1, 2, 3], new ArrayBuffer(8)]) throwsCode(() => c.decode(v as never), 'BAD_PAYLOAD', c.name)
  }
})

// ---------------------------------------------------------------------------
// HELLO specifics

function helloBytes(parts: number[][]): Uint8Array {
  return new Uint8Array(parts.flat())
}
const u16 = (v: number): number[] => [v >> 8, v & 0xff]
const u64z = new Array(8).fill(0)
const helloPrefix = [1, 0x61, ...new Array(32).fill(0), 0, ...u16(0), ...u64z, 0, 0, 0, 0]

test('HELLO: plugin list must be sorted, unique and at most 256', () => {
  assert.equal(decodeHello(helloBytes([helloPrefix, u16(2), u16(1), u16(2), u16(0)])).plugins, [1, 2])
  throwsCode(() => decodeHello(helloBytes([helloPrefix, u16(2), u16(2), u16(1), u16(0)])), 'BAD_PAYLOAD', 'unsorted')
  throwsCode(() => decodeHello(helloBytes([helloPrefix, u16(2), u16(5), u16(5), u16(0)])), 'BAD_PAYLOAD', 'duplicate')
  const ids257 = Array.from({ length: 257 }, (_, i) => u16(i)).flat()
  throwsCode(() => decodeHello(helloBytes([helloPrefix, u16(257), ids257, u16(0)])), 'BAD_PAYLOAD', '257 plugins')
  throwsCode(() => decodeHello(helloBytes([helloPrefix, u16(65535), u16(0)])), 'BAD_PAYLOAD', 'count beyond input')
})

test('HELLO: certificate capped at 1 KiB; body capped', () => {
  const cert = new Array(CERTIFICATE_MAX_BYTES + 1).fill(1)
  throwsCode(() => decodeHello(helloBytes([helloPrefix, u16(0), u16(cert.length), cert])), 'BAD_PAYLOAD', 'cert')
  assert.is(encodeHello(helloMax).length, HELLO_BODY_MAX)
  throwsCode(() => decodeHello(new Uint8Array(HELLO_BODY_MAX + 1)), 'BAD_PAYLOAD', 'body')
})

test('HELLO: bad username and host bytes', () => {
  const withName = (name: number[]): Uint8Array => helloBytes([[name.length, ...name], helloPrefix.slice(2), u16(0), u16(0)])
  assert.is(decodeHello(withName([0x62])).username, 'b')
  for (const n of [[0xff], [0xc3], [0x00], [0x65, 0xcc, 0x81], []]) throwsCode(() => decodeHello(withName(n)), 'BAD_PAYLOAD', JSON.stringify(n))
  const withHost = (h: string): Uint8Array => {
    const b = [...Buffer.from(h)]
    return helloBytes([[1, 0x61], new Array(32).fill(0), [b.length, ...b], u16(0), u64z, [0, 0, 0, 0], u16(0), u16(0)])
  }
  assert.is(decodeHello(withHost('a.b-c_d:1%e')).host, 'a.b-c_d:1%e')
  for (const h of ['a b', 'a/b', 'é', 'a\nb', '[::1]']) throwsCode(() => decodeHello(withHost(h)), 'BAD_PAYLOAD', h)
})

test('HELLO: encoder rejects bad input', () => {
  const bad: [Partial<Hello>, string][] = [
    [{ username: '' }, 'BAD_USERNAME'],
    [{ staticKey: key(1).subarray(1) }, 'BAD_ARGUMENT'],
    [{ host: 'a b' }, 'BAD_ARGUMENT'],
    [{ host: 'h'.repeat(256) }, 'BAD_ARGUMENT'],
    [{ port: 65536 }, 'BAD_ARGUMENT'],
    [{ port: -1 }, 'BAD_ARGUMENT'],
    [{ seq: -1n }, 'BAD_ARGUMENT'],
    [{ seq: 1 as never }, 'BAD_ARGUMENT'],
    [{ seq: 1n << 64n }, 'BAD_ARGUMENT'],
    [{ features: 2 ** 32 }, 'BAD_ARGUMENT'],
    [{ plugins: [2, 1] }, 'BAD_ARGUMENT'],
    [{ plugins: [1, 1] }, 'BAD_ARGUMENT'],
    [{ plugins: [65536] }, 'BAD_ARGUMENT'],
    [{ plugins: Array.from({ length: 257 }, (_, i) => i) }, 'BAD_ARGUMENT'],
    [{ certificate: new Uint8Array(CERTIFICATE_MAX_BYTES + 1) }, 'BAD_ARGUMENT'],
  ]
  for (const [patch, code] of bad) throwsCode(() => encodeHello({ ...helloFull, ...patch }), code, JSON.stringify(Object.keys(patch)))
  throwsCode(() => encodeHello(null as never), 'BAD_ARGUMENT')
})

test('nextHelloSeq is time-based and strictly increasing', () => {
  assert.is(nextHelloSeq(0n, 1000), 1000n)
  assert.is(nextHelloSeq(1000n, 1000), 1001n)
  assert.is(nextHelloSeq(5000n, 1000), 5001n) // clock stepped back
  assert.is(nextHelloSeq(5000n, 9000.7), 9000n)
  throwsCode(() => nextHelloSeq(-1n, 0), 'BAD_ARGUMENT')
  throwsCode(() => nextHelloSeq(0n, NaN), 'BAD_ARGUMENT')
})

// ---------------------------------------------------------------------------
// other messages

test('PING: fixed 16-byte layout; encoder checks u64 ranges', () => {
  assert.equal([...encodePing({ nonce: 0x0102030405060708n, sentAt: 0x1112131415161718n })], [1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18])
  throwsCode(() => encodePing({ nonce: 1n, sentAt: -1n }), 'BAD_ARGUMENT')
  throwsCode(() => encodePing({ nonce: 1n, sentAt: 1 as never }), 'BAD_ARGUMENT')
  throwsCode(() => encodePing({ nonce: 1n, sentAt: 1n << 64n }), 'BAD_ARGUMENT')
  throwsCode(() => encodePing({ nonce: -1n, sentAt: 1n }), 'BAD_ARGUMENT')
})

test('DISCOVER: host required, port >= 1, hop bounds ordered', () => {
  const d = { username: 'al', host: 'h', port: 1, walkId: 1n, minHops: 1, maxHops: 2, sentAt: 5 }
  throwsCode(() => encodeDiscover({ ...d, host: '' }), 'BAD_ARGUMENT')
  throwsCode(() => encodeDiscover({ ...d, port: 0 }), 'BAD_ARGUMENT')
  throwsCode(() => encodeDiscover({ ...d, maxHops: 0, minHops: 0 }), 'BAD_ARGUMENT')
  throwsCode(() => encodeDiscover({ ...d, minHops: 3 }), 'BAD_ARGUMENT')
  throwsCode(() => encodeDiscover({ ...d, maxHops: 256 }), 'BAD_ARGUMENT')
  const b = encodeDiscover(d)
  // layout: 1+2 name, 1+1 host, 2 port, 8 walk, minHops, maxHops, 8 sentAt
  const at = { hostLen: 3, port: 5, minHops: 15, maxHops: 16 }
  const patch = (i: number, v: number[]): Uint8Array => {
    const c = b.slice()
    c.set(v, i)
    return c
  }
  throwsCode(() => decodeDiscover(patch(at.port, [0, 0])), 'BAD_PAYLOAD', 'port 0')
  throwsCode(() => decodeDiscover(patch(at.minHops, [3])), 'BAD_PAYLOAD', 'min > max')
  throwsCode(() => decodeDiscover(patch(at.maxHops, [0])), 'BAD_PAYLOAD', 'max 0')
  const noHost = new Uint8Array([...b.subarray(0, at.hostLen), 0, ...b.subarray(at.port)])
  throwsCode(() => decodeDiscover(noHost), 'BAD_PAYLOAD', 'empty host')
})

test('BYE: text capped, strict UTF-8, no control characters', () => {
  throwsCode(() => encodeBye({ reason: 0, text: 'x'.repeat(129) }), 'BAD_ARGUMENT')
  throwsCode(() => encodeBye({ reason: 0, text: 'a\nb' }), 'BAD_ARGUMENT')
  throwsCode(() => encodeBye({ reason: 256, text: '' }), 'BAD_ARGUMENT')
  throwsCode(() => encodeBye({ reason: 0, text: '\ud800' }), 'BAD_ARGUMENT')
  throwsCode(() => decodeBye(new Uint8Array([0, 1, 0xff])), 'BAD_PAYLOAD')
  throwsCode(() => decodeBye(new Uint8Array([0, 1, 0x0a])), 'BAD_PAYLOAD')
  throwsCode(() => decodeBye(new Uint8Array([0, 129, ...new Array(129).fill(0x61)])), 'BAD_PAYLOAD')
  assert.equal(decodeBye(new Uint8Array([9, 2, 0x68, 0x69])), { reason: 9, text: 'hi' })
})

test('LKA_ACK: entries must be stored HELLO frames; counts bounded by input', () => {
  const f = helloFrame()
  const body = encodeLkaAck({ more: false, hellos: [f] })
  const mutate = (i: number, v: number): Uint8Array => {
    const c = body.slice()
    c[5 + i] = v
    return c
  }
  throwsCode(() => decodeLkaAck(mutate(HDR_HOPS, 1)), 'BAD_PAYLOAD', 'hops')
  throwsCode(() => decodeLkaAck(mutate(1, MsgType.DATA)), 'BAD_PAYLOAD', 'type')
  throwsCode(() => decodeLkaAck(mutate(2, Flag.SIGNED)), 'BAD_PAYLOAD', 'flags')
  throwsCode(() => decodeLkaAck(mutate(0, 1)), 'BAD_PAYLOAD', 'version')
  throwsCode(() => decodeLkaAck(mutate(HDR_LENGTH + 3, (f[HDR_LENGTH + 3]! + 1) & 0xff)), 'BAD_PAYLOAD', 'length')
  throwsCode(() => decodeLkaAck(new Uint8Array([0, 0xff, 0xff])), 'BAD_PAYLOAD', 'huge count')
  throwsCode(() => decodeLkaAck(new Uint8Array([2, 0, 0])), 'BAD_PAYLOAD', 'unknown flag')
  throwsCode(() => decodeLkaAck(new Uint8Array(LKA_ACK_MAX_BYTES + 1)), 'BAD_PAYLOAD', 'too large')
  const decoded = decodeLkaAck(body)
  assert.equal(decoded.hellos[0], f)
  assert.is.not(decoded.hellos[0]!.buffer, body.buffer) // copied out of the input
  throwsCode(() => encodeLkaAck({ more: false, hellos: [f.subarray(1)] }), 'BAD_ARGUMENT')
  throwsCode(() => encodeLkaAck({ more: false, hellos: new Array(LKA_ACK_MAX_ENTRIES + 1).fill(f) }), 'BAD_ARGUMENT')
  assert.is(helloFrameProblem(f), undefined)
  assert.ok(f.length <= HELLO_FRAME_MAX)
})

test('LKA_ACK: encodeLkaAckParts splits by count and size, in order', () => {
  const small = helloFrame(alice, helloMin)
  const big = helloFrame(alice, helloMax)
  assert.equal(encodeLkaAckParts([]).map(decodeLkaAck), [{ more: false, hellos: [] }])
  const many = new Array(600).fill(small)
  const parts = encodeLkaAckParts(many).map(decodeLkaAck)
  assert.equal(parts.map((p) => p.hellos.length), [256, 256, 88])
  assert.equal(parts.map((p) => p.more), [true, true, false])
  const bigs = new Array(70).fill(big)
  const bigParts = encodeLkaAckParts(bigs)
  for (const p of bigParts) assert.ok(p.length <= LKA_ACK_MAX_BYTES)
  const flat = bigParts.map(decodeLkaAck).flatMap((p) => p.hellos)
  assert.is(flat.length, 70)
  assert.ok(bigParts.length >= Math.ceil((70 * (big.length + 2)) / LKA_ACK_MAX_BYTES))
})

// ---------------------------------------------------------------------------
// origin signatures

test('signed frame: layout, verifies, and the signature covers header with hops zeroed', () => {
  const body = encodeHello(helloFull)
  const frame = buildSignedFrame(alice, { type: MsgType.HELLO, flags: Flag.BROADCAST, pluginId: 0, messageId: 0x0102030405060708n, body })
  assert.is(frame.length, HEADER_SIZE + ORIGIN_BLOCK_SIZE + body.length)
  assert.is(frame[2], Flag.BROADCAST | Flag.SIGNED)
  assert.is(frame[HDR_HOPS], 0)
  assert.is(new DataView(frame.buffer).getUint32(HDR_LENGTH), ORIGIN_BLOCK_SIZE + body.length)
  assert.equal(frame.subarray(HEADER_SIZE, HEADER_SIZE + 32), alice.publicKey)
  const v = verifySignedFrame(frame)
  assert.ok(v.ok)
  if (v.ok) {
    assert.equal(v.originKey, alice.publicKey)
    assert.equal(v.body, body)
  }
  // Forwarders change the hop count: still valid.
  for (const hops of [1, 7, 255]) {
    const f = frame.slice()
    f[HDR_HOPS] = hops
    assert.ok(verifySignedFrame(f).ok, `hops ${hops}`)
  }
  // Any other byte changed breaks it.
  for (let i = 0; i < frame.length; i++) {
    if (i === HDR_HOPS) continue
    const f = frame.slice()
    f[i] ^= 0x20
    assert.not.ok(verifySignedFrame(f).ok, `byte ${i}`)
  }
  assert.not.ok(verifySignedFrame(frame.subarray(0, frame.length - 1)).ok)
  assert.not.ok(verifySignedFrame(new Uint8Array([...frame, 0])).ok)
})

test('signed frame: domain-separated message; parts API; origin swapped is invalid', () => {
  const frame = buildSignedFrame(alice, { type: MsgType.DISCOVER, messageId: 9n, body: new Uint8Array([1, 2, 3]) })
  const m = signedBytes(frame, frame.subarray(HEADER_SIZE + ORIGIN_BLOCK_SIZE))
  assert.equal(new Uint8Array(m.subarray(0, SIGNATURE_DOMAIN.length)), SIGNATURE_DOMAIN)
  assert.is(new TextDecoder().decode(SIGNATURE_DOMAIN), 'p4net/2 msg\0')
  const header = frame.slice(0, HEADER_SIZE)
  header[HDR_HOPS] = 3
  assert.ok(verifySignedParts(header, frame.subarray(HEADER_SIZE)).ok)
  assert.is(header[HDR_HOPS], 3) // inputs untouched
  const swapped = frame.slice()
  swapped.set(bob.publicKey, HEADER_SIZE)
  const r = verifySignedFrame(swapped)
  assert.not.ok(r.ok)
  if (!r.ok) assert.is(r.reason, 'bad signature')
  const unsigned = frame.slice()
  unsigned[2] = 0
  assert.not.ok(verifySignedFrame(unsigned).ok)
  assert.not.ok(verifySignedFrame(new Uint8Array(10)).ok)
  assert.not.ok(verifySignedParts(header, new Uint8Array(10)).ok)
})

test('buildSignedFrame rejects bad input', () => {
  const body = new Uint8Array(1)
  throwsCode(() => buildSignedFrame({} as never, { type: MsgType.DATA, messageId: 1n, body }), 'BAD_ARGUMENT')
  throwsCode(() => buildSignedFrame(alice, { type: 0, messageId: 1n, body }), 'BAD_ARGUMENT')
  throwsCode(() => buildSignedFrame(alice, { type: MsgType.PING, messageId: 1n, body }), 'BAD_ARGUMENT', 'PING cannot be signed')
  throwsCode(() => buildSignedFrame(alice, { type: MsgType.HELLO, messageId: 1n, body }), 'BAD_ARGUMENT', 'HELLO needs BROADCAST')
  throwsCode(() => buildSignedFrame(alice, { type: MsgType.DATA, flags: 8, messageId: 1n, body }), 'BAD_ARGUMENT')
  throwsCode(() => buildSignedFrame(alice, { type: MsgType.DATA, pluginId: 70000, messageId: 1n, body }), 'BAD_ARGUMENT')
  throwsCode(() => buildSignedFrame(alice, { type: MsgType.DATA, messageId: -1n, body }), 'BAD_ARGUMENT')
  throwsCode(() => buildSignedFrame(alice, { type: MsgType.DATA, messageId: 1n, body: 'x' as never }), 'BAD_ARGUMENT')
  const ok = buildSignedFrame(alice, { type: MsgType.DATA, flags: Flag.BROADCAST | Flag.ENCRYPTED, pluginId: 1001, messageId: 1n, body })
  assert.ok(verifySignedFrame(ok).ok)
})

test.run()
