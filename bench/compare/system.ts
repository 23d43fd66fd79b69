// What every compared system provides to the harness: a listener that hands
// over one message Channel per accepted connection, and a dial that returns
// one. A Channel is a message stream with backpressure (bench/session-peer.ts);
// each system carries messages its own way (see its adapter).
import type { Channel } from '../session-peer.js'

export type { Channel }

export type SystemName = 'p4net' | 'libp2p' | 'libp2p-batched' | 'secret-stream' | 'raw'

/** In table order: p4net first (the ratios are to it), the unencrypted ceiling last. (libp2p-batched: small messages only.) */
export const SYSTEMS: SystemName[] = ['p4net', 'libp2p', 'secret-stream', 'raw']

export const LABELS: Record<SystemName, string> = {
  p4net: 'p4net',
  libp2p: 'js-libp2p 2.10',
  'libp2p-batched': 'js-libp2p app-batched',
  'secret-stream': 'secret-stream',
  raw: 'raw node:net',
}

export interface Listening {
  /** What dial() takes: a port for TCP systems, a multiaddr for libp2p. */
  address: string
  close(): Promise<void>
}

export interface System {
  readonly name: SystemName
  /** Listens on 127.0.0.1, port 0; each connection, once secured, becomes a Channel. */
  listen(onChannel: (ch: Channel) => void, onError: (err: Error) => void): Promise<Listening>
  /** A new connection (never a reused one), secured, as a Channel. */
  dial(address: string): Promise<Channel>
  /** Releases what the system keeps between dials (libp2p's dialling nodes). */
  shutdown(): Promise<void>
}

/** The adapter of `name`, imported on demand so a process loads only what it measures. */
export async function loadSystem(name: SystemName): Promise<System> {
  switch (name) {
    case 'p4net':
      return (await import('./p4net.js')).p4netSystem()
    case 'libp2p':
      return (await import('./libp2p.js')).libp2pSystem()
    case 'libp2p-batched':
      return (await import('./libp2p.js')).libp2pSystem(true)
    case 'secret-stream':
      return (await import('./secret-stream.js')).secretStreamSystem()
    case 'raw':
      return (await import('./raw.js')).rawSystem()
    default:
      throw new Error(`unknown system ${String(name)}`)
  }
}
