import { closed, roundTrip } from './helpers/conns.js'
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { isP4Error, P4Error } from '../ts/core/errors.js'
import { generateIdentity, sign, type Identity } from '../ts/core/identity.js'
import { ManualClock } from '../ts/core/clock.js'
import { MemoryNetwork } from '../ts/transport/memory.js'
import type { Conn, Listener } from '../ts/transport/types.js'
import {
  acceptSession,
  initiateSession,
  type HandshakeResult,
  type RemoteInfo,
  type SessionOptions,
} from '../ts/session/handshake.js'
import fc from 'fast-check'
import {
  decodePayload,
  encodePayload,
  LinkIntent,
  signStaticKey,
  staticKeyStatement,
  type HandshakePayload,
} from '../ts/session/handshake-payload.js'
import { initNoise, x25519KeyPair, type DhKeyPair } from '../ts/session/noise.js'
import { rogueInitiator, rogueResponder } from './helpers/rogue.js'
import {
  acceptPreamble,
  CONNECT_BYTES,
  initiatePreamble,
  OK_BYTES,
  parseConnect,
  parseOk,
  PROLOGUE,
} from '../ts/session/preamble.js'
import { rejectsCode } from './helpers/errors.js'
import { waitFor } from '../common/net.js'
import { kits, type Kit } from './helpers/kits.js'

const alice = generateIdentity()
const bob = generateIdentity()
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** Marks a promise handled now (it is awaited later, maybe after it rejected). */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {})
  return p
}

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length

/** Everything closed: no socket or listener, and no timer (the handshake deadline was cleared). */
async function nothingLeft(kit: Kit): Promise<void> {
  await waitFor(() => kit.open() === 0 && timers() === 0, 1000, () => `no socket, listener or timer left (${kit.open()} open, ${timers()} timers)`)
}

/** Whether `p` has settled after the I/O in flight had a few turns of the event loop. */
async function settledYet(p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(
    () => (done = true),
    () => (done = true),
  )
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  return done
}

/**
 * Drives `clock` to just short of `ms` (the promise must still be pending,
 * the deadline has not come) and then past it.
 */
async function pastDeadline(clock: ManualClock, ms: number, p: Promise<unknown>, what: string): Promise<void> {
  await clock.advance(ms - 1)
  assert.not.ok(await settledYet(p), `${what}: settled before its deadline`)
  await clock.advance(1)
}


/** A listener handing each accepted Conn to `onConn`; and a dial to it. */
async function serve(kit: Kit, onConn: (c: Conn) => void): Promise<{ l: Listener; dial: () => Promise<Conn> }> {
  const l = await kit.t.listen('127.0.0.1', 0, onConn)
  return { l, dial: () => kit.t.dial('127.0.0.1', l.address.port) }
}

/** Records everything a raw Conn receives, and its close. */
function record(c: Conn): { bytes: () => Buffer; closed: Promise<void> } {
  const chunks: Buffer[] = []
  c.on('data', (d) => chunks.push(d))
  c.on('error', () => {})
  return { bytes: () => Buffer.concat(chunks), closed: closed(c) }
}

const aliceOpts = (more: Partial<SessionOptions> = {}): SessionOptions => ({
  identity: alice,
  username: 'alice',
  listenPort: 4001,
  features: 0xdeadbeef,
  extension: new Uint8Array([1, 2, 3]),
  ...more,
})
const bobOpts = (more: Partial<SessionOptions> = {}): SessionOptions => ({
  identity: bob,
  username: 'bøb',
  intent: LinkIntent.DIRECT,
  ...more,
})

/** A payload whose identity key signed a different static key than the one used. */
function lyingPayload(id: Identity, name: string): Uint8Array {
  const other = x25519KeyPair().publicKey
  return encodePayload({
    identityKey: id.publicKey,
    signature: sign(id, staticKeyStatement(other)),
    username: name,
    listenPort: 0,
    intent: LinkIntent.OVERLAY,
    features: 0,
    extension: new Uint8Array(0),
  })
}

/** An honest payload for `s` made by `id`. */
function payloadFor(id: Identity, name: string, more: Partial<HandshakePayload> = {}): Uint8Array {
  return encodePayload({
    identityKey: id.publicKey,
    signature: signStaticKey(id),
    username: name,
    listenPort: 0,
    intent: LinkIntent.OVERLAY,
    features: 0,
    extension: new Uint8Array(0),
    ...more,
  })
}

const staticOf = (id: Identity): DhKeyPair => ({ publicKey: id.staticPublicKey, keyObject: id.staticKey })


test.before(async () => {
  await initNoise()
})

test('preamble parsers: exact, partial, other versions, garbage, bounds', () => {
  const code = (fn: () => unknown): string | number | undefined => {
    try {
      return fn() as number
    } catch (e) {
      return isP4Error(e) ? e.code : 'not a P4Error'
    }
  }
  const b = (s: string): Buffer => Buffer.from(s, 'latin1')
  assert.is(code(() => parseConnect(b('P4 CONNECT/2.0\0'))), 15)
  assert.is(code(() => parseConnect(b('P4 CONNECT/2.0\0rest'))), 15)
  for (let i = 0; i < 15; i++) assert.is(code(() => parseConnect(b('P4 CONNECT/2.0\0').subarray(0, i))), 0)
  assert.is(code(() => parseConnect(b('P4 CONNECT/1.0\0'))), 'BAD_VERSION')
  assert.is(code(() => parseConnect(b('P4 CONNECT/3.0\0'))), 'BAD_VERSION')
  assert.is(code(() => parseConnect(b('P4 CONNECT/2.00\0'))), 'BAD_VERSION')
  assert.is(code(() => parseConnect(b('P4 CONNECT/\0'))), 'BAD_PREAMBLE')
  assert.is(code(() => parseConnect(b('P4 CONNECT/2.0x'))), 'BAD_PREAMBLE')
  assert.is(code(() => parseConnect(b('GET / HTTP/1.1\r\n'))), 'BAD_PREAMBLE')
  assert.is(code(() => parseConnect(b('P5'))), 'BAD_PREAMBLE', 'decided on the first wrong byte')
  assert.is(code(() => parseConnect(b('P4 CONNECT/' + '1'.repeat(40)))), 'BAD_PREAMBLE', 'bounded')
  assert.is(code(() => parseConnect(b('P4 CONNECT/' + '1'.repeat(10)))), 0)
  assert.is(code(() => parseOk(b('P4 OK\0'))), 6)
  assert.is(code(() => parseOk(b('P4 O'))), 0)
  assert.is(code(() => parseOk(b('P4 '))), 0)
  assert.is(code(() => parseOk(b('P4 ERR'))), 0)
  assert.is(code(() => parseOk(b('P4 ERROR unsupported version'))), 0)
  assert.is(code(() => parseOk(b('P4 ERROR unsupported version\0'))), 'BAD_VERSION')
  assert.is(code(() => parseOk(b('P4 ERROR busy\0'))), 'BAD_PREAMBLE')
  assert.is(code(() => parseOk(b('P4 ERROR ' + 'x'.repeat(200)))), 'BAD_PREAMBLE')
  assert.is(code(() => parseOk(b('HTTP/1.1 400'))), 'BAD_PREAMBLE')
  assert.is(hex(PROLOGUE), hex(b('P4 CONNECT/2.0\0P4 OK\0')))
})

test('payload codec: round trip, and every truncation or extension is refused', () => {
  fc.assert(
    fc.property(
      fc.stringMatching(/^[a-z0-9é]{1,7}(?:[-_][a-z0-9é]{1,7})?$/),
      fc.integer({ min: 0, max: 65535 }),
      fc.constantFrom(LinkIntent.OVERLAY, LinkIntent.DIRECT, LinkIntent.PROBE),
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.uint8Array({ maxLength: 300 }),
      (username, listenPort, intent, features, extension) => {
        const identityKey = alice.publicKey
        const p = { identityKey, signature: signStaticKey(alice), username, listenPort, intent, features, extension }
        const bytes = encodePayload(p)
        assert.is(bytes.length, 106 + Buffer.byteLength(username) + extension.length)
        const back = decodePayload(bytes)
        assert.equal({ ...back, identityKey: [...back.identityKey], signature: [...back.signature] }, {
          ...p,
          identityKey: [...p.identityKey],
          signature: [...p.signature],
        })
        for (const cut of [0, 96, 97, bytes.length - 1]) {
          assert.throws(() => decodePayload(bytes.subarray(0, cut)), (e: unknown) => isP4Error(e, 'BAD_PAYLOAD'))
        }
        assert.throws(() => decodePayload(new Uint8Array([...bytes, 0])), (e: unknown) => isP4Error(e, 'BAD_PAYLOAD'))
      },
    ),
    { seed: 7, numRuns: 100 },
  )
  const base = {
    identityKey: alice.publicKey,
    signature: signStaticKey(alice),
    username: 'a',
    listenPort: 0,
    intent: LinkIntent.OVERLAY,
    features: 0,
    extension: new Uint8Array(0),
  }
  const bytes = encodePayload(base)
  const zeroName = new Uint8Array(bytes)
  zeroName[96] = 0
  assert.throws(() => decodePayload(zeroName), (e: unknown) => isP4Error(e, 'BAD_USERNAME'))
  const badIntent = new Uint8Array(bytes)
  badIntent[99 + 1] = 9
  assert.throws(() => decodePayload(badIntent), (e: unknown) => isP4Error(e, 'BAD_PAYLOAD'))
  const bigExt = new Uint8Array(bytes)
  new DataView(bigExt.buffer).setUint16(104 + 1, 5000)
  assert.throws(() => decodePayload(bigExt), (e: unknown) => isP4Error(e, 'BAD_PAYLOAD'))
  assert.throws(() => encodePayload({ ...base, extension: new Uint8Array(4097) }), (e: unknown) => isP4Error(e, 'BAD_ARGUMENT'))
  assert.throws(() => encodePayload({ ...base, signature: new Uint8Array(63) }), (e: unknown) => isP4Error(e, 'BAD_ARGUMENT'))
  assert.throws(() => encodePayload({ ...base, username: '' }), (e: unknown) => isP4Error(e, 'BAD_USERNAME'))
})

for (const [name, make] of kits) {
  for (const hash of ['BLAKE2s', 'SHA256'] as const) {
    test(`${name} ${hash}: success both ways, RemoteInfo, keys, leftover, paused Conn`, async () => {
      const kit = make()
      let trustedByBob: RemoteInfo | undefined
      let accepted!: Promise<HandshakeResult>
      const { l, dial } = await serve(kit, (c) => {
        accepted = quiet(acceptSession(c, bobOpts({ hash, trust: (r) => void (trustedByBob = r) })))
      })
      const a = await initiateSession(await dial(), aliceOpts({ hash }))
      // The first channel bytes right behind message 3 reach Bob as leftover or data.
      a.conn.write(Buffer.from('first channel bytes'))
      const b = await accepted
      assert.is(a.hash, hash)
      assert.is(b.hash, hash)
      assert.is(a.remote.username, 'bøb')
      assert.is(hex(a.remote.identityKey), hex(bob.publicKey))
      assert.is(hex(a.remote.staticKey), hex(bob.staticPublicKey))
      assert.is(a.remote.intent, LinkIntent.DIRECT)
      assert.is(a.remote.listenPort, 0)
      assert.is(a.remote.features, 0)
      assert.is(a.remote.extension.length, 0)
      assert.is(a.remote.host, '127.0.0.1')
      assert.is(a.remote.port, l.address.port)
      assert.is(b.remote.username, 'alice')
      assert.is(hex(b.remote.identityKey), hex(alice.publicKey))
      assert.is(hex(b.remote.staticKey), hex(alice.staticPublicKey))
      assert.is(b.remote.intent, LinkIntent.OVERLAY)
      assert.is(b.remote.listenPort, 4001)
      assert.is(b.remote.features, 0xdeadbeef)
      assert.equal(b.remote.extension, new Uint8Array([1, 2, 3]))
      assert.is(b.remote.host, '127.0.0.1')
      assert.is(trustedByBob?.username, 'alice')
      assert.is(hex(a.sendKey), hex(b.recvKey))
      assert.is(hex(a.recvKey), hex(b.sendKey))
      assert.is.not(hex(a.sendKey), hex(a.recvKey))
      assert.is(hex(a.handshakeHash), hex(b.handshakeHash))
      assert.is(a.leftover.length, 0)
      // Bob's Conn is paused: nothing is lost until he listens and resumes.
      const got: Buffer[] = [Buffer.from(b.leftover)]
      // Whatever alice wrote is at bob's side by the end of a round trip on another connection.
      await roundTrip(kit.t)
      const all = new Promise<void>((r) => {
        const check = (): void => void (Buffer.concat(got).length >= 19 && r())
        b.conn.on('data', (d) => {
          got.push(d)
          check()
        })
        check()
      })
      b.conn.resume()
      await all
      assert.is(Buffer.concat(got).toString(), 'first channel bytes')
      // And the other way.
      const back = new Promise<Buffer>((r) => a.conn.once('data', r))
      a.conn.resume()
      b.conn.write(Buffer.from('hi'))
      assert.is((await back).toString(), 'hi')
      a.conn.destroy()
      await closed(b.conn)
      await l.close()
      await nothingLeft(kit)
    })
  }

  test(`${name}: the responder refuses another version with an answer, then closes`, async () => {
    const kit = make()
    for (const version of ['1.0', '3.0']) {
      let accepted!: Promise<HandshakeResult>
      const { l, dial } = await serve(kit, (c) => (accepted = quiet(acceptSession(c, bobOpts()))))
      const raw = await dial()
      const rec = record(raw)
      raw.write(Buffer.from(`P4 CONNECT/${version}\0`, 'latin1'))
      const err = await rejectsCode(accepted, 'BAD_VERSION')
      assert.match(err.message, version)
      await rec.closed
      assert.is(rec.bytes().toString('latin1'), 'P4 ERROR unsupported version\0')
      await l.close()
    }
    await nothingLeft(kit)
  })

  test(`${name}: the initiator reports a refused version`, async () => {
    const kit = make()
    const { l, dial } = await serve(kit, (c) => {
      c.once('data', () => {
        c.write(Buffer.from('P4 ERROR unsupported version\0', 'latin1'))
        c.end()
      })
    })
    await rejectsCode(initiateSession(await dial(), aliceOpts()), 'BAD_VERSION')
    await l.close()
    await nothingLeft(kit)
  })

  test(`${name}: garbage is closed without an answer, on both sides`, async () => {
    const kit = make()
    let accepted!: Promise<HandshakeResult>
    const { l, dial } = await serve(kit, (c) => (accepted = quiet(acceptSession(c, bobOpts()))))
    const raw = await dial()
    const rec = record(raw)
    raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    await rejectsCode(accepted, 'BAD_PREAMBLE')
    await rec.closed
    assert.is(rec.bytes().length, 0)
    await l.close()
    // A responder that answers garbage.
    const s2 = await serve(kit, (c) => {
      c.on('error', () => {})
      c.once('data', () => c.write(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')))
    })
    await rejectsCode(initiateSession(await s2.dial(), aliceOpts()), 'BAD_PREAMBLE')
    await s2.l.close()
    await nothingLeft(kit)
  })

  test(`${name}: a silent peer is TIMEOUT (whole-handshake deadline), both roles`, async () => {
    const kit = make()
    // The deadlines run on a manual clock: pending just short of them, TIMEOUT once past.
    const clock = new ManualClock()
    let accepted: Promise<HandshakeResult> | undefined
    const { l, dial } = await serve(kit, (c) => (accepted = quiet(acceptSession(c, bobOpts({ timeoutMs: 200, clock })))))
    const raw = await dial()
    const rec = record(raw)
    await waitFor(() => accepted !== undefined, 2000, 'the connection accepted')
    await pastDeadline(clock, 200, accepted!, 'a silent initiator')
    await rejectsCode(accepted!, 'TIMEOUT')
    await rec.closed
    await l.close()
    // A responder that accepts and says nothing.
    const mute = await serve(kit, (c) => record(c))
    const toMute = quiet(initiateSession(await mute.dial(), aliceOpts({ timeoutMs: 100, clock })))
    await pastDeadline(clock, 100, toMute, 'a mute responder')
    await rejectsCode(toMute, 'TIMEOUT')
    // Silence after a correct preamble also counts against the one deadline.
    let okSent!: () => void
    const wroteOk = new Promise<void>((r) => (okSent = r))
    const half = await serve(kit, (c) => {
      record(c)
      c.write(OK_BYTES)
      okSent()
    })
    const toHalf = quiet(initiateSession(await half.dial(), aliceOpts({ timeoutMs: 100, clock })))
    await wroteOk
    await pastDeadline(clock, 100, toHalf, 'a responder silent after its OK')
    await rejectsCode(toHalf, 'TIMEOUT')
    await mute.l.close()
    await half.l.close()
    await nothingLeft(kit)
  })

  test(`${name}: a payload signing another static key is BAD_SIGNATURE, both roles`, async () => {
    const kit = make()
    const mallory = generateIdentity()
    let accepted!: Promise<HandshakeResult>
    const { l, dial } = await serve(kit, (c) => (accepted = quiet(acceptSession(c, bobOpts()))))
    const raw = await dial()
    record(raw)
    await rogueInitiator(raw, staticOf(mallory), lyingPayload(mallory, 'mallory'))
    const err = await rejectsCode(accepted, 'BAD_SIGNATURE')
    assert.match(err.message, 'mallory')
    await closed(raw)
    await l.close()
    // Mallory as responder; and Mallory replaying Bob's real identity and
    // signature with her own static key.
    for (const payload of [lyingPayload(mallory, 'mallory'), payloadFor(bob, 'bob')]) {
      const s2 = await serve(kit, (c) => {
        record(c)
        rogueResponder(c, staticOf(mallory), payload).catch(() => {})
      })
      await rejectsCode(initiateSession(await s2.dial(), aliceOpts()), 'BAD_SIGNATURE')
      await s2.l.close()
    }
    await nothingLeft(kit)
  })

  test(`${name}: malformed payloads are BAD_PAYLOAD / BAD_USERNAME`, async () => {
    const kit = make()
    const mallory = generateIdentity()
    const good = payloadFor(mallory, 'mallory')
    const badName = new Uint8Array(good)
    badName[97] = 0x07 // a control character in the username
    const cases: [string, Uint8Array, Uint8Array, string][] = [
      ['junk', new Uint8Array(10), new Uint8Array(0), 'BAD_PAYLOAD'],
      ['trailing byte', new Uint8Array([...good, 0]), new Uint8Array(0), 'BAD_PAYLOAD'],
      ['cut short', good.subarray(0, good.length - 1), new Uint8Array(0), 'BAD_PAYLOAD'],
      ['control character', badName, new Uint8Array(0), 'BAD_USERNAME'],
      ['message 1 payload', good, new Uint8Array([1]), 'BAD_PAYLOAD'],
    ]
    for (const [what, payload, first, code] of cases) {
      let accepted!: Promise<HandshakeResult>
      const { l, dial } = await serve(kit, (c) => (accepted = quiet(acceptSession(c, bobOpts()))))
      const raw = await dial()
      record(raw)
      rogueInitiator(raw, staticOf(mallory), payload, first).catch(() => {})
      const err = await rejectsCode(accepted, code)
      assert.ok(err.message.length > 0, what)
      await closed(raw)
      await l.close()
    }
    await nothingLeft(kit)
  })

  test(`${name}: trust hook refusal: UNTRUSTED_KEY on the refusing side, a prompt close on the other`, async () => {
    const kit = make()
    // The responder refuses: the initiator has finished, then sees the close.
    let accepted!: Promise<HandshakeResult>
    const { l, dial } = await serve(kit, (c) => {
      accepted = quiet(
        acceptSession(
          c,
          bobOpts({
            trust: (r) => {
              throw new P4Error('UNTRUSTED_KEY', `${r.username} is not welcome`)
            },
          }),
        ),
      )
    })
    const a = await initiateSession(await dial(), aliceOpts())
    const err = await rejectsCode(accepted, 'UNTRUSTED_KEY')
    assert.match(err.message, 'alice is not welcome')
    const t0 = Date.now()
    const gone = closed(a.conn)
    a.conn.on('data', () => {})
    a.conn.on('error', () => {})
    a.conn.resume()
    await gone
    assert.ok(Date.now() - t0 < 1000)
    await l.close()
    // The initiator refuses (asynchronously, with a plain Error): the responder sees PEER_CLOSED.
    const s2 = await serve(kit, (c) => (accepted = quiet(acceptSession(c, bobOpts()))))
    const refused = await rejectsCode(
      initiateSession(
        await s2.dial(),
        aliceOpts({
          trust: async () => {
            await new Promise((r) => setImmediate(r))
            throw new Error('no thanks')
          },
        }),
      ),
      'UNTRUSTED_KEY',
    )
    assert.match(String((refused.cause as Error).message), 'no thanks')
    await rejectsCode(accepted, 'PEER_CLOSED')
    await s2.l.close()
    // A trust hook that never answers is TIMEOUT at the deadline (on a manual clock).
    const clock = new ManualClock()
    let asked!: () => void
    const hookCalled = new Promise<void>((r) => (asked = r))
    let slow: Promise<HandshakeResult> | undefined
    const s3 = await serve(kit, (c) => (slow = quiet(acceptSession(c, bobOpts({ timeoutMs: 100, clock, trust: () => (asked(), new Promise<void>(() => undefined)) })))))
    const raw = await s3.dial()
    record(raw)
    rogueInitiator(raw, staticOf(alice), payloadFor(alice, 'alice')).catch(() => {})
    await hookCalled
    await pastDeadline(clock, 100, slow!, 'a trust hook that never answers')
    await rejectsCode(slow!, 'TIMEOUT')
    await s3.l.close()
    await nothingLeft(kit)
  })

  test(`${name}: an oversized handshake message is MESSAGE_TOO_LARGE`, async () => {
    const kit = make()
    let accepted!: Promise<HandshakeResult>
    const { l, dial } = await serve(kit, (c) => (accepted = quiet(acceptSession(c, bobOpts()))))
    const raw = await dial()
    record(raw)
    raw.write(Buffer.concat([CONNECT_BYTES, Buffer.from([0x23, 0x28])])) // announces 9000 bytes
    const err = await rejectsCode(accepted, 'MESSAGE_TOO_LARGE')
    assert.match(err.message, '9000')
    await closed(raw)
    await l.close()
    // A cap below a legitimate message 2 (with a 4 KiB extension).
    const s2 = await serve(kit, (c) => (accepted = quiet(acceptSession(c, bobOpts({ extension: new Uint8Array(4096) })))))
    await rejectsCode(initiateSession(await s2.dial(), aliceOpts({ maxMessageSize: 4000 })), 'MESSAGE_TOO_LARGE')
    await rejectsCode(accepted, 'PEER_CLOSED')
    await s2.l.close()
    await nothingLeft(kit)
  })

  test(`${name}: the peer closing mid-handshake is PEER_CLOSED, both roles`, async () => {
    const kit = make()
    let accepted!: Promise<HandshakeResult>
    const { l, dial } = await serve(kit, (c) => (accepted = quiet(acceptSession(c, bobOpts()))))
    // After the preamble and half of message 1.
    const raw = await dial()
    record(raw)
    raw.write(Buffer.concat([CONNECT_BYTES, Buffer.from([0, 32, 1, 2, 3])]))
    // The close comes after those bytes on the stream (memory: in order; tcp: the FIN follows them).
    raw.end()
    const err = await rejectsCode(accepted, 'PEER_CLOSED')
    assert.match(err.message, 'message 1')
    // Before anything.
    const raw2 = await dial()
    raw2.destroy()
    await rejectsCode(accepted, 'PEER_CLOSED')
    await l.close()
    // A responder that reads CONNECT and hangs up.
    const s2 = await serve(kit, (c) => {
      c.on('error', () => {})
      c.once('data', () => c.destroy())
    })
    await rejectsCode(initiateSession(await s2.dial(), aliceOpts()), 'PEER_CLOSED')
    await s2.l.close()
    await nothingLeft(kit)
  })

  test(`${name}: mismatched hashes fail as BAD_HANDSHAKE with the cause kept`, async () => {
    const kit = make()
    let accepted!: Promise<HandshakeResult>
    const { l, dial } = await serve(kit, (c) => (accepted = quiet(acceptSession(c, bobOpts({ hash: 'SHA256' })))))
    const err = await rejectsCode(initiateSession(await dial(), aliceOpts({ hash: 'BLAKE2s' })), 'BAD_HANDSHAKE')
    assert.match(err.message, 'message 2')
    // The chain: our wrapper -> Noise's BAD_HANDSHAKE -> DECRYPT_FAILED.
    assert.ok(isP4Error(err.cause, 'BAD_HANDSHAKE'))
    assert.ok(isP4Error((err.cause as Error).cause, 'DECRYPT_FAILED'))
    await rejectsCode(accepted, 'PEER_CLOSED')
    await l.close()
    await nothingLeft(kit)
  })

  test(`${name}: bad options reject (and close the Conn)`, async () => {
    const kit = make()
    const accepted: Conn[] = []
    const { l, dial } = await serve(kit, (c) => {
      record(c)
      accepted.push(c)
    })
    const cases: [Partial<SessionOptions>, string][] = [
      [{ username: '' }, 'BAD_USERNAME'],
      [{ username: 'x'.repeat(32) }, 'BAD_USERNAME'],
      [{ username: 'tab\there' }, 'BAD_USERNAME'],
      [{ username: 'c1\u0085' }, 'BAD_USERNAME'],
      [{ username: '\ud800' }, 'BAD_USERNAME'],
      [{ username: 'e\u0301' }, 'BAD_USERNAME'], // not NFC
      [{ identity: {} as Identity }, 'BAD_ARGUMENT'],
      [{ hash: 'MD5' as 'SHA256' }, 'BAD_OPTION'],
      [{ timeoutMs: 0 }, 'BAD_OPTION'],
      [{ maxMessageSize: 70000 }, 'BAD_OPTION'],
      [{ listenPort: 65536 }, 'BAD_OPTION'],
      [{ intent: 4 as LinkIntent }, 'BAD_OPTION'],
      [{ features: -1 }, 'BAD_OPTION'],
      [{ extension: new Uint8Array(4097) }, 'BAD_OPTION'],
      [{ trust: 'yes' as unknown as () => void }, 'BAD_OPTION'],
    ]
    for (const [opts, code] of cases) {
      const c = await dial()
      await rejectsCode(initiateSession(c, aliceOpts(opts)), code)
      assert.ok(c.destroyed)
    }
    await rejectsCode(initiateSession({} as Conn, aliceOpts()), 'BAD_ARGUMENT')
    assert.is(hex(signStaticKey(alice)), hex(signStaticKey(alice)), 'signature cached')
    assert.ok(accepted.length > 0)
    await l.close()
    await nothingLeft(kit)
  })

  test(`${name}: standalone preamble functions keep the leftover`, async () => {
    const kit = make()
    let accepted!: Promise<{ leftover: Uint8Array }>
    let server!: Conn
    const { l, dial } = await serve(kit, (c) => {
      server = c
      accepted = quiet(acceptPreamble(c, {}, Buffer.from('after-ok')))
    })
    const c = await dial()
    const a = await initiatePreamble(c, {}, Buffer.from('after-connect'))
    const b = await accepted
    assert.is(Buffer.from(b.leftover).toString(), 'after-connect')
    assert.is(Buffer.from(a.leftover).toString(), 'after-ok')
    c.destroy()
    server.resume()
    await closed(server)
    await l.close()
    let refused!: Promise<unknown>
    const s2 = await serve(kit, (c2) => (refused = quiet(acceptPreamble(c2, { timeoutMs: 100 }))))
    const raw = await s2.dial()
    record(raw)
    await rejectsCode(refused, 'TIMEOUT')
    await s2.l.close()
    await nothingLeft(kit)
  })
}

test('many concurrent handshakes on one memory network', async () => {
  const net = new MemoryNetwork()
  const t = net.transport()
  const results: Promise<HandshakeResult>[] = []
  const l = await t.listen('127.0.0.1', 0, (c) => results.push(acceptSession(c, bobOpts())))
  const ids = Array.from({ length: 20 }, () => generateIdentity())
  const mine = await Promise.all(
    ids.map(async (id, i) => initiateSession(await t.dial('127.0.0.1', l.address.port), { identity: id, username: `u${i}` })),
  )
  const theirs = await Promise.all(results)
  const names = theirs.map((r) => r.remote.username).sort()
  assert.equal(names, ids.map((_, i) => `u${i}`).sort())
  for (const r of [...mine, ...theirs]) r.conn.destroy()
  await l.close()
  await nothingLeft({ t, open: () => net.stats().listeners + net.stats().connections })
})

test.run()
