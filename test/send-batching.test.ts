// Sends awaited one at a time (a microtask apart) leave as one sealed
// record at the end of the event-loop turn, also while the transport is
// still busy with earlier bytes: not as a record per microtask.
import * as assert from 'uvu/assert'
import { sessionPair } from '../common/pair.js'
import { waiting } from '../common/waits.js'
import { MsgType } from '../ts/core/protocol.js'
import { test } from './helpers/test.js'

const turn = (): Promise<void> => new Promise((r) => setImmediate(r))

test('awaited deferred sends to a busy transport share one record', async () => {
  const { a, b, close } = await sessionPair('memory')
  try {
    let got = 0
    let allIn!: () => void
    const all = new Promise<void>((r) => (allIn = r))
    b.onframe = () => {
      if (++got === 101) allIn()
    }
    // The peer does not read: what a writes stays with the transport.
    b.pause()
    a.send(MsgType.DATA, 0, 0, 7, 0, 0, new Uint8Array(1000))
    await turn()
    assert.ok(a.bufferedBytes > 0, 'the transport is busy')
    const before = a.stats().recordsOut
    const msg = new Uint8Array(64)
    for (let k = 1; k <= 100; k++) {
      assert.ok(a.sendDeferred(MsgType.DATA, 0, 0, 7, 0, k, msg))
      await Promise.resolve()
    }
    await turn()
    assert.is(a.stats().recordsOut - before, 1)
    b.resume()
    await waiting(() => `101 frames at b (got ${got})`, all)
  } finally {
    await close()
  }
})

test('awaited deferred sends share records up to a full one (48 KiB of 64-byte messages: one record, not three)', async () => {
  const { a, b, close } = await sessionPair('memory')
  try {
    const n = 750 // 48,000 bytes of payload, 61,500 with headers: one record's worth
    let got = 0
    let allIn!: () => void
    const all = new Promise<void>((r) => (allIn = r))
    b.onframe = () => {
      if (++got === n + 1) allIn()
    }
    b.pause()
    a.send(MsgType.DATA, 0, 0, 7, 0, 0, new Uint8Array(1000))
    await turn()
    const before = a.stats().recordsOut
    const msg = new Uint8Array(64)
    for (let k = 1; k <= n; k++) {
      assert.ok(a.sendDeferred(MsgType.DATA, 0, 0, 7, 0, k, msg))
      await Promise.resolve()
    }
    await turn()
    assert.is(a.stats().recordsOut - before, 1)
    b.resume()
    await waiting(() => `${n + 1} frames at b (got ${got})`, all)
  } finally {
    await close()
  }
})

test.run()
