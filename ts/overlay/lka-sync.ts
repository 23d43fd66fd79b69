// LKA: copies of the user table between neighbours. A node asks its links
// for their tables until LKA_ASK_LINKS have answered in full, asks a random
// link now and then (anti-entropy), answers requests within a quota, and
// after a complete answer pushes back the HELLOs the answer lacked
// (push-pull), so two groups that were apart learn each other at once.
import { P4Error } from '../core/errors.js'
import { randomId } from '../core/ids.js'
import { HDR_MSGID, HEADER_SIZE, MsgType, ORIGIN_BLOCK_SIZE } from '../core/protocol.js'
import type { Frame } from '../session/session.js'
import type { Core, Directory, Floods, Gate, LkaSync, Sessions } from './context.js'
import { floodKey } from './frames.js'
import { decodeLkaAck, decodeLkaRequest, encodeLkaAckParts, encodeLkaRequest } from './hello-codec.js'
import type { Peer } from './peer.js'

/** How many of a node's links are asked for their LKA table (the first may know nobody yet). */
const LKA_ASK_LINKS = 3

/** One request to one link. */
interface Ask {
  answered: boolean
  /** Entries the answer may still hold (what we asked for, less what came). */
  allowance: number
  /** Flood keys of the HELLOs in the answer so far (for the push-back). */
  heard: Set<string> | null
}

export class LkaExchange implements LkaSync {
  /** Requests by peer (a closed peer's entry goes with it). */
  private readonly asks = new WeakMap<Peer, Ask>()
  /** Complete answers received: links are asked until LKA_ASK_LINKS have answered. */
  private answers = 0
  /** Monotonic ms of the next sync with a random link (-1: not scheduled yet). */
  private nextSync = -1

  constructor(
    private readonly core: Core,
    private readonly s: { table: Sessions; floods: Floods; directory: Directory; guard: Gate },
  ) {}

  linkUp(peer: Peer): void {
    this.askMore()
    const directory = this.s.directory
    const own = directory.latestHello
    if (own === null || this.core.clock.now() - directory.lastHelloAt > this.core.cfg.timers.helloRefreshMs) directory.floodHello()
    else {
      // The same signed HELLO (same ID): a neighbour that had it drops it as
      // a duplicate, one that joined since learns us and floods it on; cost
      // stays proportional to the new links, not to the network.
      this.s.floods.sendStored(peer, own)
    }
  }

  askMore(): void {
    if (this.answers >= LKA_ASK_LINKS) return
    const links = this.s.table.links
    let outstanding = 0
    for (const p of links.values()) {
      const a = this.asks.get(p)
      if (a && !a.answered) outstanding++
    }
    for (const p of links.values()) {
      if (this.answers + outstanding >= LKA_ASK_LINKS) return
      if (this.asks.has(p) || !p.open) continue
      this.requestFrom(p)
      outstanding++
    }
  }

  requestFrom(p: Peer): void {
    const a = this.asks.get(p)
    if (a && !a.answered) return // one request at a time
    const max = Math.min(this.core.cfg.maxUsers, 0xffff)
    this.asks.set(p, { answered: false, allowance: max, heard: new Set() })
    const [hi, lo] = randomId()
    p.trySend(MsgType.LKA, 0, 0, 0, hi, lo, encodeLkaRequest({ max }))
  }

  sync(now: number): void {
    const { cfg } = this.core
    if (this.nextSync < 0) this.nextSync = now + cfg.timers.lkaSyncMs * (0.5 + cfg.random())
    if (now < this.nextSync) return
    this.nextSync = now + cfg.timers.lkaSyncMs * (0.5 + cfg.random())
    const idle = [...this.s.table.links.values()].filter((p) => p.open && (this.asks.get(p)?.answered ?? true))
    if (idle.length > 0) this.requestFrom(idle[Math.floor(cfg.random() * idle.length)]!)
  }

  /** An LKA request: the whole table (our own HELLO first), within the requester's quota. */
  answer(peer: Peer, f: Frame): void {
    const q = decodeLkaRequest(f.payload)
    const over = peer.quota.lkaRequest(this.core.clock.now())
    if (over !== null) return this.s.guard.cutOff(peer, over)
    const own = this.s.directory.latestHello
    const limit = q.max === 0 ? Infinity : q.max
    const hellos = this.s.directory.lka.snapshot(own ? limit - 1 : limit)
    for (const part of encodeLkaAckParts(own && limit > 0 ? [own, ...hellos] : hellos)) {
      const [hi, lo] = randomId()
      peer.trySend(MsgType.LKA_ACK, 0, 0, 0, hi, lo, part)
    }
  }

  /**
   * Part of an answer. Only an answer to our request, and no more entries
   * than we asked for: that bounds what a peer can make us verify this way,
   * so the entries are not charged to its HELLO quota (an honest answer
   * holds a whole table).
   */
  apply(peer: Peer, f: Frame): void {
    const ack = decodeLkaAck(f.payload)
    const ask = this.asks.get(peer)
    if (!ask || ask.answered) throw new P4Error('BAD_FRAME', 'LKA_ACK without a request')
    if (ack.hellos.length > ask.allowance) throw new P4Error('BAD_FRAME', `LKA_ACK holds more entries than the ${ask.allowance} still asked for`)
    ask.allowance -= ack.hellos.length
    const first = !ack.more && this.answers === 0
    if (!ack.more) {
      ask.answered = true
      this.answers++
    }
    const { floods, directory } = this.s
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
      ask.heard?.add(floodKey(frame))
      if (floods.seen(origin, idHi, idLo)) {
        this.core.stats.dedupHits++
        continue
      }
      const v = floods.verifyHello(hdr, payload, peer)
      if (v === null) continue
      floods.remember(origin, idHi, idLo)
      if (directory.acceptHello(v, peer, 1)) floods.forward(peer, { type: MsgType.HELLO, flags: hdr[2]!, hops: 0, pluginId: 0, idHi, idLo, payload })
    }
    if (ask.answered) this.pushMissing(peer, ask)
    // The first complete table: the node has joined (node.start() waits for it).
    if (first) this.core.emit('joined')
  }

  /** A link has answered with its whole table at least once. */
  get joined(): boolean {
    return this.answers > 0
  }

  /**
   * Push-pull: the HELLOs we hold that a complete answer lacked go to the
   * peer as relayed floods (within our HELLO relay budget). An answer cut at
   * the size we asked for may lack entries only for lack of room.
   */
  private pushMissing(peer: Peer, ask: Ask): void {
    const heard = ask.heard
    ask.heard = null
    if (!heard || ask.allowance === 0 || !peer.open) return
    const frames = this.s.directory.lka.snapshot()
    const own = this.s.directory.latestHello
    if (own) frames.push(own)
    let pushed = 0
    for (const frame of frames) {
      const id = floodKey(frame)
      if (heard.has(id)) continue
      if (!this.s.guard.relayToken(MsgType.HELLO)) {
        this.core.stats.relayDropped++
        break
      }
      heard.add(id)
      this.s.floods.sendStored(peer, frame)
      pushed++
    }
    if (pushed > 0) this.core.log('pushed %d HELLOs the LKA answer of %s lacked', pushed, peer.username)
  }
}
