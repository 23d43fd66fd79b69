// The upkeep module's rules, on its own: a fake session table and a real
// user table around LinkUpkeep, and a ManualClock for time. A link lost
// without BYE makes the node probe its user: a refusal marks the user
// offline, a timeout is tried once more, and a finished handshake keeps the
// user online even when the PING after it is lost. A node pruned down to
// links.min links a known user other than the one that pruned it.
import * as assert from 'uvu/assert'
import { ManualClock } from '../ts/core/clock.js'
import { P4Error } from '../ts/core/errors.js'
import { generateIdentity } from '../ts/core/identity.js'
import { Flag, MsgType } from '../ts/core/protocol.js'
import type { Core, Directory, Gate, LkaSync, RelayService, Sessions, Walks } from '../ts/overlay/context.js'
import { LkaTable, verifyHelloFrame } from '../ts/overlay/lka.js'
import { encodeHello } from '../ts/overlay/hello-codec.js'
import type { Peer } from '../ts/overlay/peer.js'
import { resolveOptions } from '../ts/options.js'
import { buildSignedFrame } from '../ts/overlay/signing.js'
import { emptyStats, type OverlayConfig } from '../ts/overlay/types.js'
import { LinkUpkeep } from '../ts/overlay/upkeep.js'
import { test } from './helpers/test.js'

const clockStart = Date.now()

/** A table entry for `name` at `port`, from a real signed HELLO. */
function known(lka: LkaTable, clock: ManualClock, name: string, port: number): Uint8Array {
  const id = generateIdentity()
  const body = encodeHello({ username: name, staticKey: id.staticPublicKey, host: '127.0.0.1', port, seq: BigInt(Math.floor(clock.wall())), features: 0, plugins: [] })
  lka.applyHello(verifyHelloFrame(buildSignedFrame(id, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId: BigInt(port), body })), clock.now())
  return id.publicKey
}

/** A stand-in for a Peer: only what upkeep reads, and a PING that `pong` decides. */
function fakePeer(name: string, key: string, opts: { bye?: boolean; byeReceived?: boolean; silent?: boolean; pong?: 'ok' | 'lost' } = {}): Peer {
  return {
    username: name,
    keyHex: key,
    kind: 'link',
    bye: opts.bye ?? false,
    byeReceived: opts.byeReceived ?? false,
    silent: opts.silent ?? false,
    cut: false,
    expectPong: () => (opts.pong === 'ok' ? Promise.resolve(1) : Promise.reject(new P4Error('TIMEOUT', 'no PING-ACK'))),
    trySend: () => true,
  } as unknown as Peer
}

interface Scene {
  clock: ManualClock
  upkeep: LinkUpkeep
  lka: LkaTable
  left: string[]
  dialed: string[]
  links: Map<string, Peer>
}

/** Upkeep over a fake table; `sessionTo` answers probes as the test says. */
function scene(sessionTo: (name: string, attempt: number) => Promise<Peer>, links = new Map<string, Peer>()): Scene {
  const clock = new ManualClock({ wallAt: clockStart })
  const lka = new LkaTable({ maxUsers: 16 })
  const left: string[] = []
  const dialed: string[] = []
  const attempts = new Map<string, number>()
  const cfg = {
    username: 'me',
    host: '127.0.0.1',
    advertiseHost: '127.0.0.1',
    bootstrap: [],
    links: { min: 2, max: 4, hardCap: 8 },
    timers: { maintenanceMs: 1000, requestTimeoutMs: 300, walkTimeoutMs: 1000, pingIntervalMs: 15_000, directIdleMs: 60_000, helloRefreshMs: 300_000, userTimeoutMs: 900_000, linkMinAgeMs: 30_000, lkaSyncMs: 60_000 },
    quotas: resolveOptions({ username: 'me' }).cfg.quotas,
    random: () => 0.5,
  } as unknown as OverlayConfig
  const core: Core = {
    cfg,
    clock,
    stats: emptyStats(),
    log: () => undefined,
    emit: (event, name) => void (event === 'user-left' && left.push(name as string)),
    data: () => undefined,
    // Not running: no maintenance pass runs on its own (the test calls what it tests).
    running: false,
    stopping: false,
    listenPort: 1000,
    advertiseHost: '127.0.0.1',
    plugins: new Set(),
  }
  const table = {
    links,
    directs: new Map(),
    peerOf: () => undefined,
    sessionTo: (name: string) => {
      const n = (attempts.get(name) ?? 0) + 1
      attempts.set(name, n)
      return sessionTo(name, n)
    },
    dial: (host: string, port: number) => {
      dialed.push(`${host}:${port}`)
      return new Promise<Peer>(() => undefined)
    },
  } as unknown as Sessions
  // The table's name for a peer's key: here the fake peer's own name.
  const directory = { lka, usernameOfPeer: (p: Peer) => p.username } as unknown as Directory
  const relays = { listsRelays: () => false, busy: () => false } as unknown as RelayService
  const upkeep = new LinkUpkeep(core, { table, directory, lka: {} as LkaSync, walks: {} as Walks, guard: {} as Gate, relays })
  return { clock, upkeep, lka, left, dialed, links }
}

test('a refused probe marks the user offline (user-left)', async () => {
  const s = scene(() => Promise.reject(new P4Error('UNREACHABLE', 'refused')))
  const key = known(s.lka, s.clock, 'busy', 2000)
  s.upkeep.sessionClosed(fakePeer('busy', Buffer.from(key).toString('hex')), true)
  await s.clock.until(() => s.left.length > 0, 1000, 'the probe')
  assert.equal(s.left, ['busy'])
  assert.not.ok(s.lka.get('busy')!.online)
})

test('a probe that times out is tried once more after about requestTimeoutMs; the live user stays online', async () => {
  const s = scene((_name, attempt) => (attempt === 1 ? Promise.reject(new P4Error('UNREACHABLE', 'handshake failed', { cause: new P4Error('TIMEOUT', 'no answer') })) : Promise.resolve(fakePeer('busy', 'k', { pong: 'ok' }))))
  known(s.lka, s.clock, 'busy', 2000)
  s.upkeep.sessionClosed(fakePeer('busy', 'x'), true)
  await s.clock.advance(60) // the first probe (50 ms) times out
  assert.equal(s.left, [])
  await s.clock.advance(600) // the second, within 0.5–1.5 x requestTimeoutMs, succeeds
  assert.equal(s.left, [])
  assert.ok(s.lka.get('busy')!.online)
})

test('a probe whose handshake completes keeps the user online even when its PING is lost', async () => {
  let probes = 0
  const s = scene(() => {
    probes++
    return Promise.resolve(fakePeer('busy', 'k', { pong: 'lost' }))
  })
  known(s.lka, s.clock, 'busy', 2000)
  s.upkeep.sessionClosed(fakePeer('busy', 'x'), true)
  await s.clock.advance(5000)
  assert.is(probes, 1)
  assert.equal(s.left, [])
  assert.ok(s.lka.get('busy')!.online)
})

test('a link closed with BYE is not probed; one that went silent is', async () => {
  let probes = 0
  const s = scene(() => {
    probes++
    return Promise.reject(new P4Error('UNREACHABLE', 'refused'))
  })
  known(s.lka, s.clock, 'gone', 2000)
  s.upkeep.sessionClosed(fakePeer('gone', 'x', { bye: true }), true)
  await s.clock.advance(1000)
  assert.is(probes, 0)
  // Closed by this node for silence (a BYE was sent, but the user may be dead): probed.
  s.upkeep.sessionClosed(fakePeer('gone', 'x', { bye: true, silent: true }), true)
  await s.clock.advance(1000)
  assert.is(probes, 1)
  assert.equal(s.left, ['gone'])
})

test('pruned down to links.min by a neighbour: links a known user, not the one that pruned it', async () => {
  const links = new Map<string, Peer>([['a', fakePeer('a', 'a')], ['b', fakePeer('b', 'b')]])
  const s = scene(() => new Promise<Peer>(() => undefined), links)
  const prunerKey = Buffer.from(known(s.lka, s.clock, 'pruner', 3000)).toString('hex')
  known(s.lka, s.clock, 'other', 4000)
  s.upkeep.sessionClosed(fakePeer('pruner', prunerKey, { bye: true, byeReceived: true }), true)
  assert.equal(s.dialed, ['127.0.0.1:4000'])
})

test.run()
