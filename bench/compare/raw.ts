// Raw node:net, unencrypted: the ceiling. The session benchmark's baseline
// (bench/net-baseline.ts: u32 length prefix, one socket write per tick),
// imported alone so a cold start of it loads nothing of p4net.
import { RawChannel, rawDial, rawListen } from '../net-baseline.js'
import type { System } from './system.js'

export function rawSystem(): System {
  return {
    name: 'raw',
    async listen(onChannel) {
      const l = await rawListen((socket) => onChannel(new RawChannel(socket)))
      return { address: String(l.port), close: async () => l.close() }
    },
    dial: async (address) => new RawChannel(await rawDial(Number(address))),
    shutdown: async () => undefined,
  }
}
