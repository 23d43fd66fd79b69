// Each transport with a count of what it holds open, for the leak checks of
// the transport and handshake tests: tcp counts the process's TCP handles
// (sockets and servers), memory its network's listeners and connections.
import { MemoryNetwork } from '../../ts/transport/memory.js'
import { tcp } from '../../ts/transport/tcp.js'
import type { Transport } from '../../ts/transport/types.js'

export interface Kit {
  t: Transport
  /** Open listeners + connections, counted the transport's own way. */
  open(): number
}

/** Sockets and servers the process holds. */
export function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r.startsWith('TCP')).length
}

export const kits: [string, () => Kit][] = [
  ['tcp', () => ({ t: tcp, open: tcpHandles })],
  [
    'memory',
    () => {
      const net = new MemoryNetwork()
      return { t: net.transport(), open: () => net.stats().listeners + net.stats().connections }
    },
  ],
]
