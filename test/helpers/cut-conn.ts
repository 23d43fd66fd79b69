// A Conn that can be cut at an exact byte offset of what is written to it:
// cut(after, how) lets `after` more bytes through, then either ends the Conn
// (the peer reads those bytes, so a record can stop half-way) or destroys it
// (an abrupt loss; on the memory transport the peer's unread bytes go too).
// Everything else goes straight to the wrapped Conn.
import type { Conn, ConnEvents } from '../../ts/transport/types.js'

export type CutHow = 'end' | 'destroy'

export class CutConn implements Conn {
  /** Bytes written through so far. */
  written = 0
  private limit = Infinity
  private how: CutHow = 'end'
  /** True once the cut happened. */
  cutDone = false

  constructor(readonly inner: Conn) {}

  /** Lets `after` more bytes through, then cuts. */
  cut(after: number, how: CutHow): void {
    this.limit = this.written + after
    this.how = how
    if (after === 0) this.fire()
  }

  private fire(): void {
    if (this.cutDone) return
    this.cutDone = true
    if (this.how === 'end') this.inner.end()
    else this.inner.destroy()
  }

  write(chunk: Uint8Array): boolean {
    if (this.cutDone) return false
    if (this.written + chunk.length < this.limit) {
      this.written += chunk.length
      return this.inner.write(chunk)
    }
    const n = this.limit - this.written
    if (n > 0) this.inner.write(chunk.subarray(0, n))
    this.written = this.limit
    this.fire()
    return false
  }

  pause(): void {
    this.inner.pause()
  }
  resume(): void {
    this.inner.resume()
  }
  end(): void {
    this.inner.end()
  }
  destroy(err?: Error): void {
    this.inner.destroy(err)
  }
  on<E extends keyof ConnEvents>(event: E, listener: ConnEvents[E]): this {
    this.inner.on(event, listener)
    return this
  }
  once<E extends keyof ConnEvents>(event: E, listener: ConnEvents[E]): this {
    this.inner.once(event, listener)
    return this
  }
  off<E extends keyof ConnEvents>(event: E, listener: ConnEvents[E]): this {
    this.inner.off(event, listener)
    return this
  }
  get destroyed(): boolean {
    return this.inner.destroyed
  }
  get writableLength(): number {
    return this.inner.writableLength
  }
  get writableHighWaterMark(): number | undefined {
    return this.inner.writableHighWaterMark
  }
  get remoteHost(): string {
    return this.inner.remoteHost
  }
  get remotePort(): number {
    return this.inner.remotePort
  }
  get localHost(): string {
    return this.inner.localHost
  }
  get localPort(): number {
    return this.inner.localPort
  }
}
