// What a received LAN beacon must pass before it becomes a dial candidate,
// cheapest check first, so a flood costs little and bounded memory: size,
// a token bucket per source address, decoding, own key, the time window, the
// sender's last beacon (replay), a bucket for the whole node (which bounds
// the signature checks), the signature, a bucket per identity key (only
// after the signature: a forger cannot spend someone else's), then the
// caller's name and trust checks. Every refusal is a reason, never a throw.
import { sameBytes, toHex } from '../core/bytes.js'
import { BeaconVersionError, BEACON_MAX_BYTES, decodeBeacon, verifyBeacon, type Beacon } from './lan-codec.js'
import { BucketMap, TokenBucket } from './rate-limit.js'

export type LanRejectReason =
  | 'oversized'
  | 'malformed'
  | 'version'
  | 'own'
  | 'stale'
  | 'replay'
  | 'sourceRate'
  | 'totalRate'
  | 'keyRate'
  | 'badSignature'
  | 'nameTaken'
  | 'untrusted'

/** The receiving limits (docs/security.md lists them). */
export const LAN_LIMITS = {
  /** Datagrams per second from one source address (burst twice that). */
  sourcePerSecond: 5,
  /** Beacons per second that reach the signature check, over all sources (burst twice that). */
  totalPerSecond: 50,
  /** Authentic beacons per second of one identity key (burst 3). */
  keyPerSecond: 1,
  keyBurst: 3,
  /** Source addresses and identity keys with a bucket, at most (least recently used go first). */
  maxSources: 256,
  maxKeys: 256,
  /** Identity keys whose last beacon time is kept (replay), at most. */
  maxSenders: 1024,
} as const

export type FilterResult = { beacon: Beacon; reason?: undefined } | { beacon?: undefined; reason: LanRejectReason }

export class BeaconFilter {
  private readonly sources = new BucketMap<string>({ rate: LAN_LIMITS.sourcePerSecond, burst: 2 * LAN_LIMITS.sourcePerSecond, maxKeys: LAN_LIMITS.maxSources })
  private readonly keys = new BucketMap<string>({ rate: LAN_LIMITS.keyPerSecond, burst: LAN_LIMITS.keyBurst, maxKeys: LAN_LIMITS.maxKeys })
  private readonly total: TokenBucket
  /** Identity key (hex) → time of its newest authentic beacon; least recently updated first. */
  private readonly last = new Map<string, number>()

  constructor(
    private readonly ownKey: Uint8Array,
    /** A beacon stamped further than this from the local wall clock (either way) is stale. */
    private readonly windowMs: number,
    /** The caller's checks of an authentic beacon (name bound elsewhere, trust policy). */
    private readonly admit: (b: Beacon) => LanRejectReason | undefined,
    now: number,
  ) {
    this.total = new TokenBucket({ rate: LAN_LIMITS.totalPerSecond, burst: 2 * LAN_LIMITS.totalPerSecond }, now)
  }

  /** `now`: monotonic ms (rate limits); `wall`: Unix ms (the time window). */
  check(data: Uint8Array, source: string, now: number, wall: number): FilterResult {
    if (data.length > BEACON_MAX_BYTES) return { reason: 'oversized' }
    if (!this.sources.take(source, now)) return { reason: 'sourceRate' }
    let b: Beacon
    try {
      b = decodeBeacon(data)
    } catch (err) {
      return { reason: err instanceof BeaconVersionError ? 'version' : 'malformed' }
    }
    if (sameBytes(b.identityKey, this.ownKey)) return { reason: 'own' }
    if (Math.abs(b.time - wall) > this.windowMs) return { reason: 'stale' }
    const hex = toHex(b.identityKey)
    const prev = this.last.get(hex)
    if (prev !== undefined && b.time <= prev) return { reason: 'replay' }
    if (!this.total.take(now)) return { reason: 'totalRate' }
    if (!verifyBeacon(b)) return { reason: 'badSignature' }
    if (!this.keys.take(hex, now)) return { reason: 'keyRate' }
    this.last.delete(hex)
    this.last.set(hex, b.time)
    if (this.last.size > LAN_LIMITS.maxSenders) this.last.delete(this.last.keys().next().value!)
    const refused = this.admit(b)
    return refused === undefined ? { beacon: b } : { reason: refused }
  }

  /** Entries held, for tests and stats: buckets per source and per key, last beacon times. */
  sizes(): { sources: number; keys: number; senders: number } {
    return { sources: this.sources.size, keys: this.keys.size, senders: this.last.size }
  }
}
