// The sending side of a Session as its callers see it: one send handle per
// flow (flows.ts), the checks every send() makes, and backpressure counted
// per flow — a flow's queued bytes plus the transport's — with the 'drain'
// that follows a send() answered with false.
import { P4Error } from '../core/errors.js'
import { MSG_SESSION, MSG_TYPE_MAX } from '../core/protocol.js'
import { Flow, MAX_FLOW_ID, type FlowQueue } from './flows.js'
import type { Sender } from './sender.js'

export interface OutboxLimits {
  maxMessage: number
  maxQueue: number
  /** Where send() starts returning false. */
  drainMark: number
}

export class Outbox {
  private readonly flows = new Map<number, Flow>()
  /** Flows whose send() returned false, waiting for 'drain'. */
  private draining: Flow[] = []
  readonly flow0: Flow

  constructor(
    private readonly sender: Sender,
    private readonly limits: OutboxLimits,
    /** Bytes waiting in the transport now (0 without a Conn). */
    private readonly writable: () => number,
    /** Throws CLOSED when the session no longer sends. */
    private readonly checkOpen: () => void,
    /** Flow 0 may go on (the Session emits its own 'drain'). */
    private readonly onFlow0Drain: () => void,
  ) {
    this.flow0 = this.flow(0)
  }

  flow(id: number): Flow {
    let f = this.flows.get(id)
    if (f === undefined) {
      if (!Number.isInteger(id) || id < 0 || id > MAX_FLOW_ID) throw new P4Error('BAD_ARGUMENT', `flow id must be an integer 0..${MAX_FLOW_ID}, got ${String(id)}`)
      f = new Flow(id, this.sender.queue(id), {
        sendOn: (q, ...a) => this.send(q, ...a),
        bufferedOn: (q) => q.queuedBytes + this.writable(),
      })
      this.flows.set(id, f)
    }
    return f
  }

  send(q: FlowQueue, type: number, flags: number, hops: number, pluginId: number, idHi: number, idLo: number, payload: Uint8Array, deferred = false): boolean {
    this.checkOpen()
    const lim = this.limits
    if (!(payload instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'payload must be a Uint8Array')
    if (payload.length > lim.maxMessage) {
      throw new P4Error('MESSAGE_TOO_LARGE', `payload of ${payload.length} bytes exceeds the ${lim.maxMessage}-byte limit`)
    }
    if ((type | flags | hops) >>> 8 !== 0 || type < 1 || type > MSG_TYPE_MAX || type === MSG_SESSION || pluginId >>> 16 !== 0 || idHi >>> 0 !== idHi || idLo >>> 0 !== idLo) {
      throw new P4Error('BAD_ARGUMENT', type === MSG_SESSION ? "type SESSION is the session layer's own" : 'frame header field out of range')
    }
    const buffered = q.queuedBytes + this.writable() + payload.length
    if (buffered > lim.maxQueue) {
      throw new P4Error('QUOTA_EXCEEDED', `send queue would hold ${buffered} bytes (limit ${lim.maxQueue}); wait for 'drain'`)
    }
    this.sender.enqueue(q, type, flags, hops, pluginId, idHi, idLo, payload, deferred)
    if (buffered >= lim.drainMark) {
      const f = this.flows.get(q.id)!
      if (!f.needDrain) {
        f.needDrain = true
        this.draining.push(f)
      }
      return false
    }
    return true
  }

  /** After the sender wrote: 'drain' for every waiting flow now below the mark. */
  drained(): void {
    if (this.draining.length === 0) return
    const w = this.writable()
    const still: Flow[] = []
    const ready: Flow[] = []
    for (const f of this.draining) (f.q.queuedBytes + w < this.limits.drainMark ? ready : still).push(f)
    this.draining = still
    for (const f of ready) {
      f.needDrain = false
      f.emit('drain')
      if (f.id === 0) this.onFlow0Drain()
    }
  }
}
