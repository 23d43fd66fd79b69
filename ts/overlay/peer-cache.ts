// Known peer addresses, kept across restarts in the data directory so a node
// can rejoin without its bootstrap list (P4: "clients should cache known
// addresses on disk"). The cache is a hint: a corrupt or unreadable file
// means starting empty (logged under NODE_DEBUG=p4net), never a crash.
// Failed addresses back off exponentially with jitter so a dead peer is not
// hammered; after maxFailures consecutive failures it is forgotten.
// The cache cannot be flooded from one host: a host keeps at most maxPerHost
// addresses, and only its first address may push out another host's entry
// (see upsert), so a burst of fresh addresses from one host displaces at
// most one other entry, the worst one.
import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { open, mkdir, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { debuglog } from 'node:util'
import { P4Error } from '../core/errors.js'
import { isValidHost, validateHost, validatePort } from './codec-fields.js'
import { quoteUsername, usernameProblem, validateUsername } from '../core/username.js'

const debug = debuglog('p4net')

/** The default `warn` of PeerCache and TofuPolicy: the message under NODE_DEBUG=p4net. */
export function debugWarn(err: P4Error): void {
  debug('%s', err.message)
}

// ---------------------------------------------------------------------------
// Atomic JSON files (shared with the TOFU pin store in trust.ts)

function tempName(path: string): string {
  return `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
}

/**
 * Writes `text` to `path` atomically: a private (0600) temporary file in the
 * same directory, fsync, rename over the target. Readers see the old or the
 * new file, never a torn one. The directory is created (0700) if missing.
 * When any step fails the temporary file is removed (a full disk must not
 * also collect half-written files) and the error propagates.
 */
export async function writeFileAtomic(path: string, text: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const tmp = tempName(path)
  const fh = await open(tmp, 'wx', 0o600)
  try {
    try {
      await fh.writeFile(text, 'utf8')
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    throw err
  }
}

/** writeFileAtomic, synchronously (for exit paths). */
export function writeFileAtomicSync(path: string, text: string, dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const tmp = tempName(path)
  const fd = openSync(tmp, 'wx', 0o600)
  try {
    try {
      // writeSync may write less than asked (e.g. at a file size limit)
      // without throwing: loop, so a short write fails instead of being
      // renamed into place as a truncated file.
      const bytes = Buffer.from(text, 'utf8')
      for (let off = 0; off < bytes.length; ) {
        const n = writeSync(fd, bytes, off)
        if (n <= 0) throw new P4Error('IO_ERROR', `no progress writing ${tmp}`)
        off += n
      }
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } catch (err) {
    try {
      unlinkSync(tmp)
    } catch {
      // the temporary file is already gone
    }
    throw err
  }
}

/**
 * Debounced, serialised saving of one JSON document: schedule() after each
 * change writes once `delayMs` later; flush() writes now and resolves when
 * the bytes are on disk. Writes never overlap and always carry the latest
 * state (serialize() runs when a write starts).
 */
export class JsonFileSaver {
  private timer: NodeJS.Timeout | undefined
  private dirty = false
  private chain: Promise<void> = Promise.resolve()

  constructor(
    readonly path: string,
    private readonly dir: string,
    private readonly serialize: () => unknown,
    private readonly delayMs: number,
  ) {}

  schedule(): void {
    this.dirty = true
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.flush().catch((err: unknown) => debug('saving %s failed: %s', this.path, String(err)))
    }, this.delayMs)
    this.timer.unref()
  }

  /** Writes pending changes now; rejects with P4Error 'IO_ERROR' when the write fails. */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (!this.dirty) return this.chain
    this.dirty = false
    const text = JSON.stringify(this.serialize())
    const write = this.chain.then(() => writeFileAtomic(this.path, text, this.dir))
    this.chain = write.catch(() => undefined)
    return write.catch((cause: unknown) => {
      this.dirty = true
      throw new P4Error('IO_ERROR', `cannot write ${this.path}`, { cause })
    })
  }

  /** Writes pending changes synchronously (process exit); throws P4Error 'IO_ERROR'. */
  flushSync(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (!this.dirty) return
    this.dirty = false
    try {
      writeFileAtomicSync(this.path, JSON.stringify(this.serialize()), this.dir)
    } catch (cause) {
      this.dirty = true
      throw new P4Error('IO_ERROR', `cannot write ${this.path}`, { cause })
    }
  }
}

/** Reads a UTF-8 file; undefined when it does not exist. Other errors propagate. */
export function readFileIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

// ---------------------------------------------------------------------------
// The peer cache

export interface PeerRecord {
  readonly host: string
  readonly port: number
  readonly username: string | undefined
  /** Wall-clock ms of the last success or sighting. */
  readonly lastSeen: number
  /** Consecutive failed attempts since the last success. */
  readonly failures: number
  /** Wall-clock ms before which the address should not be dialled (0 = any time). */
  readonly nextAttemptAt: number
}

type MutableRecord = { -readonly [K in keyof PeerRecord]: PeerRecord[K] }

export interface PeerCacheOptions {
  /** Where peers.json lives; without it the cache is in memory only. */
  dataDir?: string
  fileName?: string
  /** Most addresses kept (default 256). */
  maxEntries?: number
  /**
   * Most addresses kept per host (default 4: a few nodes behind one NAT or
   * on one machine), so one host cannot fill the cache.
   */
  maxPerHost?: number
  /** First retry delay after a failure (default 1 s); doubles per failure. */
  baseBackoffMs?: number
  /** Largest retry delay (default 10 min). */
  maxBackoffMs?: number
  /** Consecutive failures after which an address is dropped (default 16). */
  maxFailures?: number
  /** Delay between a change and its save (default 2 s). */
  flushDelayMs?: number
  /** Source of jitter in [0, 1) (default Math.random); tests pass a seeded one. */
  random?: () => number
  /**
   * Called once per entry dropped while loading the file because its username
   * breaks the username rules (P4Error 'BAD_USERNAME' naming the file and the
   * entry). Default: logged under NODE_DEBUG=p4net.
   */
  warn?: (err: P4Error) => void
}

const FILE_VERSION = 1

function positiveInt(v: unknown, dflt: number, what: string, min = 1): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new P4Error('BAD_OPTION', `${what} must be an integer >= ${min}, got ${String(v)}`)
  return v
}

function checkNow(now: unknown): number {
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new P4Error('BAD_ARGUMENT', 'now must be a finite number (ms)')
  return now
}

function keyOf(host: string, port: number): string {
  return `${host} ${port}`
}

export class PeerCache {
  readonly maxEntries: number
  readonly maxPerHost: number
  readonly path: string | undefined
  private readonly baseBackoffMs: number
  private readonly maxBackoffMs: number
  private readonly maxFailures: number
  private readonly random: () => number
  private readonly warn: (err: P4Error) => void
  private readonly peers = new Map<string, MutableRecord>()
  /** host → number of its entries in `peers`. */
  private readonly perHost = new Map<string, number>()
  private readonly saver: JsonFileSaver | undefined

  constructor(opts: PeerCacheOptions = {}) {
    if (typeof opts !== 'object' || opts === null) throw new P4Error('BAD_OPTION', 'peer cache options must be an object')
    this.maxEntries = positiveInt(opts.maxEntries, 256, 'maxEntries')
    this.maxPerHost = positiveInt(opts.maxPerHost, 4, 'maxPerHost')
    this.baseBackoffMs = positiveInt(opts.baseBackoffMs, 1000, 'baseBackoffMs')
    this.maxBackoffMs = positiveInt(opts.maxBackoffMs, 10 * 60_000, 'maxBackoffMs')
    this.maxFailures = positiveInt(opts.maxFailures, 16, 'maxFailures')
    const flushDelayMs = positiveInt(opts.flushDelayMs, 2000, 'flushDelayMs', 0)
    if (this.maxBackoffMs < this.baseBackoffMs) throw new P4Error('BAD_OPTION', 'maxBackoffMs must be >= baseBackoffMs')
    if (opts.random !== undefined && typeof opts.random !== 'function') throw new P4Error('BAD_OPTION', 'random must be a function')
    this.random = opts.random ?? Math.random
    if (opts.warn !== undefined && typeof opts.warn !== 'function') throw new P4Error('BAD_OPTION', 'warn must be a function')
    this.warn = opts.warn ?? debugWarn
    if (opts.dataDir !== undefined) {
      if (typeof opts.dataDir !== 'string' || opts.dataDir === '') throw new P4Error('BAD_OPTION', 'dataDir must be a non-empty string')
      const fileName = opts.fileName ?? 'peers.json'
      if (typeof fileName !== 'string' || fileName === '' || /[/\\]/.test(fileName)) throw new P4Error('BAD_OPTION', 'fileName must be a plain file name')
      this.path = join(opts.dataDir, fileName)
      this.saver = new JsonFileSaver(this.path, opts.dataDir, () => this.toJSON(), flushDelayMs)
      this.load()
    }
  }

  get size(): number {
    return this.peers.size
  }

  get(host: string, port: number): PeerRecord | undefined {
    return this.peers.get(keyOf(String(host).toLowerCase(), port))
  }

  /** Every record, in no particular order. */
  list(): PeerRecord[] {
    return [...this.peers.values()].map((r) => ({ ...r }))
  }

  /**
   * Records an address heard of at `now` (from config, HELLO, LKA_ACK …).
   * A known address keeps its failure count; `username` replaces the old one.
   */
  add(host: string, port: number, now: number, username?: string): PeerRecord {
    const rec = this.upsert(host, port, now, username)
    if (now > rec.lastSeen) rec.lastSeen = now
    this.changed()
    return { ...rec }
  }

  /** A connection to the address worked: clears failures and backoff. */
  markSuccess(host: string, port: number, now: number, username?: string): PeerRecord {
    const rec = this.upsert(host, port, now, username)
    rec.failures = 0
    rec.nextAttemptAt = 0
    if (now > rec.lastSeen) rec.lastSeen = now
    this.changed()
    return { ...rec }
  }

  /**
   * A connection attempt to a cached address failed: backs off
   * base·2^(failures-1), capped, with "equal jitter" (half fixed, half random)
   * so many nodes that lost the same peer do not retry in lockstep. Returns
   * the record, or undefined when the address was dropped after maxFailures
   * or is not in the cache. An unknown address is not added: the overlay
   * dials addresses that other users announce, and failures there must not
   * fill the cache with dead entries.
   */
  markFailure(host: string, port: number, now: number): PeerRecord | undefined {
    checkAddress(host, port, now)
    const rec = this.peers.get(keyOf(host.toLowerCase(), port))
    if (rec === undefined) return undefined
    rec.failures++
    if (rec.failures >= this.maxFailures) {
      this.drop(rec)
      this.changed()
      return undefined
    }
    rec.nextAttemptAt = now + this.backoff(rec.failures)
    this.changed()
    return { ...rec }
  }

  /** The delay (ms) after the given number of consecutive failures, jittered. */
  backoff(failures: number): number {
    const exp = Math.min(this.maxBackoffMs, this.baseBackoffMs * 2 ** Math.min(failures - 1, 52))
    const r = this.random()
    const jitter = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0
    return Math.round(exp / 2 + (exp / 2) * jitter)
  }

  remove(host: string, port: number): boolean {
    const rec = this.peers.get(keyOf(String(host).toLowerCase(), port))
    if (rec === undefined) return false
    this.drop(rec)
    this.changed()
    return true
  }

  /**
   * Up to `n` addresses worth dialling at `now`: backoff elapsed and not
   * skipped (e.g. already linked), fewest failures first, then most recently
   * seen.
   */
  candidates(now: number, n: number, skip?: (p: PeerRecord) => boolean): PeerRecord[] {
    checkNow(now)
    if (!Number.isSafeInteger(n) || n < 0) throw new P4Error('BAD_ARGUMENT', 'n must be a non-negative integer')
    const ready: MutableRecord[] = []
    for (const r of this.peers.values()) {
      if (r.nextAttemptAt <= now && (skip === undefined || !skip(r))) ready.push(r)
    }
    ready.sort((a, b) => a.failures - b.failures || b.lastSeen - a.lastSeen)
    return ready.slice(0, n).map((r) => ({ ...r }))
  }

  /** Saves now (when persisted and changed); rejects with IO_ERROR. */
  flush(): Promise<void> {
    return this.saver?.flush() ?? Promise.resolve()
  }

  /** Saves synchronously, for exit paths; throws IO_ERROR. */
  flushSync(): void {
    this.saver?.flushSync()
  }

  toJSON(): { version: number; peers: PeerRecord[] } {
    return { version: FILE_VERSION, peers: this.list() }
  }

  /**
   * The record for host:port, created if new. Room for a new one comes from
   * the same host when it is at maxPerHost, or when the cache is full and the
   * host already has an entry; only a host's first entry may evict another
   * host's, so a burst from one host costs other hosts at most one entry.
   */
  private upsert(host: string, port: number, now: number, username: string | undefined): MutableRecord {
    checkAddress(host, port, now)
    if (username !== undefined) validateUsername(username)
    const h = host.toLowerCase()
    const key = keyOf(h, port)
    let rec = this.peers.get(key)
    if (rec === undefined) {
      const own = this.perHost.get(h) ?? 0
      if (own >= this.maxPerHost || (own > 0 && this.peers.size >= this.maxEntries)) this.evictWorst(h)
      else if (this.peers.size >= this.maxEntries) this.evictWorst(undefined)
      rec = { host: h, port, username, lastSeen: now, failures: 0, nextAttemptAt: 0 }
      this.insert(rec)
    } else if (username !== undefined) {
      rec.username = username
    }
    return rec
  }

  /**
   * Drops the entry (of `host`, or of any host) that failed most, the least
   * recently seen among equals.
   */
  private evictWorst(host: string | undefined): void {
    let worst: MutableRecord | undefined
    for (const r of this.peers.values()) {
      if (host !== undefined && r.host !== host) continue
      if (worst === undefined || r.failures > worst.failures || (r.failures === worst.failures && r.lastSeen < worst.lastSeen)) worst = r
    }
    if (worst !== undefined) this.drop(worst)
  }

  private insert(rec: MutableRecord): void {
    this.peers.set(keyOf(rec.host, rec.port), rec)
    this.perHost.set(rec.host, (this.perHost.get(rec.host) ?? 0) + 1)
  }

  private drop(rec: MutableRecord): void {
    this.peers.delete(keyOf(rec.host, rec.port))
    const n = (this.perHost.get(rec.host) ?? 1) - 1
    if (n > 0) this.perHost.set(rec.host, n)
    else this.perHost.delete(rec.host)
  }

  private changed(): void {
    this.saver?.schedule()
  }

  private load(): void {
    const path = this.path!
    let text: string | undefined
    try {
      text = readFileIfExists(path)
    } catch (err) {
      debug('peer cache %s unreadable, starting empty: %s', path, String(err))
      return
    }
    if (text === undefined) return
    let doc: unknown
    try {
      doc = JSON.parse(text)
    } catch {
      debug('peer cache %s is not JSON, starting empty', path)
      return
    }
    const peers = (doc as { peers?: unknown } | null)?.peers
    if ((doc as { version?: unknown } | null)?.version !== FILE_VERSION || !Array.isArray(peers)) {
      debug('peer cache %s has an unknown layout, starting empty', path)
      return
    }
    let skipped = 0
    for (const p of peers) {
      const rec = parseRecord(p)
      if (rec === undefined || this.peers.size >= this.maxEntries || (this.perHost.get(rec.host) ?? 0) >= this.maxPerHost) {
        skipped++
        continue
      }
      // Stored under an older, looser username rule: drop the entry, say so,
      // and go on; one stale name must not cost the node its whole cache.
      const problem = rec.username === undefined ? undefined : usernameProblem(rec.username)
      if (problem !== undefined) {
        const where = rec.host.includes(':') ? `[${rec.host}]:${rec.port}` : `${rec.host}:${rec.port}`
        this.warn(new P4Error('BAD_USERNAME', `peer cache ${path}: dropped the entry for ${where}, username ${quoteUsername(rec.username!)}: ${problem}`))
        continue
      }
      if (this.peers.has(keyOf(rec.host, rec.port))) skipped++
      else this.insert(rec)
    }
    if (skipped > 0) debug('peer cache %s: skipped %d invalid, duplicate or surplus entries', path, skipped)
  }
}

function checkAddress(host: string, port: number, now: number): void {
  validateHost(host)
  if (host === '') throw new P4Error('BAD_ARGUMENT', 'host must not be empty')
  validatePort(port, 1)
  checkNow(now)
}

/** A well-formed record; its username is any string (checked by the caller). */
function parseRecord(p: unknown): MutableRecord | undefined {
  if (typeof p !== 'object' || p === null) return undefined
  const { host, port, username, lastSeen, failures, nextAttemptAt } = p as Record<string, unknown>
  if (!isValidHost(host) || host === '' || host !== host.toLowerCase()) return undefined
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined
  if (username !== undefined && typeof username !== 'string') return undefined
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0
  if (!finite(lastSeen) || !finite(nextAttemptAt)) return undefined
  if (typeof failures !== 'number' || !Number.isSafeInteger(failures) || failures < 0) return undefined
  return { host, port, username, lastSeen, failures, nextAttemptAt }
}
