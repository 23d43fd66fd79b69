// Link upkeep, once per timers.maintenanceMs: keep between links.min and
// links.max links (walks, then the bootstrap list, the peer cache and known
// users, with backoff), stay in one component with the bootstrap, cut off
// peers that do not read, PING every link (liveness and round trip), close
// idle direct sessions, refresh this node's HELLO and the user table, and
// probe the user of a link that was lost without a BYE.
import type { Timer } from '../core/clock.js'
import { isP4Error } from '../core/errors.js'
import { randomId } from '../core/ids.js'
import { MsgType } from '../core/protocol.js'
import type { Core, Directory, Gate, LkaSync, RelayService, Sessions, Upkeep, Walks } from './context.js'
import { LinkDialer } from './link-dialer.js'
import { ByeReason, encodePing } from './link-codec.js'
import type { Peer } from './peer.js'

/** Walks lost in a row (short of links) before the node dials its bootstrap and cache again. */
const REJOIN_AFTER_LOST_WALKS = 3
/** The first probe of a lost link's user waits this long (the user may be reconnecting). */
const PROBE_DELAY_MS = 50

/** True when `err` or one of its causes is a TIMEOUT (inconclusive, unlike a refusal). */
function timedOut(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (isP4Error(e, 'TIMEOUT')) return true
  }
  return false
}

export class LinkUpkeep implements Upkeep {
  private readonly dialer: LinkDialer
  private timer: Timer | null = null

  constructor(
    private readonly core: Core,
    private readonly s: { table: Sessions; directory: Directory; lka: LkaSync; walks: Walks; guard: Gate; relays: RelayService },
  ) {
    this.dialer = new LinkDialer(core, s)
  }

  /** Joins now and maintains every timers.maintenanceMs until stop(). */
  start(): void {
    this.dialer.join()
    this.schedule()
  }

  stop(): void {
    this.core.clock.clearTimeout(this.timer)
    this.timer = null
  }

  private schedule(): void {
    this.timer = this.core.clock.setTimeout(() => {
      this.maintain()
      if (this.core.running) this.schedule()
    }, this.core.cfg.timers.maintenanceMs)
    this.timer.unref?.()
  }

  soon(): void {
    setImmediate(() => this.maintain())
  }

  dialHint(host: string, port: number, identityKey: Uint8Array): Promise<void> | undefined {
    return this.dialer.dialHint(host, port, identityKey)
  }

  maintain(): void {
    if (!this.core.running) return
    const now = this.core.clock.now()
    this.keepLinkCount(now)
    this.dialer.stayWithBootstrap(now)
    this.pruneExtraLinks(now)
    this.cutNonReaders(now)
    this.keepAlive(now)
    this.refreshMembership(now)
  }

  /** Too few links: walks first (random neighbours), then bootstrap, cache and known users. */
  private keepLinkCount(now: number): void {
    const { table, walks } = this.s
    const min = this.core.cfg.links.min
    if (table.links.size === 0) {
      this.dialer.join()
      this.dialer.linkKnownUser()
      return
    }
    if (table.links.size >= min) {
      this.dialer.resetRejoins()
      return
    }
    const pending = walks.expire(now)
    // One new walk per tick while short of links: a walk that died quietly
    // (no node could end it) must not hold the next one back.
    if (pending < 2 * (min - table.links.size)) walks.start()
    // Walks that keep dying mean these links lead to no one new: an island,
    // e.g. nodes that joined through a node whose own bootstrap failed.
    if (walks.lost >= REJOIN_AFTER_LOST_WALKS) this.dialer.rejoinIfDue(now)
  }

  /** Too many: close the idlest links older than the minimum age (not one a reservation or circuit lives on). */
  private pruneExtraLinks(now: number): void {
    const { cfg } = this.core
    const links = this.s.table.links
    if (links.size <= cfg.links.max) return
    const old = [...links.values()].filter((p) => now - p.startedAt >= cfg.timers.linkMinAgeMs && !this.s.relays.busy(p)).sort((a, b) => a.lastActive - b.lastActive)
    for (const p of old.slice(0, links.size - cfg.links.max)) this.s.table.closePeer(p, ByeReason.LINK_CLOSE, 'too many links')
  }

  /** A peer whose queue stays full while it takes little of it does not read (PeerQuota.notReading). */
  private cutNonReaders(now: number): void {
    const { table, guard } = this.s
    for (const p of [...table.links.values(), ...table.directs.values()]) {
      const s = p.session
      const over = p.quota.notReading(now, s.bufferedBytes, s.highWaterMark, s.bytesTaken)
      if (over !== null) guard.cutOff(p, over)
    }
  }

  /**
   * PING every link once per ping period, close links silent for 3 periods,
   * close idle direct sessions. A busy link is PINGed too: its traffic
   * proves it alive, but only a PING measures its round trip (links() rtt),
   * and one frame per period is far below any peer's frame quota.
   */
  private keepAlive(now: number): void {
    const { timers } = this.core.cfg
    const table = this.s.table
    for (const p of table.links.values()) {
      const silent = now - p.lastHeard
      if (silent > 3 * timers.pingIntervalMs) {
        p.markSilent()
        table.closePeer(p, ByeReason.IDLE, 'no answer to PING')
      } else if (p.pendingPings === 0 && (silent > timers.pingIntervalMs || now - p.lastPingAt > timers.pingIntervalMs)) {
        this.ping(p).catch(() => undefined)
      }
    }
    for (const p of table.directs.values()) {
      if (now - p.lastActive > timers.directIdleMs && !this.s.relays.busy(p)) table.closePeer(p, ByeReason.IDLE, 'idle')
    }
  }

  /** Own HELLO refresh, LKA requests and sync, users not heard of, expired certificates. */
  private refreshMembership(now: number): void {
    const { cfg } = this.core
    const { directory, lka } = this.s
    if (this.s.table.links.size > 0 && now - directory.lastHelloAt > cfg.timers.helloRefreshMs) directory.floodHello()
    lka.askMore()
    lka.sync(now)
    for (const name of directory.lka.expire(now, cfg.timers.userTimeoutMs)) this.core.emit('user-left', name)
    directory.enforceExpiry()
  }

  sessionClosed(peer: Peer, wasLink: boolean): void {
    if (this.core.stopping) return
    const links = this.s.table.links
    const min = this.core.cfg.links.min
    if (wasLink) {
      if (links.size < min) this.soon()
      // Closed by the other side (pruned as one too many, or it left) and now
      // at the minimum: replace it with a random known user. Content at the
      // minimum, pruned nodes could otherwise end up linked only among
      // themselves, and walks from there find no one outside.
      else if (peer.byeReceived && links.size === min) this.dialer.linkKnownUser(peer.keyHex)
    }
    // A link lost without BYE may mean the node died: probe the user once,
    // and mark it offline here if nothing answers (P4: failed PINGs).
    if ((!peer.bye || peer.silent) && !peer.cut && peer.kind === 'link') {
      const name = this.s.directory.usernameOfPeer(peer)
      if (name !== undefined) this.probe(name)
    }
  }

  /**
   * Dials `username` and PINGs it; marks it offline if the dial fails. A
   * refusal settles it; a timeout (a busy host, a lost packet) is tried once
   * more after about requestTimeoutMs, so a slow moment is not taken for a
   * crash (an offline mark stands until the user's next HELLO). A finished
   * handshake proves the user's key is alive at its address: a PING lost
   * after it (the session closed by a busy peer) marks nothing.
   */
  private probe(username: string, attempt = 1): void {
    const { cfg, clock } = this.core
    const e = this.s.directory.lka.get(username)
    if (!e || !e.online) return
    const delay = attempt === 1 ? PROBE_DELAY_MS : cfg.timers.requestTimeoutMs * (0.5 + cfg.random())
    const t = clock.setTimeout(() => {
      if (this.core.stopping || this.s.table.peerOf(username)) return
      this.s.table
        .sessionTo(username)
        .then((p) => {
          this.s.directory.lka.touch(username, clock.now())
          this.ping(p).catch((err: unknown) => this.core.log('probe PING to %s failed after the handshake (%s): still online', username, (err as Error).message))
        })
        .catch((err: unknown) => {
          if (attempt === 1 && timedOut(err)) {
            this.core.log('probe of %s timed out (%s): trying once more', username, (err as Error).message)
            this.probe(username, 2)
          } else this.userUnreachable(username, err)
        })
    }, delay)
    t.unref?.()
  }

  /**
   * A user whose HELLO lists relays said it cannot be dialled: a failed
   * dial or PING says nothing about it (its relays may be changing), so it
   * goes offline only by its leaving HELLO or the user timeout.
   */
  userUnreachable(username: string, cause: unknown): void {
    if (this.core.stopping || this.s.table.peerOf(username) || this.s.relays.listsRelays(username)) return
    this.core.log('%s unreachable (%s): marked offline', username, (cause as Error)?.message)
    if (this.s.directory.lka.markOffline(username)) this.core.emit('user-left', username)
  }

  ping(peer: Peer): Promise<number> {
    const [hi, lo] = randomId()
    const sentAt = this.core.clock.now()
    const done = peer.expectPong(lo, sentAt, this.core.cfg.timers.requestTimeoutMs)
    peer.trySend(MsgType.PING, 0, 0, 0, hi, lo, encodePing({ nonce: BigInt(lo), sentAt: BigInt(Math.floor(sentAt * 1000)) }))
    return done
  }
}
