// One measurement of bench/footprint.bench.ts, in a fresh process (run with
// --expose-gc). Memory is process.memoryUsage() after full GCs, over the same
// process before the step; what is imported comes in by dynamic import, so
// the baseline is bare Node plus this file (and common/rss.ts).
//   bare                          RSS of the process as it is
//   import <p4net>                import('p4net') (the installed copy's entry)
//   import-warm <app> <p4net>     the same after an application's ES module graph loaded
//   esm <app>                     that application graph alone
//   floor <app> <wasm>            cumulative: the app graph, one node:net connection,
//                                 node:crypto (X25519, Ed25519, ChaCha20-Poly1305),
//                                 the WebAssembly kernel compiled and instantiated
//   node <p4net> <profile>        a node, measured at the parent's orders (IPC)
//   cold p4net <p4net> <addr> | cold raw <addr> | cold bare
//                                 ms from process start to the first link
import { performance } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { rssSplit } from '../common/rss.js'

export interface Sample {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  /** Of rss: anonymous and file-backed pages (common/rss.ts); 0 where /proc/self/status is not. */
  rssAnon: number
  rssFile: number
}

export type NodeOrder = { op: 'sample'; links: number; users: number } | { op: 'idle'; ms: number } | { op: 'stop' }

const gc = (globalThis as { gc?: () => void }).gc

async function sample(): Promise<Sample> {
  if (!gc) throw new Error('run with --expose-gc')
  gc()
  gc()
  await new Promise((r) => setTimeout(r, 50))
  gc()
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, ...rssSplit() }
}

function minus(a: Sample, b: Sample): Sample {
  return { rss: a.rss - b.rss, heapUsed: a.heapUsed - b.heapUsed, heapTotal: a.heapTotal - b.heapTotal, external: a.external - b.external, rssAnon: a.rssAnon - b.rssAnon, rssFile: a.rssFile - b.rssFile }
}

const load = (file: string): Promise<unknown> => import(pathToFileURL(file).href)
const print = (x: unknown): void => void process.stdout.write(JSON.stringify(x) + '\n')

/** The floor: what any node on Node pays for its sockets, its crypto and a WebAssembly module. */
async function floor(app: string, wasm: string): Promise<Record<string, Sample>> {
  const steps: Record<string, Sample> = {}
  let prev = await sample()
  const step = async (name: string, run: () => Promise<void> | void): Promise<void> => {
    await run()
    const now = await sample()
    steps[name] = minus(now, prev)
    prev = now
  }
  const keep: unknown[] = []
  await step('esm', () => load(app).then(() => undefined))
  await step('net', async () => {
    const net = await import('node:net')
    const server = net.createServer((s) => keep.push(s))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as { port: number }).port
    keep.push(server, await new Promise((r) => { const c = net.connect(port, '127.0.0.1', () => r(c)) }))
  })
  await step('crypto', async () => {
    const c = await import('node:crypto')
    const a = c.generateKeyPairSync('x25519')
    const b = c.generateKeyPairSync('x25519')
    c.diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey })
    const e = c.generateKeyPairSync('ed25519')
    const sig = c.sign(null, Buffer.alloc(64), e.privateKey)
    c.verify(null, Buffer.alloc(64), e.publicKey, sig)
    const s = c.createCipheriv('chacha20-poly1305', Buffer.alloc(32), Buffer.alloc(12), { authTagLength: 16 })
    s.update(Buffer.alloc(64))
    s.final()
    keep.push(a, b, e)
  })
  await step('wasm', async () => {
    const { readFileSync } = await import('node:fs')
    const module = new WebAssembly.Module(readFileSync(wasm))
    keep.push(new WebAssembly.Instance(module, { env: { abort() {} } }))
  })
  return steps
}

interface MinimalNode {
  address: { port: number }
  plugin(id: number): unknown
  start(o?: object): Promise<void>
  stop(): Promise<void>
  stats(): { links: number; users: number }
  once(ev: string, fn: () => void): void
}
type CreateNode = (o: object) => Promise<MinimalNode>

/** A node of `profile`, sampled when the parent says (its peers live in the parent). */
async function nodeMode(p4net: string, profile: string): Promise<void> {
  const base = await sample()
  const { createNode } = (await load(p4net)) as { createNode: CreateNode }
  const imported = await sample()
  // The small profile keeps at most 4 links (hardCap 8): raised to hold 8.
  const node = await createNode({ username: 'measured', profile, links: { max: 8 } })
  node.plugin(4242)
  await node.start({ joinTimeout: 0 })
  const started = await sample()
  const send = (m: object): void => void process.send!(m)
  send({ op: 'listening', port: node.address.port, base, imported: minus(imported, base), started: minus(started, base) })
  process.on('message', (o: NodeOrder) => {
    const run = async (): Promise<void> => {
      if (o.op === 'stop') {
        await node.stop()
        return send({ op: 'stopped' })
      }
      if (o.op === 'sample') {
        const deadline = Date.now() + 60_000
        while (node.stats().links < o.links || node.stats().users < o.users) {
          if (Date.now() > deadline) throw new Error(`${node.stats().links} links and ${node.stats().users} users after 60 s, waiting for ${o.links} and ${o.users}`)
          await new Promise((r) => setTimeout(r, 20))
        }
        await new Promise((r) => setTimeout(r, 500))
      } else {
        await new Promise((r) => setTimeout(r, o.ms))
      }
      const s = await sample()
      send({ op: 'sample', used: minus(s, base), links: node.stats().links, users: node.stats().users })
    }
    run().catch((err: Error) => send({ op: 'error', message: err.message }))
  })
  process.on('disconnect', () => process.exit(0))
}

/** ms from process start until the first link is up (p4net: a small-profile node bootstrapping to `addr`). */
async function cold(what: string, args: string[]): Promise<void> {
  if (what === 'bare') return print({ ms: performance.now() })
  if (what === 'raw') {
    const net = await import('node:net')
    const [host, port] = args[0]!.split(':')
    const socket = await new Promise<import('node:net').Socket>((resolve, reject) => {
      const s = net.connect(Number(port), host!, () => resolve(s))
      s.once('error', reject)
    })
    print({ ms: performance.now() })
    socket.destroy()
    return
  }
  const { createNode } = (await load(args[0]!)) as { createNode: CreateNode }
  const node = await createNode({ username: `cold${process.pid % 100000}`, profile: 'small', bootstrap: [args[1]!] })
  const linked = new Promise<void>((r) => node.once('link-up', r))
  await node.start({ joinTimeout: 0 })
  await linked
  print({ ms: performance.now() })
  await node.stop()
}

async function main(): Promise<void> {
  const [mode, ...args] = process.argv.slice(2)
  if (mode === 'cold') return cold(args[0]!, args.slice(1))
  if (mode === 'node') return nodeMode(args[0]!, args[1]!)
  const base = await sample()
  if (mode === 'bare') return print({ total: base })
  if (mode === 'floor') return print({ steps: await floor(args[0]!, args[1]!) })
  if (mode === 'import-warm') {
    await load(args[0]!)
    const warm = await sample()
    await load(args[1]!)
    return print({ delta: minus(await sample(), warm) })
  }
  if (mode === 'import' || mode === 'esm') {
    await load(args[0]!)
    return print({ delta: minus(await sample(), base) })
  }
  throw new Error(`unknown mode ${String(mode)}`)
}

main().then(
  () => {
    if (process.argv[2] !== 'node') process.exit(0)
  },
  (err: Error) => {
    process.stderr.write(`footprint-child: ${err.stack ?? err.message}\n`)
    process.exit(1)
  },
)
