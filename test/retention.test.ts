// A resumable session keeps what it sent until the peer acknowledges it, in
// slabs that are reused once acknowledged: a busy session must not allocate a
// new buffer for each slab's worth it sends (the collector then ran a full
// mark-compact every few MiB).
import * as assert from 'uvu/assert'
import { MsgType } from '../ts/core/protocol.js'
import { Retention } from '../ts/session/retention.js'
import type { Conn } from '../ts/transport/types.js'
import { makeTransport, resumablePair } from '../common/pair.js'
import { waitFor } from '../common/net.js'
import { test } from './helpers/test.js'

test('Retention: a session caught up at every ACK reuses its slabs', () => {
  const r = new Retention(8 * 1024 * 1024)
  const buffers = new Set<ArrayBufferLike>()
  let counter = 0
  let sinceAck = 0
  for (let k = 0; k < 512; k++) {
    const buf = r.alloc(65_600)
    buffers.add(buf.buffer)
    r.add(buf, counter++, 1)
    sinceAck += buf.length
    if (sinceAck >= 512 * 1024) {
      assert.ok(r.ack(counter)) // everything so far: caught up
      sinceAck = 0
    }
  }
  // Slabs double from 16 KiB up to 512 KiB; then two take turns.
  assert.ok(buffers.size <= 8, `${buffers.size} distinct buffers for 512 records of 64 KiB`)
})

test('Retention: held bytes and records stay exact across reuse', () => {
  const r = new Retention(1 << 20)
  let counter = 0
  for (let round = 0; round < 20; round++) {
    const first = counter
    for (let k = 0; k < 10; k++) {
      const buf = r.alloc(60_000)
      buf.fill(round)
      r.add(buf, counter++, 1)
    }
    assert.is(r.bytes, 600_000)
    // Nothing still held was overwritten by a later allocation.
    const held = r.from(first)
    assert.is(held.length, 10)
    for (const b of held) assert.ok(b.every((x) => x === round), `round ${round}: a held record was overwritten`)
    assert.ok(r.ack(counter))
    assert.is(r.bytes, 0)
  }
})

test('a resumable session pair writes from reused buffers once busy', async () => {
  const seen = new Set<ArrayBufferLike>()
  let fresh = 0
  const watch = (c: Conn): Conn => {
    const write = c.write.bind(c)
    c.write = (chunk: Uint8Array): boolean => {
      if (!seen.has(chunk.buffer)) {
        seen.add(chunk.buffer)
        fresh++
      }
      return write(chunk)
    }
    return c
  }
  const pair = await resumablePair(makeTransport('tcp'), {}, watch)
  try {
    const msg = new Uint8Array(64 * 1024).fill(7)
    let got = 0
    pair.b.onframe = (): void => void got++
    const send = async (count: number): Promise<void> => {
      const target = got + count
      for (let k = 0; k < count; k++) {
        if (!pair.a.send(MsgType.DATA, 0, 0, 7, 0, k, msg)) await new Promise((r) => pair.a.once('drain', r))
      }
      await waitFor(() => got === target, 10_000, () => `${got} of ${target} frames`)
    }
    await send(256) // 16 MiB: the slabs ramp up to what is in flight
    const afterRampUp = fresh
    await send(256)
    // Before, every 512 KiB slab was a fresh buffer: 32 more here.
    assert.ok(fresh - afterRampUp <= 4, `${fresh - afterRampUp} fresh buffers written for the second 16 MiB (${afterRampUp} for the first)`)
  } finally {
    await pair.close()
  }
})

test.run()
