// Cold start to first link, in a fresh process: node dist/bench/compare/cold.js
// <system> <address> prints { ms, rss } — ms is performance.now() when the
// first secured link is up, i.e. since this process started (module loading,
// WASM compilation, key generation, dial and handshake included). Only node
// builtins are imported up front; the system comes in by dynamic import.
import { performance } from 'node:perf_hooks'

async function firstLink(system: string, address: string): Promise<() => Promise<void>> {
  if (system === 'p4net') {
    // The public API, as an application starts: a node bootstrapping to one peer.
    // The package's own entry (package.json "exports": the bundle), as an application imports it.
    const { createNode } = (await import(import.meta.resolve('p4net'))) as typeof import('../../ts/index.js')
    const node = await createNode({ username: `cold${process.pid % 100000}`, bootstrap: [address] })
    const linked = new Promise<void>((resolve) => node.once('link-up', () => resolve()))
    await node.start()
    await linked
    return () => node.stop()
  }
  if (system === 'libp2p') {
    const { startLibp2p } = await import('./libp2p.js')
    const { multiaddr } = await import('@multiformats/multiaddr')
    const node = await startLibp2p(false)
    await node.dial(multiaddr(address))
    return async () => void (await node.stop())
  }
  const { loadSystem } = await import('./system.js')
  const s = await loadSystem(system as 'raw' | 'secret-stream')
  const ch = await s.dial(address)
  return async () => ch.close()
}

const [system, address] = process.argv.slice(2)
if (!system || !address) {
  process.stderr.write('usage: cold.js <p4net|libp2p|secret-stream|raw> <address>\n')
  process.exit(2)
}
try {
  const stop = await firstLink(system, address)
  const ms = performance.now()
  process.stdout.write(JSON.stringify({ ms, rss: process.memoryUsage().rss }) + '\n')
  await stop()
  process.exit(0)
} catch (err) {
  process.stderr.write(`cold start of ${system} failed: ${(err as Error).message}\n`)
  process.exit(1)
}
