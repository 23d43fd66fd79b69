// The README's "A plugin in 20 lines" runs as written: the code block is
// taken from README.md, run by node in its own process (its `import 'p4net'`
// resolves to this package), against a second node, bob, at the address the
// example names.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { createNode, type Node, type PluginMessage } from '../ts/index.js'
import { tempDirs } from './helpers/tmp.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const tmp = tempDirs('p4net-readme-')
test.after(() => tmp.cleanup())

/** The first ```ts block under the heading that starts with `heading`. */
function exampleUnder(heading: string): string {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8')
  const at = readme.indexOf(`\n## ${heading}`)
  assert.ok(at >= 0, `README has a "## ${heading}" section`)
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(at))
  assert.ok(block, `a ts code block under "${heading}"`)
  return block[1]!
}

/** Whether 127.0.0.1:`port` can be listened on now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

test('README "A plugin in 20 lines" runs as written against bob at the address it names', async () => {
  let code = exampleUnder('A plugin in 20 lines')
  const named = /bootstrap: \['127\.0\.0\.1:(\d+)'\]/.exec(code)
  assert.ok(named, 'the example names a bootstrap on 127.0.0.1')
  let port = Number(named[1])
  // The one liberty taken: another port if that one is taken on this machine.
  if (!(await portFree(port))) {
    port = 0
    code = code.replace(named[0], "bootstrap: ['127.0.0.1:BOB_PORT']")
  }
  const bob: Node = await createNode({ username: 'bob', host: '127.0.0.1', port })
  const got: PluginMessage[] = []
  bob.plugin(1001).on('message', (m) => got.push(m))
  await bob.start()
  code = code.replace('BOB_PORT', String(bob.address.port))
  // Inside the package, so that `from 'p4net'` is the package itself (self-reference through "exports").
  const script = `${ROOT}dist/readme-example-${process.pid}.mjs`
  writeFileSync(script, code)
  const cwd = tmp.make()
  try {
    const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } // plain console.log output to match
    const child = spawn(process.execPath, [script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const exit = await new Promise<number | string>((resolve) => {
      const deadline = setTimeout(() => {
        child.kill('SIGKILL')
        resolve('killed after 20 s')
      }, 20_000)
      child.on('exit', (c) => {
        clearTimeout(deadline)
        resolve(c ?? 'signal')
      })
    })
    assert.is(exit, 0, `exit ${exit}\nstdout:\n${out}\nstderr:\n${err}`)
    assert.is(err, '', err)
    // node.users(1001), node.pluginsOf('bob'), latency, 'ms'
    assert.ok(/\[ 'alice', 'bob' \] \[ 1001 \] \d+(\.\d+)? ms/.test(out), out)
    const texts = got.map((m) => `${m.from} ${new TextDecoder().decode(m.data)} ${m.encrypted} ${m.broadcast}`)
    assert.equal(texts.sort(), ['alice hello, everyone on 1001 false true', 'alice just for bob true false'])
  } finally {
    rmSync(script, { force: true })
    await bob.stop()
  }
})

test.run()
