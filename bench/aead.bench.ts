// ChaCha20-Poly1305 throughput: p4net's WASM kernel (SIMD build, and scalar)
// against node:crypto (OpenSSL), @noble/ciphers, @chainsafe/as-chacha20poly1305
// and libsodium-wrappers. Seal and open at 64 B, 1 KiB, 16 KiB and 64 KiB
// (MB/s, single calls with copies in and out), and 1,024 64-byte frames with
// Noise counter nonces (p4net: one batch call over frames in WASM memory;
// the others: one call per frame).
//
// Each implementation runs in its own child process (bench/aead-worker.ts),
// one after another, and the whole sequence is repeated PASSES times so that
// load from other jobs on the machine does not land on one implementation
// only. The table shows the best timed round over all passes; the JSON also
// keeps the median and every round.
//
//   node dist/bench/aead.bench.js [--quick]
import { fileURLToPath } from 'node:url'
import { median, writeResults } from '../common/results.js'
import { runJson } from './child.js'
import { round, type BestRow } from './lib.js'

const quick = process.argv.includes('--quick')
const PASSES = quick ? 1 : 3
const IMPLS = ['p4net', 'p4net-scalar', 'node', 'noble', 'chainsafe', 'libsodium']
const LABEL: Record<string, string> = {
  p4net: 'p4net simd',
  'p4net-scalar': 'p4net scalar',
  node: 'node:crypto',
  noble: '@noble',
  chainsafe: '@chainsafe',
  libsodium: 'libsodium',
}

interface WorkerOutput {
  impl: string
  rounds: number
  roundMs: number
  results: BestRow[]
}

const worker = fileURLToPath(new URL('./aead-worker.js', import.meta.url))
const outputs: WorkerOutput[] = []
for (let pass = 0; pass < PASSES; pass++) {
  for (const impl of IMPLS) {
    outputs.push(await runJson<WorkerOutput>(worker, [impl, ...(quick ? ['--quick'] : [])], `aead worker ${impl}`))
  }
}

// one row per (case, impl): best and median over the rounds of every pass
const results: BestRow[] = []
for (const r of outputs.flatMap((o) => o.results)) {
  const row = results.find((x) => x.case === r.case && x.impl === r.impl)
  if (!row) {
    results.push({ ...r, runs: [...r.runs] })
  } else {
    row.runs.push(...r.runs)
    row.value = Math.max(row.value, r.value)
    row.median = round(median(row.runs))
  }
}
const cases = [...new Set(results.map((r) => r.case))]
const get = (c: string, impl: string): BestRow | undefined => results.find((r) => r.case === c && r.impl === impl)

const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(2))
const { rounds, roundMs } = outputs[0]!
console.log(
  `aead${quick ? ' (--quick)' : ''}: ChaCha20-Poly1305; best of ${rounds} rounds of ~${roundMs} ms x ${PASSES} pass(es), ` +
    'each implementation in its own process',
)
console.log(`${'case'.padEnd(28)}${'unit'.padEnd(11)}${IMPLS.map((i) => LABEL[i]!.padStart(14)).join('')}`)
for (const c of cases) {
  const unit = results.find((r) => r.case === c)!.unit
  const cells = IMPLS.map((i) => {
    const r = get(c, i)
    return (r ? fmt(r.value) : '-').padStart(14)
  })
  console.log(`${c.padEnd(28)}${unit.padEnd(11)}${cells.join('')}`)
}

// The targets, in this run.
const v = (c: string, impl: string): number => get(c, impl)?.value ?? NaN
const seal64k = v('seal 64 KiB', 'p4net')
const frameCase = cases.find((c) => c.startsWith('seal 1024 x'))!
const checks = [
  { case: 'p4net seal 64 KiB / libsodium', value: seal64k / v('seal 64 KiB', 'libsodium'), target: 2 },
  { case: 'p4net seal 64 KiB / chainsafe', value: seal64k / v('seal 64 KiB', 'chainsafe'), target: 4 },
  { case: 'p4net 64 B frames, Mframes/s', value: v(frameCase, 'p4net'), target: 3 },
]
console.log('targets (this run, best rounds):')
for (const t of checks) {
  console.log(`  ${t.case.padEnd(34)} ${t.value.toFixed(2).padStart(7)}  (target >= ${t.target}) ${t.value >= t.target ? 'met' : 'NOT met'}`)
}

writeResults('aead', {
  quick,
  method: `hrtime loop, one child process per implementation and pass; value = best of ${rounds} rounds of ~${roundMs} ms over ${PASSES} passes; median and runs kept`,
  results: [
    ...results,
    ...checks.map((t) => ({ case: t.case, impl: 'p4net', value: +t.value.toFixed(2), unit: t.case.endsWith('/s') ? 'Mframes/s' : 'x', target: t.target })),
  ],
})
