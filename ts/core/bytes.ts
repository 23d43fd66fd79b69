// Byte helpers shared by every layer.

/** Lower-case hex of `b` (a view; no copy of the bytes). */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

/** True when `a` and `b` hold the same bytes (not constant-time: for public keys and IDs only). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}
