// The handle an application gets from node.plugin(id): P4's p4plugin.h for
// today — unicast, per-plugin multicast, discovery, latency — with every
// received message already authenticated (m.from is proven, never claimed).
import { EventEmitter } from 'node:events'
import { P4Error } from './core/errors.js'
import type { P4Stream, StreamOptions } from './stream.js'

export interface PluginMessage {
  /** The sender's username, authenticated by its session or its signature. */
  from: string
  /** The payload. It keeps at most 8 KiB, or twice its own size, of memory alive, however large the read it arrived in. */
  data: Uint8Array
  /** True when the payload was end-to-end sealed (to us, or with the plugin's group key). */
  encrypted: boolean
  /** True for plugin.broadcast(), false for plugin.send(). */
  broadcast: boolean
  pluginId: number
  messageId: bigint
}

export interface SendOptions {
  /** Seal end to end to the recipient's X25519 key so no relay can read it. */
  encrypted?: boolean
  /**
   * Resolve only once the recipient's node has delivered the message to this
   * plugin there (a DATA_ACK came back), instead of once it is accepted for
   * sending. Rejects UNREACHABLE when the link is lost first or the recipient
   * does not run the plugin (or refused the message, e.g. requireEncrypted),
   * TIMEOUT after ackTimeout, UNSUPPORTED when the recipient's p4net is too
   * old to confirm (it does not announce handshake feature ACK).
   */
  ack?: boolean
  /** With ack: how long to wait for the confirmation, in ms (default 10,000). */
  ackTimeout?: number
}

export interface BroadcastOptions {
  /** Seal with the plugin's group key (default: true when the plugin has one). */
  encrypted?: boolean
}

export interface PluginOptions {
  /**
   * 32-byte key shared by the application's members: enables encrypted
   * broadcast. It does not stop plaintext: any user may still send this
   * plugin a plaintext broadcast (m.encrypted false) unless requireEncrypted.
   */
  groupKey?: Uint8Array
  /**
   * Deliver only end-to-end encrypted messages (unicast sealed to this node,
   * broadcast under the group key) and accept only encrypted streams;
   * plaintext messages are dropped and plain streams refused
   * (STREAM_REFUSED at the opener), each counted in stats().notEncrypted.
   * Default false.
   */
  requireEncrypted?: boolean
}

/** What a Plugin needs from its Node (a private object of ts/node.ts). */
export interface PluginHost {
  send(plugin: Plugin, user: string, data: Uint8Array, opts: SendOptions): Promise<void>
  broadcast(plugin: Plugin, data: Uint8Array, opts: BroadcastOptions): Promise<void>
  closed(plugin: Plugin): void
  users(pluginId?: number): string[]
  openStream(plugin: Plugin, user: string, opts: StreamOptions): Promise<P4Stream>
}

export interface PluginEvents {
  message: (m: PluginMessage) => void
  /** Another user opened a stream to this plugin (`from` is authenticated). Without a listener, streams are refused. */
  stream: (stream: P4Stream, from: string) => void
}

/** send() without options: one object for every such call. */
const NO_OPTIONS: SendOptions = Object.freeze({})
/** More than one 'message' listener: deliver through emit(). */
const MANY = (): void => undefined

type Listener = (...args: any[]) => void

export class Plugin extends EventEmitter {
  readonly id: number
  readonly groupKey: Uint8Array | undefined
  readonly requireEncrypted: boolean
  private readonly host: PluginHost
  private closed = false
  /**
   * The one 'message' listener (called without emit()'s argument array), null
   * for none, MANY for several; undefined once the listeners changed. Every
   * way of adding or removing a listener goes through the overrides below.
   */
  private direct: Listener | null | undefined = undefined
  /** EventEmitter.captureRejections when made: emit() then routes a listener's rejected promise to 'error'. */
  private readonly captures = EventEmitter.captureRejections

  /** @internal Plugins come from node.plugin(id). */
  constructor(host: PluginHost, id: number, opts: PluginOptions = {}) {
    super()
    if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_OPTION', 'plugin options must be an object')
    for (const k of Object.keys(opts)) if (k !== 'groupKey' && k !== 'requireEncrypted') throw new P4Error('BAD_OPTION', `unknown plugin option ${JSON.stringify(k)}`)
    if (opts.groupKey !== undefined && (!(opts.groupKey instanceof Uint8Array) || opts.groupKey.length !== 32)) {
      throw new P4Error('BAD_OPTION', 'groupKey must be a 32-byte Uint8Array')
    }
    if (opts.requireEncrypted !== undefined && typeof opts.requireEncrypted !== 'boolean') throw new P4Error('BAD_OPTION', 'requireEncrypted must be a boolean')
    this.host = host
    this.id = id
    this.groupKey = opts.groupKey && Uint8Array.from(opts.groupKey)
    this.requireEncrypted = opts.requireEncrypted ?? false
  }

  get isClosed(): boolean {
    return this.closed
  }

  override on<E extends keyof PluginEvents>(event: E, listener: PluginEvents[E]): this
  override on(event: string | symbol, listener: Listener): this
  override on(event: string | symbol, listener: Listener): this {
    this.direct = undefined
    return super.on(event, listener)
  }

  override addListener(event: string | symbol, listener: Listener): this {
    this.direct = undefined
    return super.addListener(event, listener)
  }

  override prependListener(event: string | symbol, listener: Listener): this {
    this.direct = undefined
    return super.prependListener(event, listener)
  }

  override removeListener(event: string | symbol, listener: Listener): this {
    this.direct = undefined
    return super.removeListener(event, listener)
  }

  override off(event: string | symbol, listener: Listener): this {
    this.direct = undefined
    return super.off(event, listener)
  }

  override removeAllListeners(event?: string | symbol): this {
    this.direct = undefined
    return super.removeAllListeners(event)
  }

  /**
   * Unicast to `user` (over a link, else a direct session). Resolves once the
   * message is accepted for sending, as socket.write() accepts it: at once
   * while the session to `user` is under its high-water mark, else when it
   * has drained — so `for (…) await send()` runs at the link's pace and never
   * fails for being fast. Accepted is not delivered: a link lost afterwards
   * loses what was queued on it (the node emits 'link-down'); ask for
   * `{ ack: true }` to know a message arrived. At most 65,536 sends (64 MiB)
   * may wait per recipient; one more rejects with QUOTA_EXCEEDED (await
   * earlier sends first). Messages under 16 KiB are copied (they leave with
   * the sends that follow, at the end of this event-loop turn); larger `data`
   * is sealed from the caller's buffer when the session writes it — in this
   * tick unless the link is backed up — so hand it over as to socket.write.
   * Order: messages to one user that travel one session arrive in the order
   * sent. When the route to the user changes (a link lost or replaced, a
   * direct session dialled while a link comes back), messages sent on either
   * side of the change travel different sessions and may arrive out of
   * order: number them where order matters, or use openStream().
   */
  send(user: string, data: Uint8Array, opts: SendOptions = NO_OPTIONS): Promise<void> {
    if (this.closed) return Promise.reject(new P4Error('CLOSED', `plugin ${this.id} is closed`))
    if (typeof user !== 'string') return Promise.reject(new P4Error('BAD_ARGUMENT', 'user must be a string'))
    if (!(data instanceof Uint8Array)) return Promise.reject(new P4Error('BAD_ARGUMENT', 'data must be a Uint8Array'))
    if (typeof opts !== 'object' || opts === null) return Promise.reject(new P4Error('BAD_ARGUMENT', 'options must be an object'))
    return this.host.send(this, user, data, opts)
  }

  /**
   * Multicast to every user running this plugin (each receives it exactly
   * once). Resolves once sent to this node's links. A link whose send queue
   * is full is skipped by design — one slow node must not hold back the
   * network; the overlay does not retransmit — and counted in
   * node.stats().droppedSlowPeer (as are frames this node relays).
   */
  broadcast(data: Uint8Array, opts: BroadcastOptions = {}): Promise<void> {
    if (this.closed) return Promise.reject(new P4Error('CLOSED', `plugin ${this.id} is closed`))
    if (!(data instanceof Uint8Array)) return Promise.reject(new P4Error('BAD_ARGUMENT', 'data must be a Uint8Array'))
    if (typeof opts !== 'object' || opts === null) return Promise.reject(new P4Error('BAD_ARGUMENT', 'options must be an object'))
    if (opts.encrypted && !this.groupKey) return Promise.reject(new P4Error('BAD_ARGUMENT', `plugin ${this.id} has no groupKey for encrypted broadcast`))
    return this.host.broadcast(this, data, opts)
  }

  /**
   * Opens a stream to `user`'s plugin of this ID: a Duplex multiplexed with
   * other streams and messages over the session to that user, with flow
   * control of its own. Resolves once the other node accepted it (its plugin
   * has a 'stream' listener); STREAM_REFUSED, QUOTA_EXCEEDED (streams.max)
   * or UNSUPPORTED (a node without streams, or without encrypted streams for
   * `{ encrypted: true }`) otherwise. An encrypted stream whose chunk does not
   * open fails at both ends with DECRYPT_FAILED. An open stream fails
   * ('error') with UNREACHABLE when the session to the user is lost, CLOSED
   * when this node stops, and with the other side's code when it resets the
   * stream (destroy(err) sends err.code; STREAM_RESET for other errors).
   */
  openStream(user: string, opts: StreamOptions = {}): Promise<P4Stream> {
    if (this.closed) return Promise.reject(new P4Error('CLOSED', `plugin ${this.id} is closed`))
    if (typeof user !== 'string') return Promise.reject(new P4Error('BAD_ARGUMENT', 'user must be a string'))
    if (typeof opts !== 'object' || opts === null) return Promise.reject(new P4Error('BAD_ARGUMENT', 'options must be an object'))
    for (const k of Object.keys(opts)) if (k !== 'encrypted') return Promise.reject(new P4Error('BAD_ARGUMENT', `unknown stream option ${JSON.stringify(k)}`))
    if (opts.encrypted !== undefined && typeof opts.encrypted !== 'boolean') return Promise.reject(new P4Error('BAD_ARGUMENT', 'encrypted must be a boolean'))
    return this.host.openStream(this, user, opts)
  }

  /** Users running this plugin (including this node's user). */
  users(): string[] {
    return this.host.users(this.id)
  }

  /** Stops receiving; other nodes learn it from the next HELLO. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.host.closed(this)
    this.removeAllListeners()
  }

  /** @internal False when a message would reach no listener (the node need not build it). */
  get listening(): boolean {
    return !this.closed && this.messageListener() !== null
  }

  /** @internal delivery from the node. */
  deliver(m: PluginMessage): void {
    if (this.closed) return
    const d = this.messageListener()
    if (d === MANY) this.emit('message', m)
    else if (d !== null) d.call(this, m)
  }

  private messageListener(): Listener | null {
    let d = this.direct
    if (d === undefined) {
      const ls = this.rawListeners('message') as Listener[]
      d = this.direct = ls.length === 0 ? null : ls.length === 1 && !this.captures ? ls[0]! : MANY
    }
    return d
  }
}
