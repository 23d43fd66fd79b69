// What every compared system provides to the harness: a listener that hands
// over one message Channel per accepted connection, and a dial that returns
// one. A Channel is a message stream with backpressure (bench/session-peer.ts);
// each system carries messages its own way (see its adapter), and may bring
// its own sending loop (pump) where that is how its users send.
import type { Channel as BaseChannel } from '../session-peer.js'
import type { Impl } from '../aead-impl.js'
import type { BroadcastNet } from './broadcast.js'

export interface Channel extends BaseChannel {
  /**
   * Sends `count` × payload the way the system's users do (p4net:
   * `await plugin.send` in a loop, `inFlight` at a time; js-libp2p bulk: a
   * generator into stream.sink). Without it the harness loops on send() and
   * awaits drain() when send() says so (write() and 'drain').
   */
  pump?(payload: Uint8Array, count: number, inFlight?: number): Promise<void>
}

/**
 * p4net: the bare Session (bench/session-peer.ts; also what bench/session.bench.ts
 * calls p4net); p4net-api: `await plugin.send` on nodes made by createNode;
 * p4net-api-e2e: the same with { encrypted: true }; p4net-stream:
 * plugin.openStream (only where it exists).
 */
export type SystemName = 'p4net' | 'p4net-api' | 'p4net-api-e2e' | 'p4net-stream' | 'libp2p' | 'secret-stream' | 'raw'

/**
 * How a system carries the workload: 'bulk' moves bytes over one plain stream
 * (no message boundaries: the receiver counts bytes), 'messages' keeps each
 * message whole in the system's own framing. Only js-libp2p differs between
 * the two (one yamux stream fed by a generator vs it-length-prefixed); the
 * others carry messages either way.
 */
export type Mode = 'bulk' | 'messages'

/** In table order: p4net first (the ratios are to it), the unencrypted ceiling last. */
export const SYSTEMS: SystemName[] = ['p4net-api', 'p4net-api-e2e', 'p4net', 'p4net-stream', 'libp2p', 'secret-stream', 'raw']

export const LABELS: Record<SystemName, string> = {
  'p4net-api': 'p4net plugin.send',
  'p4net-api-e2e': 'p4net plugin.send encrypted',
  p4net: 'p4net session',
  'p4net-stream': 'p4net stream',
  libp2p: 'js-libp2p 2.10',
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
  libp2p: { libp2pSystem(mode?: Mode): System }
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
export async function loadSystem(name: SystemName, mode: Mode = 'messages'): Promise<System> {
  switch (name) {
    case 'p4net':
      return (await import('./p4net.js')).p4netSystem()
    case 'p4net-api':
    case 'p4net-api-e2e':
      return (await import('./p4net-api.js')).p4netApiSystem(name === 'p4net-api-e2e')
    case 'p4net-stream':
      return (await import('./p4net-api.js')).p4netStreamSystem()
    case 'libp2p':
      return (await importPeerModule('libp2p')).libp2pSystem(mode)
    case 'secret-stream':
      return (await importPeerModule('secret-stream')).secretStreamSystem()
    case 'raw':
      return (await import('./raw.js')).rawSystem()
    default:
      throw new Error(`unknown system ${String(name)}`)
  }
}
