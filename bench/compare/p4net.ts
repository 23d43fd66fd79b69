// p4net for the point-to-point cases: a real TCP connection, the P4/2
// preamble, Noise XX with identity payloads, then the encrypted Session
// carrying each message as one DATA frame — the layer a link or direct session
// of a Node runs on (bench/session-peer.ts). Whole-node figures (broadcast,
// cold start, a node with 8 links) use the public API instead.
import { dialChannel, listenChannels } from '../session-peer.js'
import type { System } from './system.js'

export function p4netSystem(): System {
  return {
    name: 'p4net',
    async listen(onChannel, onError) {
      const l = await listenChannels('p4net', onChannel, onError)
      return { address: String(l.port), close: async () => l.close() }
    },
    dial: (address) => dialChannel('p4net', Number(address)),
    shutdown: async () => undefined,
  }
}
