import { closed, roundTrip } from './helpers/conns.js'
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { Worker } from 'node:worker_threads'
import fc from 'fast-check'
import { isP4Error } from '../ts/core/errors.js'
import { tcp } from '../ts/transport/tcp.js'
import { MemoryNetwork, memoryTransport } from '../ts/transport/memory.js'
import type { Conn, Listener, Transport } from '../ts/transport/types.js'
import { rejectsCode } from './helpers/errors.js'
import { kits, tcpHandles } from './helpers/kits.js'
import { waitFor } from '../common/net.js'

// Deterministic bytes (xorshift32), so a failure reproduces.
function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}


/** Resolves once the memory network has nothing left to deliver (each delivery is a setImmediate turn). */
async function idle(net: MemoryNetwork): Promise<void> {
  do await new Promise((r) => setImmediate(r))
  while (!net.idle)
}


/** Waits (up to 1 s) for every socket/listener to be gone: closes finish a turn or two after destroy(). */
async function noneOpen(open: () => number): Promise<void> {
  await waitFor(() => open() === 0, 1000, () => `everything closed (${open()} still open)`)
}

/** Listens; resolves the accepted Conn of the next dial. */
async function pair(t: Transport): Promise<{ l: Listener; client: Conn; server: Conn }> {
  let accept!: (c: Conn) => void
  const accepted = new Promise<Conn>((r) => (accept = r))
  const l = await t.listen('127.0.0.1', 0, accept)
  const client = await t.dial('127.0.0.1', l.address.port)
  const server = await accepted
  return { l, client, server }
}

for (const [name, make] of kits) {
  test(`${name}: listen on port 0, dial, echo, addresses`, async () => {
    const { t, open } = make()
    const l = await t.listen('127.0.0.1', 0, (c) => c.on('data', (d) => c.write(d)))
    assert.ok(l.address.port > 0)
    assert.is(l.address.host, '127.0.0.1')
    const c = await t.dial('127.0.0.1', l.address.port)
    assert.is(c.remoteHost, '127.0.0.1')
    assert.is(c.remotePort, l.address.port)
    assert.ok(c.localPort > 0)
    const got: Buffer[] = []
    const msg = bytes(1000, 7)
    const done = new Promise<void>((r) =>
      c.on('data', (d) => {
        got.push(d)
        if (Buffer.concat(got).length >= msg.length) r()
      }),
    )
    assert.ok(c.write(msg))
    await done
    assert.equal(new Uint8Array(Buffer.concat(got)), msg)
    c.destroy()
    await closed(c)
    await l.close()
    await noneOpen(open)
  })

  test(`${name}: a paused reader pushes back; drain after resume; 10 MiB intact and in order`, async () => {
    const { t, open } = make()
    const { l, client, server } = await pair(t)
    server.pause()
    const received: Buffer[] = []
    let receivedBytes = 0
    server.on('data', (d) => {
      received.push(d)
      receivedBytes += d.length
    })
    const total = 10 * 1024 * 1024
    const data = bytes(total, 42)
    let resumedAt = 0
    let drainBeforeResume = false
    let sawFalse = false
    const sent = new Promise<void>((resolve) => {
      let off = 0
      const pump = (): void => {
        if (resumedAt === 0 && sawFalse) drainBeforeResume = true
        while (off < total) {
          const ok = client.write(data.subarray(off, off + 65536))
          off += 65536
          if (!ok) {
            sawFalse = true
            client.once('drain', pump)
            return
          }
        }
        resolve()
      }
      pump()
    })
    assert.ok(sawFalse, 'write() returned false against a paused reader')
    // The written bytes are at the paused reader's side, and the loop has turned since: it had its chance.
    await roundTrip(t)
    assert.is(receivedBytes, 0, 'nothing delivered while paused')
    assert.not.ok(drainBeforeResume)
    resumedAt = Date.now()
    const all = new Promise<void>((r) => server.on('data', () => receivedBytes >= total && r()))
    server.resume()
    await sent
    await all
    assert.is(receivedBytes, total)
    assert.ok(Buffer.concat(received).equals(data), 'bytes arrive intact and in order')
    client.destroy()
    await closed(server)
    await l.close()
    await noneOpen(open)
  })

  test(`${name}: destroy on either side is seen by the other`, async () => {
    const { t, open } = make()
    const a = await pair(t)
    const serverClosed = closed(a.server)
    a.client.destroy()
    await serverClosed
    assert.ok(a.server.destroyed)
    const b = await pair(t)
    const clientClosed = closed(b.client)
    b.server.destroy()
    await clientClosed
    assert.ok(b.client.destroyed)
    await a.l.close()
    await b.l.close()
    await noneOpen(open)
  })

  test(`${name}: end() delivers what was written, then both sides close`, async () => {
    const { t, open } = make()
    const { l, client, server } = await pair(t)
    const got: Buffer[] = []
    server.on('data', (d) => got.push(d))
    const both = Promise.all([closed(client), closed(server)])
    client.write(bytes(5000, 3))
    client.end()
    await both
    assert.equal(new Uint8Array(Buffer.concat(got)), bytes(5000, 3))
    await l.close()
    await noneOpen(open)
  })

  test(`${name}: destroy(err) emits 'error' then 'close' locally`, async () => {
    const { t, open } = make()
    const { l, client, server } = await pair(t)
    const events: string[] = []
    client.on('error', (e) => events.push(`error:${e.message}`))
    const done = closed(client).then(() => events.push('close'))
    const other = closed(server)
    client.destroy(new Error('boom'))
    await done
    await other
    assert.equal(events, ['error:boom', 'close'])
    await l.close()
    await noneOpen(open)
  })

  test(`${name}: dial errors have codes`, async () => {
    const { t, open } = make()
    const l = await t.listen('127.0.0.1', 0, () => {})
    const port = l.address.port
    await l.close()
    const err = await rejectsCode(t.dial('127.0.0.1', port), 'UNREACHABLE')
    if (name === 'tcp') assert.is((err.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED')
    await rejectsCode(t.dial('', 80), 'BAD_ARGUMENT')
    await rejectsCode(t.dial(42 as unknown as string, 80), 'BAD_ARGUMENT')
    await rejectsCode(t.dial('127.0.0.1', 0), 'BAD_ARGUMENT')
    await rejectsCode(t.dial('127.0.0.1', 70000), 'BAD_ARGUMENT')
    await rejectsCode(t.dial('127.0.0.1', 1.5), 'BAD_ARGUMENT')
    await rejectsCode(t.dial('127.0.0.1', '80' as unknown as number), 'BAD_ARGUMENT')
    await rejectsCode(t.dial('127.0.0.1', 80, { timeoutMs: -1 }), 'BAD_ARGUMENT')
    await rejectsCode(t.listen('127.0.0.1', -1, () => {}), 'BAD_ARGUMENT')
    await rejectsCode(t.listen('127.0.0.1', 0, 'x' as unknown as () => void), 'BAD_ARGUMENT')
    await noneOpen(open)
  })

  test(`${name}: listening on a taken port is IO_ERROR; a closed listener frees it`, async () => {
    const { t, open } = make()
    const l = await t.listen('127.0.0.1', 0, () => {})
    await rejectsCode(t.listen('127.0.0.1', l.address.port, () => {}), 'IO_ERROR')
    await l.close()
    await l.close() // idempotent
    const again = await t.listen('127.0.0.1', l.address.port, () => {})
    assert.is(again.address.port, l.address.port)
    await again.close()
    await noneOpen(open)
  })

  test(`${name}: closing a listener leaves accepted Conns open`, async () => {
    const { t, open } = make()
    const { l, client, server } = await pair(t)
    await l.close()
    await rejectsCode(t.dial('127.0.0.1', l.address.port), 'UNREACHABLE')
    const got = new Promise<Buffer>((r) => server.once('data', r))
    client.write(Buffer.from('still here'))
    assert.is((await got).toString(), 'still here')
    const both = Promise.all([closed(client), closed(server)])
    client.destroy()
    await both
    await noneOpen(open)
  })
}

test('tcp: a dial that gets no answer is TIMEOUT', async () => {
  // A listener whose event loop is blocked accepts nothing: once its backlog
  // (1, i.e. 2 queued) is full the kernel drops further SYNs, so a dial hangs.
  const flag = new Int32Array(new SharedArrayBuffer(4))
  const worker = new Worker(
    `const { workerData, parentPort } = require('node:worker_threads')
     const net = require('node:net')
     const flag = new Int32Array(workerData)
     const s = net.createServer(() => {}).listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
       parentPort.postMessage(s.address().port)
       Atomics.wait(flag, 0, 0, 5000)
       s.close()
     })`,
    { eval: true, workerData: flag.buffer },
  )
  const port = await new Promise<number>((r) => worker.once('message', r))
  const fillers: Conn[] = []
  let timedOut: Error | undefined
  try {
    for (let i = 0; i < 4 && !timedOut; i++) {
      try {
        fillers.push(await tcp.dial('127.0.0.1', port, { timeoutMs: 150 }))
      } catch (err) {
        timedOut = err as Error
      }
    }
  } finally {
    Atomics.store(flag, 0, 1)
    Atomics.notify(flag, 0)
    for (const f of fillers) f.destroy()
    await worker.terminate()
  }
  assert.ok(timedOut, 'a dial timed out')
  assert.ok(isP4Error(timedOut, 'TIMEOUT'), timedOut.message)
  assert.ok(fillers.length >= 1)
  await noneOpen(tcpHandles)
})

test('tcp: Conn exposes its net.Socket', async () => {
  const { l, client, server } = await pair(tcp)
  assert.ok(client.socket)
  assert.is(client.socket!.remotePort, l.address.port)
  client.destroy()
  await closed(server)
  await l.close()
})

test('memory: delivery is asynchronous, never inside write()', async () => {
  const net = new MemoryNetwork()
  const { l, client, server } = await pair(net.transport())
  let inWrite = false
  let reentrant = false
  const got = new Promise<void>((r) =>
    server.on('data', () => {
      if (inWrite) reentrant = true
      r()
    }),
  )
  inWrite = true
  client.write(Buffer.from('x'))
  inWrite = false
  await got
  assert.not.ok(reentrant)
  client.destroy()
  await closed(server)
  await l.close()
})

test('memory: writes are merged and split to maxChunk, like a stream', async () => {
  const net = new MemoryNetwork({ maxChunk: 100 })
  const { l, client, server } = await pair(net.transport())
  const sizes: number[] = []
  const chunks: Buffer[] = []
  server.on('data', (d) => {
    sizes.push(d.length)
    chunks.push(d)
  })
  for (let i = 0; i < 10; i++) client.write(bytes(30, i + 1))
  client.write(bytes(250, 99))
  await idle(net)
  assert.ok(Math.max(...sizes) <= 100)
  assert.ok(sizes.length < 11, 'small writes were merged')
  const expected = Buffer.concat([...Array.from({ length: 10 }, (_, i) => bytes(30, i + 1)), bytes(250, 99)])
  assert.ok(Buffer.concat(chunks).equals(expected))
  client.destroy()
  await closed(server)
  await l.close()
})

test('memory: bytes wait for a data listener; an explicit pause() stays paused', async () => {
  const net = new MemoryNetwork()
  const { l, client, server } = await pair(net.transport())
  client.write(Buffer.from('early'))
  await idle(net)
  server.pause()
  const got: string[] = []
  server.on('data', (d) => got.push(d.toString()))
  // Nothing left in flight, and nothing delivered: the bytes wait for resume().
  await idle(net)
  assert.equal(got, [])
  server.resume()
  await idle(net)
  assert.equal(got, ['early'])
  client.destroy()
  await closed(server)
  await l.close()
})

test('memory: random writes, chunk sizes and pauses keep the stream intact (fast-check)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 1, max: 2048 }),
      fc.integer({ min: 1, max: 4096 }),
      fc.array(fc.boolean(), { maxLength: 30 }),
      async (sizes, maxChunk, highWaterMark, pauses) => {
        const net = new MemoryNetwork({ maxChunk, highWaterMark })
        const { l, client, server } = await pair(net.transport())
        const got: Buffer[] = []
        server.on('data', (d) => {
          assert.ok(d.length <= maxChunk)
          got.push(d)
        })
        const sent: Uint8Array[] = []
        for (let i = 0; i < sizes.length; i++) {
          const chunk = bytes(sizes[i]!, i + 1)
          sent.push(chunk)
          client.write(chunk)
          if (pauses[i]) {
            server.pause()
            await new Promise((r) => setImmediate(r))
            server.resume()
          }
        }
        const total = sent.reduce((n, c) => n + c.length, 0)
        while (got.reduce((n, c) => n + c.length, 0) < total) await new Promise((r) => setImmediate(r))
        assert.ok(Buffer.concat(got).equals(Buffer.concat(sent)))
        const both = Promise.all([closed(client), closed(server)])
        client.end()
        await both
        await l.close()
        assert.equal(net.stats(), { listeners: 0, connections: 0 })
      },
    ),
    { seed: 99, numRuns: 60 },
  )
})

test('memory: the writer may reuse its buffer after write()', async () => {
  const net = new MemoryNetwork()
  const { l, client, server } = await pair(net.transport())
  const got = new Promise<Buffer>((r) => server.once('data', r))
  const buf = Buffer.from('abc')
  client.write(buf)
  buf.fill(0)
  assert.is((await got).toString(), 'abc')
  client.destroy()
  await closed(server)
  await l.close()
})

test('memory: wildcard listeners, transports with their own source host', async () => {
  const net = new MemoryNetwork()
  const accepted: Conn[] = []
  const l = await memoryTransport(net).listen('0.0.0.0', 4001, (c) => accepted.push(c))
  const c = await net.transport({ host: '10.0.0.7' }).dial('10.0.0.1', 4001)
  await idle(net)
  assert.is(accepted.length, 1)
  assert.is(accepted[0]!.remoteHost, '10.0.0.7')
  assert.is(accepted[0]!.localHost, '10.0.0.1')
  assert.is(c.remoteHost, '10.0.0.1')
  c.destroy()
  await closed(accepted[0]!)
  await l.close()
  assert.throws(() => new MemoryNetwork({ highWaterMark: 0 }), (e: unknown) => isP4Error(e, 'BAD_OPTION'))
  assert.throws(() => net.transport({ host: '' }), (e: unknown) => isP4Error(e, 'BAD_ARGUMENT'))
})

test('memory: 1,000 nodes in one network, one pending immediate, no timers', async () => {
  const net = new MemoryNetwork()
  const listeners: Listener[] = []
  const conns: Conn[] = []
  for (let i = 0; i < 1000; i++) {
    const t = net.transport({ host: `10.0.${i >> 8}.${i & 255}` })
    listeners.push(await t.listen(`10.0.${i >> 8}.${i & 255}`, 4000, (c) => c.on('data', (d) => c.write(d))))
  }
  let echoes = 0
  let allEchoed!: () => void
  const echoed = new Promise<void>((r) => (allEchoed = r))
  for (let i = 0; i < 1000; i++) {
    const j = (i + 1) % 1000
    const c = await net.transport({ host: `10.0.${i >> 8}.${i & 255}` }).dial(`10.0.${j >> 8}.${j & 255}`, 4000)
    c.on('data', () => ++echoes === 1000 && allEchoed())
    conns.push(c)
  }
  for (const c of conns) c.write(Buffer.from('ping'))
  const timers = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  assert.ok(timers <= 1, `timers: ${timers}`)
  await echoed
  assert.is(net.stats().connections, 2000)
  for (const c of conns) c.destroy()
  for (const l of listeners) await l.close()
  await idle(net)
  assert.equal(net.stats(), { listeners: 0, connections: 0 })
})

test.run()
