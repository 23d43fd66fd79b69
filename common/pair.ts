// Connected Conn pairs and keyed Session pairs over either transport, for
// session-level tests and benches that do not need the handshake.
import { randomBytes } from 'node:crypto'
import { HandshakeFeature } from '../ts/core/protocol.js'
import { Session, type SessionOptions } from '../ts/session/session.js'
import { MemoryNetwork, memoryTransport } from '../ts/transport/memory.js'
import { tcpTransport } from '../ts/transport/tcp.js'
import type { Conn, Transport } from '../ts/transport/types.js'
import type { TransportName } from './net.js'

export function makeTransport(name: TransportName): Transport {
  return name === 'tcp' ? tcpTransport() : memoryTransport(new MemoryNetwork())
}

/** A dialled and an accepted Conn on loopback (or the memory network), over `t` or a fresh transport of that name; close() closes the listener. */
export async function connPair(transport: TransportName | Transport): Promise<{ a: Conn; b: Conn; close(): Promise<void> }> {
  const t = typeof transport === 'string' ? makeTransport(transport) : transport
  let accept!: (c: Conn) => void
  const accepted = new Promise<Conn>((r) => (accept = r))
  const listener = await t.listen('127.0.0.1', 0, (c) => accept(c))
  const a = await t.dial('127.0.0.1', listener.address.port)
  const b = await accepted
  return { a, b, close: () => listener.close() }
}

/** Two sessions keyed to each other over a fresh Conn pair. */
export async function sessionPair(
  name: TransportName,
  opts: SessionOptions = {},
  optsB: SessionOptions = opts,
): Promise<{ a: Session<string>; b: Session<string>; close(): Promise<void> }> {
  const { a: ca, b: cb, close } = await connPair(name)
  const k1 = randomBytes(32)
  const k2 = randomBytes(32)
  const a = new Session({ conn: ca, remote: 'b', sendKey: k1, recvKey: k2 }, opts)
  const b = new Session({ conn: cb, remote: 'a', sendKey: k2, recvKey: k1 }, optsB)
  return {
    a,
    b,
    async close() {
      a.destroy()
      b.destroy()
      await Promise.all([a.done, b.done])
      await close()
    },
  }
}

/** Handshake features of both ends of a resumablePair. */
const RESUME_BOTH = { localFeatures: HandshakeFeature.RESUME, remoteFeatures: HandshakeFeature.RESUME }

/**
 * Two resumable sessions (both ends "announced" HandshakeFeature.RESUME)
 * keyed to each other over a Conn pair of `t`; `wrap` may wrap each Conn
 * first. conns() makes another Conn pair of `t` (a: dialled, b: accepted),
 * to move the sessions to.
 */
export async function resumablePair(
  t: Transport,
  opts: SessionOptions = {},
  wrap: (c: Conn) => Conn = (c) => c,
): Promise<{ a: Session<string>; b: Session<string>; keys: { ab: Uint8Array; ba: Uint8Array }; conns(): Promise<{ a: Conn; b: Conn }>; close(): Promise<void> }> {
  const closers: Array<() => Promise<void>> = []
  const conns = async (): Promise<{ a: Conn; b: Conn }> => {
    const p = await connPair(t)
    closers.push(p.close)
    return { a: p.a, b: p.b }
  }
  const first = await conns()
  const ab = randomBytes(32)
  const ba = randomBytes(32)
  const a = new Session({ conn: wrap(first.a), remote: 'b', sendKey: ab, recvKey: ba, ...RESUME_BOTH }, opts)
  const b = new Session({ conn: wrap(first.b), remote: 'a', sendKey: ba, recvKey: ab, ...RESUME_BOTH }, opts)
  return {
    a,
    b,
    keys: { ab, ba },
    conns,
    async close() {
      a.destroy()
      b.destroy()
      await Promise.all([a.done, b.done])
      for (const c of closers) await c()
    },
  }
}
