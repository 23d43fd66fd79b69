// Dial-backs this node makes for peers that ask (REACH DIAL): a fresh
// connection to the address, whose handshake must prove the asker's key.
// Bounded so that no peer can use it as a port scanner or to send
// connections anywhere: only for a link (a relayed session's connection
// comes from its relay), only to the IP address the asker's own connection
// comes from, at most reach.servePerPeer a minute per identity,
// reach.servePerMinute a minute in all and reach.serveAtOnce at a time.
// Everything else is answered REFUSED and counted (stats().dialBacksRefused).
import type { Core, Sessions } from './context.js'
import type { Peer } from './peer.js'
import { canonicalHost, DialStatus, encodeReach, ReachKind } from './reach-codec.js'
import { MsgType } from '../core/protocol.js'

const WINDOW_MS = 60_000

/** Drops the times older than the window; returns how many are left. */
function prune(times: number[], now: number): number {
  let i = 0
  while (i < times.length && now - times[i]! >= WINDOW_MS) i++
  if (i > 0) times.splice(0, i)
  return times.length
}

export class DialBackServer {
  private inProgress = 0
  /** Monotonic ms of the dial-backs of the last minute, all peers. */
  private readonly recent: number[] = []
  /** The same per identity (hex); only identities with a dial-back in the last minute are kept. */
  private readonly perPeer = new Map<string, number[]>()

  constructor(
    private readonly core: Core,
    private readonly s: { table: Sessions },
  ) {}

  /** A DIAL from `peer`: refused, or host:port is dialled and the result sent back. */
  serve(peer: Peer, id: number, host: string, port: number): void {
    const now = this.core.clock.now()
    const why = this.refusal(peer, host, now)
    if (why !== undefined) {
      this.core.stats.dialBacksRefused++
      this.core.log('dial-back for %s to %s:%d refused: %s', peer.username, host, port, why)
      answer(peer, id, DialStatus.REFUSED)
      return
    }
    this.recent.push(now)
    const mine = this.perPeer.get(peer.keyHex)
    if (mine) mine.push(now)
    else this.perPeer.set(peer.keyHex, [now])
    this.inProgress++
    this.core.stats.dialBacks++
    this.s.table.probe(host, port, peer.remote.identityKey).then(
      () => this.done(peer, id, DialStatus.REACHABLE),
      (err: unknown) => {
        this.core.log('dial-back for %s: %s', peer.username, (err as Error).message)
        this.done(peer, id, DialStatus.UNREACHABLE)
      },
    )
  }

  private done(peer: Peer, id: number, status: DialStatus): void {
    this.inProgress--
    if (peer.open) answer(peer, id, status)
  }

  /** Why a DIAL is not served, or undefined when it is. */
  private refusal(peer: Peer, host: string, now: number): string | undefined {
    const cfg = this.core.cfg.reach
    // Only links ask (reach.ts): a relayed session's connection comes from its relay, not the peer.
    if (peer.kind !== 'link') return 'not a link'
    const from = canonicalHost(peer.remote.host)
    if (canonicalHost(host) !== from) return `not its own address (its connection comes from ${from})`
    if (cfg.servePerMinute === 0) return 'dial-backs are off (reach.servePerMinute 0)'
    if (this.inProgress >= cfg.serveAtOnce) return `${this.inProgress} dial-backs in progress (reach.serveAtOnce)`
    if (prune(this.recent, now) >= cfg.servePerMinute) return `${cfg.servePerMinute} dial-backs in the last minute (reach.servePerMinute)`
    const mine = this.perPeer.get(peer.keyHex)
    if (mine !== undefined && prune(mine, now) >= cfg.servePerPeer) return `${cfg.servePerPeer} dial-backs for it in the last minute (reach.servePerPeer)`
    // Identities with nothing left in the window go, so the map stays within servePerMinute entries or so.
    if (this.perPeer.size > 2 * cfg.servePerMinute) for (const [k, t] of this.perPeer) if (prune(t, now) === 0) this.perPeer.delete(k)
    return undefined
  }
}

function answer(peer: Peer, id: number, status: DialStatus): void {
  peer.trySend(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.RESULT, id, status }))
}
