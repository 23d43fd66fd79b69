// Fuzz target of LAN beacons (ts/overlay/lan-codec.ts): mutated and random
// datagrams are decoded and, when they decode, verified. Rejections are
// BAD_PAYLOAD; a beacon that verifies must be one of the signed originals
// byte for byte (no mutation keeps a signature valid); no input allocates
// much more than its own length.
import { generateIdentity } from '../../ts/core/identity.js'
import { BEACON_MAX_BYTES, decodeBeacon, encodeBeacon, verifyBeacon } from '../../ts/overlay/lan-codec.js'
import { resetLargestAlloc } from './alloc.js'
import type { FuzzTarget, Trial } from './harness.js'
import { mutate, Rng } from './rng.js'

const NAMES = ['a', 'alice', 'zoë', '名前', 'x'.repeat(31)]
const HOSTS = ['10.79.0.1', 'h.example', 'fe80::1%eth0', 'h'.repeat(255)]

export function lanBeaconTarget(): FuzzTarget {
  const ids = Array.from({ length: 3 }, () => generateIdentity())
  const seedRng = new Rng(0x1a9b)
  const corpus = Array.from({ length: 100 }, () => {
    const id = seedRng.pick(ids)
    const hosts = Array.from({ length: seedRng.int(5) }, () => seedRng.pick(HOSTS))
    const certificate = seedRng.chance(0.2) ? seedRng.bytes(seedRng.size(1024)) : new Uint8Array(0)
    return encodeBeacon(id, { identityKey: id.publicKey, time: seedRng.u32() * 1000, username: seedRng.pick(NAMES), port: seedRng.range(1, 65535), hosts, certificate })
  })
  const originals = new Set(corpus.map((b) => Buffer.from(b).toString('hex')))
  return {
    name: 'lan-beacon',
    codes: ['BAD_PAYLOAD'],
    run(rng, describe): Trial {
      const input = rng.chance(0.05) ? rng.bytes(rng.size(BEACON_MAX_BYTES + 64)) : rng.chance(0.1) ? rng.pick(corpus) : mutate(rng, rng.pick(corpus), BEACON_MAX_BYTES + 64, rng.pick(corpus))
      describe(input)
      resetLargestAlloc()
      const b = decodeBeacon(input)
      if (!verifyBeacon(b)) return { verdict: 'rejected', allocLimit: 2 * input.length + 64, code: 'bad signature' }
      if (!originals.has(Buffer.from(input).toString('hex'))) throw new Error('lan-beacon: a changed beacon verifies')
      // The decoder copies the fields and the signed bytes; verifying copies those once more with the domain.
      return { verdict: 'accepted', allocLimit: 2 * input.length + 64 }
    },
  }
}
