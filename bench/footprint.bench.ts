// What p4net costs a small device (issue 19), every figure next to bare Node
// in the same run, each measured in a fresh process (bench/footprint-child.ts,
// --expose-gc; memory after full GCs, over the same process before):
//   1. import('p4net') of an installed copy (this build copied to
//      <tmp>/app/node_modules/p4net, as npm would lay it out: module paths
//      of a real install's length matter, see 3), RSS and heap over bare Node;
//      and the same after an application's own 14 ES modules loaded. p4net
//      is the entry package.json "exports" names (the bundle,
//      scripts/bundle.js); "p4net modules" the same library as tsc compiled
//      it, one file per module (dist/ts/index.js), for comparison;
//   2. one small-profile node (and one default-profile node) holding 8
//      links, its peers in this process: RSS over bare Node right after the
//      links came up and after 20 s idle (V8's memory reducer has shrunk the
//      young generation by then); per link (8 links vs 4: code the links
//      warm up is in it, so it is an upper bound) and per known user (41
//      users vs 9, likewise); and the small node once more with V8's
//      optimizing compiler off (node flags, measurement only: NO_TURBOFAN);
//   3. the floor, cumulative in one process: an application of 14 ES modules
//      (any graph of ~20 import edges at an installed path makes V8 optimize
//      Node's URL and path helpers, paging in ~4 MiB of node's own code), one
//      node:net connection, node:crypto's X25519, Ed25519 and
//      ChaCha20-Poly1305, and p4net's WebAssembly kernel compiled;
//   4. cold start: ms from process start to the first link of a small-profile
//      node (the bundle and the modules), next to a bare node:net connection
//      and a process that does nothing, interleaved.
// Memory: median of 3 trials [min–max]; cold start: of 9 (its spread on a shared machine is wide).
//
//   node dist/bench/footprint.bench.js [--quick]
import { fork, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createNode, type Node } from '../ts/index.js'
import { writeResults, type Target } from '../common/results.js'
import { simdSupported } from '../ts/wasm/loader.js'
import type { NodeOrder, Sample } from './footprint-child.js'
import { fmt } from './compare/chart.js'
import { interleaved, printTargets, Rows, withTimeout, type Metric } from './lib.js'

const quick = process.argv.includes('--quick')
const TRIALS = quick ? 1 : 3
const COLD_TRIALS = quick ? 1 : 9
const IDLE_MS = quick ? 2000 : 20_000
/** Users the measured node learns in the per-user step (its 8 link peers, 1 itself, the rest further away). */
const USERS = quick ? 16 : 41
const MiB = 1024 * 1024
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const CHILD = fileURLToPath(new URL('./footprint-child.js', import.meta.url))
const started = performance.now()

function progress(msg: string): void {
  process.stderr.write(`[footprint ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`)
}

// ---------------------------------------------------------------- the installed copy

interface Install {
  dir: string
  /** The entry "exports" names for '.' (what import('p4net') loads). */
  p4net: string
  /** dist/ts/index.js: the library one file per module, as tsc compiled it. */
  modules: string
  app: string
  wasm: string
}

/** This build as `npm install` lays it out, and a small application beside it. */
function install(): Install {
  const dir = mkdtempSync(join(tmpdir(), 'p4net-footprint-'))
  const pkg = join(dir, 'app', 'node_modules', 'p4net')
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'))
  cpSync(join(ROOT, 'dist', 'ts'), join(pkg, 'dist', 'ts'), { recursive: true, filter: (f) => !f.endsWith('.d.ts') })
  if (existsSync(join(ROOT, 'dist', 'bundle'))) cpSync(join(ROOT, 'dist', 'bundle'), join(pkg, 'dist', 'bundle'), { recursive: true, filter: (f) => !f.endsWith('.map') })
  const entry = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: { '.': { default: string } } }).exports['.'].default
  mkdirSync(join(pkg, 'build'), { recursive: true })
  for (const f of readdirSync(join(ROOT, 'build')).filter((f) => f.endsWith('.wasm'))) cpSync(join(ROOT, 'build', f), join(pkg, 'build', f))
  if (existsSync(join(ROOT, 'prebuilds'))) cpSync(join(ROOT, 'prebuilds'), join(pkg, 'prebuilds'), { recursive: true })
  // Its production dependencies (none today), flat beside it as npm would put them.
  const deps = (dir: string): string[] => Object.keys((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {})
  const pending = deps(ROOT)
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    const to = join(dir, 'app', 'node_modules', name)
    if (existsSync(to)) continue
    cpSync(join(ROOT, 'node_modules', name), to, { recursive: true, dereference: true })
    pending.push(...deps(to))
  }
  // An application's own modules: an entry, 12 modules and one they all import.
  const lib = join(dir, 'app', 'node_modules', 'app-graph', 'lib')
  mkdirSync(lib, { recursive: true })
  writeFileSync(join(dir, 'app', 'node_modules', 'app-graph', 'package.json'), '{"type":"module"}\n')
  writeFileSync(join(lib, 'common-helpers.js'), 'export const shared = 1\n')
  const names = Array.from({ length: 12 }, (_, i) => `feature-module-${i + 1}.js`)
  for (const [i, n] of names.entries()) writeFileSync(join(lib, n), `import { shared } from './common-helpers.js'\nexport const f${i} = shared + ${i}\n`)
  writeFileSync(join(lib, 'index.js'), names.map((n) => `export * from './${n}'\n`).join(''))
  return { dir, p4net: join(pkg, entry), modules: join(pkg, 'dist', 'ts', 'index.js'), app: join(lib, 'index.js'), wasm: join(pkg, 'build', simdSupported() ? 'p4net.simd.wasm' : 'p4net.wasm') }
}

// ---------------------------------------------------------------- children

/** `node --expose-gc footprint-child.js ...args` to its end: its last stdout line as JSON. */
function runChild<T>(args: string[]): Promise<T> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--expose-gc', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    c.stdout.on('data', (d: Buffer) => (out += d.toString()))
    c.stderr.on('data', (d: Buffer) => (err += d.toString()))
    c.on('error', reject)
    c.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${args[0]} exited ${code}: ${err.trim().split('\n').slice(-2).join(' ')}`))
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as T)
      } catch {
        reject(new Error(`${args[0]} printed ${JSON.stringify(out.slice(0, 200))}`))
      }
    })
  })
}

type Reply = { op: string; [k: string]: unknown }

interface NodeFigures {
  imported: Sample
  started: Sample
  fourLinks: Sample
  links: Sample
  users: Sample
  idle: Sample
}

/** A node of `profile` in a fresh child; its peers are made here, step by step. */
async function nodeTrial(entry: string, profile: 'small' | 'default', flags: string[] = []): Promise<NodeFigures> {
  const child = fork(CHILD, ['node', entry, profile], { execArgv: ['--expose-gc', ...flags], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const waiting: { op: string; resolve: (r: Reply) => void; reject: (e: Error) => void }[] = []
  const fail = (e: Error): void => void waiting.splice(0).forEach((w) => w.reject(e))
  child.on('message', (m: Reply) => {
    if (m.op === 'error') return fail(new Error(String(m.message)))
    const i = waiting.findIndex((w) => w.op === m.op)
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(m)
  })
  child.on('exit', (code) => fail(new Error(`node child exited (${code})`)))
  const expect = (op: string): Promise<Reply> => new Promise((resolve, reject) => waiting.push({ op, resolve, reject }))
  const ask = (o: NodeOrder, op = 'sample'): Promise<Reply> => {
    const r = expect(op)
    child.send(o)
    return withTimeout(r, 90_000, `node child ${o.op}`)
  }
  const peers: Node[] = []
  const peer = async (i: number, bootstrap: string[]): Promise<void> => {
    const n = await createNode({ username: `peer${i}`, bootstrap })
    n.plugin(4242)
    await n.start({ joinTimeout: 0 })
    peers.push(n)
  }
  try {
    const hello = await withTimeout(expect('listening'), 60_000, 'node child start')
    const at = `127.0.0.1:${hello.port as number}`
    for (let i = 0; i < 4; i++) await peer(i, [at])
    const fourLinks = (await ask({ op: 'sample', links: 4, users: 5 })).used as Sample
    for (let i = 4; i < 8; i++) await peer(i, [at])
    const links = (await ask({ op: 'sample', links: 8, users: 9 })).used as Sample
    // Users further away: they bootstrap to the link peers, never to the measured node.
    for (let i = 8; i < USERS - 1; i++) await peer(i, [`127.0.0.1:${peers[i % 8]!.address.port}`])
    const users = (await ask({ op: 'sample', links: 8, users: USERS })).used as Sample
    const idle = (await ask({ op: 'idle', ms: IDLE_MS })).used as Sample
    await ask({ op: 'stop' }, 'stopped')
    return { imported: hello.imported as Sample, started: hello.started as Sample, fourLinks, links, users, idle }
  } finally {
    child.kill()
    await Promise.allSettled(peers.map((p) => p.stop()))
  }
}

// ---------------------------------------------------------------- the run

/**
 * The small node again with V8's optimizing compiler (TurboFan) off, for
 * JavaScript (--no-opt) and WebAssembly (--liftoff-only): a measurement of
 * what the compiler costs, not a setting p4net makes (a library cannot set
 * node's flags). It arrives once a kernel function is hot (BLAKE2s in the
 * handshakes, ChaCha20 as traffic flows) or Node's own helpers are.
 */
const NO_TURBOFAN = 'small, no optimizing compiler (flags: measurement only)'

const rows = new Rows()
const notes: string[] = []
const mib = (b: number): number => b / MiB
const kib = (b: number): number => b / 1024

async function measure(metrics: Metric[], keys: string[], trials: number, fn: (k: string) => Promise<number[]>): Promise<void> {
  const before = loadavg()[0]!
  const o = await interleaved(keys, trials, metrics[0]!.name, fn, { timeoutMs: 600_000, units: metrics.map((m) => m.unit), fmt: (x) => x.toFixed(2), progress })
  rows.recordAll(metrics, o)
  notes.push(`${metrics[0]!.name}: load average ${before.toFixed(2)} -> ${loadavg()[0]!.toFixed(2)}`)
}

const inst = install()
progress(`installed copy in ${inst.dir}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`)
try {
  // 1. import, the floor, bare Node
  await measure(
    [
      { name: 'import, RSS over bare Node', unit: 'MiB', better: 'lower' },
      { name: 'import, heap used over bare Node', unit: 'MiB', better: 'lower' },
    ],
    ['p4net', 'p4net after the app', 'p4net modules', 'p4net modules after the app', 'app alone'],
    TRIALS,
    async (k) => {
      const entry = k.startsWith('p4net modules') ? inst.modules : inst.p4net
      const args = k === 'app alone' ? ['esm', inst.app] : k.endsWith('after the app') ? ['import-warm', inst.app, entry] : ['import', entry]
      const { delta } = await runChild<{ delta: Sample }>(args)
      return [mib(delta.rss), mib(delta.heapUsed)]
    },
  )
  await measure([{ name: 'bare Node, RSS', unit: 'MiB' }], ['bare Node'], TRIALS, async () => [mib((await runChild<{ total: Sample }>(['bare'])).total.rss)])
  const FLOOR = ['esm', 'net', 'crypto', 'wasm'] as const
  await measure(
    [...FLOOR.map((s) => ({ name: `floor: ${s}`, unit: 'MiB', better: 'lower' as const })), { name: 'floor: all four', unit: 'MiB', better: 'lower' }],
    ['floor'],
    TRIALS,
    async () => {
      const { steps } = await runChild<{ steps: Record<string, Sample> }>(['floor', inst.app, inst.wasm])
      const each = FLOOR.map((s) => mib(steps[s]!.rss))
      return [...each, each.reduce((a, b) => a + b, 0)]
    },
  )
  // 2. a node with 8 links
  await measure(
    [
      { name: 'node with 8 links, RSS over bare Node', unit: 'MiB', better: 'lower' },
      { name: 'node with 8 links after 20 s idle, RSS over bare Node', unit: 'MiB', better: 'lower' },
      { name: 'node with 8 links, heap used over bare Node', unit: 'MiB', better: 'lower' },
      { name: 'node started, no link yet, RSS over bare Node', unit: 'MiB', better: 'lower' },
      { name: 'per link (8 links vs 4), RSS', unit: 'KiB', better: 'lower' },
      { name: 'per link (8 links vs 4), heap used', unit: 'KiB', better: 'lower' },
      { name: `per known user (${USERS} users vs 9), RSS`, unit: 'KiB', better: 'lower' },
      { name: `per known user (${USERS} users vs 9), heap used`, unit: 'KiB', better: 'lower' },
      { name: 'node with 8 links, anonymous RSS over bare Node (heap, WebAssembly, malloc)', unit: 'MiB', better: 'lower' },
      { name: "node with 8 links, file-backed RSS over bare Node (Node's own code paged in)", unit: 'MiB', better: 'lower' },
    ],
    ['small', 'default', 'small, p4net modules', NO_TURBOFAN],
    TRIALS,
    async (k) => {
      const f = await nodeTrial(k.endsWith('p4net modules') ? inst.modules : inst.p4net, k.startsWith('small') ? 'small' : 'default', k === NO_TURBOFAN ? ['--liftoff-only', '--no-opt'] : [])
      const users = USERS - 9
      return [
        mib(f.links.rss),
        mib(f.idle.rss),
        mib(f.links.heapUsed),
        mib(f.started.rss),
        kib(f.links.rss - f.fourLinks.rss) / 4,
        kib(f.links.heapUsed - f.fourLinks.heapUsed) / 4,
        kib(f.users.rss - f.links.rss) / users,
        kib(f.users.heapUsed - f.links.heapUsed) / users,
        mib(f.links.rssAnon),
        mib(f.links.rssFile),
      ]
    },
  )
  // 3. cold start
  const host = await createNode({ username: 'cold-host' })
  await host.start()
  const held: Socket[] = []
  const raw = createServer((s) => void held.push(s.on('error', () => {})))
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r))
  try {
    const rawAt = `127.0.0.1:${(raw.address() as { port: number }).port}`
    const hostAt = `127.0.0.1:${host.address.port}`
    await measure([{ name: 'cold start to first link', unit: 'ms', better: 'lower' }], ['p4net small', 'p4net modules small', 'raw node:net', 'bare Node'], COLD_TRIALS, async (k) => {
      const args = k === 'bare Node' ? ['cold', 'bare'] : k === 'raw node:net' ? ['cold', 'raw', rawAt] : ['cold', 'p4net', k === 'p4net small' ? inst.p4net : inst.modules, hostAt]
      return [(await runChild<{ ms: number }>(args)).ms]
    })
  } finally {
    for (const s of held) s.destroy()
    raw.close()
    await host.stop()
  }
} finally {
  rmSync(inst.dir, { recursive: true, force: true })
}

// ---------------------------------------------------------------- targets, table, file

const value = (c: string, impl: string): number | null => rows.find(c, impl)?.value ?? null
const fig = (c: string, impl: string, unit: string): string => {
  const r = rows.find(c, impl)
  return r?.value == null ? 'n/a' : `${fmt(r.value)} ${unit} [${fmt(r.min ?? null)}–${fmt(r.max ?? null)}]`
}
const targets: Target[] = []
const importRss = value('import, RSS over bare Node', 'p4net')
targets.push({ target: 'import costs <= 4 MiB RSS over bare Node', figure: `${fig('import, RSS over bare Node', 'p4net', 'MiB')}; after an application's 14 modules: ${fig('import, RSS over bare Node', 'p4net after the app', 'MiB')}; unbundled (dist/ts): ${fig('import, RSS over bare Node', 'p4net modules', 'MiB')}`, met: importRss === null ? null : importRss <= 4 })
const nodeRss = value('node with 8 links, RSS over bare Node', 'small')
targets.push({ target: 'a started small-profile node with 8 links <= 8 MiB RSS over bare Node', figure: `${fig('node with 8 links, RSS over bare Node', 'small', 'MiB')}; after 20 s idle ${fig('node with 8 links after 20 s idle, RSS over bare Node', 'small', 'MiB')}; the floor ${fig('floor: all four', 'floor', 'MiB')}; unbundled (dist/ts): ${fig('node with 8 links, RSS over bare Node', 'small, p4net modules', 'MiB')}; of the RSS, anonymous ${fig('node with 8 links, anonymous RSS over bare Node (heap, WebAssembly, malloc)', 'small', 'MiB')} and file-backed (the node executable's pages) ${fig("node with 8 links, file-backed RSS over bare Node (Node's own code paged in)", 'small', 'MiB')}; without V8's optimizing compiler (node --liftoff-only --no-opt, measurement only) ${fig('node with 8 links, RSS over bare Node', NO_TURBOFAN, 'MiB')}`, met: nodeRss === null ? null : nodeRss <= 8 })
const coldMs = value('cold start to first link', 'p4net small')
targets.push({ target: 'cold start (process start to first link, small profile) <= 100 ms', figure: `${fig('cold start to first link', 'p4net small', 'ms')}; raw node:net ${fig('cold start to first link', 'raw node:net', 'ms')}; bare Node ${fig('cold start to first link', 'bare Node', 'ms')}; unbundled (dist/ts): ${fig('cold start to first link', 'p4net modules small', 'ms')}`, met: coldMs === null ? null : coldMs <= 100 })

for (const r of rows.rows) console.log(`${`${r.case} (${r.unit})`.padEnd(62)} ${r.impl.padEnd(20)} ${r.value ?? 'failed'} [${r.min ?? ''}–${r.max ?? ''}]${r.errors?.length ? ` (${r.errors.length} failed: ${r.errors[0]})` : ''}`)
printTargets('issue 19', targets, quick)
for (const n of notes) console.log(`note: ${n}`)
writeResults('footprint', {
  quick,
  trials: TRIALS,
  coldTrials: COLD_TRIALS,
  setup: {
    install: 'this build copied as npm lays it out: <tmp>/app/node_modules/p4net/{package.json,dist/ts/**/*.js,dist/bundle/**/*.js,build/*.wasm,prebuilds}, its production dependencies beside it; p4net: the entry package.json "exports" names, p4net modules: dist/ts/index.js',
    app: "an application's ES modules: an entry importing 12 modules that each import one shared module (14 modules, 25 import edges)",
    memory: 'process.memoryUsage() after gc() twice, 50 ms, gc() again; over the same fresh process before the step',
    node: `createNode({ profile, links: { max: 8 } }) in a fresh child; peers (default profile, default timers) in the bench process join one by one; per user: ${USERS - 9} more nodes bootstrapping to the link peers; idle: ${IDLE_MS / 1000} s more; '${NO_TURBOFAN}': the same child run with node --liftoff-only --no-opt`,
    cold: 'a fresh process: small-profile createNode bootstrapping to a node in the bench process, until link-up (performance.now()); raw: node:net connect; bare: a process that prints performance.now()',
  },
  results: rows.rows,
  targets,
  notes,
})
process.exit(0)
