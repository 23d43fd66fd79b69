// Moving a resumable session to a new Conn while frames flow both ways: the
// old Conn still open, closed cleanly, or cut at a seeded byte offset (ended
// half-way through a record, or destroyed). Every frame must arrive exactly
// once, in order, intact — over the memory transport and over loopback TCP.
import * as assert from 'uvu/assert'
import { MsgType } from '../ts/core/protocol.js'
import { readResume } from '../ts/session/resume.js'
import type { Session, SessionOptions } from '../ts/session/session.js'
import { MemoryNetwork, memoryTransport } from '../ts/transport/memory.js'
import { tcpTransport } from '../ts/transport/tcp.js'
import type { Conn, Transport } from '../ts/transport/types.js'
import { resumablePair } from '../common/pair.js'
import { seededRandom } from '../common/random.js'
import { waitFor } from '../common/net.js'
import { CutConn } from './helpers/cut-conn.js'
import { test } from './helpers/test.js'

/** Payload bytes of frame i in direction dir: a pattern the receiver can check. */
function fill(dir: number, i: number, size: number): Uint8Array {
  const p = new Uint8Array(size)
  for (let j = 0; j < size; j++) p[j] = (i * 131 + dir * 7 + j) & 0xff
  return p
}

function intact(dir: number, i: number, p: Uint8Array): boolean {
  for (let j = 0; j < p.length; j++) if (p[j] !== ((i * 131 + dir * 7 + j) & 0xff)) return false
  return true
}

/**
 * Mostly small frames (runs of them fill batches of several records); now
 * and then one of 16–66 KB (sealed by node:crypto unless the session says
 * otherwise), and a few that span many records.
 */
function sizeOf(rnd: () => number, i: number): number {
  if (i % 400 === 399) return 150_000 + Math.floor(rnd() * 150_000)
  if (i % 100 === 99) return 16_384 + Math.floor(rnd() * 50_000)
  return Math.floor(rnd() * 3000)
}

interface Inbox {
  got: number
  bytes: number
  bad: string[]
}

/** Checks that frames of direction `dir` arrive as 0, 1, 2, … with their pattern and size. */
function receive(s: Session<string>, dir: number, sizes: number[]): Inbox {
  const box: Inbox = { got: 0, bytes: 0, bad: [] }
  s.onframe = (f) => {
    const i = box.got++
    box.bytes += f.payload.length
    if (f.idLo !== i || f.payload.length !== sizes[i] || !intact(dir, i, f.payload)) {
      if (box.bad.length < 5) box.bad.push(`dir ${dir}: frame ${i} arrived as id ${f.idLo}, ${f.payload.length} bytes (want ${sizes[i]})`)
    }
  }
  return box
}

/**
 * Sends every frame of `sizes` on `s`, waiting for 'drain' (or the session's
 * end) when told to, in `gates.length + 1` segments: segment k + 1 goes once
 * gates[k] opened (when move k begins), so every move happens with frames
 * in flight and more being queued.
 */
async function pump(s: Session<string>, dir: number, sizes: number[], gates: Promise<void>[]): Promise<void> {
  const per = Math.ceil(sizes.length / (gates.length + 1))
  for (let i = 0; i < sizes.length; i++) {
    if (i > 0 && i % per === 0) await gates[i / per - 1]
    if (s.closed) throw new Error(`session closed while sending: ${String(s.closeReason)}`)
    if (!s.send(MsgType.DATA, 0, 0, 7, dir, i, fill(dir, i, sizes[i]!))) {
      await Promise.race([new Promise((r) => s.once('drain', r)), s.done])
    }
  }
}

type Mode = 'open' | 'cut-end' | 'cut-destroy' | 'clean'
const MODES: Mode[] = ['open', 'cut-end', 'cut-destroy', 'clean', 'cut-end', 'open', 'cut-destroy', 'cut-end', 'clean', 'open']

async function moveWhileSending(t: Transport, seed: number, opts: SessionOptions = {}): Promise<void> {
  const rnd = seededRandom(seed)
  const NA = 3000
  const NB = 1500
  const sizesA = Array.from({ length: NA }, (_, i) => sizeOf(rnd, i))
  const sizesB = Array.from({ length: NB }, (_, i) => sizeOf(rnd, i))
  // The Conn each side uses now, wrapped so that it can be cut.
  const cur: { a: CutConn | null; b: CutConn | null } = { a: null, b: null }
  let wrapped = 0
  const p = await resumablePair(t, opts, (c) => {
    const w = new CutConn(c)
    if (wrapped++ === 0) cur.a = w
    else cur.b = w
    return w
  })
  try {
    const atB = receive(p.b, 1, sizesA)
    const atA = receive(p.a, 2, sizesB)
    const open: Array<() => void> = []
    const gates = MODES.map(() => new Promise<void>((r) => open.push(r)))
    const sending = Promise.all([pump(p.a, 1, sizesA, gates), pump(p.b, 2, sizesB, gates)])
    sending.catch(() => {})
    const failed = (): string => [...atA.bad, ...atB.bad, String(p.a.closeReason ?? ''), String(p.b.closeReason ?? '')].join('; ')
    for (let i = 0; i < MODES.length; i++) {
      const mode = MODES[i]!
      // Half of segment i has arrived: the rest is on its way.
      const per = Math.ceil(NA / (MODES.length + 1))
      const goal = i * per + Math.floor(per / 2)
      await waitFor(() => atB.got >= goal || p.a.closed || p.b.closed, 30_000, () => `move ${i}: ${atB.got} of ${goal} frames (${failed()})`)
      assert.not.ok(p.a.closed || p.b.closed, `a session closed before move ${i}: ${failed()}`)
      const [mover, other] = i % 2 === 0 ? [p.a, p.b] : [p.b, p.a]
      open[i]!()
      if (mode === 'cut-end' || mode === 'cut-destroy') {
        // A's writes carry most bytes: cut them at a seeded offset from here.
        cur.a!.cut(Math.floor(rnd() * 200_000), mode === 'cut-end' ? 'end' : 'destroy')
      } else if (mode === 'clean') {
        cur.a!.inner.end() // a clean close of the Conn, but no CLOSE: the session is not over
      }
      const state = (): string => `a ${JSON.stringify(p.a.stats())} buffered ${p.a.bufferedBytes} susp ${p.a.suspended}; b ${JSON.stringify(p.b.stats())} buffered ${p.b.bufferedBytes} susp ${p.b.suspended}; cutA written ${cur.a!.written} done ${cur.a!.cutDone}`
      if (mode !== 'open') await waitFor(() => mover.suspended || mover.closed, 30_000, () => `move ${i} (${mode}): the mover to notice the loss; ${state()}`)
      const c = await p.conns()
      const moverConn = new CutConn(c.a)
      const otherConn = new CutConn(c.b)
      cur.a = mover === p.a ? moverConn : otherConn
      cur.b = mover === p.a ? otherConn : moverConn
      await Promise.all([mover.moveTo(moverConn), readResume(otherConn).then((req) => other.adopt(req))])
      assert.not.ok(mover.suspended || other.suspended, `move ${i}: both sides on the new Conn`)
    }
    await sending
    await waitFor(() => (atB.got >= NA && atA.got >= NB) || p.a.closed || p.b.closed, 30_000, () => `all frames: a→b ${atB.got}/${NA}, b→a ${atA.got}/${NB} (${failed()})`)
    assert.equal([...atB.bad, ...atA.bad], [])
    assert.is(atB.got, NA)
    assert.is(atA.got, NB)
    assert.is(atB.bytes, sizesA.reduce((n, s) => n + s, 0))
    const sa = p.a.stats()
    const sb = p.b.stats()
    assert.is(sa.moves, MODES.length)
    assert.is(sb.moves, MODES.length)
    assert.ok(sa.bytesResent + sb.bytesResent > 0, 'records were sent again')
    // A clean end: CLOSE, then the Conn closes, and neither side waits for a move.
    const [ra, rb] = await Promise.all([p.a.close(), p.b.done])
    assert.is(ra, null)
    assert.is(rb, null)
  } finally {
    await p.close()
  }
}

test('memory: 4,500 frames both ways while the session moves ten times (old Conn open, closed, cut mid-record); each arrives once, in order', async () => {
  await moveWhileSending(memoryTransport(new MemoryNetwork()), 1)
})

test('memory: the same with another seed, small reads, and every record sealed in WASM (large frames straddle batches)', async () => {
  await moveWhileSending(memoryTransport(new MemoryNetwork({ maxChunk: 1000 })), 2, { nodeCryptoThreshold: Infinity })
})

test('tcp: 4,500 frames both ways while the session moves ten times over loopback', async () => {
  await moveWhileSending(tcpTransport(), 3)
})

test('a failed move (nobody answers the new Conn) leaves the session on its old Conn; a later move works', async () => {
  const t = memoryTransport(new MemoryNetwork())
  const p = await resumablePair(t)
  try {
    const got: number[] = []
    p.b.onframe = (f) => got.push(f.idLo)
    p.a.send(MsgType.DATA, 0, 0, 1, 0, 0, new Uint8Array(10))
    const c = await p.conns()
    const move = p.a.moveTo(c.a, { timeoutMs: 50 })
    p.a.send(MsgType.DATA, 0, 0, 1, 0, 1, new Uint8Array(10)) // queued while the move is tried
    const err = await move.then(
      () => null,
      (e: unknown) => e,
    )
    assert.is((err as { code?: string })?.code, 'TIMEOUT')
    assert.not.ok(p.a.suspended)
    p.a.send(MsgType.DATA, 0, 0, 1, 0, 2, new Uint8Array(10))
    await waitFor(() => got.length === 3, 5000, 'frames on the old Conn')
    assert.equal(got, [0, 1, 2])
    const d = await p.conns()
    await Promise.all([p.a.moveTo(d.a), readResume(d.b).then((req) => p.b.adopt(req))])
    p.a.send(MsgType.DATA, 0, 0, 1, 0, 3, new Uint8Array(10))
    await waitFor(() => got.length === 4, 5000, 'a frame on the new Conn')
    assert.equal(got, [0, 1, 2, 3])
    assert.is(p.a.conn, d.a)
  } finally {
    await p.close()
  }
})

test.run()
