// A p4net node: validated options, identity and data directory, lifecycle,
// events, and the public API of DESIGN.md §5 on top of the overlay.
import { EventEmitter } from 'node:events'
import { mkdirSync } from 'node:fs'
import { P4Error } from './core/errors.js'
import { generateIdentity, loadOrCreateIdentity, type Identity } from './core/identity.js'
import { DEFAULT_HOP_LIMIT, DEFAULT_MAX_MESSAGE, Flag, MsgType, messageIdOf } from './core/protocol.js'
import { Plugin, type BroadcastOptions, type PluginHost, type PluginOptions, type SendOptions } from './plugin.js'
import { e2eAad, groupAad, openFrom, openGroup, sealGroup, sealTo } from './e2e.js'
import { Overlay, type DataEvent, type LinkInfo, type OverlayConfig, type OverlayStats, type OverlayTimers } from './overlay/overlay.js'
import { emptyStats } from './overlay/types.js'
import { randomId } from './core/ids.js'
import { systemClock, type Clock } from './core/clock.js'
import { PeerCache } from './overlay/peer-cache.js'
import { DEFAULT_QUOTAS, SMALL_QUOTAS, resolveQuotas, type Quotas } from './overlay/quotas.js'
import { createTrustPolicy, parseTrustConfig, type TrustConfig, type TrustPolicy } from './overlay/trust.js'
import { checkSocketOptions, connInfo, type ConnInfo, type SocketOptions } from './native/index.js'
import { validateHost } from './overlay/messages.js'
import { tcp, tcpTransport } from './transport/tcp.js'
import type { Address, Transport } from './transport/types.js'
import { validateUsername } from './core/username.js'
import { DEDUP_MAX_CAPACITY, DEDUP_MIN_CAPACITY } from './wasm/dedup.js'

export type Profile = 'default' | 'small'

export interface NodeOptions {
  /** 1–31 bytes of UTF-8 under the username rules of docs/protocol.md (lower case, one script, no invisible characters). Required. */
  username: string
  /** From generateIdentity(); default: loaded from (or created in) dataDir, else generated. */
  identity?: Identity
  /** Listen host (default 127.0.0.1). */
  host?: string
  /** Listen port; 0 = any free port (default). */
  port?: number
  /** Host put in HELLO for others to reach this node (default: host). */
  advertiseHost?: string
  /** Nodes to join through: "host:port" or { host, port }. */
  bootstrap?: Array<string | Address>
  /** Where identity, pinned keys and the peer cache live (optional). */
  dataDir?: string
  /** tcp (default) or a memory transport (memoryTransport(network)). */
  transport?: Transport
  /** Link targets: keep between min and max; never more than hardCap. */
  links?: { min?: number; max?: number; hardCap?: number }
  /** Largest plugin payload in bytes (default 16 MiB; small profile 1 MiB). */
  maxMessage?: number
  /** Relayed messages are dropped after this many hops (default 16). */
  hopLimit?: number
  /** Trust policy (default tofu). */
  trust?: TrustConfig | TrustPolicy
  /** Username certificate for the authority trust policy. */
  certificate?: Uint8Array
  /** 'small' lowers every bound together for constrained devices. */
  profile?: Profile
  discover?: { forwardProbability?: number; minHops?: number; maxHops?: number }
  timers?: Partial<OverlayTimers>
  /** Seen-message table: fixed capacity (entries) and TTL (default 600 s). */
  dedup?: { capacity?: number; ttlMs?: number }
  maxUsers?: number
  maxDirect?: number
  /** Bytes queued per session before send() waits for it to drain. */
  highWaterMark?: number
  /** Per-peer quotas (see ts/overlay/quotas.ts); exceeding one cuts the peer off. */
  quotas?: Partial<Quotas>
  /** Socket options for the default tcp transport (native addon where built, else Node's own). */
  socket?: SocketOptions
  /**
   * Time and timers (default: the system clock). A ManualClock lets tests and
   * simulations on the memory transport drive the protocol's time.
   */
  clock?: Clock
}

interface ProfileDefaults {
  links: { min: number; max: number; hardCap: number }
  maxMessage: number
  dedupCapacity: number
  maxUsers: number
  maxDirect: number
  highWaterMark: number
}

const PROFILES: Record<Profile, ProfileDefaults> = {
  default: { links: { min: 4, max: 12, hardCap: 64 }, maxMessage: DEFAULT_MAX_MESSAGE, dedupCapacity: 1 << 16, maxUsers: 4096, maxDirect: 32, highWaterMark: 1 << 20 },
  small: { links: { min: 2, max: 4, hardCap: 8 }, maxMessage: 1 << 20, dedupCapacity: 1 << 12, maxUsers: 512, maxDirect: 4, highWaterMark: 64 << 10 },
}

const DEFAULT_TIMERS: OverlayTimers = {
  maintenanceMs: 1000,
  pingIntervalMs: 15_000,
  linkMinAgeMs: 30_000,
  directIdleMs: 60_000,
  helloRefreshMs: 300_000,
  userTimeoutMs: 900_000,
  handshakeTimeoutMs: 10_000,
  requestTimeoutMs: 5000,
  walkTimeoutMs: 5000,
  lkaSyncMs: 60_000,
  clockSkewMs: 600_000,
}

const KNOWN_OPTIONS = new Set([
  'username', 'identity', 'host', 'port', 'advertiseHost', 'bootstrap', 'dataDir', 'transport', 'links', 'maxMessage', 'hopLimit',
  'trust', 'certificate', 'profile', 'discover', 'timers', 'dedup', 'maxUsers', 'maxDirect', 'highWaterMark', 'socket', 'quotas', 'clock',
])

function bad(message: string): never {
  throw new P4Error('BAD_OPTION', message)
}

function int(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`${name} must be an integer ${min}..${max}, got ${String(v)}`)
  return v
}

/** Parses "host:port" / "[v6]:port" / { host, port }. Throws BAD_OPTION. */
export function parseAddress(a: unknown, what = 'address', code: 'BAD_OPTION' | 'BAD_ARGUMENT' = 'BAD_OPTION'): Address {
  const bad: (message: string) => never = (message) => {
    throw new P4Error(code, message)
  }
  let host: unknown
  let port: unknown
  if (typeof a === 'string') {
    const m = /^\[?([^\]]*)\]?:(\d{1,5})$/.exec(a.trim())
    if (!m) bad(`${what} must look like host:port, got ${JSON.stringify(a)}`)
    host = m[1]
    port = Number(m[2])
  } else if (typeof a === 'object' && a !== null) {
    host = (a as Address).host
    port = (a as Address).port
  } else bad(`${what} must be "host:port" or { host, port }`)
  if (typeof host !== 'string' || host.length === 0) bad(`${what}: host must be a non-empty string`)
  try {
    validateHost(host)
  } catch {
    bad(`${what}: invalid host ${JSON.stringify(host)}`)
  }
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) bad(`${what}: port must be 1..65535, got ${String(port)}`)
  return { host, port }
}

function isTransport(t: unknown): t is Transport {
  return typeof t === 'object' && t !== null && typeof (t as Transport).listen === 'function' && typeof (t as Transport).dial === 'function'
}

function isTrustPolicy(t: unknown): t is TrustPolicy {
  return typeof t === 'object' && t !== null && typeof (t as TrustPolicy).check === 'function'
}

interface Resolved {
  username: string
  host: string
  port: number
  advertiseHost: string
  bootstrap: Address[]
  profile: ProfileDefaults & { name: Profile }
  cfg: Omit<OverlayConfig, 'identity' | 'trust' | 'peerCache' | 'transport' | 'random' | 'clock'>
}

/** Validates every option up front: a node never starts half-configured. */
function resolveOptions(opts: NodeOptions): Resolved {
  if (typeof opts !== 'object' || opts === null) bad('options must be an object')
  for (const k of Object.keys(opts)) if (!KNOWN_OPTIONS.has(k)) bad(`unknown option ${JSON.stringify(k)}`)
  const username = validateUsername(opts.username)
  const profileName = opts.profile ?? 'default'
  if (profileName !== 'default' && profileName !== 'small') bad(`profile must be "default" or "small", got ${JSON.stringify(profileName)}`)
  const p = PROFILES[profileName]
  const host = opts.host ?? '127.0.0.1'
  if (typeof host !== 'string' || host.length === 0) bad('host must be a non-empty string')
  const port = int(opts.port, 'port', 0, 65535, 0)
  const advertiseHost = opts.advertiseHost ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host)
  if (typeof advertiseHost !== 'string') bad('advertiseHost must be a string')
  if (opts.bootstrap !== undefined && !Array.isArray(opts.bootstrap)) bad('bootstrap must be an array of "host:port"')
  const bootstrap = (opts.bootstrap ?? []).map((b, i) => parseAddress(b, `bootstrap[${i}]`))
  const links = opts.links ?? {}
  if (typeof links !== 'object' || links === null) bad('links must be an object { min, max }')
  const hardCap = int(links.hardCap, 'links.hardCap', 1, 4096, Math.max(p.links.hardCap, links.max ?? 0))
  const max = int(links.max, 'links.max', 1, hardCap, Math.min(p.links.max, hardCap))
  const min = int(links.min, 'links.min', 0, max, Math.min(p.links.min, max))
  const timersIn = opts.timers ?? {}
  if (typeof timersIn !== 'object' || timersIn === null) bad('timers must be an object')
  const timers = { ...DEFAULT_TIMERS }
  for (const [k, v] of Object.entries(timersIn)) {
    if (!(k in DEFAULT_TIMERS)) bad(`unknown timer ${JSON.stringify(k)}`)
    timers[k as keyof OverlayTimers] = int(v, `timers.${k}`, 1, 2 ** 31 - 1, 0)
  }
  const d = opts.discover ?? {}
  const forwardProbability = d.forwardProbability ?? 0.9
  if (typeof forwardProbability !== 'number' || !(forwardProbability >= 0 && forwardProbability < 1)) bad('discover.forwardProbability must be in [0, 1)')
  const maxHops = int(d.maxHops, 'discover.maxHops', 1, 255, 8)
  const minHops = int(d.minHops, 'discover.minHops', 0, maxHops, Math.min(2, maxHops))
  const dd = opts.dedup ?? {}
  const dedupCapacity = int(dd.capacity, 'dedup.capacity', DEDUP_MIN_CAPACITY, DEDUP_MAX_CAPACITY, p.dedupCapacity)
  const ttlMs = int(dd.ttlMs, 'dedup.ttlMs', 1, 2 ** 31 - 1, 600_000)
  const maxMessage = int(opts.maxMessage, 'maxMessage', 1, 256 * 1024 * 1024, p.maxMessage)
  const hopLimit = int(opts.hopLimit, 'hopLimit', 1, 255, DEFAULT_HOP_LIMIT)
  const maxUsers = int(opts.maxUsers, 'maxUsers', 1, 1 << 20, p.maxUsers)
  const maxDirect = int(opts.maxDirect, 'maxDirect', 1, 4096, p.maxDirect)
  const highWaterMark = int(opts.highWaterMark, 'highWaterMark', 1024, 1 << 30, p.highWaterMark)
  if (opts.dataDir !== undefined && (typeof opts.dataDir !== 'string' || opts.dataDir.length === 0)) bad('dataDir must be a non-empty string')
  if (opts.transport !== undefined && !isTransport(opts.transport)) bad('transport must be a Transport (tcp or memoryTransport(network))')
  if (opts.certificate !== undefined && !(opts.certificate instanceof Uint8Array)) bad('certificate must be a Uint8Array')
  if (opts.trust !== undefined && !isTrustPolicy(opts.trust)) parseTrustConfig(opts.trust) // throws BAD_OPTION
  if (opts.clock !== undefined) {
    const c = opts.clock as Partial<Clock> | null
    if (typeof c !== 'object' || c === null || typeof c.now !== 'function' || typeof c.wall !== 'function' || typeof c.setTimeout !== 'function' || typeof c.clearTimeout !== 'function') {
      bad('clock must be a Clock (now, wall, setTimeout, clearTimeout), e.g. new ManualClock()')
    }
  }
  if (opts.socket !== undefined) {
    if (opts.transport !== undefined) bad('socket options apply to the default tcp transport; configure your transport instead')
    checkSocketOptions(opts.socket)
  }
  return {
    username,
    host,
    port,
    advertiseHost,
    bootstrap,
    profile: { ...p, name: profileName },
    cfg: {
      username,
      host,
      port,
      advertiseHost,
      bootstrap,
      links: { min, max, hardCap },
      maxDirect,
      maxMessage,
      hopLimit,
      discover: { forwardProbability, minHops, maxHops },
      timers,
      dedup: { capacity: dedupCapacity, ttlMs },
      maxUsers,
      certificate: opts.certificate,
      highWaterMark,
      quotas: resolveQuotas(opts.quotas, profileName === 'small' ? SMALL_QUOTAS : DEFAULT_QUOTAS),
    },
  }
}

export type { LinkInfo, OverlayStats, OverlayTimers }

/** A DATA message as it arrived, before end-to-end decryption (the 'wire' event, for diagnostics). */
export interface WireMessage {
  pluginId: number
  /** The sender, as the user table names its key. */
  from: string
  /** The payload as carried: a sealed box when `encrypted`. */
  body: Uint8Array
  broadcast: boolean
  encrypted: boolean
}

export interface NodeStats extends OverlayStats {
  links: number
  directSessions: number
  users: number
  dedupEntries: number
  dedupBytes: number
  /** Inbound handshakes in progress plus sessions being torn down (capped by quotas.maxPendingHandshakes). */
  handshakesPending: number
}

export class Node extends EventEmitter implements PluginHost {
  readonly username: string
  readonly identity: Identity
  readonly options: Readonly<NodeOptions>
  private readonly resolved: Resolved
  private overlay: Overlay | null = null
  private readonly plugins = new Map<number, Plugin>()
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new'
  private peerCache: PeerCache | undefined
  private trust: TrustPolicy | undefined

  /** Use createNode(); the constructor only validates (unless createNode already did). */
  constructor(opts: NodeOptions, identity: Identity, resolved: Resolved = resolveOptions(opts)) {
    super()
    this.resolved = resolved
    this.options = opts
    this.username = this.resolved.username
    this.identity = identity
  }

  /** The address actually bound (after start()). */
  get address(): Address {
    const a = this.overlay?.address
    if (!a) throw new P4Error('NOT_STARTED', 'node.address is known after start()')
    return { host: this.resolved.advertiseHost, port: a.port }
  }

  private get clock(): Clock {
    return this.options.clock ?? systemClock
  }

  get running(): boolean {
    return this.state === 'running'
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new P4Error('ALREADY_STARTED', `node is ${this.state}`)
    this.state = 'starting'
    const o = this.options
    const dataDir = o.dataDir
    if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    // Stored entries a newer rule refuses are dropped with a warning, never a reason not to start.
    const warn = (err: P4Error): void => void this.emit('warning', err)
    const trust = isTrustPolicy(o.trust) ? o.trust : createTrustPolicy(o.trust, { dataDir, warn, now: () => this.clock.wall() })
    trust.bindOwn?.(this.username, this.identity.publicKey)
    this.trust = trust
    this.peerCache = dataDir ? new PeerCache({ dataDir, warn }) : undefined
    const overlay = new Overlay({
      ...this.resolved.cfg,
      identity: this.identity,
      transport: o.transport ?? (o.socket ? tcpTransport({ socket: o.socket }) : tcp),
      trust,
      peerCache: this.peerCache,
      random: Math.random,
      clock: this.clock,
    })
    this.overlay = overlay
    overlay.setPlugins(this.plugins.keys())
    overlay.on('data', (e: DataEvent) => {
      // Diagnostics: every DATA as it arrived, before end-to-end decryption.
      if (this.listenerCount('wire') > 0) this.emit('wire', { pluginId: e.pluginId, from: e.from, body: e.body, broadcast: (e.flags & Flag.BROADCAST) !== 0, encrypted: (e.flags & Flag.ENCRYPTED) !== 0 })
      this.onData(e)
    })
    for (const ev of ['user-joined', 'user-left', 'user-moved', 'link-up', 'link-down', 'warning']) {
      overlay.on(ev, (...args: unknown[]) => this.emit(ev, ...args))
    }
    try {
      await overlay.start()
    } catch (err) {
      this.state = 'stopped'
      await overlay.stop().catch(() => undefined)
      throw err instanceof P4Error ? err : new P4Error('IO_ERROR', `cannot listen on ${this.resolved.host}:${this.resolved.port}: ${(err as Error).message}`, { cause: err })
    }
    this.state = 'running'
  }

  /** Sends BYE, closes every link and timer; resolves when all is closed. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return
    if (this.state === 'new') {
      this.state = 'stopped'
      return
    }
    this.state = 'stopping'
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
    const p = new Plugin(this, id, opts)
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
      const tcpInfo = connInfo(conn)
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
    const base = o ? o.stats() : { ...emptyStats(), dedupEntries: 0, dedupBytes: 0, handshakesPending: 0 }
    return { ...base, links: o?.linkCount ?? 0, directSessions: o?.directCount ?? 0, users: this.userCount() }
  }

  // ------------------------------------------------------------ PluginHost

  async pluginSend(plugin: Plugin, user: string, data: Uint8Array, opts: SendOptions): Promise<void> {
    const overlay = this.requireOverlay()
    if (data.length > this.resolved.cfg.maxMessage) {
      throw new P4Error('MESSAGE_TOO_LARGE', `${data.length} bytes exceeds maxMessage ${this.resolved.cfg.maxMessage}`)
    }
    if (user === this.username) {
      const [hi, lo] = randomId()
      queueMicrotask(() => plugin.deliver({ from: user, data: Uint8Array.from(data), encrypted: !!opts.encrypted, broadcast: false, pluginId: plugin.id, messageId: messageIdOf(hi, lo) }))
      return
    }
    // Sealed to the X25519 key of the user's signed HELLO, the key the table
    // binds to the name (the session is the one with that identity).
    const seal = opts.encrypted === true
    await overlay.send(user, plugin.id, seal ? Flag.ENCRYPTED : 0, (hi, lo, staticKey) =>
      seal ? sealTo(staticKey, data, e2eAad({ sender: this.identity.publicKey, recipient: user, pluginId: plugin.id, messageId: messageIdOf(hi, lo) })) : data,
    )
  }

  async pluginBroadcast(plugin: Plugin, data: Uint8Array, opts: BroadcastOptions): Promise<void> {
    const overlay = this.requireOverlay()
    if (data.length > this.resolved.cfg.maxMessage) {
      throw new P4Error('MESSAGE_TOO_LARGE', `${data.length} bytes exceeds maxMessage ${this.resolved.cfg.maxMessage}`)
    }
    const encrypted = opts.encrypted ?? plugin.groupKey !== undefined
    const flags = Flag.BROADCAST | (encrypted ? Flag.ENCRYPTED : 0)
    const groupKey = plugin.groupKey
    await overlay.broadcast(plugin.id, flags, (hi, lo) =>
      encrypted && groupKey ? sealGroup(groupKey, data, groupAad({ sender: this.identity.publicKey, pluginId: plugin.id, messageId: messageIdOf(hi, lo) })) : data,
    )
  }

  pluginClosed(plugin: Plugin): void {
    if (this.plugins.get(plugin.id) === plugin) this.plugins.delete(plugin.id)
    if (this.state === 'running') this.overlay?.setPlugins(this.plugins.keys())
  }

  private onData(e: DataEvent): void {
    const plugin = this.plugins.get(e.pluginId)
    const overlay = this.overlay
    if (!plugin || !overlay) return
    const broadcast = (e.flags & Flag.BROADCAST) !== 0
    const encrypted = (e.flags & Flag.ENCRYPTED) !== 0
    if (!encrypted && plugin.requireEncrypted) return overlay.droppedPlaintext()
    const messageId = messageIdOf(e.idHi, e.idLo)
    let data: Uint8Array | null = e.body
    if (encrypted) {
      if (broadcast && !plugin.groupKey) return overlay.undecryptable()
      const t0 = this.clock.now()
      data = broadcast
        ? openGroup(plugin.groupKey!, e.body, groupAad({ sender: e.fromKey, pluginId: e.pluginId, messageId }))
        : openFrom(this.identity, e.body, e2eAad({ sender: e.fromKey, recipient: this.username, pluginId: e.pluginId, messageId }))
      // Opening costs the time of an X25519 (unicast): charged to the sender's
      // session; a box that does not open counts towards cutting it off.
      overlay.openedBox(e.via, t0, data !== null, !broadcast)
      if (data === null) return
    }
    plugin.deliver({ from: e.from, data, encrypted, broadcast, pluginId: e.pluginId, messageId })
  }
}

/** Creates a node (not yet started): validates options, loads or makes the identity. */
export async function createNode(opts: NodeOptions): Promise<Node> {
  const resolved = resolveOptions(opts) // validate before touching the disk
  let identity = opts.identity
  if (identity !== undefined) {
    if (typeof identity !== 'object' || identity === null || !(identity.publicKey instanceof Uint8Array)) {
      throw new P4Error('BAD_OPTION', 'identity must come from generateIdentity() or loadIdentity()')
    }
  } else if (opts.dataDir) {
    identity = await loadOrCreateIdentity(opts.dataDir)
  } else {
    identity = generateIdentity()
  }
  return new Node(opts, identity, resolved)
}
