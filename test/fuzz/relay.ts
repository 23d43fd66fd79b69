// Fuzz target of the RELAY payloads and the HELLO relay list
// (ts/overlay/relay-codec.ts): mutated and random payloads of every kind are
// decoded by the decoder of a kind picked at random. Rejections are
// BAD_PAYLOAD or BAD_FRAME; whatever decodes re-encodes to the same bytes
// (one byte form), and no input allocates much more than its own length.
import { decodeAccept, decodeGrant, decodeOpen, decodeReason, decodeRelayList, decodeWindow, encodeAccept, encodeGrant, encodeOpen, encodeReason, encodeRelayList, encodeWindow, MAX_ANNOUNCED_RELAYS, RELAY_LIST_MAX_BYTES } from '../../ts/overlay/relay-codec.js'
import { resetLargestAlloc } from './alloc.js'
import type { FuzzTarget, Trial } from './harness.js'
import { mutate, Rng } from './rng.js'

const HOSTS = ['10.0.0.1', 'relay.example', 'fe80::1%eth0', 'h'.repeat(255)]
const CODES = ['', 'CIRCUIT_LIMIT', 'BYTE_LIMIT', 'X', 'A'.repeat(32)]

type Kind = 'grant' | 'open' | 'accept' | 'window' | 'reason' | 'relays'
const KINDS: Kind[] = ['grant', 'open', 'accept', 'window', 'reason', 'relays']

function sample(rng: Rng, kind: Kind): Uint8Array {
  switch (kind) {
    case 'grant':
      return encodeGrant({ ttlMs: rng.range(1, 2 ** 31), circuits: rng.range(0, 65535), circuitMs: rng.u32(), circuitBytes: rng.u32() * 4096 })
    case 'open':
      return encodeOpen({ key: rng.bytes(32), window: rng.range(1, 2 ** 31), maxChunk: rng.range(1024, 65536) })
    case 'accept':
      return encodeAccept({ window: rng.range(1, 2 ** 31), maxChunk: rng.range(1024, 65536) })
    case 'window':
      return encodeWindow(rng.range(1, 2 ** 31))
    case 'reason':
      return encodeReason(rng.pick(CODES), 'x'.repeat(rng.int(201)))
    case 'relays':
      return encodeRelayList(Array.from({ length: rng.range(1, MAX_ANNOUNCED_RELAYS) }, () => ({ key: rng.bytes(32), host: rng.pick(HOSTS), port: rng.range(1, 65535) })))
  }
}

function roundTrip(kind: Kind, input: Uint8Array): Uint8Array {
  switch (kind) {
    case 'grant':
      return encodeGrant(decodeGrant(input))
    case 'open':
      return encodeOpen(decodeOpen(input, 'CONNECT'))
    case 'accept':
      return encodeAccept(decodeAccept(input))
    case 'window':
      return encodeWindow(decodeWindow(input))
    case 'reason': {
      const r = decodeReason(input)
      return encodeReason(r.code, r.text)
    }
    case 'relays':
      return encodeRelayList(decodeRelayList(input))
  }
}

export function relayTarget(): FuzzTarget {
  const seedRng = new Rng(0x4e1a)
  const corpus = KINDS.flatMap((k) => Array.from({ length: 20 }, () => sample(seedRng, k)))
  return {
    name: 'relay',
    codes: ['BAD_PAYLOAD', 'BAD_FRAME'],
    run(rng, describe): Trial {
      const kind = rng.pick(KINDS)
      const max = RELAY_LIST_MAX_BYTES + 64
      const input = rng.chance(0.05) ? rng.bytes(rng.size(max)) : mutate(rng, rng.pick(corpus), max, rng.pick(corpus))
      describe(input)
      resetLargestAlloc()
      const again = roundTrip(kind, input)
      // A reason's text is cut at 200 bytes and may hold invalid UTF-8 (replaced): it need not come back byte for byte.
      if (kind !== 'reason' && Buffer.compare(Buffer.from(again), Buffer.from(input)) !== 0) throw new Error(`relay ${kind}: an accepted input re-encodes differently`)
      return { verdict: 'accepted', allocLimit: 4 * input.length + 256 }
    },
  }
}
