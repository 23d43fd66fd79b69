// Message IDs: 64 random bits from the CSPRNG, drawn from a refilled pool so
// that a hot path pays one randomFillSync per 8,192 IDs (the call's fixed cost,
// about 5 µs, was 13 ns per ID with a pool of 512).
import { randomFillSync } from 'node:crypto'

const POOL = new Uint32Array(16384)
let at = POOL.length

/** A fresh random 64-bit message ID as two u32 halves. */
export function randomId(): [number, number] {
  drawId()
  return [drawn.hi, drawn.lo]
}

/** The ID drawId() drew last; read it before the next draw. */
export const drawn = { hi: 0, lo: 0 }

/** Draws a fresh random 64-bit message ID into `drawn` (no allocation: the per-message send path). */
export function drawId(): void {
  if (at + 2 > POOL.length) {
    randomFillSync(POOL)
    at = 0
  }
  drawn.hi = POOL[at++]!
  drawn.lo = POOL[at++]!
}
