// Sessions the overlay does not keep (over links.hardCap, the losing side of
// a cross-dial, one replaced by a newer session of the same identity), from
// their BYE to their end. They sit in no table but count against
// maxPendingHandshakes until they are gone.
import { randomId } from '../core/ids.js'
import { MsgType } from '../core/protocol.js'
import type { RemoteInfo } from '../session/handshake.js'
import type { Frame, Session } from '../session/session.js'
import type { Core } from './context.js'
import { encodeBye } from './link-codec.js'
import type { Peer } from './peer.js'

/** A closing session that has not finished closing after this is destroyed. */
export const CLOSE_DEADLINE_MS = 1000

/** Frames of a losing cross-dial session handled as the kept session's (see discard). */
const CARRIED_OVER: ReadonlySet<number> = new Set([MsgType.DATA, MsgType.HELLO, MsgType.DISCOVER, MsgType.CONNECT])

export class Discards {
  private readonly sessions = new Set<Session<RemoteInfo>>()
  /** Identities (hex) whose losing cross-dial session is still read. */
  private readonly draining = new Set<string>()

  constructor(
    private readonly core: Core,
    private readonly onFrame: (peer: Peer, f: Frame) => void,
  ) {}

  get size(): number {
    return this.sessions.size
  }

  /**
   * Tears down a session: its frames are never processed, it stops being
   * read (so a half-sent frame cannot grow), gets a BYE, and is destroyed at
   * the deadline if the peer does not close first.
   *
   * The losing session of a cross-dial is the exception (`keptPeer`): its
   * sender used it before it learned it lost, so its floods, unicasts and
   * walks are handled as if they came on the kept session of the same
   * identity. Link-level frames (LKA, PING, their answers) belong to the
   * session they came on and are dropped; its BYE closes it. One such
   * session per identity at a time, so a peer cannot make many of them.
   */
  discard(session: Session<RemoteInfo>, reason: number, text: string, keptPeer?: Peer): void {
    if (keptPeer !== undefined && !this.draining.has(keptPeer.keyHex)) {
      const key = keptPeer.keyHex
      this.draining.add(key)
      session.onframe = (f) => {
        if (f.type === MsgType.BYE) void session.close()
        else if (CARRIED_OVER.has(f.type) && keptPeer.open) this.onFrame(keptPeer, f)
      }
      session.conn.resume()
      void session.done.then(() => this.draining.delete(key))
    } else {
      session.ignoreInput()
    }
    this.sessions.add(session)
    const [hi, lo] = randomId()
    try {
      session.send(MsgType.BYE, 0, 0, 0, hi, lo, encodeBye({ reason, text }))
    } catch {
      // closed or full: the destroy below is the answer then
    }
    void session.close()
    const clock = this.core.clock
    const t = clock.setTimeout(() => session.destroy(), CLOSE_DEADLINE_MS)
    t.unref?.()
    void session.done.then(() => {
      clock.clearTimeout(t)
      this.sessions.delete(session)
    })
  }

  /** The node stops: every discarded session ends now. */
  destroyAll(): void {
    for (const s of this.sessions) s.destroy()
    this.sessions.clear()
  }
}
