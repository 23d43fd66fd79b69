// Connected Conn pairs and keyed Session pairs over either transport, for
// session-level tests that do not need the handshake.
import { randomBytes } from 'node:crypto'
import { HandshakeState, noiseHash, type DhKeyPair } from '../../ts/session/noise.js'
import { CONNECT_BYTES, ConnReader, OK_BYTES, PROLOGUE, readConnect, readOk } from '../../ts/session/preamble.js'
import { Session, type SessionOptions } from '../../ts/session/session.js'
import { MemoryNetwork, memoryTransport } from '../../ts/transport/memory.js'
import { tcpTransport } from '../../ts/transport/tcp.js'
import type { Conn, Transport } from '../../ts/transport/types.js'

export type TransportName = 'tcp' | 'memory'

export function makeTransport(name: TransportName): Transport {
  return name === 'tcp' ? tcpTransport() : memoryTransport(new MemoryNetwork())
}

/** A dialled and an accepted Conn on loopback (or the memory network); close() closes the listener. */
export async function connPair(name: TransportName): Promise<{ a: Conn; b: Conn; close(): Promise<void> }> {
  const t = makeTransport(name)
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

/** A handshake message as written on the wire: u16 BE length || message, after `before` (a preamble). */
export function frame(message: Uint8Array, before: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.alloc(before.length + 2 + message.length)
  out.set(before)
  out.writeUInt16BE(message.length, before.length)
  out.set(message, before.length + 2)
  return out
}

/** Reads one length-prefixed handshake message. */
export async function readFrame(reader: ConnReader): Promise<Uint8Array> {
  const len = (await reader.need(2)).readUInt16BE(0)
  const m = (await reader.need(2 + len)).subarray(2, 2 + len)
  reader.consume(2 + len)
  return m
}

/** A hand-driven initiator that sends `payload` in message 3 (and `first` in message 1). */
export async function rogueInitiator(conn: Conn, s: DhKeyPair, payload: Uint8Array, first: Uint8Array = new Uint8Array(0)): Promise<void> {
  const hs = new HandshakeState({ initiator: true, hash: noiseHash('BLAKE2s'), s, prologue: PROLOGUE })
  const reader = new ConnReader(conn)
  conn.on('error', () => {})
  conn.write(frame(hs.writeMessage(first), CONNECT_BYTES))
  await readOk(reader)
  hs.readMessage(await readFrame(reader))
  conn.write(frame(hs.writeMessage(payload)))
}

/** A hand-driven responder that sends `payload` in message 2. */
export async function rogueResponder(conn: Conn, s: DhKeyPair, payload: Uint8Array): Promise<void> {
  const hs = new HandshakeState({ initiator: false, hash: noiseHash('BLAKE2s'), s, prologue: PROLOGUE })
  const reader = new ConnReader(conn)
  conn.on('error', () => {})
  await readConnect(reader)
  hs.readMessage(await readFrame(reader))
  conn.write(frame(hs.writeMessage(payload), OK_BYTES))
}
