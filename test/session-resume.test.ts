// Resumable sessions under attack and at their limits: forged, replayed and
// misdirected RESUMEs are refused (BAD_RESUME) and leave the session as it
// was; a peer that never acknowledges cannot make the sender keep more than
// its retention cap; a lost Conn waits out the grace period, then closes;
// a peer without the feature bit interoperates exactly as before.
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { ManualClock } from '../ts/core/clock.js'
import { HandshakeFeature, HEADER_SIZE, MsgType, writeHeader } from '../ts/core/protocol.js'
import { encodeAck } from '../ts/session/control.js'
import { acceptSession, initiateSession } from '../ts/session/handshake.js'
import { sealRecord } from '../ts/session/node-records.js'
import { encodeResume, readResume, RESUME_SIZE } from '../ts/session/resume.js'
import { Session } from '../ts/session/session.js'
import { MemoryNetwork, memoryTransport } from '../ts/transport/memory.js'
import type { Conn } from '../ts/transport/types.js'
import { connPair, resumablePair } from '../common/pair.js'
import { waitFor } from '../common/net.js'
import { rejectsCode, throwsCode } from './helpers/errors.js'
import { fixedIdentity } from './helpers/identities.js'
import { test } from './helpers/test.js'

const RESUME = HandshakeFeature.RESUME

/** A frame's bytes: header + payload. */
function frameBytes(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_SIZE + payload.length)
  writeHeader(new DataView(out.buffer), 0, type, 0, 0, 0, payload.length, 0, 0)
  out.set(payload, HEADER_SIZE)
  return out
}

/** Resolves with the next frame id `s` delivers. */
function nextFrame(s: Session<string>): Promise<number> {
  return new Promise((resolve) => (s.onframe = (f) => resolve(f.idLo)))
}

/** The session still carries frames both ways. */
async function stillWorks(p: { a: Session<string>; b: Session<string> }, id: number): Promise<void> {
  const atB = nextFrame(p.b)
  p.a.send(MsgType.DATA, 0, 0, 1, 0, id, new Uint8Array(5))
  assert.is(await atB, id)
  const atA = nextFrame(p.a)
  p.b.send(MsgType.DATA, 0, 0, 1, 0, id + 1, new Uint8Array(5))
  assert.is(await atA, id + 1)
}

/** A RESUME written on a fresh Conn to `p`'s responder side and presented to it; a refused Conn closes. */
async function presentResume(p: Awaited<ReturnType<typeof resumablePair>>, bytes: Uint8Array): Promise<{ err: unknown; attacker: Conn }> {
  const c = await p.conns()
  const closed = new Promise<void>((r) => c.a.once('close', () => r()))
  c.a.on('data', () => {})
  c.a.write(bytes)
  const req = await readResume(c.b)
  try {
    p.b.adopt(req)
  } catch (err) {
    await closed
    return { err, attacker: c.a }
  }
  return { err: null, attacker: c.a } // adopted: the caller's throwsCode fails
}

test('a forged RESUME (right token, wrong key), a replayed one and one for another session are refused with BAD_RESUME; the session goes on untouched', async () => {
  const t = memoryTransport(new MemoryNetwork())
  const p = await resumablePair(t)
  try {
    const token = p.b.resumeToken!
    assert.is(token.length, 16)
    assert.equal(p.a.resumeToken, token, 'both ends name the session alike')
    // Forged: whoever saw the token on the wire, without the keys.
    const forged = await presentResume(p, encodeResume(randomBytes(32), token, 1, 0))
    throwsCode(() => {
      throw forged.err
    }, 'BAD_RESUME', 'forged', /authentication/)
    assert.ok(forged.attacker.destroyed)
    assert.not.ok(p.b.suspended)
    await stillWorks(p, 10)
    // A genuine move, its RESUME recorded on the way.
    const c = await p.conns()
    const seen: Buffer[] = []
    c.b.on('data', (d) => seen.push(d))
    const req = readResume(c.b)
    await Promise.all([p.a.moveTo(c.a), req.then((r) => p.b.adopt(r))])
    const recorded = new Uint8Array(Buffer.concat(seen).subarray(0, RESUME_SIZE))
    await stillWorks(p, 20)
    // Replayed: the very bytes of that RESUME, on another Conn.
    const replayed = await presentResume(p, recorded)
    throwsCode(() => {
      throw replayed.err
    }, 'BAD_RESUME', 'replayed', /replayed/)
    // Authentic but asking for records that were never sent.
    const greedy = await presentResume(p, encodeResume(p.keys.ab, token, 7, 1_000_000))
    throwsCode(() => {
      throw greedy.err
    }, 'BAD_RESUME', 'out of range', /records from 1000000/)
    // Another session's token.
    const other = await presentResume(p, encodeResume(p.keys.ab, randomBytes(16), 8, 0))
    throwsCode(() => {
      throw other.err
    }, 'BAD_RESUME', 'another session', /another session/)
    assert.is(p.b.stats().moves, 1)
    await stillWorks(p, 30)
  } finally {
    await p.close()
  }
})

test('the mover refuses an answer it cannot authenticate, and a refusal; its session stays where it was', async () => {
  const t = memoryTransport(new MemoryNetwork())
  const p = await resumablePair(t)
  try {
    const c = await p.conns()
    c.b.on('data', () => c.b.write(Buffer.concat([Buffer.from('P4 OK\0', 'latin1'), randomBytes(28)])))
    await rejectsCode(p.a.moveTo(c.a), 'BAD_RESUME', 'forged answer')
    await stillWorks(p, 1)
    const d = await p.conns()
    d.b.on('data', () => d.b.write(Buffer.from('P4 ERROR resume refused\0', 'latin1')))
    await rejectsCode(p.a.moveTo(d.a), 'BAD_RESUME', 'refused')
    await stillWorks(p, 3)
  } finally {
    await p.close()
  }
})

test('readResume: garbage is BAD_RESUME at once, silence TIMEOUT on the given clock, a close PEER_CLOSED', async () => {
  let net!: MemoryNetwork
  const clock = new ManualClock({ idle: () => net.idle })
  net = new MemoryNetwork({ clock })
  const t = memoryTransport(net)
  const g = await connPair(t)
  g.a.write(Buffer.from('P4 CONNECT/2.0\0'))
  await rejectsCode(readResume(g.b, { clock }), 'BAD_RESUME')
  const s = await connPair(t)
  const silent = readResume(s.b, { clock, timeoutMs: 500 })
  const outcome = rejectsCode(silent, 'TIMEOUT')
  await clock.advance(500)
  await outcome
  const c = await connPair(t)
  const closing = readResume(c.b, { clock })
  c.a.write(Buffer.from('P4 RES'))
  c.a.destroy()
  await rejectsCode(closing, 'PEER_CLOSED')
})

test('a peer that never acknowledges: the sender keeps at most its retention cap (plus one frame), then stops like under backpressure; an ACK lets it go on', async () => {
  const { a: ca, b: raw, close } = await connPair('memory')
  const ab = randomBytes(32)
  const ba = randomBytes(32)
  const cap = 1 << 20
  const a = new Session(
    { conn: ca, remote: 'rogue', sendKey: ab, recvKey: ba, localFeatures: RESUME, remoteFeatures: RESUME },
    { resume: { retainBytes: cap }, highWaterMark: 4 << 20 },
  )
  let read = 0
  raw.on('data', (d) => (read += d.length))
  try {
    const frame = 64 * 1024
    let sent = 0
    while (a.send(MsgType.DATA, 0, 0, 1, 0, sent, new Uint8Array(frame))) sent++
    assert.ok(sent * frame > 3 * cap, 'more is queued than the cap')
    // The sender stops: everything written was read, and frames still wait.
    await waitFor(() => read > 0 && read === a.stats().bytesOut && a.conn.writableLength === 0, 5000, () => `the stall (read ${read}, out ${a.stats().bytesOut})`)
    const st = a.stats()
    assert.ok(st.retainedBytes >= cap, `retained ${st.retainedBytes}`)
    assert.ok(st.retainedBytes <= cap + frame + 2 * HEADER_SIZE + 64, `retained ${st.retainedBytes} stays within the cap plus one frame`)
    assert.ok(a.bufferedBytes > 2 * cap, 'the rest waits in the queue')
    throwsCode(() => {
      for (;;) a.send(MsgType.DATA, 0, 0, 1, 0, sent++, new Uint8Array(frame))
    }, 'QUOTA_EXCEEDED')
    // An ACK of everything it sent lets it write the next cap's worth.
    const before = st.bytesOut
    raw.write(sealRecord(ba, 0, null, frameBytes(MsgType.SESSION, encodeAck(st.recordsOut))))
    await waitFor(() => a.stats().bytesOut >= before + cap && read === a.stats().bytesOut, 5000, 'more output after the ACK')
    assert.ok(a.stats().retainedBytes <= cap + frame + 2 * HEADER_SIZE + 64)
    // An ACK of records never sent is a protocol violation.
    raw.write(sealRecord(ba, 1, null, frameBytes(MsgType.SESSION, encodeAck(a.stats().recordsOut + 5))))
    assert.is((await a.done)?.code, 'BAD_FRAME')
  } finally {
    a.destroy()
    raw.destroy()
    await close()
  }
})

test('a lost Conn suspends a resumable session; with no move within graceMs it closes with PEER_CLOSED (on the session clock)', async () => {
  let net!: MemoryNetwork
  const clock = new ManualClock({ idle: () => net.idle })
  net = new MemoryNetwork({ clock })
  const p = await resumablePair(memoryTransport(net), { clock, resume: { graceMs: 5000 } })
  try {
    const suspended: string[] = []
    p.b.on('suspend', (e: { code: string }) => suspended.push(e.code))
    p.a.conn.destroy()
    await clock.settle()
    assert.ok(p.a.suspended && p.b.suspended)
    assert.equal(suspended, ['PEER_CLOSED'])
    assert.not.ok(p.b.closed)
    p.b.send(MsgType.DATA, 0, 0, 1, 0, 1, new Uint8Array(3)) // queued for after a move
    await clock.advance(5000)
    assert.is(p.b.closeReason?.code, 'PEER_CLOSED')
    assert.is(p.a.closeReason?.code, 'PEER_CLOSED')
  } finally {
    await p.close()
  }
})

test('a peer without the feature bit: no control frames, a lost Conn closes the session as before, moveTo is BAD_RESUME', async () => {
  const { a, b, close } = await connPair('memory')
  const [ha, hb] = await Promise.all([
    initiateSession(a, { identity: fixedIdentity(1), username: 'alice', features: RESUME }),
    acceptSession(b, { identity: fixedIdentity(2), username: 'bob' }),
  ])
  assert.is(ha.remoteFeatures, 0)
  assert.is(hb.remoteFeatures, RESUME)
  const sa = new Session(ha)
  const sb = new Session(hb)
  try {
    assert.not.ok(sa.resumable || sb.resumable)
    assert.is(sa.resumeToken, null)
    // Enough traffic that a resumable receiver would have acknowledged several times.
    let got = 0
    sb.onframe = () => got++
    for (let i = 0; i < 100; i++) sa.send(MsgType.DATA, 0, 0, 1, 0, i, new Uint8Array(20_000))
    await waitFor(() => got === 100, 5000, 'frames')
    assert.is(sa.stats().framesIn, 0, 'no control frame came back')
    assert.is(sa.stats().retainedBytes, 0, 'nothing retained')
    await rejectsCode(sa.moveTo(a), 'BAD_RESUME')
    a.destroy()
    assert.is(await sb.done, null)
    assert.is(await sa.done, null)
  } finally {
    await close()
  }
})

test('a SESSION frame to a session that did not negotiate resumption closes it with BAD_FRAME; SESSION cannot be sent by callers', async () => {
  const { a: ca, b: raw, close } = await connPair('memory')
  const ab = randomBytes(32)
  const ba = randomBytes(32)
  const a = new Session({ conn: ca, remote: 'x', sendKey: ab, recvKey: ba })
  throwsCode(() => a.send(MsgType.SESSION, 0, 0, 0, 0, 0, new Uint8Array(1)), 'BAD_ARGUMENT')
  raw.write(sealRecord(ba, 0, null, frameBytes(MsgType.SESSION, encodeAck(0))))
  assert.is((await a.done)?.code, 'BAD_FRAME')
  await close()
})

test('both ends announcing RESUME in a real handshake get resumable sessions that move', async () => {
  const t = memoryTransport(new MemoryNetwork())
  const { a, b, close } = await connPair(t)
  const [ha, hb] = await Promise.all([
    initiateSession(a, { identity: fixedIdentity(1), username: 'alice', features: RESUME }),
    acceptSession(b, { identity: fixedIdentity(2), username: 'bob', features: RESUME | 0x80 }),
  ])
  const sa = new Session(ha)
  const sb = new Session(hb)
  try {
    assert.ok(sa.resumable && sb.resumable)
    const c = await connPair(t)
    await Promise.all([sa.moveTo(c.a), readResume(c.b).then((r) => sb.adopt(r))])
    const got = new Promise<number>((r) => (sb.onframe = (f) => r(f.idLo)))
    sa.send(MsgType.DATA, 0, 0, 1, 0, 42, new Uint8Array(1))
    assert.is(await got, 42)
    assert.ok(a.destroyed, 'the old Conn was closed')
    await Promise.all([sa.close(), sb.done])
    assert.is(sb.closeReason, null)
    await c.close()
  } finally {
    sa.destroy()
    sb.destroy()
    await close()
  }
})

test('bad resume options are BAD_OPTION; moving a closed session is CLOSED', async () => {
  const t = memoryTransport(new MemoryNetwork())
  for (const resume of [{ retainBytes: 1000 }, { graceMs: 0 }, { timeoutMs: 1.5 }]) {
    await rejectsCode(resumablePair(t, { resume }), 'BAD_OPTION', JSON.stringify(resume))
  }
  const p = await resumablePair(t)
  const c = await p.conns()
  p.a.destroy()
  await rejectsCode(p.a.moveTo(c.a), 'CLOSED')
  await p.close()
})

test.run()
