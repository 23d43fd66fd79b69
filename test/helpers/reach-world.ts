// The memory world of the reachability tests (ManualClock): nodes on named
// hosts, some behind a NAT router's address, and a hostile peer that speaks
// REACH and lies (lyingPeer).
import { createNode, generateIdentity, type ManualClock, type MemoryNetwork, memoryTransport, type Node, type NodeOptions } from '../../ts/index.js'
import { HandshakeFeature, MsgType } from '../../ts/core/protocol.js'
import { acceptSession } from '../../ts/session/handshake.js'
import { LinkIntent } from '../../ts/session/handshake-payload.js'
import { Session, type Frame } from '../../ts/session/session.js'
import type { Conn } from '../../ts/transport/types.js'
import { decodeReach, DialStatus, encodeReach, ReachKind, type ReachMessage } from '../../ts/overlay/reach-codec.js'
import type { LkaTable } from '../../ts/overlay/lka.js'
import { clockedNetwork, stopUnderClock } from './memory-world.js'

export const NAT_INSIDE = '192.168.1.2'
export const NAT_OUTSIDE = '203.0.113.7'

export interface World {
  clock: ManualClock
  network: MemoryNetwork
  nodes: Node[]
  /** A node listening on `host`; its connections come from `from` (a NAT router's outside address) when given. */
  node(name: string, host: string, opts?: Partial<NodeOptions> & { from?: string }): Promise<Node>
  stop(): Promise<void>
}

export function world(): World {
  const { clock, network } = clockedNetwork({ wallAt: 1_700_000_000_000 })
  const nodes: Node[] = []
  return {
    clock,
    network,
    nodes,
    async node(name, host, { from, ...opts } = {}) {
      const n = await createNode({ username: name, host, transport: memoryTransport(network, { host: from ?? host }), clock, links: { min: 3, max: 8 }, ...opts })
      nodes.push(n)
      await n.start({ joinTimeout: 0 })
      return n
    },
    stop: () => stopUnderClock(clock, nodes, 'every node stopped'),
  }
}

export const lkaOf = (n: Node): LkaTable => (n as unknown as { overlay: { directory: { lka: LkaTable } } }).overlay.directory.lka
export const decided = (n: Node): boolean => n.reachability.status !== 'unknown'

/**
 * A hostile peer that speaks REACH: it accepts one overlay link (the node
 * dials it), tells the node it sees it at `claim`, answers every DIAL with
 * `answer` without dialling, and answers PINGs so the link stays up.
 * `relayed`: the RELAY frames it got (op, payload).
 */
export async function lyingPeer(
  w: World,
  host: string,
  answer: DialStatus,
  claim = NAT_OUTSIDE,
): Promise<{ port: number; frames: ReachMessage[]; relayed: Array<{ op: number; payload: Uint8Array }>; session: () => Session | null }> {
  const frames: ReachMessage[] = []
  const relayed: Array<{ op: number; payload: Uint8Array }> = []
  let session: Session | null = null
  const t = w.network.transport({ host })
  const l = await t.listen(host, 0, (conn: Conn) => {
    void acceptSession(conn, { identity: generateIdentity(), username: 'liar', intent: LinkIntent.OVERLAY, features: HandshakeFeature.REACH, clock: w.clock }).then((h) => {
      const s = new Session(h)
      session = s
      s.onframe = (f: Frame) => {
        if (f.type === MsgType.PING) s.send(MsgType.PING_ACK, 0, 0, 0, f.idHi, f.idLo, f.payload)
        if (f.type === MsgType.RELAY) relayed.push({ op: f.idLo, payload: Uint8Array.from(f.payload) })
        if (f.type !== MsgType.REACH) return
        const m = decodeReach(f.payload)
        frames.push(m)
        if (m.kind === ReachKind.DIAL) s.send(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.RESULT, id: m.id, status: answer }))
      }
      h.conn.resume()
      s.send(MsgType.REACH, 0, 0, 0, 0, 0, encodeReach({ kind: ReachKind.OBSERVED, host: claim, port: 40000 }))
    })
  })
  return { port: l.address.port, frames, relayed, session: () => session }
}

