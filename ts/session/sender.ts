// The sending half of an encrypted channel. send() only queues; at the end of
// the tick everything queued is built into records in WASM memory, sealed in
// one call and written with one socket write per batch (up to four full
// records). When the transport pushes back, flushing stops until 'drain'.
import { P4Error } from '../errors.js'
import type { Conn } from '../transport/types.js'
import { BatchWriter, channelScratch } from '../wasm/channel.js'
import { MAX_RECORDS } from './receiver.js'

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

  constructor(key: Uint8Array, conn: Conn, onDrained: () => void, onError: (err: P4Error) => void) {
    this.key = key
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
        s.setKey(this.key)
        w.begin()
        while (this.head < this.queue.length) {
          const m = this.queue[this.head]!
          if (this.partial < 0) {
            if (!w.header(m.type, m.flags, m.hops, m.pluginId, m.payload.length, m.idHi, m.idLo)) break
            this.partial = 0
          }
          this.partial += w.bytes(m.payload, this.partial)
          if (this.partial < m.payload.length) break
          this.queuedBytes -= m.payload.length
          this.framesOut++
          this.partial = -1
          this.head++
        }
        if (this.counter + 64 >= MAX_RECORDS) throw new P4Error('NONCE_EXHAUSTED', 'send nonce space exhausted')
        const buf = w.finish(this.counter)
        this.counter += w.records
        this.bytesOut += buf.length
        if (!this.conn.write(buf)) this.blocked = true
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

  /** Stops sending for good (the session is closing or closed). */
  stop(): void {
    this.dead = true
    this.queue = []
    this.head = 0
    this.queuedBytes = 0
  }
}
