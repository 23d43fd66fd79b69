// Raw node:net messaging, unencrypted: u32 BE length || payload. This is the
// plain-socket ceiling the session benchmark holds p4net against, so it uses
// the same write strategy as Session — send() only queues, and everything
// queued in one tick leaves in one socket write (small messages are copied
// into a slab; large payloads go by reference through cork/uncork, i.e. one
// writev). The difference measured is then framing + encryption, not a
// different way of talking to the socket.
import * as net from 'node:net'

/** send() returns false once this many bytes wait to be written (Session's default too). */
export const RAW_HIGH_WATER_MARK = 1 << 20
const SLAB_SIZE = 64 * 1024
/** Payloads up to this size are copied into the slab; larger ones are written by reference. */
const COPY_MAX = 4096
const DEFAULT_MAX_MESSAGE = 16 * 1024 * 1024

/** The writing half: queue per tick, flush at the end of the tick. */
export class RawSender {
  private readonly socket: net.Socket
  private readonly highWaterMark: number
  // Allocated on first use so an idle connection costs only the socket.
  private slab: Buffer | null = null
  private used = 0
  private start = 0
  private chunks: Uint8Array[] = []
  private queued = 0
  private scheduled = false
  private needDrain = false
  private waiters: (() => void)[] = []
  private rejecters: ((err: Error) => void)[] = []

  constructor(socket: net.Socket, highWaterMark = RAW_HIGH_WATER_MARK) {
    this.socket = socket
    this.highWaterMark = highWaterMark
    socket.on('drain', () => this.drained())
  }

  /** Queues one message; false means wait for drain() before sending more. */
  send(payload: Uint8Array): boolean {
    const n = payload.length
    const copy = n <= COPY_MAX
    let slab = this.slab
    if (slab === null || SLAB_SIZE - this.used < (copy ? 4 + n : 4)) {
      this.cut()
      slab = this.slab = Buffer.allocUnsafe(SLAB_SIZE)
      this.used = this.start = 0
    }
    slab.writeUInt32BE(n, this.used)
    this.used += 4
    if (copy) {
      slab.set(payload, this.used)
      this.used += n
    } else {
      this.cut()
      this.chunks.push(payload)
    }
    this.queued += 4 + n
    if (!this.scheduled) {
      this.scheduled = true
      queueMicrotask(this.flushTask)
    }
    if (this.queued + this.socket.writableLength >= this.highWaterMark) {
      this.needDrain = true
      return false
    }
    return true
  }

  /** Resolves once the queue is below the high-water mark again. */
  drain(): Promise<void> {
    if (!this.needDrain) return Promise.resolve()
    if (this.socket.destroyed) return Promise.reject(new Error('socket closed while waiting for drain'))
    return new Promise((resolve, reject) => {
      this.waiters.push(resolve)
      this.rejecters.push(reject)
    })
  }

  // The slab bytes written since the last cut become one chunk; the slab
  // region is never reused (the socket holds it until written).
  private cut(): void {
    if (this.slab !== null && this.used > this.start) {
      this.chunks.push(this.slab.subarray(this.start, this.used))
      this.start = this.used
    }
  }

  private readonly flushTask = (): void => {
    this.scheduled = false
    if (this.socket.destroyed) return
    this.cut()
    const chunks = this.chunks
    this.chunks = []
    this.queued = 0
    let ok = true
    if (chunks.length === 1) {
      ok = this.socket.write(chunks[0]!)
    } else if (chunks.length > 1) {
      this.socket.cork()
      for (const c of chunks) ok = this.socket.write(c)
      this.socket.uncork()
    }
    // false: the socket emits 'drain' later.
    if (ok) this.drained()
  }

  /** The socket closed: nobody waiting for drain waits forever. */
  fail(err: Error): void {
    const w = this.rejecters
    this.waiters = []
    this.rejecters = []
    for (const reject of w) reject(err)
  }

  private drained(): void {
    if (this.needDrain && this.queued + this.socket.writableLength < this.highWaterMark) {
      this.needDrain = false
      const w = this.waiters
      this.waiters = []
      this.rejecters = []
      for (const resolve of w) resolve()
    }
  }
}

/**
 * The reading half: splits the byte stream into messages. A message that
 * sits whole in one read is delivered as a view of it (no copy); one that
 * spans reads is assembled into its own buffer.
 */
export class RawReceiver {
  private readonly onMessage: (payload: Uint8Array) => void
  private readonly maxMessage: number
  private header: Buffer | null = null
  private headerHave = 0
  private body: Buffer | null = null
  private bodyHave = 0

  constructor(onMessage: (payload: Uint8Array) => void, maxMessage = DEFAULT_MAX_MESSAGE) {
    this.onMessage = onMessage
    this.maxMessage = maxMessage
  }

  /** Feeds one read; throws on a length above maxMessage. */
  push(chunk: Buffer): void {
    const len = chunk.length
    let at = 0
    if (this.body !== null) {
      const body = this.body
      const take = Math.min(body.length - this.bodyHave, len)
      chunk.copy(body, this.bodyHave, 0, take)
      this.bodyHave += take
      at = take
      if (this.bodyHave < body.length) return
      this.body = null
      this.onMessage(body)
    } else if (this.headerHave > 0) {
      const h = this.header!
      while (this.headerHave < 4 && at < len) h[this.headerHave++] = chunk[at++]!
      if (this.headerHave < 4) return
      this.headerHave = 0
      at = this.begin(h.readUInt32BE(0), chunk, at)
    }
    while (len - at >= 4) at = this.begin(chunk.readUInt32BE(at), chunk, at + 4)
    if (at < len && this.body === null) {
      this.header ??= Buffer.allocUnsafe(4)
      while (at < len) this.header[this.headerHave++] = chunk[at++]!
    }
  }

  /** A message of n bytes starts at chunk[at]; returns where the next one starts. */
  private begin(n: number, chunk: Buffer, at: number): number {
    if (n > this.maxMessage) throw new Error(`raw message of ${n} bytes exceeds ${this.maxMessage}`)
    const have = chunk.length - at
    if (have >= n) {
      this.onMessage(chunk.subarray(at, at + n))
      return at + n
    }
    const body = Buffer.allocUnsafe(n)
    chunk.copy(body, 0, at)
    this.body = body
    this.bodyHave = have
    return chunk.length
  }
}

/** A connected socket with both halves attached. */
export class RawChannel {
  readonly socket: net.Socket
  onmessage: ((payload: Uint8Array) => void) | null = null
  readonly closed: Promise<void>
  private readonly sender: RawSender

  constructor(socket: net.Socket) {
    this.socket = socket
    this.sender = new RawSender(socket)
    const receiver = new RawReceiver((p) => this.onmessage!(p))
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.sender.fail(new Error('socket closed while waiting for drain'))
        resolve()
      }),
    )
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => {
      try {
        receiver.push(chunk)
      } catch (err) {
        socket.destroy(err as Error)
      }
    })
  }

  send(payload: Uint8Array): boolean {
    return this.sender.send(payload)
  }
  drain(): Promise<void> {
    return this.sender.drain()
  }
  close(): void {
    this.socket.destroy()
  }
}

/** Listens on 127.0.0.1, port 0; every accepted socket is handed over with Nagle off. */
export async function rawListen(onSocket: (socket: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const server = net.createServer({ noDelay: true }, onSocket)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject)
      resolve()
    })
  })
  server.on('error', () => {})
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() }
}

/** Connects to 127.0.0.1:port with Nagle off. */
export function rawDial(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true })
    socket.once('error', reject)
    socket.once('connect', () => {
      socket.off('error', reject)
      resolve(socket)
    })
  })
}
