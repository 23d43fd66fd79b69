// The overlay: every session this node holds, what each frame type means,
// flooding, membership (HELLO / LKA / leave), DISCOVER walks and link upkeep.
// The Node (ts/node.ts) owns one Overlay and turns it into the public API.
//
// Frame handling in one place keeps the protocol readable top to bottom:
//   onFrame → HELLO / DATA+BROADCAST: flood()  (dedup → verify → forward → deliver)
//           → DISCOVER: walk()                 (verify → forward or connect back)
//           → PING / PING_ACK / LKA / LKA_ACK / CONNECT / BYE / DATA: point to point
import { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import { randomFillSync } from 'node:crypto'
import { debuglog } from 'node:util'
import { P4Error, isP4Error } from '../core/errors.js'
import { shareVerifications, type Identity } from '../core/identity.js'
import { Flag, HDR_MSGID, HEADER_SIZE, MsgType, ORIGIN_BLOCK_SIZE, messageIdOf, writeHeader } from '../core/protocol.js'
import { acceptSession, initiateSession, type RemoteInfo } from '../session/handshake.js'
import { LinkIntent } from '../session/handshake-payload.js'
import { Session, type Frame } from '../session/session.js'
import type { Address, Conn, Listener, Transport } from '../transport/types.js'
import { DedupTable } from '../wasm/dedup.js'
import { LkaTable, verifyHelloFrame, type LkaEntry, type VerifiedHello } from './lka.js'
import {
  ByeReason,
  decodeBye,
  decodeConnect,
  decodeDiscover,
  decodeHello,
  decodeLkaAck,
  decodeLkaRequest,
  decodePing,
  encodeBye,
  encodeConnect,
  encodeDiscover,
  encodeHello,
  encodeLkaAckParts,
  encodeLkaRequest,
  encodePing,
  nextHelloSeq,
} from './messages.js'
import { Peer } from './peer.js'
import type { PeerCache } from './peer-cache.js'
import { buildSignedFrame, verifySignedParts } from './signing.js'
import type { TrustPolicy } from './trust.js'
import type { CutOffReason, Quotas } from './quotas.js'
import { RelayBudget } from './relay-budget.js'

const log = debuglog('p4net:overlay')

/** HELLO feature bit: the user is leaving (signed, flooded, so everyone marks them offline). */
export const FEATURE_LEAVING = 1

/** How many of a node's first links are asked for their LKA table. */
const LKA_ASK_LINKS = 3
/** Walks lost in a row (short of links) before the node dials its bootstrap and cache again. */
const REJOIN_AFTER_LOST_WALKS = 3
/** Longest wait between such rejoins. */
const REJOIN_MAX_MS = 60_000

/** A closing session that has not finished closing after this is destroyed. */
const CLOSE_DEADLINE_MS = 1000
/** Longest wait between dials of one address that keeps failing. */
const DIAL_BACKOFF_MAX_MS = 60_000
/** How often a linked node checks it is in one component with its bootstrap. */
const BOOTSTRAP_CHECK_MS = 1000

export interface OverlayTimers {
  /** Link upkeep period (min/max, walks, pings, idle directs). */
  maintenanceMs: number
  /** PING period on idle links; a link silent for 3 periods is closed. */
  pingIntervalMs: number
  /** A link younger than this is never closed except on stop (P4: 30 s). */
  linkMinAgeMs: number
  /** Direct sessions idle this long are closed. */
  directIdleMs: number
  /** Own HELLO is re-flooded this often. */
  helloRefreshMs: number
  /** A user not heard of (no HELLO) for this long is marked offline. */
  userTimeoutMs: number
  /** Handshake deadline. */
  handshakeTimeoutMs: number
  /** Timeout of latency() and of dialling. */
  requestTimeoutMs: number
  /**
   * Clock difference tolerated between nodes: a HELLO stamped more than this
   * in the future, or older than userTimeoutMs plus this, is refused (a
   * replayed old HELLO cannot roll a user back, even after a restart), and
   * so is a DISCOVER sent more than this in the future.
   */
  clockSkewMs: number
  /** A DISCOVER walk not answered within this is given up. */
  walkTimeoutMs: number
  /**
   * One random link is asked for its LKA table about this often (jittered):
   * a HELLO that a relay budget or a full queue dropped on its way is
   * learned within a period instead of at the next refresh.
   */
  lkaSyncMs: number
}

export interface OverlayConfig {
  identity: Identity
  username: string
  transport: Transport
  host: string
  port: number
  /** Host advertised in HELLO (default: the bound host). */
  advertiseHost: string
  bootstrap: Address[]
  links: { min: number; max: number; hardCap: number }
  maxDirect: number
  maxMessage: number
  hopLimit: number
  discover: { forwardProbability: number; minHops: number; maxHops: number }
  timers: OverlayTimers
  dedup: { capacity: number; ttlMs: number }
  maxUsers: number
  trust: TrustPolicy
  certificate?: Uint8Array
  peerCache?: PeerCache
  /** Session buffer sizes. */
  highWaterMark: number
  /** Random source in [0, 1), replaceable for deterministic tests. */
  random: () => number
  quotas: Quotas
}

export interface OverlayStats {
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
  delivered: number
  forwarded: number
  dedupHits: number
  dropped: number
  droppedSlowPeer: number
  hopLimit: number
  badSignature: number
  untrustedKey: number
  badFrame: number
  staleHello: number
  unknownOrigin: number
  decryptFailed: number
  /** Messages dropped because their plugin requires end-to-end encryption and they were plaintext. */
  notEncrypted: number
  walksStarted: number
  /** DISCOVERs dropped as too old or stamped in the future beyond clockSkewMs. */
  staleWalk: number
  walksAnswered: number
  handshakeFailures: number
  /** Sessions closed because their certificate expired. */
  expired: number
  /** Times a peer's reading was paused because it used up its CPU budget. */
  throttled: number
  /** Peers cut off by quotas, in all and by reason. */
  cutOff: number
  cutOffReasons: Partial<Record<CutOffReason, number>>
  /** Floods not relayed because this node's relay budget was spent. */
  relayDropped: number
}

/** What the overlay hands up for a DATA frame. */
export interface DataEvent {
  pluginId: number
  from: string
  fromKey: Uint8Array
  /** Payload as received (an e2e or group box when flags has ENCRYPTED). */
  body: Uint8Array
  flags: number
  idHi: number
  idLo: number
  /** The session it arrived on (its sender for unicast, the relaying link for a broadcast). */
  via: Peer
}

export interface LinkInfo {
  /**
   * The user at the other end: the name the user table binds to the peer's
   * identity key, else (verified false) the name it gave in its handshake,
   * which only the trust policy has checked.
   */
  username: string
  /** True when the user table binds `username` to this peer's key. */
  verified: boolean
  /** CPU time (ms) spent on this peer's expensive work: signature checks, box opens (see quotas.cpuMsPerSecond). */
  cpuMs: number
  host: string
  port: number
  status: 'link' | 'direct'
  initiator: boolean
  since: number
  rtt: number | undefined
}

const ID_POOL = new Uint32Array(1024)
let idPoolAt = ID_POOL.length

/** A fresh random 64-bit message ID as two u32 (collision-resistant: CSPRNG). */
export function randomId(): [number, number] {
  if (idPoolAt + 2 > ID_POOL.length) {
    randomFillSync(ID_POOL)
    idPoolAt = 0
  }
  const hi = ID_POOL[idPoolAt++]!
  const lo = ID_POOL[idPoolAt++]!
  return [hi, lo]
}

/**
 * The header of a received frame, rebuilt for signature checks. One scratch
 * buffer: verification reads it synchronously and copies what it keeps.
 */
const HEADER_SCRATCH = Buffer.alloc(HEADER_SIZE)
const HEADER_VIEW = new DataView(HEADER_SCRATCH.buffer, HEADER_SCRATCH.byteOffset, HEADER_SIZE)
function header(f: { type: number; flags: number; hops: number; pluginId: number; idHi: number; idLo: number }, length: number): Buffer {
  writeHeader(HEADER_VIEW, 0, f.type, f.flags, f.hops, f.pluginId, length, f.idHi, f.idLo)
  return HEADER_SCRATCH
}

/** True when `err` or one of its causes is a TIMEOUT (inconclusive, unlike a refusal). */
function timedOut(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (isP4Error(e, 'TIMEOUT')) return true
  }
  return false
}

function addressKey(a: { host: string; port: number }): string {
  return `${a.host}:${a.port}`
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0
}

function hexOf(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')
}

/**
 * What identifies a flood: its origin's key and its message ID together (a
 * reused ID under another key is another message). Used for sets of stored
 * frames (header || origin block || body); the dedup table keeps its own
 * keyed fingerprint of the same pair.
 */
function floodKey(frame: Uint8Array): string {
  if (frame.length < HEADER_SIZE + 32) throw new P4Error('BAD_ARGUMENT', 'not a signed frame')
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength)
  return b.toString('latin1', HDR_MSGID, HDR_MSGID + 8) + b.toString('latin1', HEADER_SIZE, HEADER_SIZE + 32)
}

/** A session the overlay does not keep is closed within this, whatever the peer does. */
const DISCARD_DEADLINE_MS = CLOSE_DEADLINE_MS


export class Overlay extends EventEmitter {
  readonly cfg: OverlayConfig
  readonly lka: LkaTable
  readonly dedup: DedupTable
  readonly stats: OverlayStats = {
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    delivered: 0,
    forwarded: 0,
    dedupHits: 0,
    dropped: 0,
    droppedSlowPeer: 0,
    hopLimit: 0,
    badSignature: 0,
    untrustedKey: 0,
    badFrame: 0,
    staleHello: 0,
    unknownOrigin: 0,
    decryptFailed: 0,
    notEncrypted: 0,
    walksStarted: 0,
    staleWalk: 0,
    walksAnswered: 0,
    handshakeFailures: 0,
    expired: 0,
    throttled: 0,
    cutOff: 0,
    cutOffReasons: {},
    relayDropped: 0,
  }
  /** Links by remote identity key (hex). */
  readonly links = new Map<string, Peer>()
  /** Direct sessions by remote identity key (hex). */
  readonly directs = new Map<string, Peer>()
  /** Bytes/frames of sessions that already closed, so stats() never goes backwards. */
  private closedTotals = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 }
  private listener: Listener | null = null
  private timer: NodeJS.Timeout | null = null
  private plugins = new Set<number>()
  private helloSeq = 0n
  private lastHelloAt = 0
  /** Complete LKA answers received: links are asked until LKA_ASK_LINKS have answered. */
  private lkaAnswers = 0
  /** Monotonic ms of the next LKA sync with a random link. */
  private nextLkaSync = 0
  private stopping = false
  private started = false
  private readonly pendingDials = new Map<string, Promise<Peer>>()
  private readonly walks = new Map<bigint, number>()
  /** Walks that timed out since one was last answered. */
  private walksLost = 0
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
  private readonly bootstrapKeys: ReadonlySet<string>
  private bootstrapUser: string | null = null
  private lastReachedCheck = 0
  private readonly conns = new Set<Conn>()
  private readonly dialBackoff = new Map<string, { failures: number; at: number; jitter: number }>()
  boundAddress: Address | null = null
  private pendingInbound = 0
  /** Sessions being torn down that sit in no table (refused, duplicate, replaced). */
  private readonly discarding = new Set<Session<RemoteInfo>>()
  /** Identity keys (hex) whose clock warning was already given. */
  private readonly clockWarned = new Set<string>()
  /** Identities cut off by quotas → monotonic ms until which they are refused. */
  private readonly banned = new Map<string, number>()

  constructor(cfg: OverlayConfig) {
    super()
    this.cfg = cfg
    this.bootstrapKeys = new Set(cfg.bootstrap.map(addressKey))
    this.lka = new LkaTable({ maxUsers: cfg.maxUsers })
    this.dedup = new DedupTable({ capacity: cfg.dedup.capacity, ttlMs: cfg.dedup.ttlMs })
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<Address> {
    if (this.started) throw new P4Error('ALREADY_STARTED', 'overlay already started')
    this.started = true
    const cfg = this.cfg
    this.listener = await cfg.transport.listen(cfg.host, cfg.port, (conn) => this.accept(conn))
    shareVerifications(true)
    this.boundAddress = this.listener.address
    // HELLO sequence numbers are timestamps: anything from before this start is older.
    this.helloSeq = BigInt(Date.now())
    this.timer = setInterval(() => this.maintain(), cfg.timers.maintenanceMs)
    this.timer.unref?.()
    this.join()
    return this.boundAddress
  }

  /** Leaves cleanly: a signed leaving HELLO, BYE on every session, then close all. */
  async stop(): Promise<void> {
    if (!this.started || this.stopping) return
    this.stopping = true
    shareVerifications(false)
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    if (this.links.size > 0 && !this.superseded) this.floodHello(true)
    const all = [...this.links.values(), ...this.directs.values()]
    for (const p of all) this.sendBye(p, ByeReason.SHUTDOWN, 'node stopping')
    await this.listener?.close()
    await Promise.all(
      all.map(async (p) => {
        const t = setTimeout(() => p.session.destroy(), 2000)
        await p.session.close()
        clearTimeout(t)
      }),
    )
    for (const c of this.conns) c.destroy()
    this.conns.clear()
    for (const s of this.discarding) s.destroy()
    this.discarding.clear()
    await Promise.allSettled([...this.pendingDials.values()])
    this.dedup.close()
  }

  get running(): boolean {
    return this.started && !this.stopping
  }

  // ---------------------------------------------------------------- sessions

  private handshakeOptions(intent: LinkIntent) {
    const cfg = this.cfg
    return {
      identity: cfg.identity,
      username: cfg.username,
      listenPort: this.boundAddress?.port ?? 0,
      intent,
      extension: cfg.certificate,
      timeoutMs: cfg.timers.handshakeTimeoutMs,
      trust: (remote: RemoteInfo) => this.checkTrust(remote.username, remote.identityKey, remote.extension),
    }
  }

  private checkTrust(username: string, identityKey: Uint8Array, certificate?: Uint8Array): void {
    if (username === this.cfg.username && !sameKey(identityKey, this.cfg.identity.publicKey)) {
      // A node's own name is always bound to its own key, whatever the policy.
      this.stats.untrustedKey++
      throw new P4Error('UNTRUSTED_KEY', `${JSON.stringify(username)} is this node's own username; key ${hexOf(identityKey).slice(0, 16)}… is not its key`)
    }
    const hex = hexOf(identityKey)
    const until = this.banned.get(hex)
    if (until !== undefined) {
      if (performance.now() < until) throw new P4Error('QUOTA_EXCEEDED', `${username} was cut off for exceeding a quota`)
      this.banned.delete(hex)
    }
    try {
      this.cfg.trust.check(username, identityKey, certificate && certificate.length > 0 ? certificate : undefined)
    } catch (err) {
      this.stats.untrustedKey++
      throw err
    }
  }

  private accept(conn: Conn): void {
    if (this.stopping) return conn.destroy()
    // Sessions being torn down count too: each holds a socket (and perhaps a
    // partial frame) until its close deadline.
    if (this.pendingInbound + this.discarding.size >= this.cfg.quotas.maxPendingHandshakes) {
      this.countCutOff('handshakes')
      log('refused a connection: %d handshakes pending, %d sessions closing', this.pendingInbound, this.discarding.size)
      return conn.destroy()
    }
    this.pendingInbound++
    this.conns.add(conn)
    acceptSession(conn, this.handshakeOptions(LinkIntent.OVERLAY)).then(
      (h) => {
        this.pendingInbound--
        this.conns.delete(conn)
        if (this.stopping) return conn.destroy()
        const kind = h.remote.intent === LinkIntent.DIRECT ? 'direct' : 'link'
        this.adopt(new Session(h, this.sessionOptions()), kind, false)
      },
      (err) => {
        this.pendingInbound--
        this.conns.delete(conn)
        this.stats.handshakeFailures++
        log('inbound handshake failed: %s', (err as Error).message)
      },
    )
  }

  private sessionOptions() {
    return { maxMessage: this.cfg.maxMessage + 4096, highWaterMark: this.cfg.highWaterMark }
  }

  /**
   * Dials host:port and completes the handshake. `expectKey` (when given) is
   * the identity the peer must prove, else UNREACHABLE. One dial per address
   * at a time.
   */
  dial(host: string, port: number, intent: 'link' | 'direct', expectKey?: Uint8Array): Promise<Peer> {
    const key = `${intent}/${host}:${port}`
    const pending = this.pendingDials.get(key)
    if (pending) return pending
    const p = this.doDial(host, port, intent, expectKey).finally(() => this.pendingDials.delete(key))
    this.pendingDials.set(key, p)
    return p
  }

  private async doDial(host: string, port: number, intent: 'link' | 'direct', expectKey?: Uint8Array): Promise<Peer> {
    if (this.stopping) throw new P4Error('CLOSED', 'node is stopping')
    let conn: Conn
    try {
      conn = await this.cfg.transport.dial(host, port, { timeoutMs: this.cfg.timers.requestTimeoutMs })
    } catch (err) {
      throw new P4Error('UNREACHABLE', `cannot connect to ${host}:${port}: ${(err as Error).message}`, { cause: err })
    }
    this.conns.add(conn)
    try {
      const h = await initiateSession(conn, this.handshakeOptions(intent === 'link' ? LinkIntent.OVERLAY : LinkIntent.DIRECT))
      this.conns.delete(conn)
      if (this.stopping) {
        conn.destroy()
        throw new P4Error('CLOSED', 'node is stopping')
      }
      if (sameKey(h.remote.identityKey, this.cfg.identity.publicKey)) {
        conn.destroy()
        throw new P4Error('UNREACHABLE', `${host}:${port} is this node`)
      }
      if (expectKey && !sameKey(h.remote.identityKey, expectKey)) {
        conn.destroy()
        throw new P4Error('UNREACHABLE', `${host}:${port} is not the expected user (${h.remote.username} answered)`)
      }
      const peer = this.adopt(new Session(h, this.sessionOptions()), intent, true)
      if (!peer) throw new P4Error('UNREACHABLE', `${host}:${port}: session refused`)
      // Only an address this node dialled itself, and where the handshake
      // proved a key, goes into the peer cache (never one a peer claims).
      if (intent === 'link') this.cfg.peerCache?.markSuccess(host, port, Date.now(), h.remote.username)
      return peer
    } catch (err) {
      this.conns.delete(conn)
      conn.destroy()
      if (err instanceof P4Error && (err.code === 'UNREACHABLE' || err.code === 'CLOSED')) throw err
      this.stats.handshakeFailures++
      throw new P4Error('UNREACHABLE', `handshake with ${host}:${port} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Takes a fresh session into the link or direct table; returns the Peer kept (or null). */
  private adopt(session: Session<RemoteInfo>, kind: 'link' | 'direct', initiator: boolean): Peer | null {
    const remote = session.remote
    if (sameKey(remote.identityKey, this.cfg.identity.publicKey)) {
      session.destroy()
      return null
    }
    const existing = kind === 'link' ? this.links.get(hexOf(remote.identityKey)) : undefined
    // Two sessions with one node, one dialled by each side, are a cross-dial.
    // Anything else is the identity connecting again (a reconnect), or its
    // user logged on at another node (roaming): the newer session replaces
    // the older one (below).
    const crossDial =
      existing !== undefined && existing.initiator !== initiator && existing.remote.host === remote.host && existing.remote.listenPort === remote.listenPort
    if (crossDial) {
      // Both sides dialled each other: keep the link dialled by the smaller
      // identity key, on both ends, so exactly one survives.
      const mineSmaller = Buffer.compare(this.cfg.identity.publicKey, remote.identityKey) < 0
      if (initiator !== mineSmaller) {
        this.discard(session, ByeReason.LINK_CLOSE, 'duplicate link')
        return existing
      }
    } else if (existing === undefined && kind === 'link' && this.links.size >= this.cfg.links.hardCap) {
      this.discard(session, ByeReason.RATE_LIMITED, 'link limit reached')
      return null
    }
    const peer = new Peer(session, kind, initiator, performance.now(), this.cfg.quotas)
    peer.expiresAt = this.certificateExpiry(remote.extension)
    session.onframe = (f) => this.onFrame(peer, f)
    session.on('close', (reason: P4Error | null) => this.onClose(peer, reason))
    session.conn.resume()
    if (kind === 'direct') {
      if (this.directs.size >= this.cfg.maxDirect) this.closeIdlestDirect()
      const old = this.directs.get(peer.keyHex)
      this.directs.set(peer.keyHex, peer)
      if (old && old.open) this.retire(old, 'replaced by a newer direct session')
      // Our signed HELLO first, so the other side can tie this session's key
      // to our name before any DATA on it (attribution goes through the table).
      const hello = this.ownHello()
      if (hello) this.sendStored(peer, hello)
      return peer
    }
    this.links.set(peer.keyHex, peer)
    if (existing) {
      this.retire(existing, crossDial ? 'duplicate link' : 'replaced by a newer session of this identity')
      return peer
    }
    log('link up: %s (%s) links=%d', remote.username, initiator ? 'out' : 'in', this.links.size)
    this.emit('link-up', this.linkInfo(peer))
    this.afterLinkUp(peer)
    return peer
  }

  /**
   * Tears down a session the overlay does not keep (refused, the losing
   * side of a duplicate link): its frames are never processed, it stops
   * being read (so a half-sent frame cannot grow), gets a BYE, and is
   * destroyed at the deadline if the peer does not close first. Until then it
   * counts against maxPendingHandshakes.
   */
  private discard(session: Session<RemoteInfo>, reason: number, text: string): void {
    session.ignoreInput()
    this.discarding.add(session)
    const [hi, lo] = randomId()
    try {
      session.send(MsgType.BYE, 0, 0, 0, hi, lo, encodeBye({ reason, text }))
    } catch {
      // closed or full: the destroy below is the answer then
    }
    void session.close()
    const t = setTimeout(() => session.destroy(), DISCARD_DEADLINE_MS)
    t.unref?.()
    void session.done.then(() => {
      clearTimeout(t)
      this.discarding.delete(session)
    })
  }

  /** Takes a kept peer out of its table (replaced by a newer session) and discards its session. */
  private retire(peer: Peer, text: string): void {
    if (this.directs.get(peer.keyHex) === peer) this.directs.delete(peer.keyHex)
    peer.kind = 'direct' // no longer counted as a link, so its close emits no link-down
    peer.bye = true
    peer.ended(new P4Error('CLOSED', `session to ${peer.username} was ${text}`))
    this.discard(peer.session, ByeReason.LINK_CLOSE, text)
  }

  private peerAddress(peer: Peer): Address | null {
    const r = peer.remote
    if (r.listenPort === 0) return null
    return { host: r.host, port: r.listenPort }
  }

  private onClose(peer: Peer, reason: P4Error | null): void {
    const st = peer.session.stats()
    this.closedTotals.framesIn += st.framesIn
    this.closedTotals.framesOut += st.framesOut
    this.closedTotals.bytesIn += st.bytesIn
    this.closedTotals.bytesOut += st.bytesOut
    peer.ended(new P4Error('CLOSED', `session to ${peer.username} closed`, { cause: reason ?? undefined }))
    if (this.links.get(peer.keyHex) === peer) {
      this.links.delete(peer.keyHex)
      log('link down: %s (%s) links=%d', peer.username, reason?.message ?? 'closed', this.links.size)
      this.emit('link-down', this.linkInfo(peer), reason)
      if (!this.stopping && this.links.size < this.cfg.links.min) setImmediate(() => this.maintain())
      // Closed by the other side (pruned as one too many, or it left) and now
      // at the minimum: replace it with a random known user. Content at the
      // minimum, nodes pruned by their neighbours can otherwise end up linked
      // only among themselves (three such formed an island of the small-profile
      // 1,000-node run), and walks from there find no one outside.
      else if (!this.stopping && peer.byeReceived && this.links.size === this.cfg.links.min) this.linkKnownUser(peer.keyHex)
    } else if (this.directs.get(peer.keyHex) === peer) {
      this.directs.delete(peer.keyHex)
    }
    if (reason && !peer.bye) log('session to %s ended: %s', peer.username, reason.message)
    // A link lost without BYE may mean the node died: probe the user once,
    // and mark it offline here if nothing answers (P4: failed PINGs).
    if ((!peer.bye || peer.silent) && !peer.cut && !this.stopping && peer.kind === 'link') {
      const name = this.usernameOf(peer.remote.identityKey)
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
    const e = this.lka.get(username)
    if (!e || !e.online) return
    const delay = attempt === 1 ? 50 : this.cfg.timers.requestTimeoutMs * (0.5 + this.cfg.random())
    const t = setTimeout(() => {
      if (this.stopping || this.peerOf(username)) return
      this.sessionTo(username)
        .then((p) => {
          this.lka.touch(username, performance.now())
          this.ping(p).catch((err: unknown) => log('probe PING to %s failed after the handshake (%s): still online', username, (err as Error).message))
        })
        .catch((err: unknown) => {
          if (attempt === 1 && timedOut(err)) {
            log('probe of %s timed out (%s): trying once more', username, (err as Error).message)
            this.probe(username, 2)
          } else this.userUnreachable(username, err)
        })
    }, delay)
    t.unref?.()
  }

  /** Marks a user offline after a failed PING or dial; emits user-left. */
  userUnreachable(username: string, cause: unknown): void {
    if (this.stopping || this.peerOf(username)) return
    log('%s unreachable (%s): marked offline', username, (cause as Error)?.message)
    if (this.lka.markOffline(username)) this.emit('user-left', username)
  }

  private sendBye(peer: Peer, reason: number, text: string): void {
    peer.bye = true
    const [hi, lo] = randomId()
    peer.trySend(MsgType.BYE, 0, 0, 0, hi, lo, encodeBye({ reason, text }))
  }

  /**
   * BYE, then a graceful close with a deadline: a peer that never finishes
   * the close (a dead host, a peer that does not read) is destroyed after it.
   */
  private closePeer(peer: Peer, reason: number, text: string, err?: P4Error): void {
    this.sendBye(peer, reason, text)
    void peer.session.close()
    const t = setTimeout(() => peer.session.destroy(err), CLOSE_DEADLINE_MS)
    t.unref?.()
    void peer.session.done.then(() => clearTimeout(t))
  }

  private closeIdlestDirect(): void {
    let idlest: Peer | null = null
    for (const p of this.directs.values()) if (!idlest || p.lastActive < idlest.lastActive) idlest = p
    if (idlest) {
      this.directs.delete(idlest.keyHex)
      this.closePeer(idlest, ByeReason.IDLE, 'too many direct sessions')
    }
  }

  linkInfo(peer: Peer): LinkInfo {
    const r = peer.remote
    const bound = this.usernameOf(r.identityKey)
    return {
      username: bound ?? r.username,
      verified: bound !== undefined,
      cpuMs: peer.quota.cpuMs,
      host: r.host,
      port: r.listenPort || r.port,
      status: peer.kind,
      initiator: peer.initiator,
      since: peer.since,
      rtt: peer.rtt,
    }
  }

  /**
   * The open session (a link, else a direct session) whose identity key is
   * the one the user table binds to `username`. Never a session that only
   * claims the name in its handshake.
   */
  peerOf(username: string): Peer | undefined {
    const e = this.lka.get(username)
    if (!e) return undefined
    const hex = hexOf(e.identityKey)
    const p = this.links.get(hex) ?? this.directs.get(hex)
    return p && p.open ? p : undefined
  }

  /** A session to `username`: existing, or a new direct one to its last known address. */
  async sessionTo(username: string): Promise<Peer> {
    const existing = this.peerOf(username)
    if (existing) return existing
    const e = this.lka.get(username)
    if (!e || !e.online) throw new P4Error('UNKNOWN_USER', `no known user "${username}"`)
    if (e.port === 0 || e.host === '') throw new P4Error('UNREACHABLE', `${username} does not accept connections`)
    return this.dial(e.host, e.port, 'direct', e.identityKey)
  }

  // ---------------------------------------------------------------- sending

  /** Sends one DATA frame point to point. */
  sendData(peer: Peer, pluginId: number, flags: number, body: Uint8Array, hi: number, lo: number): Promise<void> {
    peer.lastActive = performance.now()
    const s = peer.session
    if (s.closed) return Promise.reject(new P4Error('UNREACHABLE', `session to ${peer.username} closed`))
    const ok = s.send(MsgType.DATA, flags, 0, pluginId, hi, lo, body)
    if (ok) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const onDrain = (): void => {
        s.off('close', onClose)
        resolve()
      }
      const onClose = (): void => {
        s.off('drain', onDrain)
        reject(new P4Error('UNREACHABLE', `session to ${peer.username} closed`))
      }
      s.once('drain', onDrain)
      s.once('close', onClose)
    })
  }

  /**
   * Floods a signed message this node originates; `body` may depend on the
   * message ID (AAD of an encrypted broadcast). Returns the signed frame.
   */
  originate(type: number, flags: number, pluginId: number, body: Uint8Array | ((hi: number, lo: number) => Uint8Array)): Buffer {
    const [hi, lo] = randomId()
    const bytes = typeof body === 'function' ? body(hi, lo) : body
    const frame = Buffer.from(buildSignedFrame(this.cfg.identity, { type, flags, pluginId, messageId: messageIdOf(hi, lo), body: bytes }))
    const payload = frame.subarray(HEADER_SIZE)
    this.dedupInsert(this.cfg.identity.publicKey, hi, lo)
    for (const p of this.links.values()) {
      if (!p.trySend(type, flags | Flag.SIGNED, 0, pluginId, hi, lo, payload)) this.stats.droppedSlowPeer++
    }
    return frame
  }

  /** Sends a stored signed frame (hops 0) to one peer, unchanged. */
  private sendStored(peer: Peer, stored: Uint8Array): void {
    const frame = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength) // a view, no copy
    peer.trySend(frame[1]!, frame[2]!, 0, frame.readUInt16BE(4), frame.readUInt32BE(10), frame.readUInt32BE(14), frame.subarray(HEADER_SIZE))
  }

  // The seen-table holds floods by (origin key, message ID): see floodKey.
  private dedupSeen(origin: Uint8Array, hi: number, lo: number): boolean {
    return this.dedup.hasOrigin(origin, hi, lo, performance.now())
  }

  private dedupInsert(origin: Uint8Array, hi: number, lo: number): boolean {
    return this.dedup.insertOrigin(origin, hi, lo, performance.now())
  }

  // ---------------------------------------------------------------- receiving

  private onFrame(peer: Peer, f: Frame): void {
    if (peer.cut) return
    const now = performance.now()
    peer.lastHeard = now
    this.stats.framesIn++
    if (f.type !== MsgType.DATA || (f.flags & Flag.BROADCAST) !== 0) {
      const over =
        peer.quota.frame(now) ??
        (f.type === MsgType.HELLO ? peer.quota.helloFrame(now) : f.type === MsgType.DISCOVER ? peer.quota.discoverFrame(now) : null)
      if (over !== null) return this.cutOff(peer, over)
    }
    try {
      switch (f.type) {
        case MsgType.HELLO:
          return this.flood(peer, f)
        case MsgType.DATA:
          peer.lastActive = now
          if (f.flags & Flag.BROADCAST) return this.flood(peer, f)
          return this.unicastData(peer, f)
        case MsgType.DISCOVER:
          return this.walk(peer, f)
        case MsgType.PING:
          peer.trySend(MsgType.PING_ACK, 0, 0, 0, f.idHi, f.idLo, f.payload)
          return
        case MsgType.PING_ACK: {
          const ping = decodePing(f.payload)
          peer.pong(Number(ping.nonce & 0xffffffffn), performance.now())
          return
        }
        case MsgType.LKA:
          return this.answerLka(peer, f)
        case MsgType.LKA_ACK:
          return this.applyLkaAck(peer, f)
        case MsgType.CONNECT: {
          const c = decodeConnect(f.payload)
          if (c.walkId !== 0n && this.walks.delete(c.walkId)) {
            this.stats.walksAnswered++
            this.walksLost = 0
          }
          return
        }
        case MsgType.BYE: {
          const bye = decodeBye(f.payload)
          peer.bye = true
          peer.byeReceived = true
          log('BYE from %s: %d %s', peer.username, bye.reason, bye.text)
          void peer.session.close()
          return
        }
      }
    } catch (err) {
      // A malformed body is the sender's fault: count it, drop the frame, and
      // cut the peer off (a valid session that sends garbage is broken or hostile).
      this.stats.badFrame++
      log('bad frame from %s: %s', peer.username, (err as Error).message)
      this.closePeer(peer, ByeReason.PROTOCOL_ERROR, (err as Error).message.slice(0, 100))
    }
  }

  /**
   * A flood seen before (same origin key and message ID): dropped, and
   * charged to the sender's duplicate quota. A payload too short to name
   * its origin is a broken frame.
   */
  private seenBefore(from: Peer, f: Frame): boolean {
    if (f.payload.length < ORIGIN_BLOCK_SIZE) throw new P4Error('BAD_FRAME', 'signed payload shorter than its origin block')
    if (!this.dedupSeen(f.payload.subarray(0, 32), f.idHi, f.idLo)) return false
    this.stats.dedupHits++
    const over = from.quota.duplicate(performance.now())
    if (over !== null) this.cutOff(from, over)
    return true
  }

  /** Flooding: hop limit → dedup → signature → forward → deliver. */
  private flood(from: Peer, f: Frame): void {
    if (f.hops >= this.cfg.hopLimit) {
      this.stats.hopLimit++
      return
    }
    if (this.seenBefore(from, f)) return
    const origin = f.payload.subarray(0, 32)
    const hdr = header(f, f.payload.length)
    if (f.type === MsgType.HELLO) {
      const v = this.verifyHello(hdr, f.payload, from)
      if (v === null) return
      // Verified: never verify this flood again, whatever we make of it.
      this.dedupInsert(origin, f.idHi, f.idLo)
      if (this.acceptHello(v, from, f.hops)) this.forward(from, f)
      return
    }
    const t0 = performance.now()
    const v = verifySignedParts(hdr, f.payload)
    this.chargeCpu(from, t0)
    if (!v.ok) {
      this.badSignatureFrom(from, v.reason)
      return
    }
    this.dedupInsert(origin, f.idHi, f.idLo)
    this.forward(from, f)
    if (f.type === MsgType.DATA) this.deliver(f, v.originKey, v.body, from)
  }

  /**
   * Charges the CPU time since `t0` to `peer`. A peer past its budget is not
   * cut off but stops being read (frames already opened wait in its session)
   * until the debt is paid, so a heavy sender is slowed by TCP backpressure
   * and cannot hold the event loop longer than quotas.cpuBurstMs.
   */
  chargeCpu(peer: Peer, t0: number): void {
    const now = performance.now()
    const wait = peer.quota.chargeCpu(now, now - t0)
    if (wait === 0 || peer.throttle !== null || !peer.open) return
    this.stats.throttled++
    peer.session.pause()
    peer.throttle = setTimeout(() => {
      peer.throttle = null
      if (peer.open && !peer.cut) peer.session.resume()
    }, wait)
    peer.throttle.unref?.()
  }

  /** Sends a received flooded frame on, unchanged but for hops + 1, to every link but `from`. */
  private forward(from: Peer | null, f: { type: number; flags: number; hops: number; pluginId: number; idHi: number; idLo: number; payload: Uint8Array }): void {
    if (!this.relayToken(f.type, from ?? undefined)) {
      this.stats.relayDropped++
      return
    }
    for (const p of this.links.values()) {
      if (p === from) continue
      if (p.trySend(f.type, f.flags, f.hops + 1, f.pluginId, f.idHi, f.idLo, f.payload)) this.stats.forwarded++
      else this.stats.droppedSlowPeer++
    }
  }

  private verifyHello(hdr: Uint8Array, payload: Uint8Array, from: Peer): VerifiedHello | null {
    const t0 = performance.now()
    try {
      return verifyHelloFrame(Buffer.concat([hdr, payload]))
    } catch (err) {
      if (err instanceof P4Error && err.code === 'BAD_SIGNATURE') this.badSignatureFrom(from, err.message)
      else {
        this.stats.badFrame++
        log('bad HELLO from %s: %s', from.username, (err as Error).message)
      }
      return null
    } finally {
      this.chargeCpu(from, t0)
    }
  }

  private deliver(f: Frame, originKey: Uint8Array, body: Uint8Array, via: Peer): void {
    if (!this.plugins.has(f.pluginId)) return
    const from = this.usernameOf(originKey)
    if (from === undefined) {
      this.stats.unknownOrigin++
      return
    }
    this.stats.delivered++
    this.emit('data', { pluginId: f.pluginId, from, fromKey: originKey, body, flags: f.flags, idHi: f.idHi, idLo: f.idLo, via } satisfies DataEvent)
  }

  /**
   * Unicast DATA, attributed through the user table: the sender is the user
   * whose (unexpired) entry holds this session's identity key, never the name
   * the peer gave in its handshake. A session whose key the table does not
   * hold delivers nothing (it sends its signed HELLO first, see adopt).
   */
  private unicastData(peer: Peer, f: Frame): void {
    // Unicast relies on the session's authentication; an origin block here
    // would reach the plugin unverified, so the protocol forbids it.
    if (f.flags & Flag.SIGNED) throw new P4Error('BAD_FRAME', 'a unicast DATA frame must not be SIGNED')
    if (!this.plugins.has(f.pluginId)) {
      this.stats.dropped++
      return
    }
    const from = this.usernameOfHex(peer.keyHex, peer.remote.identityKey)
    if (from === undefined) {
      this.stats.unknownOrigin++
      return
    }
    this.stats.delivered++
    this.emit('data', {
      pluginId: f.pluginId,
      from,
      fromKey: peer.remote.identityKey,
      body: f.payload,
      flags: f.flags,
      idHi: f.idHi,
      idLo: f.idLo,
      via: peer,
    } satisfies DataEvent)
  }

  /** identity key (hex) → the username the table binds to it and when its certificate expires (wall ms). */
  private readonly keyToUser = new Map<string, { name: string; expiresAt: number }>()

  /**
   * The username the user table binds to `identityKey`, if its entry holds
   * this key and its certificate (authority policy) has not expired.
   */
  usernameOf(identityKey: Uint8Array): string | undefined {
    return this.usernameOfHex(hexOf(identityKey), identityKey)
  }

  /** usernameOf for a key already in hex (a Peer's keyHex: no conversion per message). */
  private usernameOfHex(hex: string, identityKey: Uint8Array): string | undefined {
    const bound = this.keyToUser.get(hex)
    if (bound === undefined) return undefined
    if (bound.expiresAt !== Infinity && bound.expiresAt <= Date.now()) return undefined
    const e = this.lka.get(bound.name)
    return e && sameKey(e.identityKey, identityKey) ? bound.name : undefined
  }

  /**
   * Called by the plugin layer for an end-to-end box it opened (or failed
   * to) for a frame that came through `via`: the time since `t0` is charged
   * to that peer's CPU budget. A unicast box that does not open counts
   * towards cutting its sender off; a group box may be under another key
   * (and was only relayed by `via`), so it is just counted.
   */
  openedBox(via: Peer, t0: number, ok: boolean, unicast: boolean): void {
    if (!ok) {
      this.stats.decryptFailed++
      const over = unicast ? via.quota.decryptFailure(performance.now()) : null
      if (over !== null) {
        this.cutOff(via, over)
        return
      }
    }
    this.chargeCpu(via, t0)
  }

  /**
   * Relay budgets, one per flood type: this node relays at most half the
   * rate (and less than the burst) that its neighbours' quotas allow per
   * link, so an honest relay is never cut off for passing on someone else's
   * storm; the excess is dropped here (relayDropped) and the storm dies
   * within a hop. Each source has a fair share of it (ts/overlay/relay-budget.ts).
   */
  private readonly relayBudgets = new Map<number, RelayBudget>()

  private relayBudget(type: number, now: number): RelayBudget {
    let b = this.relayBudgets.get(type)
    if (!b) {
      const q = this.cfg.quotas
      const rate = type === MsgType.HELLO ? q.helloPerSecond : type === MsgType.DISCOVER ? q.discoverPerSecond : Math.min(q.framesPerSecond, q.duplicatesPerSecond)
      b = new RelayBudget({ rate: Math.max(1, rate / 2), burst: Math.max(1, rate * 2), shares: this.cfg.links.max }, now)
      this.relayBudgets.set(type, b)
    }
    return b
  }

  /** Takes one relay token for a flood of `type` from `source` (a link; none: this node's own); false when spent. */
  relayToken(type: number, source?: Peer): boolean {
    const now = performance.now()
    return this.relayBudget(type, now).take(source ?? this, now)
  }

  /** Milliseconds until a relay token for this node's own flood of `type` is available (0: now). */
  relayDelay(type: number): number {
    const now = performance.now()
    return this.relayBudget(type, now).waitTime(this, now)
  }

  private badSignatureFrom(peer: Peer, reason: string): void {
    this.stats.badSignature++
    log('bad signature from %s: %s', peer.username, reason)
    const over = peer.quota.badSignature(performance.now())
    if (over !== null) this.cutOff(peer, over)
  }

  private countCutOff(reason: CutOffReason): void {
    this.stats.cutOff++
    this.stats.cutOffReasons[reason] = (this.stats.cutOffReasons[reason] ?? 0) + 1
  }

  /** Quota exceeded: refuse the identity for a while and close at once. */
  private cutOff(peer: Peer, reason: CutOffReason): void {
    if (peer.cut) return
    peer.cut = true
    this.countCutOff(reason)
    this.banned.set(peer.keyHex, performance.now() + this.cfg.quotas.banMs)
    if (this.banned.size > 4096) this.banned.delete(this.banned.keys().next().value!)
    log('cut off %s: quota "%s" exceeded', peer.username, reason)
    this.closePeer(peer, ByeReason.RATE_LIMITED, `quota exceeded: ${reason}`, new P4Error('QUOTA_EXCEEDED', `${peer.username} exceeded the "${reason}" quota`))
  }

  // ---------------------------------------------------------------- membership

  /**
   * Whether a HELLO's time (its sequence number is a Unix ms timestamp) is in
   * the window this node accepts: not more than clockSkewMs ahead, not older
   * than userTimeoutMs + clockSkewMs. A HELLO that came straight from its
   * origin (`direct`) and is out of window means the two clocks disagree: say
   * so once per peer, since every HELLO it sends will be refused.
   */
  private helloInWindow(v: VerifiedHello, direct: boolean): boolean {
    const { clockSkewMs, userTimeoutMs } = this.cfg.timers
    const now = Date.now()
    const at = Number(v.hello.seq)
    if (at <= now + clockSkewMs && at >= now - userTimeoutMs - clockSkewMs) return true
    this.stats.staleHello++
    const hex = hexOf(v.identityKey)
    if (direct && !this.clockWarned.has(hex)) {
      if (this.clockWarned.size >= 1024) this.clockWarned.clear()
      this.clockWarned.add(hex)
      const minutes = Math.round((at - now) / 60_000)
      this.emit(
        'warning',
        new P4Error(
          'CLOCK_SKEW',
          `the HELLO of ${v.hello.username} is stamped ${Math.abs(minutes)} min ${minutes > 0 ? 'ahead of' : 'behind'} this node's clock ` +
            `(at most ${Math.round(clockSkewMs / 60_000)} min ahead or ${Math.round((userTimeoutMs + clockSkewMs) / 60_000)} min old is accepted), so it is refused; ` +
            'if every peer reports this, check this machine\'s clock',
        ),
      )
    }
    log('HELLO of %s refused: stamped %d ms from now', v.hello.username, at - now)
    return false
  }

  /** Applies a verified HELLO after the trust check. False: do not forward it. */
  private acceptHello(v: VerifiedHello, from: Peer | null, hops: number): boolean {
    const hello = v.hello
    if (!this.helloInWindow(v, from !== null && hops === 0 && sameKey(from.remote.identityKey, v.identityKey))) return false
    if (hello.username === this.cfg.username) {
      if (!sameKey(v.identityKey, this.cfg.identity.publicKey)) {
        // Someone else claiming our name.
        this.stats.untrustedKey++
        return false
      }
      // Our own identity, logged on elsewhere (roaming): newer than ours means
      // this node is superseded and must not announce a leave for the user.
      if (hello.seq > this.helloSeq && (hello.host !== this.cfg.advertiseHost || hello.port !== (this.boundAddress?.port ?? 0))) {
        this.superseded = true
        log('user %s logged on at %s:%d; this node is superseded', hello.username, hello.host, hello.port)
      }
      return true
    }
    try {
      this.checkTrust(hello.username, v.identityKey, hello.certificate)
    } catch (err) {
      log('HELLO for %s rejected: %s', hello.username, (err as Error).message)
      return false
    }
    const now = performance.now()
    const current = this.lka.get(hello.username)
    const wasOnline = current?.online ?? false
    const leaving = (hello.features & FEATURE_LEAVING) !== 0
    if (leaving && current && current.online && sameKey(current.identityKey, v.identityKey) && (current.host !== hello.host || current.port !== hello.port)) {
      // A leave from an address the user has already moved away from: the
      // user is still online at the newer address. Pass it on, change nothing.
      return true
    }
    const r = this.lka.applyHello(v, now)
    if (r.status === 'rejected') {
      this.stats.untrustedKey++
      log('HELLO for %s rejected: %s', hello.username, r.reason)
      return false
    }
    if (r.status === 'stale') {
      this.stats.staleHello++
      return false
    }
    const hex = hexOf(v.identityKey)
    const before = this.keyToUser.get(hex)
    if (before !== undefined && before.name !== hello.username) this.keyToUser.delete(hex)
    this.keyToUser.set(hex, { name: hello.username, expiresAt: this.certificateExpiry(hello.certificate) })
    if (this.keyToUser.size > 2 * this.cfg.maxUsers) this.pruneKeyToUser()
    if (leaving) {
      if (this.lka.markOffline(hello.username) || wasOnline) this.emit('user-left', hello.username)
      return true
    }
    if (!wasOnline) this.emit('user-joined', hello.username)
    else if (r.status === 'moved') this.emit('user-moved', hello.username)
    else this.emit('user-updated', hello.username)
    return true
  }

  /** True once this identity announced itself from another node (roaming). */
  private superseded = false

  /** Drops key bindings whose table entry is gone or holds another key (the table evicts and replaces). */
  private pruneKeyToUser(): void {
    for (const [hex, b] of this.keyToUser) {
      const e = this.lka.get(b.name)
      if (!e || hexOf(e.identityKey) !== hex) this.keyToUser.delete(hex)
    }
  }

  /** Wall-clock ms until which `certificate` vouches for its user (Infinity when the policy needs none). */
  private certificateExpiry(certificate: Uint8Array | undefined): number {
    const policy = this.cfg.trust
    if (!policy.validUntil) return Infinity
    return policy.validUntil(certificate && certificate.length > 0 ? certificate : undefined)
  }

  /**
   * Certificates expire while nodes run: a session whose user's certificate
   * (the one shown in its handshake, or a newer one from its HELLO) expired
   * is closed, and the user is dropped from the table (nothing is delivered
   * as from it: usernameOf checks the expiry on every message).
   */
  private enforceExpiry(): void {
    if (!this.cfg.trust.validUntil) return
    const now = Date.now()
    for (const [hex, b] of this.keyToUser) {
      if (b.expiresAt > now) continue
      this.keyToUser.delete(hex)
      const e = this.lka.get(b.name)
      if (e && hexOf(e.identityKey) === hex) {
        const wasOnline = e.online
        this.lka.remove(b.name)
        log('certificate of %s expired: dropped from the user table', b.name)
        if (wasOnline) this.emit('user-left', b.name)
      }
    }
    for (const p of [...this.links.values(), ...this.directs.values()]) {
      if (p.expiresAt > now || !p.open) continue
      const bound = this.keyToUser.get(p.keyHex)
      if (bound !== undefined && bound.expiresAt > now) {
        p.expiresAt = bound.expiresAt // renewed: its newer HELLO carried a newer certificate
        continue
      }
      this.stats.expired++
      log('certificate of %s expired: closing its session', p.username)
      this.closePeer(p, ByeReason.UNTRUSTED, 'certificate expired')
    }
  }

  /**
   * Replaces this node's certificate (authority policy renewal) and announces
   * it. Throws UNTRUSTED_KEY when the policy refuses it for this node.
   */
  setCertificate(certificate: Uint8Array): void {
    this.cfg.trust.check(this.cfg.username, this.cfg.identity.publicKey, certificate)
    this.cfg.certificate = certificate
    if (this.running && this.links.size > 0) this.floodHello()
  }

  /**
   * This node's newest signed HELLO (hops 0), built when there is none yet
   * (a node with no link floods none); null when superseded or stopping.
   */
  private ownHello(): Buffer | null {
    if (this.superseded || this.stopping || !this.boundAddress) return null
    if (this.lastOwnHello === null) {
      const [hi, lo] = randomId()
      this.lastOwnHello = Buffer.from(buildSignedFrame(this.cfg.identity, { type: MsgType.HELLO, flags: Flag.BROADCAST, pluginId: 0, messageId: messageIdOf(hi, lo), body: this.buildHello(false) }))
      this.dedupInsert(this.cfg.identity.publicKey, hi, lo)
    }
    return this.lastOwnHello
  }

  private buildHello(leaving: boolean): Uint8Array {
    this.helloSeq = nextHelloSeq(this.helloSeq, Date.now())
    return encodeHello({
      username: this.cfg.username,
      staticKey: this.cfg.identity.staticPublicKey,
      host: this.cfg.advertiseHost,
      port: this.boundAddress?.port ?? 0,
      seq: this.helloSeq,
      features: leaving ? FEATURE_LEAVING : 0,
      plugins: [...this.plugins].sort((a, b) => a - b),
      certificate: this.cfg.certificate,
    })
  }

  /** Floods this node's HELLO (on join, on plugin changes, periodically, and leaving). */
  floodHello(leaving = false): void {
    if (this.superseded) return
    this.lastHelloAt = performance.now()
    const frame = this.originate(MsgType.HELLO, Flag.BROADCAST, 0, this.buildHello(leaving))
    this.lastOwnHello = leaving ? null : frame
  }

  setPlugins(ids: Iterable<number>): void {
    this.plugins = new Set(ids)
    if (this.running && this.links.size > 0) this.floodHello()
  }

  private afterLinkUp(peer: Peer): void {
    this.askLka()
    if (this.lastOwnHello === null || performance.now() - this.lastHelloAt > this.cfg.timers.helloRefreshMs) this.floodHello()
    else {
      // The same signed HELLO (same ID): a neighbour that had it drops it as
      // a duplicate, one that joined since learns us and floods it on; cost
      // stays proportional to the new links, not to the network.
      this.sendStored(peer, this.lastOwnHello)
    }
  }

  /**
   * Asks links for their LKA table until LKA_ASK_LINKS have answered in
   * full (one may know nobody yet). A link that goes before it answers does
   * not count: the next link up, or the next maintenance tick, asks another.
   */
  private askLka(): void {
    let outstanding = 0
    for (const p of this.links.values()) if (p.lkaAsked && !p.lkaAnswered) outstanding++
    for (const p of this.links.values()) {
      if (this.lkaAnswers + outstanding >= LKA_ASK_LINKS) return
      if (p.lkaAsked || !p.open) continue
      this.requestLka(p)
      outstanding++
    }
  }

  /** Asks one link for its whole table (at most maxUsers entries). */
  private requestLka(p: Peer): void {
    const max = Math.min(this.cfg.maxUsers, 0xffff)
    p.lkaAsked = true
    p.lkaAnswered = false
    p.lkaAllowance = max
    p.lkaHeard = new Set()
    const [hi, lo] = randomId()
    p.trySend(MsgType.LKA, 0, 0, 0, hi, lo, encodeLkaRequest({ max }))
  }

  /** Anti-entropy: now and then a random link's table, so lost HELLOs are not lost for long. */
  private syncLka(now: number): void {
    if (this.nextLkaSync === 0) this.nextLkaSync = now + this.cfg.timers.lkaSyncMs * (0.5 + this.cfg.random())
    if (now < this.nextLkaSync) return
    this.nextLkaSync = now + this.cfg.timers.lkaSyncMs * (0.5 + this.cfg.random())
    const idle = [...this.links.values()].filter((p) => p.open && (!p.lkaAsked || p.lkaAnswered))
    if (idle.length > 0) this.requestLka(idle[Math.floor(this.cfg.random() * idle.length)]!)
  }

  /** Our newest flooded HELLO (hops 0), re-sent to new neighbours and in LKA_ACK. */
  private lastOwnHello: Buffer | null = null

  private answerLka(peer: Peer, f: Frame): void {
    const q = decodeLkaRequest(f.payload)
    // A whole table per request: more than an honest node asks is cut off.
    const over = peer.quota.lkaRequest(performance.now())
    if (over !== null) return this.cutOff(peer, over)
    const own = this.lastOwnHello
    const limit = q.max === 0 ? Infinity : q.max
    const hellos = this.lka.snapshot(own ? limit - 1 : limit)
    const parts = encodeLkaAckParts(own && limit > 0 ? [own, ...hellos] : hellos)
    for (const part of parts) {
      const [hi, lo] = randomId()
      peer.trySend(MsgType.LKA_ACK, 0, 0, 0, hi, lo, part)
    }
  }

  private applyLkaAck(peer: Peer, f: Frame): void {
    const ack = decodeLkaAck(f.payload)
    // Only an answer to our request, and no more entries than we asked for:
    // that bounds what a peer can make us verify this way, so the entries are
    // not charged to its HELLO quota (an honest answer holds a whole table).
    if (!peer.lkaAsked || peer.lkaAnswered) throw new P4Error('BAD_FRAME', 'LKA_ACK without a request')
    if (ack.hellos.length > peer.lkaAllowance) throw new P4Error('BAD_FRAME', `LKA_ACK holds more entries than the ${peer.lkaAllowance} still asked for`)
    peer.lkaAllowance -= ack.hellos.length
    if (!ack.more) {
      peer.lkaAnswered = true
      this.lkaAnswers++
    }
    for (const frame of ack.hellos) {
      // Each entry is a whole signed HELLO with its original message ID:
      // verified like a flooded one, deduplicated with the floods, and passed
      // on when new, so a node that joined through a joining node still
      // learns everyone (its flood may have passed before it was linked).
      if (frame.length < HEADER_SIZE + ORIGIN_BLOCK_SIZE) throw new P4Error('BAD_FRAME', 'LKA_ACK entry is not a signed HELLO')
      const hdr = Buffer.from(frame.subarray(0, HEADER_SIZE))
      const idHi = hdr.readUInt32BE(HDR_MSGID)
      const idLo = hdr.readUInt32BE(HDR_MSGID + 4)
      const payload = frame.subarray(HEADER_SIZE)
      const origin = payload.subarray(0, 32)
      peer.lkaHeard?.add(floodKey(frame))
      if (this.dedupSeen(origin, idHi, idLo)) {
        this.stats.dedupHits++
        continue
      }
      const v = this.verifyHello(hdr, payload, peer)
      if (v === null) continue
      this.dedupInsert(origin, idHi, idLo)
      if (this.acceptHello(v, peer, 1)) {
        this.forward(peer, { type: MsgType.HELLO, flags: hdr[2]!, hops: 0, pluginId: 0, idHi, idLo, payload })
      }
    }
    if (peer.lkaAnswered) this.pushMissingHellos(peer)
  }

  /**
   * Push-pull: the HELLOs we hold that a complete answer lacked are sent to
   * the peer as relayed floods (within our HELLO relay budget), so two groups
   * that were apart — an island that just reached its bootstrap — learn each
   * other's users at once, both ways, not at the next HELLO refresh. An answer
   * cut at the size we asked for may lack entries only for lack of room.
   */
  private pushMissingHellos(peer: Peer): void {
    const heard = peer.lkaHeard
    peer.lkaHeard = null
    if (!heard || peer.lkaAllowance === 0 || !peer.open) return
    const frames = this.lka.snapshot()
    if (this.lastOwnHello) frames.push(this.lastOwnHello)
    let pushed = 0
    for (const frame of frames) {
      const id = floodKey(frame)
      if (heard.has(id)) continue
      if (!this.relayToken(MsgType.HELLO, undefined)) {
        this.stats.relayDropped++
        break
      }
      heard.add(id)
      this.sendStored(peer, frame)
      pushed++
    }
    if (pushed > 0) log('pushed %d HELLOs the LKA answer of %s lacked', pushed, peer.username)
  }


  // ---------------------------------------------------------------- DISCOVER

  /** Starts a random walk to find a new neighbour. */
  startWalk(): void {
    const links = [...this.links.values()]
    if (links.length === 0 || !this.boundAddress) return
    const [hi, lo] = randomId()
    const walkId = messageIdOf(hi, lo) || 1n
    const cfg = this.cfg
    const body = encodeDiscover({
      username: cfg.username,
      host: cfg.advertiseHost,
      port: this.boundAddress.port,
      walkId,
      minHops: cfg.discover.minHops,
      maxHops: cfg.discover.maxHops,
      sentAt: Date.now(),
    })
    const [mh, ml] = randomId()
    const frame = buildSignedFrame(cfg.identity, { type: MsgType.DISCOVER, flags: 0, pluginId: 0, messageId: messageIdOf(mh, ml), body })
    const target = links[Math.floor(cfg.random() * links.length)]!
    this.dedupInsert(cfg.identity.publicKey, mh, ml)
    target.trySend(MsgType.DISCOVER, Flag.SIGNED, 0, 0, mh, ml, frame.subarray(HEADER_SIZE))
    this.walks.set(walkId, performance.now())
    this.stats.walksStarted++
  }

  private walk(from: Peer, f: Frame): void {
    // A walk passes a node once: a replayed or looping DISCOVER is a duplicate.
    if (this.seenBefore(from, f)) return
    const t0 = performance.now()
    const v = verifySignedParts(header(f, f.payload.length), f.payload)
    this.chargeCpu(from, t0)
    if (!v.ok) {
      this.badSignatureFrom(from, v.reason)
      return
    }
    this.dedupInsert(v.originKey, f.idHi, f.idLo)
    const d = decodeDiscover(v.body)
    const hops = f.hops + 1 // hops taken, counting the one that brought it here
    const age = Date.now() - d.sentAt
    // Too old, or stamped in the future beyond the clock skew (which would never expire).
    if (age > this.cfg.timers.walkTimeoutMs || age < -this.cfg.timers.clockSkewMs) {
      this.stats.staleWalk++
      return
    }
    if (sameKey(v.originKey, this.cfg.identity.publicKey)) return // came back to us
    const originHex = Buffer.from(v.originKey).toString('hex')
    const linked = this.links.has(originHex)
    const others = [...this.links.values()].filter((p) => p !== from && p.keyHex !== originHex)
    const mayEnd = hops >= d.minHops && !linked && !this.stopping
    const mustEnd = hops >= d.maxHops
    const forward = others.length > 0 && !mustEnd && (!mayEnd || this.cfg.random() < this.cfg.discover.forwardProbability)
    if (forward) {
      const next = others[Math.floor(this.cfg.random() * others.length)]!
      if (this.relayToken(f.type, from)) next.trySend(f.type, f.flags, f.hops + 1, f.pluginId, f.idHi, f.idLo, f.payload)
      else this.stats.relayDropped++
      return
    }
    if (!mayEnd) return
    // End of the walk: open a link back to its origin and say which walk it answers.
    this.dial(d.host, d.port, 'link', v.originKey).then(
      (peer) => {
        const [hi, lo] = randomId()
        peer.trySend(MsgType.CONNECT, 0, 0, 0, hi, lo, encodeConnect({ username: this.cfg.username, host: this.cfg.advertiseHost, port: this.boundAddress?.port ?? 0, walkId: d.walkId }))
      },
      (err) => log('DISCOVER connect-back to %s failed: %s', d.username, (err as Error).message),
    )
  }

  // ---------------------------------------------------------------- upkeep

  /** Dials the bootstrap addresses and peer-cache candidates this node is not linked to. */
  private join(): void {
    const cfg = this.cfg
    const targets: Address[] = [...cfg.bootstrap]
    if (cfg.peerCache) for (const p of cfg.peerCache.candidates(Date.now(), cfg.links.min)) targets.push({ host: p.host, port: p.port })
    this.dialUnlinked(targets)
  }

  /** Dials those of `targets` this node has no link to (tryLink applies the backoff). */
  private dialUnlinked(targets: readonly Address[]): void {
    const linked = this.linkedAddresses()
    for (const t of targets) if (!linked.has(addressKey(t))) this.tryLink(t.host, t.port)
  }

  /** "host:port" of every link's listening address. */
  private linkedAddresses(): Set<string> {
    const linked = new Set<string>()
    for (const p of this.links.values()) {
      const a = this.peerAddress(p)
      if (a) linked.add(addressKey(a))
    }
    return linked
  }

  private reachedBootstrap(): boolean {
    if (this.bootstrapUser !== null && this.lka.get(this.bootstrapUser)?.online) return true
    for (const a of this.linkedAddresses()) if (this.bootstrapKeys.has(a)) return true
    for (const e of this.lka.list()) {
      if (e.online && this.bootstrapKeys.has(addressKey(e))) {
        this.bootstrapUser = e.username
        return true
      }
    }
    return false
  }

  /** Short of links with walks dying: join again and link a known user; the next try waits longer. */
  private rejoin(now: number): void {
    this.walksLost = 0
    this.rejoins++
    log('walks find no one new (links=%d): rejoining, attempt %d', this.links.size, this.rejoins)
    const wait = Math.min(REJOIN_MAX_MS, this.cfg.timers.walkTimeoutMs * 2 ** Math.min(this.rejoins, 10))
    this.nextRejoin = now + wait * (0.5 + this.cfg.random())
    this.join()
    this.linkKnownUser()
  }

  private tryLink(host: string, port: number): void {
    const key = addressKey({ host, port })
    const now = performance.now()
    const b = this.dialBackoff.get(key)
    if (b && now < b.at + this.dialDelay(b.failures, b.jitter)) return
    if (this.boundAddress && port === this.boundAddress.port && (host === this.cfg.advertiseHost || host === this.boundAddress.host)) return
    this.dial(host, port, 'link').then(
      (peer) => {
        this.dialBackoff.delete(key)
        if (!this.reached && this.bootstrapKeys.has(key)) {
          // An island reaching its bootstrap: swap tables with it (push-pull).
          this.reached = true
          if (peer.open && (!peer.lkaAsked || peer.lkaAnswered)) this.requestLka(peer)
        }
      },
      (err) => {
        const failures = (b?.failures ?? 0) + 1
        this.dialBackoff.set(key, { failures, at: performance.now(), jitter: 0.5 + this.cfg.random() })
        if (this.dialBackoff.size > 1024) this.dialBackoff.delete(this.dialBackoff.keys().next().value!)
        this.cfg.peerCache?.markFailure(host, port, Date.now())
        log('link to %s failed: %s', key, (err as Error).message)
      },
    )
  }

  /**
   * Wait before dialling an address again after `failures` failed dials:
   * exponential from 1 s, jittered, capped at 60 s, or at 3 x walkTimeoutMs
   * (15 s) while this node has no link at all: then there is nothing else to
   * try, and a bootstrap that only timed out while busy must not keep it out
   * for a minute (one dial per address every ~15 s is no load).
   */
  private dialDelay(failures: number, jitter: number): number {
    const cap = this.links.size === 0 ? Math.min(DIAL_BACKOFF_MAX_MS, 3 * this.cfg.timers.walkTimeoutMs) : DIAL_BACKOFF_MAX_MS
    return Math.min(cap, 500 * 2 ** Math.min(failures, 7)) * jitter
  }

  private maintain(): void {
    if (!this.running) return
    const cfg = this.cfg
    const now = performance.now()
    const { min, max } = cfg.links
    // Too few links: walks first (random neighbours), then bootstrap / cache / known users.
    // No link at all: bootstrap and cache, and the users we still know.
    if (this.links.size === 0) {
      this.join()
      this.linkKnownUser()
    }
    else if (this.links.size < min) {
      for (const [id, at] of this.walks) {
        if (now - at <= cfg.timers.walkTimeoutMs) continue
        this.walks.delete(id)
        this.walksLost++
      }
      // One new walk per tick while short of links: a walk that died quietly
      // (no node could end it) must not hold the next one back.
      const wanted = min - this.links.size
      if (this.walks.size < 2 * wanted) this.startWalk()
      // Walks that keep dying mean these links lead to no one new: an island,
      // e.g. nodes that joined through a node whose own bootstrap failed.
      // Dial the bootstrap, the cache and a known user again, backing off.
      if (this.walksLost >= REJOIN_AFTER_LOST_WALKS && now >= this.nextRejoin) this.rejoin(now)
    } else this.rejoins = 0
    // Linked, but apart from the bootstrap: others may have joined through
    // this node while its own bootstrap link failed or was pruned, an island
    // content with its links. Dial the bootstrap (with backoff) until linked
    // to it or its user is announced here (then both are in one component).
    if (this.bootstrapKeys.size > 0 && this.links.size > 0 && now - this.lastReachedCheck >= BOOTSTRAP_CHECK_MS) {
      this.lastReachedCheck = now
      this.reached = this.reachedBootstrap()
      if (!this.reached) this.dialUnlinked(cfg.bootstrap) // not the cache: it has links
    }
    // Too many: close idle links older than the minimum age, oldest first.
    if (this.links.size > max) {
      const old = [...this.links.values()].filter((p) => Date.now() - p.since >= cfg.timers.linkMinAgeMs).sort((a, b) => a.lastActive - b.lastActive)
      for (const p of old.slice(0, this.links.size - max)) this.closePeer(p, ByeReason.LINK_CLOSE, 'too many links')
    }
    // A peer whose queue stays full while it takes less than highWaterMark
    // bytes of it in notReadingMs does not read (or reads only a trickle, so
    // its queue just holds memory): cut it off. A full queue alone is not
    // enough: an honest peer in a busy process reads more slowly than a flood
    // fills its queue, yet takes a whole queue at each turn it gets.
    for (const p of [...this.links.values(), ...this.directs.values()]) {
      const s = p.session
      const q = p.quota
      const taken = s.bytesTaken
      if (s.bufferedBytes < s.highWaterMark) q.stuckSince = 0
      else if (q.stuckSince === 0 || taken - q.takenSince >= s.highWaterMark) {
        q.stuckSince = now // full: a new window starts
        q.takenSince = taken
      } else if (now - q.stuckSince > cfg.quotas.notReadingMs) this.cutOff(p, 'not-reading')
    }
    // Liveness: PING quiet links; close links silent for 3 ping periods.
    for (const p of this.links.values()) {
      const silent = now - p.lastHeard
      if (silent > 3 * cfg.timers.pingIntervalMs) {
        p.silent = true
        this.closePeer(p, ByeReason.IDLE, 'no answer to PING')
      } else if (silent > cfg.timers.pingIntervalMs && p.pendingPings === 0) {
        this.ping(p).catch(() => undefined)
      }
    }
    for (const p of this.directs.values()) {
      if (now - p.lastActive > cfg.timers.directIdleMs) this.closePeer(p, ByeReason.IDLE, 'idle')
    }
    if (this.links.size > 0 && now - this.lastHelloAt > cfg.timers.helloRefreshMs) this.floodHello()
    if (this.lkaAnswers < LKA_ASK_LINKS) this.askLka()
    this.syncLka(now)
    for (const name of this.lka.expire(now, cfg.timers.userTimeoutMs)) this.emit('user-left', name)
    this.enforceExpiry()
  }

  /** Falls back to linking a random known user when walks keep failing. */
  private linkKnownUser(exceptKeyHex?: string): void {
    const candidates = this.lka.list().filter((e: LkaEntry) => {
      if (!e.online || e.port === 0 || e.host === '') return false
      const hex = Buffer.from(e.identityKey).toString('hex')
      return hex !== exceptKeyHex && !this.links.has(hex)
    })
    if (candidates.length === 0) return
    const e = candidates[Math.floor(this.cfg.random() * candidates.length)]!
    this.tryLink(e.host, e.port)
  }

  /** Round trip to a peer in ms (PING / PING-ACK). */
  ping(peer: Peer): Promise<number> {
    const [hi, lo] = randomId()
    const sentAt = performance.now()
    const done = peer.expectPong(lo, sentAt, this.cfg.timers.requestTimeoutMs)
    peer.trySend(MsgType.PING, 0, 0, 0, hi, lo, encodePing({ nonce: BigInt(lo), sentAt: BigInt(Math.floor(sentAt * 1000)) }))
    return done
  }

  /** Session counters summed over open and closed sessions. */
  sessionTotals(): { framesIn: number; framesOut: number; bytesIn: number; bytesOut: number } {
    const t = { ...this.closedTotals }
    for (const p of [...this.links.values(), ...this.directs.values()]) {
      const s = p.session.stats()
      t.framesIn += s.framesIn
      t.framesOut += s.framesOut
      t.bytesIn += s.bytesIn
      t.bytesOut += s.bytesOut
    }
    return t
  }
}
