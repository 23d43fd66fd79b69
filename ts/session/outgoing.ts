// The frames a Sender keeps queued (flows.ts Outgoing): items reused from a
// pool once written, and small frames written, header and all, into run
// buffers as they are queued — a small frame then costs a copy of its bytes
// instead of a queued object, and the flush copies whole runs.
import { HEADER_SIZE, writeHeader } from '../core/protocol.js'
import { PACKED, type FlowQueue, type Outgoing, type Scheduler } from './flows.js'

/** Payloads up to this size are packed into runs. */
export const PACK_MAX = 1024
/** Bytes of one run buffer. */
const RUN_SIZE = 16 * 1024
/** Written items kept for reuse (every session's): a queued frame then costs no allocation. */
const SPARE_MAX = 4096
/** Run buffers kept for reuse once written (every session's). */
const SPARE_RUNS_MAX = 64
const spare: Outgoing[] = []
const spareRuns: Uint8Array[] = []
const spareRunViews: DataView[] = []
const EMPTY = new Uint8Array(0)

/** A queued item: a spare one refilled, or a new one. */
export function item(type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array, bytes: number): Outgoing {
  const m = spare.pop()
  if (m === undefined) return { type, flags, hops, pluginId, idHi, idLo, payload, fill: 0, view: null, frames: 1, bytes }
  m.type = type
  m.flags = flags
  m.hops = hops
  m.pluginId = pluginId
  m.idHi = idHi
  m.idLo = idLo
  m.payload = payload
  m.fill = 0
  m.frames = 1
  m.bytes = bytes
  return m
}

/**
 * Appends a frame to the run at the tail of q (a new run when there is none
 * or it is full). Nothing refers to `payload` afterwards.
 */
export function pack(sched: Scheduler, q: FlowQueue, type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array): void {
  const n = payload.length
  const need = HEADER_SIZE + n
  const items = q.items
  let m = items.length > q.head ? items[items.length - 1]! : null
  if (m === null || m.type !== PACKED || m.fill + need > m.payload.length) {
    // A spare run and its view go in and out of the pools together.
    const run = spareRuns.length > 0 ? spareRuns.pop()! : new Uint8Array(RUN_SIZE)
    m = item(PACKED, 0, 0, 0, 0, 0, run, 0)
    m.view = spareRunViews.length > 0 ? spareRunViews.pop()! : new DataView(run.buffer)
    m.frames = 0
    sched.push(q, m)
  }
  const at = m.fill
  writeHeader(m.view!, at, type, flags, hops, pluginId, n, idHi, idLo)
  m.payload.set(payload, at + HEADER_SIZE)
  m.fill = at + need
  m.frames++
  m.bytes += n
  q.queuedBytes += n
}

/**
 * An item is written: nothing refers to it any more (the scheduler has moved
 * past it; a run's bytes are in the batch), so it and its run go back to the pools.
 */
export function release(m: Outgoing): void {
  if (m.view !== null && spareRuns.length < SPARE_RUNS_MAX) {
    spareRuns.push(m.payload)
    spareRunViews.push(m.view)
  }
  m.view = null
  if (spare.length < SPARE_MAX) {
    m.payload = EMPTY
    spare.push(m)
  }
}
