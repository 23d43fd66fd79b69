// One p4net node in a network namespace, as a child process driven by JSON
// lines (the long tests' way to put nodes on real hosts: see nat-net.ts).
//
//   const n = new NsNode(host, { username: 'a', host: host.addr, port: 4000 })
//   await n.ready;  await n.call('send', { to: 'b', text: 'hi' });  await n.stop()
//
// This file is also the child program: with P4NET_NS_NODE set (the node's
// options as JSON) it runs the node, prints events on stdout (ready,
// message, reachability, user-joined) and answers commands read on stdin
// (state, send, broadcast, latency, stop), each reply carrying its id.
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { NatHost } from './nat-net.js'

export const PLUGIN = 77

/** Fast timers for nodes in a small lab (as test/long/netns.test.ts). */
export const LAB_TIMERS = { maintenanceMs: 50, pingIntervalMs: 300, walkTimeoutMs: 1000, requestTimeoutMs: 1000, handshakeTimeoutMs: 2000 }

export interface NsNodeOptions {
  username: string
  host: string
  port: number
  bootstrap?: string[]
  links?: { min: number; max: number }
}

export interface NodeState {
  users: string[]
  links: string[]
  /** Links and direct sessions; a relayed one as "user via relay". */
  direct: string[]
  reachability: { status: string; address?: { host: string; port: number }; observed: Array<{ host: string; port: number; peers: number }>; answers: Record<string, number> }
  stats: Record<string, number>
}

/**
 * Polls `cond` every 50 ms until it holds, else fails after `ms` naming
 * `what`: the conditions are the children's state, asked for over pipes.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: () => string | Promise<string>): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    if (await cond()) return
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${await what()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

// ---------------------------------------------------------------- child side

async function child(opts: NsNodeOptions): Promise<void> {
  const { createNode } = await import('../../../ts/index.js')
  const out = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n')
  const started = Date.now()
  const node = await createNode({ ...opts, timers: LAB_TIMERS })
  const plugin = node.plugin(PLUGIN)
  plugin.on('message', (m) => out({ event: 'message', from: m.from, text: Buffer.from(m.data).toString(), broadcast: m.broadcast }))
  node.on('reachability', (r) => out({ event: 'reachability', reachability: r, ms: Date.now() - started }))
  node.on('user-joined', (u: string) => out({ event: 'user-joined', user: u, ms: Date.now() - started }))
  await node.start({ joinTimeout: 0 })
  out({ event: 'ready', address: node.address })
  const rl = createInterface({ input: process.stdin })
  rl.on('line', (line) => {
    const c = JSON.parse(line) as { id: number; cmd: string; to?: string; text?: string }
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
        // Direct sessions too, with the relay a relayed one runs through ("user via host:port").
        const direct = node.links({ direct: true }).map((l) => (l.via ? `${l.username} via ${l.via}` : l.username))
        return reply({ users: node.users(), links: node.links().map((l) => l.username), direct, reachability: node.reachability, stats })
      }
      case 'send':
        return void plugin.send(c.to!, Buffer.from(c.text!)).then(() => reply({ ok: true }), fail)
      case 'broadcast':
        return void plugin.broadcast(Buffer.from(c.text!)).then(() => reply({ ok: true }), fail)
      case 'latency':
        return void node.latency(c.to!).then((ms) => reply({ ms }), fail)
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
  readonly messages: Array<{ from: string; text: string; broadcast: boolean }> = []
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
      else if (m.event === 'message') this.messages.push({ from: m.from as string, text: m.text as string, broadcast: m.broadcast as boolean })
      else if (m.event === 'reachability') this.reach.push({ reachability: m.reachability as NodeState['reachability'], ms: m.ms as number })
    })
  }

  call(cmd: string, args: object = {}): Promise<Record<string, unknown>> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name}: no answer to ${cmd}`)), 5000)
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
    return new Promise<void>((resolve) => {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) return resolve()
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 2000)
      this.proc.once('exit', () => {
        clearTimeout(t)
        resolve()
      })
      this.proc.stdin!.end()
    })
  }
}

if (process.env.P4NET_NS_NODE) {
  child(JSON.parse(process.env.P4NET_NS_NODE) as NsNodeOptions).catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
