// `p4net demo`: N nodes on loopback TCP in this process, shown step by step:
// links, discovery, unicast, end-to-end encryption, broadcast, latency,
// counters, clean stop. Every step has a deadline; a missed one exits 1.
import { performance } from 'node:perf_hooks'
import { isP4Error } from '../core/errors.js'
import { createNode, type Node, type WireMessage } from '../node.js'
import { SEAL_OVERHEAD } from '../e2e.js'
import type { PluginMessage } from '../plugin.js'
import { debug } from '../core/log.js'
import { CliError, helpText, parseCommand, parseIntIn, type CommandSpec } from './args.js'
import { counted, times } from './words.js'

const log = debug('demo')

export const demoSpec: CommandSpec = {
  name: 'demo',
  summary: 'start nodes on loopback and show what the overlay does',
  usage: 'p4net demo [--nodes N]',
  options: {
    nodes: { type: 'string', short: 'n', value: 'N', help: 'number of nodes, 2..20 (default 5)' },
  },
  details: `Runs N nodes in this process on 127.0.0.1 (ports chosen by the system),
waits for the overlay to form, then shows: links, users and plugins each node
discovered, a unicast, an end-to-end encrypted unicast, a broadcast reaching
every node exactly once, a latency table, counters, and a clean stop.
Takes a few seconds; exits 1 with the reason if any step misses its deadline.`,
}

const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'kim', 'leo', 'mallory', 'niaj', 'olivia', 'peggy', 'rupert', 'sybil', 'trent', 'victor']
const CHAT = 1001
const FILES = 1002 // run by every other node, so pluginsOf differs between users
const TOTAL_DEADLINE_MS = 19_000
const LATENCY_TABLE_MAX = 6

/** A demo step that failed: TIMEOUT when a deadline passed, BAD_PAYLOAD when a check did not hold. */
class StepFailed extends Error {
  constructor(message: string, readonly code: 'TIMEOUT' | 'BAD_PAYLOAD' = 'BAD_PAYLOAD', options?: { cause?: unknown }) {
    super(message, options)
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Polls `cond` every 20 ms until it holds; fails the step after `ms`. */
async function waitFor(what: string, ms: number, cond: () => boolean): Promise<void> {
  const end = performance.now() + ms
  while (!cond()) {
    if (performance.now() > end) throw new StepFailed(`timed out after ${ms} ms waiting for ${what}`, 'TIMEOUT')
    await sleep(20)
  }
}

/** `p` or a StepFailed after `ms`. */
async function within<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let t: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new StepFailed(`timed out after ${ms} ms: ${what}`, 'TIMEOUT')), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(t)
  }
}

function hex(b: Uint8Array, max = 24): string {
  const h = Buffer.from(b.subarray(0, max)).toString('hex')
  return b.length > max ? `${h}... (${b.length} bytes)` : `${h} (${b.length} bytes)`
}

function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => '  ' + r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
}

/** Every DATA a node receives, as it arrived (before end-to-end decryption): what the wire carried. */
function tapData(node: Node, listener: (e: WireMessage) => void): () => void {
  node.on('wire', listener)
  return () => node.off('wire', listener)
}

export async function runDemo(count: number, out: (line: string) => void): Promise<void> {
  const t0 = performance.now()
  const nodes: Node[] = []
  const inbox = new Map<string, PluginMessage[]>()
  let stepNo = 0
  let stepTitle = ''
  const STEPS = 9
  const heading = (title: string): void => {
    stepNo++
    stepTitle = title
    out('')
    out(`== ${stepNo}/${STEPS} ${title} ==`)
  }
  const elapsed = (): string => `${Math.round(performance.now() - t0)} ms`
  const want = { min: Math.min(2, count - 1), max: 4 }
  try {
    heading(`Starting ${count} nodes on 127.0.0.1`)
    for (let i = 0; i < count; i++) {
      const name = NAMES[i]!
      // A tree of bootstrap links; DISCOVER walks then add links up to links.min.
      const parent = i === 0 ? undefined : nodes[Math.floor((i - 1) / 2)]!
      const node = await createNode({
        username: name,
        host: '127.0.0.1',
        port: 0,
        bootstrap: parent ? [`127.0.0.1:${parent.address.port}`] : [],
        links: want,
        // Fast upkeep for a demo; a DISCOVER walk that dies unanswered holds
        // its slot until walkTimeoutMs, so keep that short on loopback too.
        timers: { maintenanceMs: 50, walkTimeoutMs: 500 },
      })
      inbox.set(name, [])
      node.plugin(CHAT).on('message', (m: PluginMessage) => inbox.get(name)!.push(m))
      if (i % 2 === 1) node.plugin(FILES)
      const startAt = performance.now()
      await within(`${name} start`, 3000, node.start())
      nodes.push(node)
      // One join at a time: a node asks its first link for the LKA table
      // once, so it must not join through a node still joining itself.
      await waitFor(`${name} to join and learn the ${counted(i, 'earlier user')}`, 3000, () => i === 0 || (node.links().length > 0 && node.users().length === i + 1))
      const joined = i === 0 ? '' : `, joined through ${parent!.username} in ${(performance.now() - startAt).toFixed(0)} ms`
      out(`  ${name.padEnd(8)} listening on ${node.address.host}:${node.address.port}${joined}`)
    }

    heading('Overlay forming (HELLO floods, LKA copies, DISCOVER walks)')
    const expectPlugins = new Map(nodes.map((n, i) => [n.username, i % 2 === 1 ? [CHAT, FILES] : [CHAT]]))
    const formed = (): boolean =>
      nodes.every(
        (n) =>
          n.links().length >= want.min &&
          n.users().length === count &&
          n.users().every((u) => {
            try {
              return n.pluginsOf(u).join() === expectPlugins.get(u)!.join()
            } catch {
              return false
            }
          }),
      )
    await waitFor(`every node to know all ${count} users and hold at least ${counted(want.min, 'link')}`, 10_000, formed).catch((err: Error) => {
      const lagging = nodes
        .filter((n) => n.links().length < want.min || n.users().length !== count)
        .map((n) => `${n.username} (${counted(n.links().length, 'link')}, ${counted(n.users().length, 'user')})`)
      throw new StepFailed(`${err.message}; ${lagging.length ? `behind: ${lagging.join(', ')}` : 'plugin lists still differ'}`, 'TIMEOUT')
    })
    out(`  formed after ${elapsed()}: every node knows ${count} users and holds at least ${counted(want.min, 'link')}`)
    if (nodes.some((n) => n.links().length > want.max)) out(`  (target ${want.min}..${want.max}; a link younger than 30 s is never closed, so some nodes hold more for now)`)
    const edges = new Set<string>()
    for (const n of nodes) {
      const links = n.links()
      out(`  ${n.username.padEnd(8)} links to ${links.map((l) => `${l.username}${l.initiator ? ' (dialled)' : ''}`).join(', ')}`)
      for (const l of links) edges.add([n.username, l.username].sort().join(' -- '))
    }
    out(`  ${counted(edges.size, 'link')} in all: ${[...edges].join(', ')}`)

    heading('Users and plugins discovered')
    const view = (n: Node): string => n.users().map((u) => `${u}[${n.pluginsOf(u).join(',')}]`).join(' ')
    const shownViews = count <= 6 ? nodes : nodes.slice(0, 2)
    for (const n of shownViews) out(`  ${n.username.padEnd(8)} users(): ${view(n)}`)
    if (shownViews.length < count) {
      const ref = view(nodes[0]!)
      const differ = nodes.filter((n) => view(n) !== ref).map((n) => n.username)
      if (differ.length > 0) throw new StepFailed(`nodes disagree on users or plugins: ${differ.join(', ')}`)
      out(`  the other ${counted(count - shownViews.length, 'node')}: the same ${count} users and plugin lists (compared)`)
    }
    const first = nodes[0]!
    out(`  ${first.username}: users(${CHAT}) = ${first.users(CHAT).join(' ')}`)
    out(`  ${first.username}: users(${FILES}) = ${first.users(FILES).join(' ')}`)

    // Prefer a peer alice has no link to, so the message needs a direct session.
    const linked = new Set(first.links().map((l) => l.username))
    const target = [...nodes].reverse().find((n) => n !== first && !linked.has(n.username)) ?? nodes[count - 1]!
    const via = linked.has(target.username) ? 'over their overlay link' : 'over a direct session (no link between them)'

    heading(`Unicast: ${first.username} -> ${target.username}`)
    {
      const box = inbox.get(target.username)!
      box.length = 0
      const text = `hello ${target.username}, this is ${first.username}`
      const sentAt = performance.now()
      await within('unicast send', 5000, first.plugin(CHAT).send(target.username, new TextEncoder().encode(text)))
      await waitFor(`${target.username} to receive the unicast`, 5000, () => box.length > 0)
      const m = box[0]!
      if (new TextDecoder().decode(m.data) !== text || m.from !== first.username) throw new StepFailed('unicast arrived altered')
      out(`  sent ${JSON.stringify(text)} ${via}`)
      out(`  ${target.username} got it from ${m.from} in ${(performance.now() - sentAt).toFixed(1)} ms (m.broadcast=${m.broadcast}, m.encrypted=${m.encrypted})`)
    }

    heading(`End-to-end encrypted unicast: ${first.username} -> ${target.username}`)
    {
      const box = inbox.get(target.username)!
      box.length = 0
      const plain = new TextEncoder().encode(`the key is under the mat, ${target.username}`)
      const carried: Uint8Array[] = []
      const untap = tapData(target, (e) => {
        if (e.pluginId === CHAT) carried.push(Uint8Array.from(e.body))
      })
      try {
        await within('encrypted send', 5000, first.plugin(CHAT).send(target.username, plain, { encrypted: true }))
        await waitFor(`${target.username} to receive the encrypted unicast`, 5000, () => box.length > 0)
      } finally {
        untap()
      }
      const m = box[0]!
      const body = carried[0]
      if (!m.encrypted) throw new StepFailed('m.encrypted is false for an encrypted send')
      if (Buffer.compare(m.data, plain) !== 0) throw new StepFailed('decrypted text differs from what was sent')
      if (!body) throw new StepFailed('did not see the DATA frame body')
      if (contains(body, plain)) throw new StepFailed('the plaintext is visible in the DATA frame')
      out(`  plaintext            ${hex(plain)}`)
      out(`  DATA frame carried   ${hex(body)}`)
      out(`                       = version byte + 16-byte sender salt + 8-byte counter + ChaCha20-Poly1305 ciphertext + 16-byte tag`)
      out(`                       (${body.length} = ${plain.length} + ${SEAL_OVERHEAD}); the plaintext does not occur in it`)
      out(`  sealed by ${first.username} to ${target.username}'s X25519 key before it left ${first.username}: only ${target.username}'s key opens it,`)
      out(`  not the session layer in between nor any relay`)
      out(`  ${target.username} got m.encrypted=${m.encrypted}, text ${JSON.stringify(new TextDecoder().decode(m.data))}`)
    }

    heading(`Broadcast from ${first.username} on plugin ${CHAT}`)
    {
      for (const box of inbox.values()) box.length = 0
      const before = nodes.map((n) => n.stats())
      const text = `hello everyone, from ${first.username}`
      await within('broadcast', 5000, first.plugin(CHAT).broadcast(new TextEncoder().encode(text)))
      const others = nodes.filter((n) => n !== first)
      await waitFor('every node to receive the broadcast', 5000, () => others.every((n) => inbox.get(n.username)!.length > 0))
      await sleep(200) // time for any duplicate to show up
      const counts = others.map((n) => [n.username, inbox.get(n.username)!.filter((m) => m.broadcast).length] as const)
      out(`  deliveries: ${counts.map(([u, c]) => `${u} x${c}`).join(', ')}`)
      const wrong = counts.filter(([, c]) => c !== 1)
      if (wrong.length > 0) throw new StepFailed(`broadcast delivered other than once: ${wrong.map(([u, c]) => `${u} x${c}`).join(', ')}`)
      if (inbox.get(first.username)!.length !== 0) throw new StepFailed('the sender received its own broadcast')
      const after = nodes.map((n) => n.stats())
      const sum = (k: 'forwarded' | 'dedupHits'): number => after.reduce((s, a, i) => s + a[k] - before[i]![k], 0)
      out(`  ${others.length === 1 ? 'the other node' : `${others.length} of ${others.length} other nodes`} got it exactly once; flooding forwarded it ${times(sum('forwarded'))} and dedup dropped ${counted(sum('dedupHits'), 'duplicate copy', 'duplicate copies')}`)
    }

    const shown = nodes.slice(0, LATENCY_TABLE_MAX)
    heading(`Latency (PING / PING-ACK round trip, ms)${count > shown.length ? `, first ${shown.length} nodes` : ''}`)
    {
      const rows: string[][] = [['from \\ to', ...shown.map((n) => n.username)]]
      for (const a of shown) {
        const row = [a.username]
        for (const b of shown) {
          if (a === b) row.push('-')
          else row.push((await within(`latency ${a.username} -> ${b.username}`, 5000, a.latency(b.username))).toFixed(2))
        }
        rows.push(row)
      }
      for (const line of table(rows)) out(line)
    }

    heading('Counters (node.stats())')
    {
      const keys = ['links', 'directSessions', 'users', 'framesIn', 'framesOut', 'bytesIn', 'bytesOut', 'delivered', 'forwarded', 'dedupHits', 'badSignature'] as const
      const rows: string[][] = [['node', ...keys]]
      for (const n of nodes) {
        const s = n.stats()
        rows.push([n.username, ...keys.map((k) => String(s[k]))])
      }
      for (const line of table(rows)) out(line)
    }

    heading('Clean stop')
    {
      const last = nodes[count - 1]!
      const rest = nodes.slice(0, -1)
      await within(`${last.username} stop`, 5000, last.stop())
      await waitFor(`the others to see ${last.username} leave`, 5000, () => rest.every((n) => !n.users().includes(last.username)))
      out(`  ${last.username} stopped (signed leaving HELLO + BYE); ${rest.length === 1 ? 'the other node' : `all ${rest.length} others`} dropped it from users()`)
      const stopAt = performance.now()
      await within('stopping every node', 5000, Promise.all(rest.map((n) => n.stop())))
      out(`  ${rest.length === 1 ? 'the other node' : `the other ${rest.length} nodes`} stopped in ${(performance.now() - stopAt).toFixed(0)} ms`)
    }
    out('')
    out(`demo finished in ${elapsed()}`)
  } catch (err) {
    const code = err instanceof StepFailed ? err.code : 'BAD_PAYLOAD'
    throw new StepFailed(`step ${stepNo}/${STEPS} (${stepTitle}): ${(err as Error)?.message ?? String(err)}`, code, { cause: err })
  } finally {
    await Promise.race([Promise.allSettled(nodes.map((n) => n.stop())), sleep(3000)])
  }
}

export async function demoCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(demoSpec, argv)
  if (!parsed) {
    process.stdout.write(helpText(demoSpec))
    return 0
  }
  const count = parsed.values.nodes === undefined ? 5 : parseIntIn(parsed.values.nodes as string, 2, 20, '--nodes', 'demo')
  const watchdog = setTimeout(() => {
    process.stderr.write(`p4net demo: FAILED: took longer than ${TOTAL_DEADLINE_MS / 1000} s\n`)
    process.exit(1)
  }, TOTAL_DEADLINE_MS)
  watchdog.unref()
  try {
    await runDemo(count, (line) => process.stdout.write(line + '\n'))
  } catch (err) {
    log('demo failed: %s', (err as Error)?.stack)
    const code = err instanceof StepFailed ? err.code : isP4Error(err) ? err.code : 'BAD_PAYLOAD'
    throw new CliError(code, `p4net demo: FAILED: ${(err as Error).message ?? String(err)}`)
  } finally {
    clearTimeout(watchdog)
  }
  return 0
}
