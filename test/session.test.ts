import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { createHash, randomBytes } from 'node:crypto'
import { Session, type Frame } from '../ts/session/session.js'
import { P4Error } from '../ts/core/errors.js'
import { MsgType } from '../ts/core/protocol.js'
import { connPair, makeTransport, resumablePair, sessionPair } from '../common/pair.js'
import type { TransportName } from '../common/net.js'
import { waitFor } from '../common/net.js'
import { generateIdentity } from '../ts/core/identity.js'
import { acceptSession, initiateSession } from '../ts/session/handshake.js'

function collect(s: Session<unknown>, n: number): Promise<Frame[]> {
  const got: Frame[] = []
  return new Promise((resolve, reject) => {
    s.onframe = (f) => {
      got.push({ ...f, payload: new Uint8Array(f.payload) })
      if (got.length === n) resolve(got)
    }
    s.on('close', (reason) => reject(reason ?? new Error('closed early')))
  })
}

for (const t of ['memory', 'tcp'] as TransportName[]) {
  test(`${t}: round trips of 0 B, 1 B, 64 KiB and 16 MiB`, async () => {
    const p = await sessionPair(t)
    try {
      const sizes = [0, 1, 65536, 16 * 1024 * 1024]
      const payloads = sizes.map((n) => randomBytes(n))
      const got = collect(p.b, sizes.length)
      payloads.forEach((pl, i) => p.a.send(MsgType.DATA, 0, 0, 1001, 0x01020304, i, pl))
      const frames = await got
      frames.forEach((f, i) => {
        assert.is(f.type, MsgType.DATA)
        assert.is(f.pluginId, 1001)
        assert.is(f.idHi, 0x01020304)
        assert.is(f.idLo, i)
        assert.is(f.payload.length, sizes[i])
        assert.ok(Buffer.from(f.payload).equals(payloads[i]!), `payload ${i} intact`)
      })
      // and back the other way
      const back = collect(p.a, 1)
      p.b.send(MsgType.PING, 0, 0, 0, 0, 7, new Uint8Array([1, 2, 3]))
      assert.equal([...(await back)[0]!.payload], [1, 2, 3])
    } finally {
      await p.close()
    }
  })

  test(`${t}: 100,000 small messages arrive complete and in order`, async () => {
    const p = await sessionPair(t)
    try {
      const n = 100_000
      let next = 0
      let bad = 0
      const done = new Promise<void>((resolve) => {
        p.b.onframe = (f) => {
          if (f.idLo !== next || f.payload.length !== 64 || f.payload[0] !== (next & 0xff)) bad++
          next++
          if (next === n) resolve()
        }
      })
      const payload = new Uint8Array(64)
      for (let i = 0; i < n; i++) {
        const pl = new Uint8Array(64)
        pl[0] = i & 0xff
        if (!p.a.send(MsgType.DATA, 0, 0, 1, 0, i, pl)) await new Promise((r) => p.a.once('drain', r))
      }
      void payload
      await done
      assert.is(bad, 0)
      assert.is(p.b.stats().framesIn, n)
    } finally {
      await p.close()
    }
  })

  test(`${t}: a tampered byte closes the receiving session with DECRYPT_FAILED`, async () => {
    const { a, b, close } = await connPair(t)
    const k1 = randomBytes(32)
    const k2 = randomBytes(32)
    // Intercept a's writes and flip one ciphertext bit on the way.
    const realWrite = a.write.bind(a)
    a.write = (chunk: Uint8Array) => {
      const copy = Buffer.from(chunk)
      copy[copy.length - 20]! ^= 0x10
      return realWrite(copy)
    }
    const sa = new Session({ conn: a, remote: 'b', sendKey: k1, recvKey: k2 })
    const sb = new Session({ conn: b, remote: 'a', sendKey: k2, recvKey: k1 })
    let delivered = 0
    sb.onframe = () => delivered++
    sa.send(MsgType.DATA, 0, 0, 1, 0, 1, randomBytes(100))
    const reason = await sb.done
    assert.instance(reason, P4Error)
    assert.is(reason!.code, 'DECRYPT_FAILED')
    assert.is(delivered, 0)
    await sa.done
    await close()
  })

  test(`${t}: a replayed record closes the session`, async () => {
    const { a, b, close } = await connPair(t)
    const k1 = randomBytes(32)
    const k2 = randomBytes(32)
    const realWrite = a.write.bind(a)
    let first: Buffer | null = null
    a.write = (chunk: Uint8Array) => {
      if (first === null) first = Buffer.from(chunk)
      else realWrite(first) // replay the first batch instead of the second
      return realWrite(chunk)
    }
    const sa = new Session({ conn: a, remote: 'b', sendKey: k1, recvKey: k2 })
    const sb = new Session({ conn: b, remote: 'a', sendKey: k2, recvKey: k1 })
    const got: number[] = []
    const firstIn = new Promise<void>((resolve) => {
      sb.onframe = (f) => {
        got.push(f.idLo)
        resolve()
      }
    })
    sa.send(MsgType.DATA, 0, 0, 1, 0, 1, randomBytes(10))
    // The first record arrived, so it went out in a write of its own: the next send is the second write.
    await firstIn
    sa.send(MsgType.DATA, 0, 0, 1, 0, 2, randomBytes(10))
    const reason = await sb.done
    assert.is(reason?.code, 'DECRYPT_FAILED')
    assert.equal(got, [1])
    await sa.done
    await close()
  })

  test(`${t}: accepting is false from close() on, before the session is closed; send() then throws CLOSED`, async () => {
    const { a, close } = await sessionPair(t)
    assert.ok(a.accepting)
    a.send(MsgType.DATA, 0, 0, 1, 0, 1, randomBytes(10))
    const closing = a.close()
    assert.not.ok(a.accepting)
    assert.not.ok(a.closed, 'still sending what it queued')
    try {
      a.send(MsgType.DATA, 0, 0, 1, 0, 2, randomBytes(10))
      assert.unreachable('send after close()')
    } catch (err) {
      assert.is((err as P4Error).code, 'CLOSED')
    }
    await closing
    assert.not.ok(a.accepting)
    await close()
  })

  test(`${t}: the peer closing mid-frame ends with PEER_CLOSED`, async () => {
    const { a, b, close } = await connPair(t)
    const k1 = randomBytes(32)
    const k2 = randomBytes(32)
    const realWrite = a.write.bind(a)
    a.write = (chunk: Uint8Array) => {
      realWrite(Buffer.from(chunk).subarray(0, chunk.length - 5)) // last record cut short
      a.end()
      return true
    }
    const sa = new Session({ conn: a, remote: 'b', sendKey: k1, recvKey: k2 })
    const sb = new Session({ conn: b, remote: 'a', sendKey: k2, recvKey: k1 })
    sa.send(MsgType.DATA, 0, 0, 1, 0, 1, randomBytes(1000))
    const reason = await sb.done
    assert.is(reason?.code, 'PEER_CLOSED')
    sa.destroy()
    await close()
  })

  test(`${t}: a slow reader slows the writer (backpressure), nothing lost`, async () => {
    const p = await sessionPair(t, { highWaterMark: 256 * 1024 })
    try {
      p.b.pause()
      const chunk = randomBytes(64 * 1024)
      let sent = 0
      let refused = false
      // Without reading, the sender must say "wait" long before 64 MiB.
      for (; sent < 1024; sent++) {
        if (!p.a.send(MsgType.DATA, 0, 0, 1, 0, sent, chunk)) {
          refused = true
          sent++
          break
        }
      }
      assert.ok(refused, 'send() returned false')
      assert.ok(sent < 64, `refused after ${sent} messages`)
      // The queue is bounded: going on regardless fails loudly.
      assert.throws(() => {
        for (let i = 0; i < 4096; i++) p.a.send(MsgType.DATA, 0, 0, 1, 0, 0, chunk)
      }, (e: unknown) => e instanceof P4Error && e.code === 'QUOTA_EXCEEDED')
      const hash = createHash('sha256')
      let received = 0
      await new Promise<void>((resolve) => {
        p.b.onframe = (f) => {
          received++
          hash.update(f.payload)
          if (received === sent) resolve()
        }
        p.b.resume()
      })
      assert.ok(received >= sent)
    } finally {
      await p.close()
    }
  })

  test(`${t}: with a highWaterMark below the transport's own, every send() answered false is followed by 'drain'`, async () => {
    // The memory transport's write() says "wait" only at 64 KiB: a session that
    // says so at 1 KiB must emit 'drain' itself, since the transport will not.
    const p = await sessionPair(t, { highWaterMark: 1024 })
    try {
      p.b.onframe = () => undefined
      const frame = new Uint8Array(1000)
      for (let round = 0; round < 20; round++) {
        let sent = 0
        while (p.a.send(MsgType.DATA, 0, 0, 1, 0, sent, frame)) {
          if (++sent > 10_000) throw new Error('send() never asked to wait')
        }
        let drained = false
        p.a.once('drain', () => (drained = true))
        await waitFor(() => drained, 5000, () => `'drain' after send() returned false (round ${round}, ${p.a.bufferedBytes} bytes still queued)`)
      }
    } finally {
      await p.close()
    }
  })

  test(`${t}: oversize messages are refused with MESSAGE_TOO_LARGE, not truncated`, async () => {
    const p = await sessionPair(t, { maxMessage: 1000 })
    try {
      assert.throws(() => p.a.send(MsgType.DATA, 0, 0, 1, 0, 0, new Uint8Array(1001)), (e: unknown) => e instanceof P4Error && e.code === 'MESSAGE_TOO_LARGE')
      assert.throws(() => p.a.send(0, 0, 0, 1, 0, 0, new Uint8Array(1)), (e: unknown) => e instanceof P4Error && e.code === 'BAD_ARGUMENT')
      assert.throws(() => p.a.send(MsgType.DATA, 0, 0, 70000, 0, 0, new Uint8Array(1)), (e: unknown) => e instanceof P4Error && e.code === 'BAD_ARGUMENT')
    } finally {
      await p.close()
    }
  })

  test(`${t}: a peer announcing a frame over the receiver's limit is cut off`, async () => {
    const { a, b, close } = await connPair(t)
    const k1 = randomBytes(32)
    const k2 = randomBytes(32)
    const sa = new Session({ conn: a, remote: 'b', sendKey: k1, recvKey: k2 }, { maxMessage: 1 << 20 })
    const sb = new Session({ conn: b, remote: 'a', sendKey: k2, recvKey: k1 }, { maxMessage: 1000 })
    sa.send(MsgType.DATA, 0, 0, 1, 0, 1, randomBytes(5000))
    const reason = await sb.done
    assert.is(reason?.code, 'MESSAGE_TOO_LARGE')
    await sa.done
    await close()
  })

  test(`${t}: a large record announcing a frame over the receiver's limit is cut off too`, async () => {
    // The first record of a large send is opened by node:crypto and its header
    // checked on its own (receiver.startBigFrom): the same limit applies.
    const { a, b, close } = await connPair(t)
    const k1 = randomBytes(32)
    const k2 = randomBytes(32)
    const sa = new Session({ conn: a, remote: 'b', sendKey: k1, recvKey: k2 }, { maxMessage: 1 << 20 })
    const sb = new Session({ conn: b, remote: 'a', sendKey: k2, recvKey: k1 }, { maxMessage: 100_000 })
    let frames = 0
    sb.onframe = () => frames++
    sa.send(MsgType.DATA, 0, 0, 1, 0, 1, randomBytes(100_001))
    const reason = await sb.done
    assert.is(reason?.code, 'MESSAGE_TOO_LARGE')
    assert.is(frames, 0)
    await sa.done
    await close()
  })

  test(`${t}: resumable sessions carry mixed large and small frames intact, in order, while slabs are reused`, async () => {
    const p = await resumablePair(makeTransport(t))
    try {
      const sizes: number[] = []
      for (let i = 0; i < 300; i++) sizes.push(i % 7 === 0 ? 1 + ((i * 7919) % 300_000) : i % 3 === 0 ? 65_536 : (i * 131) % 2000)
      const sent = sizes.map((n) => randomBytes(n))
      const got: Buffer[] = []
      let done!: () => void
      const all = new Promise<void>((r) => (done = r))
      p.b.onframe = (f) => {
        got.push(Buffer.from(f.payload))
        if (got.length === sent.length) done()
      }
      for (let i = 0; i < sent.length; i++) {
        if (!p.a.send(MsgType.DATA, 0, 0, 1, 0, i, sent[i]!)) await new Promise((r) => p.a.once('drain', r))
      }
      await all
      for (let i = 0; i < sent.length; i++) assert.ok(got[i]!.equals(sent[i]!), `frame ${i} (${sent[i]!.length} bytes) differs`)
    } finally {
      await p.close()
    }
  })

  test(`${t}: close() flushes what is queued, then both sides see a clean close`, async () => {
    const p = await sessionPair(t)
    const got = collect(p.b, 3)
    for (let i = 0; i < 3; i++) p.a.send(MsgType.DATA, 0, 0, 1, 0, i, randomBytes(70000))
    const closed = p.a.close()
    assert.is((await got).length, 3)
    assert.is(await closed, null)
    assert.is(await p.b.done, null)
    assert.throws(() => p.a.send(MsgType.DATA, 0, 0, 1, 0, 0, new Uint8Array(1)), (e: unknown) => e instanceof P4Error && e.code === 'CLOSED')
    await p.close()
  })
}

for (const [ta, tb] of [[Infinity, 0], [0, Infinity], [1024, 1 << 20], [16384, 16384]] as const) {
  test(`WASM and node:crypto engines interoperate (sender threshold ${ta}, receiver ${tb})`, async () => {
    const p = await sessionPair('memory', { nodeCryptoThreshold: ta }, { nodeCryptoThreshold: tb })
    try {
      const sizes = [0, 1, 1000, 16383, 16384, 65501, 65502, 65519, 65536, 200_000, 5, 70_000, 3]
      const payloads = sizes.map((n) => randomBytes(n))
      const got = collect(p.b, sizes.length)
      payloads.forEach((pl, i) => p.a.send(MsgType.DATA, 0, 0, 7, 0, i, pl))
      const frames = await got
      frames.forEach((f, i) => assert.ok(Buffer.from(f.payload).equals(payloads[i]!), `size ${sizes[i]}`))
    } finally {
      await p.close()
    }
  })
}

for (const t of ['memory', 'tcp'] as TransportName[]) {
  test(`${t}: preamble + Noise handshake + encrypted channel, end to end`, async () => {
    const { a, b, close } = await connPair(t)
    const alice = generateIdentity()
    const bob = generateIdentity()
    const [ha, hb] = await Promise.all([
      initiateSession(a, { identity: alice, username: 'alice', listenPort: 4001 }),
      acceptSession(b, { identity: bob, username: 'bob', listenPort: 4002 }),
    ])
    assert.is(ha.remote.username, 'bob')
    assert.is(hb.remote.username, 'alice')
    assert.is(hb.remote.listenPort, 4001)
    assert.ok(Buffer.from(ha.remote.identityKey).equals(Buffer.from(bob.publicKey)))
    const sa = new Session(ha)
    const sb = new Session(hb)
    const got = collect(sb, 2)
    const back = collect(sa, 1)
    sa.send(MsgType.DATA, 0, 0, 9, 0, 1, Buffer.from('over the channel'))
    sa.send(MsgType.DATA, 0, 0, 9, 0, 2, randomBytes(100_000))
    sb.send(MsgType.PING, 0, 0, 0, 0, 3, Buffer.from('pong'))
    const frames = await got
    assert.is(Buffer.from(frames[0]!.payload).toString(), 'over the channel')
    assert.is(frames[1]!.payload.length, 100_000)
    assert.is(Buffer.from((await back)[0]!.payload).toString(), 'pong')
    await sa.close()
    await sb.done
    await close()
  })
}

test('no socket or timer is left open after sessions close', async () => {
  const count = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'Timeout').length
  const before = count()
  for (const t of ['tcp', 'memory'] as TransportName[]) {
    const p = await sessionPair(t)
    const got = collect(p.b, 1)
    p.a.send(MsgType.DATA, 0, 0, 1, 0, 1, randomBytes(10))
    await got
    await p.a.close()
    await p.b.done
    await p.close()
  }
  // Handles go when their close callbacks have run: wait for that, within a deadline.
  await waitFor(() => count() <= before, 2000, () => `sockets and timers back to ${before} (now ${count()}: ${process.getActiveResourcesInfo().join(', ')})`)
})

test('bad session options are refused with BAD_OPTION', async () => {
  const { a, close } = await connPair('memory')
  for (const o of [{ maxMessage: -1 }, { highWaterMark: 0 }, { maxQueue: 1.5 }, { nodeCryptoThreshold: -1 }]) {
    assert.throws(() => new Session({ conn: a, remote: 'x', sendKey: randomBytes(32), recvKey: randomBytes(32) }, o), (e: unknown) => e instanceof P4Error && e.code === 'BAD_OPTION')
  }
  a.destroy()
  await close()
})

test.run()
