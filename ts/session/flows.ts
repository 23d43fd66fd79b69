// Flows: several send queues in one session, so that a bulk transfer never
// holds up the session's control traffic and small messages. A flow is a
// sender-side scheduling concept only — nothing on the wire names it; the
// receiver sees one ordered stream of frames and dispatches them by type.
//
// The sender takes frames from the flows by deficit round robin (DRR) over
// the frame bytes (header + payload): each active flow in turn may send
// frames worth up to QUANTUM bytes (plus what it carried over from earlier
// turns), so flows with queued frames share the records byte-fairly whatever
// their frame sizes. A frame is never split, so the scheduler switches flows
// only between frames: a frame that joins a backlogged flow set waits for at
// most the rest of the frame being written plus one turn of each other
// active flow, a turn being less than QUANTUM + the largest frame queued.
// With frames of at most one record (65,519 bytes; streams should chunk to
// that) that is about two records per other flow.
//
// Control frames of the session itself (ACK, CLOSE) have their own queue,
// served before any flow.
import { EventEmitter } from 'node:events'
import { HEADER_SIZE } from '../core/protocol.js'
import { RECORD_MAX_PLAIN } from '../wasm/channel.js'
import type { Frame } from './receiver.js'

/** Bytes a flow may send per turn (one full record of plaintext). */
export const QUANTUM = RECORD_MAX_PLAIN
/** Flow IDs are 0..MAX_FLOW_ID; flow 0 is the session's own send(). */
export const MAX_FLOW_ID = 0xffff

/** `type` of a queued run of small frames packed into one buffer (headers included). */
export const PACKED = 0

/**
 * One queued frame (the fields of its header, and its payload), or a run of
 * small frames already written out, headers and payloads, into one buffer
 * (type PACKED: `payload` is that buffer, `fill` its bytes in use).
 */
export interface Outgoing extends Frame {
  /** PACKED: bytes of `payload` in use. */
  fill: number
  /** PACKED: a view of `payload` to write headers with; null otherwise. */
  view: DataView | null
  /** Frames this item holds (1 unless PACKED). */
  frames: number
  /** Payload bytes it holds (what queuedBytes counts; headers of a PACKED run excluded). */
  bytes: number
}

/** Bytes an item puts on the record stream. */
export function wireBytes(m: Outgoing): number {
  return m.type === PACKED ? m.fill : HEADER_SIZE + m.payload.length
}

/** One flow's frames, oldest first, and its scheduling state. */
export class FlowQueue {
  items: Outgoing[] = []
  head = 0
  /** Payload bytes queued and not yet written to the transport. */
  queuedBytes = 0
  deficit = 0
  /** In the scheduler's ring (it has frames). */
  active = false
  /** Its DRR turn has begun (the quantum was added). */
  inTurn = false

  constructor(readonly id: number) {}

  get length(): number {
    return this.items.length - this.head
  }

  /** Drops what was taken (called when the queue emptied, or now and then). */
  compact(): void {
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }
}

/** Picks the next frame to write: control frames first, then the flows by DRR. */
export class Scheduler {
  readonly control = new FlowQueue(-1)
  /** Flows with frames, in round-robin order. */
  private ring: FlowQueue[] = []
  private turn = 0
  /** Frames queued in every queue. */
  frames = 0
  /** The queue the frame next() returned last came from (its byte count drops once the frame is written). */
  from: FlowQueue | null = null

  push(q: FlowQueue, m: Outgoing): void {
    q.items.push(m)
    q.queuedBytes += m.bytes
    this.frames++
    if (!q.active && q !== this.control) {
      q.active = true
      this.ring.push(q)
    }
  }

  /** The next frame, or null. `dataToo` false: control frames only (the sender must not start new data). */
  next(dataToo: boolean): Outgoing | null {
    const c = this.control
    if (c.head < c.items.length) return this.take(c)
    if (!dataToo) return null
    const ring = this.ring
    if (ring.length === 1) {
      // One active flow (the common case): no accounting needed.
      const q = ring[0]!
      q.deficit = 0
      q.inTurn = false
      return this.take(q)
    }
    if (ring.length === 0) return null
    for (;;) {
      if (this.turn >= ring.length) this.turn = 0
      const q = ring[this.turn]!
      if (!q.inTurn) {
        q.deficit += QUANTUM
        q.inTurn = true
      }
      const m = q.items[q.head]!
      const cost = wireBytes(m)
      if (cost <= q.deficit) {
        q.deficit -= cost
        return this.take(q)
      }
      q.inTurn = false
      this.turn++
    }
  }

  private take(q: FlowQueue): Outgoing {
    const m = q.items[q.head++]!
    this.frames--
    this.from = q
    if (q.head === q.items.length) {
      q.items = []
      q.head = 0
      if (q.active) this.retire(q)
    }
    return m
  }

  /** Drops taken frames from long queues (once per flush, not per frame). */
  compact(): void {
    for (const q of this.ring) if (q.head > 1024) q.compact()
  }

  // An emptied flow leaves the ring; DRR forgets its deficit.
  private retire(q: FlowQueue): void {
    q.active = false
    q.inTurn = false
    q.deficit = 0
    const i = this.ring.indexOf(q)
    this.ring.splice(i, 1)
    if (i < this.turn) this.turn--
  }

  /** Drops everything queued (the session closed). */
  clear(all: Iterable<FlowQueue>): void {
    for (const q of all) {
      q.items = []
      q.head = 0
      q.queuedBytes = 0
      q.active = false
      q.inTurn = false
      q.deficit = 0
    }
    this.control.items = []
    this.control.head = 0
    this.control.queuedBytes = 0
    this.ring = []
    this.turn = 0
    this.frames = 0
  }
}

/** What a Flow handle needs from its session. */
export interface FlowOwner {
  sendOn(q: FlowQueue, type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array): boolean
  bufferedOn(q: FlowQueue): number
}

/**
 * A send handle for one flow of a session (session.flow(id)). send() has the
 * session's send() contract, with backpressure counted per flow: it returns
 * false once this flow's queued bytes plus the transport's reach the
 * session's mark, and this handle emits 'drain' when it may go on. A full
 * bulk flow therefore never makes flow 0 (session.send) report false.
 */
export class Flow extends EventEmitter {
  /** Set when send() returned false; cleared when 'drain' is emitted. */
  needDrain = false

  constructor(
    readonly id: number,
    /** @internal */ readonly q: FlowQueue,
    private readonly owner: FlowOwner,
  ) {
    super()
  }

  /** Queues one frame on this flow (see Session.send). */
  send(type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array): boolean {
    return this.owner.sendOn(this.q, type, flags, hops, pluginId, idHi, idLo, payload)
  }

  /** Payload bytes queued on this flow and not yet written to the transport. */
  get queuedBytes(): number {
    return this.q.queuedBytes
  }

  /** This flow's queued bytes plus the bytes waiting in the transport (what its backpressure counts). */
  get bufferedBytes(): number {
    return this.owner.bufferedOn(this.q)
  }
}
