// Frame and byte counters summed over a node's sessions, open and closed,
// so that stats() never goes backwards when a session closes.
import type { Peer } from './peer.js'

export interface Totals {
  framesIn: number
  framesOut: number
  bytesIn: number
  bytesOut: number
}

export class SessionTotals {
  private readonly closed: Totals = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 }

  /** `peer`'s session closed: its counters stay in the totals. */
  add(peer: Peer): void {
    const st = peer.session.stats()
    const c = this.closed
    c.framesIn += st.framesIn
    c.framesOut += st.framesOut
    c.bytesIn += st.bytesIn
    c.bytesOut += st.bytesOut
  }

  /** The closed sessions' counters plus those of `open`. */
  with(open: Iterable<Peer>): Totals {
    const t = { ...this.closed }
    for (const p of open) {
      const s = p.session.stats()
      t.framesIn += s.framesIn
      t.framesOut += s.framesOut
      t.bytesIn += s.bytesIn
      t.bytesOut += s.bytesOut
    }
    return t
  }
}
