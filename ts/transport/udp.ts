// The real datagram transport for LAN discovery: node:dgram, IPv4 multicast.
// The socket binds the group's port on every address (on Linux a socket bound
// to one unicast address never sees multicast), shares it with other
// processes (SO_REUSEADDR, so several nodes on one machine can listen), joins
// the group on the chosen interface and sends there with the given TTL.
import type { Socket } from 'node:dgram'
import { nodeDgram, nodeOs } from '../core/builtins.js'
import { P4Error } from '../core/errors.js'
import type { DatagramTransport, MulticastHandlers, MulticastOptions, MulticastSocket } from './datagram.js'

function ioError(what: string, opts: MulticastOptions, err: unknown): P4Error {
  const where = `${opts.group}:${opts.port}${opts.iface ? ` on ${opts.iface}` : ''}`
  return new P4Error('IO_ERROR', `cannot ${what} multicast ${where}: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}

class UdpMulticast implements MulticastSocket {
  private closed = false
  constructor(
    private readonly sock: Socket,
    private readonly opts: MulticastOptions,
  ) {}

  send(data: Uint8Array): void {
    if (this.closed) return
    this.sock.send(data, this.opts.port, this.opts.group)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    try {
      this.sock.dropMembership(this.opts.group, this.opts.iface)
    } catch {
      // the interface may be gone; closing leaves the group anyway
    }
    this.sock.close()
  }
}

/** IPv4 multicast over node:dgram. */
export const udp: DatagramTransport = {
  name: 'udp',
  openMulticast(opts: MulticastOptions, handlers: MulticastHandlers): Promise<MulticastSocket> {
    return new Promise((resolve, reject) => {
      const sock = nodeDgram().createSocket({ type: 'udp4', reuseAddr: true })
      let opened: UdpMulticast | null = null
      sock.on('error', (err) => {
        if (opened) return handlers.error(ioError('send to', opts, err))
        sock.close()
        reject(ioError('bind', opts, err))
      })
      sock.on('message', (msg, rinfo) => handlers.message(msg, { host: rinfo.address, port: rinfo.port }))
      sock.bind({ port: opts.port, address: '0.0.0.0' }, () => {
        try {
          sock.setMulticastTTL(opts.ttl)
          sock.setMulticastLoopback(opts.loopback)
          if (opts.iface !== undefined) sock.setMulticastInterface(opts.iface)
          sock.addMembership(opts.group, opts.iface)
        } catch (err) {
          sock.close()
          return reject(ioError('join', opts, err))
        }
        opened = new UdpMulticast(sock, opts)
        resolve(opened)
      })
    })
  },
  addresses(): string[] {
    const out: string[] = []
    for (const list of Object.values(nodeOs().networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address)
    return out.sort()
  },
}
