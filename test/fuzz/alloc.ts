// Records the largest single buffer requested while a fuzz input runs, by
// wrapping Buffer.alloc / allocUnsafe / allocUnsafeSlow and
// Uint8Array.prototype.slice (the decoders copy fields with slice). A parser
// that sizes a buffer from an attacker's length field shows up here even when
// the allocation succeeds. Plain `new Uint8Array(n)` cannot be wrapped without
// breaking instanceof; the targets that use it bound n by their input length,
// which the harness checks separately.

let largest = 0
let installed = 0

const originals = {
  alloc: Buffer.alloc,
  allocUnsafe: Buffer.allocUnsafe,
  allocUnsafeSlow: Buffer.allocUnsafeSlow,
  slice: Uint8Array.prototype.slice,
}

function note(n: unknown): void {
  if (typeof n === 'number' && n > largest) largest = n
}

/** Starts recording (nested calls are counted; uninstall as often as install). */
export function installAllocGuard(): void {
  if (installed++ > 0) return
  const { alloc, allocUnsafe, allocUnsafeSlow, slice } = originals
  Buffer.alloc = function (size: number, ...rest: unknown[]) {
    note(size)
    return (alloc as (...a: unknown[]) => Buffer).call(Buffer, size, ...rest)
  } as typeof Buffer.alloc
  Buffer.allocUnsafe = function (size: number) {
    note(size)
    return allocUnsafe.call(Buffer, size)
  } as typeof Buffer.allocUnsafe
  Buffer.allocUnsafeSlow = function (size: number) {
    note(size)
    return allocUnsafeSlow.call(Buffer, size)
  } as typeof Buffer.allocUnsafeSlow
  Uint8Array.prototype.slice = function (this: Uint8Array, start?: number, end?: number) {
    const len = this.length
    const s = start === undefined ? 0 : start < 0 ? Math.max(len + start, 0) : Math.min(start, len)
    const e = end === undefined ? len : end < 0 ? Math.max(len + end, 0) : Math.min(end, len)
    note(e - s)
    return slice.call(this, start, end)
  } as typeof Uint8Array.prototype.slice
}

export function uninstallAllocGuard(): void {
  if (installed === 0 || --installed > 0) return
  Buffer.alloc = originals.alloc
  Buffer.allocUnsafe = originals.allocUnsafe
  Buffer.allocUnsafeSlow = originals.allocUnsafeSlow
  Uint8Array.prototype.slice = originals.slice
}

/** The largest request since the last reset, in bytes. */
export function largestAlloc(): number {
  return largest
}

export function resetLargestAlloc(): void {
  largest = 0
}
