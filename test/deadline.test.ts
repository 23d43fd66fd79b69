// The per-test deadline and the process backstop of test/helpers/test.ts:
// a test that never ends fails by name instead of holding the run, and a
// process that cannot end itself is ended with the name of what ran.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import * as assert from 'uvu/assert'
import { DeadlineError, guarded, test, waiting, withDeadline } from './helpers/test.js'
import { waitFor } from '../common/net.js'

const never = (): Promise<never> => new Promise(() => undefined)

/** Runs `fn` with a handle open: the deadline timer is unref'd, and a real hang has something holding the process. */
async function alive<T>(fn: () => Promise<T>): Promise<T> {
  const keep = setInterval(() => undefined, 1000)
  try {
    return await fn()
  } finally {
    clearInterval(keep)
  }
}

test('a never-settling test fails at its deadline with an error naming the file, the test and the pending wait', async () => {
  const err = await alive(() =>
    withDeadline(() => waiting('the answer that never comes', never()), { file: 'x.test.js', name: 'never settles', deadlineMs: 20 }).then(
      () => null,
      (e: unknown) => e,
    ),
  )
  assert.instance(err, DeadlineError)
  const msg = (err as Error).message
  assert.match(msg, 'x.test.js')
  assert.match(msg, '"never settles"')
  assert.match(msg, 'deadline of 20 ms')
  assert.match(msg, 'still waiting for: the answer that never comes')
})

test('what test() registers (guarded) fails the same way; a waitFor in progress is named', async () => {
  // waitFor's own timeout comes later: the deadline must come first and name it.
  const poll = waitFor(() => false, 500, () => 'the condition that never holds')
  const cb = guarded(() => poll, { file: 'y.test.js', name: 'polls forever', deadlineMs: 30 })
  const err = await Promise.resolve(cb({} as never)).then(
    () => null,
    (e: unknown) => e,
  )
  assert.instance(err, DeadlineError)
  assert.match((err as Error).message, 'y.test.js › "polls forever"')
  assert.match((err as Error).message, 'the condition that never holds')
  // The abandoned poll ends by itself: leave no timer to the tests that count them.
  await poll.catch(() => undefined)
})

test('results and errors pass through; the deadline timer is unref\'d and cleared when the test ends', async () => {
  const made: NodeJS.Timeout[] = []
  const cleared = new Set<unknown>()
  const realSet = globalThis.setTimeout
  const realClear = globalThis.clearTimeout
  globalThis.setTimeout = ((fn: () => void, ms: number) => {
    const t = realSet(fn, ms)
    made.push(t)
    return t
  }) as typeof setTimeout
  globalThis.clearTimeout = ((t: NodeJS.Timeout) => {
    cleared.add(t)
    realClear(t)
  }) as typeof clearTimeout
  try {
    assert.is(await withDeadline(() => 42, { file: 'f', name: 'n', deadlineMs: 60_000 }), 42)
    const err = await withDeadline(
      () => {
        throw new Error('its own failure')
      },
      { file: 'f', name: 'n', deadlineMs: 60_000 },
    ).then(
      () => null,
      (e: unknown) => e,
    )
    assert.is((err as Error).message, 'its own failure')
  } finally {
    globalThis.setTimeout = realSet
    globalThis.clearTimeout = realClear
  }
  assert.is(made.length, 2)
  for (const t of made) {
    assert.not.ok(t.hasRef(), 'the deadline never keeps the process alive')
    assert.ok(cleared.has(t), 'the deadline timer was cleared')
  }
})

/** Runs the fixture file in its own process; resolves with its exit and output. */
function runFixture(mode: string): Promise<{ code: number | null; signal: string | null; out: string }> {
  const file = fileURLToPath(new URL('./fixtures/deadline-fixture.js', import.meta.url))
  const child = spawn(process.execPath, [file], {
    env: { ...process.env, FIXTURE_MODE: mode, P4NET_TEST_BACKSTOP_MS: '300', NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  return waiting(
    () => `the fixture (${mode}) to exit; output so far: ${out}`,
    new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out: out.replace(/\x1b\[[0-9;]*m/g, '') }))),
  )
}

test('a hung test file: the test fails by name at its deadline, then the backstop ends the process its leftovers hold', async () => {
  const r = await runFixture('wait')
  assert.match(r.out, 'deadline-fixture.js › "waits forever": no result within its deadline of 100 ms')
  assert.match(r.out, '(1 / 2)') // the first test passed, the hung one failed
  assert.match(r.out, /\[test backstop\] the process is still alive 300 ms after its last test or hook \(deadline-fixture\.js › "waits forever"\) ended; open: \{[^}]*"Timeout":1/)
  assert.match(r.out, 'tests that timed out (and may hold them): deadline-fixture.js › "waits forever"')
  assert.is(r.code, 1)
})

test('a failed before hook is reported by name and fails the run', async () => {
  const r = await runFixture('hook')
  assert.match(r.out, '[test] deadline-fixture.js › before hook failed (the run will exit 1): Error: the hook broke')
  assert.is(r.code, 1)
})

test('a test that blocks the event loop: the watchdog names it and kills the process', async () => {
  const r = await runFixture('spin')
  assert.match(r.out, '[test watchdog] deadline-fixture.js › "spins forever" is still running')
  assert.is(r.signal, 'SIGKILL')
})

test.run()
