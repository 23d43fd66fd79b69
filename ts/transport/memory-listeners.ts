// The listeners of a MemoryNetwork (memory.ts), by host and port: ports
// handed out for port 0, and the listener a dial reaches (the exact address,
// else one on '0.0.0.0' or '::' for that port).
import { P4Error } from '../core/errors.js'
import type { ConnOwner } from './memory-conn.js'
import type { Address, Conn, Listener } from './types.js'

const FIRST_PORT = 49152

/** What one transport of a network owns, so that it can crash as a whole. */
export interface Endpoint extends ConnOwner {
  readonly listeners: Set<MemoryListener>
  crashed: boolean
}

export class MemoryListener implements Listener {
  readonly address: Address
  constructor(
    private readonly all: MemoryListeners,
    readonly key: string,
    host: string,
    port: number,
    readonly onConnection: (conn: Conn) => void,
    readonly owner: Endpoint,
  ) {
    this.address = { host, port }
  }
  async close(): Promise<void> {
    this.all.remove(this)
  }
}

export class MemoryListeners {
  private readonly byKey = new Map<string, MemoryListener>()
  private nextPort = FIRST_PORT

  get size(): number {
    return this.byKey.size
  }

  listen(host: string, port: number, onConnection: (conn: Conn) => void, owner: Endpoint): MemoryListener {
    if (port === 0) port = this.freePort(host)
    const key = `${host}:${port}`
    if (this.byKey.has(key)) throw new P4Error('IO_ERROR', `cannot listen on ${key}: address in use`)
    const listener = new MemoryListener(this, key, host, port, onConnection, owner)
    this.byKey.set(key, listener)
    owner.listeners.add(listener)
    return listener
  }

  remove(listener: MemoryListener): void {
    if (this.byKey.get(listener.key) === listener) this.byKey.delete(listener.key)
    listener.owner.listeners.delete(listener)
  }

  /** The listener a dial to host:port reaches, if any. */
  find(host: string, port: number): MemoryListener | undefined {
    return this.byKey.get(`${host}:${port}`) ?? this.byKey.get(`0.0.0.0:${port}`) ?? this.byKey.get(`:::${port}`)
  }

  private freePort(host: string): number {
    for (let tries = 0; tries < 65536 - 1024; tries++) {
      const port = this.nextPort
      this.nextPort = port >= 65535 ? 1024 : port + 1
      if (!this.byKey.has(`${host}:${port}`)) return port
    }
    throw new P4Error('IO_ERROR', `no free port on ${host}`)
  }
}
