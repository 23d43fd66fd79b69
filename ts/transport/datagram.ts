// Datagram sockets for LAN discovery (ts/overlay/lan.ts): one IPv4 multicast
// group, sent to and received on one interface. The overlay sees only these
// types, so tests run it over an in-memory segment (memory-lan.ts) and never
// send on the machine's own interfaces; udp.ts is the real one (node:dgram).
import type { Address } from './types.js'

export interface MulticastOptions {
  /** IPv4 multicast group, e.g. 239.255.80.52. */
  group: string
  /** UDP port the group's datagrams are sent to (and this socket binds). */
  port: number
  /** IPv4 address of the interface to send and join on; undefined: the system's default multicast interface. */
  iface: string | undefined
  /** IP TTL of sent datagrams (1: they never leave the local network). */
  ttl: number
  /** Whether sockets of this host receive what it sends (IP_MULTICAST_LOOP). */
  loopback: boolean
}

export interface MulticastHandlers {
  /** One datagram received on the group; `data` may be reused after the call returns. */
  message(data: Uint8Array, from: Address): void
  /** A failure after the socket opened (a send that failed); the socket stays open. */
  error(err: Error): void
}

export interface MulticastSocket {
  /** Sends one datagram to the group; a failure is reported to the handlers' error(). */
  send(data: Uint8Array): void
  /** Leaves the group and closes the socket; idempotent. */
  close(): void
}

export interface DatagramTransport {
  readonly name: string
  /**
   * Opens a socket bound to the group's port and joined to the group.
   * Rejects with P4Error IO_ERROR when it cannot (no such interface, no
   * multicast route, the port refused).
   */
  openMulticast(opts: MulticastOptions, handlers: MulticastHandlers): Promise<MulticastSocket>
  /**
   * This host's IPv4 interface addresses, where the transport can tell: a
   * node listening on every address reopens its socket when they change
   * (another network), so that it joins the group where it now is.
   */
  addresses?(): string[]
}

/** True when `t` looks like a DatagramTransport (an option check). */
export function isDatagramTransport(t: unknown): t is DatagramTransport {
  return typeof t === 'object' && t !== null && typeof (t as DatagramTransport).openMulticast === 'function'
}

/** Largest UDP payload over IPv4. */
export const MAX_UDP_PAYLOAD = 65_507
