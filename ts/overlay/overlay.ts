// The overlay: lifecycle, and what the Node may see and ask for. Each concern
// is a module with a narrow context (ts/overlay/context.ts), wired here:
//
//   peer-table  sessions: adopt or discard, close; with handshakes.ts
//               (accept, dial) and admission.ts (trust, bans)
//   flood       seen-table, verify, forward, deliver, originate
//   membership  the user table, HELLOs, who a key is, certificate expiry
//   lka-sync    table copies between neighbours
//   walks       DISCOVER
//   upkeep      maintenance: link counts, liveness, probes; with
//               link-dialer.ts (bootstrap, peer cache, rejoin)
//   guard       quotas and cut-offs, relay budgets, CPU metering
//   reach       observed addresses, dial-back checks (reachability); with
//               dial-back.ts (the dial-backs served for peers)
//   dispatch    the quota gate and the frame-type → handler table
//   unicast     plugin.send's DATA: route, message ID, send queue, ack
//   lan         LAN discovery (opt-in): signed multicast beacons → link hints
//   relays      relayed sessions: reservations, circuits (relay-server.ts,
//               relay-client.ts, circuit-conn.ts)
//
// A received frame: session → PeerTable's onframe → FrameDispatch.onFrame
// (quota gate) → the handler of its type.
import { EventEmitter } from 'node:events'
import { debuglog } from 'node:util'
import { P4Error } from '../core/errors.js'
import { shareVerifications } from '../core/identity.js'
import { MsgType } from '../core/protocol.js'
import type { Address, Conn } from '../transport/types.js'
import type { Core, Services } from './context.js'
import { FrameDispatch } from './dispatch.js'
import { FloodRouter } from './flood.js'
import { Guard } from './guard.js'
import { LkaExchange } from './lka-sync.js'
import { LanDiscovery } from './lan.js'
import { ByeReason } from './link-codec.js'
import { Membership } from './membership.js'
import { Peer } from './peer.js'
import { PeerTable } from './peer-table.js'
import { ReachTracker } from './reach.js'
import { Relays, type ReachView } from './relays.js'
import { AckStatus } from './send-queue.js'
import { StreamMux, type ChunkBoxMaker, type StreamChannel, type StreamSink } from './streams.js'
import { emptyStats, type DataEvent, type LinkInfo, type OverlayConfig, type OverlayStats, type Reachability } from './types.js'
import { UnicastSender, type SealFn } from './unicast.js'
import { LinkUpkeep } from './upkeep.js'
import { WalkRouter } from './walks.js'

export type { ChunkBox, ChunkBoxMaker, StreamChannel, StreamKeyInput, StreamSink } from './streams.js'
export type { SealFn } from './unicast.js'

export type { DataEvent, LinkInfo, OverlayConfig, OverlayStats, OverlayTimers, Reachability } from './types.js'

const log = debuglog('p4net:overlay')
const ACK_DELIVERED = Uint8Array.of(AckStatus.DELIVERED)
const ACK_NOT_DELIVERED = Uint8Array.of(AckStatus.NOT_DELIVERED)

export class Overlay extends EventEmitter {
  private readonly cfg: OverlayConfig
  private readonly counters: OverlayStats = emptyStats()
  private readonly table: PeerTable
  private readonly guard: Guard
  private readonly floods: FloodRouter
  private readonly directory: Membership
  private readonly lka: LkaExchange
  private readonly walks: WalkRouter
  private readonly upkeep: LinkUpkeep
  private readonly dispatch: FrameDispatch
  private readonly streams: StreamMux
  private readonly unicasts: UnicastSender
  private readonly lan: LanDiscovery | null
  private readonly reach: ReachTracker
  private readonly relays: Relays
  private plugins: ReadonlySet<number> = new Set()
  private phase: 'new' | 'running' | 'stopping' = 'new'
  private bound: Address | null = null
  /** Called for every DATA delivered to this node (Node's plugin router); the event is valid during the call only. */
  ondata: ((e: DataEvent) => void) | null = null

  /** `reach`: whether this node can be dialled (reachability, issue 18.1); unknown by default. */
  constructor(cfg: OverlayConfig, reach?: ReachView) {
    super()
    this.cfg = cfg
    const overlay = this
    const core: Core = {
      cfg,
      clock: cfg.clock,
      stats: this.counters,
      log,
      emit: (event, ...args) => void this.emit(event, ...args),
      data: (e) => this.ondata?.(e),
      get running() {
        return overlay.phase === 'running'
      },
      get stopping() {
        return overlay.phase === 'stopping'
      },
      get listenPort() {
        return overlay.bound?.port ?? 0
      },
      get advertiseHost() {
        return overlay.reach.advertiseHost
      },
      get plugins() {
        return overlay.plugins
      },
    }
    // Modules call each other through these interfaces, filled in before any call.
    const s = {} as Services
    s.table = this.table = new PeerTable(core, s, (peer, f) => this.dispatch.onFrame(peer, f))
    s.guard = this.guard = new Guard(core, s)
    s.floods = this.floods = new FloodRouter(core, s)
    s.directory = this.directory = new Membership(core, s)
    s.lka = this.lka = new LkaExchange(core, s)
    s.walks = this.walks = new WalkRouter(core, s)
    s.upkeep = this.upkeep = new LinkUpkeep(core, s)
    s.reach = this.reach = new ReachTracker(core, s)
    s.relays = this.relays = new Relays(core, s, reach ?? { status: () => this.reach.snapshot().status })

    this.streams = new StreamMux(core, s)
    this.unicasts = new UnicastSender(core, s)
    this.lan = cfg.lan?.enabled ? new LanDiscovery(core, cfg.lan, s) : null
    this.dispatch = new FrameDispatch(core, { table: this.table, guard: this.guard, floods: this.floods, lka: this.lka, walks: this.walks, streams: this.streams, reach: this.reach, relays: this.relays })
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<Address> {
    if (this.phase !== 'new') throw new P4Error('ALREADY_STARTED', 'overlay already started')
    this.phase = 'running'
    this.bound = await this.table.listen()
    shareVerifications(true)
    this.directory.start()
    this.upkeep.start()
    this.lan?.start()
    this.reach.start()
    this.relays.start()
    return this.bound
  }

  /** Leaves cleanly: a signed leaving HELLO, BYE on every session, then close all. */
  async stop(): Promise<void> {
    if (this.phase !== 'running') return
    this.phase = 'stopping'
    shareVerifications(false)
    this.upkeep.stop()
    this.lan?.stop()
    this.reach.stop()
    this.relays.stop()
    if (this.table.links.size > 0 && !this.directory.superseded) this.directory.floodHello(true)
    await this.table.stop()
    this.floods.close()
  }

  get running(): boolean {
    return this.phase === 'running'
  }

  /** A link has sent its user table (the 'joined' event fires once, when it first happens). */
  get joined(): boolean {
    return this.lka.joined
  }

  /** Whether start() has anyone to join: bootstrap addresses or peer-cache candidates. */
  get hasJoinTargets(): boolean {
    const cfg = this.cfg
    return cfg.bootstrap.length > 0 || (cfg.peerCache?.candidates(cfg.clock.wall(), 1).length ?? 0) > 0
  }

  /** Whether other nodes can dial this one, as its peers found ('reachability' events on change). */
  get reachability(): Reachability {
    return this.reach.snapshot()
  }

  /** The host this node's HELLO names (advertiseHost, or the one it learned from its peers). */
  get advertiseHost(): string {
    return this.reach.advertiseHost
  }

  /** The address bound (after start). */
  get address(): Address | null {
    return this.bound
  }

  // ---------------------------------------------------------------- what the Node asks for

  /** The plugins this node runs (announced in its HELLO). */
  setPlugins(ids: Iterable<number>): void {
    this.plugins = new Set(ids)
    if (this.running && this.table.links.size > 0) this.directory.floodHello()
  }

  /** Replaces this node's certificate and announces it (authority policy). UNTRUSTED_KEY when refused. */
  setCertificate(certificate: Uint8Array): void {
    this.directory.setCertificate(certificate)
  }

  /** Online users (sorted); only those running `pluginId` if given. */
  users(pluginId?: number): string[] {
    return this.directory.lka.users(pluginId)
  }

  /** Online users known, counted without building a list (stats() is polled). */
  userCount(): number {
    return this.directory.lka.onlineCount
  }

  /** The online entry of `username`, if any. */
  user(username: string): { plugins: readonly number[]; staticKey: Uint8Array; identityKey: Uint8Array } | undefined {
    const e = this.directory.lka.get(username)
    return e && e.online ? e : undefined
  }

  /** Links (and direct sessions with `direct`) with their connections, for node.links(). */
  linkViews(direct: boolean): Array<{ info: LinkInfo; conn: Conn }> {
    const peers = [...this.table.links.values(), ...(direct ? this.table.directs.values() : [])]
    return peers.map((p) => ({ info: this.table.linkInfo(p), conn: p.session.conn }))
  }

  get linkCount(): number {
    return this.table.links.size
  }

  get directCount(): number {
    return this.table.directs.size
  }

  /** Counters, with the session byte and frame totals and the seen-table's size. */
  stats(): OverlayStats & { dedupEntries: number; dedupBytes: number; handshakesPending: number; lanEntries: number } {
    const c = this.counters
    const lan = this.lan?.sizes()
    const lanEntries = lan ? lan.sources + lan.keys + lan.senders : 0
    return { ...c, cutOffReasons: { ...c.cutOffReasons }, lanRejectReasons: { ...c.lanRejectReasons }, relayReasons: { ...c.relayReasons }, punchFailed: { ...c.punchFailed }, ...this.relays.gauges(), ...this.table.totals(), ...this.floods.seenTable(), handshakesPending: this.table.pending, lanEntries }
  }

  /**
   * Opens an overlay link to host:port by hand. With `user`, the node there
   * must be that user (the key the table binds to the name, or the name it
   * gives when the table does not know it): otherwise UNREACHABLE, and a
   * link this call made is closed again.
   */
  async connect(host: string, port: number, user?: string): Promise<LinkInfo> {
    const before = new Set(this.table.links.keys())
    const peer = await this.table.dial(host, port, 'link')
    const info = this.table.linkInfo(peer)
    if (user === undefined || info.username === user) return info
    const known = before.has(peer.keyHex)
    if (!known) this.table.closePeer(peer, ByeReason.LINK_CLOSE, `not ${user}`)
    throw new P4Error('UNREACHABLE', `${host}:${port} is ${info.username}, not ${user}${known ? ' (already linked)' : '; link closed'}`)
  }

  /**
   * Closes this node's link and direct session with `username` (BYE
   * LINK_CLOSE), as a node pruning a link would; false when it has none.
   */
  disconnect(username: string): boolean {
    let closed = false
    for (const p of [...this.table.links.values(), ...this.table.directs.values()]) {
      if (this.table.linkInfo(p).username !== username) continue
      this.table.closePeer(p, ByeReason.LINK_CLOSE, 'closed by request')
      closed = true
    }
    return closed
  }

  /** Round trip to `username` in ms; a user nobody can reach is marked offline (P4: failed PINGs). */
  async latency(username: string): Promise<number> {
    try {
      return await this.upkeep.ping(await this.table.sessionTo(username))
    } catch (err) {
      if (err instanceof P4Error && err.code === 'UNREACHABLE') this.upkeep.userUnreachable(username, err)
      throw err
    }
  }

  /**
   * Sends one DATA frame to `username` over the session bound to its key
   * (unicast.ts). The payload is `data` (the caller's: copied unless large,
   * see send-queue.ts handOver), or what `seal` makes of it. Resolves once
   * the session accepted it under its high-water mark; while it is above,
   * the send waits in the session's one queue (send-queue.ts). With
   * `ackTimeoutMs`, resolves instead once the recipient's node confirms
   * delivery (DATA_ACK).
   */
  send(username: string, pluginId: number, flags: number, data: Uint8Array, ackTimeoutMs?: number, seal?: SealFn): Promise<void> {
    return this.unicasts.send(username, pluginId, flags, data, ackTimeoutMs, seal)
  }

  /** Answers a DATA that asked for an ack (Flag.ACK) after the plugin layer handled it (DataEvent.via). */
  acknowledge(via: unknown, pluginId: number, hi: number, lo: number, delivered: boolean): void {
    if (!(via instanceof Peer) || !via.open) return
    via.trySend(MsgType.DATA_ACK, 0, 0, pluginId, hi, lo, delivered ? ACK_DELIVERED : ACK_NOT_DELIVERED)
  }

  /**
   * Opens a stream of `pluginId` to `username` over the session bound to its
   * key; resolves once that node accepted it. `attach` gives the stream its
   * byte side before any byte can arrive. With `box`, the stream is sealed
   * end to end with the chunk boxes it makes (the peer must announce
   * STREAM_BOX1). Incoming streams: 'stream' events.
   */
  async openStream(username: string, pluginId: number, attach: (ch: StreamChannel) => StreamSink, box: ChunkBoxMaker | null = null): Promise<StreamChannel> {
    const peer = await this.table.sessionTo(username)
    peer.active(this.cfg.clock.now())
    return this.streams.open(peer, username, pluginId, attach, box)
  }

  /**
   * Floods a signed broadcast. Own broadcasts share the relay budget, so
   * neighbours' quotas never see more from this node than an honest relay
   * sends: it waits for a token (CLOSED if the node stops meanwhile).
   */
  async broadcast(pluginId: number, flags: number, body: (hi: number, lo: number) => Uint8Array): Promise<void> {
    const clock = this.cfg.clock
    while (!this.guard.relayToken(MsgType.DATA)) {
      await new Promise<void>((r) => clock.setTimeout(r, Math.max(1, this.guard.relayDelay(MsgType.DATA))))
      if (!this.running) throw new P4Error('CLOSED', 'node stopped')
    }
    this.floods.originate(MsgType.DATA, flags, pluginId, body)
  }

  /** Diagnostics: `fn` sees every DATA payload this node relays on a circuit (Node's 'relay-wire'). */
  tapRelays(fn: (from: string, to: string, bytes: Uint8Array) => void): void {
    this.relays.tap(fn)
  }

  /** The plugin layer opened (or failed to open) an end-to-end box that came through `via` (DataEvent.via). */
  openedBox(via: unknown, t0: number, ok: boolean, unicast: boolean): void {
    if (via instanceof Peer) this.guard.boxOpened(via, t0, ok, unicast)
  }

  /** A message dropped because its plugin requires end-to-end encryption. */
  droppedPlaintext(): void {
    this.counters.notEncrypted++
  }

  /** A message whose data is over maxMessage (sessions take maxMessage + 4 KiB for sealing). */
  droppedOversized(): void {
    this.counters.oversized++
  }

  /** An encrypted broadcast this node has no group key for. */
  undecryptable(): void {
    this.counters.decryptFailed++
  }
}

