// The sender seals the large records of a batch with node:crypto and the
// small ones in WASM (ts/wasm/channel.ts BatchWriter.finish): the bytes must
// be exactly those of the batch sealed all in WASM, whatever the mix.
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { BatchWriter } from '../ts/wasm/batch-writer.js'
import { channelScratch, RECORD_MAX_PLAIN } from '../ts/wasm/channel.js'
import { sealRecordInto } from '../ts/session/node-records.js'
import { test } from './helpers/test.js'

let nodeSealed = 0

/** One batch of `frames` (type DATA, payloads as given) sealed from `counter`; `from`: records sealed by node:crypto from this plaintext size. */
function seal(key: Uint8Array, counter: number, payloads: Uint8Array[], from?: number): Buffer {
  const s = channelScratch()
  s.setKey(key)
  const w = new BatchWriter(s)
  w.begin()
  payloads.forEach((p, i) => {
    assert.ok(w.header(8, 0, 0, 7, p.length, 0, i), 'header fits')
    assert.is(w.bytes(p, 0), p.length, 'payload fits')
  })
  const large =
    from === undefined
      ? undefined
      : {
          from,
          seal: (c: number, plain: Uint8Array, out: Uint8Array, at: number) => {
            assert.ok(plain.length >= from, 'only records of at least `from` bytes go to node:crypto')
            nodeSealed++
            sealRecordInto(key, c, plain, out, at)
          },
        }
  // The output in a view that does not start its ArrayBuffer, as a retention slab gives one.
  const out = w.finish(counter, large, (len) => new Uint8Array(new ArrayBuffer(len + 7), 7, len))
  assert.is(out.byteOffset, 7, 'the buffer from the allocator')
  return Buffer.from(out.buffer, out.byteOffset, out.length)
}

test('a batch whose large records node:crypto seals is byte for byte the batch sealed in WASM', () => {
  const key = randomBytes(32)
  const cases: Uint8Array[][] = [
    [randomBytes(10)], // one small record
    [randomBytes(100_000), randomBytes(50_000)], // full records and a large partial one
    [randomBytes(RECORD_MAX_PLAIN * 2 - 18 * 2)], // frames ending exactly at a record boundary
    [randomBytes(3 * RECORD_MAX_PLAIN), randomBytes(5)], // full records then a tiny last one
    Array.from({ length: 3000 }, (_, i) => randomBytes(i % 97)), // many small frames across records
  ]
  for (const [n, payloads] of cases.entries()) {
    const counter = 2 ** 33 + n * 10 // a counter past 32 bits: both halves of the nonce count
    const wasm = seal(key, counter, payloads)
    for (const from of [16, 16 * 1024, RECORD_MAX_PLAIN]) {
      const before = nodeSealed
      const mixed = seal(key, counter, payloads, from)
      assert.ok(mixed.equals(wasm), `case ${n}, node:crypto from ${from} B: same bytes`)
      if (from === 16) assert.ok(nodeSealed > before, 'node:crypto sealed records')
    }
  }
  // Full records (65,519 bytes of plaintext) are node:crypto's at the default threshold.
  const before = nodeSealed
  seal(key, 0, [randomBytes(200_000)], 16 * 1024)
  assert.is(nodeSealed - before, 3, 'three full records by node:crypto, the 4th (below 16 KiB) in WASM')
})

test.run()
