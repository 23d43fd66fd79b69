// p4net through its public API, as an application uses it (the package
// entry, ../package-entry.ts): createNode with
// the library's defaults, node.plugin(id), and `await plugin.send(user, msg)`
// (optionally `{ encrypted: true }`, sealed end to end) — the rows users should
// read, next to the bare Session beneath it (p4net.ts). listen() starts a node
// alone; dial() starts a node bootstrapping to it and waits until the
// listener runs the plugin. The listener makes one Channel per user that
// sends to it. The p4net stream system (`plugin.openStream(user)` → Duplex,
// a 'stream' event on the far side) is used only where the plugin has
// openStream (streamsAvailable), so the row appears once streams exist.
import { once } from 'node:events'
import type { Duplex } from 'node:stream'
import type { Node, Plugin } from '../../ts/index.js'
import { p4net } from '../package-entry.js'
import { nextDrain } from '../lib.js'
import type { Channel, System } from './system.js'

/** The plugin ID of the benchmark's messages. */
const PLUGIN = 4243
const JOIN_MS = 30_000

let made = 0
/** A username no other node of this run has (listener and dialer nodes may share a process). */
function username(role: string): string {
  return `bench-${role}-${process.pid}-${++made}`
}

/** plugin.send as a Channel: pump() is the user's loop, send() a fire-and-forget send (echo, ping-pong). */
class ApiChannel implements Channel {
  onmessage: ((payload: Uint8Array) => void) | null = null
  readonly closed: Promise<void>
  private readonly plugin: Plugin
  private readonly user: string
  private readonly encrypted: boolean
  private readonly onClose: () => void

  constructor(plugin: Plugin, user: string, encrypted: boolean, closed: Promise<void>, onClose: () => void) {
    this.plugin = plugin
    this.user = user
    this.encrypted = encrypted
    this.closed = closed
    this.onClose = onClose
  }

  send(payload: Uint8Array): boolean {
    this.plugin.send(this.user, payload, { encrypted: this.encrypted }).catch(() => this.onClose())
    return true
  }

  drain(): Promise<void> {
    return Promise.resolve()
  }

  /**
   * `for (…) await plugin.send(user, msg)`; with inFlight > 1, that many
   * sends started before awaiting them all (batches of inFlight).
   */
  async pump(payload: Uint8Array, count: number, inFlight = 1): Promise<void> {
    const opts = { encrypted: this.encrypted }
    if (inFlight <= 1) {
      for (let i = 0; i < count; i++) await this.plugin.send(this.user, payload, opts)
      return
    }
    const pending: Promise<void>[] = []
    for (let i = 0; i < count; i++) {
      pending.push(this.plugin.send(this.user, payload, opts))
      if (pending.length >= inFlight) await Promise.all(pending.splice(0))
    }
    await Promise.all(pending)
  }

  close(): void {
    this.onClose()
  }
}

/** The address dial() takes: host:port#username. */
function parse(address: string): { at: string; user: string } {
  const i = address.lastIndexOf('#')
  return { at: address.slice(0, i), user: address.slice(i + 1) }
}

async function startNode(role: string, bootstrap: string[]): Promise<{ node: Node; plugin: Plugin }> {
  const node = await p4net.createNode({ username: username(role), host: '127.0.0.1', port: 0, bootstrap })
  const plugin = node.plugin(PLUGIN)
  await node.start()
  return { node, plugin }
}

/** A dialling node: started with the listener as bootstrap, resolved once `user` is known to run the plugin (waitForUser). */
async function dialNode(at: string, user: string): Promise<{ node: Node; plugin: Plugin }> {
  const started = await startNode('d', [at])
  try {
    await started.node.waitForUser(user, { plugin: PLUGIN, timeout: JOIN_MS })
  } catch (err) {
    await started.node.stop().catch(() => undefined)
    throw err
  }
  return started
}

export function p4netApiSystem(encrypted: boolean): System {
  const nodes = new Set<Node>()
  const stop = (node: Node): Promise<void> => {
    nodes.delete(node)
    return node.stop().catch(() => undefined)
  }
  return {
    name: encrypted ? 'p4net-api-e2e' : 'p4net-api',
    async listen(onChannel) {
      const { node, plugin } = await startNode('l', [])
      nodes.add(node)
      let stoppedResolve!: () => void
      const stopped = new Promise<void>((r) => (stoppedResolve = r))
      const channels = new Map<string, ApiChannel>()
      plugin.on('message', (m) => {
        let ch = channels.get(m.from)
        if (!ch) {
          ch = new ApiChannel(plugin, m.from, encrypted, stopped, () => {})
          channels.set(m.from, ch)
          onChannel(ch)
        }
        ch.onmessage?.(m.data)
      })
      return { address: `127.0.0.1:${node.address.port}#${node.username}`, close: () => stop(node).then(stoppedResolve) }
    },
    async dial(address) {
      const { at, user } = parse(address)
      const { node, plugin } = await dialNode(at, user)
      nodes.add(node)
      let closedResolve!: () => void
      const closed = new Promise<void>((r) => (closedResolve = r))
      const ch = new ApiChannel(plugin, user, encrypted, closed, () => void stop(node).then(closedResolve))
      plugin.on('message', (m) => {
        if (m.from === user) ch.onmessage?.(m.data)
      })
      return ch
    },
    async shutdown() {
      await Promise.all([...nodes].map(stop))
    },
  }
}

// ---------------------------------------------------------------- streams

/** Whether this build of p4net has streams (plugin.openStream, issue 17). */
function hasStreams(plugin: Plugin): boolean {
  return typeof (plugin as Partial<Plugin>).openStream === 'function'
}

/** True when this build of p4net has plugin.openStream. */
export async function streamsAvailable(): Promise<boolean> {
  const node = await p4net.createNode({ username: username('probe') })
  try {
    return hasStreams(node.plugin(PLUGIN))
  } finally {
    await node.stop().catch(() => undefined)
  }
}

/** A Duplex as a Channel: bytes, not messages (bulk only); write() with 'drain', as Node streams are used. */
class DuplexChannel implements Channel {
  readonly closed: Promise<void>
  private readonly stream: Duplex
  private handler: ((payload: Uint8Array) => void) | null = null

  constructor(stream: Duplex) {
    this.stream = stream
    stream.on('error', () => {})
    this.closed = once(stream, 'close').then(() => undefined)
  }

  get onmessage(): ((payload: Uint8Array) => void) | null {
    return this.handler
  }
  set onmessage(fn: ((payload: Uint8Array) => void) | null) {
    if (this.handler === null && fn !== null) this.stream.on('data', (b: Uint8Array) => this.handler!(b))
    this.handler = fn
  }

  send(payload: Uint8Array): boolean {
    return this.stream.write(payload)
  }

  drain(): Promise<void> {
    return nextDrain(this.stream, this.stream.destroyed, 'p4net stream')
  }

  close(): void {
    this.stream.destroy()
  }
}

export function p4netStreamSystem(): System {
  const nodes = new Set<Node>()
  return {
    name: 'p4net-stream',
    async listen(onChannel, onError) {
      const { node, plugin } = await startNode('l', [])
      nodes.add(node)
      if (!hasStreams(plugin)) throw new Error('this p4net has no plugin.openStream')
      plugin.on('stream', (s) => {
        try {
          onChannel(new DuplexChannel(s))
        } catch (err) {
          onError(err as Error)
        }
      })
      return {
        address: `127.0.0.1:${node.address.port}#${node.username}`,
        close: async () => {
          nodes.delete(node)
          await node.stop()
        },
      }
    },
    async dial(address) {
      const { at, user } = parse(address)
      const { node, plugin } = await dialNode(at, user)
      nodes.add(node)
      try {
        if (!hasStreams(plugin)) throw new Error('this p4net has no plugin.openStream')
        const ch = new DuplexChannel(await plugin.openStream(user))
        void ch.closed.then(() => node.stop().catch(() => undefined))
        return ch
      } catch (err) {
        nodes.delete(node)
        await node.stop().catch(() => undefined)
        throw err
      }
    },
    async shutdown() {
      await Promise.all([...nodes].map((n) => n.stop().catch(() => undefined)))
      nodes.clear()
    },
  }
}
