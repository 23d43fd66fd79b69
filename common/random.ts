// The one seeded PRNG of the tests and benches (mulberry32): a run's bootstrap
// graphs, churn schedules and generated inputs are the same every time, so a
// failure seen once is seen again. (The fuzzer keeps its own sfc32 in
// test/fuzz/rng.ts: it derives an independent stream per input index.)

/** Floats in [0, 1) from a 32-bit seed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
