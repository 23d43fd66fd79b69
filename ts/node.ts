// A p4net node: validated options, identity and data directory, lifecycle,
// events, and the public API of DESIGN.md §5 on top of the overlay. The
// overlay and everything beneath it (sessions, WASM kernels, trust, peer
// cache, plugin routing: ts/node-runtime.ts) is loaded by createNode() and
// start(), not by an import of p4net.
import { EventEmitter } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { P4Error } from './core/errors.js'
import { validateUsername } from './core/username.js'
import { generateIdentity, loadOrCreateIdentity, type Identity } from './core/identity.js'
import { Flag } from './core/protocol.js'
import { Plugin, type PluginHost, type PluginOptions } from './plugin.js'
import type { PluginRouter } from './plugin-router.js'
import { checkTimeout, Reasons, waitUntil } from './join.js'
import type { NodeEvents, NodeStats, NodeStatus, OtherEvent, Reachability, StartOptions, WaitForUserOptions } from './node-types.js'
import type { Overlay, StreamChannel, DataEvent, LinkInfo, OverlayStats, OverlayTimers } from './overlay/overlay.js'
import { emptyStats } from './overlay/types.js'
import { isWildcardHost } from './overlay/lan-config.js'
import { systemClock, type Clock } from './core/clock.js'
import type { PeerCache } from './overlay/peer-cache.js'
import type { TrustPolicy } from './overlay/trust-policy.js'
import type { ConnInfo } from './native/index.js'
import { tcp, tcpTransport } from './transport/tcp.js'
import type { Address } from './transport/types.js'
// Every option's type, range, default, flag and doc live in the schema of
// ts/option-schema.ts; resolveOptions validates through it.
import { isTrustPolicy, parseAddress, resolveOptions, type NodeOptions, type Resolved } from './options.js'

type Runtime = typeof import('./node-runtime.js')
let runtime: Runtime | undefined
let loadingRuntime: Promise<Runtime> | undefined

/** Loads (once per process) what a started node runs on. */
function loadRuntime(): Promise<Runtime> {
  loadingRuntime ??= import('./node-runtime.js').then((m) => (runtime = m))
  return loadingRuntime
}

export { parseAddress }
export type { NodeOptions, Profile } from './options.js'

export type { LinkInfo, OverlayStats, OverlayTimers }
export type { NodeEvents, NodeStats, NodeStatus, Reachability, StartOptions, StatusReason, RelayedBytes, WaitForUserOptions, WireMessage } from './node-types.js'

/** Default wait of start() and waitForUser(). */
const DEFAULT_WAIT_MS = 10_000

const UNKNOWN_REACH = (): Reachability => ({ status: 'unknown', observed: [], checkedAt: 0, answers: { reachable: 0, unreachable: 0, refused: 0, missing: 0 } })


export class Node extends EventEmitter {
  readonly username: string
  readonly identity: Identity
  readonly options: Readonly<NodeOptions>
  private readonly resolved: Resolved
  private overlay: Overlay | null = null
  private readonly plugins = new Map<number, Plugin>()
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new'
  private peerCache: PeerCache | undefined
  private trust: TrustPolicy | undefined
  private readonly reasons: Reasons
  /** Inside start()'s wait for the join. */
  private joining = false
  /** Internal signals for the waits of ts/join.ts (not the public events). */
  private readonly signals = new EventEmitter()
  /** What plugins call, and what reaches them: kept off the public surface of Node (made by start()). */
  private router: PluginRouter | null = null
  /** What a Plugin calls: the router once the node has started; until then only users() and close() work. */
  private readonly host: PluginHost
  private relaysTapped = false

  /** Use createNode(); the constructor only validates (unless createNode already did). */
  constructor(opts: NodeOptions, identity: Identity, resolved: Resolved = resolveOptions(opts)) {
    super()
    this.resolved = resolved
    this.options = opts
    this.username = this.resolved.username
    this.identity = identity
    this.reasons = new Reasons(this.clock)
    this.signals.setMaxListeners(0)
    const notStarted = (): Promise<never> => Promise.reject(new P4Error('NOT_STARTED', 'node is not running (call start())'))
    this.host = {
      send: (p, user, data, o) => (this.router ? this.router.send(p, user, data, o) : notStarted()),
      broadcast: (p, data, o) => (this.router ? this.router.broadcast(p, data, o) : notStarted()),
      openStream: (p, user, o) => (this.router ? this.router.openStream(p, user, o) : notStarted()),
      closed: (p) => this.pluginClosed(p),
      users: (id) => this.users(id),
    }
  }

  private pluginClosed(p: Plugin): void {
    if (this.plugins.get(p.id) === p) this.plugins.delete(p.id)
    if (this.state === 'running') this.overlay?.setPlugins(this.plugins.keys())
  }

  override on<E extends keyof NodeEvents>(event: E, listener: NodeEvents[E]): this
  override on<E extends string | symbol>(event: OtherEvent<E>, listener: (...args: any[]) => void): this
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    if (event === 'relay-wire') this.tapRelays()
    return super.on(event, listener)
  }

  override once<E extends keyof NodeEvents>(event: E, listener: NodeEvents[E]): this
  override once<E extends string | symbol>(event: OtherEvent<E>, listener: (...args: any[]) => void): this
  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    if (event === 'relay-wire') this.tapRelays()
    return super.once(event, listener)
  }

  /** 'relay-wire' has a listener: the relay side reports what it passes on (only then: it names both ends per frame). */
  private tapRelays(): void {
    if (this.relaysTapped || !this.overlay) return
    this.relaysTapped = true
    this.overlay.tapRelays((from, to, bytes) => this.emit('relay-wire', { from, to, bytes }))
  }

  override off<E extends keyof NodeEvents>(event: E, listener: NodeEvents[E]): this
  override off<E extends string | symbol>(event: OtherEvent<E>, listener: (...args: any[]) => void): this
  override off(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.off(event, listener)
  }

  /** The address actually bound (after start()): the listening socket's host and port. */
  get address(): Address {
    const a = this.overlay?.address
    if (!a) throw new P4Error('NOT_STARTED', 'node.address is known after start()')
    return { host: a.host, port: a.port }
  }

  /**
   * The address other nodes are told to dial (HELLO) and the bound port:
   * advertiseHost when given, else the bound host; bound to 0.0.0.0 or ::,
   * the address its peers dialled it back at (reachability 'public'), before
   * that one its peers on two or more IP addresses see it at, else 127.0.0.1.
   */
  get advertisedAddress(): Address {
    const o = this.overlay
    const a = o?.address
    if (!o || !a) throw new P4Error('NOT_STARTED', 'node.advertisedAddress is known after start()')
    return { host: o.advertiseHost, port: a.port }
  }

  /**
   * Whether other nodes can dial this one: 'public' once a quorum of peers
   * (reach.quorum of reach.peers asked) dialled it back, 'private' once a
   * quorum could not (behind NAT or a firewall), else 'unknown'; where peers
   * see it (observed); announced in its HELLO. 'reachability' events tell changes.
   */
  get reachability(): Reachability {
    return this.overlay?.reachability ?? UNKNOWN_REACH()
  }

  private get clock(): Clock {
    return this.options.clock ?? systemClock
  }

  get running(): boolean {
    return this.state === 'running'
  }

  /**
   * Listens, then joins: with a bootstrap or cached peers, resolves once a
   * link is up and its user table has arrived, or after opts.joinTimeout
   * (then with a 'warning' NOT_JOINED that says why; joining goes on).
   */
  async start(opts: StartOptions = {}): Promise<void> {
    if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_ARGUMENT', 'start options must be an object')
    for (const k of Object.keys(opts)) if (k !== 'joinTimeout') throw new P4Error('BAD_ARGUMENT', `unknown start option ${JSON.stringify(k)}`)
    const joinTimeout = checkTimeout(opts.joinTimeout, DEFAULT_WAIT_MS, 'joinTimeout')
    if (this.state === 'stopping' || this.state === 'stopped') {
      throw new P4Error('CLOSED', `node is ${this.state}: a stopped node does not start again; create a new one with createNode()`)
    }
    if (this.state !== 'new') throw new P4Error('ALREADY_STARTED', `node is already ${this.state}`)
    this.state = 'starting'
    const rt = runtime ?? (await loadRuntime())
    if (this.state !== 'starting') throw new P4Error('CLOSED', 'node was stopped while starting')
    const o = this.options
    const dataDir = o.dataDir
    if (dataDir) {
      await mkdir(dataDir, { recursive: true, mode: 0o700 })
      if (this.state !== 'starting') throw new P4Error('CLOSED', 'node was stopped while starting')
    }
    // Stored entries a newer rule refuses are dropped with a warning, never a reason not to start.
    const warn = (err: P4Error): void => this.warn(err)
    const trust = isTrustPolicy(o.trust) ? o.trust : rt.createTrustPolicy(o.trust, { dataDir, warn, now: () => this.clock.wall() })
    trust.bindOwn?.(this.username, this.identity.publicKey)
    this.trust = trust
    this.peerCache = dataDir ? new rt.PeerCache({ dataDir, warn }) : undefined
    const node = this
    this.router = new rt.PluginRouter({
      username: this.username,
      identity: this.identity,
      maxMessage: this.resolved.cfg.maxMessage,
      plugins: this.plugins,
      running: () => (node.state === 'running' ? node.overlay : null),
      users: (id) => node.users(id),
      pluginClosed: (p) => node.pluginClosed(p),
    })
    const router = this.router
    const overlay = new rt.Overlay({
      ...this.resolved.cfg,
      // No advertiseHost for a node listening everywhere: it learns from its peers where it is reached.
      learnAdvertiseHost: o.advertiseHost === undefined && isWildcardHost(this.resolved.host),
      identity: this.identity,
      transport: o.transport ?? (o.socket ? tcpTransport({ socket: o.socket }) : tcp),
      trust,
      peerCache: this.peerCache,
      random: Math.random,
      clock: this.clock,
    })
    this.overlay = overlay
    overlay.setPlugins(this.plugins.keys())
    overlay.ondata = (e: DataEvent) => {
      // Diagnostics: every DATA as it arrived, before end-to-end decryption.
      if (this.listenerCount('wire') > 0) this.emit('wire', { pluginId: e.pluginId, from: e.from, body: e.body, broadcast: (e.flags & Flag.BROADCAST) !== 0, encrypted: (e.flags & Flag.ENCRYPTED) !== 0 })
      router.onData(e)
    }
    for (const ev of ['user-joined', 'user-left', 'user-moved', 'link-up', 'link-down', 'joined', 'reachability']) {
      overlay.on(ev, (...args: unknown[]) => {
        this.signals.emit(ev)
        this.emit(ev, ...args)
      })
    }
    overlay.on('stream', (ch: StreamChannel) => router.onStream(ch))
    if (this.listenerCount('relay-wire') > 0) this.tapRelays()
    overlay.on('user-updated', () => this.signals.emit('user-updated'))
    overlay.on('warning', (err: P4Error) => this.warn(err))
    try {
      await overlay.start()
    } catch (err) {
      this.state = 'stopped'
      await overlay.stop().catch(() => undefined)
      throw err instanceof P4Error ? err : new P4Error('IO_ERROR', `cannot listen on ${this.resolved.host}:${this.resolved.port}: ${(err as Error).message}`, { cause: err })
    }
    this.state = 'running'
    this.emit('listening', this.address)
    if (joinTimeout > 0 && overlay.hasJoinTargets) await this.waitForJoin(overlay, joinTimeout)
  }

  private async waitForJoin(overlay: Overlay, timeoutMs: number): Promise<void> {
    this.joining = true
    try {
      await waitUntil(this.signals, ['joined'], () => overlay.joined, this.clock, timeoutMs, () => {
        const why = this.reasons.latest
        return new P4Error('NOT_JOINED', `not joined after ${timeoutMs} ms${why ? `: ${why.message}` : ': no link came up'}; still trying`, { cause: why })
      })
    } catch (err) {
      // Alone after the deadline, or stopped meanwhile: start() still succeeded.
      if (err instanceof P4Error && err.code === 'NOT_JOINED') this.warn(err)
    } finally {
      this.joining = false
    }
  }

  /** A 'warning' event, kept for status(). */
  private warn(err: P4Error): void {
    this.reasons.add(err)
    this.emit('warning', err)
  }

  /** Whether the node is in a network, and the latest reasons it could not join or link. */
  status(): NodeStatus {
    const links = this.overlay?.linkCount ?? 0
    const reasons = this.reasons.snapshot()
    const reachability = this.reachability
    switch (this.state) {
      case 'new':
        return { state: 'new', links, reasons, reachability }
      case 'stopping':
      case 'stopped':
        return { state: 'stopped', links, reasons, reachability }
      case 'starting':
        return { state: 'joining', links, reasons, reachability }
      default:
        if (links > 0 && this.overlay?.joined) return { state: 'joined', links, reasons, reachability }
        return { state: links > 0 || this.joining ? 'joining' : 'alone', links, reasons, reachability }
    }
  }

  /**
   * Resolves once `user` is online here (and runs opts.plugin, if given);
   * TIMEOUT after opts.timeout ms (default 10,000), CLOSED if the node stops.
   */
  async waitForUser(user: string, opts: WaitForUserOptions = {}): Promise<void> {
    validateUsername(user)
    if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_ARGUMENT', 'waitForUser options must be an object')
    for (const k of Object.keys(opts)) if (k !== 'timeout' && k !== 'plugin') throw new P4Error('BAD_ARGUMENT', `unknown waitForUser option ${JSON.stringify(k)}`)
    const timeoutMs = checkTimeout(opts.timeout, DEFAULT_WAIT_MS, 'timeout')
    const pluginId = opts.plugin
    if (pluginId !== undefined && (typeof pluginId !== 'number' || !Number.isInteger(pluginId) || pluginId < 0 || pluginId > 0xffff)) {
      throw new P4Error('BAD_ARGUMENT', `plugin must be an integer 0..65535, got ${String(pluginId)}`)
    }
    const overlay = this.requireOverlay()
    const present = (): boolean => {
      if (user === this.username) return pluginId === undefined || this.plugins.has(pluginId)
      const e = overlay.user(user)
      return e !== undefined && (pluginId === undefined || e.plugins.includes(pluginId))
    }
    const what = pluginId === undefined ? `user "${user}"` : `user "${user}" with plugin ${pluginId}`
    await waitUntil(this.signals, ['user-joined', 'user-updated', 'user-moved'], present, this.clock, timeoutMs, () => {
      const known = overlay.user(user) !== undefined
      const why = known ? `${user} is online but does not run plugin ${pluginId}` : this.reasons.latest?.message ?? `links: ${overlay.linkCount}`
      return new P4Error('TIMEOUT', `no ${what} after ${timeoutMs} ms (${why})`)
    })
  }

  /** Sends BYE, closes every link and timer; resolves when all is closed. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return
    if (this.state === 'new') {
      this.state = 'stopped'
      return
    }
    this.state = 'stopping'
    this.signals.emit('stopping')
    for (const p of [...this.plugins.values()]) p.close()
    await this.overlay?.stop()
    await this.peerCache?.flush().catch(() => undefined)
    // Pins learned in this run reach the disk before stop() resolves.
    const flushable = this.trust as { flush?: () => Promise<void> } | undefined
    await flushable?.flush?.().catch((err: unknown) => this.emit('error', err))
    this.state = 'stopped'
  }

  private requireOverlay(): Overlay {
    if (this.state !== 'running' || !this.overlay) throw new P4Error('NOT_STARTED', 'node is not running (call start())')
    return this.overlay
  }

  /** Registers (or returns) the handle for plugin `id`; HELLO announces it. */
  plugin(id: number, opts: PluginOptions = {}): Plugin {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffff) throw new P4Error('BAD_ARGUMENT', `plugin id must be an integer 0..65535, got ${String(id)}`)
    if (this.state === 'stopping' || this.state === 'stopped') throw new P4Error('CLOSED', 'node is stopped')
    const existing = this.plugins.get(id)
    if (existing) return existing
    const p = new Plugin(this.host, id, opts)
    this.plugins.set(id, p)
    this.overlay?.setPlugins(this.plugins.keys())
    return p
  }

  /** Every known online user (this one included); with a plugin ID, those running it. */
  users(pluginId?: number): string[] {
    if (pluginId !== undefined && (!Number.isInteger(pluginId) || pluginId < 0 || pluginId > 0xffff)) {
      throw new P4Error('BAD_ARGUMENT', `plugin id must be an integer 0..65535, got ${String(pluginId)}`)
    }
    const others = this.overlay ? this.overlay.users(pluginId) : []
    const self = pluginId === undefined || this.plugins.has(pluginId) ? [this.username] : []
    return [...self, ...others.filter((u) => u !== this.username)].sort()
  }

  /** users().length without building the sorted list (stats() is polled). */
  private userCount(): number {
    const o = this.overlay
    if (!o) return 1
    return 1 + o.userCount() - (o.user(this.username) ? 1 : 0)
  }

  /** Plugin IDs `user` runs. UNKNOWN_USER when nobody of that name is known. */
  pluginsOf(user: string): number[] {
    if (user === this.username) return [...this.plugins.keys()].sort((a, b) => a - b)
    const e = this.overlay?.user(user)
    if (!e) throw new P4Error('UNKNOWN_USER', `no known user "${String(user)}"`)
    return [...e.plugins]
  }

  /** Round-trip time to `user` in milliseconds, measured with PING / PING-ACK. */
  async latency(user: string): Promise<number> {
    const overlay = this.requireOverlay()
    if (typeof user !== 'string') throw new P4Error('BAD_ARGUMENT', 'user must be a string')
    if (user === this.username) return 0
    return overlay.latency(user)
  }

  /**
   * Overlay links (and, with { direct: true }, direct sessions too). On TCP,
   * `tcp` carries the kernel's smoothed RTT, variance, retransmits and
   * congestion window where the native addon is built.
   */
  links(opts: { direct?: boolean } = {}): Array<LinkInfo & { tcp?: ConnInfo }> {
    const o = this.overlay
    if (!o) return []
    return o.linkViews(opts.direct === true).map(({ info, conn }) => {
      const out: LinkInfo & { tcp?: ConnInfo } = info
      const tcpInfo = runtime?.connInfo(conn)
      if (tcpInfo) out.tcp = tcpInfo
      return out
    })
  }

  /**
   * Replaces this node's username certificate (authority policy), e.g. a
   * renewal before the current one expires, and announces it in a new HELLO.
   * Peers close the sessions of a user whose certificate expired, so a node
   * on short-lived certificates renews here. UNTRUSTED_KEY when the policy
   * refuses it for this node.
   */
  setCertificate(certificate: Uint8Array): void {
    if (!(certificate instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'certificate must be a Uint8Array')
    const overlay = this.requireOverlay()
    overlay.setCertificate(Uint8Array.from(certificate))
  }

  /**
   * Opens an overlay link to the node at host:port (P4's "add connection").
   * With `{ user }`, the node there must be that user, else UNREACHABLE (and
   * a link this call opened is closed again).
   */
  async connect(host: string, port: number, opts: { user?: string } = {}): Promise<LinkInfo> {
    const overlay = this.requireOverlay()
    const addr = parseAddress({ host, port }, 'connect address', 'BAD_ARGUMENT')
    if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_ARGUMENT', 'connect options must be an object')
    if (opts.user !== undefined) validateUsername(opts.user)
    return overlay.connect(addr.host, addr.port, opts.user)
  }

  /** Closes the link (and direct session) with `user`, as a node pruning a link would; false when there is none. */
  disconnect(user: string): boolean {
    const overlay = this.requireOverlay()
    if (typeof user !== 'string') throw new P4Error('BAD_ARGUMENT', 'user must be a string')
    return overlay.disconnect(user)
  }

  stats(): NodeStats {
    const o = this.overlay
    const base = o ? o.stats() : { ...emptyStats(), dedupEntries: 0, dedupBytes: 0, handshakesPending: 0, lanEntries: 0 }
    return { ...base, links: o?.linkCount ?? 0, directSessions: o?.directCount ?? 0, users: this.userCount() }
  }
}

/** Creates a node (not yet started): validates options, loads or makes the identity. */
export async function createNode(opts: NodeOptions): Promise<Node> {
  const resolved = resolveOptions(opts) // validates the identity too, before touching the disk
  // The WebAssembly kernel compiles off the main thread while the runtime's modules load.
  const compiling = import('./wasm/loader.js').then((l) => l.precompileKernel())
  await Promise.all([loadRuntime(), compiling])
  const identity = opts.identity ?? (opts.dataDir ? await loadOrCreateIdentity(opts.dataDir) : generateIdentity())
  return new Node(opts, identity, resolved)
}
