// An in-memory LAN segment for LAN discovery in tests and simulations: every
// socket opened on a MemoryLan for a group and port receives what the others
// send there, as a switch floods multicast on one network. Nothing touches a
// real interface. Delivery is asynchronous (one setImmediate per datagram
// per receiver), never inside send(). inject() sends a datagram from any
// source address (a forger, a flood from many hosts).
import { P4Error } from '../core/errors.js'
import { MAX_UDP_PAYLOAD, type DatagramTransport, type MulticastHandlers, type MulticastOptions, type MulticastSocket } from './datagram.js'
import type { Address } from './types.js'

interface Member {
  host: string
  opts: MulticastOptions
  handlers: MulticastHandlers
  open: boolean
}

let nextEphemeral = 40_000

export class MemoryLan {
  private readonly members = new Set<Member>()
  private inFlight = 0
  /** Datagrams sent on the segment (by sockets and inject()). */
  sent = 0

  /** True when no datagram is on its way (for ManualClock's idle option). */
  get idle(): boolean {
    return this.inFlight === 0
  }

  /** Sockets open on the segment. */
  get sockets(): number {
    return this.members.size
  }

  /** A datagram transport on this segment whose datagrams come from `host`. */
  transport(host: string): DatagramTransport {
    if (typeof host !== 'string' || host === '') throw new P4Error('BAD_ARGUMENT', 'host must be a non-empty string')
    return {
      name: 'memory-lan',
      openMulticast: async (opts, handlers) => {
        await null // opens on a later turn, like a real bind
        const m: Member = { host, opts: { ...opts }, handlers, open: true }
        this.members.add(m)
        const port = nextEphemeral++
        const socket: MulticastSocket = {
          send: (data) => {
            if (!m.open) return
            if (data.length > MAX_UDP_PAYLOAD) {
              queueMicrotask(() => handlers.error(new P4Error('IO_ERROR', `send: datagram of ${data.length} bytes is too large`)))
              return
            }
            this.deliver(data, { host, port }, opts.group, opts.port, m)
          },
          close: () => {
            m.open = false
            this.members.delete(m)
          },
        }
        return socket
      },
    }
  }

  /** Sends `data` to group:port from `from`, as a host with no socket of its own would (forgeries, floods). */
  inject(data: Uint8Array, from: Address, group: string, port: number): void {
    this.deliver(data, from, group, port, null)
  }

  private deliver(data: Uint8Array, from: Address, group: string, port: number, sender: Member | null): void {
    this.sent++
    const copy = Uint8Array.from(data)
    for (const m of this.members) {
      if (m === sender || m.opts.group !== group || m.opts.port !== port) continue
      // IP_MULTICAST_LOOP off: sockets on the sending host do not hear it.
      if (sender !== null && m.host === sender.host && !sender.opts.loopback) continue
      this.inFlight++
      setImmediate(() => {
        this.inFlight--
        if (m.open) m.handlers.message(copy, { ...from })
      })
    }
  }
}
