// The long fuzz run (`npm run fuzz`): every target, 1 million inputs each by
// default, spread over worker threads; prints a table and writes
// bench/results/fuzz.json. Exits 1 on the first failure, naming the seed and
// input index that reproduce it.
//
//   node dist/test/fuzz/run.js [--count N] [--seconds S] [--seed N]
//                              [--target a,b] [--jobs N] [--index I]
//
// --index I runs input I of the seed alone (with --target), to reproduce.
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { writeResults } from '../../common/results.js'
import { FuzzFailure, runTarget, type RunResult } from './harness.js'
import { makeTarget, TARGET_NAMES } from './targets.js'

interface Job {
  targets: string[]
  seed: number
  count: number
  seconds: number | undefined
  from: number
}

type Msg = { kind: 'result'; result: RunResult } | { kind: 'failure'; message: string } | { kind: 'progress'; target: string; done: number; ms: number }

async function runJob(job: Job, post: (m: Msg) => void): Promise<boolean> {
  for (const name of job.targets) {
    const target = await makeTarget(name)
    try {
      const result = await runTarget(target, {
        seed: job.seed,
        count: job.count,
        timeMs: job.seconds === undefined ? undefined : job.seconds * 1000,
        from: job.from,
        progress: (done, ms) => post({ kind: 'progress', target: name, done, ms }),
      })
      post({ kind: 'result', result })
    } catch (err) {
      post({ kind: 'failure', message: err instanceof FuzzFailure ? err.message : `fuzz target ${name} broke: ${(err as Error)?.stack ?? String(err)}` })
      return false
    } finally {
      await target.close?.()
    }
  }
  return true
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(Math.round(n))
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string' },
      seconds: { type: 'string' },
      seed: { type: 'string' },
      target: { type: 'string' },
      jobs: { type: 'string' },
      index: { type: 'string' },
    },
  })
  const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : (Math.random() * 0x100000000) >>> 0
  const targets = values.target ? values.target.split(',') : [...TARGET_NAMES]
  for (const t of targets) if (!TARGET_NAMES.includes(t)) throw new Error(`unknown target ${t} (known: ${TARGET_NAMES.join(', ')})`)
  if (values.index !== undefined) {
    const index = Number(values.index)
    const ok = await runJob({ targets, seed, count: 1, seconds: undefined, from: index }, (m) => {
      if (m.kind === 'failure') console.log(m.message)
      if (m.kind === 'result') console.log(`${m.result.target}: input ${index} of seed ${seed} passes (${m.result.accepted ? 'accepted' : 'rejected'})`)
    })
    process.exitCode = ok ? 0 : 1
    return
  }
  const count = values.count !== undefined ? Number(values.count) : values.seconds !== undefined ? Infinity : 1_000_000
  const seconds = values.seconds !== undefined ? Number(values.seconds) : undefined
  const jobs = Math.max(1, Math.min(targets.length, values.jobs !== undefined ? Number(values.jobs) : cpus().length))
  console.log(`fuzz: seed ${seed}, ${targets.length} targets, ${count === Infinity ? `${seconds} s` : `${fmt(count)} inputs`} each, ${jobs} worker(s)`)
  // Round-robin over workers, slowest targets first so they start early.
  const order = ['handshake', 'hello-frame', 'config-file', 'receiver', 'discover-frame']
  const sorted = [...targets].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99))
  const groups: string[][] = Array.from({ length: jobs }, () => [])
  sorted.forEach((t, i) => groups[i % jobs]!.push(t))
  const results: RunResult[] = []
  const failures: string[] = []
  const here = fileURLToPath(import.meta.url)
  await Promise.all(
    groups.map(
      (g) =>
        new Promise<void>((resolve) => {
          const w = new Worker(here, { workerData: { targets: g, seed, count, seconds, from: 0 } satisfies Job })
          w.on('message', (m: Msg) => {
            if (m.kind === 'result') {
              results.push(m.result)
              const r = m.result
              console.log(`  ${r.target}: ${fmt(r.inputs)} inputs in ${(r.ms / 1000).toFixed(1)} s (${fmt(r.perSecond)}/s)`)
            } else if (m.kind === 'failure') failures.push(m.message)
            else process.stderr.write(`\r  ${m.target}: ${fmt(m.done)} (${(m.ms / 1000).toFixed(0)} s)   `)
          })
          w.on('error', (err) => failures.push(String(err?.stack ?? err)))
          w.on('exit', () => resolve())
        }),
    ),
  )
  process.stderr.write('\n')
  results.sort((a, b) => TARGET_NAMES.indexOf(a.target) - TARGET_NAMES.indexOf(b.target))
  console.log('\ntarget             inputs    accepted  rejected  inputs/s   time s  largest alloc  slowest ms')
  for (const r of results) {
    console.log(
      `${r.target.padEnd(18)} ${fmt(r.inputs).padStart(7)}  ${fmt(r.accepted).padStart(8)}  ${fmt(r.rejected).padStart(8)}  ${fmt(r.perSecond).padStart(8)}  ${(r.ms / 1000).toFixed(1).padStart(7)}  ${String(r.largestAlloc).padStart(13)}  ${r.slowestMs.toFixed(1).padStart(10)}`,
    )
  }
  writeResults('fuzz', {
    seed,
    results: results.flatMap((r) => [
      { case: r.target, impl: 'inputs', value: r.inputs, unit: 'inputs', accepted: r.accepted, rejected: r.rejected, codes: r.codes, largestAlloc: r.largestAlloc, slowestMs: r.slowestMs },
      { case: r.target, impl: 'rate', value: Math.round(r.perSecond), unit: 'inputs/s', seconds: r.ms / 1000 },
    ]),
    failures,
  })
  console.log('\nrejections by code:')
  for (const r of results) console.log(`  ${r.target.padEnd(18)} ${Object.entries(r.codes).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${fmt(n)}`).join(', ')}`)
  for (const f of failures) console.error(`\nFAILED: ${f}`)
  process.exitCode = failures.length > 0 ? 1 : 0
}

if (isMainThread) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
} else {
  const job = workerData as Job
  runJob(job, (m) => parentPort!.postMessage(m)).catch((err) => parentPort!.postMessage({ kind: 'failure', message: String((err as Error)?.stack ?? err) } satisfies Msg))
}
