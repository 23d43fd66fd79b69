// The tofu trust policy (the default): pin username → key on first sight; a
// different key for a pinned name is rejected. Pins persist in the data
// directory.
import { join } from 'node:path'
import { P4Error } from '../core/errors.js'
import { quoteUsername, usernameProblem, USERNAME_MAX_BYTES } from '../core/username.js'
import { debugWarn, JsonFileSaver, readFileIfExists } from './json-file.js'
import { checkArgs, fingerprint, hex, type TrustPolicy } from './trust-policy.js'

export interface TofuOptions {
  /** Pins are saved to <dataDir>/<fileName>; in memory only without it. */
  dataDir?: string
  fileName?: string
  /**
   * Most pins kept (default 65536). A full table refuses new names (fails
   * closed); only a pin file holding more than this (maxPins lowered) loses
   * pins: its least recently confirmed ones, at load, without a warning.
   */
  maxPins?: number
  /** Delay between a new pin and its save (default 1 s). */
  flushDelayMs?: number
  /**
   * Called once per pin dropped while loading the file because its username
   * breaks the username rules (P4Error 'BAD_USERNAME' naming the file and the
   * pin). Default: logged under NODE_DEBUG=p4net.
   */
  warn?: (err: P4Error) => void
}

const PIN_FILE_VERSION = 1

/**
 * Trust on first use. The pin table is bounded and fails closed: once full,
 * a name not yet pinned is refused (UNTRUSTED_KEY), never pinned by pushing
 * another out — forgetting a pin would let a flood of fresh names evict a
 * user and then take the name with another key. The default bound is large
 * enough that only a flood fills it. Two exceptions to the bound: the node's
 * own name is pinned even in a full table (bindOwn: one over), and a file
 * holding more than maxPins pins keeps only the maxPins most recently
 * confirmed (load). A corrupt pin file is an error (BAD_CONFIG), not
 * silently an empty table: losing pins would quietly downgrade security.
 */
export class TofuPolicy implements TrustPolicy {
  readonly kind = 'tofu'
  readonly maxPins: number
  readonly path: string | undefined
  /** username → key, least recently confirmed first (the order the file keeps, and load() trims by). */
  private readonly pins = new Map<string, Uint8Array>()
  private readonly saver: JsonFileSaver | undefined
  private readonly warn: (err: P4Error) => void

  constructor(opts: TofuOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_OPTION', 'tofu options must be an object')
    const maxPins = opts.maxPins ?? 65536
    if (!Number.isSafeInteger(maxPins) || maxPins < 1) throw new P4Error('BAD_OPTION', `maxPins must be an integer >= 1, got ${String(maxPins)}`)
    this.maxPins = maxPins
    const delay = opts.flushDelayMs ?? 1000
    if (!Number.isSafeInteger(delay) || delay < 0) throw new P4Error('BAD_OPTION', 'flushDelayMs must be an integer >= 0')
    if (opts.warn !== undefined && typeof opts.warn !== 'function') throw new P4Error('BAD_OPTION', 'warn must be a function')
    this.warn = opts.warn ?? debugWarn
    if (opts.dataDir !== undefined) {
      if (typeof opts.dataDir !== 'string' || opts.dataDir === '') throw new P4Error('BAD_OPTION', 'dataDir must be a non-empty string')
      const fileName = opts.fileName ?? 'pinned-keys.json'
      if (typeof fileName !== 'string' || fileName === '' || /[/\\]/.test(fileName)) throw new P4Error('BAD_OPTION', 'fileName must be a plain file name')
      this.path = join(opts.dataDir, fileName)
      this.saver = new JsonFileSaver(this.path, opts.dataDir, () => this.toJSON(), delay)
      this.load()
    }
  }

  get size(): number {
    return this.pins.size
  }

  check(username: string, identityKey: Uint8Array): void {
    checkArgs(username, identityKey)
    const pinned = this.pins.get(username)
    if (pinned === undefined) {
      // Fail closed when full: forgetting a pin would let a flood of fresh
      // names push a user out and then take the name with another key.
      if (this.pins.size >= this.maxPins) {
        throw new P4Error('UNTRUSTED_KEY', `cannot pin ${JSON.stringify(username)}: the pin table is full (${this.maxPins} pins)`)
      }
      this.pins.set(username, identityKey.slice())
      this.saver?.schedule()
      return
    }
    if (!Buffer.from(pinned).equals(identityKey)) {
      throw new P4Error(
        'UNTRUSTED_KEY',
        `username ${JSON.stringify(username)} is pinned to key ${fingerprint(pinned)}…, not ${fingerprint(identityKey)}…`,
      )
    }
    // Re-confirmed: move to the most-recently-used end (saved with the next
    // write), so a trim at load (maxPins lowered) drops the stalest pins first.
    this.pins.delete(username)
    this.pins.set(username, pinned)
  }

  /**
   * Pins this node's own name to its own key, replacing any earlier pin of
   * it (the node's identity is the authority for its own name; a data
   * directory may hold a pin from an identity since replaced). Tofu would
   * otherwise let the first peer to claim the name take it.
   */
  bindOwn(username: string, identityKey: Uint8Array): void {
    checkArgs(username, identityKey)
    const pinned = this.pins.get(username)
    if (pinned !== undefined && Buffer.from(pinned).equals(identityKey)) return
    this.pins.delete(username)
    this.pins.set(username, identityKey.slice())
    this.saver?.schedule()
  }

  /** The pinned key for `username`, if any. */
  pinned(username: string): Uint8Array | undefined {
    return this.pins.get(username)?.slice()
  }

  /** Forgets a pin (operator action after a legitimate key change). */
  unpin(username: string): boolean {
    const ok = this.pins.delete(username)
    if (ok) this.saver?.schedule()
    return ok
  }

  /** Saves pending pins now; rejects with IO_ERROR. */
  flush(): Promise<void> {
    return this.saver?.flush() ?? Promise.resolve()
  }

  flushSync(): void {
    this.saver?.flushSync()
  }

  toJSON(): { version: number; pins: [string, string][] } {
    return { version: PIN_FILE_VERSION, pins: [...this.pins].map(([name, key]) => [name, hex(key)]) }
  }

  private load(): void {
    const path = this.path!
    let text: string | undefined
    try {
      text = readFileIfExists(path)
    } catch (cause) {
      throw new P4Error('IO_ERROR', `cannot read pinned keys ${path}`, { cause })
    }
    if (text === undefined) return
    const corrupt = (why: string): never => {
      throw new P4Error('BAD_CONFIG', `pinned keys file ${path} is corrupt (${why}); fix or remove it to re-pin`)
    }
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch {
      corrupt('not JSON')
    }
    const d = doc as { version?: unknown; pins?: unknown } | null
    if (d === null || typeof d !== 'object' || d.version !== PIN_FILE_VERSION || !Array.isArray(d.pins)) corrupt('unknown layout')
    for (const entry of (d as { pins: unknown[] }).pins) {
      if (!Array.isArray(entry) || entry.length !== 2) corrupt('bad entry')
      const [name, key] = entry as unknown[]
      // A name that is not 1..31 bytes of text was never valid: corruption.
      if (typeof name !== 'string' || name === '' || Buffer.byteLength(name) > USERNAME_MAX_BYTES) corrupt('bad entry')
      if (typeof key !== 'string' || !/^[0-9a-f]{64}$/.test(key)) corrupt('bad entry')
      // One that breaks the current character rules was pinned under an older,
      // looser rule. No HELLO can carry it any more, so the pin protects
      // nothing: drop it with a warning rather than refuse to start.
      const problem = usernameProblem(name)
      if (problem !== undefined) {
        this.warn(new P4Error('BAD_USERNAME', `pinned keys file ${path}: dropped the pin of ${quoteUsername(name as string)} to key ${(key as string).slice(0, 16)}…: ${problem}`))
        continue
      }
      if (this.pins.has(name as string)) corrupt(`duplicate username ${JSON.stringify(name)}`)
      this.pins.set(name as string, new Uint8Array(Buffer.from(key as string, 'hex')))
    }
    // More pins than maxPins (it was lowered): keep the most recently confirmed.
    while (this.pins.size > this.maxPins) this.pins.delete(this.pins.keys().next().value as string)
  }
}
