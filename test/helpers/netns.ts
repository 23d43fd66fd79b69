// Network namespaces for long tests (as root, on Linux): a bridge in a
// namespace of its own and host namespaces wired to it by veth pairs, each
// with an address in a private test subnet, so no packet reaches this
// machine's own interfaces. Child processes run in the host namespaces
// (`ip netns exec`) and talk JSON lines: events on stdout ({ event: ... }),
// commands on stdin ({ id, cmd, ... }) answered with the same id. Namespaces
// are removed by teardown(), at process exit, and (left by a killed run)
// by removeStale() at the next run.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'

export function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 })
}

/** Why namespaces cannot be used here, or null when they can. */
export function netnsUnavailable(prefix: string): string | null {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not running as root'
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' })
  } catch {
    return 'iproute2 (`ip`) is not installed'
  }
  const probe = `${prefix}${process.pid}-probe`
  try {
    ip('netns', 'add', probe)
  } catch (err) {
    return `cannot create a network namespace: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`
  }
  try {
    ip('netns', 'del', probe)
  } catch {
    // removed with the rest
  }
  return null
}

/** Namespaces named `<prefix><pid>-…` whose process is gone (a run killed before its cleanup). */
export function removeStale(prefix: string): void {
  let list = ''
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  } catch {
    return
  }
  for (const line of list.split('\n')) {
    const m = new RegExp(`^(${prefix}(\\d+)-\\S+)`).exec(line)
    if (!m) continue
    let alive = true
    try {
      process.kill(Number(m[2]), 0)
    } catch {
      alive = false
    }
    if (!alive || Number(m[2]) === process.pid) {
      try {
        ip('netns', 'del', m[1]!)
      } catch {
        // already gone
      }
    }
  }
}

export interface ChildHost {
  index: number
  ns: string
  addr: string
  proc: ChildProcess
  /** Events the child printed, in order (not replies). */
  events: Array<Record<string, unknown>>
  /** Resolves on the child's { event: 'ready' }. */
  ready: Promise<void>
  call(cmd: string, args?: object, timeoutMs?: number): Promise<Record<string, unknown>>
}

export class NetnsLab {
  readonly sw: string
  readonly namespaces: string[] = []
  readonly hosts: ChildHost[] = []
  private readonly onExit = (): void => this.removeNamespaces()

  /** `subnet`: the first three octets of a /24 ("10.79.0"); host i gets .i+1. */
  constructor(
    private readonly prefix: string,
    private readonly subnet: string,
  ) {
    this.sw = `${prefix}${process.pid}-sw`
    process.on('exit', this.onExit)
  }

  nsOf(i: number): string {
    return `${this.prefix}${process.pid}-h${i}`
  }

  addrOf(i: number): string {
    return `${this.subnet}.${i + 1}`
  }

  /**
   * The bridge and `n` host namespaces on it (eth0 inside, p<i> on the
   * bridge). `multicast`: a route for 224.0.0.0/4 on eth0 in each host, and
   * no IGMP snooping on the bridge (it floods the group to every port).
   */
  build(n: number, opts: { multicast?: boolean } = {}): void {
    ip('netns', 'add', this.sw)
    this.namespaces.push(this.sw)
    ip('-n', this.sw, 'link', 'add', 'br0', 'type', 'bridge')
    if (opts.multicast) ip('-n', this.sw, 'link', 'set', 'br0', 'type', 'bridge', 'mcast_snooping', '0')
    ip('-n', this.sw, 'link', 'set', 'br0', 'up')
    for (let i = 0; i < n; i++) {
      const ns = this.nsOf(i)
      ip('netns', 'add', ns)
      this.namespaces.push(ns)
      ip('-n', this.sw, 'link', 'add', `p${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
      ip('-n', this.sw, 'link', 'set', `p${i}`, 'master', 'br0')
      ip('-n', this.sw, 'link', 'set', `p${i}`, 'up')
      ip('-n', ns, 'addr', 'add', `${this.addrOf(i)}/24`, 'dev', 'eth0')
      ip('-n', ns, 'link', 'set', 'eth0', 'up')
      ip('-n', ns, 'link', 'set', 'lo', 'up')
      if (opts.multicast) ip('-n', ns, 'route', 'add', '224.0.0.0/4', 'dev', 'eth0')
    }
  }

  /** Runs `node <file>` in host i's namespace with `env` added. */
  start(i: number, file: string, env: Record<string, string>): ChildHost {
    const ns = this.nsOf(i)
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, file], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] })
    const pending = new Map<number, (r: Record<string, unknown>) => void>()
    let nextId = 1
    let markReady!: () => void
    let failReady!: (err: Error) => void
    const host: ChildHost = {
      index: i,
      ns,
      addr: this.addrOf(i),
      proc,
      events: [],
      ready: new Promise<void>((resolve, reject) => ((markReady = resolve), (failReady = reject))),
      call(cmd, args = {}, timeoutMs = 5000) {
        const id = nextId++
        return new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`host ${i}: no answer to ${cmd}`)), timeoutMs)
          pending.set(id, (r) => {
            clearTimeout(t)
            resolve(r)
          })
          proc.stdin!.write(JSON.stringify({ id, cmd, ...args }) + '\n')
        })
      },
    }
    proc.on('exit', (code) => failReady(new Error(`host ${i} exited (${code}) before it was ready`)))
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let m: Record<string, unknown>
      try {
        m = JSON.parse(line) as Record<string, unknown>
      } catch {
        return // not ours
      }
      if (typeof m.id === 'number') pending.get(m.id)?.(m)
      else {
        host.events.push(m)
        if (m.event === 'ready') markReady()
      }
    })
    this.hosts.push(host)
    return host
  }

  /** Ends the children (stdin closed, SIGKILL after 2 s) and removes every namespace. */
  async teardown(): Promise<void> {
    await Promise.all(this.hosts.map((h) => stopChild(h.proc)))
    this.removeNamespaces()
    process.off('exit', this.onExit)
  }

  private removeNamespaces(): void {
    for (const h of this.hosts) if (h.proc.exitCode === null) h.proc.kill('SIGKILL')
    for (const ns of this.namespaces.splice(0)) {
      try {
        ip('netns', 'del', ns)
      } catch {
        // already gone
      }
    }
  }
}

/** Polls `cond` every 50 ms until it holds; throws naming `what()` after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: () => string | Promise<string>): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    if (await cond()) return
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${await what()}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Ends a child driven over stdin: closing stdin stops its node; SIGKILL after 2 s. */
export function stopChild(proc: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve()
    const t = setTimeout(() => proc.kill('SIGKILL'), 2000)
    proc.once('exit', () => {
      clearTimeout(t)
      resolve()
    })
    proc.stdin!.end()
  })
}
