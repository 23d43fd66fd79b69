// The Last Known Address table: username → what that user's newest verified
// HELLO said. Entries are keyed by username (users are separate from hosts:
// a user may log on anywhere); a newer sequence number replaces the entry
// (roaming), an older or equal one is a replay and ignored. The signed HELLO
// frame is kept so LKA_ACK can hand it on and every receiver verifies it
// itself — no node can forge another's table entry.
import { P4Error } from '../core/errors.js'
import { HDR_HOPS, HEADER_SIZE } from '../core/protocol.js'
import { isValidUsername } from '../core/username.js'
import { decodeHello, helloFrameProblem, type Hello } from './hello-codec.js'
import { verifySignedFrame } from './signing.js'
import { VersionedMap } from './versioned-map.js'

/** A HELLO whose signature has been checked, with its frame (hops zeroed). */
export interface VerifiedHello {
  /** The origin's Ed25519 identity key (the frame's origin key). */
  identityKey: Uint8Array
  hello: Hello
  /** The whole signed frame with hops 0, as stored and re-sent in LKA_ACK. */
  frame: Uint8Array
}

/**
 * Checks a HELLO frame (header || origin block || body) and returns it
 * verified. The frame is copied with its hops byte zeroed, so a flooded copy
 * and an LKA_ACK copy of the same HELLO are byte-identical.
 * Throws BAD_FRAME (shape), BAD_SIGNATURE or BAD_PAYLOAD (body).
 */
export function verifyHelloFrame(frame: Uint8Array): VerifiedHello {
  if (!(frame instanceof Uint8Array)) throw new P4Error('BAD_ARGUMENT', 'HELLO frame must be a Uint8Array')
  const copy = frame.slice()
  if (copy.length > HEADER_SIZE) copy[HDR_HOPS] = 0
  const problem = helloFrameProblem(copy)
  if (problem !== undefined) throw new P4Error('BAD_FRAME', `HELLO frame: ${problem}`)
  const v = verifySignedFrame(copy)
  if (!v.ok) throw new P4Error('BAD_SIGNATURE', `HELLO frame: ${v.reason}`)
  return { identityKey: v.originKey.slice(), hello: decodeHello(v.body), frame: copy }
}

export interface LkaEntry {
  readonly username: string
  readonly identityKey: Uint8Array
  readonly staticKey: Uint8Array
  readonly host: string
  readonly port: number
  /** Sorted, unique plugin IDs. */
  readonly plugins: readonly number[]
  readonly features: number
  readonly seq: bigint
  readonly certificate: Uint8Array | undefined
  /** Caller's clock (ms) when the newest HELLO arrived or touch() was called. */
  readonly lastSeen: number
  readonly online: boolean
  /** The signed HELLO frame (hops 0). Do not modify. */
  readonly hello: Uint8Array
}

type MutableEntry = { -readonly [K in keyof LkaEntry]: LkaEntry[K] }

export type ApplyResult =
  | { status: 'new' | 'updated' | 'moved'; entry: LkaEntry }
  | { status: 'stale'; entry: LkaEntry }
  | { status: 'rejected'; reason: string }

export interface LkaOptions {
  /** Most users held (default 4096); beyond it offline entries go first, then the least recently seen. */
  maxUsers?: number
  /**
   * Called when a HELLO for a known username carries a different identity
   * key. Return true to replace the entry (the incoming HELLO has already
   * passed the trust policy; sequence numbers of two identities cannot be
   * compared, so the decision must not depend on them). Default: reject.
   */
  onKeyConflict?: (current: LkaEntry, incoming: VerifiedHello) => boolean
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export class LkaTable {
  readonly maxUsers: number
  private readonly onKeyConflict: LkaOptions['onKeyConflict']
  /** Every entry, least recently seen first (re-inserted when seen). */
  private readonly entries = new VersionedMap<string, MutableEntry>()
  /** Offline usernames, in the order they went offline: evicted first. */
  private readonly offline = new Set<string>()
  /** pluginId → usernames announcing it. */
  private readonly byPlugin = new Map<number, Set<string>>()

  constructor(opts: LkaOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_OPTION', 'LKA options must be an object')
    const maxUsers = opts.maxUsers ?? 4096
    if (!Number.isSafeInteger(maxUsers) || maxUsers < 1) throw new P4Error('BAD_OPTION', `maxUsers must be an integer >= 1, got ${String(maxUsers)}`)
    if (opts.onKeyConflict !== undefined && typeof opts.onKeyConflict !== 'function') throw new P4Error('BAD_OPTION', 'onKeyConflict must be a function')
    this.maxUsers = maxUsers
    this.onKeyConflict = opts.onKeyConflict
  }

  get size(): number {
    return this.entries.size
  }

  /** Online entries, without building a list (stats() is polled). */
  get onlineCount(): number {
    return this.entries.size - this.offline.size
  }

  /** Changes whenever a name is bound to another entry (or none): see VersionedMap. */
  get version(): number {
    return this.entries.version
  }

  get(username: string): LkaEntry | undefined {
    return this.entries.get(username)
  }

  has(username: string): boolean {
    return this.entries.has(username)
  }

  /** Applies a verified HELLO received at `nowMs` (caller's clock). */
  applyHello(v: VerifiedHello, nowMs: number): ApplyResult {
    if (typeof v !== 'object' || v === null || typeof v.hello !== 'object' || v.hello === null) {
      throw new P4Error('BAD_ARGUMENT', 'applyHello needs a VerifiedHello')
    }
    if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) throw new P4Error('BAD_ARGUMENT', 'nowMs must be a finite number')
    const { hello, identityKey, frame } = v
    if (!(identityKey instanceof Uint8Array) || identityKey.length !== 32) return { status: 'rejected', reason: 'identity key must be 32 bytes' }
    if (!isValidUsername(hello.username)) return { status: 'rejected', reason: 'invalid username' }
    if (!(frame instanceof Uint8Array) || helloFrameProblem(frame) !== undefined) return { status: 'rejected', reason: 'frame is not a stored HELLO frame (hops 0)' }
    if (typeof hello.seq !== 'bigint') return { status: 'rejected', reason: 'seq must be a bigint' }

    const current = this.entries.get(hello.username)
    if (current === undefined) {
      this.insert(v, nowMs)
      return { status: 'new', entry: this.entries.get(hello.username)! }
    }
    if (!sameBytes(current.identityKey, identityKey)) {
      if (this.onKeyConflict === undefined || !this.onKeyConflict(current, v)) {
        return { status: 'rejected', reason: 'identity key differs from the known one' }
      }
      this.remove(hello.username)
      this.insert(v, nowMs)
      return { status: 'new', entry: this.entries.get(hello.username)! }
    }
    if (hello.seq <= current.seq) return { status: 'stale', entry: current }

    const moved = current.host !== hello.host || current.port !== hello.port
    this.unindex(current)
    current.staticKey = hello.staticKey
    current.host = hello.host
    current.port = hello.port
    current.plugins = Object.freeze(hello.plugins.slice())
    current.features = hello.features
    current.seq = hello.seq
    current.certificate = hello.certificate
    current.hello = frame
    current.lastSeen = nowMs
    current.online = true
    this.offline.delete(current.username)
    this.index(current)
    this.bump(current)
    return { status: moved ? 'moved' : 'updated', entry: current }
  }

  /** Records that `username` was heard from directly (e.g. a PING_ACK); false when unknown. */
  touch(username: string, nowMs: number): boolean {
    const e = this.entries.get(username)
    if (e === undefined) return false
    if (nowMs > e.lastSeen) e.lastSeen = nowMs
    this.bump(e)
    return true
  }

  /** Marks a user offline (BYE, lost link); a newer HELLO brings it back. False when unknown. */
  markOffline(username: string): boolean {
    const e = this.entries.get(username)
    if (e === undefined) return false
    if (e.online) {
      e.online = false
      this.offline.add(username)
    }
    return true
  }

  /** Marks offline every online user not seen since `nowMs - maxAgeMs`; returns their names. */
  expire(nowMs: number, maxAgeMs: number): string[] {
    const gone: string[] = []
    for (const e of this.entries.values()) {
      if (e.online && e.lastSeen < nowMs - maxAgeMs) {
        this.markOffline(e.username)
        gone.push(e.username)
      }
    }
    return gone
  }

  remove(username: string): boolean {
    const e = this.entries.get(username)
    if (e === undefined) return false
    this.unindex(e)
    this.entries.delete(username)
    this.offline.delete(username)
    return true
  }

  /** Usernames (sorted), online only unless includeOffline; only those announcing `pluginId` if given. */
  users(pluginId?: number, includeOffline = false): string[] {
    const names = pluginId === undefined ? this.entries.keys() : (this.byPlugin.get(pluginId) ?? new Set<string>()).values()
    const out: string[] = []
    for (const name of names) {
      if (includeOffline || this.entries.get(name)!.online) out.push(name)
    }
    return out.sort()
  }

  /** The plugin IDs `username` announced, or undefined when unknown. */
  pluginsOf(username: string): readonly number[] | undefined {
    return this.entries.get(username)?.plugins
  }

  /** Signed HELLO frames of online users, most recently seen first, at most `max`. */
  snapshot(max = Infinity): Uint8Array[] {
    const all = [...this.entries.values()]
    const out: Uint8Array[] = []
    for (let i = all.length - 1; i >= 0 && out.length < max; i--) {
      if (all[i]!.online) out.push(all[i]!.hello)
    }
    return out
  }

  /** Every entry, least recently seen first. */
  list(): LkaEntry[] {
    return [...this.entries.values()]
  }

  private insert(v: VerifiedHello, nowMs: number): void {
    while (this.entries.size >= this.maxUsers) this.evictOne()
    const { hello } = v
    const e: MutableEntry = {
      username: hello.username,
      identityKey: v.identityKey,
      staticKey: hello.staticKey,
      host: hello.host,
      port: hello.port,
      plugins: Object.freeze(hello.plugins.slice()),
      features: hello.features,
      seq: hello.seq,
      certificate: hello.certificate,
      lastSeen: nowMs,
      online: true,
      hello: v.frame,
    }
    this.entries.set(e.username, e)
    this.index(e)
  }

  private evictOne(): void {
    const victim = this.offline.size > 0 ? this.offline.values().next().value : this.entries.keys().next().value
    this.remove(victim as string)
  }

  private bump(e: MutableEntry): void {
    this.entries.delete(e.username)
    this.entries.set(e.username, e)
  }

  private index(e: MutableEntry): void {
    for (const id of e.plugins) {
      let set = this.byPlugin.get(id)
      if (set === undefined) this.byPlugin.set(id, (set = new Set()))
      set.add(e.username)
    }
  }

  private unindex(e: MutableEntry): void {
    for (const id of e.plugins) {
      const set = this.byPlugin.get(id)
      if (set === undefined) continue
      set.delete(e.username)
      if (set.size === 0) this.byPlugin.delete(id)
    }
  }
}
