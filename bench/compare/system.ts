// What every compared system provides to the harness: a listener that hands
// over one message Channel per accepted connection, and a dial that returns
// one. A Channel is a message stream with backpressure (bench/session-peer.ts);
// each system carries messages its own way (see its adapter).
import type { Channel } from '../session-peer.js'
import type { Impl } from '../aead-impl.js'
import type { BroadcastNet } from './broadcast.js'

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

/** What the harness needs from the modules that load a compared system's packages. */
export interface PeerModules {
  aead: { aeadImpl(name: 'noble' | 'chainsafe' | 'libsodium'): Promise<Impl> }
  libp2p: { libp2pSystem(batch?: boolean): System }
  'secret-stream': { secretStreamSystem(): System }
  gossipsub: {
    gossipsubNet(n: number, edges: [number, number][], readyMs: number, note: (s: string) => void): Promise<BroadcastNet>
    /** A gossipsub node listening for peers, holding the links they open (worker.ts, order 'node'). */
    holdPubsubNode(): Promise<HeldNode>
    /** `count` gossipsub nodes, each dialling `address`. */
    dialPubsubPeers(address: string, count: number): Promise<{ stop(): Promise<void> }>
  }
}

/** A node of one system holding the links that peers open to it. */
export interface HeldNode {
  address: string
  links(): number
  /** p4net: the dedup table's bytes. */
  dedupBytes?: number
  stop(): Promise<void>
}

/**
 * A module of bench/compare that imports the compared systems' packages
 * (bench/compare/package.json, installed on first use by
 * scripts/bench-peers.js). Imported by a computed URL so that the project's
 * own build never follows it and needs none of those packages: these modules
 * compile with bench/compare/tsconfig.json (run.ts checks they match PeerModules).
 */
export async function importPeerModule<K extends keyof PeerModules>(name: K): Promise<PeerModules[K]> {
  const url = new URL(`./${name}.js`, import.meta.url)
  try {
    return (await import(url.href)) as PeerModules[K]
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err
    throw new Error(`${name} is not available (${(err as Error).message}); run \`npm run bench:compare\`, or \`node scripts/bench-peers.js\` to install and build the compared systems`)
  }
}

/** The adapter of `name`, imported on demand so a process loads only what it measures. */
export async function loadSystem(name: SystemName): Promise<System> {
  switch (name) {
    case 'p4net':
      return (await import('./p4net.js')).p4netSystem()
    case 'libp2p':
      return (await importPeerModule('libp2p')).libp2pSystem()
    case 'libp2p-batched':
      return (await importPeerModule('libp2p')).libp2pSystem(true)
    case 'secret-stream':
      return (await importPeerModule('secret-stream')).secretStreamSystem()
    case 'raw':
      return (await import('./raw.js')).rawSystem()
    default:
      throw new Error(`unknown system ${String(name)}`)
  }
}
