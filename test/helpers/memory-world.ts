// The base of the tests' memory worlds: one memory network under one
// ManualClock that keeps running while the network has work queued, and a
// stop of every node that moves that clock, with a deadline.
import { ManualClock, MemoryNetwork, type MemoryNetworkOptions, type Node } from '../../ts/index.js'

export function clockedNetwork(opts: { wallAt?: number } & Omit<MemoryNetworkOptions, 'clock'> = {}): { clock: ManualClock; network: MemoryNetwork } {
  const { wallAt = 0, ...netOpts } = opts
  let network!: MemoryNetwork
  const clock = new ManualClock({ wallAt, idle: () => network.idle })
  network = new MemoryNetwork({ clock, ...netOpts })
  return { clock, network }
}

/** Stops every node, moving `clock` while they do (at most 10 s of clock time). */
export async function stopUnderClock(clock: ManualClock, nodes: readonly Node[], what = 'the nodes to stop'): Promise<void> {
  let stopped = false
  const all = Promise.all(nodes.map((n) => n.stop())).then(() => (stopped = true))
  await clock.until(() => stopped, 10_000, what)
  await all
}
