// The p4net command end to end with running nodes: two chats on loopback,
// status over the control socket, a stale socket after a crash.
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { freshDir, poll, Proc, run } from './helpers/cli.js'


test('two chats on loopback: broadcast, /msg, commands, joins and leaves, clean quit', async () => {
  const a = new Proc(['chat', '--username', 'alice', '--port', '0', '--data-dir', freshDir()])
  // carol, a lone node that alice links to later, starts alongside.
  const c = new Proc(['chat', '-u', 'carol', '-d', freshDir()])
  let b: Proc | undefined
  try {
    const port = (await a.waitFor(/\* listening on 127\.0\.0\.1:(\d+)/))[1]!
    b = new Proc(['chat', '-u', 'bob', '-b', `127.0.0.1:${port}`, '-d', freshDir()])
    await b.waitFor(/^\* alice joined$/m)
    await a.waitFor(/^\* bob joined$/m)
    a.send('hello from alice')
    await b.waitFor(/^<alice> hello from alice$/m)
    await a.waitFor(/^<alice> hello from alice$/m) // own line echoed
    b.send('/msg alice psst, only you')
    await a.waitFor(/^\*bob\* \(private\) psst, only you$/m)
    await b.waitFor(/^-> \*alice\* psst, only you$/m)
    a.send('/names')
    await a.waitFor(/^\* users running 1001 \(2\): alice bob$/m)
    a.send('/plugins bob')
    await a.waitFor(/^\* bob runs plugin 1001$/m)
    a.send('/latency bob')
    await a.waitFor(/^\* latency to bob: \d+\.\d\d ms$/m)
    a.send('/conns') // with an RTT column: /latency just measured it
    await a.waitFor(/^\* bob 127\.0\.0\.1:\d+ link in \d+s rtt \d+\.\d\d ms$/m)
    a.send('/load 7')
    await a.waitFor(/^\* plugin 7 loaded$/m)
    await poll(b, '/plugins alice', /^\* alice runs plugins 7, 1001$/m) // once alice's new HELLO arrives
    a.send('/unload 7')
    await a.waitFor(/^\* plugin 7 unloaded$/m)
    a.send('/msg nobody hi')
    await a.waitFor(/^\* no known user "nobody"; not delivered$/m)
    a.send('/frob')
    await a.waitFor(/^\* unknown command \/frob/m)
    a.send('/help')
    await a.waitFor(/\/msg USER TEXT/)
    b.send('//slash text')
    await a.waitFor(/^<bob> \/slash text$/m)
    // /open: a lone node joins when alice opens a link to it.
    const cport = (await c.waitFor(/\* listening on 127\.0\.0\.1:(\d+)/))[1]!
    a.send(`/open dave 127.0.0.1:${cport}`)
    await a.waitFor(new RegExp(`^\\* 127\\.0\\.0\\.1:${cport} is carol, not dave; link closed$`, 'm'))
    a.send(`/open carol 127.0.0.1:${cport}`)
    // (carol may have re-dialled alice by itself already: alice is in its peer cache now)
    await a.waitFor(new RegExp(`^\\* link (already )?open to carol at 127\\.0\\.0\\.1:${cport}$`, 'm'))
    await c.waitFor(/^\* bob joined$/m)
    await b.waitFor(/^\* carol joined$/m)
    a.send('/open 127.0.0.1:1')
    await a.waitFor(/^\* error: cannot connect to 127\.0\.0\.1:1/m)
    c.child.stdin!.end()
    assert.is(await c.exit(), 0, c.err)
    // End of input quits cleanly: a BYE, so bob sees alice leave.
    a.child.stdin!.end()
    assert.is(await a.exit(), 0, a.err)
    assert.match(a.out, /^\* bye$/m)
    await b.waitFor(/^\* alice left$/m)
    b.send('/quit')
    assert.is(await b.exit(), 0, b.err)
    assert.not.match(a.out + b.out + c.out, /\x1b/, 'no ANSI escapes when stdout is not a TTY')
    assert.is(a.err + b.err + c.err, '')
  } finally {
    a.kill()
    b?.kill()
    c.kill()
  }
})

test('status asks a running start over its control socket; start stops cleanly on SIGTERM', async () => {
  const dir = freshDir()
  const sock = join(dir, 'control.sock')
  const s = new Proc(['start', '--username', 'carol', '--data-dir', dir])
  let peer: Proc | undefined
  try {
    const port = (await s.waitFor(/carol listening on 127\.0\.0\.1:(\d+)/))[1]!
    assert.ok(existsSync(sock), 'control socket created')
    peer = new Proc(['start', '-u', 'dave', '-b', `127.0.0.1:${port}`, '-d', freshDir()])
    await s.waitFor(/ link-up dave 127\.0\.0\.1:\d+ in$/m)
    await s.waitFor(/ user-joined dave$/m)
    // Two status queries and a second start on the same data dir, side by side.
    const [human, json, dup] = await Promise.all([run(['status', '--data-dir', dir]), run(['status', '--json'], { env: { P4NET_DATA_DIR: dir } }), run(['start', '-u', 'erin', '-d', dir])])
    assert.is(human.code, 0, human.err)
    assert.match(human.out, new RegExp(`^carol on 127\\.0\\.0\\.1:${port} `))
    assert.match(human.out, /links \(1\):\n  dave /)
    assert.match(human.out, /users \(2\):/)
    assert.match(human.out, /framesIn +\d+/)
    assert.is(json.code, 0, json.err)
    const report = JSON.parse(json.out)
    assert.is(report.username, 'carol')
    assert.is(report.address.port, Number(port))
    assert.is(report.command, 'start')
    assert.equal(report.links.map((l: { username: string }) => l.username), ['dave'])
    assert.equal(report.users.map((u: { username: string }) => u.username), ['carol', 'dave'])
    assert.type(report.stats.bytesIn, 'number')
    // A second node on the same data dir (same identity) is refused.
    assert.is(dup.code, 1)
    assert.match(dup.err, /another p4net is running with data dir/)
    peer.child.kill('SIGTERM')
    assert.is(await peer.exit(), 0, peer.err)
    await s.waitFor(/ user-left dave$/m)
    s.child.kill('SIGTERM')
    assert.is(await s.exit(), 0, s.err)
    assert.match(s.out, /SIGTERM: stopping\np4net: stopped\n$/)
    assert.not.ok(existsSync(sock), 'control socket removed on exit')
    assert.ok(existsSync(join(dir, 'pinned-keys.json')), 'tofu pins flushed on stop')
    const gone = await run(['status', '-d', dir])
    assert.is(gone.code, 1)
    assert.match(gone.err, /no p4net is running with data dir/)
  } finally {
    s.kill()
    peer?.kill()
  }
})

test('chat says why it is alone: an unreachable bootstrap is a warning line', async () => {
  const c = new Proc(['chat', '-u', 'lonely', '-b', '127.0.0.1:1', '-d', freshDir()])
  try {
    await c.waitFor(/^\* warning: bootstrap: cannot connect to 127\.0\.0\.1:1: .+\(retrying with backoff\)$/m)
  } finally {
    c.kill()
  }
})

test('a stale control socket (node killed): status says it is stale, the next start replaces it', async () => {
  const dir = freshDir()
  const first = new Proc(['start', '-u', 'frank', '-d', dir, '--quiet'])
  try {
    await first.waitFor(/listening on/)
    first.kill()
    await first.exit()
  } finally {
    first.kill()
  }
  assert.ok(existsSync(join(dir, 'control.sock')), 'SIGKILL leaves the socket file')
  const stale = await run(['status', '-d', dir])
  assert.is(stale.code, 1)
  assert.match(stale.err, /^p4net status: no p4net is running with data dir .+: .+control\.sock is stale, left by a node that did not stop cleanly; the next p4net start or chat on this data dir replaces it \(or remove it\)\n$/)
  const second = new Proc(['start', '-u', 'frank', '-d', dir, '--quiet'])
  try {
    await second.waitFor(/listening on/)
    const r = await run(['status', '-d', dir, '--json'])
    assert.is(JSON.parse(r.out).pid, second.child.pid)
    second.child.kill('SIGINT')
    assert.is(await second.exit(), 0)
  } finally {
    second.kill()
  }
})

test.run()
