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
import { join } from 'node:path'
import { debuglog } from 'node:util'
import { P4Error } from '../core/errors.js'
import { validateHost, validatePort } from './codec-fields.js'
import { validateUsername } from '../core/username.js'
import { debugWarn, JsonFileSaver } from './json-file.js'
import { parseRecord, peerCacheDocument, readPeerCacheFile, staleUsername, type MutableRecord, type PeerRecord } from './peer-cache-file.js'

const debug = debuglog('p4net')

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
    return peerCacheDocument(this.list())
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
    const entries = readPeerCacheFile(path)
    if (entries === undefined) return
    let skipped = 0
    for (const p of entries) {
      const rec = parseRecord(p)
      if (rec === undefined || this.peers.size >= this.maxEntries || (this.perHost.get(rec.host) ?? 0) >= this.maxPerHost) {
        skipped++
        continue
      }
      const stale = staleUsername(path, rec)
      if (stale !== undefined) {
        this.warn(stale)
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
