// js-libp2p 2.10 as one would set it up for a TCP service: @libp2p/tcp,
// @chainsafe/libp2p-noise, @chainsafe/libp2p-yamux, everything else at its
// defaults except what a benchmark must change (LIBP2P_CONFIG below). A
// Channel is one yamux stream on its own connection (dial with force: a new
// connection every time); messages on it are u32 BE length || payload, each
// one chunk of the stream's sink — what the usual it-pushable +
// it-length-prefixed pipe does, and yamux sends a frame per chunk. The
// 'libp2p-batched' variant instead joins the messages sent in one tick into
// one chunk (batching p4net's Session does inside the library; a libp2p
// application would have to write it), shown for the small-message case.
import './polyfill.js'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Connection, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import { RAW_HIGH_WATER_MARK, RawReceiver } from '../net-baseline.js'
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
  private pending: Uint8Array[] = []
  private queued = 0
  private wake: (() => void) | null = null
  private ended = false
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = []

  private readonly batch: boolean

  constructor(stream: Stream, connection: Connection, batch: boolean) {
    this.stream = stream
    this.connection = connection
    this.batch = batch
    const receiver = new RawReceiver((p) => this.onmessage!(p))
    stream.sink(this.outgoing()).catch(() => this.close())
    this.closed = (async () => {
      try {
        for await (const list of stream.source) {
          for (const b of list) receiver.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
        }
      } catch {
        // a reset stream or an aborted connection: closed either way
      }
      this.ended = true
      this.wake?.()
      for (const w of this.waiters.splice(0)) w.reject(new Error('libp2p stream closed while waiting for drain'))
    })()
  }

  private async *outgoing(): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.pending.length === 0) {
        if (this.ended) return
        await new Promise<void>((resolve) => (this.wake = resolve))
        this.wake = null
        continue
      }
      const chunks = this.pending
      const bytes = this.queued
      this.pending = []
      this.queued = 0
      for (const w of this.waiters.splice(0)) w.resolve()
      if (this.batch) yield chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes)
      else yield* chunks
    }
  }

  send(payload: Uint8Array): boolean {
    const message = Buffer.allocUnsafe(4 + payload.length)
    message.writeUInt32BE(payload.length, 0)
    message.set(payload, 4)
    this.pending.push(message)
    this.queued += message.length
    this.wake?.()
    return this.queued < RAW_HIGH_WATER_MARK
  }

  drain(): Promise<void> {
    if (this.ended) return Promise.reject(new Error('libp2p stream closed while waiting for drain'))
    if (this.queued < RAW_HIGH_WATER_MARK) return Promise.resolve()
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }))
  }

  close(): void {
    this.ended = true
    this.wake?.()
    this.stream.abort(new Error('closed'))
    this.connection.close().catch(() => this.connection.abort(new Error('closed')))
  }
}

export function libp2pSystem(batch = false): System {
  const nodes: Libp2p[] = []
  // Concurrent dials to one peer from one node are joined into one
  // connection, so each dial in flight gets a node of its own.
  const idle: Libp2p[] = []
  return {
    name: batch ? 'libp2p-batched' : 'libp2p',
    async listen(onChannel, onError) {
      const node = await startLibp2p(true)
      nodes.push(node)
      await node.handle(
        PROTOCOL,
        ({ stream, connection }) => {
          try {
            onChannel(new StreamChannel(stream, connection, batch))
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
        return new StreamChannel(stream, connection, batch)
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
