// Times ONE ChaCha20-Poly1305 implementation and prints its results as JSON on
// stdout. bench/aead.bench.ts runs one child process per implementation,
// because crypto libraries in one process disturb each other (shared WASM
// tiers, GC pressure, CPU frequency state).
//
//   node dist/bench/aead-worker.js <impl> [--quick]
//   impl: p4net | p4net-scalar | node | noble | chainsafe | libsodium
//
// Method: every path is warmed up first (so no case pays for V8 tiering up),
// then an hrtime loop per case: iterations are calibrated so one round lasts
// ROUND_MS, one untimed round, then ROUNDS timed rounds. Other jobs share this
// machine, so rounds are short and many (a quiet moment is more likely to be
// caught) and both the best and the median round are reported.
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto'
import { Aead, AeadBatch } from '../ts/wasm/aead.js'
import { loadKernel, simdSupported } from '../ts/wasm/loader.js'
import { noise, type Impl } from './aead-impl.js'
import { importPeerModule } from './compare/system.js'
import { bestOf, type BestRow } from './lib.js'

const SIZES = [64, 1024, 16384, 65536]
const FRAMES = 1024
const FRAME_SIZE = 64

const quick = process.argv.includes('--quick')
const ROUND_MS = quick ? 20 : 40
const ROUNDS = quick ? 2 : 10

async function makeImpl(name: string): Promise<Impl> {
  switch (name) {
    case 'p4net':
    case 'p4net-scalar': {
      const k = loadKernel(name === 'p4net' && simdSupported() ? 'simd' : 'scalar')
      const a = new Aead(k)
      const batch = new AeadBatch(k, FRAMES)
      const stride = FRAME_SIZE + 16
      const region = k.alloc(FRAMES * stride)
      for (let i = 0; i < FRAMES; i++) batch.setRecord(i, region + i * stride, FRAME_SIZE)
      return {
        seal: (key, nonce, pt) => a.seal(key, nonce, pt),
        open: (key, nonce, sealed) => a.open(key, nonce, sealed),
        frames(key, counter, frames) {
          // frames enter WASM memory (as the frame codec would write them), then one call seals all
          batch.setKey(key)
          const mem = k.bytes()
          for (let i = 0; i < frames.length; i++) mem.set(frames[i]!, region + i * stride)
          batch.seal(counter, frames.length)
        },
      }
    }
    case 'node': {
      const one = (key: Uint8Array, nonce: Uint8Array, pt: Uint8Array): Uint8Array => {
        const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
        return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()])
      }
      const nonce = new Uint8Array(12)
      return {
        seal: one,
        open(key, nonce, sealed) {
          const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 })
          d.setAuthTag(sealed.subarray(sealed.length - 16))
          try {
            return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()])
          } catch {
            return null
          }
        },
        frames(key, counter, frames) {
          for (let i = 0; i < frames.length; i++) one(key, noise(nonce, counter + i), frames[i]!)
        },
      }
    }
    case 'noble':
    case 'chainsafe':
    case 'libsodium':
      // Other projects' implementations: bench/compare's packages (scripts/bench-peers.js installs them).
      return (await importPeerModule('aead')).aeadImpl(name)
    default:
      throw new Error(`unknown impl ${name}`)
  }
}


/** Calls fn `iters` times per round; returns the rate (units of `perCall` per second) of each timed round. */
function measure(fn: () => void, perCall: number): number[] {
  // calibrate: grow until one batch of calls takes ≥ 5 ms
  let iters = 1
  for (;;) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < iters; i++) fn()
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    if (ms >= 5) {
      iters = Math.max(1, Math.round((iters * ROUND_MS) / ms))
      break
    }
    iters *= 4
  }
  const rates: number[] = []
  for (let r = 0; r <= ROUNDS; r++) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < iters; i++) fn()
    const s = Number(process.hrtime.bigint() - t0) / 1e9
    if (r > 0) rates.push((iters * perCall) / s)
  }
  return rates
}

function sizeLabel(n: number): string {
  return n >= 1024 ? `${n / 1024} KiB` : `${n} B`
}

async function main(): Promise<void> {
  const name = process.argv[2] ?? ''
  const impl = await makeImpl(name)
  const key = randomFillSync(new Uint8Array(32))
  const nonce = randomFillSync(new Uint8Array(12))
  const results: BestRow[] = []
  const push = (c: string, unit: string, rates: number[], scale: number): void => {
    results.push(bestOf(c, name, unit, rates.map((r) => r / scale)))
  }
  // warm-up: every size both ways, and the frame batch
  const frames = Array.from({ length: FRAMES }, () => randomFillSync(new Uint8Array(FRAME_SIZE)))
  let counter = 0
  const warmUntil = Date.now() + (quick ? 100 : 500)
  while (Date.now() < warmUntil) {
    for (const size of SIZES) impl.open(key, nonce, impl.seal(key, nonce, new Uint8Array(size)))
    impl.frames(key, counter, frames)
    counter += FRAMES
  }
  for (const size of SIZES) {
    const pt = randomFillSync(new Uint8Array(size))
    const sealed = impl.seal(key, nonce, pt)
    const back = impl.open(key, nonce, sealed)
    if (!back || Buffer.compare(Buffer.from(back), Buffer.from(pt)) !== 0) throw new Error(`${name}: round trip failed at ${size}`)
    push(`seal ${sizeLabel(size)}`, 'MB/s', measure(() => impl.seal(key, nonce, pt), size), 1e6)
    push(`open ${sizeLabel(size)}`, 'MB/s', measure(() => impl.open(key, nonce, sealed), size), 1e6)
  }
  push(
    `seal ${FRAMES} x ${FRAME_SIZE} B frames`,
    'Mframes/s',
    measure(() => {
      impl.frames(key, counter, frames)
      counter += FRAMES
    }, FRAMES),
    1e6,
  )
  process.stdout.write(JSON.stringify({ impl: name, quick, rounds: ROUNDS, roundMs: ROUND_MS, results }) + '\n')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
