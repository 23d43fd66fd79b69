// Memory of one node holding NODE_LINKS links, measured in a fresh worker
// process (worker.ts, order 'node') while its peers live in this one: the
// footprint case of bench:compare (every system) and the memory case of
// bench/overlay.bench.ts (p4net, per profile).
import { startNet, type TestNet } from '../../common/net.js'
import { withTimeout } from '../lib.js'
import { importPeerModule, loadSystem, type Channel, type SystemName } from './system.js'
import { NODE_LINKS, PLUGIN, type MemorySample, type NodeSpec } from './worker.js'
import { worker } from './workloads.js'

export interface NodeMemory {
  /** The child's memory before the node (see NodeSpec.baseline) and once it holds its links, after GC. */
  base: MemorySample
  used: MemorySample
  links: number
  /** p4net: bytes of the node's dedup table. */
  dedupBytes?: number
}

export async function nodeMemory(name: SystemName, spec: NodeSpec = {}): Promise<NodeMemory> {
  const w = worker(['--expose-gc'])
  let peers: TestNet | null = null
  let libp2pPeers: { stop(): Promise<void> } | null = null
  const system = name === 'secret-stream' || name === 'raw' ? await loadSystem(name) : null
  const channels: Channel[] = []
  try {
    const listening = w.expect('node-listening')
    const measured = w.expect('node')
    measured.catch(() => {})
    w.order({ op: 'node', system: name, ...spec })
    const { address } = (await listening) as unknown as { address: string }
    if (name === 'p4net') {
      const port = Number(address.split(':')[1])
      peers = await startNet({
        n: NODE_LINKS,
        transport: 'tcp',
        plugins: [PLUGIN],
        converge: false,
        options: (i) => ({ username: `peer${i}`, bootstrap: [{ host: '127.0.0.1', port }], links: { min: 1, max: NODE_LINKS } }),
      })
    } else if (name === 'libp2p') {
      // Loaded only here: a process measuring p4net alone never holds libp2p.
      libp2pPeers = await (await importPeerModule('gossipsub')).dialPubsubPeers(address, NODE_LINKS)
    } else {
      for (let i = 0; i < NODE_LINKS; i++) channels.push(await system!.dial(address))
    }
    return (await measured) as unknown as NodeMemory
  } finally {
    const stopped = w.expect('stopped').catch(() => undefined)
    w.order({ op: 'stop' })
    await withTimeout(stopped, 10_000, 'worker stop').catch(() => undefined)
    await w.end()
    for (const ch of channels) ch.close()
    await peers?.stop()
    await libp2pPeers?.stop().catch(() => undefined)
    await system?.shutdown()
  }
}
