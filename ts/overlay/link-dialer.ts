// New links for link upkeep (upkeep.ts): dials the bootstrap list, the peer
// cache and known users, each address with backoff; rejoins when walks keep
// dying; and keeps the node in one component with its bootstrap.
import { P4Error } from '../core/errors.js'
import type { Address } from '../transport/types.js'
import type { Core, Directory, LkaSync, Sessions, Walks } from './context.js'
import { DialBackoff } from './retry.js'

/** Longest wait between rejoins. */
const REJOIN_MAX_MS = 60_000
/** How often a linked node checks it is in one component with its bootstrap. */
const BOOTSTRAP_CHECK_MS = 1000

function addressKey(a: { host: string; port: number }): string {
  return `${a.host}:${a.port}`
}

export class LinkDialer {
  private readonly backoff: DialBackoff
  private readonly bootstrapKeys: ReadonlySet<string>
  /** Monotonic ms before which short-of-links maintenance does not rejoin again. */
  private nextRejoin = 0
  /** Rejoins since this node last had links.min links: the backoff's exponent. */
  private rejoins = 0
  /**
   * In one component with its bootstrap, as last checked: linked to a
   * bootstrap address, or holding an online user announced from one (whose
   * name is kept in bootstrapUser for a cheap recheck).
   */
  private reached = false
  private bootstrapUser: string | null = null
  private lastReachedCheck = -Infinity
  /** Bootstrap addresses whose current run of failures was already reported ('warning'). */
  private readonly warned = new Set<string>()

  constructor(
    private readonly core: Core,
    private readonly s: { table: Sessions; directory: Directory; lka: LkaSync; walks: Walks },
  ) {
    const cfg = core.cfg
    this.backoff = new DialBackoff(cfg.random, 3 * cfg.timers.walkTimeoutMs)
    this.bootstrapKeys = new Set(cfg.bootstrap.map(addressKey))
  }

  /** The node has links.min links: the next rejoin waits the shortest time again. */
  resetRejoins(): void {
    this.rejoins = 0
  }

  /** Rejoins, unless the wait after the last rejoin has not passed yet. */
  rejoinIfDue(now: number): void {
    if (now >= this.nextRejoin) this.rejoin(now)
  }

  /**
   * Linked, but apart from the bootstrap: others may have joined through
   * this node while its own bootstrap link failed or was pruned, an island
   * content with its links. Dial the bootstrap (with backoff) until linked
   * to it or its user is announced here (then both are in one component).
   */
  stayWithBootstrap(now: number): void {
    if (this.bootstrapKeys.size === 0 || this.s.table.links.size === 0 || now - this.lastReachedCheck < BOOTSTRAP_CHECK_MS) return
    this.lastReachedCheck = now
    this.reached = this.reachedBootstrap()
    if (!this.reached) this.dialUnlinked(this.core.cfg.bootstrap) // not the cache: it has links
  }

  /** Dials the bootstrap addresses and peer-cache candidates this node is not linked to. */
  join(): void {
    const cfg = this.core.cfg
    const targets: Address[] = [...cfg.bootstrap]
    if (cfg.peerCache) for (const p of cfg.peerCache.candidates(this.core.clock.wall(), cfg.links.min)) targets.push({ host: p.host, port: p.port })
    this.dialUnlinked(targets)
  }

  /** Short of links with walks dying: join again and link a known user; the next try waits longer. */
  private rejoin(now: number): void {
    const { cfg } = this.core
    this.s.walks.resetLost()
    this.rejoins++
    this.core.log('walks find no one new (links=%d): rejoining, attempt %d', this.s.table.links.size, this.rejoins)
    const wait = Math.min(REJOIN_MAX_MS, cfg.timers.walkTimeoutMs * 2 ** Math.min(this.rejoins, 10))
    this.nextRejoin = now + wait * (0.5 + cfg.random())
    this.join()
    this.linkKnownUser()
  }

  /** Dials those of `targets` this node has no link to (tryLink applies the backoff). */
  private dialUnlinked(targets: readonly Address[]): void {
    const linked = this.linkedAddresses()
    for (const t of targets) if (!linked.has(addressKey(t))) this.tryLink(t.host, t.port)
  }

  /** "host:port" of every link's listening address. */
  private linkedAddresses(): Set<string> {
    const linked = new Set<string>()
    for (const p of this.s.table.links.values()) {
      const r = p.remote
      if (r.listenPort !== 0) linked.add(addressKey({ host: r.host, port: r.listenPort }))
    }
    return linked
  }

  private reachedBootstrap(): boolean {
    const lka = this.s.directory.lka
    if (this.bootstrapUser !== null && lka.get(this.bootstrapUser)?.online) return true
    for (const a of this.linkedAddresses()) if (this.bootstrapKeys.has(a)) return true
    for (const e of lka.list()) {
      if (e.online && this.bootstrapKeys.has(addressKey(e))) {
        this.bootstrapUser = e.username
        return true
      }
    }
    return false
  }

  /**
   * A hint from LAN discovery: links host:port, which must prove
   * `identityKey`, with the backoff of every other dial. Undefined when the
   * address waits out its backoff; the promise never rejects.
   */
  dialHint(host: string, port: number, identityKey: Uint8Array): Promise<void> | undefined {
    return this.tryLink(host, port, identityKey)
  }

  private tryLink(host: string, port: number, expectKey?: Uint8Array): Promise<void> | undefined {
    const { cfg, clock } = this.core
    const key = addressKey({ host, port })
    if (!this.backoff.mayDial(key, clock.now(), this.s.table.links.size === 0)) return undefined
    if (port === this.core.listenPort && (host === this.core.advertiseHost || host === cfg.advertiseHost || host === cfg.host)) return undefined
    return this.s.table.dial(host, port, 'link', expectKey).then(
      (peer) => {
        // A finished handshake is not yet a link the other side keeps: a peer
        // that refuses our key after the handshake (a stale tofu pin, an
        // allowlist) closes at once. Only a link that carried frames other
        // than a BYE, or lasted, clears the backoff; one that did neither
        // counts as a failed dial, so a refusal is not redialled at once.
        const upAt = clock.now()
        void peer.session.done.then(() => {
          const carried = peer.session.stats().framesIn > (peer.byeReceived ? 1 : 0)
          if (carried || clock.now() - upAt >= cfg.timers.requestTimeoutMs) {
            this.backoff.succeeded(key)
            this.warned.delete(key)
            return
          }
          this.backoff.failedAt(key, clock.now())
          this.warnBootstrap(
            key,
            new P4Error('UNTRUSTED_KEY', `bootstrap ${key} closed the link right after the handshake: it may refuse this node's key for "${cfg.username}" (a key it pinned for this name earlier?); retrying with backoff`),
          )
        })
        if (!this.reached && this.bootstrapKeys.has(key)) {
          // An island reaching its bootstrap: swap tables with it (push-pull).
          this.reached = true
          if (peer.open) this.s.lka.requestFrom(peer)
        }
      },
      (err) => {
        this.backoff.failedAt(key, clock.now())
        cfg.peerCache?.markFailure(host, port, clock.wall())
        this.core.log('link to %s failed: %s', key, (err as Error).message)
        const code = err instanceof P4Error ? err.code : 'UNREACHABLE'
        this.warnBootstrap(key, new P4Error(code, `bootstrap: ${(err as Error).message} (retrying with backoff)`, { cause: err }))
      },
    )
  }

  /** Reports the first failure of a run at a bootstrap address: why the node may be alone. */
  private warnBootstrap(key: string, err: P4Error): void {
    if (!this.bootstrapKeys.has(key) || this.warned.has(key)) return
    this.warned.add(key)
    this.core.emit('warning', err)
  }

  /** Falls back to linking a random known user when walks keep failing. */
  linkKnownUser(exceptKeyHex?: string): void {
    const links = this.s.table.links
    const candidates = this.s.directory.lka.list().filter((e) => {
      if (!e.online || e.port === 0 || e.host === '') return false
      const hex = Buffer.from(e.identityKey).toString('hex')
      return hex !== exceptKeyHex && !links.has(hex)
    })
    if (candidates.length === 0) return
    const e = candidates[Math.floor(this.core.cfg.random() * candidates.length)]!
    this.tryLink(e.host, e.port)
  }
}
