import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { loadKernel, kernel, simdSupported } from '../ts/wasm/loader.js'

test('both builds load and report their variant', () => {
  assert.is(loadKernel('scalar').exports.simd(), 0)
  if (simdSupported()) assert.is(loadKernel('simd').exports.simd(), 1)
  assert.ok(kernel())
})

test('views are refreshed after memory.grow detaches them', () => {
  const k = loadKernel('scalar')
  const before = k.bytes()
  const pages = k.exports.memory.buffer.byteLength / 65536
  const ptr = k.alloc(pages * 65536) // forces growth
  const after = k.bytes()
  assert.is.not(before, after)
  assert.ok(after.length > pages * 65536)
  after[ptr] = 7
  assert.is(k.bytes()[ptr], 7)
  k.free(ptr)
})

test.run()
