// The sending half of an encrypted channel. send() only queues; at the end of
// the tick everything queued is built into records in WASM memory, sealed in
// one call and written with one socket write per batch (up to four full
// records). When the transport pushes back, flushing stops until 'drain'.
import { P4Error } from '../core/errors.js'
import type { Conn } from '../transport/types.js'
import { BatchWriter, channelScratch, RECORD_MAX_PLAIN } from '../wasm/channel.js'
import { DEFAULT_NODE_CRYPTO_THRESHOLD, MAX_RECORDS } from './receiver.js'
import { sealRecord } from './node-records.js'
import { HEADER_SIZE, writeHeader } from '../core/protocol.js'

/** Bytes the sender keeps queued in the transport before it waits for 'drain'. */
const WRITE_AHEAD = 512 * 1024

interface Outgoing {
  type: number
  flags: number
  hops: number
  pluginId: number
  idHi: number
  idLo: number
  payload: Uint8Array
}

export class Sender {
  counter = 0
  framesOut = 0
  bytesOut = 0
  /** Payload bytes queued and not yet handed to the transport. */
  queuedBytes = 0
  private readonly key: Uint8Array
  private readonly conn: Conn
  private readonly writer: BatchWriter
  private queue: Outgoing[] = []
  private head = 0
  /** Progress inside queue[head]: -1 = header not written yet, else payload bytes written. */
  private partial = -1
  private scheduled = false
  private blocked = false
  private dead = false
  private readonly onDrained: () => void
  private readonly onError: (err: P4Error) => void

  /** Payloads of at least this many bytes are sealed with node:crypto. */
  private readonly large: number

  constructor(key: Uint8Array, conn: Conn, onDrained: () => void, onError: (err: P4Error) => void, large = DEFAULT_NODE_CRYPTO_THRESHOLD) {
    this.key = key
    this.large = large
    this.conn = conn
    this.writer = new BatchWriter(channelScratch())
    this.onDrained = onDrained
    this.onError = onError
    conn.on('drain', () => {
      this.blocked = false
      this.flush()
    })
  }

  /** Messages queued (not yet fully written to the transport). */
  get pending(): number {
    return this.queue.length - this.head
  }

  enqueue(type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array): void {
    this.queue.push({ type, flags, hops, pluginId, idHi, idLo, payload })
    this.queuedBytes += payload.length
    if (!this.scheduled && !this.blocked) {
      this.scheduled = true
      queueMicrotask(this.flushTask)
    }
  }

  private readonly flushTask = (): void => {
    this.scheduled = false
    this.flush()
  }

  /** Writes queued frames until the queue is empty or the transport pushes back. */
  flush(): void {
    if (this.dead) return
    const w = this.writer
    const s = channelScratch()
    try {
      while (this.head < this.queue.length && !this.blocked) {
        const first = this.queue[this.head]!
        if (this.partial < 0 && first.payload.length >= this.large) {
          this.sendLarge(first)
          this.head++
          continue
        }
        s.setKey(this.key)
        w.begin()
        while (this.head < this.queue.length) {
          const m = this.queue[this.head]!
          if (this.partial < 0) {
            if (m.payload.length >= this.large) break // after this batch, on its own
            if (!w.header(m.type, m.flags, m.hops, m.pluginId, m.payload.length, m.idHi, m.idLo)) break
            this.partial = 0
          }
          this.partial += w.bytes(m.payload, this.partial)
          if (this.partial < m.payload.length) break
          this.done(m)
        }
        if (this.counter + 64 >= MAX_RECORDS) throw new P4Error('NONCE_EXHAUSTED', 'send nonce space exhausted')
        if (w.empty) continue
        const buf = w.finish(this.counter)
        this.counter += w.records
        this.write(buf)
      }
    } catch (err) {
      this.dead = true
      this.onError(err instanceof P4Error ? err : new P4Error('IO_ERROR', 'send failed', { cause: err }))
      return
    }
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
    if (!this.blocked) this.onDrained()
  }

  private done(m: Outgoing): void {
    this.queuedBytes -= m.payload.length
    this.framesOut++
    this.partial = -1
    this.head++
  }

  private write(buf: Buffer): void {
    this.bytesOut += buf.length
    // The transport's own high-water mark (16 KiB for a socket) is below one
    // full batch; stopping at it would leave the kernel idle between drains.
    // Keep up to WRITE_AHEAD bytes in flight instead, then wait for 'drain'.
    if (!this.conn.write(buf) && this.conn.writableLength >= WRITE_AHEAD) this.blocked = true
  }

  // A large payload: its records are sealed by node:crypto straight from the
  // caller's buffer (no copy into WASM memory), one write per record.
  private sendLarge(m: Outgoing): void {
    const header = Buffer.allocUnsafe(HEADER_SIZE)
    writeHeader(new DataView(header.buffer, header.byteOffset, HEADER_SIZE), 0, m.type, m.flags, m.hops, m.pluginId, m.payload.length, m.idHi, m.idLo)
    const p = m.payload
    let at = Math.min(p.length, RECORD_MAX_PLAIN - HEADER_SIZE)
    if (this.counter + p.length / RECORD_MAX_PLAIN + 2 >= MAX_RECORDS) throw new P4Error('NONCE_EXHAUSTED', 'send nonce space exhausted')
    this.write(sealRecord(this.key, this.counter++, header, p.subarray(0, at)))
    while (at < p.length) {
      const end = Math.min(p.length, at + RECORD_MAX_PLAIN)
      this.write(sealRecord(this.key, this.counter++, null, p.subarray(at, end)))
      at = end
    }
    this.queuedBytes -= p.length
    this.framesOut++
  }

  /** Stops sending for good (the session is closing or closed). */
  stop(): void {
    this.dead = true
    this.queue = []
    this.head = 0
    this.queuedBytes = 0
  }
}
