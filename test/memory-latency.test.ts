// MemoryNetwork link shaping (one-way delay, bandwidth) on the network's
// clock, and undialable addresses. Every test runs on a ManualClock: times
// are exact and no test waits in real time.
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { ManualClock } from '../ts/core/clock.js'
import { MsgType } from '../ts/core/protocol.js'
import { Session } from '../ts/session/session.js'
import { MemoryNetwork, type MemoryNetworkOptions } from '../ts/transport/memory.js'
import type { Conn } from '../ts/transport/types.js'
import { rejectsCode, throwsCode } from './helpers/errors.js'
import { test } from './helpers/test.js'

const A = '10.0.0.1'
const B = '10.0.0.2'

function manualNet(opts: MemoryNetworkOptions = {}): { net: MemoryNetwork; clock: ManualClock } {
  let net!: MemoryNetwork
  const clock = new ManualClock({ wallAt: 0, idle: () => net.idle })
  net = new MemoryNetwork({ ...opts, clock })
  return { net, clock }
}

/** Dials A → B:4000 on `net`; resolves once connected, with the clock times at which each side saw the connection. */
async function connect(net: MemoryNetwork, clock: ManualClock): Promise<{ client: Conn; server: Conn; acceptedAt: number; dialledAt: number }> {
  let server: Conn | null = null
  let acceptedAt = -1
  const l = await net.transport({ host: B }).listen(B, 4000, (c) => {
    server = c
    acceptedAt = clock.now()
  })
  let client: Conn | null = null
  let dialledAt = -1
  void net
    .transport({ host: A })
    .dial(B, 4000)
    .then((c) => {
      client = c
      dialledAt = clock.now()
    })
  await clock.until(() => client !== null, 10_000, 'the dial')
  await l.close()
  return { client: client!, server: server!, acceptedAt, dialledAt }
}

/** Records (clock time, bytes) of every 'data' event of `c`. */
function arrivals(c: Conn, clock: ManualClock): Array<[number, number]> {
  const out: Array<[number, number]> = []
  c.on('data', (d) => out.push([clock.now(), d.length]))
  return out
}

const total = (a: Array<[number, number]>): number => a.reduce((n, [, b]) => n + b, 0)

test('a delayed link: the listener hears of a dial one delay later, the dialler connects after a round trip, bytes arrive one delay after the write', async () => {
  const { net, clock } = manualNet()
  net.setLink(A, B, { delayMs: 50 })
  const { client, server, acceptedAt, dialledAt } = await connect(net, clock)
  assert.is(acceptedAt, 50)
  assert.is(dialledAt, 100)
  const atServer = arrivals(server, clock)
  server.on('data', (d) => server.write(d)) // echo
  const atClient = arrivals(client, clock)
  client.write(Buffer.from('hello'))
  await clock.until(() => atClient.length > 0, 1000, 'the echo')
  assert.equal(atServer, [[150, 5]])
  assert.equal(atClient, [[200, 5]])
  client.destroy()
  await clock.settle()
  assert.equal(net.stats(), { listeners: 0, connections: 0 })
})

test('host delays add up, the lower bandwidth holds, and a link shape overrides both', async () => {
  const { net, clock } = manualNet()
  net.setHostLink(A, { delayMs: 20, bytesPerSecond: 1_000_000 }) // 1,000 bytes per ms
  net.setHostLink(B, { delayMs: 30, bytesPerSecond: 5_000_000 })
  const first = await connect(net, clock)
  assert.is(first.dialledAt, 100, 'round trip of 20 + 30 ms each way')
  const got = arrivals(first.server, clock)
  const t0 = clock.now()
  // Five writes of 10,000 bytes: each takes 10 ms on the wire, then 50 ms of delay.
  for (let i = 0; i < 5; i++) first.client.write(randomBytes(10_000))
  await clock.until(() => total(got) === 50_000, 1000, 'all bytes')
  assert.equal(
    got.map(([t]) => t - t0),
    [60, 70, 80, 90, 100],
  )
  first.client.destroy()

  net.setLink(A, B, { delayMs: 5 })
  const second = await connect(net, clock)
  assert.is(second.dialledAt - second.acceptedAt, 5, 'the link shape replaces the hosts’')
  second.client.destroy()
  await clock.settle()
})

test('a delayed connection: end() arrives after the data, both sides close; the writer sees drain once its window is delivered', async () => {
  const { net, clock } = manualNet({ link: { delayMs: 10 }, highWaterMark: 1000 })
  const { client, server } = await connect(net, clock)
  const got: Buffer[] = []
  let endedAfter = -1
  server.on('data', (d) => got.push(d))
  server.on('close', () => (endedAfter = Buffer.concat(got).length))
  let drains = 0
  client.on('drain', () => drains++)
  assert.not.ok(client.write(randomBytes(1500)), 'in flight counts towards the window')
  assert.is(client.writableLength, 1500)
  await clock.until(() => drains === 1, 1000, 'drain')
  assert.is(client.writableLength, 0)
  client.write(Buffer.from('tail'))
  client.end()
  let clientClosed = false
  client.on('close', () => (clientClosed = true))
  await clock.until(() => clientClosed && endedAfter >= 0, 1000, 'both sides closed')
  assert.is(endedAfter, 1504, 'every byte arrived before the close')
})

test('unshaped links set no timer: the default path is as before', async () => {
  const { net, clock } = manualNet()
  const { client, server, acceptedAt, dialledAt } = await connect(net, clock)
  assert.is(dialledAt, acceptedAt)
  const got = arrivals(server, clock)
  const t0 = clock.now()
  client.write(Buffer.from('x'))
  assert.is(clock.timers, 0)
  await clock.until(() => got.length === 1, 100, 'the byte')
  assert.equal(got, [[t0, 1]])
  client.destroy()
  await clock.settle()
})

test('a session over a delayed link: one round trip of frames takes twice the delay, in clock time', async () => {
  const { net, clock } = manualNet({ link: { delayMs: 40 } })
  const { client, server } = await connect(net, clock)
  const k1 = randomBytes(32)
  const k2 = randomBytes(32)
  const a = new Session({ conn: client, remote: 'b', sendKey: k1, recvKey: k2 })
  const b = new Session({ conn: server, remote: 'a', sendKey: k2, recvKey: k1 })
  b.onframe = (f) => b.send(MsgType.PING_ACK, 0, 0, 0, 0, f.idLo, f.payload)
  let backAt = -1
  a.onframe = () => (backAt = clock.now())
  const t0 = clock.now()
  a.send(MsgType.PING, 0, 0, 0, 0, 1, new Uint8Array(8))
  await clock.until(() => backAt >= 0, 1000, 'the answer')
  assert.is(backAt - t0, 80)
  a.destroy()
  await clock.settle()
})

test('setDialable(false): dials to the address fail with UNREACHABLE while its own dials out still work (a node behind NAT); true undoes it', async () => {
  const { net, clock } = manualNet()
  await net.transport({ host: B }).listen(B, 4000, () => {})
  await net.transport({ host: A }).listen(A, 4000, () => {})
  net.setDialable(B, 4000, false)
  await rejectsCode(net.transport({ host: A }).dial(B, 4000), 'UNREACHABLE', 'dial to an undialable address')
  const out = await net.transport({ host: B }).dial(A, 4000)
  out.destroy()
  net.setDialable(B, 4000, true)
  const back = await net.transport({ host: A }).dial(B, 4000)
  back.destroy()
  await clock.settle()
})

test('bad shapes and clocks are refused', () => {
  const net = new MemoryNetwork()
  throwsCode(() => net.setLink(A, B, { delayMs: -1 }), 'BAD_ARGUMENT')
  throwsCode(() => net.setHostLink(A, { bytesPerSecond: 0 }), 'BAD_ARGUMENT')
  throwsCode(() => net.setHostLink(A, { delayMs: Infinity }), 'BAD_ARGUMENT')
  throwsCode(() => net.setLink('', B, {}), 'BAD_ARGUMENT')
  throwsCode(() => new MemoryNetwork({ clock: {} as never }), 'BAD_OPTION')
  throwsCode(() => new MemoryNetwork({ link: { delayMs: 'x' as never } }), 'BAD_ARGUMENT')
})

test.run()
