// Received payloads that keep no more than 8 KiB alive. A frame's payload
// arrives as a view of the whole read it came in (a record, up to 64 KiB):
// an application keeping one small message of each read would keep every
// read. A message handed out here holds at most its own bytes, or one 8 KiB
// window (like a slice of Node's Buffer pool), whatever it came in.
import { bufferView } from './bytes.js'

/** What a small message may keep alive besides itself: Node's Buffer.poolSize. */
export const WINDOW = 8192

// The window last copied: bytes [start, end) of `source`, copied to `copy`.
let source: ArrayBufferLike | null = null
let start = 0
let end = 0
let copy: ArrayBuffer = new ArrayBuffer(0)

/**
 * `data` itself when its buffer is at most max(8 KiB, twice its size), else
 * a copy. `settled`: the bytes of data.buffer past `data` will not change
 * (a received read, which the session never touches again): the copy is
 * then an 8 KiB window from `data` on, which the messages after it in the
 * same read are served from too (one copy per window instead of one per
 * message). Otherwise (a view of memory that is reused, such as an opened
 * box) the copy is the message's own.
 */
export function ownBytes(data: Uint8Array, settled: boolean): Uint8Array {
  const buf = data.buffer
  const n = data.byteLength
  if (buf.byteLength <= Math.max(WINDOW, 2 * n)) return data
  const at = data.byteOffset
  if (n > WINDOW >>> 1 || !settled) return Buffer.from(data)
  if (buf !== source || at < start || at + n > end) {
    end = Math.min(at + WINDOW, buf.byteLength)
    copy = buf.slice(at, end) as ArrayBuffer
    source = buf
    start = at
  }
  return bufferView(copy, at - start, n)
}
