// Authenticated rogue peers against a small honest network on the memory
// transport and a manual clock. Each attack runs while the honest nodes keep
// exchanging broadcasts and unicasts (all of which must arrive), with a
// stated memory bound that is measured, and — where a quota applies — ends
// with the attacker cut off: the reason counted in stats() and a BYE
// (RATE_LIMITED) sent before the session is closed. Raw-socket attacks over
// TCP: test/hostile-tcp.test.ts.
//
// With P4NET_HOSTILE_CHILD set this file is instead a child program that
// runs one bad-signature storm with NODE_DEBUG=p4net:overlay, so the test can
// read the cut-off line from the debug output.
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { generateIdentity, type Node } from '../ts/index.js'
import { ByeReason, decodeBye } from '../ts/overlay/link-codec.js'
import { encodeDiscover } from '../ts/overlay/discover-codec.js'
import { buildSignedFrame } from '../ts/overlay/signing.js'
import { HEADER_SIZE, MsgType } from '../ts/core/protocol.js'
import { CHAT, honestNet, randomMessageId as bigId, rogueTransport, signedBroadcast, signedHello, whileHonestTalk } from './helpers/attack.js'
import { inbox } from '../common/net.js'
import { Rogue } from './helpers/rogue.js'

const utf8 = new TextEncoder()
const text = new TextDecoder()
const MB = 1024 * 1024

/** heapUsed + arrayBuffers: what an attack could make a node hold. */
function memory(): number {
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

/** The BYE frames a rogue received, decoded. */
function byes(r: Rogue): number[] {
  return r.frames.filter((f) => f.type === MsgType.BYE).map((f) => decodeBye(f.payload).reason)
}

// ---------------------------------------------------------------- rogue peers (memory transport)

test('frames with invalid signatures at full speed: cut off after badSignaturesPerMinute, nothing forwarded, reconnect refused', async () => {
  const net = await honestNet('memory')
  try {
    const [a, b, c] = net.nodes as [Node, Node, Node]
    const mallory = generateIdentity()
    const rogue = await Rogue.dial(a, { identity: mallory, username: 'mallory', transport: rogueTransport(net) })
    const before = memory()
    const bBad = b.stats().badSignature + c.stats().badSignature
    await whileHonestTalk(net, async () => {
      const good = signedBroadcast(mallory, utf8.encode('x'))
      for (let i = 0; i < 10_000; i++) {
        const f = Uint8Array.from(good)
        f[HEADER_SIZE + 40] ^= 1 + (i % 255) // break the signature
        f.set(randomBytes(8), 10) // fresh message ID, so dedup does not hide it
        rogue.sendSigned(f)
      }
      await net.until(() => (a.stats().cutOffReasons['bad-signatures'] ?? 0) === 1, 5000, 'mallory cut off for bad signatures')
      await rogue.session.done
    })
    assert.ok(a.stats().badSignature <= 31, `verified ${a.stats().badSignature} bad frames before the cut (quota 30/min)`)
    assert.is(b.stats().badSignature + c.stats().badSignature, bBad, 'no forged frame was forwarded')
    assert.ok(byes(rogue).includes(ByeReason.RATE_LIMITED), 'a BYE said why')
    assert.ok(memory() - before < 48 * MB, 'memory bounded')
    // The identity is banned for banMs: a new session is refused.
    const retry = await Rogue.dial(a, { identity: mallory, username: 'mallory', transport: rogueTransport(net) }).then(
      (r) => r.session.done.then(() => 'closed'),
      () => 'refused',
    )
    assert.ok(['closed', 'refused'].includes(retry))
    assert.ok(!a.links().some((l) => l.username === 'mallory'))
  } finally {
    await net.stop()
  }
})

test('a broadcast storm of duplicates: delivered once everywhere, the storming peer cut off ("duplicates")', async () => {
  const net = await honestNet('memory', { quotas: { duplicatesPerSecond: 500 } })
  try {
    const [a, b, c] = net.nodes as [Node, Node, Node]
    const boxes = [a, b, c].map((x) => inbox(x.plugin(CHAT)))
    const mallory = generateIdentity()
    const rogue = await Rogue.dial(a, { identity: mallory, username: 'stormy', transport: rogueTransport(net) })
    rogue.sendSigned(signedHello(mallory, 'stormy', net.clock!.wall()))
    await net.until(() => [a, b, c].every((x) => x.users().includes('stormy')), 3000, 'stormy known')
    const before = memory()
    await whileHonestTalk(net, async () => {
      const frame = signedBroadcast(mallory, utf8.encode('storm'))
      for (let i = 0; i < 20_000; i++) rogue.sendSigned(frame)
      await net.until(() => (a.stats().cutOffReasons.duplicates ?? 0) === 1, 5000, 'stormy cut off for duplicates')
    })
    for (const box of boxes) assert.is(box.filter((m) => text.decode(m.data) === 'storm').length, 1)
    assert.ok(a.stats().dedupHits <= 500 * 5 + 500, `dedup hits ${a.stats().dedupHits}`)
    assert.is((b.stats().cutOff ?? 0) + (c.stats().cutOff ?? 0), 0, 'no honest node was cut off')
    // 20,000 frames of 120 bytes were sent; what a holds afterwards stays well below that many copies.
    assert.ok(memory() - before < 32 * MB, `memory grew ${((memory() - before) / MB).toFixed(1)} MiB`)
    assert.ok(byes(rogue).includes(ByeReason.RATE_LIMITED))
  } finally {
    await net.stop()
  }
})

test('HELLO spam from 2,000 fresh identities: the spammer is cut off ("hello"), the tables stay bounded, honest forwarders are not cut off', async () => {
  const helloPerSecond = 100 // burst 500; the same on every node
  const net = await honestNet('memory', { quotas: { helloPerSecond } })
  try {
    const [a, b, c] = net.nodes as [Node, Node, Node]
    const spammer = generateIdentity()
    const rogue = await Rogue.dial(a, { identity: spammer, username: 'spammer', transport: rogueTransport(net) })
    const hellos = Array.from({ length: 2000 }, (_, i) => signedHello(generateIdentity(), `sybil${i}`, net.clock!.wall()))
    const before = memory()
    // The HELLO budget refills on the nodes' clock: the bound is in its time.
    const t0 = net.clock!.now()
    let seconds = 0
    await whileHonestTalk(net, async () => {
      for (const h of hellos) rogue.sendSigned(h)
      await net.until(() => (a.stats().cutOffReasons.hello ?? 0) === 1, 5000, 'the spammer cut off for HELLOs')
      seconds = (net.clock!.now() - t0) / 1000
      await net.sleep(200)
    })
    // Bound: the burst (5 s of the rate) plus what refilled while the spam came in.
    const learned = a.users().length
    assert.ok(learned <= 3 + helloPerSecond * (5 + seconds) + 1, `a learned ${learned} users in ${seconds.toFixed(2)} s`)
    assert.ok(b.users().length <= learned && c.users().length <= learned)
    assert.is(b.stats().cutOff + c.stats().cutOff, 0, 'the honest nodes that forwarded the spam were not cut off')
    assert.equal(a.links().map((l) => l.username).sort(), ['b', 'c'])
    assert.ok(memory() - before < 64 * MB, `memory grew ${((memory() - before) / MB).toFixed(1)} MiB`)
  } finally {
    await net.stop()
  }
})

test('a DISCOVER storm: the storming peer is cut off ("discover"); its walks do not make honest nodes cut each other off', async () => {
  const net = await honestNet('memory')
  try {
    const [a, b, c] = net.nodes as [Node, Node, Node]
    const mallory = generateIdentity()
    const rogue = await Rogue.dial(a, { identity: mallory, username: 'walker', transport: rogueTransport(net) })
    const before = memory()
    await whileHonestTalk(net, async () => {
      for (let i = 0; i < 1000; i++) {
        // The longest walks an attacker can ask for: 255 hops, none may end early, never expiring.
        const body = encodeDiscover({ username: 'walker', host: '127.0.0.1', port: 9, walkId: bigId(), minHops: 255, maxHops: 255, sentAt: net.clock!.wall() + 3_600_000 })
        rogue.sendSigned(buildSignedFrame(mallory, { type: MsgType.DISCOVER, messageId: bigId(), body }))
      }
      await net.until(() => (a.stats().cutOffReasons.discover ?? 0) === 1, 5000, 'the walker cut off for DISCOVERs')
      await net.sleep(500)
    })
    // Each accepted walk may be passed on for up to 255 hops (the attacker picks minHops,
    // maxHops and a future sentAt); relay budgets keep the honest relays under each other's quotas.
    const honestCuts = a.stats().cutOff - 1 + b.stats().cutOff + c.stats().cutOff
    assert.is(honestCuts, 0, `honest nodes cut each other off ${honestCuts}× (${JSON.stringify([a, b, c].map((x) => x.stats().cutOffReasons))})`)
    assert.equal(a.links().map((l) => l.username).sort(), ['b', 'c'])
    assert.ok(memory() - before < 32 * MB, `memory grew ${((memory() - before) / MB).toFixed(1)} MiB`)
  } finally {
    await net.stop()
  }
})

test('a peer that never reads: its send queue stays under maxQueue and it is cut off ("not-reading")', async () => {
  const maxMessage = 64 * 1024
  const highWaterMark = 32 * 1024
  const notReadingMs = 300
  const net = await honestNet('memory', { maxMessage, highWaterMark, quotas: { notReadingMs } })
  try {
    const [a, b] = net.nodes as [Node, Node]
    const rogue = await Rogue.dial(a, { identity: generateIdentity(), username: 'sleeper', transport: rogueTransport(net) })
    await net.until(() => a.links().some((l) => l.username === 'sleeper'), 2000, 'the sleeper linked')
    rogue.session.pause() // never reads again
    // The documented bound of a send queue: maxMessage + 4 KiB (the frame limit) + 4 x highWaterMark.
    // What the transport holds is sealed: each 16 KiB frame there carries its
    // framing (header 18, record length 2, tag 16) on top of the payload bytes
    // the bound was checked against when it was queued.
    const payloadBound = maxMessage + 4096 + 4 * highWaterMark
    const bound = payloadBound + Math.ceil(payloadBound / (16 * 1024)) * 36
    const queued = (): number => a.links().find((l) => l.username === 'sleeper')?.queued ?? 0
    let most = 0
    const sampler = setInterval(() => (most = Math.max(most, queued())), 2)
    try {
      await whileHonestTalk(net, async () => {
        // Bulk broadcasts from b, flooded through a towards the sleeper.
        for (let i = 0; i < 200; i++) {
          await b.plugin(CHAT).broadcast(new Uint8Array(16 * 1024).fill(i))
          most = Math.max(most, queued())
          if (i % 20 === 0) await net.sleep(5)
        }
        // The bound is a deadline, not a speed claim: the cut needs notReadingMs and a few maintenance ticks.
        await net.until(() => !a.links().some((l) => l.username === 'sleeper'), notReadingMs + 10_000, () => `the sleeper cut off (cut-offs ${JSON.stringify(net.nodes.map((x) => x.stats().cutOffReasons))})`)
      })
    } finally {
      clearInterval(sampler)
    }
    // Only the sleeper: honest nodes flooding each other under load were once cut off
    // as "not-reading" too (their queues were full while they read).
    assert.equal(net.nodes.map((x) => x.stats().cutOffReasons), [{ 'not-reading': 1 }, {}, {}])
    assert.ok(most <= bound, `queue to the sleeper peaked at ${most} bytes (bound ${bound})`)
    assert.ok(most >= highWaterMark, `the queue did fill (${most} bytes)`)
    assert.ok(a.stats().droppedSlowPeer > 0, 'frames for the sleeper were dropped, not queued')
    await net.until(() => !a.links().some((l) => l.username === 'sleeper'), 3000, 'the sleeper gone from links()')
  } finally {
    await net.stop()
  }
})

test('a peer that goes silent (no reads, no PING-ACKs) is dropped from links() after 3 ping periods', async () => {
  const net = await honestNet('memory', { timers: { pingIntervalMs: 100 } })
  try {
    const [a] = net.nodes as [Node]
    const ghostId = generateIdentity()
    const rogue = await Rogue.dial(a, { identity: ghostId, username: 'ghost', transport: rogueTransport(net) })
    rogue.sendSigned(signedHello(ghostId, 'ghost', net.clock!.wall()))
    await net.until(() => a.users().includes('ghost') && a.links().some((l) => l.username === 'ghost'), 2000, 'the ghost linked and known')
    rogue.session.pause() // a host that vanished: nothing read, nothing answered
    // A graceful close alone would wait for a peer that never finishes it (on TCP until the
    // kernel gives up, ~15 min); closes have a deadline after which the session is destroyed.
    await net.until(() => !a.links().some((l) => l.username === 'ghost'), 3000, () => `the ghost dropped (links: ${a.links().map((l) => l.username).join(', ')})`)
  } finally {
    await net.stop()
  }
})

test('a user whose link went silent is probed and marked offline', async () => {
  const net = await honestNet('memory', { timers: { pingIntervalMs: 100 } })
  try {
    const [a] = net.nodes as [Node]
    const left: string[] = []
    a.on('user-left', (u: string) => left.push(u))
    const ghostId = generateIdentity()
    const rogue = await Rogue.dial(a, { identity: ghostId, username: 'ghost', transport: rogueTransport(net) })
    // Its HELLO gives an address where nothing listens: a probe there fails at once.
    rogue.sendSigned(signedHello(ghostId, 'ghost', net.clock!.wall()))
    await net.until(() => a.users().includes('ghost') && a.links().some((l) => l.username === 'ghost'), 2000, 'the ghost linked and known')
    rogue.session.pause()
    await net.until(() => !a.links().some((l) => l.username === 'ghost'), 3000, 'the ghost dropped')
    // A link closed for silence is probed like one lost without BYE (else the user would
    // stay "online" for timers.userTimeoutMs, 15 min).
    await net.until(() => !a.users().includes('ghost'), 3000, () => `the ghost marked offline (users: ${a.users().join(', ')}; user-left: ${left.join(', ')})`)
  } finally {
    await net.stop()
  }
})

test('cut-offs show in the debug output (NODE_DEBUG=p4net:overlay)', async () => {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], { env: { ...process.env, P4NET_HOSTILE_CHILD: '1', NODE_DEBUG: 'p4net:overlay' }, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  let out = ''
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  assert.is(code, 0, `child failed: ${out}\n${err.slice(-2000)}`)
  // debuglog colours the pid when the environment asks for colour (uvu's does): strip it.
  const plain = err.replace(/\x1b\[[0-9;]*m/g, '')
  assert.ok(/P4NET:OVERLAY \d+: cut off mallory: quota "bad-signatures" exceeded/.test(plain), `debug output of the child:\n${plain.slice(-1500)}\nstdout: ${out}`)
  assert.match(out, /cutOffReasons {"bad-signatures":1}/)
})

/** Child program: one bad-signature storm, then prints the victim's cut-off counters. */
async function child(): Promise<void> {
  const net = await honestNet('memory')
  try {
    const [a] = net.nodes as [Node]
    const mallory = generateIdentity()
    const rogue = await Rogue.dial(a, { identity: mallory, username: 'mallory', transport: rogueTransport(net) })
    const good = signedBroadcast(mallory, utf8.encode('x'))
    for (let i = 0; i < 100; i++) {
      const f = Uint8Array.from(good)
      f[HEADER_SIZE + 40] ^= 1
      f.set(randomBytes(8), 10)
      rogue.sendSigned(f)
    }
    await net.until(() => a.stats().cutOff === 1, 5000, 'the cut-off')
    console.log(`cutOffReasons ${JSON.stringify(a.stats().cutOffReasons)}`)
  } finally {
    await net.stop()
  }
}

if (process.env.P4NET_HOSTILE_CHILD) {
  child().then(
    () => process.exit(0),
    (err) => {
      console.error(err)
      process.exit(1)
    },
  )
} else {
  test.run()
}
