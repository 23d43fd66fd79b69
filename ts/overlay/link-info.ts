// What node.links() and the link events say about one session.
import { CircuitConn } from './circuit-conn.js'
import type { Directory } from './context.js'
import type { Peer } from './peer.js'
import type { LinkInfo } from './types.js'

/** `peer` as links() shows it: named by the user table when it binds the key, by the handshake otherwise. */
export function linkInfoOf(peer: Peer, directory: Directory): LinkInfo {
  const r = peer.remote
  const bound = directory.usernameOfPeer(peer)
  const conn = peer.session.conn
  const info: LinkInfo = {
    username: bound ?? r.username,
    verified: bound !== undefined,
    cpuMs: peer.quota.cpuMs,
    queued: peer.session.bufferedBytes,
    host: r.host,
    port: r.listenPort || r.port,
    status: peer.kind,
    initiator: peer.initiator,
    since: peer.since,
    rtt: peer.rtt,
  }
  if (conn instanceof CircuitConn) {
    info.via = conn.via
    info.port = conn.remotePort
  }
  return info
}
