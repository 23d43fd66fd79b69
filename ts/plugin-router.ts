// What plugins call, and what reaches them: unicast (sealed end to end on
// request, confirmed on request), broadcast, streams, and received DATA
// opened and handed to its plugin. The Node's private PluginHost.
import { P4Error } from './core/errors.js'
import { randomId } from './core/ids.js'
import type { Identity } from './core/identity.js'
import { Flag, messageIdOf } from './core/protocol.js'
import { validateUsername } from './core/username.js'
import { E2eBoxes, groupAad, openGroup, sealGroup } from './e2e.js'
import { SizedAead } from './e2e-aead.js'
import { checkTimeout } from './join.js'
import type { Overlay, ChunkBoxMaker, DataEvent, SealFn, StreamChannel } from './overlay/overlay.js'
import type { BroadcastOptions, Plugin, PluginHost, SendOptions } from './plugin.js'
import { P4Stream, type StreamOptions } from './stream.js'
import { streamBoxMaker } from './stream-box.js'

/** Default wait of { ack: true }. */
const DEFAULT_ACK_MS = 10_000

/** What the router needs of its node. */
export interface RouterNode {
  readonly username: string
  readonly identity: Identity
  readonly maxMessage: number
  readonly plugins: ReadonlyMap<number, Plugin>
  /** The overlay while the node runs, else null. */
  running(): Overlay | null
  users(pluginId?: number): string[]
  pluginClosed(plugin: Plugin): void
}

export class PluginRouter implements PluginHost {
  /** End-to-end unicast boxes, made on first use. */
  private e2e: E2eBoxes | undefined
  /** The cipher of encrypted streams' chunks (no header), made on first use. */
  private streamAead: SizedAead | undefined

  constructor(private readonly node: RouterNode) {}

  send(plugin: Plugin, user: string, data: Uint8Array, opts: SendOptions): Promise<void> {
    const overlay = this.node.running()
    if (!overlay) return Promise.reject(new P4Error('NOT_STARTED', 'node is not running (call start())'))
    if (data.length > this.node.maxMessage) {
      return Promise.reject(new P4Error('MESSAGE_TOO_LARGE', `${data.length} bytes exceeds maxMessage ${this.node.maxMessage}`))
    }
    let ackTimeout: number | undefined
    try {
      ackTimeout = ackTimeoutOf(opts)
    } catch (err) {
      return Promise.reject(err)
    }
    if (user === this.node.username) return this.toSelf(plugin, data, opts)
    // (No closure in this function: V8 would allocate its context on every call.)
    if (opts.encrypted !== true) return overlay.send(user, plugin.id, 0, data, ackTimeout)
    return this.sendSealed(overlay, plugin, user, data, ackTimeout)
  }

  private toSelf(plugin: Plugin, data: Uint8Array, opts: SendOptions): Promise<void> {
    const [hi, lo] = randomId()
    const user = this.node.username
    queueMicrotask(() => plugin.deliver({ from: user, data: Uint8Array.from(data), encrypted: !!opts.encrypted, broadcast: false, pluginId: plugin.id, messageId: messageIdOf(hi, lo) }))
    return Promise.resolve()
  }

  // Sealed to the X25519 key of the user's signed HELLO, the key the table
  // binds to the name (the session is the one with that identity), as the
  // overlay draws the message ID; one sealing function for every send.
  private sendSealed(overlay: Overlay, plugin: Plugin, user: string, data: Uint8Array, ackTimeout: number | undefined): Promise<void> {
    return overlay.send(user, plugin.id, Flag.ENCRYPTED, data, ackTimeout, this.seal)
  }

  private readonly seal: SealFn = (hi, lo, staticKey, user, pluginId, data) => this.boxes.sealUnicast(staticKey, data, this.node.identity.publicKey, user, pluginId, hi, lo)

  async broadcast(plugin: Plugin, data: Uint8Array, opts: BroadcastOptions): Promise<void> {
    const overlay = this.requireOverlay()
    if (data.length > this.node.maxMessage) {
      throw new P4Error('MESSAGE_TOO_LARGE', `${data.length} bytes exceeds maxMessage ${this.node.maxMessage}`)
    }
    const encrypted = opts.encrypted ?? plugin.groupKey !== undefined
    const flags = Flag.BROADCAST | (encrypted ? Flag.ENCRYPTED : 0)
    const groupKey = plugin.groupKey
    await overlay.broadcast(plugin.id, flags, (hi, lo) =>
      encrypted && groupKey ? sealGroup(groupKey, data, groupAad({ sender: this.node.identity.publicKey, pluginId: plugin.id, messageId: messageIdOf(hi, lo) })) : data,
    )
  }

  async openStream(plugin: Plugin, user: string, opts: StreamOptions): Promise<P4Stream> {
    const overlay = this.requireOverlay()
    validateUsername(user)
    if (user === this.node.username) throw new P4Error('BAD_ARGUMENT', 'a stream goes to another user, not to this node itself')
    const box = opts.encrypted === true ? this.streamSealing(overlay, user, true) : null
    let stream: P4Stream | undefined
    await overlay.openStream(user, plugin.id, (ch) => (stream = new P4Stream(ch, user)).sink, box)
    return stream!
  }

  /** A stream opened by another user: accepted when its plugin listens for streams, refused otherwise. */
  onStream(ch: StreamChannel): void {
    const plugin = this.node.plugins.get(ch.pluginId)
    const overlay = this.node.running()
    if (!plugin || !overlay || plugin.listenerCount('stream') === 0) return
    if (!ch.encrypted && plugin.requireEncrypted) {
      overlay.droppedPlaintext()
      return ch.refuse('STREAM_REFUSED', `plugin ${plugin.id} takes only end-to-end encrypted streams (requireEncrypted)`)
    }
    let box: ChunkBoxMaker | null = null
    if (ch.encrypted) {
      try {
        box = this.streamSealing(overlay, ch.user, false)
      } catch (err) {
        return ch.refuse(err instanceof P4Error ? err.code : 'STREAM_REFUSED', (err as Error).message)
      }
    }
    const stream = new P4Stream(ch, ch.user)
    ch.accept(stream.sink, box)
    plugin.emit('stream', stream, ch.user)
  }

  /**
   * Sealing of encrypted streams with `user` (ts/stream-box.ts), from the
   * keys of its signed HELLO: the entry the table binds to its name, and so
   * to the key of the session the stream goes over.
   */
  private streamSealing(overlay: Overlay, user: string, opener: boolean): ChunkBoxMaker {
    const entry = overlay.user(user)
    if (!entry) throw new P4Error('UNKNOWN_USER', `no known user "${user}"`)
    const secret = this.boxes.pairSecret(entry.staticKey)
    if (secret === null) throw new P4Error('UNTRUSTED_KEY', `${user}'s static key cannot seal end to end (a low-order point)`)
    const id = this.node.identity
    const me = { username: this.node.username, identityKey: id.publicKey, staticKey: id.staticPublicKey }
    const peer = { username: user, identityKey: entry.identityKey, staticKey: entry.staticKey }
    return streamBoxMaker((this.streamAead ??= new SizedAead(0)), secret, me, peer, opener)
  }

  closed(plugin: Plugin): void {
    this.node.pluginClosed(plugin)
  }

  users(pluginId?: number): string[] {
    return this.node.users(pluginId)
  }

  onData(e: DataEvent): void {
    const plugin = this.node.plugins.get(e.pluginId)
    const overlay = this.node.running()
    if (!plugin || !overlay) return
    const broadcast = (e.flags & Flag.BROADCAST) !== 0
    const encrypted = (e.flags & Flag.ENCRYPTED) !== 0
    // A unicast that asked for a delivery confirmation gets one either way.
    if (!broadcast && (e.flags & Flag.ACK) !== 0) {
      const delivered = this.deliverData(plugin, overlay, e, broadcast, encrypted)
      overlay.acknowledge(e.via, e.pluginId, e.idHi, e.idLo, delivered)
      return
    }
    this.deliverData(plugin, overlay, e, broadcast, encrypted)
  }

  /** Opens and hands a DATA to its plugin; false when dropped (plaintext refused, box not opened). */
  private deliverData(plugin: Plugin, overlay: Overlay, e: DataEvent, broadcast: boolean, encrypted: boolean): boolean {
    if (!encrypted && plugin.requireEncrypted) return (overlay.droppedPlaintext(), false)
    let messageId: bigint | undefined
    let data: Uint8Array | null = e.body
    if (encrypted) {
      if (broadcast && !plugin.groupKey) return (overlay.undecryptable(), false)
      // The sender's static key: the one in the signed HELLO of the user the
      // table binds to the session's identity key (e.from), the binding the
      // sender used for this node's key.
      const senderStatic = broadcast ? undefined : overlay.user(e.from)?.staticKey
      if (!broadcast && senderStatic === undefined) return (overlay.undecryptable(), false)
      if (broadcast) messageId = messageIdOf(e.idHi, e.idLo)
      const t0 = performance.now()
      const derived = broadcast ? 0 : this.boxes.derivations
      data = broadcast
        ? openGroup(plugin.groupKey!, e.body, groupAad({ sender: e.fromKey, pluginId: e.pluginId, messageId: messageId! }))
        : this.boxes.openUnicast(senderStatic!, e.body, e.fromKey, this.node.username, e.pluginId, e.idHi, e.idLo)
      // An open that derived a key (an HKDF, an X25519 for a new sender) is
      // charged to the sender's session, and so is a box that does not open
      // (it also counts towards cutting the sender off). One under a cached
      // key costs what the session's own record decryption costs, which is
      // not metered either: charging it capped encrypted unicast at the CPU
      // budget (about 50 k messages/s).
      if (broadcast || data === null || this.boxes.derivations !== derived) overlay.openedBox(e.via, t0, data !== null, !broadcast)
      if (data === null) return false
    }
    // The session takes maxMessage + 4 KiB (room for a box's overhead): a
    // plaintext between the two is a peer breaking this node's limit.
    if (data.length > this.node.maxMessage) return (overlay.droppedOversized(), false)
    if (plugin.listening) plugin.deliver({ from: e.from, data, encrypted, broadcast, pluginId: e.pluginId, messageId: messageId ?? messageIdOf(e.idHi, e.idLo) })
    return true
  }

  /** End-to-end unicast boxes: one salt and counter per node instance, keys cached per peer. */
  private get boxes(): E2eBoxes {
    return (this.e2e ??= new E2eBoxes(this.node.identity))
  }

  private requireOverlay(): Overlay {
    const overlay = this.node.running()
    if (!overlay) throw new P4Error('NOT_STARTED', 'node is not running (call start())')
    return overlay
  }
}


/** The ack wait of send options (undefined: no ack); BAD_ARGUMENT for a bad value. */
function ackTimeoutOf(opts: SendOptions): number | undefined {
  if (opts.ack === undefined || opts.ack === false) return undefined
  if (opts.ack !== true) throw new P4Error('BAD_ARGUMENT', 'ack must be a boolean')
  return checkTimeout(opts.ackTimeout, DEFAULT_ACK_MS, 'ackTimeout')
}
