// The library as an application gets it: the entry package.json "exports"
// names (the bundle scripts/bundle.js makes), not tsc's one file per module
// that the tests import. The two differ in speed as well as size: the
// modules keep ~1 MiB more of source text and records on V8's heap, and at
// 64 KiB a pair of nodes from them ran 4–7 major collections where the
// bundle's ran one: 224–246 MB per CPU second against 292–302 (3 × 4096
// messages of 64 KiB; measured 2026-12-06, commit cff7fb2). Types come from
// the sources; the code from the entry.
import { readFileSync } from 'node:fs'
import type * as P4net from '../ts/index.js'
import type { Node, NodeOptions } from '../ts/index.js'

const root = new URL('../../', import.meta.url)
const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { exports: { '.': { default: string } } }

/** The package's main entry, loaded from this checkout's build. */
export const p4net = (await import(new URL(manifest.exports['.'].default, root).href)) as typeof P4net

/** Two started nodes of the package entry on loopback TCP, `from` knowing that `to` runs `plugin`. */
export async function nodePair(plugin: number, extra: Partial<NodeOptions> = {}): Promise<{ from: Node; to: Node; stop(): Promise<void> }> {
  const tag = `${process.pid}-${Date.now().toString(36)}`
  const to = await p4net.createNode({ ...extra, username: `to-${tag}`, host: '127.0.0.1', port: 0 })
  to.plugin(plugin)
  await to.start()
  const from = await p4net.createNode({ ...extra, username: `from-${tag}`, host: '127.0.0.1', port: 0, bootstrap: [`127.0.0.1:${to.address.port}`] })
  from.plugin(plugin)
  await from.start()
  await from.waitForUser(to.username, { plugin, timeout: 30_000 })
  return {
    from,
    to,
    async stop() {
      await from.stop()
      await to.stop()
    },
  }
}
