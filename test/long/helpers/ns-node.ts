// One p4net node in a network namespace, as a child process driven by JSON
// lines (the long tests' way to put nodes on real hosts: see nat-net.ts).
//
//   const n = new NsNode(host, { username: 'a', host: host.addr, port: 4000 })
//   await n.ready;  await n.call('send', { to: 'b', text: 'hi' });  await n.stop()
//
// This file is also the child program: with P4NET_NS_NODE set (the node's
// options as JSON) it runs the node, prints events on stdout (ready,
// message, reachability, user-joined, stream-end) and answers commands read
// on stdin (state, send, broadcast, latency, pings, stream, punching, punch,
// fresh-punch, stop), each reply carrying its id. With `firstTo` it sends
// "first" to that user as soon as it can (time to first unicast).
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { NatHost } from './nat-net.js'
import { stopChild, waitFor } from '../../helpers/netns.js'
// The NAT tests wait on the children's state, asked for over pipes: the netns helpers' poll.
export { waitFor }

export const PLUGIN = 77

/** Fast timers for nodes in a small lab (as test/long/netns.test.ts). */
export const LAB_TIMERS = { maintenanceMs: 50, pingIntervalMs: 300, walkTimeoutMs: 1000, requestTimeoutMs: 1000, handshakeTimeoutMs: 2000 }

export interface NsNodeOptions {
  username: string
  host: string
  port: number
  bootstrap?: string[]
  links?: { min: number; max: number }
  /** Send "first" to this user as soon as a send succeeds (retrying every 50 ms). */
  firstTo?: string
  /** Puncher test knobs, set before the node starts (ts/overlay/punch.ts). */
  punch?: { paused?: boolean; unlimited?: boolean }
}

/** A received stream, as the 'stream-end' event reports it. */
export interface StreamEnd {
  from: string
  bytes: number
  sha256: string
  encrypted: boolean
  /** Date.now() when the last byte arrived (the processes share the clock). */
  at: number
}

export interface NodeState {
  users: string[]
  links: string[]
  /** Links and direct sessions; a relayed one as "user via relay". */
  direct: string[]
  reachability: { status: string; address?: { host: string; port: number }; observed: Array<{ host: string; port: number; peers: number }>; answers: Record<string, number> }
  /** node.advertisedAddress: what its HELLO names. */
  advertised: { host: string; port: number }
  stats: Record<string, number>
}

// ---------------------------------------------------------------- child side

type LabNode = Awaited<ReturnType<typeof import('../../../ts/index.js').createNode>>
type LabPlugin = ReturnType<LabNode['plugin']>
interface Cmd {
  id: number
  cmd: string
  to?: string
  text?: string
  encrypted?: boolean
  n?: number
  bytes?: number
  ms?: number
  paused?: boolean
  unlimited?: boolean
}
/** The node's puncher and session table (test access to the overlay, as test/punch.test.ts). */
interface Inside {
  overlay: { reach: { punch: { paused: boolean; unlimited: boolean; start(p: unknown): Promise<boolean> } }; table: { peerOf(u: string): unknown } }
}

// Stream content: 64 KiB slices of a random MiB at varying offsets, so a lost,
// repeated or reordered chunk changes the receiver's hash.
const CHUNK = 64 * 1024
const POOL = randomBytes(1024 * 1024)
const slice = (i: number): Buffer => POOL.subarray((i * 4099 * 16) % (POOL.length - CHUNK), ((i * 4099 * 16) % (POOL.length - CHUNK)) + CHUNK)

/** Writes `bytes` (or for `ms`) to a new stream to `to`; resolves once written and ended. */
async function streamTo(plugin: LabPlugin, c: Cmd): Promise<object> {
  const s = await plugin.openStream(c.to!, { encrypted: c.encrypted === true })
  const hash = createHash('sha256')
  const t0 = Date.now()
  let bytes = 0
  for (let i = 0; c.bytes !== undefined ? bytes < c.bytes : Date.now() - t0 < c.ms!; i++) {
    const chunk = slice(i)
    hash.update(chunk)
    bytes += chunk.length
    if (!s.write(chunk)) await new Promise((r) => s.once('drain', r))
  }
  await new Promise<void>((resolve, reject) => s.end(() => resolve()).once('error', reject))
  return { bytes, sha256: hash.digest('hex'), t0 }
}

/** Punch state of the session to `user` now: stats before, so the caller sees the next outcome. */
function outcomes(node: LabNode): number {
  const st = node.stats()
  return st.punchSucceeded + Object.values(st.punchFailed).reduce((a: number, b) => a + (b ?? 0), 0)
}

/** A new relayed session to `to` (the old session closed, a message sent), and the punch it starts: ok or the failure. */
async function freshPunch(node: LabNode, plugin: LabPlugin, to: string, text: string): Promise<object> {
  node.disconnect(to)
  // The closed session leaves the table once its BYE is out; a send before that would fail CLOSED.
  await waitFor(() => !node.links({ direct: true }).some((l) => l.username === to), 5000, () => `the session with ${to} to close`)
  const before = outcomes(node)
  const ok0 = node.stats().punchSucceeded
  await plugin.send(to, Buffer.from(text))
  const relayedVia = node.links({ direct: true }).find((l) => l.username === to)?.via
  await waitFor(() => outcomes(node) > before, 15_000, () => `the punch with ${to}`)
  return { ok: node.stats().punchSucceeded > ok0, relayedVia, failed: node.stats().punchFailed }
}

async function child(opts: NsNodeOptions): Promise<void> {
  const { createNode } = await import('../../../ts/index.js')
  const out = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n')
  const started = Date.now()
  const { firstTo, punch, ...nodeOpts } = opts
  const node = await createNode({ ...nodeOpts, timers: LAB_TIMERS })
  const plugin = node.plugin(PLUGIN)
  plugin.on('message', (m) => out({ event: 'message', from: m.from, text: Buffer.from(m.data).toString(), broadcast: m.broadcast, encrypted: m.encrypted }))
  plugin.on('stream', (s) => {
    const hash = createHash('sha256')
    let bytes = 0
    s.on('data', (b: Buffer) => ((bytes += b.length), hash.update(b)))
    s.on('end', () => s.end()) // our side too: the stream closes
    s.on('end', () => out({ event: 'stream-end', from: s.user, bytes, sha256: hash.digest('hex'), encrypted: s.encrypted, at: Date.now() }))
    s.on('error', (err) => out({ event: 'stream-error', from: s.user, error: String(err) }))
  })
  node.on('reachability', (r) => out({ event: 'reachability', reachability: r, ms: Date.now() - started }))
  node.on('user-joined', (u: string) => out({ event: 'user-joined', user: u, ms: Date.now() - started }))
  await node.start({ joinTimeout: 0 })
  const inside = (node as unknown as Inside).overlay
  Object.assign(inside.reach.punch, punch)
  out({ event: 'ready', address: node.address })
  if (firstTo !== undefined) {
    // Unknown or unreachable until the join and the target's HELLO arrive: again, shortly.
    for (;;) {
      const ok = await plugin.send(firstTo, Buffer.from('first')).then(() => true, () => false)
      if (ok) break
      await new Promise((r) => setTimeout(r, 50))
    }
    out({ event: 'first-sent', sinceProcessStart: performance.now() })
  }
  const rl = createInterface({ input: process.stdin })
  rl.on('line', (line) => {
    const c = JSON.parse(line) as Cmd
    const reply = (o: object): void => out({ id: c.id, ...o })
    const fail = (err: unknown): void => reply({ error: String((err as Error)?.message ?? err), code: (err as { code?: string }).code })
    switch (c.cmd) {
      case 'state': {
        const st = node.stats()
        const stats = {
          reachChecks: st.reachChecks,
          dialBacks: st.dialBacks,
          dialBacksRefused: st.dialBacksRefused,
          probesAnswered: st.probesAnswered,
          framesIn: st.framesIn,
          relaysHeld: st.relaysHeld,
          punchAttempts: st.punchAttempts,
          punchSucceeded: st.punchSucceeded,
          ...Object.fromEntries(Object.entries(st.punchFailed).map(([k, v]) => [`punchFailed.${k}`, v ?? 0])),
        }
        // Direct sessions too, with the relay a relayed one runs through ("user via relay").
        const direct = node.links({ direct: true }).map((l) => (l.via ? `${l.username} via ${l.via}` : l.username))
        return reply({ users: node.users(), links: node.links().map((l) => l.username), direct, reachability: node.reachability, advertised: node.advertisedAddress, stats })
      }
      case 'send':
        return void plugin.send(c.to!, Buffer.from(c.text!), { encrypted: c.encrypted === true }).then(() => reply({ ok: true }), fail)
      case 'broadcast':
        return void plugin.broadcast(Buffer.from(c.text!)).then(() => reply({ ok: true }), fail)
      case 'latency':
        return void node.latency(c.to!).then((ms) => reply({ ms }), fail)
      case 'pings':
        return void (async () => {
          const ms: number[] = []
          for (let i = 0; i < c.n!; i++) ms.push(await node.latency(c.to!))
          return ms
        })().then((ms) => reply({ ms }), fail)
      case 'stream':
        return void streamTo(plugin, c).then(reply, fail)
      case 'punching':
        if (c.paused !== undefined) inside.reach.punch.paused = c.paused
        if (c.unlimited !== undefined) inside.reach.punch.unlimited = c.unlimited
        return reply({ ok: true })
      case 'punch':
        return void inside.reach.punch.start(inside.table.peerOf(c.to!)).then((ok) => reply({ ok, failed: node.stats().punchFailed }), fail)
      case 'fresh-punch':
        return void freshPunch(node, plugin, c.to!, c.text!).then(reply, fail)
      case 'stop':
        return void node.stop().then(() => {
          reply({ ok: true })
          process.exit(0)
        })
    }
  })
  rl.on('close', () => void node.stop().then(() => process.exit(0)))
}

// ---------------------------------------------------------------- test side

export class NsNode {
  readonly name: string
  readonly proc: ChildProcess
  readonly ready: Promise<{ host: string; port: number }>
  readonly messages: Array<{ from: string; text: string; broadcast: boolean; encrypted: boolean; at: number }> = []
  readonly streams: StreamEnd[] = []
  /** Date.now() at spawn, and ms since its process started when a `firstTo` node's first send succeeded. */
  readonly spawnedAt = Date.now()
  firstSent: number | null = null
  /** Every 'reachability' event, with ms since the child created its node. */
  readonly reach: Array<{ reachability: NodeState['reachability']; ms: number }> = []
  private readonly pending = new Map<number, (r: Record<string, unknown>) => void>()
  private nextId = 1

  constructor(host: NatHost, opts: NsNodeOptions) {
    this.name = opts.username
    this.proc = spawn('ip', ['netns', 'exec', host.ns, process.execPath, fileURLToPath(import.meta.url)], {
      env: { ...process.env, P4NET_NS_NODE: JSON.stringify(opts), NODE_DEBUG: process.env.P4NET_NETNS_DEBUG ?? '' },
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    let markReady!: (a: { host: string; port: number }) => void
    let failReady!: (err: Error) => void
    this.ready = new Promise((resolve, reject) => ((markReady = resolve), (failReady = reject)))
    this.proc.on('exit', (code) => failReady(new Error(`${this.name} exited (${code}) before it was ready`)))
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let m: Record<string, unknown>
      try {
        m = JSON.parse(line) as Record<string, unknown>
      } catch {
        return // not ours
      }
      if (typeof m.id === 'number') this.pending.get(m.id)?.(m)
      else if (m.event === 'ready') markReady(m.address as { host: string; port: number })
      else if (m.event === 'message') this.messages.push({ from: m.from as string, text: m.text as string, broadcast: m.broadcast as boolean, encrypted: m.encrypted as boolean, at: Date.now() })
      else if (m.event === 'stream-end') this.streams.push(m as unknown as StreamEnd)
      else if (m.event === 'stream-error') console.error(`  ${this.name}: stream from ${String(m.from)} failed: ${String(m.error)}`)
      else if (m.event === 'first-sent') this.firstSent = m.sinceProcessStart as number
      else if (m.event === 'reachability') this.reach.push({ reachability: m.reachability as NodeState['reachability'], ms: m.ms as number })
    })
  }

  /** Runs `cmd` in the child; rejects when no answer comes within `timeoutMs`. */
  call(cmd: string, args: object = {}, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name}: no answer to ${cmd} within ${timeoutMs} ms`)), timeoutMs)
      this.pending.set(id, (r) => {
        clearTimeout(t)
        this.pending.delete(id)
        resolve(r)
      })
      this.proc.stdin!.write(JSON.stringify({ id, cmd, ...args }) + '\n')
    })
  }

  async state(): Promise<NodeState> {
    return (await this.call('state')) as unknown as NodeState
  }

  /** Ends the child (closing stdin stops its node); killed after 2 s. */
  stop(): Promise<void> {
    return stopChild(this.proc)
  }
}

if (process.env.P4NET_NS_NODE) {
  child(JSON.parse(process.env.P4NET_NS_NODE) as NsNodeOptions).catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
