// Small frames are packed, header and all, into run buffers as send() queues
// them (ts/session/sender.ts): they must still arrive complete, in order per
// flow, with every header field intact, across record and batch boundaries
// and mixed with frames too large to pack; and a packed payload is copied at
// send(), so the caller may reuse its buffer at once.
import * as assert from 'uvu/assert'
import { sessionPair } from '../common/pair.js'
import type { TransportName } from '../common/net.js'
import { waiting } from '../common/waits.js'
import { MsgType } from '../ts/core/protocol.js'
import type { Frame, Session } from '../ts/session/session.js'
import { PACK_MAX } from '../ts/session/sender.js'
import { test } from './helpers/test.js'

/** Sizes around the packing limit, tiny, empty and a few records long. */
function sizeOf(i: number, packMax: number): number {
  const pick = [0, 1, 17, 64, packMax - 1, packMax, packMax + 1, 4000, 70_000]
  return pick[(i * 7919) % pick.length]!
}

/** A payload whose bytes tell its index. */
function payloadOf(i: number, n: number): Uint8Array {
  const p = new Uint8Array(n)
  for (let k = 0; k < n; k++) p[k] = (i + k) & 0xff
  return p
}

function intact(f: Frame, i: number, n: number): boolean {
  if (f.payload.length !== n) return false
  for (let k = 0; k < n; k += 97) if (f.payload[k] !== ((i + k) & 0xff)) return false
  return n === 0 || f.payload[n - 1] === ((i + n - 1) & 0xff)
}

/** Sends `count` frames of mixed sizes on flow 0 and flow 5 (odd and even indexes), some deferred; checks what b receives. */
async function mixed(a: Session, b: Session, count: number): Promise<void> {
  const packMax = a.copiesUpTo
  const got: number[][] = [[], []]
  let bad = ''
  let total = 0
  let allIn!: () => void
  const all = new Promise<void>((r) => (allIn = r))
  b.onframe = (f) => {
    const i = f.idLo
    const flow = f.idHi
    if (!bad && (f.type !== MsgType.DATA || f.flags !== (i & 1 ? 4 : 0) || f.hops !== (i % 3) || f.pluginId !== (i & 0xffff) || !intact(f, i, sizeOf(i, packMax)))) {
      bad = `frame ${i} (flow ${flow}) damaged: ${f.payload.length} bytes, flags ${f.flags}, hops ${f.hops}`
    }
    got[flow === 0 ? 0 : 1]!.push(i)
    if (++total === count) allIn()
  }
  const framesBefore = a.stats().framesOut
  const flow5 = a.flow(5)
  for (let i = 0; i < count; i++) {
    const n = sizeOf(i, packMax)
    const args = [MsgType.DATA, i & 1 ? 4 : 0, i % 3, i & 0xffff] as const
    const onFive = i % 4 === 1
    const ok = onFive ? flow5.send(...args, 5, i, payloadOf(i, n)) : i % 5 === 0 ? a.sendDeferred(...args, 0, i, payloadOf(i, n)) : a.send(...args, 0, i, payloadOf(i, n))
    if (!ok) await new Promise((r) => (onFive ? flow5 : a).once('drain', r))
  }
  await waiting(() => `${count} frames at b (got ${total})`, all)
  assert.is(bad, '')
  const expect = (five: boolean): number[] => Array.from({ length: count }, (_, i) => i).filter((i) => (i % 4 === 1) === five)
  assert.equal(got[0], expect(false), 'flow 0 in order')
  assert.equal(got[1], expect(true), 'flow 5 in order')
  assert.is(a.stats().framesOut - framesBefore, count, 'framesOut counts frames, not runs')
}

for (const t of ['memory', 'tcp'] as TransportName[]) {
  test(`${t}: 10,000 frames of mixed sizes (packed and not) on two flows arrive intact and in order per flow`, async () => {
    const p = await sessionPair(t)
    try {
      assert.is(p.a.copiesUpTo, PACK_MAX)
      await mixed(p.a, p.b, 10_000)
    } finally {
      await p.close()
    }
  })
}

test('with a low node:crypto threshold only payloads below it are packed; order and content hold', async () => {
  // Sessions whose sender hands payloads of 64 bytes and up to node:crypto.
  const p = await sessionPair('memory', { nodeCryptoThreshold: 64 })
  try {
    assert.is(p.a.copiesUpTo, 63)
    await mixed(p.a, p.b, 3000)
  } finally {
    await p.close()
  }
})

test('a payload of at most copiesUpTo bytes is copied by send(): reusing the buffer at once changes nothing that arrives', async () => {
  const p = await sessionPair('memory')
  try {
    const got: Frame[] = []
    let allIn!: () => void
    const all = new Promise<void>((r) => (allIn = r))
    p.b.onframe = (f) => {
      got.push({ ...f, payload: Uint8Array.from(f.payload) })
      if (got.length === 200) allIn()
    }
    const buf = new Uint8Array(p.a.copiesUpTo)
    for (let i = 0; i < 100; i++) {
      buf.fill(i)
      p.a.send(MsgType.DATA, 0, 0, 1, 0, i, buf)
      p.a.sendDeferred(MsgType.DATA, 0, 0, 1, 1, i, buf.subarray(0, 10))
    }
    buf.fill(0xee) // before any batch was built
    await waiting(() => `200 frames (got ${got.length})`, all)
    for (let i = 0; i < 100; i++) {
      const whole = got[2 * i]!
      const part = got[2 * i + 1]!
      assert.ok(whole.payload.every((x) => x === i), `frame ${i} carries its own bytes`)
      assert.equal([...part.payload], new Array(10).fill(i))
    }
  } finally {
    await p.close()
  }
})

test.run()
