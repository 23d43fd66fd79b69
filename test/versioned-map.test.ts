// VersionedMap: every change moves its version (cached answers built on it
// are then looked up again); reads never do.
import * as assert from 'uvu/assert'
import { VersionedMap } from '../ts/overlay/versioned-map.js'
import { test } from './helpers/test.js'

test('set, delete and clear move the version; get, has and iteration do not', () => {
  const m = new VersionedMap<string, number>()
  assert.is(m.version, 0)
  m.set('a', 1)
  const v1 = m.version
  assert.ok(v1 > 0)
  assert.is(m.get('a'), 1)
  assert.ok(m.has('a'))
  assert.equal([...m.keys()], ['a'])
  assert.is(m.version, v1)
  m.set('a', 2) // a new value under the same key is a change
  assert.ok(m.version > v1)
  const v2 = m.version
  m.delete('zz') // deleting nothing may count: versions only ever grow
  assert.ok(m.version >= v2)
  const v3 = m.version
  m.clear()
  assert.ok(m.version > v3)
  assert.is(m.size, 0)
  assert.ok(m instanceof Map)
})

test.run()
