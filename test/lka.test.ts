import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import type { Identity } from '../ts/core/identity.js'
import { Flag, HDR_HOPS, HEADER_SIZE, MsgType } from '../ts/core/protocol.js'
import { decodeLkaAck, encodeHello, encodeLkaAckParts, type Hello } from '../ts/overlay/hello-codec.js'
import { buildSignedFrame } from '../ts/overlay/signing.js'
import { LkaTable, verifyHelloFrame, type LkaEntry, type VerifiedHello } from '../ts/overlay/lka.js'
import { throwsCode } from './helpers/errors.js'
import { fixedIdentity } from './helpers/identities.js'

const ids: Identity[] = Array.from({ length: 8 }, (_, i) => fixedIdentity(i + 1))

function hello(id: Identity, username: string, seq: bigint, patch: Partial<Hello> = {}): Hello {
  return { username, staticKey: id.staticPublicKey, host: '127.0.0.1', port: 4000, seq, features: 0, plugins: [1001], ...patch }
}

function frameOf(id: Identity, h: Hello, messageId = 1n): Uint8Array {
  return buildSignedFrame(id, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId, body: encodeHello(h) })
}

function verified(id: Identity, username: string, seq: bigint, patch: Partial<Hello> = {}): VerifiedHello {
  return verifyHelloFrame(frameOf(id, hello(id, username, seq, patch), seq))
}

const [A, B, C, D] = ids as [Identity, Identity, Identity, Identity]

test('verifyHelloFrame: verifies, zeroes hops, copies', () => {
  const f = frameOf(A, hello(A, 'alice', 5n))
  const flooded = f.slice()
  flooded[HDR_HOPS] = 4
  const v = verifyHelloFrame(flooded)
  assert.is(v.frame[HDR_HOPS], 0)
  assert.equal(v.frame, f) // flooded and stored copies are byte-identical
  assert.is(flooded[HDR_HOPS], 4) // input untouched
  assert.equal(v.identityKey, A.publicKey)
  assert.is(v.hello.username, 'alice')
  assert.is(v.hello.seq, 5n)
})

test('verifyHelloFrame: shape, signature and body errors', () => {
  const f = frameOf(A, hello(A, 'alice', 5n))
  const tampered = f.slice()
  tampered[tampered.length - 1] ^= 1
  throwsCode(() => verifyHelloFrame(tampered), 'BAD_SIGNATURE')
  const data = buildSignedFrame(A, { type: MsgType.DATA, flags: Flag.BROADCAST, messageId: 1n, body: encodeHello(hello(A, 'alice', 5n)) })
  throwsCode(() => verifyHelloFrame(data), 'BAD_FRAME', 'not a HELLO')
  const junk = buildSignedFrame(A, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId: 1n, body: new Uint8Array(60).fill(0xff) })
  throwsCode(() => verifyHelloFrame(junk), 'BAD_PAYLOAD', 'signed junk body')
  throwsCode(() => verifyHelloFrame(f.subarray(0, HEADER_SIZE + 10)), 'BAD_FRAME')
  throwsCode(() => verifyHelloFrame('x' as never), 'BAD_ARGUMENT')
})

test('applyHello: new, stale (equal and older seq), updated, moved, replay after move', () => {
  const t = new LkaTable()
  const r1 = t.applyHello(verified(A, 'alice', 10n), 1000)
  assert.is(r1.status, 'new')
  assert.is(t.applyHello(verified(A, 'alice', 10n), 1001).status, 'stale')
  assert.is(t.applyHello(verified(A, 'alice', 9n), 1002).status, 'stale')
  assert.is(t.get('alice')!.lastSeen, 1000) // replays do not refresh liveness
  const r2 = t.applyHello(verified(A, 'alice', 11n, { plugins: [1001, 1002] }), 2000)
  assert.is(r2.status, 'updated')
  assert.equal(t.pluginsOf('alice'), [1001, 1002])
  const moved = verified(A, 'alice', 12n, { host: '10.0.0.9', port: 5000 })
  const r3 = t.applyHello(moved, 3000)
  assert.is(r3.status, 'moved')
  const e = t.get('alice')!
  assert.is(e.host, '10.0.0.9')
  assert.is(e.port, 5000)
  assert.is(e.seq, 12n)
  assert.is(e.lastSeen, 3000)
  assert.equal(e.hello, moved.frame)
  assert.equal(e.staticKey, A.staticPublicKey)
  // The old address replayed (seq 11) must not move the user back.
  assert.is(t.applyHello(verified(A, 'alice', 11n), 4000).status, 'stale')
  assert.is(t.get('alice')!.host, '10.0.0.9')
  assert.is(t.size, 1)
})

test('applyHello: a different identity key is rejected unless the hook accepts it', () => {
  const t = new LkaTable()
  t.applyHello(verified(A, 'alice', 10n), 0)
  const r = t.applyHello(verified(B, 'alice', 99n), 1)
  assert.is(r.status, 'rejected')
  assert.equal(t.get('alice')!.identityKey, A.publicKey)

  const seen: [LkaEntry, VerifiedHello][] = []
  const t2 = new LkaTable({
    onKeyConflict: (cur, inc) => {
      seen.push([cur, inc])
      return inc.hello.seq > 50n
    },
  })
  t2.applyHello(verified(A, 'alice', 10n, { plugins: [7] }), 0)
  assert.is(t2.applyHello(verified(B, 'alice', 20n), 1).status, 'rejected')
  const r2 = t2.applyHello(verified(B, 'alice', 60n, { plugins: [8] }), 2)
  assert.is(r2.status, 'new')
  assert.is(seen.length, 2)
  assert.equal(seen[0]![0].identityKey, A.publicKey)
  assert.equal(t2.get('alice')!.identityKey, B.publicKey)
  assert.equal(t2.users(7), [])
  assert.equal(t2.users(8), ['alice'])
})

test('applyHello: malformed verified input is rejected or a BAD_ARGUMENT', () => {
  const t = new LkaTable()
  const v = verified(A, 'alice', 1n)
  assert.is(t.applyHello({ ...v, identityKey: new Uint8Array(31) }, 0).status, 'rejected')
  assert.is(t.applyHello({ ...v, hello: { ...v.hello, username: '' } }, 0).status, 'rejected')
  const hopped = v.frame.slice()
  hopped[HDR_HOPS] = 1
  assert.is(t.applyHello({ ...v, frame: hopped }, 0).status, 'rejected')
  throwsCode(() => t.applyHello(null as never, 0), 'BAD_ARGUMENT')
  throwsCode(() => t.applyHello(v, NaN), 'BAD_ARGUMENT')
  assert.is(t.size, 0)
})

test('offline: hidden from users() and snapshot; a replay does not revive, a newer HELLO does', () => {
  const t = new LkaTable()
  t.applyHello(verified(A, 'alice', 1n), 0)
  t.applyHello(verified(B, 'bob', 1n, { plugins: [1, 1001] }), 0)
  assert.equal(t.users(), ['alice', 'bob'])
  assert.ok(t.markOffline('bob'))
  assert.not.ok(t.markOffline('nobody'))
  assert.equal(t.users(), ['alice'])
  assert.equal(t.users(undefined, true), ['alice', 'bob'])
  assert.equal(t.users(1), [])
  assert.equal(t.users(1, true), ['bob'])
  assert.is(t.snapshot().length, 1)
  assert.is(t.applyHello(verified(B, 'bob', 1n), 5).status, 'stale')
  assert.not.ok(t.get('bob')!.online)
  assert.is(t.applyHello(verified(B, 'bob', 2n), 6).status, 'updated')
  assert.ok(t.get('bob')!.online)
  assert.equal(t.users(), ['alice', 'bob'])
})

test('users(pluginId) and pluginsOf follow plugin changes', () => {
  const t = new LkaTable()
  t.applyHello(verified(A, 'alice', 1n, { plugins: [1, 2] }), 0)
  t.applyHello(verified(B, 'bob', 1n, { plugins: [2, 3] }), 0)
  assert.equal(t.users(2), ['alice', 'bob'])
  assert.equal(t.users(1), ['alice'])
  assert.equal(t.users(99), [])
  t.applyHello(verified(A, 'alice', 2n, { plugins: [3] }), 1)
  assert.equal(t.users(1), [])
  assert.equal(t.users(2), ['bob'])
  assert.equal(t.users(3), ['alice', 'bob'])
  assert.equal(t.pluginsOf('alice'), [3])
  assert.is(t.pluginsOf('carol'), undefined)
  assert.ok(t.remove('bob'))
  assert.not.ok(t.remove('bob'))
  assert.equal(t.users(3), ['alice'])
})

test('bounded: offline entries are evicted first, then the least recently seen', () => {
  const t = new LkaTable({ maxUsers: 3 })
  t.applyHello(verified(A, 'a', 1n), 1)
  t.applyHello(verified(B, 'b', 1n), 2)
  t.applyHello(verified(C, 'c', 1n), 3)
  t.markOffline('b')
  t.applyHello(verified(D, 'd', 1n), 4)
  assert.equal(t.users(undefined, true), ['a', 'c', 'd'])
  t.touch('a', 5) // a is now more recent than c
  t.applyHello(verified(B, 'b', 2n), 6)
  assert.equal(t.users(undefined, true), ['a', 'b', 'd'])
  for (let i = 0; i < 50; i++) t.applyHello(verified(A, `u${i}`, 1n), 10 + i)
  assert.is(t.size, 3)
  assert.equal(t.users(), ['u47', 'u48', 'u49'])
})

test('expire marks silent users offline; touch keeps them', () => {
  const t = new LkaTable()
  t.applyHello(verified(A, 'alice', 1n), 0)
  t.applyHello(verified(B, 'bob', 1n), 0)
  assert.ok(t.touch('bob', 50_000))
  assert.not.ok(t.touch('nobody', 1))
  assert.equal(t.expire(60_000, 30_000), ['alice'])
  assert.not.ok(t.get('alice')!.online)
  assert.ok(t.get('bob')!.online)
})

test('snapshot: online frames, most recent first, capped; they survive LKA_ACK and re-verify', () => {
  const t = new LkaTable()
  t.applyHello(verified(A, 'a', 1n), 1)
  t.applyHello(verified(B, 'b', 1n), 2)
  t.applyHello(verified(C, 'c', 1n), 3)
  const snap = t.snapshot()
  assert.equal(snap, [t.get('c')!.hello, t.get('b')!.hello, t.get('a')!.hello])
  assert.is(t.snapshot(2).length, 2)
  const received = encodeLkaAckParts(snap).flatMap((b) => decodeLkaAck(b).hellos)
  const t2 = new LkaTable()
  for (const f of received) assert.is(t2.applyHello(verifyHelloFrame(f), 9).status, 'new')
  assert.equal(t2.users(), ['a', 'b', 'c'])
  assert.equal(t2.get('b')!.identityKey, B.publicKey)
})

test('bad options are BAD_OPTION', () => {
  throwsCode(() => new LkaTable({ maxUsers: 0 }), 'BAD_OPTION')
  throwsCode(() => new LkaTable({ maxUsers: 1.5 }), 'BAD_OPTION')
  throwsCode(() => new LkaTable({ onKeyConflict: 5 as never }), 'BAD_OPTION')
  throwsCode(() => new LkaTable(null as never), 'BAD_OPTION')
})

test.run()
