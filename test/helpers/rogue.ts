// Rogue peers for security tests, built from the library's internals:
//   * hand-driven handshake sides (rogueInitiator / rogueResponder) that put
//     whatever payload the test gives into the Noise messages;
//   * Rogue, a raw authenticated session to one node. It holds an overlay link
//     like any node but sends exactly what the test tells it to (replays,
//     forgeries, tampered relays) and records every frame it receives.
import { tcp, type Identity, type Node, type Transport } from '../../ts/index.js'
import { HEADER_SIZE } from '../../ts/core/protocol.js'
import { initiateSession } from '../../ts/session/handshake.js'
import { LinkIntent } from '../../ts/session/handshake-payload.js'
import { HandshakeState, noiseHash, type DhKeyPair } from '../../ts/session/noise.js'
import { CONNECT_BYTES, ConnReader, OK_BYTES, PROLOGUE, readConnect, readOk } from '../../ts/session/preamble.js'
import { Session, type Frame } from '../../ts/session/session.js'
import type { Conn } from '../../ts/transport/types.js'

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

export interface RogueOptions {
  identity: Identity
  username: string
  /** Default: TCP on the node's address; pass memoryTransport(net.network) for memory nodes. */
  transport?: Transport
}

export class Rogue {
  /** Every frame received, payload copied. */
  readonly frames: Frame[] = []
  /** Called for every received frame (after it is recorded). */
  onframe: ((f: Frame) => void) | null = null
  readonly session: Session

  private constructor(session: Session) {
    this.session = session
  }

  /** Dials `node` and completes the handshake as an overlay link. */
  static async dial(node: Node, o: RogueOptions): Promise<Rogue> {
    const transport = o.transport ?? tcp
    const conn = await transport.dial(node.address.host, node.address.port, { timeoutMs: 5000 })
    const h = await initiateSession(conn, { identity: o.identity, username: o.username, intent: LinkIntent.OVERLAY, timeoutMs: 5000 })
    const rogue = new Rogue(new Session(h))
    rogue.session.onframe = (f) => {
      const copy = { ...f, payload: Uint8Array.from(f.payload) }
      rogue.frames.push(copy)
      rogue.onframe?.(copy)
    }
    h.conn.resume()
    return rogue
  }

  /** Sends one frame as is (the caller sets hops, flags, IDs and payload). */
  send(f: Frame): void {
    this.session.send(f.type, f.flags, f.hops, f.pluginId, f.idHi, f.idLo, f.payload)
  }

  /** Sends a whole signed frame (header || payload) as built by buildSignedFrame, with `hops`. */
  sendSigned(frame: Uint8Array, hops = 0): void {
    this.send(frameFromBytes(frame, hops))
  }

  close(): void {
    this.session.destroy()
  }
}

/** A Frame from header || payload bytes (hops overridden). */
export function frameFromBytes(frame: Uint8Array, hops = frame[3]!): Frame {
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  return { type: frame[1]!, flags: frame[2]!, hops, pluginId: dv.getUint16(4), idHi: dv.getUint32(10), idLo: dv.getUint32(14), payload: frame.subarray(HEADER_SIZE) }
}
