// The small profile under a memory limit (issue 19): one small-profile node
// in a process of its own, capped (V8's old space by --max-old-space-size,
// and the process's whole RSS by a ceiling this test checks: the kernel's
// own peak, VmHWM, at the end, and VmRSS every 20 ms while it runs), for a
// fixed number of rounds. Each round: honest peers churn (one leaves and
// comes back, as do extra peers that try to link beyond the node's hardCap
// of 8) and send it messages of 64 B, 64 KiB and the profile's maxMessage
// (1 MiB), which it sends back; hostile peers flood it within their quotas
// (a burst of valid signed broadcasts), beyond them (one broadcast repeated
// until cut off), and announce oversized frames (a frame of maxMessage +
// 4 KiB + 1 byte, one more than a session takes, and a 16 MiB header
// followed by half of it, from attacker.js). The
// node must never exceed the ceiling (bare Node's RSS, measured in the same
// run, + 96 MiB), never crash, never hold more than 8 links, and deliver
// every honest message of every round. The peak RSS is printed. A cgroup memory.max is not used: it needs a cgroup v2 memory
// controller this process may delegate (test machines have cgroup v1, or v2
// without the controller), and the ceiling checked here is the same bound.
// A long test (npm run test:long), about 40 s. P4NET_SOAK_ROUNDS (default
// 16) and P4NET_SOAK_NODE_FLAGS (more node flags for the measured process,
// e.g. --max-semi-space-size=1) change the run.
//
// This file is also the measured node's program: with P4NET_SOAK_CHILD set
// it runs the node and answers the test over IPC.
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { test, setFileDeadline } from '../helpers/test.js'
import * as assert from 'uvu/assert'

const ROUNDS = Number(process.env.P4NET_SOAK_ROUNDS ?? 16)
const HONEST = 4
const EXTRA = 6
const PLUGIN = 4242
const MAX_MESSAGE = 1 << 20
/** V8's old space; and the whole process over a bare Node process measured in the same run: the node (~15 MiB), its links and users, and a dozen messages of maxMessage in flight, with what the allocators keep of them (measured: 65-70 MiB). */
const OLD_SPACE_MIB = 64
const OVER_BARE_MIB = 96
const SIZES = [64, 64 * 1024, MAX_MESSAGE]

interface ChildStats {
  links: number
  maxLinks: number
  users: number
  cutOff: number
  cutOffReasons: Record<string, number>
  handshakeFailures: number
  delivered: number
  echoed: number
  heapUsed: number
}

// ---------------------------------------------------------------- the measured node

async function child(): Promise<void> {
  const { createNode } = await import('../../ts/index.js')
  const node = await createNode({ username: 'small', profile: 'small', links: { max: 8 }, timers: { maintenanceMs: 200 } })
  const plugin = node.plugin(PLUGIN)
  let echoed = 0
  let maxLinks = 0
  plugin.on('message', (m) => {
    if (m.broadcast) return
    plugin.send(m.from, m.data).then(
      () => void echoed++,
      () => undefined,
    )
  })
  node.on('link-up', () => void (maxLinks = Math.max(maxLinks, node.stats().links)))
  await node.start({ joinTimeout: 0 })
  const stats = (): ChildStats => {
    const s = node.stats()
    return { links: s.links, maxLinks, users: s.users, cutOff: s.cutOff, cutOffReasons: s.cutOffReasons as Record<string, number>, handshakeFailures: s.handshakeFailures, delivered: s.delivered, echoed, heapUsed: process.memoryUsage().heapUsed }
  }
  process.send!({ op: 'ready', port: node.address.port })
  // Stats pushed to the test, which waits on them like on any other state.
  const timer = setInterval(() => process.send!({ op: 'stats', stats: stats() }), 100)
  process.on('disconnect', () => {
    clearInterval(timer)
    void node.stop().finally(() => process.exit(0))
  })
}

// ---------------------------------------------------------------- the test

function status(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
  return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 }
}

async function main(): Promise<void> {
  const { createNode, generateIdentity } = await import('../../ts/index.js')
  const { waitFor } = await import('../../common/net.js')
  const { Rogue } = await import('../helpers/rogue.js')
  const { buildSignedFrame } = await import('../../ts/overlay/signing.js')
  const { Flag, MsgType } = await import('../../ts/core/protocol.js')
  type Node = Awaited<ReturnType<typeof createNode>>
  const MiB = 1024 * 1024
  setFileDeadline(300_000)

  test(`a small-profile node under a ceiling of bare Node + ${OVER_BARE_MIB} MiB: ${ROUNDS} rounds of churn, maxMessage traffic and floods; never over, never down, every honest message delivered`, async () => {
    const self = fileURLToPath(import.meta.url)
    // Bare Node's RSS on this machine, the ceiling's base.
    const bare = spawn(process.execPath, ['-e', "setTimeout(() => process.stdout.write(/VmRSS:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]), 100)"], { stdio: ['ignore', 'pipe', 'inherit'] })
    let bareOut = ''
    bare.stdout!.on('data', (d: Buffer) => (bareOut += d.toString()))
    await waitFor(() => bare.exitCode !== null, 10_000, 'a bare Node process')
    const bareRss = Number(bareOut) * 1024
    assert.ok(bareRss > 0, `bare Node RSS: ${JSON.stringify(bareOut)}`)
    const ceiling = bareRss + OVER_BARE_MIB * MiB
    const m: ChildProcess = fork(self, [], { execArgv: [`--max-old-space-size=${OLD_SPACE_MIB}`, ...(process.env.P4NET_SOAK_NODE_FLAGS?.split(' ').filter(Boolean) ?? [])], env: { ...process.env, P4NET_SOAK_CHILD: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    let exited: string | null = null
    m.on('exit', (code, signal) => void (exited = `exited (${signal ?? code})`))
    let stats: ChildStats | null = null
    let port = 0
    m.on('message', (msg: { op: string; port?: number; stats?: ChildStats }) => {
      if (msg.op === 'ready') port = msg.port!
      if (msg.op === 'stats') stats = msg.stats!
    })
    let peak = 0
    const watch = setInterval(() => {
      if (exited === null) peak = Math.max(peak, status(m.pid!).rss)
    }, 20)
    const alive = (): void => assert.is(exited, null, 'the node process is alive')
    const peers = new Map<string, Node>()
    const identities = new Map<string, ReturnType<typeof generateIdentity>>()
    const received = new Map<string, number>()
    const rogues: Awaited<ReturnType<typeof Rogue.dial>>[] = []
    const attackers: ChildProcess[] = []
    const mAddress = (): { host: string; port: number } => ({ host: '127.0.0.1', port })
    const startPeer = async (name: string): Promise<void> => {
      if (!identities.has(name)) identities.set(name, generateIdentity())
      // The node may refuse a link at its hardCap: every peer can also join through the honest ones.
      const others = [...peers].filter(([k]) => k.startsWith('honest')).map(([, p]) => p.address)
      const n = await createNode({ username: name, identity: identities.get(name)!, bootstrap: [mAddress(), ...others], timers: { maintenanceMs: 200 } })
      n.plugin(PLUGIN).on('message', () => received.set(name, (received.get(name) ?? 0) + 1))
      await n.start({ joinTimeout: 0 })
      peers.set(name, n)
    }
    const stopPeer = async (name: string): Promise<void> => {
      const n = peers.get(name)
      peers.delete(name)
      await n?.stop()
    }
    try {
      await waitFor(() => port !== 0 || exited !== null, 30_000, 'the node process listening')
      alive()
      for (let i = 0; i < HONEST; i++) await startPeer(`honest${i}`)
      await waitFor(() => (stats?.links ?? 0) >= HONEST, 20_000, () => `honest peers linked (${stats?.links} links)`)
      for (let i = 0; i < EXTRA; i++) await startPeer(`extra${i}`)
      const honestNames = Array.from({ length: HONEST }, (_, i) => `honest${i}`)
      let floodsSent = 0
      let hugeClosed = 0
      for (let round = 0; round < ROUNDS; round++) {
        // Churn: an honest peer and two extras leave and come back.
        const h = honestNames[round % HONEST]!
        await stopPeer(h)
        await stopPeer(`extra${round % EXTRA}`)
        await stopPeer(`extra${(round + 3) % EXTRA}`)
        // Hostile peers take the places freed (when the node has them: it may refuse them at hardCap).
        const mallory = generateIdentity()
        const stormer = generateIdentity()
        for (const [who, name] of [[mallory, `within${round}`], [stormer, `beyond${round}`]] as const) {
          try {
            rogues.push(await Rogue.dial({ address: mAddress() } as unknown as Node, { identity: who, username: name }))
          } catch {
            // refused at hardCap or for its handshake: counted by the node, nothing to do here
          }
        }
        const [within, beyond] = rogues.slice(-2) as Array<Awaited<ReturnType<typeof Rogue.dial>> | undefined>
        // Within the quotas: 2,000 valid, distinct signed broadcasts (the frame bucket holds 5 s of 5,000/s).
        if (within && !within.session.closed) {
          for (let k = 0; k < 2000; k++) within.sendSigned(buildSignedFrame(mallory, { type: MsgType.DATA, flags: Flag.BROADCAST, pluginId: PLUGIN, messageId: BigInt(round * 1_000_000 + k + 1), body: new Uint8Array(32) }))
          floodsSent++
        }
        // Beyond them: one broadcast 20,000 times (duplicates: 2,000/s, 5 s of burst).
        if (beyond && !beyond.session.closed) {
          const dup = buildSignedFrame(stormer, { type: MsgType.DATA, flags: Flag.BROADCAST, pluginId: PLUGIN, messageId: BigInt(round + 1), body: new Uint8Array(16) })
          for (let k = 0; k < 20_000 && !beyond.session.closed; k++) beyond.sendSigned(dup)
        }
        // A frame past what a session takes (maxMessage + 4 KiB for a box's overhead).
        const over = rogues.length
        let huge: Awaited<ReturnType<typeof Rogue.dial>> | undefined
        try {
          const big = generateIdentity()
          const r = await Rogue.dial({ address: mAddress() } as unknown as Node, { identity: big, username: `huge${round}` })
          rogues.push(r)
          r.session.send(MsgType.DATA, 0, 0, PLUGIN, 0, round + 1, new Uint8Array(MAX_MESSAGE + 4097))
          huge = r
        } catch {
          // refused at hardCap
        }
        // Oversized headers from another process: 16 MiB announced, 8 MiB of it sent.
        const attacker = spawn(process.execPath, [fileURLToPath(new URL('../helpers/attacker.js', import.meta.url)), String(port), 'announce', '2'], { stdio: 'ignore' })
        attackers.push(attacker)
        // Honest traffic: every honest peer sends 64 B, 64 KiB and maxMessage; the node sends each back.
        await startPeer(h)
        await startPeer(`extra${round % EXTRA}`)
        await startPeer(`extra${(round + 3) % EXTRA}`)
        await waitFor(() => honestNames.every((n) => peers.get(n)!.users(PLUGIN).includes('small')), 20_000, 'every honest peer knows the node')
        const before = new Map(honestNames.map((n) => [n, received.get(n) ?? 0]))
        for (const n of honestNames) for (const size of SIZES) await peers.get(n)!.plugin(PLUGIN).send('small', new Uint8Array(size).fill(round))
        await waitFor(
          () => exited !== null || honestNames.every((n) => (received.get(n) ?? 0) - before.get(n)! >= SIZES.length),
          60_000,
          () => `round ${round}: echoes ${honestNames.map((n) => `${n} ${(received.get(n) ?? 0) - before.get(n)!}/${SIZES.length}`).join(', ')}`,
        )
        alive()
        if (huge) {
          await waitFor(() => huge!.session.closed, 10_000, `round ${round}: the node closing the session that sent a frame over its limit`)
          hugeClosed++
        }
        attacker.kill()
        for (const r of rogues.slice(over - 2)) r.close()
        assert.ok(stats!.links <= 8, `round ${round}: ${stats!.links} links`)
        process.stderr.write(`[soak] round ${round + 1}/${ROUNDS}: RSS ${(status(m.pid!).rss / MiB).toFixed(1)} MiB (peak ${(peak / MiB).toFixed(1)}), heap ${(stats!.heapUsed / MiB).toFixed(1)} MiB, links ${stats!.links} (at most ${stats!.maxLinks}), users ${stats!.users}, cut off ${stats!.cutOff} ${JSON.stringify(stats!.cutOffReasons)}, handshake failures ${stats!.handshakeFailures}\n`)
      }
      alive()
      const { hwm } = status(m.pid!)
      const top = Math.max(hwm, peak)
      process.stderr.write(`[soak] peak RSS ${(top / MiB).toFixed(1)} MiB (VmHWM ${(hwm / MiB).toFixed(1)}), ${((top - bareRss) / MiB).toFixed(1)} MiB over bare Node (${(bareRss / MiB).toFixed(1)}); ceiling ${(ceiling / MiB).toFixed(1)} MiB, old space ${OLD_SPACE_MIB} MiB\n`)
      assert.ok(top <= ceiling, `peak RSS ${(top / MiB).toFixed(1)} MiB over the ceiling of ${(ceiling / MiB).toFixed(1)} MiB`)
      assert.ok(stats!.maxLinks <= 8, `at most 8 links (hardCap), saw ${stats!.maxLinks}`)
      // The hostile paths ran: floods within the quotas were sent, and peers beyond them were cut off.
      assert.ok(floodsSent > 0, 'a flood within the quotas reached the node')
      assert.ok(stats!.cutOff > 0, 'a peer beyond its quotas was cut off')
      assert.ok(hugeClosed > 0, 'a frame over the session limit reached the node (and closed its session)')
    } finally {
      clearInterval(watch)
      for (const a of attackers) a.kill()
      for (const r of rogues) r.close()
      await Promise.allSettled([...peers.values()].map((p) => p.stop()))
      if (exited === null) {
        const gone = new Promise((r) => m.once('exit', r))
        m.disconnect()
        await waitFor(() => exited !== null, 10_000, 'the node process exiting').catch(() => m.kill())
        await gone
      }
    }
  })

  test.run()
}

if (process.env.P4NET_SOAK_CHILD) await child()
else await main()
