// A hostile peer in its own process (so the victim's file descriptors and
// memory are measured without the attacker's), for test/ghost-sessions.test.ts.
//
//   node ghost-attacker.js <port> reconnect <n>   one identity opens n sessions, one after another
//   node ghost-attacker.js <port> announce <n>    n identities each link and send half of a frame announced at 16 MiB
//
// Every session is kept open and never read again: the attacker never closes
// its side. Prints "session <i>" per session up, "refused <i>" per session the
// victim closed or refused during the handshake, then "done"; then waits
// until killed.
import { generateIdentity } from '../../ts/identity.js'
import { HEADER_SIZE, MsgType, PROTOCOL_VERSION } from '../../ts/protocol.js'
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

async function main(): Promise<void> {
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
