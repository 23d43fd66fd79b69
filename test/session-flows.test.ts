// Flows: several send queues in one session, served by deficit round robin.
// A backlog on one flow must not hold another back (bounded in frames
// written), backlogged flows share bytes fairly, and backpressure and
// 'drain' are per flow. The receiver tells flows apart by the frames' idHi.
import * as assert from 'uvu/assert'
import { MsgType } from '../ts/core/protocol.js'
import { QUANTUM } from '../ts/session/flows.js'
import type { Frame } from '../ts/session/session.js'
import { sessionPair } from '../common/pair.js'
import type { TransportName } from '../common/net.js'
import { waitFor } from '../common/net.js'
import { throwsCode } from './helpers/errors.js'
import { test } from './helpers/test.js'

const KiB = 1024

for (const t of ['memory', 'tcp'] as TransportName[]) {
  test(`${t}: frames queued on flow 0 behind 100 queued 64 KiB frames of flow 1 go out after at most one of them (FIFO: after all 100)`, async () => {
    const p = await sessionPair(t)
    try {
      const order: number[] = []
      p.b.onframe = (f) => order.push(f.idHi)
      const bulk = p.a.flow(1)
      for (let i = 0; i < 100; i++) bulk.send(MsgType.DATA, 0, 0, 1, 1, i, new Uint8Array(64 * KiB))
      for (let i = 0; i < 10; i++) p.a.send(MsgType.PING, 0, 0, 0, 0, i, new Uint8Array(8))
      await waitFor(() => order.length === 110, 10_000, 'all frames')
      const lastSmall = order.lastIndexOf(0)
      assert.ok(lastSmall <= 10, `the 10th flow-0 frame arrived at position ${lastSmall}: ${order.slice(0, 14).join(',')}`)
    } finally {
      await p.close()
    }
  })

  test(`${t}: under a running flow-1 backlog, each flow-0 frame is written after at most one more flow-1 frame`, async () => {
    // Counted in flow-1 frames: written when the small frame was queued
    // (those sent minus those still queued), received before it arrived.
    const p = await sessionPair(t)
    try {
      const bulk = p.a.flow(1)
      let queuedBulk = 0
      const refill = (): void => {
        while (queuedBulk < 400) if (!bulk.send(MsgType.DATA, 0, 0, 1, 1, queuedBulk++, new Uint8Array(64 * KiB))) break
      }
      bulk.on('drain', refill)
      refill()
      const writtenAt = new Map<number, number>() // flow-0 frame → flow-1 frames written before it was queued
      const lag: number[] = []
      let receivedBulk = 0
      let small = 0
      p.b.onframe = (f: Frame) => {
        if (f.idHi === 0) lag.push(receivedBulk - writtenAt.get(f.idLo)!)
        else receivedBulk++
        // Now and then, while the backlog lasts, one small frame.
        if (f.idHi === 1 && f.idLo % 7 === 3 && small < 40) {
          writtenAt.set(small, queuedBulk - bulk.queuedBytes / (64 * KiB))
          p.a.send(MsgType.PING, 0, 0, 0, 0, small++, new Uint8Array(16))
        }
      }
      await waitFor(() => lag.length === 40, 20_000, () => `40 small frames (${lag.length}, bulk ${queuedBulk})`)
      assert.ok(Math.max(...lag) <= 1, `frames written between queueing and sending a flow-0 frame: ${lag.join(',')}`)
    } finally {
      await p.close()
    }
  })
}

test('two backlogged flows share the bytes fairly whatever their frame sizes (within two quanta and a frame at every point)', async () => {
  const p = await sessionPair('memory')
  try {
    const bytes = [0, 0, 0]
    const left = [0, 100, 6000]
    let worst = 0
    p.b.onframe = (f) => {
      bytes[f.idHi]! += f.payload.length + 18
      left[f.idHi]!--
      if (left[1]! > 0 && left[2]! > 0) worst = Math.max(worst, Math.abs(bytes[1]! - bytes[2]!))
    }
    for (let i = 0; i < 100; i++) p.a.flow(1).send(MsgType.DATA, 0, 0, 1, 1, i, new Uint8Array(60 * KiB))
    for (let i = 0; i < 6000; i++) p.a.flow(2).send(MsgType.DATA, 0, 0, 1, 2, i, new Uint8Array(KiB))
    await waitFor(() => left[1] === 0 && left[2] === 0, 10_000, 'both backlogs')
    assert.ok(worst <= 2 * QUANTUM + 60 * KiB + 18, `largest lead of one flow: ${worst} bytes`)
  } finally {
    await p.close()
  }
})

test("backpressure is per flow: a full bulk flow returns false and gets its own 'drain', flow 0 is not held back", async () => {
  const p = await sessionPair('memory', { highWaterMark: 256 * KiB })
  try {
    let got = 0
    p.b.onframe = () => got++
    const bulk = p.a.flow(1)
    let accepted = 0
    while (bulk.send(MsgType.DATA, 0, 0, 1, 1, accepted, new Uint8Array(32 * KiB))) accepted++
    assert.is(accepted, 7, 'the 8th frame reaches the 256 KiB mark')
    assert.is(bulk.queuedBytes, 8 * 32 * KiB)
    assert.is(p.a.flow(1), bulk, 'one handle per flow')
    assert.ok(p.a.send(MsgType.PING, 0, 0, 0, 0, 0, new Uint8Array(8)), 'flow 0 still says go on')
    assert.is(p.a.bufferedBytes, 8 * 32 * KiB + 8, 'the session counts every flow')
    let sessionDrains = 0
    p.a.on('drain', () => sessionDrains++)
    await new Promise<void>((r) => bulk.once('drain', r))
    assert.ok(bulk.bufferedBytes < 256 * KiB)
    assert.is(sessionDrains, 0, "flow 0 never said wait, so it gets no 'drain'")
    await waitFor(() => got === 9, 5000, 'every frame')
  } finally {
    await p.close()
  }
})

test('flow ids are 0..65535; bad ones are BAD_ARGUMENT', async () => {
  const p = await sessionPair('memory')
  try {
    for (const id of [-1, 65536, 1.5, NaN]) throwsCode(() => p.a.flow(id), 'BAD_ARGUMENT', String(id))
    assert.is(p.a.flow(65535).id, 65535)
    throwsCode(() => p.a.flow(4).send(MsgType.SESSION, 0, 0, 0, 0, 0, new Uint8Array(1)), 'BAD_ARGUMENT')
  } finally {
    await p.close()
  }
})

test.run()
