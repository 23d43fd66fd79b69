// The examples in examples/ run as a user runs them.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { EXAMPLE_CHAT, EXAMPLE_COUNTER, EXAMPLE_FILE_COPY, freshDir, Proc, run } from './helpers/cli.js'


test('examples/chat.js: two processes exchange a line', async () => {
  const a = new Proc(['--username', 'ann'], { script: EXAMPLE_CHAT })
  let b: Proc | undefined
  try {
    const port = (await a.waitFor(/ann listening on 127\.0\.0\.1:(\d+)/))[1]!
    b = new Proc(['--username', 'ben', '--bootstrap', `127.0.0.1:${port}`], { script: EXAMPLE_CHAT })
    await a.waitFor(/^\* ben joined$/m)
    await b.waitFor(/^\* ann joined$/m)
    b.send('hi ann')
    await a.waitFor(/^<ben> hi ann$/m)
    b.child.stdin!.end()
    assert.is(await b.exit(), 0, b.err)
    await a.waitFor(/^\* ben left$/m)
    a.child.stdin!.end()
    assert.is(await a.exit(), 0, a.err)
  } finally {
    a.kill()
    b?.kill()
  }
})

test('examples/chat.js: --help prints the usage; an unknown option is one line and the usage, no stack', async () => {
  const [help, bad] = await Promise.all([run(['--help'], { script: EXAMPLE_CHAT }), run(['--nope'], { script: EXAMPLE_CHAT })])
  assert.is(help.code, 0, help.err)
  assert.match(help.out, /^usage: chat\.js --username NAME/)
  assert.is(help.err, '')
  assert.is(bad.code, 2)
  assert.match(bad.err, /^chat\.js: Unknown option '--nope'.*\nusage: chat\.js /s)
  assert.not.match(bad.err, /\n\s+at /)
})

test('examples/counter.js: --help prints the usage; an unknown option is one line and the usage, no stack', async () => {
  const [help, bad] = await Promise.all([run(['--help'], { script: EXAMPLE_COUNTER }), run(['--nope'], { script: EXAMPLE_COUNTER })])
  assert.is(help.code, 0, help.err)
  assert.match(help.out, /^usage: counter\.js --username NAME/)
  assert.is(help.err, '')
  assert.is(bad.code, 2)
  assert.match(bad.err, /^counter\.js: Unknown option '--nope'.*\nusage: counter\.js /s)
  assert.not.match(bad.err, /\n\s+at /)
})

test('examples/counter.js --self-test converges', async () => {
  const r = await run(['--self-test', '--nodes', '3'], { script: EXAMPLE_COUNTER, ms: 15_000 })
  assert.is(r.code, 0, r.out + r.err)
  assert.match(r.out, /totals: 30 30 30 \(expected 30 each\)/)
})

test('examples/file-copy.js: a file goes to another process over a stream, byte for byte', async () => {
  const from = freshDir()
  const into = freshDir()
  const data = randomBytes(3_000_000)
  writeFileSync(join(from, 'photo.bin'), data)
  const bob = new Proc(['--username', 'bob', '--receive', into, '--once'], { script: EXAMPLE_FILE_COPY })
  let alice: Proc | undefined
  try {
    const port = (await bob.waitFor(/bob listening on 127\.0\.0\.1:(\d+)/))[1]!
    alice = new Proc(['--username', 'alice', '--bootstrap', `127.0.0.1:${port}`, '--to', 'bob', join(from, 'photo.bin')], { script: EXAMPLE_FILE_COPY })
    await alice.waitFor(/^\* sent photo\.bin \(3000000 bytes\) to bob$/m, 20_000)
    assert.is(await alice.exit(), 0, alice.err)
    await bob.waitFor(/^\* received photo\.bin \(3000000 bytes\) from alice$/m)
    assert.is(await bob.exit(), 0, bob.err)
    assert.ok(readFileSync(join(into, 'photo.bin')).equals(data))
  } finally {
    bob.kill()
    alice?.kill()
  }
})

test('examples/file-copy.js: --help prints the usage; an unknown option is one line and the usage, no stack', async () => {
  const [help, bad] = await Promise.all([run(['--help'], { script: EXAMPLE_FILE_COPY }), run(['--nope'], { script: EXAMPLE_FILE_COPY })])
  assert.is(help.code, 0, help.err)
  assert.match(help.out, /^usage: file-copy\.js --username NAME/)
  assert.is(bad.code, 2)
  assert.match(bad.err, /^file-copy\.js: Unknown option '--nope'.*\nusage: file-copy\.js /s)
  assert.not.match(bad.err, /\n\s+at /)
})

test.run()
