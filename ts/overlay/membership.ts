// Membership: the user table and this node's own HELLO. A HELLO is applied
// when it is in the time window, its key may use its name, and the table
// takes it; the table then binds the name to the key, and that binding is
// the only way a key becomes a name (for attribution and unicast). With the
// authority policy a binding lasts only as long as its certificate.
import { P4Error } from '../core/errors.js'
import { sameBytes, toHex } from '../core/bytes.js'
import { randomId } from '../core/ids.js'
import { Flag, MsgType, messageIdOf } from '../core/protocol.js'
import type { Core, Directory, Floods, Reach, RelayService, Sessions } from './context.js'
import { LkaTable, type VerifiedHello } from './lka.js'
import { ByeReason } from './link-codec.js'
import { encodeHello, HELLO_BODY_MAX, nextHelloSeq, type Hello } from './hello-codec.js'
import type { Peer } from './peer.js'
import { relayExtension } from './relay-codec.js'
import { buildSignedFrame } from './signing.js'
import { FEATURE_LEAVING } from './types.js'
import { VersionedMap } from './versioned-map.js'

export class Membership implements Directory {
  readonly lka: LkaTable
  /** identity key (hex) → the username the table binds to it and when its certificate expires (wall ms). */
  private readonly keyToUser = new VersionedMap<string, { name: string; expiresAt: number }>()
  /** Identity keys (hex) whose clock warning was already given. */
  private readonly clockWarned = new Set<string>()
  private helloSeq = 0n
  private helloAt = 0
  /** Our newest flooded HELLO (hops 0), re-sent to new neighbours and in LKA_ACK. */
  private lastOwnHello: Buffer | null = null
  private supersededNow = false

  constructor(
    private readonly core: Core,
    private readonly s: { table: Sessions; floods: Floods; reach: Reach; relays: RelayService },
  ) {
    this.lka = new LkaTable({ maxUsers: core.cfg.maxUsers })
  }

  /** HELLO sequence numbers are timestamps: anything from before this start is older. */
  start(): void {
    this.helloSeq = BigInt(Math.floor(this.core.clock.wall()))
  }

  get lastHelloAt(): number {
    return this.helloAt
  }

  get superseded(): boolean {
    return this.supersededNow
  }

  /** Our newest flooded HELLO, if we have one (LKA answers carry it). */
  get latestHello(): Buffer | null {
    return this.lastOwnHello
  }

  usernameOf(identityKey: Uint8Array): string | undefined {
    return this.bound(toHex(identityKey), identityKey)
  }

  usernameOfPeer(peer: Peer): string | undefined {
    return this.bound(peer.keyHex, peer.remote.identityKey, peer)
  }

  // With `peer`, the lookups are made once per change of the key bindings or
  // the user table, not per frame: the peer remembers the name it found and
  // when (the tables' versions); only the certificate's expiry is checked
  // every time.
  private bound(hex: string, identityKey: Uint8Array, peer?: Peer): string | undefined {
    if (peer !== undefined && peer.boundVersion === this.keyToUser.version + this.lka.version) {
      const until = peer.boundUntil
      return until === Infinity || until > this.core.clock.wall() ? peer.boundName : undefined
    }
    const b = this.keyToUser.get(hex)
    if (b === undefined) return undefined
    if (b.expiresAt !== Infinity && b.expiresAt <= this.core.clock.wall()) return undefined
    const e = this.lka.get(b.name)
    if (e === undefined) return undefined
    if (!sameBytes(e.identityKey, identityKey)) return undefined
    if (peer !== undefined) {
      peer.boundName = b.name
      peer.boundUntil = b.expiresAt
      peer.boundVersion = this.keyToUser.version + this.lka.version
    }
    return b.name
  }

  /**
   * Whether a HELLO's time (its sequence number is a Unix ms timestamp) is in
   * the window this node accepts: not more than clockSkewMs ahead, not older
   * than userTimeoutMs + clockSkewMs. A HELLO that came straight from its
   * origin (`direct`) and is out of window means the two clocks disagree: say
   * so once per peer, since every HELLO it sends will be refused.
   */
  private inWindow(v: VerifiedHello, direct: boolean): boolean {
    const { clockSkewMs, userTimeoutMs } = this.core.cfg.timers
    const now = this.core.clock.wall()
    const at = Number(v.hello.seq)
    if (at <= now + clockSkewMs && at >= now - userTimeoutMs - clockSkewMs) return true
    this.core.stats.staleHello++
    const hex = toHex(v.identityKey)
    if (direct && !this.clockWarned.has(hex)) {
      if (this.clockWarned.size >= 1024) this.clockWarned.clear()
      this.clockWarned.add(hex)
      const minutes = Math.round((at - now) / 60_000)
      this.core.emit(
        'warning',
        new P4Error(
          'CLOCK_SKEW',
          `the HELLO of ${v.hello.username} is stamped ${Math.abs(minutes)} min ${minutes > 0 ? 'ahead of' : 'behind'} this node's clock ` +
            `(at most ${Math.round(clockSkewMs / 60_000)} min ahead or ${Math.round((userTimeoutMs + clockSkewMs) / 60_000)} min old is accepted), so it is refused; ` +
            "if every peer reports this, check this machine's clock",
        ),
      )
    }
    this.core.log('HELLO of %s refused: stamped %d ms from now', v.hello.username, at - now)
    return false
  }

  acceptHello(v: VerifiedHello, from: Peer | null, hops: number): boolean {
    const { cfg, stats } = this.core
    const hello = v.hello
    if (!this.inWindow(v, from !== null && hops === 0 && sameBytes(from.remote.identityKey, v.identityKey))) return false
    if (hello.username === cfg.username) {
      if (!sameBytes(v.identityKey, cfg.identity.publicKey)) {
        // Someone else claiming our name.
        stats.untrustedKey++
        return false
      }
      // Our own identity, logged on elsewhere (roaming): newer than ours means
      // this node is superseded and must not announce a leave for the user.
      if (hello.seq > this.helloSeq && (hello.host !== this.core.advertiseHost || hello.port !== this.core.listenPort)) {
        this.supersededNow = true
        this.core.log('user %s logged on at %s:%d; this node is superseded', hello.username, hello.host, hello.port)
      }
      return true
    }
    try {
      this.s.table.checkTrust(hello.username, v.identityKey, hello.certificate)
    } catch (err) {
      this.core.log('HELLO for %s rejected: %s', hello.username, (err as Error).message)
      return false
    }
    const current = this.lka.get(hello.username)
    const wasOnline = current?.online ?? false
    const leaving = (hello.features & FEATURE_LEAVING) !== 0
    if (leaving && current && current.online && sameBytes(current.identityKey, v.identityKey) && (current.host !== hello.host || current.port !== hello.port)) {
      // A leave from an address the user has already moved away from: the
      // user is still online at the newer address. Pass it on, change nothing.
      return true
    }
    const r = this.lka.applyHello(v, this.core.clock.now())
    if (r.status === 'rejected') {
      stats.untrustedKey++
      this.core.log('HELLO for %s rejected: %s', hello.username, r.reason)
      return false
    }
    if (r.status === 'stale') {
      stats.staleHello++
      return false
    }
    this.bind(v.identityKey, hello.username, hello.certificate)
    if (leaving) {
      if (this.lka.markOffline(hello.username) || wasOnline) this.core.emit('user-left', hello.username)
      return true
    }
    if (!wasOnline) this.core.emit('user-joined', hello.username)
    else if (r.status === 'moved') this.core.emit('user-moved', hello.username)
    else this.core.emit('user-updated', hello.username)
    return true
  }

  private bind(identityKey: Uint8Array, name: string, certificate: Uint8Array | undefined): void {
    const hex = toHex(identityKey)
    const before = this.keyToUser.get(hex)
    if (before !== undefined && before.name !== name) this.keyToUser.delete(hex)
    this.keyToUser.set(hex, { name, expiresAt: this.certificateExpiry(certificate) })
    if (this.keyToUser.size > 2 * this.core.cfg.maxUsers) {
      // The table evicts and replaces entries: drop bindings it no longer holds.
      for (const [h, b] of this.keyToUser) {
        const e = this.lka.get(b.name)
        if (!e || toHex(e.identityKey) !== h) this.keyToUser.delete(h)
      }
    }
  }

  /** Wall-clock ms until which `certificate` vouches for its user (Infinity when the policy needs none). */
  certificateExpiry(certificate: Uint8Array | undefined): number {
    const policy = this.core.cfg.trust
    if (!policy.validUntil) return Infinity
    return policy.validUntil(certificate && certificate.length > 0 ? certificate : undefined)
  }

  /**
   * Certificates expire while nodes run: a session whose user's certificate
   * (the one shown in its handshake, or a newer one from its HELLO) expired
   * is closed, and the user is dropped from the table (nothing is delivered
   * as from it: attribution checks the expiry on every message).
   */
  enforceExpiry(): void {
    const { cfg, clock, stats } = this.core
    if (!cfg.trust.validUntil) return
    const now = clock.wall()
    for (const [hex, b] of this.keyToUser) {
      if (b.expiresAt > now) continue
      this.keyToUser.delete(hex)
      const e = this.lka.get(b.name)
      if (e && toHex(e.identityKey) === hex) {
        const wasOnline = e.online
        this.lka.remove(b.name)
        this.core.log('certificate of %s expired: dropped from the user table', b.name)
        if (wasOnline) this.core.emit('user-left', b.name)
      }
    }
    for (const p of [...this.s.table.links.values(), ...this.s.table.directs.values()]) {
      if (p.expiresAt > now || !p.open) continue
      const renewed = this.keyToUser.get(p.keyHex)
      if (renewed !== undefined && renewed.expiresAt > now) {
        p.extendValidity(renewed.expiresAt) // its newer HELLO carried a newer certificate
        continue
      }
      stats.expired++
      this.core.log('certificate of %s expired: closing its session', p.username)
      this.s.table.closePeer(p, ByeReason.UNTRUSTED, 'certificate expired')
    }
  }

  /**
   * Replaces this node's certificate (authority policy renewal) and announces
   * it. Throws UNTRUSTED_KEY when the policy refuses it for this node.
   */
  setCertificate(certificate: Uint8Array): void {
    const cfg = this.core.cfg
    cfg.trust.check(cfg.username, cfg.identity.publicKey, certificate)
    cfg.certificate = certificate
    if (this.core.running && this.s.table.links.size > 0) this.floodHello()
  }

  ownHello(): Buffer | null {
    if (this.supersededNow || this.core.stopping || this.core.listenPort === 0) return null
    if (this.lastOwnHello === null) {
      const [hi, lo] = randomId()
      const identity = this.core.cfg.identity
      this.lastOwnHello = Buffer.from(buildSignedFrame(identity, { type: MsgType.HELLO, flags: Flag.BROADCAST, pluginId: 0, messageId: messageIdOf(hi, lo), body: this.buildHello(false) }))
      this.s.floods.remember(identity.publicKey, hi, lo)
    }
    return this.lastOwnHello
  }

  private buildHello(leaving: boolean): Uint8Array {
    const cfg = this.core.cfg
    this.helloSeq = nextHelloSeq(this.helloSeq, this.core.clock.wall())
    const hello: Hello = {
      username: cfg.username,
      staticKey: cfg.identity.staticPublicKey,
      host: this.core.advertiseHost,
      port: this.core.listenPort,
      seq: this.helloSeq,
      features: leaving ? FEATURE_LEAVING : this.s.reach.helloBits,
      plugins: [...this.core.plugins].sort((a, b) => a - b),
      certificate: cfg.certificate,
    }
    const body = encodeHello(hello)
    // The relays this node can be reached through, as many as fit.
    for (let relays = leaving ? [] : this.s.relays.current(); relays.length > 0; relays = relays.slice(0, -1)) {
      const extensions = relayExtension(relays)
      if (body.length + extensions.length <= HELLO_BODY_MAX) return encodeHello({ ...hello, extensions })
    }
    return body
  }

  floodHello(leaving = false): void {
    if (this.supersededNow) return
    this.helloAt = this.core.clock.now()
    const frame = this.s.floods.originate(MsgType.HELLO, Flag.BROADCAST, 0, this.buildHello(leaving))
    this.lastOwnHello = leaving ? null : frame
  }
}
