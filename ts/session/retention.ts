// The sealed records a resumable session has sent and its peer has not yet
// acknowledged, kept so that they can be sent again on a new Conn after a
// move. Zero-copy: the entries are the very buffers handed to Conn.write()
// (a sealed batch, or one large record), which nobody modifies afterwards.
//
// Resending identical ciphertext is safe: a record is the encryption of the
// same plaintext under the same key and the same counter nonce, so the
// second copy is the first one, byte for byte, and tells an observer nothing
// new. What ChaCha20-Poly1305 forbids is one nonce over two different
// plaintexts, and that cannot happen here: records are sealed once, into
// these buffers, and never re-sealed. The receiver opens each counter once;
// the resend starts exactly at the count it stated.
import { P4Error } from '../core/errors.js'

interface Entry {
  buf: Uint8Array
  /** Counter of the first record in buf. */
  first: number
  /** Counter after the last record in buf. */
  end: number
  /** The slab buf lies in (null: a buffer of its own). */
  slab: Slab | null
}

/**
 * Memory the sealed records are written into. A busy session would
 * otherwise allocate one buffer per record and keep it until acknowledged,
 * long enough to reach V8's old space: at 64 KiB that made the collector a
 * quarter of the profile. A slab is reused once every record in it has been
 * acknowledged (the peer read them, so the transport is done with them), and
 * belongs to one session only, so a peer that acknowledges early can only
 * garble its own stream.
 */
interface Slab {
  bytes: Uint8Array
  used: number
  /** Entries still in this slab. */
  live: number
}

/** First slab of a session (idle links stay small), doubled up to SLAB_MAX while the session is busy. */
const SLAB_MIN = 16 * 1024
const SLAB_MAX = 512 * 1024

export class Retention {
  private entries: Entry[] = []
  private head = 0
  /** Bytes held. */
  bytes = 0
  /** Records below this are acknowledged (or were never retained). */
  base = 0
  /** Counter after the newest record retained. */
  end = 0

  /** The slab new records are written into. */
  private slab: Slab | null = null
  /**
   * Slabs emptied while another was current, kept for the next changes of
   * slab: in a busy session several are in flight at once (socket buffers,
   * the kernel, the peer's reading, its ACK), and each one dropped would be a
   * fresh allocation. Slabs are only made while more is held than the free
   * ones cover, so held and free bytes together stay within the cap (plus a
   * slab); once the session is all caught up (its sender paused) one is kept.
   */
  private readonly free: Slab[] = []
  private readonly freeMax: number
  /** The slab alloc() last cut from (add() files the buffer under it). */
  private cut: Slab | null = null

  /** `cap`: bytes held at which the sender stops starting new frames. */
  constructor(readonly cap: number) {
    this.freeMax = Math.max(1, Math.ceil(cap / SLAB_MAX))
  }

  /** Space for `len` sealed bytes that add() will keep: a view into a slab, or a buffer of its own above SLAB_MAX. */
  alloc(len: number): Uint8Array {
    let s = this.slab
    if (s !== null && s.live === 0) s.used = 0
    if (s === null || s.used + len > s.bytes.length) {
      if (len > SLAB_MAX) {
        this.cut = null
        return Buffer.allocUnsafe(len)
      }
      let size = s === null ? SLAB_MIN : Math.min(SLAB_MAX, s.bytes.length * 2)
      while (size < len) size *= 2
      const spare = this.free.length > 0 && this.free[this.free.length - 1]!.bytes.length >= size ? this.free.pop()! : null
      if (spare !== null) {
        spare.used = 0
        s = spare
      } else s = { bytes: Buffer.allocUnsafe(size), used: 0, live: 0 }
      this.slab = s
    }
    const view = s.bytes.subarray(s.used, s.used + len)
    s.used += len
    this.cut = s
    return view
  }

  get full(): boolean {
    return this.bytes >= this.cap
  }

  /** Keeps `buf`, which holds records first .. first+count-1, just written. */
  add(buf: Uint8Array, first: number, count: number): void {
    if (first !== this.end) throw new P4Error('BAD_ARGUMENT', `retained records must be contiguous: got ${first}, expected ${this.end}`)
    const slab = this.cut !== null && buf.buffer === this.cut.bytes.buffer ? this.cut : null
    this.cut = null
    if (slab !== null) slab.live++
    this.entries.push({ buf, first, end: first + count, slab })
    this.bytes += buf.length
    this.end = first + count
  }

  /**
   * The peer has every record below `n`: drops the buffers entirely below
   * it. Returns false when `n` is more than was sent (a protocol violation).
   * An `n` below an earlier one changes nothing: an ACK queued before a move
   * arrives after the resume exchange has stated a later count.
   */
  ack(n: number): boolean {
    if (n > this.end) return false
    if (n <= this.base) return true
    this.base = n
    const e = this.entries
    while (this.head < e.length && e[this.head]!.end <= n) {
      const x = e[this.head]!
      this.bytes -= x.buf.length
      if (x.slab !== null && --x.slab.live === 0 && x.slab !== this.slab) this.keep(x.slab)
      this.head++
    }
    if (this.head === e.length) {
      // All caught up: the sender paused, so the session keeps its largest
      // free slab only. (Busy sessions are rarely caught up; dropping every
      // free slab here made each slab a fresh allocation at 64 KiB.)
      this.entries = []
      this.head = 0
      if (this.free.length > 1) this.free.splice(0, this.free.length - 1)
    } else if (this.head > 256 && this.head * 2 > e.length) {
      this.entries = e.slice(this.head)
      this.head = 0
    }
    return true
  }

  /** Files an emptied slab for reuse; smaller ones (from a session's ramp-up) give way to full-size ones. */
  private keep(slab: Slab): void {
    const f = this.free
    if (f.length < this.freeMax) f.push(slab)
    else if (f[0]!.bytes.length < slab.bytes.length) f[0] = slab
    else return
    // Largest last, where alloc() looks.
    f.sort((a, b) => a.bytes.length - b.bytes.length)
  }

  /**
   * The bytes to send again for a peer that has every record below `n`, in
   * order (views into the retained buffers), after acknowledging `n`. Throws
   * BAD_RESUME when `n` is out of [base, end].
   */
  from(n: number): Uint8Array[] {
    if (n < this.base || !this.ack(n)) {
      throw new P4Error('BAD_RESUME', `the peer asks to resume at record ${n}; records ${this.base}..${this.end} can be resumed from`)
    }
    const out: Uint8Array[] = []
    for (let i = this.head; i < this.entries.length; i++) {
      const { buf, first } = this.entries[i]!
      out.push(first >= n ? buf : buf.subarray(offsetOf(buf, n - first)))
    }
    return out
  }
}

/** Byte offset of record `k` (0-based) in a buffer of whole records (u16 BE length prefixes). */
function offsetOf(buf: Uint8Array, k: number): number {
  let at = 0
  for (let i = 0; i < k; i++) {
    if (at + 2 > buf.length) throw new P4Error('BAD_ARGUMENT', 'retained buffer shorter than its record count')
    at += 2 + ((buf[at]! << 8) | buf[at + 1]!)
  }
  return at
}
