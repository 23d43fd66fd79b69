// Message IDs: 64 random bits from the CSPRNG, drawn from a refilled pool so
// that a hot path pays one randomFillSync per 512 IDs.
import { randomFillSync } from 'node:crypto'

const POOL = new Uint32Array(1024)
let at = POOL.length

/** A fresh random 64-bit message ID as two u32 halves. */
export function randomId(): [number, number] {
  if (at + 2 > POOL.length) {
    randomFillSync(POOL)
    at = 0
  }
  const hi = POOL[at++]!
  const lo = POOL[at++]!
  return [hi, lo]
}
