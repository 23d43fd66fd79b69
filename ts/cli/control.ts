// The local control socket: a Unix domain socket in the data directory
// (a named pipe on Windows), never the network. `p4net start` and `p4net
// chat` serve it; `p4net status` asks it. One JSON request line, one JSON
// answer line, then the server ends the connection.
import { createHash } from 'node:crypto'
import { chmodSync, lstatSync, unlinkSync } from 'node:fs'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { fingerprint } from '../core/identity.js'
import type { Node, NodeStats, NodeStatus } from '../node.js'
import type { LinkInfo } from '../node.js'
import { debug } from '../core/log.js'
import { CliError } from './args.js'

const log = debug('control')

export const CONTROL_SOCKET = 'control.sock'
/** sun_path is 108 bytes on Linux, 104 on macOS; stay under both. */
const MAX_SOCKET_PATH = 103
const MAX_REQUEST = 4096

export interface ControlRequest {
  op: 'status'
}

export interface StatusReport {
  username: string
  fingerprint: string
  /** The bound address; `advertised`: the one HELLO announces. */
  address: { host: string; port: number }
  advertised: { host: string; port: number }
  /** node.status(): joined or alone, and the latest reasons it could not join or link. */
  status: NodeStatus
  pid: number
  command: string
  dataDir: string
  startedAt: string
  uptimeMs: number
  links: Array<LinkInfo & { ageMs: number }>
  users: Array<{ username: string; plugins: number[] }>
  stats: NodeStats
}

/** Where the control socket of `dataDir` lives. */
export function controlPath(dataDir: string, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') return `\\\\.\\pipe\\p4net-${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}`
  return join(dataDir, CONTROL_SOCKET)
}

/** Refuses a data dir whose control socket path the system cannot bind (before anything is written in it). */
export function checkControlPath(dataDir: string): void {
  checkPathLength(controlPath(dataDir))
}

function checkPathLength(path: string): void {
  if (process.platform !== 'win32' && Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new CliError('BAD_OPTION', `p4net: control socket path ${path} is too long for a Unix socket (max ${MAX_SOCKET_PATH} bytes); use a shorter --data-dir`, 2)
  }
}

/** Whether something answers on `path` (a live node), within `timeoutMs`. */
function probe(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path)
    const t = setTimeout(() => done(true), timeoutMs) // accepted but silent: still someone's socket
    const done = (live: boolean): void => {
      clearTimeout(t)
      s.destroy()
      resolve(live)
    }
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
}

export interface StatusSource {
  node: Node
  command: string
  dataDir: string
  startedAt: number
}

/** A snapshot of a running node for `p4net status`. */
export function statusOf(src: StatusSource): StatusReport {
  const { node } = src
  const now = Date.now()
  const users = node.users().map((u) => {
    let plugins: number[] = []
    try {
      plugins = node.pluginsOf(u)
    } catch {
      // Left between users() and pluginsOf(): show it without plugins.
    }
    return { username: u, plugins }
  })
  return {
    username: node.username,
    fingerprint: fingerprint(node.identity.publicKey),
    address: node.address,
    advertised: node.advertisedAddress,
    status: node.status(),
    pid: process.pid,
    command: src.command,
    dataDir: src.dataDir,
    startedAt: new Date(src.startedAt).toISOString(),
    uptimeMs: now - src.startedAt,
    links: node.links({ direct: true }).map((l) => ({ ...l, ageMs: now - l.since })),
    users,
    stats: node.stats(),
  }
}

export interface ControlServer {
  readonly path: string
  /** Stops serving and removes the socket file. */
  close(): Promise<void>
}

/**
 * Serves the control socket of `dataDir`. A stale socket file (nobody
 * answering) is replaced; a live one means another node uses this data
 * directory, which is an error (two nodes must not share an identity).
 */
export async function serveControl(dataDir: string, status: () => StatusReport): Promise<ControlServer> {
  const path = controlPath(dataDir)
  checkPathLength(path)
  if (process.platform !== 'win32') {
    let st
    try {
      st = lstatSync(path)
    } catch {
      st = undefined
    }
    if (st) {
      if (!st.isSocket()) throw new CliError('IO_ERROR', `p4net: ${path} exists and is not a socket; remove it`)
      if (await probe(path)) throw new CliError('ALREADY_STARTED', `p4net: another p4net is running with data dir ${dataDir} (${path} answers); use another --data-dir`)
      log('removing stale socket %s', path)
      unlinkSync(path)
    }
  } else if (await probe(path)) {
    throw new CliError('ALREADY_STARTED', `p4net: another p4net is running with data dir ${dataDir}`)
  }
  const sockets = new Set<Socket>()
  const server: Server = createServer((sock) => {
    sockets.add(sock)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', () => undefined)
    sock.setTimeout(5000, () => sock.destroy())
    let buf = ''
    sock.setEncoding('utf8')
    sock.on('data', (chunk: string) => {
      buf += chunk
      if (buf.length > MAX_REQUEST) return sock.destroy()
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      sock.removeAllListeners('data')
      let answer: unknown
      try {
        const req = JSON.parse(buf.slice(0, nl)) as ControlRequest
        if (req?.op !== 'status') throw new Error(`unknown op ${JSON.stringify(req?.op)}`)
        answer = { ok: true, result: status() }
      } catch (err) {
        answer = { ok: false, error: (err as Error).message }
      }
      log('request %s', buf.slice(0, nl))
      sock.end(JSON.stringify(answer) + '\n')
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => {
      server.off('error', reject)
      resolve()
    })
  })
  // Only this user may ask (the data dir is 0700 too; belt and braces).
  if (process.platform !== 'win32') chmodSync(path, 0o600)
  server.unref()
  log('serving %s', path)
  let closed: Promise<void> | undefined
  return {
    path,
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve()) // also unlinks the socket file
      })
      return closed
    },
  }
}

/** Asks the node serving `dataDir` for its status. CliError when none answers. */
export function requestStatus(dataDir: string, timeoutMs = 3000): Promise<StatusReport> {
  const path = controlPath(dataDir)
  checkPathLength(path)
  return new Promise((resolve, reject) => {
    const s = createConnection(path)
    let buf = ''
    const t = setTimeout(() => {
      s.destroy()
      reject(new CliError('TIMEOUT', `p4net status: no answer from ${path} within ${timeoutMs} ms`))
    }, timeoutMs)
    s.setEncoding('utf8')
    s.once('connect', () => s.write(JSON.stringify({ op: 'status' } satisfies ControlRequest) + '\n'))
    s.on('data', (chunk: string) => {
      buf += chunk
    })
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(t)
      const why =
        err.code === 'ENOENT'
          ? `no p4net is running with data dir ${dataDir} (no control socket at ${path})`
          : err.code === 'ECONNREFUSED'
            ? // The file is there but nobody listens: a node that was killed (kill -9, a crash) left it.
              `no p4net is running with data dir ${dataDir}: ${path} is stale, left by a node that did not stop cleanly; the next p4net start or chat on this data dir replaces it (or remove it)`
            : `cannot reach ${path}: ${err.message}`
      reject(new CliError('UNREACHABLE', `p4net status: ${why}`))
    })
    s.once('end', () => {
      clearTimeout(t)
      try {
        const answer = JSON.parse(buf) as { ok: boolean; result?: StatusReport; error?: string }
        if (!answer.ok || !answer.result) throw new Error(answer.error ?? 'empty answer')
        resolve(answer.result)
      } catch (err) {
        reject(new CliError('BAD_PAYLOAD', `p4net status: bad answer from ${path}: ${(err as Error).message}`))
      }
    })
  })
}
