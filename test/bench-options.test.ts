// Benches refuse options they cannot honour before measuring anything: a
// misspelt name would otherwise measure something else under that name.
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import * as assert from 'uvu/assert'
import { ROOT } from './helpers/sources.js'
import { test } from './helpers/test.js'

const run = promisify(execFile)
const API_SEND = join(ROOT, 'dist', 'bench', 'api-send.bench.js')

/** The bench's stderr when it fails (null when it exits 0). */
const failure = (args: string[]): Promise<string | null> =>
  run(process.execPath, [API_SEND, '--quick', ...args], { cwd: ROOT, timeout: 60_000 }).then(
    () => null,
    (err: { stderr: string }) => err.stderr,
  )

test('api-send --only: an unknown impl or a size that is not a whole number of bytes is refused, naming what there is', async () => {
  const impl = await failure(['--only', 'session,sesion-resume', '64'])
  assert.ok(impl !== null, 'an unknown impl was run')
  assert.match(impl, '--only: unknown impl sesion-resume (have session, session-await, session-resume, await, in-flight)')
  for (const size of ['64B', '0', '1.5']) {
    const bad = await failure(['--only', 'session', size])
    assert.ok(bad !== null, `size ${size} was run`)
    assert.match(bad, `--only: the size must be a whole number of bytes >= 1, got ${size}`)
  }
})

test.run()
