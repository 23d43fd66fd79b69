// Every fuzz target by name (the short run in npm test and the long one in
// `npm run fuzz` use the same list).
import { frameScanTarget, receiverTarget } from './codec.js'
import { configFileTarget, configTarget } from './config.js'
import { handshakeTarget } from './handshake.js'
import { lanBeaconTarget } from './lan.js'
import { relayTarget } from './relay.js'
import type { FuzzTarget } from './harness.js'
import { discoverFrameTarget, discoverTarget, handshakePayloadTarget, helloFrameTarget, helloTarget, lkaAckTarget } from './messages.js'

const MAKERS: Record<string, () => FuzzTarget | Promise<FuzzTarget>> = {
  'frame-scan': frameScanTarget,
  receiver: receiverTarget,
  handshake: handshakeTarget,
  'handshake-payload': handshakePayloadTarget,
  hello: helloTarget,
  'hello-frame': helloFrameTarget,
  'lka-ack': lkaAckTarget,
  discover: discoverTarget,
  'discover-frame': discoverFrameTarget,
  config: configTarget,
  'config-file': configFileTarget,
  'lan-beacon': lanBeaconTarget,
  relay: relayTarget,
}

export const TARGET_NAMES: readonly string[] = Object.keys(MAKERS)

export async function makeTarget(name: string): Promise<FuzzTarget> {
  const make = MAKERS[name]
  if (!make) throw new Error(`unknown fuzz target ${JSON.stringify(name)} (known: ${TARGET_NAMES.join(', ')})`)
  return make()
}
