// The far end of the session benchmark, and the message channel both ends
// use. Imported by session.bench.ts for the one-process cases; forked as
// dist/bench/session-peer.js for the two-process ones, when it takes orders
// over IPC:
//   { op: 'serve', impl, role, messages }  → { op: 'listening', port }, then
//        (sink) { op: 'done', messages, bytes } once `messages` have arrived
//   { op: 'stop' }                         → { op: 'stopped' } (connection and listener closed)
//   { op: 'memory', impl, port, count }    → { op: 'memory', before, after }:
//        dials `count` idle connections to port (after a warm-up, see
//        measureIdle); run node with --expose-gc
//   any failure                            → { op: 'error', message }
// p4net channels are real: TCP dial, preamble, Noise XX (ts/session/handshake.ts),
// then a Session carrying DATA frames.
import { pathToFileURL } from 'node:url'
import { generateIdentity, type Identity } from '../ts/core/identity.js'
import { MsgType } from '../ts/core/protocol.js'
import { acceptSession, initiateSession, type HandshakeResult } from '../ts/session/handshake.js'
import { Session } from '../ts/session/session.js'
import { tcp } from '../ts/transport/tcp.js'
import type { Conn } from '../ts/transport/types.js'
import { RawChannel, rawDial, rawListen } from './net-baseline.js'

export type Impl = 'raw' | 'p4net'
export type Role = 'sink' | 'echo'

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
    const s = this.session
    return new Promise((resolve, reject) => {
      if (s.closed) return reject(new Error('session closed while waiting for drain'))
      const onClose = (): void => reject(new Error('session closed while waiting for drain'))
      s.once('close', onClose)
      s.once('drain', () => {
        s.off('close', onClose)
        resolve()
      })
    })
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
  return new P4Channel(new Session({ conn: r.conn, remote: r.remote, sendKey: r.sendKey, recvKey: r.recvKey, leftover: r.leftover }))
}

/** Dials 127.0.0.1:port and, for p4net, runs the handshake as initiator. */
export async function dialChannel(impl: Impl, port: number): Promise<Channel> {
  if (impl === 'raw') return new RawChannel(await rawDial(port))
  const conn = await tcp.dial('127.0.0.1', port)
  return toChannel(await initiateSession(conn, { identity: dialerIdentity(), username: 'bench-dialer' }))
}

/** Listens on 127.0.0.1, port 0; every connection (handshaken, for p4net) becomes a Channel. */
export async function listenChannels(
  impl: Impl,
  onChannel: (ch: Channel) => void,
  onError: (err: Error) => void,
): Promise<{ port: number; close(): void }> {
  if (impl === 'raw') return rawListen((socket) => onChannel(new RawChannel(socket)))
  const listener = await tcp.listen('127.0.0.1', 0, (conn: Conn) => {
    acceptSession(conn, { identity: listenerIdentity(), username: 'bench-listener' }).then((r) => onChannel(toChannel(r)), onError)
  })
  return { port: listener.address.port, close: () => void listener.close() }
}

export interface Served {
  port: number
  /** sink: resolves with the counts once `messages` have arrived; echo: when the connection closes. */
  result: Promise<{ messages: number; bytes: number }>
  /** Closes the connection and the listener. */
  close(): void
}

/** Accepts one connection and drains it (sink) or sends every message back (echo). */
export async function serve(impl: Impl, role: Role, messages: number): Promise<Served> {
  let resolve!: (r: { messages: number; bytes: number }) => void
  let reject!: (err: Error) => void
  const result = new Promise<{ messages: number; bytes: number }>((res, rej) => {
    resolve = res
    reject = rej
  })
  let channel: Channel | null = null
  const server = await listenChannels(
    impl,
    (ch) => {
      if (channel !== null) {
        ch.close()
        return
      }
      channel = ch
      let count = 0
      let bytes = 0
      if (role === 'sink') {
        ch.onmessage = (p) => {
          bytes += p.length
          if (++count === messages) resolve({ messages: count, bytes })
        }
      } else {
        ch.onmessage = (p) => {
          count++
          bytes += p.length
          ch.send(p)
        }
      }
      ch.closed.then(() => {
        if (role === 'echo' || count >= messages) resolve({ messages: count, bytes })
        else reject(new Error(`${impl} connection closed after ${count} of ${messages} messages`))
      })
    },
    reject,
  )
  return {
    port: server.port,
    result,
    close() {
      channel?.close()
      server.close()
    },
  }
}

export interface MemorySample {
  rss: number
  heapTotal: number
  heapUsed: number
  external: number
  arrayBuffers: number
}

function sample(): MemorySample {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) throw new Error('run with --expose-gc')
  gc()
  gc()
  const m = process.memoryUsage()
  return { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }
}

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * Opens `count` idle channels to port and samples memory before and after.
 * Warm-up first: `count` channels opened and closed (so the V8 heap and the
 * malloc arenas have grown to what the handshakes need transiently), then one
 * kept open; the difference is then what an idle connection retains.
 */
export async function measureIdle(impl: Impl, port: number, count: number): Promise<{ before: MemorySample; after: MemorySample }> {
  const churn: Channel[] = []
  for (let i = 0; i < count; i++) churn.push(await dialChannel(impl, port))
  for (const ch of churn) ch.close()
  await Promise.all(churn.map((ch) => ch.closed))
  churn.length = 0
  const keep: Channel[] = [await dialChannel(impl, port)]
  await settle(100)
  const before = sample()
  for (let i = 0; i < count; i++) keep.push(await dialChannel(impl, port))
  await settle(200)
  const after = sample()
  for (const ch of keep) ch.close()
  return { before, after }
}

type Order =
  | { op: 'serve'; impl: Impl; role: Role; messages: number }
  | { op: 'stop' }
  | { op: 'memory'; impl: Impl; port: number; count: number }

function main(): void {
  const send = (m: object): void => void process.send!(m)
  const fail = (err: unknown): void => send({ op: 'error', message: err instanceof Error ? err.message : String(err) })
  let current: Served | null = null
  process.on('message', (order: Order) => {
    if (order.op === 'serve') {
      serve(order.impl, order.role, order.messages).then((s) => {
        current = s
        send({ op: 'listening', port: s.port })
        s.result.then(
          (r) => {
            if (order.role === 'sink') send({ op: 'done', ...r })
          },
          // After 'stop' the parent has moved on: an unfinished sink is no news.
          (err) => current === s && fail(err),
        )
      }, fail)
    } else if (order.op === 'stop') {
      current?.close()
      current = null
      send({ op: 'stopped' })
    } else if (order.op === 'memory') {
      measureIdle(order.impl, order.port, order.count).then((m) => send({ op: 'memory', ...m }), fail)
    }
  })
  // The parent going away ends the child.
  process.on('disconnect', () => process.exit(0))
}

if (process.send !== undefined && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main()
