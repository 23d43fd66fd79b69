// What the overlay's modules see of each other: narrow interfaces, wired
// together by ts/overlay/overlay.ts (and its frame table, dispatch.ts). A
// module imports this file and the leaf modules it uses, never another module
// of the overlay, so the imports stay a tree (test/layers.test.ts) while the
// modules still call one another.
import type { Clock } from '../core/clock.js'
import type { P4Error } from '../core/errors.js'
import type { Frame } from '../session/session.js'
import type { Conn } from '../transport/types.js'
import type { LkaEntry, LkaTable, VerifiedHello } from './lka.js'
import type { Peer } from './peer.js'
import type { CutOffReason } from './quotas.js'
import type { RelayAddress } from './relay-codec.js'
import type { DataEvent, OverlayConfig, OverlayStats } from './types.js'

/** What every module gets. */
export interface Core {
  readonly cfg: OverlayConfig
  readonly clock: Clock
  readonly stats: OverlayStats
  log(format: string, ...args: unknown[]): void
  emit(event: string, ...args: unknown[]): void
  /** A DATA for this node's plugins (the event is reused: valid during the call only). */
  data(e: DataEvent): void
  /** Started and not stopping. */
  readonly running: boolean
  /** stop() has begun. */
  readonly stopping: boolean
  /** The port this node listens on (0 before start). */
  readonly listenPort: number
  /** The host its HELLO, DISCOVER and CONNECT name: cfg.advertiseHost, or the one learned (reach.ts). */
  readonly advertiseHost: string
  /** Plugin IDs this node runs. */
  readonly plugins: ReadonlySet<number>
}

/** The session table (peer-table.ts). */
export interface Sessions {
  readonly links: ReadonlyMap<string, Peer>
  readonly directs: ReadonlyMap<string, Peer>
  /** Dials and completes the handshake; `expectKey`: the identity the peer must prove. One dial per address at a time. */
  dial(host: string, port: number, intent: 'link' | 'direct', expectKey?: Uint8Array): Promise<Peer>
  /** BYE, then a graceful close, destroyed at the close deadline. */
  closePeer(peer: Peer, reason: number, text: string, err?: P4Error): void
  /** Refuses the peer's identity for quotas.banMs. */
  ban(peer: Peer): void
  /** The open session whose key the user table binds to `username`. */
  peerOf(username: string): Peer | undefined
  /**
   * That session, or a new direct one: through a relay the user's HELLO
   * lists, else to the user's address (either must prove the bound key).
   */
  sessionTo(username: string): Promise<Peer>
  /** The open link or direct session of this identity key (hex). */
  byKey(keyHex: string): Peer | undefined
  /** Whether `peer` is still the open link or direct session of its key (a cheap re-check of a peerOf answer). */
  holds(peer: Peer): boolean
  /** Changes whenever a session joins or leaves the link or direct table. */
  readonly version: number
  /**
   * Runs the initiator's handshake over `conn` (a circuit through a relay):
   * the peer must prove `expectKey` before this node shows who it is; the
   * session becomes a direct one. Rejects UNREACHABLE (the conn closed).
   */
  initiateOver(conn: Conn, expectKey: Uint8Array, what: string): Promise<Peer>
  /** Runs the responder's handshake over `conn` (a circuit); false when refused (too many handshakes in progress). */
  acceptOver(conn: Conn): boolean
  /**
   * A reachability probe: a fresh connection to host:port whose handshake
   * must prove `identityKey` (intent PROBE: no session is kept). Rejects
   * UNREACHABLE when nothing answers there, or another key does.
   */
  probe(host: string, port: number, identityKey: Uint8Array): Promise<void>
  /**
   * Throws (UNTRUSTED_KEY, or QUOTA_EXCEEDED while banned) unless
   * `identityKey` may act as `username`: not this node's own name with
   * another key, not banned, and admitted by the trust policy. `quiet`: a
   * refusal is not counted (untrustedKey) nor reported ('warning').
   */
  checkTrust(username: string, identityKey: Uint8Array, certificate?: Uint8Array, quiet?: boolean): void
}

/** Quotas, relay budgets and CPU metering (guard.ts). */
export interface Gate {
  /** Takes a relay token for a flood of `type` from `source` (none: this node's own); false when spent. */
  relayToken(type: number, source?: Peer): boolean
  /** Milliseconds until this node's own flood of `type` may go. */
  relayDelay(type: number): number
  /** Charges the CPU time since `t0` (performance.now()) to `peer`; a peer past its budget stops being read for a while. */
  chargeCpu(peer: Peer, t0: number): void
  badSignature(peer: Peer, reason: string): void
  /** A flood `peer` sent that was already seen: charged to its duplicate quota. */
  duplicate(peer: Peer): void
  cutOff(peer: Peer, reason: CutOffReason): void
  countCutOff(reason: CutOffReason): void
  /** An end-to-end box (or sealed stream chunk) from `via` was opened since `t0`: a failure is counted and charged to its quota; CPU is charged. */
  boxOpened(via: Peer, t0: number, ok: boolean, unicast: boolean): void
  /** Drops what the gate keeps for a peer that is gone. */
  forget(peer: Peer): void
}

/** Flooding (flood.ts). */
export interface Floods {
  /** Whether the flood (origin key, message ID) was seen; inserts nothing. */
  seen(origin: Uint8Array, idHi: number, idLo: number): boolean
  /** Remembers the flood; true when it was new. */
  remember(origin: Uint8Array, idHi: number, idLo: number): boolean
  /** A received signed frame of `from` already seen: dropped and charged. Throws BAD_FRAME when too short to name its origin. */
  seenBefore(from: Peer, f: Frame): boolean
  /** Verifies a HELLO frame (charged to `from`'s CPU budget); null when bad (counted). */
  verifyHello(header: Uint8Array, payload: Uint8Array, from: Peer): VerifiedHello | null
  /** Sends a received flood on, hops + 1, to every link but `from`, within the relay budget. */
  forward(from: Peer | null, f: FloodFrame): void
  /** Floods a signed message this node originates; returns the signed frame (hops 0). */
  originate(type: number, flags: number, pluginId: number, body: Uint8Array | ((hi: number, lo: number) => Uint8Array)): Buffer
  /** Sends a stored signed frame (hops 0) to one peer, unchanged. */
  sendStored(peer: Peer, frame: Uint8Array): void
}

/** A frame to flood on: a received one, or one of this node's own. */
export type FloodFrame = Frame

/** The user directory: HELLOs, the user table, who a key is (membership.ts). */
export interface Directory {
  readonly lka: LkaTable
  /** The user whose unexpired table entry holds `identityKey`. */
  usernameOf(identityKey: Uint8Array): string | undefined
  /** usernameOf for a peer's key (no hex conversion per message). */
  usernameOfPeer(peer: Peer): string | undefined
  /** Wall-clock ms until which `certificate` vouches for its user (Infinity when the policy needs none). */
  certificateExpiry(certificate: Uint8Array | undefined): number
  /** Applies a verified HELLO (trust, time window, table). False: do not forward it. */
  acceptHello(v: VerifiedHello, from: Peer | null, hops: number): boolean
  /** This node's newest signed HELLO (hops 0), built if there is none yet; null when superseded or stopping. */
  ownHello(): Buffer | null
  /** Floods this node's HELLO. */
  floodHello(leaving?: boolean): void
  /** This node's newest flooded HELLO, if any (re-sent to new links and in LKA answers). */
  readonly latestHello: Buffer | null
  /** Closes the sessions and drops the users whose certificates expired. */
  enforceExpiry(): void
  /** Monotonic ms of this node's last HELLO flood. */
  readonly lastHelloAt: number
  /** True once this identity announced itself from another node (roaming). */
  readonly superseded: boolean
}

/** LKA table exchange (lka-sync.ts). */
export interface LkaSync {
  /** A link came up: ask it (or another) for its table as needed, and send our HELLO. */
  linkUp(peer: Peer): void
  /** Asks links until enough have answered in full. */
  askMore(): void
  /** Asks `peer` for its table now (an island reaching its bootstrap). */
  requestFrom(peer: Peer): void
  /** Asks a random idle link now and then (anti-entropy). */
  sync(now: number): void
}

/** DISCOVER walks (walks.ts). */
export interface Walks {
  /** Starts a walk from a random link. */
  start(): void
  /** Walks still outstanding after dropping those older than walkTimeoutMs; counts the lost ones. */
  expire(now: number): number
  /** Walks lost in a row since one was last answered. */
  readonly lost: number
  resetLost(): void
}

/** Link upkeep (upkeep.ts). */
export interface Upkeep {
  /** A session closed: keep links up, probe its user if it may have died. */
  sessionClosed(peer: Peer, wasLink: boolean): void
  /** Marks a user offline after a failed PING or dial; emits user-left. */
  userUnreachable(username: string, cause: unknown): void
  /** Round trip to a peer in ms (PING / PING_ACK). */
  ping(peer: Peer): Promise<number>
  /** Runs one maintenance pass now (when a link was lost below links.min). */
  soon(): void
  /**
   * Dials a link to host:port, which must prove `identityKey` (a LAN
   * beacon's hint), unless the address is in its dial backoff (undefined).
   * The promise settles when the dial does, and never rejects.
   */
  dialHint(host: string, port: number, identityKey: Uint8Array): Promise<void> | undefined
}

/** Reachability: observed addresses, dial-back checks and the verdict (reach.ts). */
export interface Reach {
  /** A link came up: tell its peer where this node sees it (when both announced REACH). */
  linkUp(peer: Peer): void
  /** A MsgType.REACH frame. Throws (the session closes) on a malformed or unexpected one. */
  frame(peer: Peer, f: Frame): void
  /** The peer's session closed. */
  forget(peer: Peer): void
  /** A relayed session came up: its opener tries to punch a direct connection (punch.ts). */
  relayedUp(peer: Peer): void
  /** HELLO feature bits for the current verdict (FEATURE_REACH_PUBLIC / _PRIVATE, or 0). */
  readonly helloBits: number
}

/** Relayed sessions (relays.ts). */
export interface RelayService {
  /** The relays this node can be reached through now (its HELLO lists them). */
  current(): RelayAddress[]
  /**
   * A session to the entry's user through a relay its HELLO lists, else
   * (when none gets through) by `direct`; null when it lists none.
   */
  sessionVia(entry: LkaEntry, direct: (() => Promise<Peer>) | null): Promise<Peer> | null
  /** The user's HELLO lists relays: a failed direct dial or PING says nothing about whether it is online. */
  listsRelays(username: string): boolean
  /** Circuits run over the session, or a reservation is held on it: it must not be closed as idle or extra. */
  busy(peer: Peer): boolean
  /** A MsgType.RELAY frame. */
  frame(peer: Peer, f: Frame): void
  /** A session closed. */
  forget(peer: Peer, reason: P4Error | null): void
}

export interface Services {
  table: Sessions
  guard: Gate
  floods: Floods
  directory: Directory
  lka: LkaSync
  walks: Walks
  upkeep: Upkeep
  reach: Reach
  relays: RelayService
}
