// Sessions coming into being: listening and accepting (within
// maxPendingHandshakes), dialling (one dial per address at a time), and the
// handshake of each. A finished handshake becomes a Session that the peer
// table adopts or discards. Reachability probes (intent PROBE, dial-backs a
// peer asked for) end at the handshake: it proves who listens, nothing is kept.
import { P4Error } from '../core/errors.js'
import { sameBytes } from '../core/bytes.js'
import { acceptSession, initiateSession, type RemoteInfo, type SessionOptions as HandshakeOptions } from '../session/handshake.js'
import { LinkIntent } from '../session/handshake-payload.js'
import { relayFeature } from './relay-codec.js'
import { Session } from '../session/session.js'
import type { Address, Conn, Listener } from '../transport/types.js'
import type { Core, Gate } from './context.js'
import type { Peer } from './peer.js'
import { localFeatures } from './features.js'
import { HandshakeFeature } from '../core/protocol.js'
import { Puncher } from './punch.js'

/** A probe connection is destroyed this long after its handshake if the other side has not closed it. */
const PROBE_LINGER_MS = 2000

/** What the handshakes need of the peer table. */
export interface SessionSink {
  /** Sessions being torn down: they count against maxPendingHandshakes too. */
  closing(): number
  /** Throws unless the remote identity may hold a session (Sessions.checkTrust). */
  checkTrust(username: string, identityKey: Uint8Array, certificate?: Uint8Array): void
  /** Takes a fresh session into the link or direct table; returns the Peer kept (or null). */
  adopt(session: Session<RemoteInfo>, kind: 'link' | 'direct', initiator: boolean): Peer | null
}

export class Handshakes {
  /** Connections in their handshake. */
  private readonly conns = new Set<Conn>()
  private readonly pendingDials = new Map<string, Promise<Peer>>()
  private listener: Listener | null = null
  private pendingInbound = 0

  constructor(
    private readonly core: Core,
    private readonly s: { guard: Gate },
    private readonly table: SessionSink,
  ) {}

  /** Inbound handshakes in progress. */
  get inbound(): number {
    return this.pendingInbound
  }

  /** Starts listening; resolves with the address bound. */
  async listen(): Promise<Address> {
    const cfg = this.core.cfg
    this.listener = await cfg.transport.listen(cfg.host, cfg.port, (conn) => void this.accept(conn))
    return this.listener.address
  }

  /** Stops listening. */
  async closeListener(): Promise<void> {
    await this.listener?.close()
  }

  /** Destroys the connections still in their handshake. */
  destroyConns(): void {
    for (const c of this.conns) c.destroy()
    this.conns.clear()
  }

  /** Resolves when every dial in progress has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pendingDials.values()])
  }

  /** `relayed`: over a circuit, where the session is resumable so that a punch can move it (punch.ts). */
  private handshakeOptions(intent: LinkIntent, relayed = false): HandshakeOptions {
    const cfg = this.core.cfg
    return {
      identity: cfg.identity,
      username: cfg.username,
      listenPort: this.core.listenPort,
      intent,
      features: localFeatures(cfg) | relayFeature(cfg) | (relayed ? HandshakeFeature.RESUME | Puncher.feature(this.core) : 0),
      extension: cfg.certificate,
      timeoutMs: cfg.timers.handshakeTimeoutMs,
      clock: this.core.clock,
      trust: (remote: RemoteInfo) => this.table.checkTrust(remote.username, remote.identityKey, remote.extension),
    }
  }

  private accept(conn: Conn, relayed = false): boolean {
    if (this.core.stopping) {
      conn.destroy()
      return false
    }
    // Sessions being torn down count too: each holds a socket (and perhaps a
    // partial frame) until its close deadline.
    const closing = this.table.closing()
    if (this.pendingInbound + closing >= this.core.cfg.quotas.maxPendingHandshakes) {
      this.s.guard.countCutOff('handshakes')
      this.core.log('refused a connection: %d handshakes pending, %d sessions closing', this.pendingInbound, closing)
      if (!relayed) conn.destroy()
      return false
    }
    this.pendingInbound++
    this.conns.add(conn)
    acceptSession(conn, this.handshakeOptions(LinkIntent.OVERLAY, relayed)).then(
      (h) => {
        this.pendingInbound--
        this.conns.delete(conn)
        if (this.core.stopping) return conn.destroy()
        if (h.remote.intent === LinkIntent.PROBE) return this.answeredProbe(conn)
        // Over a circuit only a direct session: relays carry unicast, not floods.
        const kind = relayed || h.remote.intent === LinkIntent.DIRECT ? 'direct' : 'link'
        this.table.adopt(new Session(h, this.sessionOptions()), kind, false)
      },
      (err) => {
        this.pendingInbound--
        this.conns.delete(conn)
        this.core.stats.handshakeFailures++
        this.core.log('inbound handshake failed: %s', (err as Error).message)
      },
    )
    return true
  }

  /** The responder's handshake over a circuit; false when refused (the caller closes the circuit). */
  acceptOver(conn: Conn): boolean {
    return this.accept(conn, true)
  }

  /**
   * A peer dialled this node back (a reachability probe) and the handshake
   * proved our key to it: nothing more to do, so close. The probe exists only
   * for a node that announced REACH, i.e. one of ours that asked for it.
   */
  private answeredProbe(conn: Conn): void {
    this.core.stats.probesAnswered++
    this.linger(conn)
    conn.end()
  }

  /** Lets a finished probe connection close; destroyed after PROBE_LINGER_MS at the latest, or when the node stops. */
  private linger(conn: Conn): void {
    const clock = this.core.clock
    const t = clock.setTimeout(() => conn.destroy(), PROBE_LINGER_MS)
    t.unref?.()
    this.conns.add(conn)
    conn.on('error', () => undefined)
    conn.on('data', () => undefined)
    conn.once('close', () => {
      clock.clearTimeout(t)
      this.conns.delete(conn)
    })
    conn.resume()
  }

  /**
   * Dials host:port and runs the handshake with intent PROBE, which must show
   * `identityKey` (checked before message 3, so another node there learns
   * nothing of ours). The responder closes the connection; we let it.
   */
  async probe(host: string, port: number, identityKey: Uint8Array): Promise<void> {
    const conn = await this.connect(host, port)
    this.conns.add(conn)
    const opts = this.handshakeOptions(LinkIntent.PROBE)
    opts.trust = (remote) => {
      if (!sameBytes(remote.identityKey, identityKey)) throw new P4Error('UNTRUSTED_KEY', `${host}:${port} is not the node that asked (${remote.username} answered)`)
    }
    try {
      await initiateSession(conn, opts)
    } catch (err) {
      conn.destroy()
      throw new P4Error('UNREACHABLE', `probe of ${host}:${port} failed: ${(err as Error).message}`, { cause: err })
    } finally {
      this.conns.delete(conn)
    }
    this.linger(conn)
  }

  /** A connection to host:port (CLOSED while stopping, UNREACHABLE when nothing answers). */
  private async connect(host: string, port: number): Promise<Conn> {
    const { cfg } = this.core
    if (this.core.stopping) throw new P4Error('CLOSED', 'node is stopping')
    try {
      return await cfg.transport.dial(host, port, { timeoutMs: cfg.timers.requestTimeoutMs })
    } catch (err) {
      // The transport names the address already; its own P4Error goes out as it is.
      if (err instanceof P4Error && err.code === 'UNREACHABLE') throw err
      throw new P4Error('UNREACHABLE', `cannot connect to ${host}:${port}: ${(err as Error).message}`, { cause: err })
    }
  }

  private sessionOptions(): { maxMessage: number; highWaterMark: number } {
    return { maxMessage: this.core.cfg.maxMessage + 4096, highWaterMark: this.core.cfg.highWaterMark }
  }

  dial(host: string, port: number, intent: 'link' | 'direct', expectKey?: Uint8Array): Promise<Peer> {
    const key = `${intent}/${host}:${port}`
    const pending = this.pendingDials.get(key)
    if (pending) return pending
    const p = this.doDial(host, port, intent, expectKey).finally(() => this.pendingDials.delete(key))
    this.pendingDials.set(key, p)
    return p
  }

  private async doDial(host: string, port: number, intent: 'link' | 'direct', expectKey?: Uint8Array): Promise<Peer> {
    const conn = await this.connect(host, port)
    const peer = await this.handshakeOut(conn, `${host}:${port}`, intent, expectKey, false)
    // Only an address this node dialled itself, and where the handshake
    // proved a key, goes into the peer cache (never one a peer claims).
    if (intent === 'link') this.core.cfg.peerCache?.markSuccess(host, port, this.core.clock.wall(), peer.remote.username)
    return peer
  }

  /** The initiator's handshake over a circuit through a relay; the peer must prove `expectKey` before message 3. */
  initiateOver(conn: Conn, expectKey: Uint8Array, what: string): Promise<Peer> {
    if (this.core.stopping) {
      conn.destroy()
      return Promise.reject(new P4Error('CLOSED', 'node is stopping'))
    }
    return this.handshakeOut(conn, what, 'direct', expectKey, true)
  }

  /**
   * The initiator's handshake on `conn`, then adoption. `early`: a wrong key
   * is refused by the trust check, before this node sends message 3 (its
   * identity), so an impostor (a relay answering itself) learns nothing.
   */
  private async handshakeOut(conn: Conn, where: string, intent: 'link' | 'direct', expectKey: Uint8Array | undefined, early: boolean): Promise<Peer> {
    const { cfg, stats } = this.core
    this.conns.add(conn)
    try {
      const opts = this.handshakeOptions(intent === 'link' ? LinkIntent.OVERLAY : LinkIntent.DIRECT, early)
      if (early && expectKey) {
        const trust = opts.trust!
        opts.trust = (remote) => {
          if (!sameBytes(remote.identityKey, expectKey)) throw new P4Error('UNTRUSTED_KEY', `${where}: ${remote.username} answered with another key than the one the user table binds`)
          return trust(remote)
        }
      }
      const h = await initiateSession(conn, opts)
      this.conns.delete(conn)
      if (this.core.stopping) {
        conn.destroy()
        throw new P4Error('CLOSED', 'node is stopping')
      }
      if (sameBytes(h.remote.identityKey, cfg.identity.publicKey)) {
        conn.destroy()
        throw new P4Error('UNREACHABLE', `${where} is this node`)
      }
      if (expectKey && !sameBytes(h.remote.identityKey, expectKey)) {
        conn.destroy()
        throw new P4Error('UNREACHABLE', `${where} is not the expected user (${h.remote.username} answered)`)
      }
      const peer = this.table.adopt(new Session(h, this.sessionOptions()), intent, true)
      if (!peer) throw new P4Error('UNREACHABLE', `${where}: session refused`)
      return peer
    } catch (err) {
      this.conns.delete(conn)
      conn.destroy()
      if (err instanceof P4Error && (err.code === 'UNREACHABLE' || err.code === 'CLOSED')) throw err
      stats.handshakeFailures++
      // The handshake's error names the address already ("handshake to H:P failed at …"): said once.
      const why = (err as Error).message
      throw new P4Error('UNREACHABLE', why.includes(where) ? why : `handshake with ${where} failed: ${why}`, { cause: err })
    }
  }
}
