// plugin.send() right after a link to the recipient drops: CLOSED means this
// node (or the plugin) is stopped, nothing else. A send made while the
// session to the user is closing goes another way when there is one (a new
// direct session), else rejects UNREACHABLE naming the cause. Memory network
// on a ManualClock.
import * as assert from 'uvu/assert'
import { P4Error, type ManualClock } from '../ts/index.js'
import { aliceAndBob, BOB_HOST, type AliceBob } from './helpers/alice-bob.js'
import { track } from './helpers/track.js'
import { test } from './helpers/test.js'

const PLUGIN = 7

/** alice linked to bob; `bobDialable` false: nobody can open a new connection to bob afterwards. */
async function pair(bobDialable = true): Promise<AliceBob> {
  const p = await aliceAndBob({ plugin: PLUGIN })
  if (!bobDialable) p.network.setDialable(BOB_HOST, p.bob.address.port, false)
  return p
}

/** The outcome of `p` once it settles, moving the clock. */
async function outcome(clock: ManualClock, p: Promise<unknown>): Promise<{ ok: true } | { ok: false; err: P4Error }> {
  const t = track(p)
  await clock.until(() => t.state !== 'pending', 30_000, 'the send to settle')
  return t.state === 'resolved' ? { ok: true } : { ok: false, err: t.error as P4Error }
}

for (const [how, drop] of [
  ['alice disconnects bob', (p: AliceBob) => void p.alice.disconnect('bob')],
  ['bob disconnects alice', (p: AliceBob) => void p.bob.disconnect('alice')],
] as const) {
  test(`${how}, then at once alice sends to bob: it goes over a new session and arrives (never CLOSED)`, async () => {
    const p = await pair()
    try {
      const got: string[] = []
      p.bob.plugin(PLUGIN).on('message', (m) => got.push(Buffer.from(m.data).toString()))
      drop(p)
      if (how.startsWith('bob')) await p.clock.settle() // alice heard the BYE
      const r = await outcome(p.clock, p.alice.plugin(PLUGIN).send('bob', Buffer.from('after')))
      assert.ok(r.ok, r.ok ? '' : `rejected ${r.err.code}: ${r.err.message}`)
      await p.clock.until(() => got.includes('after'), 10_000, 'the message at bob')
    } finally {
      await p.stop()
    }
  })
}

test('alice disconnects bob, who cannot be dialled: the send at once rejects UNREACHABLE naming the cause, not CLOSED', async () => {
  const p = await pair(false)
  try {
    p.alice.disconnect('bob')
    const r = await outcome(p.clock, p.alice.plugin(PLUGIN).send('bob', Buffer.from('after')))
    assert.not.ok(r.ok, 'the send was accepted')
    if (!r.ok) {
      assert.is(r.err.code, 'UNREACHABLE', r.err.message)
      // The cause: the new connection a send tries once the link is gone could not be made.
      assert.match(r.err.message, /^bob is unreachable: /, r.err.message)
      assert.ok(r.err.message.includes(`cannot connect to ${BOB_HOST}:${p.bob.address.port}`), r.err.message)
    }
    assert.ok(p.alice.running)
  } finally {
    await p.stop()
  }
})

test.run()
