// js-libp2p 2.10 as one would set it up for a TCP service: @libp2p/tcp,
// @chainsafe/libp2p-noise, @chainsafe/libp2p-yamux, everything else at its
// defaults except what a benchmark must change (LIBP2P_CONFIG below). A
// Channel is one yamux stream on its own connection (dial with force: a new
// connection every time), used the way libp2p's docs show:
// - bulk: the 64 KiB chunks go into stream.sink from a generator
//   (`await stream.sink(source)`), and the receiver reads stream.source;
// - messages: it-length-prefixed over the stream, `stream.sink(lp.encode(source))`
//   and `lp.decode(stream.source)`; the source is a generator for one-way
//   sending (pump) and an it-pushable for request/response (send).
import './polyfill.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Connection, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import * as lp from 'it-length-prefixed'
import { pushable, type Pushable } from 'it-pushable'
import { RAW_HIGH_WATER_MARK } from '../net-baseline.js'
import type { Mode } from './system.js'
import type { Channel, System } from './system.js'

export const PROTOCOL = '/p4net-bench/1.0.0'

/**
 * What the benchmark changes from libp2p's defaults, and why:
 * - connectionManager.maxConnections 10 000: the default (300) would prune
 *   the 200 idle connections of the memory case together with the peers';
 * - connectionManager.allow 127.0.0.1: exempts loopback from the inbound rate
 *   limit (5 connections/s per host) and the 10-pending-connections cap, which
 *   would otherwise refuse the connection-setup and memory cases;
 * - connectionMonitor.abortConnectionOnPingFailure false: the monitor still
 *   pings every connection every 10 s, but a ping that waits behind a long
 *   queue (the bulk cases) no longer aborts the connection.
 */
export const LIBP2P_CONFIG = {
  connectionManager: { maxConnections: 10_000, allow: ['/ip4/127.0.0.1'] },
  connectionMonitor: { abortConnectionOnPingFailure: false },
  streams: { maxInboundStreams: 1024, maxOutboundStreams: 1024 },
}

/** A started node: TCP + noise + yamux (+ `services`), listening on 127.0.0.1 if asked. */
export async function startLibp2p<S extends Record<string, unknown> = Record<string, never>>(
  listen: boolean,
  services?: Libp2pOptions<S>['services'],
): Promise<Libp2p<S>> {
  return createLibp2p<S>({
    addresses: { listen: listen ? ['/ip4/127.0.0.1/tcp/0'] : [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: LIBP2P_CONFIG.connectionManager,
    connectionMonitor: LIBP2P_CONFIG.connectionMonitor,
    services,
  })
}

class StreamChannel implements Channel {
  onmessage: ((payload: Uint8Array) => void) | null = null
  readonly closed: Promise<void>
  private readonly stream: Stream
  private readonly connection: Connection
  private readonly mode: Mode
  /** send()'s source, created on the first send; the sink takes one source per stream. */
  private out: Pushable<Uint8Array> | null = null
  private sinking = false

  constructor(stream: Stream, connection: Connection, mode: Mode) {
    this.stream = stream
    this.connection = connection
    this.mode = mode
    this.closed = (async () => {
      try {
        if (mode === 'bulk') {
          for await (const list of stream.source) for (const b of list) this.onmessage?.(b)
        } else {
          for await (const m of lp.decode(stream.source)) this.onmessage?.(m.subarray())
        }
      } catch {
        // a reset stream or an aborted connection: closed either way
      }
      this.out?.end()
    })()
  }

  private sink(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    if (this.sinking) throw new Error('libp2p stream: sink already taken')
    this.sinking = true
    return this.stream.sink(this.mode === 'messages' ? lp.encode(source) : source)
  }

  /**
   * The docs' way: a source of `count` chunks into stream.sink. Messages are
   * each framed by lp.encode.single (prefix and payload as one chunk, so one
   * yamux frame): lp.encode over the source yields the prefix and the payload
   * as two chunks, two frames: 5.6–9.1 k against 8.1–19.8 k msg/s here
   * (64 B, one process, a loaded machine).
   */
  async pump(payload: Uint8Array, count: number): Promise<void> {
    if (this.sinking) throw new Error('libp2p stream: sink already taken')
    this.sinking = true
    const bulk = this.mode === 'bulk'
    await this.stream.sink(
      (function* () {
        for (let i = 0; i < count; i++) yield bulk ? payload : lp.encode.single(payload)
      })(),
    )
  }

  send(payload: Uint8Array): boolean {
    if (this.out === null) {
      this.out = pushable()
      this.sink(this.out).catch(() => this.close())
    }
    this.out.push(payload)
    return this.out.readableLength < RAW_HIGH_WATER_MARK
  }

  drain(): Promise<void> {
    if (this.out === null || this.out.readableLength < RAW_HIGH_WATER_MARK) return Promise.resolve()
    return this.out.onEmpty()
  }

  close(): void {
    this.out?.end()
    this.stream.abort(new Error('closed'))
    this.connection.close().catch(() => this.connection.abort(new Error('closed')))
  }
}

export function libp2pSystem(mode: Mode = 'messages'): System {
  const nodes: Libp2p[] = []
  // Concurrent dials to one peer from one node are joined into one
  // connection, so each dial in flight gets a node of its own.
  const idle: Libp2p[] = []
  return {
    name: 'libp2p',
    async listen(onChannel, onError) {
      const node = await startLibp2p(true)
      nodes.push(node)
      await node.handle(
        PROTOCOL,
        ({ stream, connection }) => {
          try {
            onChannel(new StreamChannel(stream, connection, mode))
          } catch (err) {
            onError(err as Error)
          }
        },
        LIBP2P_CONFIG.streams,
      )
      const address = node.getMultiaddrs()[0]
      if (!address) throw new Error('libp2p node has no listen address')
      return {
        address: address.toString(),
        close: async () => {
          nodes.splice(nodes.indexOf(node), 1)
          await node.stop()
        },
      }
    },
    async dial(address) {
      let node = idle.pop()
      if (!node) {
        node = await startLibp2p(false)
        nodes.push(node)
      }
      try {
        const connection = await node.dial(multiaddr(address), { force: true })
        const stream = await connection.newStream(PROTOCOL, LIBP2P_CONFIG.streams)
        return new StreamChannel(stream, connection, mode)
      } finally {
        idle.push(node)
      }
    },
    async shutdown() {
      idle.length = 0
      await Promise.allSettled(nodes.splice(0).map((n) => n.stop()))
    },
  }
}
