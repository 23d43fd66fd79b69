// The suite waits for events and conditions, never for a span of time: no
// test imports a sleep or a quiet-spell wait from common/net.ts, and none
// awaits a bare timer. Time-driven behaviour runs on a ManualClock
// (net.sleep, net.until move it); "nothing else arrived" is asserted after
// net.settle() (memory: the network is idle; tcp: a link barrier) or after a
// later message that must come after the one that must not.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { ROOT, sources } from './helpers/sources.js'
import { test } from './helpers/test.js'


/** Files that may hold a timer-promise, and why. */
const ALLOWED: Record<string, string> = {
  // The deadline machinery itself: a deadline is a timer.
  'test/helpers/test.ts': 'deadlines',
  'test/deadline.test.ts': 'tests of the deadline machinery',
  // The fuzz harness bounds a run and detects hangs by time.
  'test/fuzz/harness.ts': 'hang detection',
  // Polls state across processes (its condition is asynchronous), every 50 ms within a deadline.
  'test/long/netns.test.ts': 'poll interval of a condition wait across processes',
  'test/helpers/netns.ts': 'poll interval of a condition wait across processes (test/long/lan-netns.test.ts)',
  'test/long/helpers/ns-node.ts': 'poll interval of a condition wait across processes (waitFor)',
  // A FIFO open() must answer at once; no answer in 2 s is a hang, which the test then releases.
  'test/identity.test.ts': 'a hang detector',
  // This check's own examples.
  'test/waits.test.ts': 'examples of what it finds',
}


/** What in `text` waits for a fixed span of real time. */
export function fixedWaits(text: string): string[] {
  const found: string[] = []
  const patterns: Array<[RegExp, string]> = [
    [/import\s*{[^}]*\b(sleep|waitQuiet)\b[^}]*}\s*from\s*'[./]*common\/net\.js'/, 'imports sleep or waitQuiet from common/net'],
    [/new Promise\S*\s*\(\(?(r|resolve)\)?\s*=>\s*\(?\s*(\w+\s*=\s*)?setTimeout\(\s*(r|resolve)\s*,/, 'awaits a bare timer'],
    [/const\s+sleep\s*=/, 'defines a sleep'],
  ]
  for (const [re, what] of patterns) if (re.test(text)) found.push(what)
  return found
}

test('no test waits a fixed span of real time (sleeps, quiet spells, bare timers)', () => {
  const files = sources('test').filter((f) => !f.startsWith('test/reference/'))
  assert.ok(files.length > 40 && files.includes('test/helpers/attack.ts'), 'the test sources were found')
  const bad: string[] = []
  for (const f of files) {
    if (ALLOWED[f]) continue
    for (const what of fixedWaits(readFileSync(join(ROOT, f), 'utf8'))) bad.push(`${f}: ${what}`)
  }
  assert.equal(bad, [])
})

test('the check finds each kind of fixed wait', () => {
  assert.equal(fixedWaits("import { inbox, sleep, waitFor } from '../common/net.js'"), ['imports sleep or waitQuiet from common/net'])
  assert.equal(fixedWaits("import { waitQuiet } from '../../common/net.js'"), ['imports sleep or waitQuiet from common/net'])
  assert.equal(fixedWaits('await new Promise((r) => setTimeout(r, 60))'), ['awaits a bare timer'])
  assert.equal(fixedWaits('await new Promise((resolve) => setTimeout(resolve, 5))'), ['awaits a bare timer'])
  assert.equal(fixedWaits('new Promise((r) => (timer = setTimeout(r, 2000, "blocked")))'), ['awaits a bare timer'])
  assert.equal(fixedWaits('const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))'), ['awaits a bare timer', 'defines a sleep'])
  assert.equal(fixedWaits('await net.sleep(50)\nawait net.until(() => x, 1000, "x")\nawait waitFor(() => y, 2000, "y")'), [])
})

test.run()
