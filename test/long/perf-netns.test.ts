// `p4net perf` between two hosts: two Linux network namespaces joined by a
// veth pair in a private test range (10.78.0.1 and 10.78.0.2/24), nothing in
// the host's own network. The server runs in one namespace, the client in
// the other (`ip netns exec`), so every byte crosses the veth over real TCP;
// the server names the client's address, which proves it. The JSON is
// checked, the table printed (as a sample of what perf shows). Namespaces are
// removed whatever happens. Without root, iproute2 or namespace support the
// test prints why and passes without running. A long test (npm run test:long).
import { execFileSync, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from '../helpers/test.js'
import * as assert from 'uvu/assert'
import type { PerfResult } from '../../ts/cli/perf-report.js'
import { ip, netnsUnavailable, removeStale } from '../helpers/netns.js'

const PREFIX = 'p4pf'
const SERVER_ADDR = '10.78.0.1'
const CLIENT_ADDR = '10.78.0.2'
const MAIN = fileURLToPath(new URL('../../ts/cli/main.js', import.meta.url))
const nsServer = `${PREFIX}${process.pid}-s`
const nsClient = `${PREFIX}${process.pid}-c`

/** This run's namespaces, and those of earlier runs whose process is gone. */
const removeNamespaces = (): void => removeStale(PREFIX)

/** A process in namespace `ns`: its output so far, its exit code once it ended. */
function inNamespace(ns: string, args: string[]) {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const p = { child, out: '', err: '', exited: new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code))) }
  child.stdout.setEncoding('utf8').on('data', (s: string) => (p.out += s))
  child.stderr.setEncoding('utf8').on('data', (s: string) => (p.err += s))
  return p
}

/** Resolves once `p`'s output matches `re` (checked as it arrives); rejects after `ms` or when it exits first. */
function output(p: ReturnType<typeof inNamespace>, re: RegExp, ms: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: Error): void => {
      clearTimeout(timer)
      p.child.stdout.off('data', check)
      p.child.off('exit', exited)
      if (err) reject(err)
      else resolve()
    }
    // After inNamespace's own listener has appended the chunk.
    const check = (): void => void (re.test(p.out) && done())
    const exited = (): void => done(new Error(`exited before ${re}\n${p.out}${p.err}`))
    const timer = setTimeout(() => done(new Error(`no ${re} after ${ms} ms\n${p.out}${p.err}`)), ms)
    p.child.stdout.on('data', check)
    p.child.once('exit', exited)
    check()
  })
}

const why = netnsUnavailable(PREFIX)
let server: ReturnType<typeof inNamespace> | undefined

test.before(() => {
  if (why !== null) return
  process.on('exit', removeNamespaces)
  removeNamespaces()
  ip('netns', 'add', nsServer)
  ip('netns', 'add', nsClient)
  ip('-n', nsServer, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsClient)
  for (const [ns, addr] of [[nsServer, SERVER_ADDR], [nsClient, CLIENT_ADDR]] as const) {
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0')
    ip('-n', ns, 'link', 'set', 'eth0', 'up')
    ip('-n', ns, 'link', 'set', 'lo', 'up')
  }
})

test.after(() => {
  if (why !== null) return
  if (server && server.child.exitCode === null) server.child.kill('SIGKILL')
  removeNamespaces()
  process.off('exit', removeNamespaces)
  assert.not.match(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }), `${PREFIX}${process.pid}-`, 'every namespace was removed')
})

test('p4net perf across two network namespaces: JSON and table from the client, the client seen at its own address', async () => {
  if (why !== null) return console.log(`  perf netns test skipped: ${why}`)
  server = inNamespace(nsServer, ['perf', '--serve', '--host', SERVER_ADDR, '--port', '5201'])
  const s = server
  await output(s, /serving as perf-server on 10\.78\.0\.1:5201/, 10_000)

  const json = inNamespace(nsClient, ['perf', `${SERVER_ADDR}:5201`, '--json', '--time', '0.3', '--count', '50', '--handshakes', '3'])
  assert.is(await json.exited, 0, json.err)
  const r = JSON.parse(json.out) as PerfResult
  assert.equal(r.server, { username: 'perf-server', address: `${SERVER_ADDR}:5201` })
  assert.equal(r.limit, { seconds: 0.3 })
  assert.equal(Object.keys(r), ['version', 'server', 'client', 'limit', 'send', 'stream', 'rate', 'rtt', 'latency', 'handshake'])
  assert.ok(r.send!.throughputMBps > 0 && r.send!.messages === r.send!.sentMessages && r.send!.bytes === r.send!.messages * 65536, JSON.stringify(r.send))
  assert.ok(r.stream!.throughputMBps > 0 && r.stream!.bytes > 0 && r.stream!.bytes % 65536 === 0, JSON.stringify(r.stream))
  for (const run of [r.rate!.awaited, r.rate!.inFlight]) assert.ok(run.messagesPerSecond > 0 && run.messages === run.sentMessages, JSON.stringify(run))
  for (const p of [r.rtt!.rttMs, r.latency!.latencyMs]) assert.ok(p.p50 > 0 && p.p50 <= p.p90 && p.p90 <= p.p99 && p.p99 <= p.max, JSON.stringify(p))
  const h = r.handshake!
  assert.ok(h.samples === 3 && h.handshakeMs.min > 0 && h.handshakeMs.min <= h.handshakeMs.median && h.handshakeMs.median <= h.handshakeMs.max, JSON.stringify(h))
  // The server saw the client come from the other namespace's address: the traffic crossed the veth.
  assert.match(s.out, new RegExp(`client ${r.client.username} from 10\\.78\\.0\\.2:\\d+`))

  const table = inNamespace(nsClient, ['perf', `${SERVER_ADDR}:5201`, '--time', '0.3', '--count', '50', '--handshakes', '3'])
  assert.is(await table.exited, 0, table.err)
  for (const row of ['send 64 KiB (plugin.send)', 'stream 64 KiB writes (openStream)', 'awaited one by one', 'in flight', 'round trip (plugin.send echo)', 'round trip (node.latency)', 'handshake (fresh node.connect)']) assert.match(table.out, row)
  console.log(table.out.trimEnd().replace(/^/gm, '    '))

  s.child.kill('SIGTERM')
  assert.is(await s.exited, 0, s.err)
  assert.match(s.out, /p4net perf: SIGTERM: stopping\np4net perf: stopped\n$/)
})

test.run()
