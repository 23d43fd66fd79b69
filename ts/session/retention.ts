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
}

export class Retention {
  private entries: Entry[] = []
  private head = 0
  /** Bytes held. */
  bytes = 0
  /** Records below this are acknowledged (or were never retained). */
  base = 0
  /** Counter after the newest record retained. */
  end = 0

  /** `cap`: bytes held at which the sender stops starting new frames. */
  constructor(readonly cap: number) {}

  get full(): boolean {
    return this.bytes >= this.cap
  }

  /** Keeps `buf`, which holds records first .. first+count-1, just written. */
  add(buf: Uint8Array, first: number, count: number): void {
    if (first !== this.end) throw new P4Error('BAD_ARGUMENT', `retained records must be contiguous: got ${first}, expected ${this.end}`)
    this.entries.push({ buf, first, end: first + count })
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
      this.bytes -= e[this.head]!.buf.length
      this.head++
    }
    if (this.head === e.length) {
      this.entries = []
      this.head = 0
    } else if (this.head > 256 && this.head * 2 > e.length) {
      this.entries = e.slice(this.head)
      this.head = 0
    }
    return true
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
