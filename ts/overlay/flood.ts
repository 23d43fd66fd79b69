// Flooding and delivery: HELLO and broadcast DATA go hop limit → seen-table
// → signature → forward → deliver; unicast DATA is delivered as from the
// user the table binds to its session's key; this node's own floods are
// signed and sent to every link. The seen-table (WASM) holds each flood as
// its origin key and message ID together.
import { randomId } from '../core/ids.js'
import { P4Error } from '../core/errors.js'
import { Flag, HEADER_SIZE, MsgType, ORIGIN_BLOCK_SIZE, messageIdOf } from '../core/protocol.js'
import type { Frame } from '../session/session.js'
import { DedupTable } from '../wasm/dedup.js'
import type { Core, Directory, FloodFrame, Floods, Gate, Sessions } from './context.js'
import { headerOf } from './frames.js'
import { verifyHelloFrame, type VerifiedHello } from './lka.js'
import type { Peer } from './peer.js'
import { buildSignedFrame, verifySignedParts } from './signing.js'
import type { DataEvent } from './types.js'
import { AckStatus } from './send-queue.js'

const NOT_DELIVERED = Uint8Array.of(AckStatus.NOT_DELIVERED)

const NO_BYTES = new Uint8Array(0)

export class FloodRouter implements Floods {
  private readonly dedup: DedupTable
  /** The unicast DATA event (core.data), refilled per frame (see unicast). */
  private readonly event: DataEvent = { pluginId: 0, from: '', fromKey: NO_BYTES, body: NO_BYTES, flags: 0, idHi: 0, idLo: 0, via: null }
  private emitting = false

  constructor(
    private readonly core: Core,
    private readonly s: { table: Sessions; guard: Gate; directory: Directory },
  ) {
    this.dedup = new DedupTable({ capacity: core.cfg.dedup.capacity, ttlMs: core.cfg.dedup.ttlMs })
  }

  seen(origin: Uint8Array, idHi: number, idLo: number): boolean {
    return this.dedup.hasOrigin(origin, idHi, idLo, this.core.clock.now())
  }

  remember(origin: Uint8Array, idHi: number, idLo: number): boolean {
    return this.dedup.insertOrigin(origin, idHi, idLo, this.core.clock.now())
  }

  seenBefore(from: Peer, f: Frame): boolean {
    if (f.payload.length < ORIGIN_BLOCK_SIZE) throw new P4Error('BAD_FRAME', 'signed payload shorter than its origin block')
    if (!this.seen(f.payload.subarray(0, 32), f.idHi, f.idLo)) return false
    this.s.guard.duplicate(from)
    return true
  }

  /** A HELLO or broadcast DATA from a link (or a direct session). */
  flood(from: Peer, f: Frame): void {
    if (f.hops >= this.core.cfg.hopLimit) {
      this.core.stats.hopLimit++
      return
    }
    if (this.seenBefore(from, f)) return
    const origin = f.payload.subarray(0, 32)
    const hdr = headerOf(f, f.payload.length)
    if (f.type === MsgType.HELLO) {
      const v = this.verifyHello(hdr, f.payload, from)
      if (v === null) return
      // Verified: never verify this flood again, whatever we make of it.
      this.remember(origin, f.idHi, f.idLo)
      if (this.s.directory.acceptHello(v, from, f.hops)) this.forward(from, f)
      return
    }
    const t0 = performance.now()
    const v = verifySignedParts(hdr, f.payload)
    this.s.guard.chargeCpu(from, t0)
    if (!v.ok) {
      this.s.guard.badSignature(from, v.reason)
      return
    }
    this.remember(origin, f.idHi, f.idLo)
    this.forward(from, f)
    if (f.type === MsgType.DATA) this.deliver(f, v.originKey, v.body, from)
  }

  verifyHello(header: Uint8Array, payload: Uint8Array, from: Peer): VerifiedHello | null {
    const t0 = performance.now()
    try {
      return verifyHelloFrame(Buffer.concat([header, payload]))
    } catch (err) {
      if (err instanceof P4Error && err.code === 'BAD_SIGNATURE') this.s.guard.badSignature(from, err.message)
      else {
        this.core.stats.badFrame++
        this.core.log('bad HELLO from %s: %s', from.username, (err as Error).message)
      }
      return null
    } finally {
      this.s.guard.chargeCpu(from, t0)
    }
  }

  forward(from: Peer | null, f: FloodFrame): void {
    const stats = this.core.stats
    if (!this.s.guard.relayToken(f.type, from ?? undefined)) {
      stats.relayDropped++
      return
    }
    for (const p of this.s.table.links.values()) {
      if (p === from) continue
      if (p.trySend(f.type, f.flags, f.hops + 1, f.pluginId, f.idHi, f.idLo, f.payload)) stats.forwarded++
      else stats.droppedSlowPeer++
    }
  }

  originate(type: number, flags: number, pluginId: number, body: Uint8Array | ((hi: number, lo: number) => Uint8Array)): Buffer {
    const [hi, lo] = randomId()
    const bytes = typeof body === 'function' ? body(hi, lo) : body
    const identity = this.core.cfg.identity
    const frame = Buffer.from(buildSignedFrame(identity, { type, flags, pluginId, messageId: messageIdOf(hi, lo), body: bytes }))
    const payload = frame.subarray(HEADER_SIZE)
    this.remember(identity.publicKey, hi, lo)
    for (const p of this.s.table.links.values()) {
      if (!p.trySend(type, flags | Flag.SIGNED, 0, pluginId, hi, lo, payload)) this.core.stats.droppedSlowPeer++
    }
    return frame
  }

  sendStored(peer: Peer, stored: Uint8Array): void {
    const frame = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength) // a view, no copy
    peer.trySend(frame[1]!, frame[2]!, 0, frame.readUInt16BE(4), frame.readUInt32BE(10), frame.readUInt32BE(14), frame.subarray(HEADER_SIZE))
  }

  private deliver(f: Frame, originKey: Uint8Array, body: Uint8Array, via: Peer): void {
    if (!this.core.plugins.has(f.pluginId)) return
    const from = this.s.directory.usernameOf(originKey)
    if (from === undefined) {
      this.core.stats.unknownOrigin++
      return
    }
    this.core.stats.delivered++
    this.core.data({ pluginId: f.pluginId, from, fromKey: originKey, body, flags: f.flags, idHi: f.idHi, idLo: f.idLo, via } satisfies DataEvent)
  }

  /**
   * Unicast DATA, attributed through the user table: the sender is the user
   * whose (unexpired) entry holds this session's identity key, never the name
   * the peer gave in its handshake. A session whose key the table does not
   * hold delivers nothing (it sends its signed HELLO first, see peer-table).
   */
  unicast(peer: Peer, f: Frame): void {
    // Unicast relies on the session's authentication; an origin block here
    // would reach the plugin unverified, so the protocol forbids it.
    if (f.flags & Flag.SIGNED) throw new P4Error('BAD_FRAME', 'a unicast DATA frame must not be SIGNED')
    const stats = this.core.stats
    if (!this.core.plugins.has(f.pluginId)) {
      stats.dropped++
      if (f.flags & Flag.ACK) peer.trySend(MsgType.DATA_ACK, 0, 0, f.pluginId, f.idHi, f.idLo, NOT_DELIVERED)
      return
    }
    const from = this.s.directory.usernameOfPeer(peer)
    if (from === undefined) {
      stats.unknownOrigin++
      return
    }
    stats.delivered++
    // One event object serves every unicast: its listener (node.ts) reads it
    // before returning. A delivery made from inside that listener gets its own.
    if (this.emitting) {
      this.core.data({ pluginId: f.pluginId, from, fromKey: peer.remote.identityKey, body: f.payload, flags: f.flags, idHi: f.idHi, idLo: f.idLo, via: peer } satisfies DataEvent)
      return
    }
    const e = this.event
    e.pluginId = f.pluginId
    e.from = from
    e.fromKey = peer.remote.identityKey
    e.body = f.payload
    e.flags = f.flags
    e.idHi = f.idHi
    e.idLo = f.idLo
    e.via = peer
    this.emitting = true
    try {
      this.core.data(e)
    } finally {
      this.emitting = false
      e.body = e.fromKey = NO_BYTES
      e.via = null
    }
  }

  /** The seen-table's live entries and its (fixed) memory. */
  seenTable(): { dedupEntries: number; dedupBytes: number } {
    const d = this.dedup
    return d.closed ? { dedupEntries: 0, dedupBytes: 0 } : { dedupEntries: d.size, dedupBytes: d.bytes }
  }

  close(): void {
    this.dedup.close()
  }
}
