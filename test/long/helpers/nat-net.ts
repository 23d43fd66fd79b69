// A NAT testbed in Linux network namespaces, for the long tests of
// reachability, relays and hole punching (npm run test:long, as root).
//
//                       "public" net 10.80.0.0/24, a bridge in its own namespace
//        ┌──────────────┬──────────────┬────────────┴─┬──────────────┬──────────────┐
//   pub1 .11       pub2 .12        r1 .21          r2 .22          r3 .23
//                                   │ masquerade     │ masquerade     │ masquerade random
//                             192.168.81.0/24  192.168.82.0/24  192.168.83.0/24
//                                n1a .2 …         n2a .2 …         n3a .2 …
//
// Every address is in a private test range; no interface is created in the
// root namespace, so no packet reaches the machine's own network. Each
// router forwards (net.ipv4.ip_forward=1 in its namespace only) and runs
// nftables: masquerade for its inside net out of its outside interface
// (`masquerade random` for r3: every connection gets a new, random port),
// and a forward filter that lets in only what answers a connection from
// inside, as a home router does; a connection from outside to the router
// itself is dropped, not refused (so a punch's early SYN is retransmitted
// instead of reset, as behind most home routers). The hosts inside reach the public net
// through their router; nothing outside can dial them.
//
// Namespace names start with a prefix and the test's pid, so stale ones of
// a killed run are found and removed (removeStale), and teardown() always
// removes every namespace (veths and bridges go with them). No software is
// installed here: natUnavailable() says why the lab cannot run (not root,
// no `ip`, no `nft`), and the test skips with that reason.
import { execFileSync } from 'node:child_process'
import { ip, netnsUnavailable, removeStale as removeStaleNamespaces } from '../../helpers/netns.js'

export const PUBLIC_NET = '10.80.0'

export interface NatHost {
  /** Short name: pub1, r1, n1a … */
  name: string
  /** Network namespace. */
  ns: string
  /** The host's address (a router's outside address). */
  addr: string
}

export interface Nat {
  /** 'masquerade' keeps source ports where it can; 'random' maps every connection to a new random port. */
  kind: 'masquerade' | 'random'
  router: NatHost & { inside: string }
  /** The hosts behind it. */
  hosts: NatHost[]
  /** The inside net, "192.168.81". */
  net: string
}

export interface NatLabOptions {
  /** Namespace name prefix (default "p4nat"); the pid follows. */
  prefix?: string
  /** Hosts behind each router (default 1). */
  perNat?: number
}

export { ip }

/** Runs a command inside namespace `ns`; returns its stdout. */
export function inNs(ns: string, cmd: string[], input?: string): string {
  return execFileSync('ip', ['netns', 'exec', ns, ...cmd], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 10_000 })
}

function has(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Why the lab cannot be built here, or null when it can. */
export function natUnavailable(prefix = 'p4nat'): string | null {
  const why = netnsUnavailable(prefix)
  if (why !== null) return why
  if (!has('nft', ['--version'])) return 'nftables (`nft`) is not installed (.ci/run installs it)'
  const probe = `${prefix}${process.pid}-probe`
  ip('netns', 'add', probe)
  try {
    // nftables must work inside a namespace (a kernel without nf_tables or NAT support fails here).
    inNs(probe, ['nft', '-f', '-'], natRules('192.168.0.0/16', 'random'))
  } catch (err) {
    return `nftables NAT does not work in a namespace: ${String((err as { stderr?: string }).stderr ?? err).trim()}`
  } finally {
    try {
      ip('netns', 'del', probe)
    } catch {
      // removed with the stale ones next time
    }
  }
  return null
}

/** Removes namespaces of earlier runs whose process is gone (a run killed before its teardown). */
export function removeStale(prefix = 'p4nat'): void {
  removeStaleNamespaces(prefix)
}

export class NatLab {
  readonly prefix: string
  readonly publicHosts: NatHost[] = []
  readonly nats: Nat[] = []
  private readonly namespaces: string[] = []
  private readonly sw: string
  private readonly onExit = (): void => this.teardown()

  /** Builds the whole lab (throws, having removed what it made, when a step fails). */
  constructor(opts: NatLabOptions = {}) {
    this.prefix = `${opts.prefix ?? 'p4nat'}${process.pid}-`
    this.sw = this.ns('sw')
    process.on('exit', this.onExit)
    try {
      this.build(opts.perNat ?? 1)
    } catch (err) {
      this.teardown()
      throw err
    }
  }

  /** Every host that runs a node: the public ones, then those behind each NAT. */
  get hosts(): NatHost[] {
    return [...this.publicHosts, ...this.nats.flatMap((n) => n.hosts)]
  }

  private ns(name: string): string {
    const ns = `${this.prefix}${name}`
    ip('netns', 'add', ns)
    this.namespaces.push(ns)
    ip('-n', ns, 'link', 'set', 'lo', 'up')
    return ns
  }

  /** A veth from `ns` (named `dev`) to the public bridge, with `addr`/24. */
  private plugPublic(ns: string, dev: string, port: string, addr: string): void {
    ip('-n', this.sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', dev, 'netns', ns)
    ip('-n', this.sw, 'link', 'set', port, 'master', 'br0')
    ip('-n', this.sw, 'link', 'set', port, 'up')
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev)
    ip('-n', ns, 'link', 'set', dev, 'up')
  }

  private build(perNat: number): void {
    ip('-n', this.sw, 'link', 'add', 'br0', 'type', 'bridge')
    ip('-n', this.sw, 'link', 'set', 'br0', 'up')
    for (const [i, name] of ['pub1', 'pub2'].entries()) {
      const ns = this.ns(name)
      const addr = `${PUBLIC_NET}.${11 + i}`
      this.plugPublic(ns, 'eth0', `p-${name}`, addr)
      this.publicHosts.push({ name, ns, addr })
    }
    const kinds: Array<Nat['kind']> = ['masquerade', 'masquerade', 'random']
    for (const [i, kind] of kinds.entries()) {
      const r = `r${i + 1}`
      const net = `192.168.${81 + i}`
      const rns = this.ns(r)
      const outside = `${PUBLIC_NET}.${21 + i}`
      this.plugPublic(rns, 'out0', `p-${r}`, outside)
      // The inside: a bridge in the router, the router's address on it, one veth per host.
      ip('-n', rns, 'link', 'add', 'in0', 'type', 'bridge')
      ip('-n', rns, 'addr', 'add', `${net}.1/24`, 'dev', 'in0')
      ip('-n', rns, 'link', 'set', 'in0', 'up')
      const hosts: NatHost[] = []
      for (let h = 0; h < perNat; h++) {
        const name = `n${i + 1}${String.fromCharCode(97 + h)}`
        const ns = this.ns(name)
        const addr = `${net}.${2 + h}`
        ip('-n', rns, 'link', 'add', `v-${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
        ip('-n', rns, 'link', 'set', `v-${name}`, 'master', 'in0')
        ip('-n', rns, 'link', 'set', `v-${name}`, 'up')
        ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0')
        ip('-n', ns, 'link', 'set', 'eth0', 'up')
        ip('-n', ns, 'route', 'add', 'default', 'via', `${net}.1`)
        hosts.push({ name, ns, addr })
      }
      inNs(rns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
      inNs(rns, ['nft', '-f', '-'], natRules(`${net}.0/24`, kind))
      this.nats.push({ kind, router: { name: r, ns: rns, addr: outside, inside: `${net}.1` }, hosts, net })
    }
  }

  /** Removes every namespace of this lab (idempotent). */
  teardown(): void {
    for (const ns of this.namespaces.splice(0).reverse()) {
      try {
        ip('netns', 'del', ns)
      } catch {
        // already gone
      }
    }
    process.off('exit', this.onExit)
  }
}

/** The router's nftables: masquerade (random ports for 'random') and a forward filter that admits only answers. */
export function natRules(inside: string, kind: Nat['kind']): string {
  return `
table ip nat {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${inside} oifname "out0" masquerade${kind === 'random' ? ' random' : ''}
  }
}
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "in0" oifname "out0" accept
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "out0" ct state new drop
  }
}
`
}
