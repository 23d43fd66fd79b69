// What docs/protocol.md and docs/security.md say about the bound of the tofu
// pin table, checked: a full table refuses new names and keeps every pin;
// the node's own name is pinned even when the table is full; a file holding
// more pins than maxPins (the bound lowered) is trimmed at load to the most
// recently confirmed.
import * as assert from 'uvu/assert'
import { TofuPolicy } from '../ts/overlay/trust-tofu.js'
import { throwsCode } from './helpers/errors.js'
import { fixedIdentity } from './helpers/identities.js'
import { tempDirs } from './helpers/tmp.js'
import { test } from './helpers/test.js'

const [alice, bob, carol, me] = [1, 2, 3, 4].map((n) => fixedIdentity(n))
const tmp = tempDirs('p4net-tofu-bounds-')
test.after(tmp.cleanup)

test("a full table refuses a new name, passes pinned ones, and still pins the node's own name (one over the bound)", () => {
  const p = new TofuPolicy({ maxPins: 2 })
  p.check('alice', alice!.publicKey)
  p.check('bob', bob!.publicKey)
  throwsCode(() => p.check('carol', carol!.publicKey), 'UNTRUSTED_KEY')
  p.check('alice', alice!.publicKey)
  p.bindOwn('me', me!.publicKey)
  assert.is(p.size, 3)
  assert.ok(p.pinned('alice') && p.pinned('bob') && p.pinned('me'))
})

test('a pin file holding more than maxPins keeps the most recently confirmed pins at load', async () => {
  const dataDir = tmp.make()
  const p = new TofuPolicy({ dataDir, maxPins: 3, flushDelayMs: 0 })
  p.check('alice', alice!.publicKey)
  p.check('bob', bob!.publicKey)
  p.check('carol', carol!.publicKey)
  p.check('alice', alice!.publicKey) // confirmed again: bob is now the stalest
  await p.flush()
  const lowered = new TofuPolicy({ dataDir, maxPins: 2 })
  assert.equal(['alice', 'bob', 'carol'].filter((n) => lowered.pinned(n) !== undefined), ['alice', 'carol'])
})

test.run()
