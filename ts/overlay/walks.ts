// DISCOVER random walks (P4): a node short of links sends a signed walk to
// a random link; each hop forwards it to a random other link, or — once it
// may end — connects back to the walk's origin with the probability its
// configuration gives, and says which walk the link answers (CONNECT).
import { sameBytes, toHex } from '../core/bytes.js'
import { randomId } from '../core/ids.js'
import { Flag, HEADER_SIZE, MsgType, messageIdOf } from '../core/protocol.js'
import type { Frame } from '../session/session.js'
import type { Core, Floods, Gate, Sessions, Walks } from './context.js'
import { headerOf } from './frames.js'
import { decodeConnect, decodeDiscover, encodeConnect, encodeDiscover } from './discover-codec.js'
import type { Peer } from './peer.js'
import { buildSignedFrame, verifySignedParts } from './signing.js'

export class WalkRouter implements Walks {
  /** Own walks not answered yet: walk ID → monotonic ms started. */
  private readonly pending = new Map<bigint, number>()
  private lostInARow = 0

  constructor(
    private readonly core: Core,
    private readonly s: { table: Sessions; floods: Floods; guard: Gate },
  ) {}

  get lost(): number {
    return this.lostInARow
  }

  resetLost(): void {
    this.lostInARow = 0
  }

  start(): void {
    const { cfg, clock, stats } = this.core
    const links = [...this.s.table.links.values()]
    if (links.length === 0 || this.core.listenPort === 0) return
    const [hi, lo] = randomId()
    const walkId = messageIdOf(hi, lo) || 1n
    const body = encodeDiscover({
      username: cfg.username,
      host: this.core.advertiseHost,
      port: this.core.listenPort,
      walkId,
      minHops: cfg.discover.minHops,
      maxHops: cfg.discover.maxHops,
      sentAt: Math.floor(clock.wall()),
    })
    const [mh, ml] = randomId()
    const frame = buildSignedFrame(cfg.identity, { type: MsgType.DISCOVER, flags: 0, pluginId: 0, messageId: messageIdOf(mh, ml), body })
    const target = links[Math.floor(cfg.random() * links.length)]!
    this.s.floods.remember(cfg.identity.publicKey, mh, ml)
    target.trySend(MsgType.DISCOVER, Flag.SIGNED, 0, 0, mh, ml, frame.subarray(HEADER_SIZE))
    this.pending.set(walkId, clock.now())
    stats.walksStarted++
  }

  expire(now: number): number {
    const timeout = this.core.cfg.timers.walkTimeoutMs
    for (const [id, at] of this.pending) {
      if (now - at <= timeout) continue
      this.pending.delete(id)
      this.lostInARow++
    }
    return this.pending.size
  }

  /** A CONNECT: the link it came on answers one of our walks. */
  connected(f: Frame): void {
    const c = decodeConnect(f.payload)
    if (c.walkId !== 0n && this.pending.delete(c.walkId)) {
      this.core.stats.walksAnswered++
      this.lostInARow = 0
    }
  }

  /** A DISCOVER from `from`: forward it, end it here (connect back), or drop it. */
  handle(from: Peer, f: Frame): void {
    const { cfg, clock, stats } = this.core
    const { table, floods, guard } = this.s
    // A walk passes a node once: a replayed or looping DISCOVER is a duplicate.
    if (floods.seenBefore(from, f)) return
    const t0 = performance.now()
    const v = verifySignedParts(headerOf(f, f.payload.length), f.payload)
    guard.chargeCpu(from, t0)
    if (!v.ok) {
      guard.badSignature(from, v.reason)
      return
    }
    floods.remember(v.originKey, f.idHi, f.idLo)
    const d = decodeDiscover(v.body)
    const hops = f.hops + 1 // hops taken, counting the one that brought it here
    const age = clock.wall() - d.sentAt
    // Too old, or stamped in the future beyond the clock skew (which would never expire).
    if (age > cfg.timers.walkTimeoutMs || age < -cfg.timers.clockSkewMs) {
      stats.staleWalk++
      return
    }
    if (sameBytes(v.originKey, cfg.identity.publicKey)) return // came back to us
    const originHex = toHex(v.originKey)
    const linked = table.links.has(originHex)
    const others = [...table.links.values()].filter((p) => p !== from && p.keyHex !== originHex)
    const mayEnd = hops >= d.minHops && !linked && !this.core.stopping
    const mustEnd = hops >= d.maxHops
    const forward = others.length > 0 && !mustEnd && (!mayEnd || cfg.random() < cfg.discover.forwardProbability)
    if (forward) {
      const next = others[Math.floor(cfg.random() * others.length)]!
      if (guard.relayToken(f.type, from)) next.trySend(f.type, f.flags, f.hops + 1, f.pluginId, f.idHi, f.idLo, f.payload)
      else stats.relayDropped++
      return
    }
    if (!mayEnd) return
    // End of the walk: open a link back to its origin and say which walk it answers.
    table.dial(d.host, d.port, 'link', v.originKey).then(
      (peer) => {
        const [hi, lo] = randomId()
        peer.trySend(MsgType.CONNECT, 0, 0, 0, hi, lo, encodeConnect({ username: cfg.username, host: this.core.advertiseHost, port: this.core.listenPort, walkId: d.walkId }))
      },
      (err) => this.core.log('DISCOVER connect-back to %s failed: %s', d.username, (err as Error).message),
    )
  }
}
