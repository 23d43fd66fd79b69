// peers.json, the peer cache's file: its records, its layout, and reading it
// leniently. The cache is a hint, so a missing, unreadable, non-JSON or
// unknown file reads as no entries (logged under NODE_DEBUG=p4net), and a
// malformed entry is skipped.
import { debuglog } from 'node:util'
import { P4Error } from '../core/errors.js'
import { quoteUsername, usernameProblem } from '../core/username.js'
import { isValidHost } from './codec-fields.js'
import { readFileIfExists } from './json-file.js'

const debug = debuglog('p4net')

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

export type MutableRecord = { -readonly [K in keyof PeerRecord]: PeerRecord[K] }

const FILE_VERSION = 1

/** The file's JSON document for `peers`. */
export function peerCacheDocument(peers: PeerRecord[]): { version: number; peers: PeerRecord[] } {
  return { version: FILE_VERSION, peers }
}

/** The entries of the file at `path`, each still to be parsed; undefined when there is nothing to load. */
export function readPeerCacheFile(path: string): unknown[] | undefined {
  let text: string | undefined
  try {
    text = readFileIfExists(path)
  } catch (err) {
    debug('peer cache %s unreadable, starting empty: %s', path, String(err))
    return undefined
  }
  if (text === undefined) return undefined
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    debug('peer cache %s is not JSON, starting empty', path)
    return undefined
  }
  const peers = (doc as { peers?: unknown } | null)?.peers
  if ((doc as { version?: unknown } | null)?.version !== FILE_VERSION || !Array.isArray(peers)) {
    debug('peer cache %s has an unknown layout, starting empty', path)
    return undefined
  }
  return peers
}

/** A well-formed record; its username is any string (checked by the caller). */
export function parseRecord(p: unknown): MutableRecord | undefined {
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

/**
 * The warning for a record stored under an older, looser username rule
 * (the entry is dropped, and one stale name must not cost the node its whole
 * cache); undefined when its username is fine or absent.
 */
export function staleUsername(path: string, rec: PeerRecord): P4Error | undefined {
  const problem = rec.username === undefined ? undefined : usernameProblem(rec.username)
  if (problem === undefined) return undefined
  const where = rec.host.includes(':') ? `[${rec.host}]:${rec.port}` : `${rec.host}:${rec.port}`
  return new P4Error('BAD_USERNAME', `peer cache ${path}: dropped the entry for ${where}, username ${quoteUsername(rec.username!)}: ${problem}`)
}
