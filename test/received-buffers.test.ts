// A received message's data holds no more than 8 KiB (Node's Buffer.poolSize,
// what a pooled Buffer.from() slice holds) alive, or twice its own size: its
// frame arrives as a view of the plaintext copied out for it and the frames
// around it, which used to be a whole record (up to 64 KiB), so an
// application keeping one small message of each read kept every read. Now a
// scan covers at most 8 KiB of frames (ts/wasm/channel.ts). The messages of
// one scan keep their own bytes.
import * as assert from 'uvu/assert'
import type { PluginMessage } from '../ts/index.js'
import { aliceAndBob, type AliceBob } from './helpers/alice-bob.js'
import { waitFor } from '../common/net.js'
import { test } from './helpers/test.js'

const PLUGIN = 7
const KEY = new Uint8Array(32).fill(9)

const pair = (): Promise<AliceBob> => aliceAndBob({ plugin: PLUGIN, pluginOptions: { groupKey: KEY } })

/** Message i: 64 bytes, its index in the first four, the rest a pattern of it. */
function message(i: number): Uint8Array {
  const m = new Uint8Array(64).fill(i & 0xff)
  new DataView(m.buffer).setUint32(0, i)
  return m
}

for (const kind of ['unicast', 'encrypted unicast', 'broadcast'] as const) {
  test(`2,000 small ${kind} messages sent at once: each one's data.buffer is at most 8 KiB, and every one keeps its own bytes`, async () => {
    const p = await pair()
    try {
      const got: PluginMessage[] = []
      p.bob.plugin(PLUGIN).on('message', (m) => got.push(m))
      const chat = p.alice.plugin(PLUGIN)
      const n = 2000
      const sends: Promise<void>[] = []
      for (let i = 0; i < n; i++) {
        if (kind === 'broadcast') sends.push(chat.broadcast(message(i), { encrypted: false }))
        else sends.push(chat.send('bob', message(i), kind === 'encrypted unicast' ? { encrypted: true } : undefined))
      }
      await Promise.all(sends)
      // Real time: signature checks of broadcasts are paced by the CPU budget, which is real time.
      await waitFor(() => got.length === n, 20_000, () => `${n} messages at bob (${got.length}, stats ${JSON.stringify(p.bob.stats())})`)
      const largest = Math.max(...got.map((m) => m.data.buffer.byteLength))
      assert.ok(largest <= 8192, `a 64-byte message keeps a ${largest}-byte buffer alive`)
      got.forEach((m, i) => assert.equal(Buffer.from(m.data), Buffer.from(message(i)), `message ${i}`))
    } finally {
      await p.stop()
    }
  })
}

test.run()
