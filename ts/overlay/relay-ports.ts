// The circuits that run over one session, as the two ends of it number them:
// IDs this node chose (circuits it opened there: as an opener's CONNECT, or
// as a relay's INCOMING) and IDs the peer chose. Each circuit sends on a flow
// of its own (session/flows.ts), so a bulk circuit delays the session's
// messages and other circuits by about a frame, never by its backlog.
import { P4Error } from '../core/errors.js'
import { MsgType } from '../core/protocol.js'
import type { Flow } from '../session/flows.js'
import type { CircuitPort } from './circuit-conn.js'
import type { Peer } from './peer.js'
import { MAX_CIRCUIT_ID, REPLY_BIT } from './relay-codec.js'

/** Circuits use flows FLOW_BASE.. (streams use 0x1000..0x17ff; flow 0 is the session's own). */
const FLOW_BASE = 0x2000
const FLOW_SPAN = 0x800

/** What handles the frames of one circuit on one session: an end (CircuitConn) or a relay's splice. */
export interface CircuitEnd {
  /** A frame of this circuit. May throw BAD_FRAME (the session then closes). */
  frame(op: number, payload: Uint8Array): void
  /** The session is gone. */
  lost(err: P4Error): void
}

export class PeerCircuits {
  /** Circuits this node opened on the session, by ID. */
  readonly mine = new Map<number, CircuitEnd>()
  /** Circuits the peer opened, by ID. */
  readonly theirs = new Map<number, CircuitEnd>()
  private nextId = 1

  constructor(readonly peer: Peer) {}

  get size(): number {
    return this.mine.size + this.theirs.size
  }

  /** A fresh ID for a circuit this node opens here. */
  newId(): number {
    for (let tries = 0; tries <= this.mine.size; tries++) {
      const id = this.nextId
      this.nextId = id >= MAX_CIRCUIT_ID ? 1 : id + 1
      if (!this.mine.has(id)) return id
    }
    throw new P4Error('QUOTA_EXCEEDED', 'no free circuit ID on this session')
  }

  /** How a circuit end sends: `mine` when this node opened circuit `id` here. */
  port(id: number, mine: boolean): CircuitLinkPort {
    return new CircuitLinkPort(this, id, mine)
  }

  /** The session closed: every circuit on it ends. */
  lost(err: P4Error): void {
    const ends = [...this.mine.values(), ...this.theirs.values()]
    this.mine.clear()
    this.theirs.clear()
    for (const e of ends) e.lost(err)
  }
}

export class CircuitLinkPort implements CircuitPort {
  /** The circuit field of the frames this node sends (bit 31: it did not open the circuit). */
  private readonly field: number
  private readonly flow: Flow
  private gone = false
  /** Why the last send failed: QUOTA_EXCEEDED (a peer not reading) or CLOSED. */
  failure: string | null = null

  constructor(
    private readonly pc: PeerCircuits,
    private readonly id: number,
    private readonly mine: boolean,
  ) {
    this.field = mine ? id : (id | REPLY_BIT) >>> 0
    this.flow = pc.peer.session.flow(FLOW_BASE + (id & (FLOW_SPAN / 2 - 1)) + (mine ? 0 : FLOW_SPAN / 2))
  }

  send(op: number, payload: Uint8Array, control = false): boolean {
    const s = this.pc.peer.session
    if (s.closed) {
      this.failure = 'CLOSED'
      return false
    }
    try {
      if (control) s.send(MsgType.RELAY, 0, 0, 0, this.field, op, payload)
      else this.flow.send(MsgType.RELAY, 0, 0, 0, this.field, op, payload)
      return true
    } catch (err) {
      // Over the session's queue bound (a peer not reading), or closing.
      this.failure = err instanceof P4Error ? err.code : 'CLOSED'
      return false
    }
  }

  get blocked(): boolean {
    return this.flow.needDrain
  }

  onDrained(fn: () => void): void {
    this.flow.once('drain', fn)
  }

  forget(): void {
    if (this.gone) return
    this.gone = true
    ;(this.mine ? this.pc.mine : this.pc.theirs).delete(this.id)
  }
}
