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
  /** Streams per peer (both directions; 0: off) and each stream's receive window in bytes. */
  streams: { max: number; window: number }
  /** Random source in [0, 1), replaceable for deterministic tests. */
  random: () => number
  /** Time and timers (systemClock, or a ManualClock in tests and simulations). */
  clock: Clock
  quotas: Quotas
  /** Handshake feature bits announced (default HandshakeFeature.ACK); 0 acts as a node older than them. */
  features?: number
  /** LAN discovery (off when absent or not enabled). */
  lan?: LanConfig
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
}

/** What the overlay hands up for a DATA frame; valid during the 'data' listener call only (it may be reused). */
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
  }
}
