// Handshakes per second: the p4net handshake (preamble + Noise XX + payload
// signature check + split) with both ends in this process, so each count is
// the CPU of BOTH sides. Cases:
//   noise only      HandshakeState messages, payload encode/decode and the
//                   Ed25519 binding check, no Conn (the crypto floor)
//   memory / tcp    initiateSession + acceptSession over the memory transport
//                   or loopback TCP (tcp includes the dial), one at a time
//                   ("sequential") or 16 in flight ("x16").
// A careful hrtime loop (benchmark.js cannot hold async setups). Each case
// runs several rounds; the table shows the best, the JSON also the median and
// every round. Other jobs may share the machine, so rounds can be disturbed.
//
//   node dist/bench/handshake.bench.js [--quick]
import { writeResults } from '../common/results.js'
import { bestOf, type BestRow } from './lib.js'
import { generateIdentity } from '../ts/core/identity.js'
import { acceptSession, initiateSession, type HandshakeResult } from '../ts/session/handshake.js'
import { HandshakeState, initNoise, nodeAead, noiseHash, type Aead, type NoiseHashName } from '../ts/session/noise.js'
import { PROLOGUE } from '../ts/session/preamble.js'
import { decodePayload, encodePayload, LinkIntent, signStaticKey, verifyStaticKey } from '../ts/session/handshake-payload.js'
import { aead as wasmAead } from '../ts/crypto.js'
import { MemoryNetwork } from '../ts/transport/memory.js'
import { tcp } from '../ts/transport/tcp.js'
import type { Transport } from '../ts/transport/types.js'

const quick = process.argv.includes('--quick')
const ROUNDS = quick ? 1 : 5
const ROUND_MS = quick ? 150 : 1000
const IN_FLIGHT = 16

const alice = generateIdentity()
const bob = generateIdentity()

/** Runs `batch` (which does `n` handshakes) until ROUND_MS passes; handshakes/s per round. */
async function measure(batch: () => Promise<number>): Promise<number[]> {
  await batch() // warm-up
  const rounds: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    let done = 0
    const t0 = process.hrtime.bigint()
    let elapsed = 0
    while (elapsed < ROUND_MS) {
      done += await batch()
      elapsed = Number(process.hrtime.bigint() - t0) / 1e6
    }
    rounds.push((done * 1000) / elapsed)
  }
  return rounds
}

function noiseOnly(hash: NoiseHashName, aead: Aead): () => Promise<number> {
  const h = noiseHash(hash)
  const si = { publicKey: alice.staticPublicKey, keyObject: alice.staticKey }
  const sr = { publicKey: bob.staticPublicKey, keyObject: bob.staticKey }
  const payload = (identity: typeof alice, username: string): Uint8Array =>
    encodePayload({
      identityKey: identity.publicKey,
      signature: signStaticKey(identity),
      username,
      listenPort: 0,
      intent: LinkIntent.OVERLAY,
      features: 0,
      extension: new Uint8Array(0),
    })
  const check = (bytes: Uint8Array, hs: HandshakeState): void => {
    const p = decodePayload(bytes)
    if (!verifyStaticKey(p.identityKey, hs.remoteStaticKey!, p.signature)) throw new Error('binding check failed')
  }
  return async () => {
    for (let k = 0; k < 20; k++) {
      const i = new HandshakeState({ initiator: true, hash: h, s: si, prologue: PROLOGUE, aead })
      const r = new HandshakeState({ initiator: false, hash: h, s: sr, prologue: PROLOGUE, aead })
      r.readMessage(i.writeMessage())
      check(i.readMessage(r.writeMessage(payload(bob, 'bob'))), i)
      check(r.readMessage(i.writeMessage(payload(alice, 'alice'))), r)
      i.splitKeys()
      r.splitKeys()
    }
    return 20
  }
}

async function overTransport(
  t: Transport,
  hash: NoiseHashName,
  inFlight: number,
): Promise<{ batch: () => Promise<number>; close: () => Promise<void> }> {
  const waiting: ((r: Promise<HandshakeResult>) => void)[] = []
  const l = await t.listen('127.0.0.1', 0, (c) => waiting.shift()!(acceptSession(c, { identity: bob, username: 'bob', hash })))
  const one = async (): Promise<void> => {
    const accepted = new Promise<Promise<HandshakeResult>>((r) => waiting.push(r))
    const conn = await t.dial('127.0.0.1', l.address.port)
    const a = await initiateSession(conn, { identity: alice, username: 'alice', hash })
    const b = await (await accepted)
    a.conn.destroy()
    b.conn.destroy()
  }
  return {
    batch: async () => {
      const all: Promise<void>[] = []
      for (let k = 0; k < inFlight; k++) all.push(one())
      await Promise.all(all)
      return inFlight
    },
    close: () => l.close(),
  }
}

async function main(): Promise<void> {
  await initNoise()
  const results: BestRow[] = []
  const add = (c: string, impl: string, rounds: number[]): void => {
    const r = bestOf(c, impl, 'handshakes/s', rounds)
    results.push(r)
    console.log(`${c.padEnd(30)}${impl.padEnd(10)}${r.value.toFixed(0).padStart(8)}${r.median.toFixed(0).padStart(8)}`)
  }
  console.log(
    `handshake${quick ? ' (--quick)' : ''}: both sides in one process, best and median of ${ROUNDS} round(s) of ~${ROUND_MS} ms, handshakes/s`,
  )
  console.log(`${'case'.padEnd(30)}${'hash'.padEnd(10)}${'best'.padStart(8)}${'median'.padStart(8)}`)
  for (const hash of ['BLAKE2s', 'SHA256'] as NoiseHashName[]) {
    add('noise only (wasm aead)', hash, await measure(noiseOnly(hash, wasmAead)))
    add('noise only (node aead)', hash, await measure(noiseOnly(hash, nodeAead)))
    for (const [name, t] of [
      ['memory', new MemoryNetwork().transport()],
      ['tcp loopback', tcp],
    ] as [string, Transport][]) {
      for (const n of [1, IN_FLIGHT]) {
        const run = await overTransport(t, hash, n)
        add(`${name} ${n === 1 ? 'sequential' : `x${n}`}`, hash, await measure(run.batch))
        await run.close()
      }
    }
  }
  writeResults('handshake', {
    quick,
    setup: {
      what: 'preamble + Noise XX + payload (Ed25519 binding verified, trust hook default) + split; both ends in this process',
      rounds: ROUNDS,
      roundMs: ROUND_MS,
      inFlight: IN_FLIGHT,
      note: 'value = best round, median also given; the machine is shared, so rounds vary',
    },
    results,
  })
}

await main()
