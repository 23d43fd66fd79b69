// The receiving half of a circuit end (circuit-conn.ts): RELAY DATA bytes in
// order, held while the reader is paused, delivered as 'data' on a later
// microtask, and granted back to the sender (WINDOW) once the reader has
// taken half a window.
/** What the inbox needs from its circuit end. */
export interface InboxOwner {
  /** The circuit is closed: deliver nothing more. */
  readonly destroyed: boolean
  /** Hands `buf` to the reader ('data'); false when that failed the circuit. */
  hand(buf: Buffer): boolean
  /** Grants the sender `n` more bytes (a WINDOW frame). */
  grant(n: number): void
  /** The other side ended cleanly and everything before its end was delivered. */
  drained(): void
}

export class CircuitInbox {
  private queue: Buffer[] = []
  /** null until a 'data' listener or resume(); false after pause(). */
  private flowing: boolean | null = null
  private scheduled = false
  /** Bytes the reader took and the sender was not yet granted back. */
  private unreported = 0
  /** Bytes the sender may still send. */
  private left: number
  /** The other side ended (a clean CLOSE): nothing more comes. */
  private ended = false

  constructor(
    private readonly window: number,
    private readonly owner: InboxOwner,
  ) {
    this.left = window
  }

  get started(): boolean {
    return this.flowing !== null
  }

  /** Why DATA of `n` bytes is not allowed now (before the circuit is `open`, after its end, empty, over the window), or null. */
  refuses(n: number, open: boolean): string | null {
    if (!open || this.ended || n === 0 || n > this.left) return `${n} bytes of DATA with ${this.left} bytes of window left`
    return null
  }

  // Never delivered inside the frame handler: the reader is a session whose
  // receiver shares the WASM scratch with the relay session's receiver,
  // which is still in the middle of its read.
  received(payload: Uint8Array): void {
    this.left -= payload.length
    this.queue.push(Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length))
    if (this.flowing === true) this.deliver()
  }

  /** The other side's clean end: what came before it is delivered first. */
  end(): void {
    this.ended = true
    this.deliver()
  }

  pause(): void {
    this.flowing = false
  }

  resume(): void {
    this.flowing = true
    if (this.queue.length > 0 || this.ended) this.deliver()
  }

  /** The circuit closed: what waits is dropped. */
  clear(): void {
    this.queue = []
  }

  private hand(buf: Buffer): void {
    if (!this.owner.hand(buf)) return
    // The reader took it: grant it back once half a window has gathered.
    this.unreported += buf.length
    if (this.unreported >= this.window / 2 && !this.ended && !this.owner.destroyed) {
      this.left += this.unreported
      this.owner.grant(this.unreported)
      this.unreported = 0
    }
  }

  // Later, never inside resume() either: a reader's first bytes (a
  // handshake's leftover, on a microtask) must come before what waited here.
  private deliver(): void {
    if (this.scheduled) return
    this.scheduled = true
    queueMicrotask(() => {
      this.scheduled = false
      while (this.flowing === true && this.queue.length > 0 && !this.owner.destroyed) this.hand(this.queue.shift()!)
      if (this.ended && this.queue.length === 0) this.owner.drained()
    })
  }
}
