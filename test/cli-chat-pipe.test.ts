// `p4net chat` with its input piped in (printf '...' | p4net chat ...): the
// lines are read only once the node has joined, a line that reaches nobody
// says so, and the end of input lets the queued sends finish before the exit.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freshDir, Proc, run } from './helpers/cli.js'

/** A chat whose whole input is written and closed at once, like a pipe from printf. */
function piped(args: string[], lines: string[], opts: { env?: Record<string, string> } = {}): Proc {
  const p = new Proc(['chat', ...args], opts)
  p.child.stdin!.end(lines.map((l) => l + '\n').join(''))
  return p
}

test('piped lines wait for the join: broadcast and /msg arrive; unknown users and non-chat users are named', async () => {
  const a = new Proc(['chat', '-u', 'alice', '-d', freshDir()])
  let carol: Proc | undefined
  let bob: Proc | undefined
  try {
    const port = (await a.waitFor(/\* listening on 127\.0\.0\.1:(\d+)/))[1]!
    // carol runs a node without the chat plugin.
    carol = new Proc(['start', '-u', 'carol', '-b', `127.0.0.1:${port}`, '-d', freshDir(), '--quiet'])
    await a.waitFor(/^\* carol joined$/m)
    bob = piped(['-u', 'bob', '-b', `127.0.0.1:${port}`, '-d', freshDir()], ['hi', '/msg alice psst', '/msg carol hello', '/msg dave x', '/msg Alice hey', '/latency has space', 'bye all'])
    assert.is(await bob.exit(), 0, bob.err)
    await a.waitFor(/^<bob> hi$/m)
    await a.waitFor(/^\*bob\* \(private\) psst$/m)
    await a.waitFor(/^<bob> bye all$/m) // the last line, sent right before end of input
    assert.match(bob.out, /^<bob> hi$/m)
    assert.match(bob.out, /^-> \*alice\* psst$/m)
    assert.match(bob.out, /^\* carol does not run chat \(plugin 1001\); not delivered$/m)
    assert.match(bob.out, /^\* no known user "dave"; not delivered$/m)
    assert.match(bob.out, /^\* "Alice" is not a username: is not lower case; usernames are lower case: "alice"$/m)
    assert.match(bob.out, /^\* usage: \/latency USER \(a username has no spaces\)$/m)
    assert.not.match(bob.out, /error|alone/)
    assert.not.match(a.out, /^\*bob\* \(private\) (hello|x|hey)$/m)
    assert.is(bob.err, '')
  } finally {
    a.kill()
    carol?.kill()
    bob?.kill()
  }
})

test('a lone chat says a piped line reached nobody, and exits 0 at the end of input', async () => {
  const r = await run(['chat', '-u', 'solo', '-d', freshDir()]) // run() closes stdin at once
  assert.is(r.code, 0, r.err)
  const p = piped(['-u', 'solo', '-d', freshDir()], ['anyone?', '/msg bob hi'])
  try {
    assert.is(await p.exit(), 0, p.err)
    assert.match(p.out, /^\* nobody else is here; not delivered$/m)
    assert.not.match(p.out, /^<solo> anyone\?$/m)
    assert.match(p.out, /^\* no known user "bob"; not delivered$/m)
    assert.match(p.out, /^\* bye$/m)
  } finally {
    p.kill()
  }
})

test('an unreachable bootstrap: chat waits until the join deadline, says why it is alone, then reads the input', async () => {
  const dir = freshDir()
  // The join deadline is two dial timeouts: 2 x 300 ms here.
  const config = join(dir, 'p4net.config.json')
  writeFileSync(config, JSON.stringify({ timers: { requestTimeoutMs: 300 } }))
  const p = piped(['-u', 'lonely', '-b', '127.0.0.1:1', '-d', freshDir(), '-c', config], ['hello?'])
  try {
    assert.is(await p.exit(), 0, p.err)
    const alone = p.out.search(/^\* alone after \d+\.\d s: bootstrap: cannot connect to 127\.0\.0\.1:1: .*; reading input anyway$/m)
    const nobody = p.out.search(/^\* nobody else is here; not delivered$/m)
    assert.ok(alone >= 0 && nobody > alone, p.out)
  } finally {
    p.kill()
  }
})

test.run()
