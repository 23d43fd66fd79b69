// The end-to-end unicast box alone (ts/e2e.ts E2eBoxes): seal + open per
// message with its ChaCha20-Poly1305 from the WASM kernel and from
// node:crypto (OpenSSL), at sizes around the point where ts/e2e.ts switches
// (NODE_CRYPTO_FROM). Each cipher runs in its own child process, the two
// alternating, PASSES times; the figure is the median round [min–max] of
// seal + open pairs per second. Keys are cached (one X25519 and HKDF before
// the first round), as in a node sending to one peer. The calls are the ones
// a node makes per message (sealUnicast, openUnicast: the AAD built in
// place), and the box is copied into a reused buffer as the send queue does
// (a fresh array above 64 bytes is allocated off V8's heap, ~300 ns here,
// which would outweigh a small box).
//
//   node dist/bench/e2e-box.bench.js [--quick]
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { E2eBoxes, NODE_CRYPTO_FROM, SEAL_OVERHEAD, type BoxCipherChoice } from '../ts/e2e.js'
import { generateIdentity } from '../ts/core/identity.js'
import { median } from '../common/results.js'
import { isMain, runJson } from './child.js'

const quick = process.argv.includes('--quick')
const PASSES = quick ? 1 : 3
const ROUNDS = quick ? 3 : 7
const ROUND_MS = 60
const SIZES = [64, 256, 1024, 2048, 4096, 16384, 65536]
const CIPHERS: BoxCipherChoice[] = ['wasm', 'node']

type Out = Record<number, number[]>

function child(cipher: BoxCipherChoice): Out {
  const a = generateIdentity()
  const b = generateIdentity()
  const sender = new E2eBoxes(a, { cipher })
  const recipient = new E2eBoxes(b, { cipher })
  const wire = new Uint8Array(Math.max(...SIZES) + SEAL_OVERHEAD)
  const out: Out = {}
  for (const size of SIZES) {
    const pt = new Uint8Array(size).fill(1)
    let id = 0
    const pair = (): void => {
      id++
      const box = wire.subarray(0, size + SEAL_OVERHEAD)
      box.set(sender.sealUnicast(b.staticPublicKey, pt, a.publicKey, 'bob', 1, 0, id))
      if (recipient.openUnicast(a.staticPublicKey, box, a.publicKey, 'bob', 1, 0, id) === null) throw new Error('box did not open')
    }
    // Calibrate: iterations per ROUND_MS, after a warm-up.
    let n = 0
    const t0 = performance.now()
    while (performance.now() - t0 < ROUND_MS) {
      pair()
      n++
    }
    out[size] = []
    for (let r = 0; r < ROUNDS; r++) {
      const s = performance.now()
      for (let i = 0; i < n; i++) pair()
      out[size]!.push(n / ((performance.now() - s) / 1000))
    }
  }
  return out
}

async function parent(): Promise<void> {
  const self = fileURLToPath(import.meta.url)
  const got: Record<string, Out> = { wasm: {}, node: {} }
  const load0 = loadavg()[0]!
  for (let p = 0; p < PASSES; p++) {
    for (const c of p % 2 === 0 ? CIPHERS : [...CIPHERS].reverse()) {
      const o = await runJson<Out>(self, ['--child', c], `e2e-box ${c}`)
      for (const s of SIZES) (got[c]![s] ??= []).push(...o[s]!)
    }
  }
  const f = (xs: number[]): string => `${(median(xs) / 1e3).toFixed(1)}k [${(Math.min(...xs) / 1e3).toFixed(1)}–${(Math.max(...xs) / 1e3).toFixed(1)}]`
  console.log(`e2e box seal+open pairs/s, median round [min–max], ${PASSES} process(es) per cipher; load ${load0.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}; NODE_CRYPTO_FROM = ${NODE_CRYPTO_FROM}`)
  for (const s of SIZES) {
    const w = got.wasm![s]!
    const n = got.node![s]!
    console.log(`${String(s).padStart(6)} B  wasm ${f(w).padEnd(26)} node ${f(n).padEnd(26)} faster: ${median(w) >= median(n) ? 'wasm' : 'node'}`)
  }
}

if (isMain(import.meta.url)) {
  const i = process.argv.indexOf('--child')
  if (i >= 0) console.log(JSON.stringify(child(process.argv[i + 1] as BoxCipherChoice)))
  else await parent()
}
