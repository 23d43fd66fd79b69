import { readFileSync } from 'node:fs'
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { P4Error, isP4Error } from '../ts/core/errors.js'
import { HEADER_SIZE } from '../ts/core/protocol.js'
import { AeadBatch } from '../ts/wasm/aead.js'
import { checkBuild, checkImports, createKernel, loadKernel, kernel, simdSupported, type Variant } from '../ts/wasm/loader.js'

const variants: Variant[] = simdSupported() ? ['simd', 'scalar'] : ['scalar']
const FILE = 'p4net.test.wasm'

/** The message of the P4Error `fn` throws with `code` (fails on anything else, a RuntimeError included). */
function p4Throws(fn: () => unknown, code: string): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof P4Error, `expected a P4Error, got ${String(err)}`)
    assert.is((err as P4Error).code, code, (err as P4Error).message)
    return (err as P4Error).message
  }
  assert.unreachable(`expected a ${code} P4Error`)
  return ''
}

const i32 = (v: number): WebAssembly.Global => new WebAssembly.Global({ value: 'i32' }, v)

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

test('each build was compiled from the shared constants it is checked against', () => {
  for (const v of variants) {
    const ex = loadKernel(v).exports
    checkBuild(ex, FILE, v)
    assert.is((ex.HEADER_SIZE as WebAssembly.Global).value, HEADER_SIZE)
  }
})

test('a build compiled from other constants is refused with BAD_BUILD, naming the difference and the fix', () => {
  const ex = loadKernel('scalar').exports
  const changed = p4Throws(() => checkBuild({ ...ex, HEADER_SIZE: i32(20) }, FILE, 'scalar'), 'BAD_BUILD')
  assert.match(changed, 'HEADER_SIZE is 20 there, 18 here')
  assert.match(changed, 'npm run build:wasm')
  assert.match(changed, FILE)
  // an array: the kernel's REQUIRED_FLAGS where ALLOWED_FLAGS should be
  const swapped = p4Throws(() => checkBuild({ ...ex, ALLOWED_FLAGS: ex.REQUIRED_FLAGS }, FILE, 'scalar'), 'BAD_BUILD')
  assert.match(swapped, 'ALLOWED_FLAGS is [0, 5, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0] there, [0, 5, 0, 0, 0, 4, 0, 0, 15, 0, 0, 0, 0, 0, 0] here')
  assert.match(p4Throws(() => checkBuild({ ...ex, ALLOWED_FLAGS: i32(-8) }, FILE, 'scalar'), 'BAD_BUILD'), 'ALLOWED_FLAGS is not an array there')
  // a build from before the constants were shared exports none of them
  const { FRAME_DESC_SIZE: _, ...old } = ex
  assert.match(p4Throws(() => checkBuild(old, FILE, 'scalar'), 'BAD_BUILD'), 'does not export FRAME_DESC_SIZE')
  assert.match(p4Throws(() => checkBuild(ex, FILE, 'simd'), 'BAD_BUILD'), 'it is a scalar build')
})

test('an abort in a kernel reports its message and source position as WASM_ABORT', () => {
  for (const v of variants) {
    const k = createKernel(v)
    // larger than the allocator's largest block: the runtime throws, i.e. aborts
    const message = p4Throws(() => k.alloc(2 ** 31), 'WASM_ABORT')
    assert.match(message, /aborted: Allocation too large at ~lib\/rt\/tlsf\.ts:\d+:\d+/)
    // the allocator refused before changing anything
    k.free(k.alloc(64))
    // the abort was reported once: a later trap is not taken for it
    const batch = new AeadBatch(k, 1)
    batch.setKey(new Uint8Array(32))
    batch.setRecord(0, k.exports.memory.buffer.byteLength - 8, 64)
    assert.match(p4Throws(() => batch.seal(0, 1), 'WASM_ABORT'), 'aead_seal_batch trapped')
  }
})

test('the kernel imports no function (an import would make V8 compile a wrapper with its optimizing compiler: docs/small-profile.md)', () => {
  for (const v of variants) {
    const bytes = readFileSync(new URL(`../../build/${v === 'simd' ? 'p4net.simd.wasm' : 'p4net.wasm'}`, import.meta.url))
    assert.equal(WebAssembly.Module.imports(new WebAssembly.Module(bytes)), [], `build of ${v}`)
  }
  // a build from before, importing env.abort, is refused with the fix
  const importing = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 8, 1, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 0, 2, 13, 1, 3, 0x65, 0x6e, 0x76, 5, 0x61, 0x62, 0x6f, 0x72, 0x74, 0, 0])
  const message = p4Throws(() => checkImports(new WebAssembly.Module(importing), FILE), 'BAD_BUILD')
  assert.match(message, 'it imports env.abort')
  assert.match(message, 'npm run build:wasm')
  checkImports(new WebAssembly.Module(readFileSync(new URL('../../build/p4net.wasm', import.meta.url))), FILE)
})

test('running out of linear memory is OUT_OF_MEMORY, not a RuntimeError, and the kernel stays usable', () => {
  const k = createKernel('scalar') // private: this one is grown to nearly 4 GiB (untouched pages)
  const block = 2 ** 30 - 64 // just under the allocator's largest block
  let message = ''
  for (let i = 0; i < 5 && message === ''; i++) {
    try {
      k.alloc(block)
    } catch (err) {
      assert.ok(isP4Error(err, 'OUT_OF_MEMORY'), `expected OUT_OF_MEMORY, got ${String(err)}`)
      message = (err as P4Error).message
    }
  }
  assert.match(message, 'linear memory cannot grow')
  assert.match(message, `alloc(${block})`)
  const small = k.alloc(1024)
  k.bytes()[small] = 1
  k.free(small)
})

test('a trap inside a kernel call surfaces as WASM_ABORT naming the call', () => {
  const k = createKernel('scalar')
  const batch = new AeadBatch(k, 1)
  batch.setKey(new Uint8Array(32))
  // a record reaching past the end of linear memory: the kernel traps (out of bounds)
  batch.setRecord(0, k.exports.memory.buffer.byteLength - 8, 64)
  const message = p4Throws(() => batch.seal(0, 1), 'WASM_ABORT')
  assert.match(message, 'aead_seal_batch trapped')
})

test.run()
