// The small profile as a contract (docs/small-profile.md): the bounds it
// lowers, what importing p4net loads, and the memory a small-profile node
// takes, measured in child processes with generous margins (the figures the
// document states come from bench/footprint.bench.ts; these bounds only
// catch a regression of several times). Memory only, no timings.
//
// This file is also the measured process: with P4NET_FOOTPRINT_CHILD set it
// imports p4net ('import'), runs a node ('node') or lists the files both
// load ('files') and answers over IPC. It imports p4net by name, as an
// application does: the package's own entry (package.json "exports", the
// bundle of scripts/bundle.js).
import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as assert from 'uvu/assert'
import { rssSplit } from '../common/rss.js'
import { test } from './helpers/test.js'

const MiB = 1024 * 1024

/** Every bound the small profile lowers: [default, small]. docs/small-profile.md lists each. */
const SMALL: Record<string, [number | string | boolean, number | string | boolean]> = {
  'links.min': [4, 2],
  'links.max': [12, 4],
  'links.hardCap': [64, 8],
  maxMessage: [16 * MiB, MiB],
  'dedup.capacity': [65536, 4096],
  maxUsers: [4096, 512],
  maxDirect: [32, 4],
  highWaterMark: [MiB, 64 * 1024],
  'streams.max': [256, 16],
  'streams.window': [256 * 1024, 32 * 1024],
  'quotas.framesPerSecond': [20000, 5000],
  'quotas.helloPerSecond': [500, 200],
  'quotas.duplicatesPerSecond': [10000, 2000],
  'quotas.maxPendingHandshakes': [64, 8],
  'quotas.cpuMsPerSecond': [250, 100],
  'quotas.cpuBurstMs': [50, 25],
  'lan.intervalMs': [15000, 60000],
  'reach.servePerPeer': [3, 2],
  'reach.servePerMinute': [60, 10],
  'reach.serveAtOnce': [4, 1],
  'relay.serve': ['auto', false],
  'relay.maxReservations': [128, 8],
  'relay.maxCircuits': [256, 16],
  'relay.circuitBytes': [256 * MiB, 16 * MiB],
}

/** A value as the document's table writes it. */
const shown = (v: number | string | boolean): string => (typeof v === 'number' ? String(v) : JSON.stringify(v))

/**
 * The bounds a measured small-profile node must stay under. The import's is
 * issue 19's target (measured 2.0–2.5 MiB). A started node with no link
 * takes about 6 MiB, 2.5 of it file-backed: V8's optimizing compiler
 * (TurboFan) is not paged in yet; when it was (a WebAssembly import wrapper,
 * Node's URL helper optimized while the modules loaded) it took 8.4–9.7 MiB,
 * 4.7–5 file-backed. With 8 links TurboFan is in (the kernel's hot
 * functions tier up): about 11 MiB, 2.9 of heap. Per link RSS includes code
 * V8 compiles as the links arrive: 96–300 KiB measured, 56–111 of heap
 * (docs/small-profile.md). Margins: this runs beside other tests.
 */
const BOUND = {
  importRssMiB: 4,
  startedRssMiB: 8,
  startedFileMiB: 3.75,
  nodeRssMiB: 16,
  nodeHeapMiB: 5,
  perLinkRssKiB: 768,
  perLinkHeapKiB: 192,
  dedupKiB: 129,
  urlToPathCalls: 60,
}

type Sample = { rss: number; heapUsed: number; rssFile: number }

function sample(): Sample {
  const gc = (globalThis as { gc?: () => void }).gc!
  gc()
  gc()
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, rssFile: rssSplit().rssFile }
}

// ---------------------------------------------------------------- the measured process

async function child(mode: string): Promise<void> {
  const send = (m: object): void => void process.send!(m)
  const loaded = new Set((process as unknown as { moduleLoadList: string[] }).moduleLoadList)
  const base = sample()
  if (mode === 'files') return files(send)
  if (mode === 'urls') return urls(send)
  const p4net = await import('p4net')
  const imported = sample()
  if (mode === 'import') {
    const builtins = (process as unknown as { moduleLoadList: string[] }).moduleLoadList.filter((m) => !loaded.has(m) && m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length))
    send({ op: 'import', rss: imported.rss - base.rss, heapUsed: imported.heapUsed - base.heapUsed, builtins })
    return
  }
  const node = await p4net.createNode({ username: 'measured', profile: 'small', links: { max: 8 } })
  node.plugin(4242)
  await node.start({ joinTimeout: 0 })
  const started = sample()
  send({ op: 'listening', port: node.address.port, rss: started.rss - base.rss, rssFile: started.rssFile - base.rssFile })
  process.on('message', (o: { links: number }) => {
    // Polled, not slept: the links come up as the test's peers dial.
    const poll = setInterval(() => {
      const s = node.stats()
      if (s.links < o.links || s.users <= o.links) return
      clearInterval(poll)
      const now = sample()
      const addon = readFileSync('/proc/self/maps', 'utf8').includes('p4net_native.node')
      send({ op: 'sample', rss: now.rss - base.rss, heapUsed: now.heapUsed - base.heapUsed, dedupBytes: s.dedupBytes, addon })
    }, 20)
  })
  process.on('disconnect', () => void node.stop().finally(() => process.exit(0)))
}

/**
 * The files import('p4net') loads, then createNode() (through a module.register
 * hook: its own thread, so not in the memory-measuring modes).
 */
async function files(send: (m: object) => void): Promise<void> {
  const { register } = await import('node:module')
  const { MessageChannel } = await import('node:worker_threads')
  const hooks = `let port
export function initialize(data) { port = data.port; port.on('message', () => port.postMessage(null)) }
export async function load(url, context, next) { if (url.startsWith('file:')) port.postMessage(url); return next(url, context) }`
  const { port1, port2 } = new MessageChannel()
  register(`data:text/javascript,${encodeURIComponent(hooks)}`, { data: { port: port2 }, transferList: [port2] })
  const urls: string[] = []
  // The hook posts each URL before the load completes; a round trip on the same port comes after them all.
  const loaded = (): Promise<string[]> =>
    new Promise((resolve) => {
      const on = (u: string | null): void => {
        if (u !== null) return void urls.push(fileURLToPath(u))
        port1.off('message', on)
        resolve(urls.splice(0))
      }
      port1.on('message', on)
      port1.postMessage('sync')
    })
  const p4net = await import('p4net')
  const imported = await loaded()
  const node = await p4net.createNode({ username: 'measured', profile: 'small' })
  const created = await loaded()
  await node.stop()
  port1.close()
  send({ op: 'files', imported, created })
}

/**
 * How often Node's URL-to-path helper (node:internal/url fileURLToPath) ran
 * while import('p4net') and createNode() loaded p4net: call counts from V8's
 * precise coverage, so no timing is involved. Run often enough in a starting
 * process, V8 optimizes the helper and pages in its optimizing compiler
 * (about 3 MiB: docs/small-profile.md).
 */
async function urls(send: (m: object) => void): Promise<void> {
  const { Session } = await import('node:inspector/promises')
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false })
  const count = async (): Promise<number> => {
    const { result } = await session.post('Profiler.takePreciseCoverage')
    let n = 0
    for (const script of result) {
      if (script.url !== 'node:internal/url') continue
      for (const f of script.functions) if (f.functionName === 'fileURLToPath') n += f.ranges[0]!.count
    }
    return n
  }
  const before = await count()
  const p4net = await import('p4net')
  const node = await p4net.createNode({ username: 'measured', profile: 'small' })
  const calls = (await count()) - before
  await node.stop()
  session.disconnect()
  send({ op: 'urls', calls })
}

// ---------------------------------------------------------------- the tests

function measured(mode: string): { ask(o: object, op: string): Promise<Record<string, unknown>>; end(): void } {
  const c = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--expose-gc'], env: { ...process.env, P4NET_FOOTPRINT_CHILD: mode }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const replies: Record<string, unknown>[] = []
  let waiting: (() => void) | null = null
  let exited: string | null = null
  c.on('message', (m: Record<string, unknown>) => {
    replies.push(m)
    waiting?.()
  })
  c.on('exit', (code) => {
    exited = `the measured process exited (${code})`
    waiting?.()
  })
  const next = async (op: string): Promise<Record<string, unknown>> => {
    for (;;) {
      const i = replies.findIndex((r) => r.op === op)
      if (i >= 0) return replies.splice(i, 1)[0]!
      if (exited) throw new Error(exited)
      await new Promise<void>((r) => (waiting = r))
    }
  }
  return {
    ask(o, op) {
      if (Object.keys(o).length) c.send(o)
      return next(op)
    },
    end: () => (c.connected ? c.disconnect() : undefined),
  }
}

async function main(): Promise<void> {
  const { createNode } = await import('../ts/index.js')
  const { defaultOf, OPTIONS } = await import('../ts/options.js')
  type Node = Awaited<ReturnType<typeof createNode>>
  const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')

  test('the small profile lowers exactly the bounds docs/small-profile.md lists, to the values it states', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'small-profile.md'), 'utf8')
    const lowered = OPTIONS.filter((e) => typeof e.default === 'object' && e.default !== null && !Array.isArray(e.default)).map((e) => e.name)
    assert.equal(lowered.sort(), Object.keys(SMALL).sort(), 'every option with a small-profile default is in the contract')
    for (const [name, [dflt, small]] of Object.entries(SMALL)) {
      assert.is(defaultOf(name, 'default'), dflt, `${name} default`)
      assert.is(defaultOf(name, 'small'), small, `${name} small`)
      const row = `| \`${name}\` | ${shown(dflt)} | ${shown(small)} |`
      assert.ok(doc.includes(row), `docs/small-profile.md has the row of ${name}: ${row}`)
    }
  })

  test('import(p4net) loads no node:crypto, node:net, node:dgram or node:os, and stays under its memory bound', async () => {
    const m = measured('import')
    try {
      const r = await m.ask({}, 'import')
      const builtins = r.builtins as string[]
      for (const b of ['crypto', 'net', 'dgram', 'os']) assert.not.ok(builtins.includes(b), `import loaded node:${b} (loaded: ${builtins.join(', ')})`)
      assert.ok((r.rss as number) < BOUND.importRssMiB * MiB, `import: ${((r.rss as number) / MiB).toFixed(1)} MiB RSS`)
    } finally {
      m.end()
    }
  })

  test('import(p4net) loads only the bundle: at most 4 files (tsc\'s modules were 35); createNode() at most 6 more (were 105)', async () => {
    const m = measured('files')
    try {
      const r = (await m.ask({}, 'files')) as { imported: string[]; created: string[] }
      const bundle = join(ROOT, 'dist', 'bundle', 'lib')
      const outside = [...r.imported, ...r.created].filter((f) => dirname(f) !== bundle)
      assert.equal(outside, [], 'every file loaded is in dist/bundle/lib')
      assert.ok(r.imported.length <= 4, `import('p4net') loaded ${r.imported.length} files: ${r.imported.join(', ')}`)
      assert.ok(r.created.length >= 1 && r.created.length <= 6, `createNode() loaded ${r.created.length} more files`)
    } finally {
      m.end()
    }
  })

  test('import(p4net) and createNode() run the loader\'s URL-to-path helper few times (each bundle directory is its own package scope)', async () => {
    const m = measured('urls')
    try {
      const r = (await m.ask({}, 'urls')) as { calls: number }
      // 44 measured from this checkout, 89 before the bundle directories had a package.json of their own
      // (27 and 60 from an installed copy; the count does not depend on timing)
      assert.ok(r.calls > 0, 'the count works (node:internal/url fileURLToPath ran)')
      assert.ok(r.calls <= BOUND.urlToPathCalls, `fileURLToPath ran ${r.calls} times`)
    } finally {
      m.end()
    }
  })

  test(`a small-profile node: started under ${BOUND.startedRssMiB} MiB RSS over bare Node (${BOUND.startedFileMiB} file-backed), with 8 links under ${BOUND.nodeRssMiB}, ${BOUND.perLinkRssKiB} KiB per link; the default tcp transport leaves the native addon unloaded`, async () => {
    const m = measured('node')
    const peers: Node[] = []
    try {
      const { port, ...started } = (await m.ask({}, 'listening')) as { port: number; rss: number; rssFile: number }
      // Started, no link: no optimizing compiler yet (its code is file-backed, from the node executable).
      assert.ok(started.rss < BOUND.startedRssMiB * MiB, `started: ${(started.rss / MiB).toFixed(1)} MiB RSS over bare Node`)
      assert.ok(started.rssFile < BOUND.startedFileMiB * MiB, `started: ${(started.rssFile / MiB).toFixed(1)} MiB of it file-backed`)
      const peer = async (i: number): Promise<void> => {
        const n = await createNode({ username: `peer${i}`, bootstrap: [`127.0.0.1:${port}`] })
        await n.start({ joinTimeout: 0 })
        peers.push(n)
      }
      for (let i = 0; i < 4; i++) await peer(i)
      const four = (await m.ask({ links: 4 }, 'sample')) as Sample
      for (let i = 4; i < 8; i++) await peer(i)
      const eight = (await m.ask({ links: 8 }, 'sample')) as Sample & { dedupBytes: number; addon: boolean }
      const perLinkRss = (eight.rss - four.rss) / 4
      const perLinkHeap = (eight.heapUsed - four.heapUsed) / 4
      assert.ok(eight.rss < BOUND.nodeRssMiB * MiB, `node: ${(eight.rss / MiB).toFixed(1)} MiB RSS over bare Node`)
      assert.ok(eight.heapUsed < BOUND.nodeHeapMiB * MiB, `node: ${(eight.heapUsed / MiB).toFixed(1)} MiB heap over bare Node`)
      assert.ok(perLinkRss < BOUND.perLinkRssKiB * 1024, `${(perLinkRss / 1024).toFixed(0)} KiB RSS per link`)
      assert.ok(perLinkHeap < BOUND.perLinkHeapKiB * 1024, `${(perLinkHeap / 1024).toFixed(0)} KiB heap per link`)
      assert.ok(eight.dedupBytes <= BOUND.dedupKiB * 1024, `dedup table ${eight.dedupBytes} bytes`)
      assert.is(eight.addon, false, 'the native addon was loaded for options node:net sets itself')
    } finally {
      m.end()
      await Promise.allSettled(peers.map((p) => p.stop()))
    }
  })

  test.run()
}

const mode = process.env.P4NET_FOOTPRINT_CHILD
if (mode) await child(mode)
else await main()
