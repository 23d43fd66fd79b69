// The message channel of the point-to-point benchmarks (bench/session.bench.ts,
// bench:compare's p4net and raw systems): a p4net Session or raw node:net,
// dialled and listened for on 127.0.0.1. p4net channels are real: TCP dial,
// preamble, Noise XX (ts/session/handshake.ts), then a Session carrying each
// message as one DATA frame.
import { generateIdentity, type Identity } from '../ts/core/identity.js'
import { HandshakeFeature, MsgType } from '../ts/core/protocol.js'
import { acceptSession, initiateSession, type HandshakeResult } from '../ts/session/handshake.js'
import { Session } from '../ts/session/session.js'
import { tcp } from '../ts/transport/tcp.js'
import type { Conn } from '../ts/transport/types.js'
import { nextDrain } from './lib.js'
import { RawChannel, rawDial, rawListen } from './net-baseline.js'

export type Impl = 'raw' | 'p4net'

/**
 * P4NET_BENCH_RESUME=1: both ends announce HandshakeFeature.RESUME, so the
 * sessions acknowledge and retain records (what resumption costs); default:
 * plain sessions, as every link of a Node today.
 */
const FEATURES = process.env.P4NET_BENCH_RESUME === '1' ? HandshakeFeature.RESUME : 0

/** One message stream, whatever carries it. */
export interface Channel {
  /** Queues one message; false: await drain() before the next. */
  send(payload: Uint8Array): boolean
  drain(): Promise<void>
  onmessage: ((payload: Uint8Array) => void) | null
  /** Resolves when the connection has closed. */
  readonly closed: Promise<void>
  close(): void
}

/** The plugin ID benchmark DATA frames carry. */
const PLUGIN_ID = 7

/** A p4net Session seen as a Channel: each message is one DATA frame. */
export class P4Channel implements Channel {
  readonly session: Session
  onmessage: ((payload: Uint8Array) => void) | null = null
  readonly closed: Promise<void>
  private seq = 0

  constructor(session: Session) {
    this.session = session
    session.onframe = (f) => this.onmessage!(f.payload)
    this.closed = session.done.then(() => undefined)
  }

  send(payload: Uint8Array): boolean {
    this.seq = (this.seq + 1) >>> 0
    return this.session.send(MsgType.DATA, 0, 0, PLUGIN_ID, 0, this.seq, payload)
  }
  drain(): Promise<void> {
    return nextDrain(this.session, this.session.closed, 'session')
  }
  close(): void {
    this.session.destroy()
  }
}

// Separate identities for the two ends, so a one-process pair is two distinct peers.
let dialer: Identity | undefined
let listener: Identity | undefined
export function dialerIdentity(): Identity {
  return (dialer ??= generateIdentity())
}
export function listenerIdentity(): Identity {
  return (listener ??= generateIdentity())
}

// The Session resumes the Conn the handshake left paused.
function toChannel(r: HandshakeResult): P4Channel {
  return new P4Channel(new Session(r))
}

/** Dials 127.0.0.1:port and, for p4net, runs the handshake as initiator. */
export async function dialChannel(impl: Impl, port: number): Promise<Channel> {
  if (impl === 'raw') return new RawChannel(await rawDial(port))
  const conn = await tcp.dial('127.0.0.1', port)
  return toChannel(await initiateSession(conn, { identity: dialerIdentity(), username: 'bench-dialer', features: FEATURES }))
}

/** Listens on 127.0.0.1, port 0; every connection (handshaken, for p4net) becomes a Channel. */
export async function listenChannels(
  impl: Impl,
  onChannel: (ch: Channel) => void,
  onError: (err: Error) => void,
): Promise<{ port: number; close(): void }> {
  if (impl === 'raw') return rawListen((socket) => onChannel(new RawChannel(socket)))
  const listener = await tcp.listen('127.0.0.1', 0, (conn: Conn) => {
    acceptSession(conn, { identity: listenerIdentity(), username: 'bench-listener', features: FEATURES }).then((r) => onChannel(toChannel(r)), onError)
  })
  return { port: listener.address.port, close: () => void listener.close() }
}
