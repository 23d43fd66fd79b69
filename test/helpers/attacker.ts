// A hostile peer in its own process, so the victim's file descriptors,
// memory and event loop are measured without the attacker's
// (test/ghost-sessions.test.ts, bench/attack.bench.ts).
//
//   node attacker.js <port> reconnect <n>    one identity opens n sessions, one after another
//   node attacker.js <port> announce <n>     n identities each link and send half of a frame announced at 16 MiB
//   node attacker.js <port> boxes <n>        one known peer sends n tiny end-to-end boxes that do not open
//   node attacker.js <port> broadcasts <n>   one known peer sends n valid broadcasts, signed beforehand
//
// reconnect/announce: every session is kept open and never read again; the
// attacker never closes its side. Prints "session <i>" per session up,
// "refused <i>" per session the victim closed or refused during the
// handshake. boxes/broadcasts print "ready" once linked and announced, and
// "sent" when every frame is queued. All print "done" at the end and then
// wait until killed.
import { randomBytes } from 'node:crypto'
import { generateIdentity } from '../../ts/core/identity.js'
import { encodeHello } from '../../ts/overlay/hello-codec.js'
import { encodePing } from '../../ts/overlay/link-codec.js'
import { buildSignedFrame } from '../../ts/overlay/signing.js'
import { Flag, HEADER_SIZE, MsgType, PROTOCOL_VERSION } from '../../ts/core/protocol.js'
import { Session } from '../../ts/session/session.js'
import { initiateSession } from '../../ts/session/handshake.js'
import { LinkIntent } from '../../ts/session/handshake-payload.js'
import { sealRecord } from '../../ts/session/node-records.js'
import { tcp } from '../../ts/transport/tcp.js'
import type { Conn } from '../../ts/transport/types.js'

const [portArg, mode, countArg] = process.argv.slice(2)
const port = Number(portArg)
const count = Number(countArg)
const kept: Conn[] = []

async function open(identity = generateIdentity(), username = 'ghost'): Promise<{ conn: Conn; sendKey: Uint8Array } | null> {
  try {
    const conn = await tcp.dial('127.0.0.1', port, { timeoutMs: 5000 })
    const h = await initiateSession(conn, { identity, username, intent: LinkIntent.OVERLAY, listenPort: 0, timeoutMs: 5000 })
    // Never read again, never close: the victim must tear the session down itself.
    h.conn.pause()
    h.conn.on('error', () => undefined)
    kept.push(h.conn)
    return { conn: h.conn, sendKey: h.sendKey }
  } catch {
    return null
  }
}

/** Writes a DATA header announcing `announced` bytes, then `send` bytes of it, as sealed records. */
function halfFrame(conn: Conn, key: Uint8Array, announced: number, send: number): void {
  const header = Buffer.alloc(HEADER_SIZE)
  header[0] = PROTOCOL_VERSION
  header[1] = MsgType.DATA
  header.writeUInt16BE(1001, 4)
  header.writeUInt32BE(announced, 6)
  let counter = 0
  conn.write(sealRecord(key, counter++, null, header))
  const chunk = Buffer.alloc(60_000, 7)
  for (let sent = 0; sent < send; sent += chunk.length) conn.write(sealRecord(key, counter++, null, chunk))
}

const CHAT = 1001

/** Links as a known user (its HELLO first), then queues `frames` (header || payload) as fast as the session takes them. */
async function flood(frames: (identity: ReturnType<typeof generateIdentity>) => Uint8Array[], username: string): Promise<void> {
  const identity = generateIdentity()
  const list = frames(identity)
  const conn = await tcp.dial('127.0.0.1', port, { timeoutMs: 5000 })
  const h = await initiateSession(conn, { identity, username, intent: LinkIntent.OVERLAY, listenPort: 0, timeoutMs: 5000 })
  const session = new Session(h, { maxQueue: 2 ** 31 })
  let acked: (() => void) | null = null
  session.onframe = (f) => {
    if (f.type === MsgType.PING_ACK) acked?.()
  }
  session.on('close', () => {
    console.log('closed')
  })
  const send = (f: Uint8Array): boolean => {
    const dv = new DataView(f.buffer, f.byteOffset, f.byteLength)
    return session.send(f[1]!, f[2]!, 0, dv.getUint16(4), dv.getUint32(10), dv.getUint32(14), f.subarray(HEADER_SIZE))
  }
  const body = encodeHello({ username, staticKey: identity.staticPublicKey, host: '127.0.0.1', port: 9, seq: BigInt(Date.now()), features: 0, plugins: [CHAT] })
  send(buildSignedFrame(identity, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId: randomBytes(8).readBigUInt64BE(0), body }))
  // A PING after it: the node handles a session's frames in order, so its PING-ACK says the HELLO was taken.
  const ack = new Promise<void>((r) => (acked = r))
  session.send(MsgType.PING, 0, 0, 0, 0, 1, encodePing({ nonce: 1n, sentAt: 0n }))
  await ack
  console.log('ready')
  for (const f of list) {
    if (session.closed) break
    if (!send(f)) await new Promise((r) => session.once('drain', r))
  }
  console.log('sent')
}

function header(type: number, flags: number, length: number, id: number): Uint8Array {
  const h = Buffer.alloc(HEADER_SIZE)
  h[0] = PROTOCOL_VERSION
  h[1] = type
  h[2] = flags
  h.writeUInt16BE(CHAT, 4)
  h.writeUInt32BE(length, 6)
  h.writeUInt32BE(id, 14)
  return h
}

async function main(): Promise<void> {
  if (mode === 'boxes') {
    await flood(() => Array.from({ length: count }, (_, i) => Buffer.concat([header(MsgType.DATA, Flag.ENCRYPTED, 48, i), randomBytes(48)])), 'boxes')
    console.log('done')
    return
  }
  if (mode === 'broadcasts') {
    const frames = (id: ReturnType<typeof generateIdentity>): Uint8Array[] =>
      Array.from({ length: count }, (_, i) => buildSignedFrame(id, { type: MsgType.DATA, flags: Flag.BROADCAST, pluginId: CHAT, messageId: BigInt(i + 1), body: Buffer.from(`b${i}`) }))
    await flood(frames, 'broadcaster')
    console.log('done')
    return
  }
  const identity = generateIdentity()
  for (let i = 0; i < count; i++) {
    if (mode === 'reconnect') {
      const s = await open(identity)
      console.log(s ? `session ${i}` : `refused ${i}`)
    } else if (mode === 'announce') {
      const s = await open(generateIdentity(), `ghost${i}`)
      if (s) halfFrame(s.conn, s.sendKey, 16 * 1024 * 1024, 8 * 1024 * 1024)
      console.log(s ? `session ${i}` : `refused ${i}`)
    } else {
      throw new Error(`unknown mode ${mode}`)
    }
  }
  console.log('done')
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
