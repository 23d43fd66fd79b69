// Fuzz targets of the overlay's message decoders (ts/overlay/*-codec.ts,
// ts/overlay/lka.ts) and the handshake payload. The decoders are strict and
// canonical, so every accepted input must re-encode to exactly its bytes;
// rejections must be the documented P4Error codes; no decoder may allocate
// more than its input's length.
import { generateIdentity, type Identity } from '../../ts/core/identity.js'
import { verifyHelloFrame } from '../../ts/overlay/lka.js'
import { decodeDiscover, encodeDiscover } from '../../ts/overlay/discover-codec.js'
import { decodeHello, decodeLkaAck, encodeHello, encodeLkaAck, type Hello } from '../../ts/overlay/hello-codec.js'
import { buildSignedFrame, verifySignedFrame } from '../../ts/overlay/signing.js'
import { Flag, HEADER_SIZE, MsgType, ORIGIN_BLOCK_SIZE } from '../../ts/core/protocol.js'
import { decodePayload, encodePayload, LinkIntent, signStaticKey } from '../../ts/session/handshake-payload.js'
import { resetLargestAlloc } from './alloc.js'
import type { FuzzTarget, Trial } from './harness.js'
import { mutate, Rng } from './rng.js'

const NAMES = ['a', 'alice', 'bob_the_builder', 'zoë', '名前', 'x'.repeat(31), '𠀀-名前']
const HOSTS = ['', '127.0.0.1', '::1', 'fe80::1%eth0', 'host.example', 'h'.repeat(255), '10.77.0.5']

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0
}

function randomHello(rng: Rng, identity: Identity): Hello {
  const plugins = new Set<number>()
  for (let k = rng.size(20); k > 0; k--) plugins.add(rng.int(0x10000))
  const h: Hello = {
    username: rng.pick(NAMES),
    staticKey: identity.staticPublicKey,
    host: rng.pick(HOSTS),
    port: rng.int(0x10000),
    seq: (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()),
    features: rng.u32(),
    plugins: [...plugins].sort((a, b) => a - b),
  }
  if (rng.chance(0.3)) h.certificate = rng.bytes(rng.size(1024))
  return h
}

function helloFrame(rng: Rng, identity: Identity, body = encodeHello(randomHello(rng, identity))): Uint8Array {
  return buildSignedFrame(identity, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId: (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()), body })
}

/** A small fixed set of identities: keygen is not what is fuzzed. */
function identities(n: number): Identity[] {
  return Array.from({ length: n }, () => generateIdentity())
}

/**
 * Runs `decode` on a mutated or random input; accepted inputs must re-encode
 * to the same bytes. Allocation: at most the input's length.
 */
function codecTarget(name: string, corpus: Uint8Array[], maxLength: number, decode: (b: Uint8Array) => unknown, encode: (v: never) => Uint8Array): FuzzTarget {
  return {
    name,
    codes: ['BAD_PAYLOAD'],
    run(rng, describe): Trial {
      const input = rng.chance(0.05) ? rng.bytes(rng.size(maxLength)) : rng.chance(0.05) ? rng.pick(corpus) : mutate(rng, rng.pick(corpus), maxLength, rng.pick(corpus))
      describe(input)
      resetLargestAlloc()
      const value = decode(input)
      const again = encode(value as never)
      if (!sameBytes(again, input)) throw new Error(`${name}: accepted input re-encodes differently`)
      return { verdict: 'accepted', allocLimit: input.length }
    },
  }
}

export function helloTarget(): FuzzTarget {
  const ids = identities(2)
  const rng = new Rng(0x4e110)
  const corpus = Array.from({ length: 200 }, () => encodeHello(randomHello(rng, rng.pick(ids))))
  return codecTarget('hello', corpus, 2048, decodeHello, encodeHello)
}

export function discoverTarget(): FuzzTarget {
  const rng = new Rng(0xd15c)
  const corpus = Array.from({ length: 200 }, () => {
    const maxHops = rng.range(1, 255)
    return encodeDiscover({
      username: rng.pick(NAMES),
      host: rng.pick(HOSTS.filter((h) => h !== '')),
      port: rng.range(1, 0xffff),
      walkId: (BigInt(rng.u32()) << 32n) | BigInt(rng.u32()),
      minHops: rng.int(maxHops + 1),
      maxHops,
      sentAt: rng.u32() * 1000 + rng.int(1000),
    })
  })
  return codecTarget('discover', corpus, 600, decodeDiscover, encodeDiscover)
}

export function lkaAckTarget(): FuzzTarget {
  const ids = identities(3)
  const rng = new Rng(0x1ca)
  const frames = Array.from({ length: 40 }, () => helloFrame(rng, rng.pick(ids)))
  const corpus = Array.from({ length: 60 }, () => {
    const hellos = Array.from({ length: rng.size(12) }, () => rng.pick(frames))
    return encodeLkaAck({ more: rng.chance(0.5), hellos })
  })
  return codecTarget('lka-ack', corpus, 64 * 1024, decodeLkaAck, encodeLkaAck)
}

/**
 * hello-frame: verifyHelloFrame on (a) mutated signed frames — the signature
 * or shape must fail — and (b) validly signed frames around a mutated body —
 * the body decoder must then hold alone. Accepted frames must name their
 * signer and re-encode their body exactly.
 */
export function helloFrameTarget(): FuzzTarget {
  const ids = identities(3)
  const seedRng = new Rng(0xf4a3e)
  const bodies = Array.from({ length: 100 }, () => encodeHello(randomHello(seedRng, seedRng.pick(ids))))
  const frames = bodies.map((b) => helloFrame(seedRng, seedRng.pick(ids), b))
  return {
    name: 'hello-frame',
    codes: ['BAD_FRAME', 'BAD_SIGNATURE', 'BAD_PAYLOAD'],
    run(rng, describe): Trial {
      let input: Uint8Array
      let signer: Identity | null = null
      if (rng.chance(0.5)) {
        input = mutate(rng, rng.pick(frames), 4096, rng.pick(frames))
      } else {
        signer = rng.pick(ids)
        const body = rng.chance(0.1) ? rng.pick(bodies) : mutate(rng, rng.pick(bodies), 2048, rng.pick(bodies))
        input = helloFrame(rng, signer, body)
        if (rng.chance(0.2)) input[3] = rng.int(256) // hops are not signed
      }
      describe(input)
      resetLargestAlloc()
      const v = verifyHelloFrame(input)
      // Accepted: the signer is the frame's origin key, and the body is canonical.
      if (!sameBytes(v.identityKey, input.subarray(HEADER_SIZE, HEADER_SIZE + 32))) throw new Error('hello-frame: identity is not the origin key')
      if (signer && !sameBytes(v.identityKey, signer.publicKey)) throw new Error('hello-frame: accepted under another key')
      if (!sameBytes(encodeHello(v.hello), input.subarray(HEADER_SIZE + ORIGIN_BLOCK_SIZE))) throw new Error('hello-frame: body re-encodes differently')
      if (v.frame[3] !== 0) throw new Error('hello-frame: stored frame keeps its hop count')
      // verifyHelloFrame copies the frame once; the decoder copies fields.
      return { verdict: 'accepted', allocLimit: input.length }
    },
  }
}

/**
 * discover-frame: a DISCOVER as a walk receives it — verifySignedFrame, then
 * decodeDiscover on the signed body — with validly signed mutated bodies and
 * mutated frames.
 */
export function discoverFrameTarget(): FuzzTarget {
  const ids = identities(2)
  const seedRng = new Rng(0xd15cf)
  const bodies = Array.from({ length: 50 }, () =>
    encodeDiscover({ username: seedRng.pick(NAMES), host: '10.77.0.9', port: seedRng.range(1, 0xffff), walkId: BigInt(seedRng.u32()), minHops: 2, maxHops: 8, sentAt: Date.UTC(2025, 0, 1) }),
  )
  const sign = (rng: Rng, id: Identity, b: Uint8Array): Uint8Array => buildSignedFrame(id, { type: MsgType.DISCOVER, messageId: BigInt(rng.u32()), body: b })
  const frames = bodies.map((b) => sign(seedRng, ids[0]!, b))
  return {
    name: 'discover-frame',
    codes: ['BAD_PAYLOAD', 'BAD_SIGNATURE'],
    run(rng, describe): Trial {
      const signed = rng.chance(0.5)
      const input = signed ? sign(rng, rng.pick(ids), mutate(rng, rng.pick(bodies), 600)) : mutate(rng, rng.pick(frames), 1024, rng.pick(frames))
      describe(input)
      resetLargestAlloc()
      const v = verifySignedFrame(input)
      if (!v.ok) {
        if (signed) throw new Error(`discover-frame: a validly signed frame failed: ${v.reason}`)
        return { verdict: 'rejected', allocLimit: input.length + 64 }
      }
      const d = decodeDiscover(v.body)
      if (!sameBytes(encodeDiscover(d), v.body)) throw new Error('discover-frame: body re-encodes differently')
      // signedBytes() builds domain || header || body for the signature check.
      return { verdict: 'accepted', allocLimit: input.length + 64 }
    },
  }
}

/** handshake-payload: the payload inside Noise messages 2 and 3. */
export function handshakePayloadTarget(): FuzzTarget {
  const ids = identities(2)
  const rng = new Rng(0x9a10ad)
  const corpus = Array.from({ length: 100 }, () => {
    const id = rng.pick(ids)
    return encodePayload({
      identityKey: id.publicKey,
      signature: signStaticKey(id),
      username: rng.pick(NAMES),
      listenPort: rng.int(0x10000),
      intent: rng.chance(0.5) ? LinkIntent.OVERLAY : LinkIntent.DIRECT,
      features: rng.u32(),
      extension: rng.bytes(rng.size(4096)),
    })
  })
  const t = codecTarget('handshake-payload', corpus, 8192, decodePayload, encodePayload)
  return { ...t, codes: ['BAD_PAYLOAD', 'BAD_USERNAME'] }
}
