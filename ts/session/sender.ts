// The sending half of an encrypted channel. send() only queues (on a flow,
// flows.ts); at the end of the tick the scheduler's frames are built into
// records in WASM memory, sealed in one call and written with one socket
// write per batch (up to four full records). When the transport pushes back,
// flushing stops until 'drain'. A resumable session also keeps what it wrote
// until the peer acknowledges it (retention.ts); past the retention cap no
// new frame is started (control frames still go out, so two peers waiting
// for each other's ACKs cannot deadlock).
import { P4Error } from '../core/errors.js'
import type { Conn } from '../transport/types.js'
import { BatchWriter, type LargeRecordSealer } from '../wasm/batch-writer.js'
import { channelScratch, RECORD_MAX_PLAIN } from '../wasm/channel.js'
import { DEFAULT_NODE_CRYPTO_THRESHOLD, MAX_RECORDS } from './receiver.js'
import { sealedSize, sealRecord, sealRecordInto } from './node-records.js'
import { HEADER_SIZE, writeHeader } from '../core/protocol.js'
import { FlowQueue, PACKED, Scheduler, type Outgoing } from './flows.js'
import { PACK_MAX, item, pack, release } from './outgoing.js'
import type { Retention } from './retention.js'

/** Bytes the sender keeps queued in the transport before it waits for 'drain'. */
const WRITE_AHEAD = 512 * 1024
/**
 * Queued bytes up to which a deferred send may wait for the end of the
 * event-loop turn: about a full record, so that sends awaited one at a time
 * fill records (each record and write has a fixed cost at both ends, about
 * 2-4 us for node:crypto's cipher setup alone; 16 KiB made four times
 * as many).
 */
const DEFER_MAX = 64 * 1024
export { PACK_MAX } from './outgoing.js'

export class Sender {
  counter = 0
  framesOut = 0
  bytesOut = 0
  /** Bytes written again after moves (retained records resent). */
  bytesResent = 0
  /** Payload bytes queued (every flow) and not yet handed to the transport. */
  queuedBytes = 0
  /** Set for a resumable session: what was written and not yet acknowledged. */
  retention: Retention | null = null
  readonly sched = new Scheduler()
  /** Every flow's queue by ID (flow 0 always exists). */
  readonly queues = new Map<number, FlowQueue>()
  readonly flow0: FlowQueue
  private readonly key: Uint8Array
  private conn: Conn | null = null
  private readonly writer: BatchWriter
  /** The frame being written (its header is out when partial >= 0). */
  private cur: Outgoing | null = null
  /** The flow queue cur came from. */
  private curQ: FlowQueue | null = null
  /** Progress inside cur: -1 = header not written yet, else payload bytes written. */
  private partial = -1
  private scheduled = false
  /** A setImmediate flush is pending (deferred sends). */
  private late = false
  private blocked = false
  private dead = false
  private readonly onDrained: () => void
  private readonly onError: (err: P4Error) => void

  /** Payloads of at least this many bytes are sealed with node:crypto. */
  private readonly large: number
  /** Payloads of at most this many bytes are packed (copied) when queued. */
  readonly packMax: number
  /** Batch records this large are sealed by node:crypto too (faster than WASM on full records). */
  private readonly largeRecords: LargeRecordSealer

  constructor(key: Uint8Array, onDrained: () => void, onError: (err: P4Error) => void, large = DEFAULT_NODE_CRYPTO_THRESHOLD) {
    this.key = key
    this.large = large
    this.packMax = Math.min(PACK_MAX, large - 1)
    this.largeRecords = { from: large, seal: (counter, plain, out, at) => sealRecordInto(key, counter, plain, out, at) }
    this.writer = new BatchWriter(channelScratch())
    this.onDrained = onDrained
    this.onError = onError
    this.flow0 = this.queue(0)
  }

  private readonly onDrain = (): void => {
    this.blocked = false
    this.flush()
  }

  /**
   * Writes to `conn` from now on: first `resend` (retained records the peer
   * lacks, after a move), then what is queued.
   */
  attach(conn: Conn, resend: Uint8Array[] = []): void {
    this.detach()
    this.conn = conn
    conn.on('drain', this.onDrain)
    for (const buf of resend) {
      this.bytesResent += buf.length
      if (!conn.write(buf) && conn.writableLength >= WRITE_AHEAD) this.blocked = true
    }
    this.schedule()
  }

  /** Stops writing (the Conn is going away or a move is under way); queued frames wait. */
  detach(): void {
    this.conn?.off('drain', this.onDrain)
    this.conn = null
    this.blocked = false
  }

  /** The queue of flow `id`, created on first use. */
  queue(id: number): FlowQueue {
    let q = this.queues.get(id)
    if (q === undefined) {
      q = new FlowQueue(id)
      this.queues.set(id, q)
    }
    return q
  }

  /** Frames queued and not yet fully written to the transport. */
  get pending(): number {
    return this.sched.frames + (this.cur !== null ? 1 : 0)
  }

  enqueue(q: FlowQueue, type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array, deferred = false): void {
    const n = payload.length
    if (n <= this.packMax && q !== this.sched.control) pack(this.sched, q, type, flags, hops, pluginId, idHi, idLo, payload)
    else this.sched.push(q, item(type, flags, hops, pluginId, idHi, idLo, payload, n))
    this.queuedBytes += n
    // Deferred while the batch is small: one large late write would reach a
    // slow link as a burst after an idle gap. A busy transport (bytes still
    // waiting for the kernel) defers too: it has nothing to gain from a
    // record per microtask, which is what awaited sends would otherwise make.
    if (deferred && this.queuedBytes <= DEFER_MAX) this.scheduleLate()
    else this.schedule()
  }

  /** Queues a session control frame (served before every flow). */
  control(type: number, payload: Uint8Array): void {
    this.enqueue(this.sched.control, type, 0, 0, 0, 0, 0, payload)
  }

  /** The peer has every record below `n`. False when that is impossible (a protocol violation). */
  ack(n: number): boolean {
    const r = this.retention
    if (r === null) return false
    const wasFull = r.full
    if (!r.ack(n)) return false
    if (wasFull && !r.full) this.schedule()
    return true
  }

  private schedule(): void {
    if (!this.scheduled && !this.blocked && this.conn !== null) {
      this.scheduled = true
      queueMicrotask(this.flushTask)
    }
  }

  private readonly flushTask = (): void => {
    this.scheduled = false
    this.flush()
  }

  // A deferred send flushes at the end of this turn of the event loop, not
  // this tick: a caller awaiting each send (a microtask per message) then
  // shares one record and one write with the sends that follow it.
  private scheduleLate(): void {
    if (!this.late && !this.scheduled && !this.blocked && this.conn !== null) {
      this.late = true
      setImmediate(this.lateTask)
    }
  }

  private readonly lateTask = (): void => {
    this.late = false
    this.flush()
  }

  /** The next frame to start: control frames always, data unless retention is full. */
  private next(): Outgoing | null {
    const r = this.retention
    return this.sched.next(r === null || r.bytes < r.cap)
  }

  /** Writes queued frames until none is left or the transport (or retention) pushes back. */
  flush(): void {
    if (this.dead || this.conn === null) return
    const w = this.writer
    const s = channelScratch()
    try {
      while (!this.blocked) {
        let m = this.cur
        let q = this.curQ!
        if (m === null) {
          m = this.next()
          if (m === null) break
          q = this.sched.from!
        }
        if (this.partial < 0 && m.type !== PACKED && m.payload.length >= this.large) {
          this.cur = null
          this.sendLarge(m, q)
          continue
        }
        s.setKey(this.key)
        w.begin()
        this.cur = null
        for (;;) {
          // A run (PACKED) is its bytes as they are, headers included; any other frame gets its header first.
          const packed = m.type === PACKED
          if (this.partial < 0) {
            // A large payload goes after this batch, on its own.
            if (!packed && (m.payload.length >= this.large || !w.header(m.type, m.flags, m.hops, m.pluginId, m.payload.length, m.idHi, m.idLo))) {
              this.cur = m
              this.curQ = q
              break
            }
            this.partial = 0
          }
          // Split wherever the batch fills.
          const end = packed ? m.fill : m.payload.length
          this.partial += w.bytes(m.payload, this.partial, end)
          if (this.partial < end) {
            this.cur = m
            this.curQ = q
            break
          }
          this.done(m, q)
          const n = this.next()
          if (n === null) break
          m = n
          q = this.sched.from!
        }
        if (this.counter + 64 >= MAX_RECORDS) throw new P4Error('NONCE_EXHAUSTED', 'send nonce space exhausted')
        if (w.empty) continue
        const first = this.counter
        const buf = w.finish(first, this.largeRecords, this.alloc)
        this.counter += w.records
        this.write(buf, first, w.records)
      }
    } catch (err) {
      this.dead = true
      this.onError(err instanceof P4Error ? err : new P4Error('IO_ERROR', 'send failed', { cause: err }))
      return
    }
    this.sched.compact()
    if (!this.blocked) this.onDrained()
  }

  // The frame (or run) is written.
  private done(m: Outgoing, q: FlowQueue): void {
    this.queuedBytes -= m.bytes
    q.queuedBytes -= m.bytes
    this.framesOut += m.frames
    this.partial = -1
    release(m)
  }

  /** Room for sealed bytes: in the retention's slabs when the session keeps what it wrote. */
  private readonly alloc = (len: number): Uint8Array => (this.retention !== null ? this.retention.alloc(len) : Buffer.allocUnsafe(len))

  private write(buf: Uint8Array, first: number, records: number): void {
    this.bytesOut += buf.length
    this.retention?.add(buf, first, records)
    // The transport's own high-water mark (16 KiB for a socket) is below one
    // full batch; stopping at it would leave the kernel idle between drains.
    // Keep up to WRITE_AHEAD bytes in flight instead, then wait for 'drain'.
    const conn = this.conn!
    if (!conn.write(buf) && conn.writableLength >= WRITE_AHEAD) this.blocked = true
  }

  // A large payload: its records are sealed by node:crypto straight from the
  // caller's buffer (no copy into WASM memory), one write per record; a tail
  // shorter than `large` is left to the batch path.
  private sendLarge(m: Outgoing, q: FlowQueue): void {
    const header = Buffer.allocUnsafe(HEADER_SIZE)
    writeHeader(new DataView(header.buffer, header.byteOffset, HEADER_SIZE), 0, m.type, m.flags, m.hops, m.pluginId, m.payload.length, m.idHi, m.idLo)
    const p = m.payload
    let at = Math.min(p.length, RECORD_MAX_PLAIN - HEADER_SIZE)
    if (this.counter + p.length / RECORD_MAX_PLAIN + 2 >= MAX_RECORDS) throw new P4Error('NONCE_EXHAUSTED', 'send nonce space exhausted')
    this.write(sealRecord(this.key, this.counter, header, p.subarray(0, at), this.alloc(sealedSize(HEADER_SIZE + at))), this.counter++, 1)
    while (at < p.length && p.length - at >= this.large) {
      const end = Math.min(p.length, at + RECORD_MAX_PLAIN)
      this.write(sealRecord(this.key, this.counter, null, p.subarray(at, end), this.alloc(sealedSize(end - at))), this.counter++, 1)
      at = end
    }
    if (at < p.length) {
      // A short tail (a 64 KiB payload leaves 35 bytes) goes into the next
      // WASM batch with the frames after it: node:crypto's fixed cost per
      // record is paid only on the large ones, on both ends.
      this.cur = m
      this.curQ = q
      this.partial = at
      return
    }
    this.done(m, q)
  }

  /** Stops sending for good (the session is closing or closed). */
  stop(): void {
    this.dead = true
    this.detach()
    this.sched.clear(this.queues.values())
    this.cur = null
    this.curQ = null
    this.queuedBytes = 0
  }
}

