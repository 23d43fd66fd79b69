// Reachability: can other nodes dial this one? Each end of a link tells the
// other where it sees it (REACH OBSERVED: the far end of its connection,
// like libp2p identify's observed address), so a node behind NAT learns its
// router's outside address. A check asks up to reach.peers links, on
// different IP addresses where there are, to dial this node back at the
// address each sees it at and its listen port (REACH DIAL); each dials with
// a fresh connection whose handshake must prove this node's key, and
// answers (REACH RESULT). No single answer decides: reach.quorum answers
// must agree, so one lying peer cannot flip the verdict. Checks run once
// enough peers reported, again every reach.intervalMs, after 30 s while the
// answers disagree, and within a minute of links changing; all on the
// overlay's clock. A new verdict goes into the signed HELLO (feature bits).
// A node bound to a wildcard address with no advertiseHost advertises the
// address the check verified (public), before that one peers on several IP
// addresses agree on (observed-host.ts), else advertiseHost's default.
import type { Timer } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import { HandshakeFeature, MsgType } from '../core/protocol.js'
import type { Frame } from '../session/session.js'
import type { Address } from '../transport/types.js'
import type { Core, Directory, Reach, Sessions } from './context.js'
import { DialBackServer } from './dial-back.js'
import { localFeatures } from './features.js'
import { narrowerScope } from './address-scope.js'
import { agreedHost } from './observed-host.js'
import type { Peer } from './peer.js'
import { Puncher } from './punch.js'
import { canonicalHost, decodeReach, DialStatus, encodeReach, ReachKind } from './reach-codec.js'
import { FEATURE_REACH_PRIVATE, FEATURE_REACH_PUBLIC, type Reachability } from './types.js'

/** While the answers disagree (or too few came), the next check waits this long. */
const RETRY_MS = 30_000
/** After links changed, a check runs once this long has passed since the last. */
const RECHECK_GAP_MS = 60_000
/** Hosts kept in Reachability.observed. */
const OBSERVED_MAX = 8

type Status = Reachability['status']

interface Ask {
  peer: Peer
  host: string
  /** The answer; 'missing' when the DIAL could not be sent; undefined while awaited. */
  status: DialStatus | 'missing' | undefined
}

interface Check {
  asks: Map<number, Ask>
  timer: Timer
}

export class ReachTracker implements Reach {
  /** Where each peer sees this node (one OBSERVED per session). */
  private readonly observations = new Map<Peer, Address>()
  private readonly server: DialBackServer
  private status: Status = 'unknown'
  private address: Address | undefined = undefined
  private checkedAt = 0
  private answers = { reachable: 0, unreachable: 0, refused: 0, missing: 0 }
  /** Monotonic ms of the last check's start. */
  private lastCheckAt = -Infinity
  /** Links changed since the last check. */
  private dirty = false
  private check: Check | null = null
  private ticker: Timer | null = null
  /** The host learned for HELLO (cfg.learnAdvertiseHost), once there is one. */
  private learned: string | undefined = undefined
  /** Hole punching over relayed sessions (its REACH messages come through here). */
  readonly punch: Puncher

  constructor(
    private readonly core: Core,
    private readonly s: { table: Sessions; directory: Directory },
  ) {
    this.server = new DialBackServer(core, s)
    this.punch = new Puncher(core, { ownAddress: () => this.ownAddress() })
  }

  /** Where peers see this node: its most reported observed host with its listen port. */
  private ownAddress(): Address | undefined {
    const host = this.address?.host ?? this.observedHosts()[0]?.host
    return host === undefined || this.core.listenPort === 0 ? undefined : { host, port: this.core.listenPort }
  }

  relayedUp(peer: Peer): void {
    this.punch.started(peer, Puncher.feature(this.core))
  }

  start(): void {
    const tick = (): void => {
      this.tick()
      if (this.core.running) this.ticker = this.core.clock.setTimeout(tick, this.core.cfg.timers.maintenanceMs)
      this.ticker?.unref?.()
    }
    this.ticker = this.core.clock.setTimeout(tick, this.core.cfg.timers.maintenanceMs)
    this.ticker.unref?.()
  }

  stop(): void {
    this.punch.stop()
    this.core.clock.clearTimeout(this.ticker)
    this.ticker = null
    if (this.check) this.core.clock.clearTimeout(this.check.timer)
    this.check = null
  }

  /** The host this node names in its HELLO, DISCOVER and CONNECT. */
  get advertiseHost(): string {
    return this.learned ?? this.core.cfg.advertiseHost
  }

  /**
   * With cfg.learnAdvertiseHost: the verified address when public, else a
   * host that peers on max(2, reach.quorum) IP addresses see this node at.
   * True when the advertised host changed (a new HELLO is due).
   */
  private relearn(): boolean {
    if (!this.core.cfg.learnAdvertiseHost) return false
    const need = Math.max(2, this.core.cfg.reach.quorum)
    const host = this.status === 'public' && this.address !== undefined ? this.address.host : agreedHost(this.observations, need, this.learned)
    if (host === undefined || host === this.learned) return false
    this.core.log('advertised host: %s (was %s)', host, this.advertiseHost)
    this.learned = host
    return true
  }

  /** A new advertised host: the HELLO says it at once (others dial what it says). */
  private announceHost(): void {
    if (this.relearn() && this.core.running && this.s.table.links.size > 0) this.s.directory.floodHello()
  }

  get helloBits(): number {
    return this.status === 'public' ? FEATURE_REACH_PUBLIC : this.status === 'private' ? FEATURE_REACH_PRIVATE : 0
  }

  /** The verdict and what it rests on (a copy). */
  snapshot(): Reachability {
    const r: Reachability = { status: this.status, observed: this.observedHosts(), checkedAt: this.checkedAt, answers: { ...this.answers } }
    if (this.address) r.address = { ...this.address }
    return r
  }

  private observedHosts(): Array<Address & { peers: number }> {
    const byHost = new Map<string, Address & { peers: number }>()
    for (const a of this.observations.values()) {
      const e = byHost.get(a.host)
      if (e) e.peers++
      else byHost.set(a.host, { host: a.host, port: a.port, peers: 1 })
    }
    return [...byHost.values()].sort((x, y) => y.peers - x.peers).slice(0, OBSERVED_MAX)
  }

  private both(peer: Peer): boolean {
    return (localFeatures(this.core.cfg) & peer.remote.features & HandshakeFeature.REACH) !== 0
  }

  linkUp(peer: Peer): void {
    this.dirty = true
    if (!this.both(peer)) return
    const r = peer.remote
    peer.trySend(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.OBSERVED, host: canonicalHost(r.host), port: r.port }))
  }

  forget(peer: Peer): void {
    this.punch.forget(peer)
    if (this.observations.delete(peer)) {
      this.dirty = true
      this.announceHost()
    }
    if (this.check === null) return
    for (const a of this.check.asks.values()) if (a.peer === peer && a.status === undefined) return this.concludeIfDone()
  }

  frame(peer: Peer, f: Frame): void {
    if (!this.both(peer)) throw new P4Error('BAD_FRAME', 'REACH frame on a session where not both ends announced REACH')
    if (f.hops !== 0 || f.pluginId !== 0 || f.idHi !== 0 || f.idLo !== 0) throw new P4Error('BAD_FRAME', 'REACH frame with a non-zero hops, plugin or message ID')
    const m = decodeReach(f.payload)
    switch (m.kind) {
      case ReachKind.OBSERVED:
        // A connection's addresses never change: one report per session.
        if (this.observations.has(peer)) throw new P4Error('BAD_FRAME', 'a second REACH OBSERVED on one session')
        // Only links report (linkUp): a relayed session's far end is its
        // relay, so its report says nothing of this node and its "IP address"
        // (peer.remote.host, the relay's) is no peer's own (observed-host.ts).
        if (peer.kind !== 'link') return
        // A peer sees this node from where this node sees it: a report of a
        // narrower scope than the peer's own address (a global peer saying
        // "you are at 127.0.0.1") cannot be true, and as this node's own
        // address it would widen what a punch may dial (punch.ts plausible).
        if (narrowerScope(m.host, peer.remote.host)) return
        this.observations.set(peer, { host: canonicalHost(m.host), port: m.port })
        return this.announceHost()
      case ReachKind.DIAL:
        return this.server.serve(peer, m.id, m.host, m.port)
      case ReachKind.PUNCH_OFFER:
      case ReachKind.PUNCH_ANSWER:
      case ReachKind.PUNCH_GO:
        return this.punch.frame(peer, m, Puncher.feature(this.core))
      case ReachKind.RESULT: {
        const a = this.check?.asks.get(m.id)
        // A late or unasked answer changes nothing (the frame quota meters it).
        if (a === undefined || a.peer !== peer || a.status !== undefined) return
        a.status = m.status
        return this.concludeIfDone()
      }
    }
  }

  /** Links with REACH that told this node where they see it, in the order they are asked. */
  private candidates(): Peer[] {
    const random = this.core.cfg.random
    const peers = [...this.s.table.links.values()].filter((p) => p.open && this.observations.has(p) && this.both(p))
    for (let i = peers.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[peers[i], peers[j]] = [peers[j]!, peers[i]!]
    }
    // One peer per IP address first; peers on this node's own address (the
    // same host, or behind the same NAT) last: their dial-back does not cross the network.
    const rank = (p: Peer, first: boolean): number => (first ? 0 : 2) + (canonicalHost(p.remote.host) === this.observations.get(p)!.host ? 1 : 0)
    const seen = new Set<string>()
    const ranked = peers.map((p) => {
      const ip = canonicalHost(p.remote.host)
      const r = rank(p, !seen.has(ip))
      seen.add(ip)
      return { p, r }
    })
    return ranked.sort((x, y) => x.r - y.r).map((x) => x.p)
  }

  private tick(): void {
    const { cfg, clock } = this.core
    if (!this.core.running || this.check !== null || cfg.reach.peers === 0 || this.core.listenPort === 0) return
    const now = clock.now()
    const since = now - this.lastCheckAt
    const due = since === Infinity || since >= cfg.reach.intervalMs || (this.status === 'unknown' && since >= RETRY_MS) || (this.dirty && since >= RECHECK_GAP_MS)
    if (!due) return
    const peers = this.candidates()
    if (peers.length < cfg.reach.quorum) return
    this.run(peers.slice(0, cfg.reach.peers), now)
  }

  private run(peers: Peer[], now: number): void {
    const { cfg, clock, stats } = this.core
    stats.reachChecks++
    this.lastCheckAt = now
    this.dirty = false
    const asks = new Map<number, Ask>()
    const port = this.core.listenPort
    for (const peer of peers) {
      let id: number
      do id = 1 + Math.floor(cfg.random() * 0xfffffffe)
      while (asks.has(id))
      const host = this.observations.get(peer)!.host
      const sent = peer.trySend(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.DIAL, id, host, port }))
      // A DIAL that could not be queued is never answered: missing at once.
      asks.set(id, { peer, host, status: sent ? undefined : 'missing' })
    }
    // The asked peer's dial and handshake have their own deadlines; the answer then takes a frame.
    const waitMs = 2 * cfg.timers.requestTimeoutMs + cfg.timers.handshakeTimeoutMs
    const timer = clock.setTimeout(() => this.conclude(), waitMs)
    timer.unref?.()
    this.check = { asks, timer }
    this.core.log('reachability check: asked %d peers to dial back port %d', peers.length, port)
  }

  private concludeIfDone(): void {
    const c = this.check
    if (c === null) return
    for (const a of c.asks.values()) if (a.status === undefined && a.peer.open) return
    this.conclude()
  }

  /** Tallies the answers; `quorum` agreeing ones make the verdict, anything less leaves it as it was. */
  private conclude(): void {
    const c = this.check
    if (c === null) return
    this.check = null
    this.core.clock.clearTimeout(c.timer)
    const answers = { reachable: 0, unreachable: 0, refused: 0, missing: 0 }
    const reachedAt = new Map<string, number>()
    for (const a of c.asks.values()) {
      if (a.status === DialStatus.REACHABLE) {
        answers.reachable++
        reachedAt.set(a.host, (reachedAt.get(a.host) ?? 0) + 1)
      } else if (a.status === DialStatus.UNREACHABLE) answers.unreachable++
      else if (a.status === DialStatus.REFUSED) answers.refused++
      else answers.missing++
    }
    const quorum = this.core.cfg.reach.quorum
    let best: string | undefined
    for (const [host, n] of reachedAt) if (n >= quorum && (best === undefined || n > reachedAt.get(best)!)) best = host
    let status = this.status
    let address = this.address
    if (best !== undefined) {
      status = 'public'
      address = { host: best, port: this.core.listenPort }
    } else if (answers.unreachable >= quorum && answers.reachable < quorum) {
      status = 'private'
      address = undefined
    }
    this.checkedAt = this.core.clock.wall()
    this.answers = answers
    this.core.log('reachability check: %o → %s', answers, status)
    const moved = address?.host !== this.address?.host || address?.port !== this.address?.port
    const changed = status !== this.status
    if (!changed && !moved) return
    const was = this.status
    this.status = status
    this.address = address
    const hostChanged = this.relearn()
    this.core.emit('reachability', this.snapshot())
    // The verdict is in the signed HELLO. Others assume a user can be dialled
    // (as of a node without the bits), so only becoming or ceasing to be
    // private, or a new advertised host, is news worth a flood at once (every
    // node verifies every HELLO); 'public' rides on the next HELLO (refresh, plugins).
    const news = hostChanged || (changed && (status === 'private' || was === 'private'))
    if (news && this.core.running && this.s.table.links.size > 0) this.s.directory.floodHello()
  }
}
