// Closing a session of the table: a BYE saying why, then the session's own
// close, which sends what is queued; a session still open after the
// deadline is destroyed.
import type { Clock, Timer } from '../core/clock.js'
import type { P4Error } from '../core/errors.js'
import { randomId } from '../core/ids.js'
import { MsgType } from '../core/protocol.js'
import { CLOSE_DEADLINE_MS } from './discards.js'
import { encodeBye } from './link-codec.js'
import type { Peer } from './peer.js'

export function sendBye(peer: Peer, reason: number, text: string): void {
  peer.markByeSent()
  const [hi, lo] = randomId()
  peer.trySend(MsgType.BYE, 0, 0, 0, hi, lo, encodeBye({ reason, text }))
}

/** BYE, close, and destroy (with `err`) after CLOSE_DEADLINE_MS if the close has not finished. */
export function closePeer(peer: Peer, clock: Clock, reason: number, text: string, err?: P4Error): void {
  sendBye(peer, reason, text)
  void peer.session.close()
  const t: Timer = clock.setTimeout(() => peer.session.destroy(err), CLOSE_DEADLINE_MS)
  t.unref?.()
  void peer.session.done.then(() => clock.clearTimeout(t))
}
