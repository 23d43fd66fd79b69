// Dedup table throughput: batches of 1,024 ids, half repeats of live ids and
// half new ids, against a table already holding 1e6 live entries (capacity
// 2^20, so new ids soon evict the oldest). WASM with ids already in linear
// memory, WASM through the BigUint64Array copy-in API, WASM with floods given
// as origin records (origin key + message ID, fingerprinted in WASM), the
// flood router's per-frame "seen? … insert" pair by message ID only and by
// origin key + ID (how the router keys floods), and the
// Map-based TS reference, all fed the same id stream.
//
// The table changes with every batch, so benchmark.js (which reruns a fixed
// function an unknown number of times) cannot keep the workload fixed; this is
// an hrtime loop instead: one untimed warm-up round (lets V8 tier the WASM up),
// then ROUNDS timed rounds, each on the next slice of the stream. Other jobs
// may share the machine, so we report the best and the median round.
//
//   node dist/bench/dedup.bench.js [--quick]
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { DedupTable } from '../ts/wasm/dedup.js'
import { DedupReference } from '../test/reference/dedup-reference.js'
import { kernel, loadKernel, simdSupported, type Kernel } from '../ts/wasm/loader.js'
import { median, writeResults, type Result } from '../common/results.js'
import { bestOf } from './lib.js'

const quick = process.argv.includes('--quick')
const BATCH = 1024
const CAPACITY = quick ? 1 << 16 : 1 << 20
const LIVE = quick ? 60_000 : 1_000_000
const ROUNDS = quick ? 3 : 9
const BATCHES = quick ? 20 : 400 // per round
const REF_BATCHES = quick ? 10 : 100 // the reference is slower: shorter rounds
const STREAM = (ROUNDS + 1) * BATCHES * BATCH
const KEY = new Uint8Array(16).fill(7)

// xorshift128: cheap deterministic 32-bit words.
let s0 = 0x12345678, s1 = 0x9abcdef0, s2 = 0x0badf00d, s3 = 0xfeedface
function next32(): number {
  const t = s0 ^ (s0 << 11)
  s0 = s1; s1 = s2; s2 = s3
  s3 = (s3 ^ (s3 >>> 19) ^ (t ^ (t >>> 8))) >>> 0
  return s3
}

// Ids as little-endian (lo, hi) u32 pairs: `prefill` (the live set), then
// `stream`, where each id is new (p = 1/2) or a repeat drawn from the newest
// LIVE / 2 new ids, which are certainly still live.
const prefill = new Uint32Array(LIVE * 2)
const stream = new Uint32Array(STREAM * 2)
const log = new Uint32Array((LIVE + STREAM) * 2) // every new id, in order
let logged = 0
function fresh(into: Uint32Array, at: number): void {
  const lo = next32(), hi = next32() | 1 // never 0, never a repeat by chance in practice
  into[at * 2] = lo; into[at * 2 + 1] = hi
  log[logged * 2] = lo; log[logged * 2 + 1] = hi
  logged++
}
for (let i = 0; i < LIVE; i++) fresh(prefill, i)
for (let i = 0; i < STREAM; i++) {
  if (next32() & 1) {
    fresh(stream, i)
  } else {
    const back = 1 + (next32() % Math.min(logged, LIVE / 2))
    stream[i * 2] = log[(logged - back) * 2]!; stream[i * 2 + 1] = log[(logged - back) * 2 + 1]!
  }
}
const prefillIds = new BigUint64Array(prefill.buffer)
const streamIds = new BigUint64Array(stream.buffer)

/** Every figure here is measured (never a failed trial). */
type Row = Result & { value: number }
const results: Row[] = []
const CASE = `check_and_insert: ${BATCH}-id batches, 50% repeats, ${LIVE} live, capacity ${CAPACITY}`


interface Rates {
  rates: number[] // checks per wall-clock second, per timed round
  cpuRates: number[] // checks per second of this process's CPU time: less hurt by other jobs taking the CPU
  fresh: number // new ids over all rounds (a sanity check: about half)
}

// Runs `batch(i, now)` for warm-up + ROUNDS rounds of `perRound` batches.
function measure(perRound: number, batch: (i: number, now: number) => number): Rates {
  const rates: number[] = []
  const cpuRates: number[] = []
  let fresh = 0
  let now = 1
  for (let r = 0; r <= ROUNDS; r++) {
    const first = r * perRound // contiguous, so repeats refer to ids this table saw
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    for (let b = 0; b < perRound; b++) fresh += batch(first + b, now++)
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    const cpu = process.cpuUsage(c0)
    if (r > 0) {
      rates.push((perRound * BATCH) / s)
      cpuRates.push((perRound * BATCH) / Math.max((cpu.user + cpu.system) / 1e6, 1e-6))
    }
  }
  return { rates, cpuRates, fresh }
}

function record(impl: string, m: Rates, extra: Record<string, unknown>): number {
  const row = bestOf(CASE, impl, 'checks/s', m.rates, {
    cpuTimeBest: Math.round(Math.max(...m.cpuRates)),
    cpuTimeMedian: Math.round(median(m.cpuRates)),
    fresh: m.fresh,
    ...extra,
  })
  results.push(row)
  return row.value
}

function wasmZeroCopy(k: Kernel): number {
  const t = new DedupTable({ capacity: CAPACITY, kernel: k, key: KEY })
  t.checkAndInsert(prefillIds, 0)
  const base = k.alloc(STREAM * 8)
  new BigUint64Array(k.bytes().buffer, base, STREAM).set(streamIds)
  const out = t.outPtr
  const memBefore = k.exports.memory.buffer.byteLength
  const m = measure(BATCHES, (i, now) => t.checkAt(base + i * BATCH * 8, BATCH, now, out))
  const grew = k.exports.memory.buffer.byteLength !== memBefore
  const best = record(`wasm-${k.variant} zero-copy`, m, { size: t.size, memoryGrew: grew })
  results.push({ case: 'table bytes per entry (total table bytes / capacity)', impl: `wasm-${k.variant}`, value: t.bytes / t.capacity, unit: 'bytes/entry', tableBytes: t.bytes })
  k.free(base)
  t.close()
  return best
}

function wasmCopyIn(k: Kernel): number {
  const t = new DedupTable({ capacity: CAPACITY, kernel: k, key: KEY })
  t.checkAndInsert(prefillIds, 0)
  const out = new Uint8Array(BATCH)
  const m = measure(BATCHES, (i, now) => t.checkAndInsert(streamIds.subarray(i * BATCH, (i + 1) * BATCH), now, out))
  const best = record(`wasm-${k.variant} copy-in (BigUint64Array)`, m, { size: t.size })
  t.close()
  return best
}

function reference(): number {
  // A collector to call, so heap growth measures the live Map, not garbage.
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as (() => void) | undefined
  gc?.()
  const heap0 = process.memoryUsage().heapUsed
  const t = new DedupReference({ capacity: CAPACITY })
  t.checkAndInsert(prefillIds, 0)
  gc?.()
  const perEntry = (process.memoryUsage().heapUsed - heap0) / LIVE
  const out = new Uint8Array(BATCH)
  const m = measure(REF_BATCHES, (i, now) => t.checkAndInsert(streamIds.subarray(i * BATCH, (i + 1) * BATCH), now, out))
  const best = record('ts-reference (Map)', m, { size: t.size })
  results.push({ case: 'table bytes per entry (JS heap growth / live entries, estimate)', impl: 'ts-reference (Map)', value: Math.round(perEntry), unit: 'bytes/entry', gcExposed: gc !== undefined })
  return best
}

// Floods are checked by origin key and message ID together (a keyed
// fingerprint of the 40 bytes): the same id stream, each id paired with one
// of 16 origin keys chosen by the id, so repeats are repeats of the pair.
const ORIGINS = Array.from({ length: 16 }, (_, i) => new Uint8Array(32).fill(i + 1))
function originRecords(ids: Uint32Array, from: number, n: number): Uint8Array {
  const out = new Uint8Array(n * 40)
  const dv = new DataView(out.buffer)
  for (let i = 0; i < n; i++) {
    const lo = ids[(from + i) * 2]!, hi = ids[(from + i) * 2 + 1]!
    out.set(ORIGINS[lo & 15]!, i * 40)
    dv.setUint32(i * 40 + 32, hi)
    dv.setUint32(i * 40 + 36, lo)
  }
  return out
}

function wasmOrigins(k: Kernel): number {
  const t = new DedupTable({ capacity: CAPACITY, kernel: k, key: KEY })
  for (let at = 0; at < LIVE; at += 65536) t.checkOrigins(originRecords(prefill, at, Math.min(65536, LIVE - at)), 0)
  const recs = originRecords(stream, 0, STREAM)
  const out = new Uint8Array(BATCH)
  const m = measure(BATCHES, (i, now) => t.checkOrigins(recs.subarray(i * BATCH * 40, (i + 1) * BATCH * 40), now, out))
  const best = record(`wasm-${k.variant} origin records (40 B each)`, m, { size: t.size })
  t.close()
  return best
}

// The flood router's per-frame pattern: "seen?" before the signature check,
// then insert after it; one frame per call pair. By message ID alone and by
// origin key + ID (how the router keys floods).
function perFrame(k: Kernel, byOrigin: boolean): number {
  const t = new DedupTable({ capacity: CAPACITY, kernel: k, key: KEY })
  t.checkAndInsert(prefillIds, 0)
  const one = new BigUint64Array(1)
  const out = new Uint8Array(1)
  const m = measure(BATCHES, (b, now) => {
    let fresh = 0
    for (let j = 0; j < BATCH; j++) {
      const i = b * BATCH + j
      const lo = stream[i * 2]!, hi = stream[i * 2 + 1]!
      if (byOrigin) {
        const origin = ORIGINS[lo & 15]!
        if (!t.hasOrigin(origin, hi, lo, now) && t.insertOrigin(origin, hi, lo, now)) fresh++
      } else {
        const id = (BigInt(hi) << 32n) | BigInt(lo)
        if (!t.has(id, now)) {
          one[0] = id
          fresh += t.checkAndInsert(one, now, out)
        }
      }
    }
    return fresh
  })
  const best = record(`wasm-${k.variant} per frame, ${byOrigin ? 'origin key + ID' : 'message ID only (before)'}`, m, { size: t.size })
  t.close()
  return best
}

const variants: Kernel[] = [kernel()]
if (simdSupported() && kernel().variant === 'simd') variants.push(loadKernel('scalar'))
variants.map(wasmZeroCopy)
wasmCopyIn(kernel())
wasmOrigins(kernel())
perFrame(kernel(), false)
perFrame(kernel(), true)
const ref = reference()
for (const r of results) if (r.unit === 'checks/s') r.vsReference = +(r.value / ref).toFixed(1)

const mps = (x: number): string => `${(x / 1e6).toFixed(2)} M`
console.log(`dedup${quick ? ' (--quick)' : ''}: ${CASE}`)
console.log(`best of ${ROUNDS} timed rounds (${BATCHES} batches each; reference ${REF_BATCHES}), median in brackets;`)
console.log('"per CPU s" divides by this process\'s CPU time instead of wall time (less hurt by other jobs)')
console.log(`  ${'impl'.padEnd(36)} ${'checks/s'.padStart(9)} ${'[median]'.padStart(10)} ${'vs ref'.padStart(7)} ${'per CPU s'.padStart(10)} ${'[median]'.padStart(10)}`)
for (const r of results.filter((x) => x.unit === 'checks/s')) {
  console.log(
    `  ${r.impl.padEnd(36)} ${mps(r.value).padStart(9)} ${`[${mps(r.median as number)}]`.padStart(10)} ${`${r.vsReference}x`.padStart(7)} ` +
      `${mps(r.cpuTimeBest as number).padStart(10)} ${`[${mps(r.cpuTimeMedian as number)}]`.padStart(10)}`,
  )
}
console.log('memory')
for (const r of results.filter((x) => x.unit === 'bytes/entry')) {
  console.log(`  ${r.impl.padEnd(38)} ${r.value.toFixed(2).padStart(10)} bytes/entry  (${r.case})`)
}
const grew = results.some((r) => r.memoryGrew === true)
console.log(`  linear memory ${grew ? 'GREW' : 'did not grow'} while the WASM tables ran (size fixed by capacity)`)

writeResults('dedup', { quick, results })
