// The overlay's public types: its configuration, counters, what it hands up,
// and what links() shows. Every overlay module and the Node see these; none
// of them needs the Overlay class for it.
import type { Clock } from '../core/clock.js'
import type { Identity } from '../core/identity.js'
import type { DatagramTransport } from '../transport/datagram.js'
import type { Address, Transport } from '../transport/types.js'
import type { LanRejectReason } from './lan-filter.js'
import type { PeerCache } from './peer-cache.js'
import type { CutOffReason, Quotas } from './quotas.js'
import type { TrustPolicy } from './trust-policy.js'

/** HELLO feature bit: the user is leaving (signed, flooded, so everyone marks them offline). */
export const FEATURE_LEAVING = 1
/** HELLO feature bit: dial-backs by a quorum of peers reached the user at its HELLO port (node.reachability 'public'). */
export const FEATURE_REACH_PUBLIC = 2
/** HELLO feature bit: a quorum of peers could not dial the user back (behind NAT or a firewall: 'private'). */
export const FEATURE_REACH_PRIVATE = 4

/** Reachability checks this node asks for, and the dial-backs it serves for others (reach.ts, dial-back.ts). */
export interface ReachConfig {
  /** Peers asked to dial this node back per check; 0: never check (reachability stays 'unknown'). */
  peers: number
  /** Answers that must agree before a verdict ('public' or 'private'). */
  quorum: number
  /** A verdict is checked again this often (and sooner when links change). */
  intervalMs: number
  /** Dial-backs served per minute to one peer; more are refused. */
  servePerPeer: number
  /** Dial-backs served per minute in all; 0: serve none. */
  servePerMinute: number
  /** Dial-backs in progress at once; more are refused. */
  serveAtOnce: number
}

export interface OverlayTimers {
  /** Link upkeep period (min/max, walks, pings, idle directs). */
  maintenanceMs: number
  /** PING period on every link, busy or quiet (liveness and rtt); a link silent for 3 periods is closed. */
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

/** LAN discovery (ts/overlay/lan.ts). */
export interface LanConfig {
  enabled: boolean
  /** IPv4 multicast group. */
  group: string
  /** UDP port of the group. */
  port: number
  /** Mean time between beacons (each wait is jittered x0.75..1.25). */
  intervalMs: number
  /** The datagram sockets (default: udp, node:dgram). */
  transport?: DatagramTransport
}

/** Relayed sessions (ts/overlay/relays.ts); ranges and defaults per profile in ts/option-schema.ts. */
export interface RelayConfig {
  /** Relay for others: true, false, or 'auto' (unless this node found it cannot be dialled). */
  serve: boolean | 'auto'
  /** Hold reservations: 'always', 'never', or 'auto' (once this node found it cannot be dialled). */
  client: 'auto' | 'always' | 'never'
  /** Reservations a node that cannot be dialled keeps (each with another relay). */
  count: number
  /** Reservations a relay holds in all. */
  maxReservations: number
  /** Reservations a relay holds for nodes of one host (IP address). */
  reservationsPerHost: number
  /** A reservation lasts this long unless renewed (clients renew at three quarters). */
  reservationMs: number
  /** Circuits a relay keeps open in all. */
  maxCircuits: number
  /** Circuits open at once to one node holding a reservation. */
  circuitsPerReservation: number
  /** Circuits open at once from one opener. */
  circuitsPerPeer: number
  /** A circuit closes after carrying this many bytes (both ways). */
  circuitBytes: number
  /** A circuit closes after this long. */
  circuitMs: number
  /** Circuits one peer may open per minute (burst: as many). */
  connectsPerMinute: number
}

export interface OverlayConfig {
  identity: Identity
  username: string
  transport: Transport
  host: string
  port: number
  /** Host advertised in HELLO (default: the bound host). */
  advertiseHost: string
  /**
   * advertiseHost is only the default (a wildcard listen host and no
   * advertiseHost given): advertise the address peers verify or agree they
   * see this node at, once there is one (reach.ts).
   */
  learnAdvertiseHost?: boolean
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
  /** Streams per peer (both directions; 0: off) and each stream's receive window in bytes. */
  streams: { max: number; window: number }
  /** Random source in [0, 1), replaceable for deterministic tests. */
  random: () => number
  /** Time and timers (systemClock, or a ManualClock in tests and simulations). */
  clock: Clock
  quotas: Quotas
  reach: ReachConfig
  /** Handshake feature bits announced (default HandshakeFeature.ACK); 0 acts as a node older than them. */
  features?: number
  /** LAN discovery (off when absent or not enabled). */
  lan?: LanConfig
  /** Relayed sessions. */
  relay: RelayConfig
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
  /** Messages dropped because their data (opened, when sealed) was larger than this node's maxMessage. */
  oversized: number
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
  /** Streams this node opened (plugin.openStream), accepted, and refused (no listener, streams.max, encrypted). */
  streamsOpened: number
  streamsAccepted: number
  streamsRefused: number
  /** Stream DATA bytes received. */
  streamBytesIn: number
  /** LAN beacons sent, and sends that failed. */
  lanSent: number
  lanSendErrors: number
  /** Times the multicast socket could not be opened (a 'warning' says why). */
  lanOpenFailures: number
  /** LAN beacons received; accepted (authentic, trusted, fresh); rejected, in all and by reason. */
  lanReceived: number
  lanAccepted: number
  lanRejected: number
  lanRejectReasons: Partial<Record<LanRejectReason, number>>
  /** Links dialled because of a beacon. */
  lanDialed: number
  /** Reachability checks this node ran (each asks up to reach.peers peers to dial it back). */
  reachChecks: number
  /** Dial-backs this node made for peers that asked, and requests it refused (not the peer's own address, over a limit). */
  dialBacks: number
  dialBacksRefused: number
  /** Probe connections (dial-backs of peers) this node answered. */
  probesAnswered: number
  /** As a relay: reservations held for others now; granted and refused in all. */
  relayReservations: number
  relayReservationsGranted: number
  relayReservationsRefused: number
  /** As a relay: circuits open now; opened in all; refused when asked for; cut by a limit or a broken rule. */
  relayCircuits: number
  relayCircuitsOpened: number
  relayCircuitsRefused: number
  relayCircuitsCut: number
  /** As a relay: every refusal and cut by its code (RelayCode: CIRCUIT_LIMIT, BYTE_LIMIT, …). */
  relayReasons: Partial<Record<string, number>>
  /** As a relay: DATA bytes carried on circuits (both ways). */
  relayBytes: number
  /** Relays this node holds a reservation with now. */
  relaysHeld: number
  /** Circuits this node opened through relays, and accepted from them. */
  circuitsOut: number
  circuitsIn: number
  /** Hole punches tried (either role), those that moved the session to a direct connection, and failures by reason (punch.ts). */
  punchAttempts: number
  punchSucceeded: number
  punchFailed: Partial<Record<string, number>>
}

/** What the overlay hands up for a DATA frame; valid during the overlay.ondata call only (it may be reused). */
export interface DataEvent {
  pluginId: number
  from: string
  fromKey: Uint8Array
  /** Payload as received (an e2e or group box when flags has ENCRYPTED). */
  body: Uint8Array
  flags: number
  idHi: number
  idLo: number
  /**
   * The session it arrived on (its sender for unicast, the relaying link for
   * a broadcast), opaque: handed back to Overlay.openedBox.
   */
  via: unknown
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
  /** Bytes queued for this peer and not yet handed to the transport (bounded by maxMessage + 4 KiB + 4 x highWaterMark). */
  queued: number
  host: string
  port: number
  status: 'link' | 'direct'
  initiator: boolean
  since: number
  /** Round trip of the last PING answered, ms; links are PINGed at link-up and every timers.pingIntervalMs (undefined until the first answer). */
  rtt: number | undefined
  /** A relayed session: the relay it runs through (host and port are the relay's). */
  via?: string
}

/** What node.reachability reports: whether other nodes can dial this one, as its peers found. */
export interface Reachability {
  /**
   * unknown: not checked yet, or the answers did not agree; public: a quorum
   * of peers dialled this node back at `address`; private: a quorum could
   * not (behind NAT or a firewall).
   */
  status: 'unknown' | 'public' | 'private'
  /** Where peers reached this node (public only): the IP address they see it at and its listen port. */
  address?: Address
  /**
   * Where this node's peers see it (the other end of their connection with
   * it), one entry per host, most reported first, with how many peers report
   * it. Behind NAT this is the router's outside address.
   */
  observed: Array<Address & { peers: number }>
  /** Wall-clock ms when the last check ended (0: none yet). */
  checkedAt: number
  /** The answers of that check: peers that reached this node, could not, refused to try, or did not answer in time. */
  answers: { reachable: number; unreachable: number; refused: number; missing: number }
}

/** Every counter at zero. */
export function emptyStats(): OverlayStats {
  return {
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
    oversized: 0,
    walksStarted: 0,
    staleWalk: 0,
    walksAnswered: 0,
    handshakeFailures: 0,
    expired: 0,
    throttled: 0,
    cutOff: 0,
    cutOffReasons: {},
    relayDropped: 0,
    streamsOpened: 0,
    streamsAccepted: 0,
    streamsRefused: 0,
    streamBytesIn: 0,
    lanSent: 0,
    lanSendErrors: 0,
    lanOpenFailures: 0,
    lanReceived: 0,
    lanAccepted: 0,
    lanRejected: 0,
    lanRejectReasons: {},
    lanDialed: 0,
    reachChecks: 0,
    dialBacks: 0,
    dialBacksRefused: 0,
    probesAnswered: 0,
    relayReservations: 0,
    relayReservationsGranted: 0,
    relayReservationsRefused: 0,
    relayCircuits: 0,
    relayCircuitsOpened: 0,
    relayCircuitsRefused: 0,
    relayCircuitsCut: 0,
    relayReasons: {},
    relayBytes: 0,
    relaysHeld: 0,
    circuitsOut: 0,
    circuitsIn: 0,
    punchAttempts: 0,
    punchSucceeded: 0,
    punchFailed: {},
  }
}
