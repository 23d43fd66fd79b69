// Byte helpers shared by every layer.

/** Lower-case hex of `b` (a view; no copy of the bytes). */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

/** True when `a` and `b` hold the same bytes (not constant-time: for public keys and IDs only). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

// A Buffer made the way Node makes its own (a Uint8Array subclass whose
// prototype chain holds Buffer.prototype, constructor Buffer): Buffer.isBuffer
// and every Buffer method work on it. It costs about a quarter of
// buf.subarray(), which goes through Buffer's argument handling first.
class BufferView extends Uint8Array {}
Object.setPrototypeOf(BufferView.prototype, Buffer.prototype)
Object.defineProperty(BufferView.prototype, 'constructor', { value: Buffer, writable: true, configurable: true })

/** A Buffer over bytes [offset, offset + length) of `buffer` (no copy; offsets are not checked beyond what Uint8Array checks). */
export function bufferView(buffer: ArrayBuffer, offset: number, length: number): Buffer {
  return new BufferView(buffer, offset, length) as unknown as Buffer
}

/** `v` as a big-endian u32 at `at` (byte by byte: no DataView for a 4-byte write on the hot path). */
export function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24
  b[at + 1] = (v >>> 16) & 0xff
  b[at + 2] = (v >>> 8) & 0xff
  b[at + 3] = v & 0xff
}
