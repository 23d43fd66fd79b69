// What keeps one peer from costing a node too much: cut-offs for quotas
// (ts/overlay/quotas.ts), relay budgets so an honest relay never passes on
// more than its neighbours' quotas allow, and CPU metering that slows a heavy
// but valid sender instead of cutting it off.
import { systemClock, type Timer } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import { MsgType } from '../core/protocol.js'
import type { Core, Gate, Sessions } from './context.js'
import { ByeReason } from './link-codec.js'
import type { Peer } from './peer.js'
import type { CutOffReason } from './quotas.js'
import { RelayBudget } from './relay-budget.js'

export class Guard implements Gate {
  private readonly relayBudgets = new Map<number, RelayBudget>()
  /** Peers whose reading is paused for their CPU budget, and the timer that resumes it. */
  private readonly throttled = new Map<Peer, Timer>()
  /** Relay share of this node's own floods (any object unlike a Peer). */
  private readonly own = {}

  constructor(
    private readonly core: Core,
    private readonly s: { table: Sessions },
  ) {}

  /**
   * Relay budgets, one per flood type: this node relays at most half the
   * rate (and less than the burst) that its neighbours' quotas allow per
   * link, so an honest relay is never cut off for passing on someone else's
   * storm; the excess is dropped here (relayDropped) and the storm dies
   * within a hop. Each source has a fair share of it (relay-budget.ts).
   */
  private budget(type: number, now: number): RelayBudget {
    let b = this.relayBudgets.get(type)
    if (!b) {
      const q = this.core.cfg.quotas
      const rate = type === MsgType.HELLO ? q.helloPerSecond : type === MsgType.DISCOVER ? q.discoverPerSecond : Math.min(q.framesPerSecond, q.duplicatesPerSecond)
      b = new RelayBudget({ rate: Math.max(1, rate / 2), burst: Math.max(1, rate * 2), shares: this.core.cfg.links.max }, now)
      this.relayBudgets.set(type, b)
    }
    return b
  }

  relayToken(type: number, source?: Peer): boolean {
    const now = this.core.clock.now()
    return this.budget(type, now).take(source ?? this.own, now)
  }

  relayDelay(type: number): number {
    const now = this.core.clock.now()
    return this.budget(type, now).waitTime(this.own, now)
  }

  /**
   * The CPU budget is real time throughout: the cost is the real time the
   * work took (t0 from performance.now()), so the budget refills, and a
   * paused peer resumes, by real time too, whatever the node's clock. A peer
   * gets at most cpuMsPerSecond of real CPU per real second, and on a
   * ManualClock that stands still an honest peer is slowed, never stalled.
   */
  chargeCpu(peer: Peer, t0: number): void {
    const now = systemClock.now()
    const wait = peer.quota.chargeCpu(now, now - t0)
    if (wait === 0 || this.throttled.has(peer) || !peer.open) return
    this.core.stats.throttled++
    peer.session.pause()
    // Not unref'd: on a ManualClock this real timer may be all that is left
    // to resume a session that a closing peer waits on. It is short (the
    // debt over the rate) and cleared when the peer goes (forget).
    const t = systemClock.setTimeout(() => {
      this.throttled.delete(peer)
      if (peer.open && !peer.cut) peer.session.resume()
    }, wait)
    this.throttled.set(peer, t)
  }

  badSignature(peer: Peer, reason: string): void {
    this.core.stats.badSignature++
    this.core.log('bad signature from %s: %s', peer.username, reason)
    const over = peer.quota.badSignature(this.core.clock.now())
    if (over !== null) this.cutOff(peer, over)
  }

  duplicate(peer: Peer): void {
    this.core.stats.dedupHits++
    const over = peer.quota.duplicate(this.core.clock.now())
    if (over !== null) this.cutOff(peer, over)
  }

  countCutOff(reason: CutOffReason): void {
    const stats = this.core.stats
    stats.cutOff++
    stats.cutOffReasons[reason] = (stats.cutOffReasons[reason] ?? 0) + 1
  }

  /** Quota exceeded: refuse the identity for a while and close at once. */
  cutOff(peer: Peer, reason: CutOffReason): void {
    if (peer.cut) return
    peer.markCut()
    this.countCutOff(reason)
    this.s.table.ban(peer)
    this.core.log('cut off %s: quota "%s" exceeded', peer.username, reason)
    this.s.table.closePeer(peer, ByeReason.RATE_LIMITED, `quota exceeded: ${reason}`, new P4Error('QUOTA_EXCEEDED', `${peer.username} exceeded the "${reason}" quota`))
  }

  /**
   * An end-to-end box from `via` was opened (or failed to): the time since
   * `t0` is charged to it. A unicast box that does not open counts towards
   * cutting its sender off; a group box may be under another key (and was
   * only relayed by `via`), so it is just counted.
   */
  boxOpened(via: Peer, t0: number, ok: boolean, unicast: boolean): void {
    if (!ok) {
      this.core.stats.decryptFailed++
      const over = unicast ? via.quota.decryptFailure(this.core.clock.now()) : null
      if (over !== null) {
        this.cutOff(via, over)
        return
      }
    }
    this.chargeCpu(via, t0)
  }

  forget(peer: Peer): void {
    const t = this.throttled.get(peer)
    if (t === undefined) return
    systemClock.clearTimeout(t)
    this.throttled.delete(peer)
  }
}
