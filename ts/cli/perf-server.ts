// `p4net perf --serve`: a node that answers perf clients. It counts what each
// client's DATA messages and streams deliver to its plugin, reports the count
// when asked (so a client measures delivered, not queued, bytes), and echoes
// PINGs. Only the public API: createNode, plugin, send, the 'stream' event.
import type { Node, P4Stream, PluginMessage } from '../index.js'
import { decodeJson, encodeJson, Kind, PERF_PLUGIN, PERF_VERSION, type PerfReply } from './perf-protocol.js'

export interface ServeOptions {
  username: string
  host: string
  port: number
}

interface Counter {
  bytes: number
  messages: number
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`

/**
 * Runs the server until `until` settles, writing one line per event to
 * `out`. The node: an ephemeral identity, tofu trust in memory (every client
 * name is pinned to its key on first sight, for the life of this process),
 * no links of its own making (links.min 0), room for 64 links at once.
 */
export async function servePerf(opts: ServeOptions, out: (line: string) => void, until: Promise<string>): Promise<void> {
  const { createNode, fingerprint } = await import('../index.js')
  const node: Node = await createNode({ username: opts.username, host: opts.host, port: opts.port, links: { min: 0, max: 64 } })
  const plugin = node.plugin(PERF_PLUGIN)
  const counters = new Map<string, Counter>()
  const clients = new Set<string>()
  const reply = (to: string, r: PerfReply): void => {
    // A client gone before its answer is no error of the server's.
    plugin.send(to, encodeJson(Kind.REPLY, r)).catch(() => undefined)
  }

  plugin.on('message', (m: PluginMessage) => {
    if (m.broadcast) return
    const d = m.data
    switch (d[0]) {
      case Kind.DATA: {
        let c = counters.get(m.from)
        if (c === undefined) counters.set(m.from, (c = { bytes: 0, messages: 0 }))
        c.bytes += d.length
        c.messages++
        return
      }
      case Kind.PING: {
        const pong = Uint8Array.from(d)
        pong[0] = Kind.PONG
        plugin.send(m.from, pong).catch(() => undefined)
        return
      }
      case Kind.REQUEST:
        return request(m.from, decodeJson(d))
    }
  })

  function request(from: string, req: Record<string, unknown> | undefined): void {
    const c = counters.get(from) ?? { bytes: 0, messages: 0 }
    counters.set(from, { bytes: 0, messages: 0 })
    if (req?.op === 'hello') {
      if (req.version !== PERF_VERSION) return reply(from, { op: 'error', message: `this server speaks perf version ${PERF_VERSION}, not ${String(req.version)}` })
      if (!clients.has(from)) {
        clients.add(from)
        const link = node.links().find((l) => l.username === from)
        out(`p4net perf: client ${from}${link ? ` from ${link.host}:${link.port}` : ''}`)
      }
      return reply(from, { op: 'hello', version: PERF_VERSION, username: node.username })
    }
    if (req?.op === 'report') {
      if (c.messages > 0) out(`p4net perf: ${from}: ${c.messages} messages, ${mb(c.bytes)}`)
      return reply(from, { op: 'report', bytes: c.bytes, messages: c.messages })
    }
    reply(from, { op: 'error', message: `unknown request ${JSON.stringify(req?.op)}` })
  }

  plugin.on('stream', (s: P4Stream, from: string) => {
    let bytes = 0
    s.on('data', (chunk: Uint8Array) => (bytes += chunk.length))
    // The count goes back on the stream itself once the client's side ends.
    s.on('end', () => {
      out(`p4net perf: ${from}: stream, ${mb(bytes)}`)
      s.end(JSON.stringify({ bytes }))
    })
    s.on('error', () => undefined)
  })

  node.on('user-left', (u: string) => {
    counters.delete(u)
    if (clients.delete(u)) out(`p4net perf: client ${u} left`)
  })
  node.on('warning', (e: Error) => out(`p4net perf: warning: ${e.message}`))

  try {
    await node.start()
    const a = node.address
    out(`p4net perf: serving as ${node.username} on ${a.host}:${a.port} (fingerprint ${fingerprint(node.identity.publicKey)}, plugin ${PERF_PLUGIN})`)
    const any = a.host === '0.0.0.0' || a.host === '::'
    out(`p4net perf: clients run: p4net perf ${any ? 'ADDRESS_OF_THIS_HOST' : a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`)
    const sig = await until
    out(`p4net perf: ${sig}: stopping`)
  } finally {
    await node.stop()
  }
  out('p4net perf: stopped')
}
