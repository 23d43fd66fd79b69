// Shared pieces of the attack tests: a small honest network that keeps
// talking while an attack runs (every message of it must arrive), and signed
// frames built by hand for rogue peers.
import { randomBytes } from 'node:crypto'
import { memoryTransport, type Identity, type Node, type NodeOptions, type PluginMessage, type Transport } from '../../ts/index.js'
import { encodeHello } from '../../ts/overlay/hello-codec.js'
import { buildSignedFrame } from '../../ts/overlay/signing.js'
import { Flag, MsgType } from '../../ts/core/protocol.js'
import { tcp } from '../../ts/transport/tcp.js'
import { inbox, startNet, type TestNet } from '../../common/net.js'

export const CHAT = 1001
const utf8 = new TextEncoder()
const text = new TextDecoder()

export function randomMessageId(): bigint {
  return randomBytes(8).readBigUInt64BE(0)
}

/** A signed broadcast DATA frame by `who` on plugin CHAT. */
export function signedBroadcast(who: Identity, body: Uint8Array, id = randomMessageId()): Uint8Array {
  return buildSignedFrame(who, { type: MsgType.DATA, flags: Flag.BROADCAST, pluginId: CHAT, messageId: id, body })
}

/**
 * A signed HELLO by `who` for `username`, stamped `at` (its sequence number,
 * Unix ms; default now in real time — on a manual clock pass `net.clock.wall()`).
 */
export function signedHello(who: Identity, username: string, at: number | bigint = Date.now()): Uint8Array {
  const seq = typeof at === 'bigint' ? at : BigInt(Math.floor(at))
  const body = encodeHello({ username, staticKey: who.staticPublicKey, host: '127.0.0.1', port: 9, seq, features: 0, plugins: [CHAT] })
  return buildSignedFrame(who, { type: MsgType.HELLO, flags: Flag.BROADCAST, messageId: randomMessageId(), body })
}

/**
 * Three honest nodes a, b, c, each linked to the other two, running CHAT; on
 * the memory transport with a manual clock. Each dials every earlier node
 * (topology 'full'), so they reach their two links without walks: a walk
 * still travelling once they are linked could end in a second dial between
 * two linked nodes, and the overlay, resolving that duplicate, ignores what
 * was already sent on the session it drops (see the report: an honest unicast
 * lost on TCP).
 */
export function honestNet(transport: 'memory' | 'tcp', opts: Partial<NodeOptions> = {}): Promise<TestNet> {
  return startNet({
    n: 3,
    transport,
    ...(transport === 'memory' ? { clock: 'manual' as const } : {}),
    topology: 'full',
    options: (i) => ({ username: ['a', 'b', 'c'][i]!, links: { min: 2, max: 4 }, ...opts }),
    plugins: [CHAT],
  })
}

export function rogueTransport(net: TestNet): Transport {
  return net.network ? memoryTransport(net.network) : tcp
}

/**
 * Runs `attack` while the honest nodes keep talking: every 10 ms nodes[1]
 * broadcasts and nodes[2] sends a unicast to nodes[0]. Afterwards every
 * broadcast must reach every other honest node and every unicast nodes[0].
 */
export async function whileHonestTalk<T>(net: TestNet, attack: () => Promise<T>): Promise<T> {
  const honest = net.nodes
  const [a, b, c] = honest as [Node, Node, Node]
  const boxes = new Map(honest.map((x) => [x.username, inbox(x.plugin(CHAT))]))
  let k = 0
  let stop = false
  let failed: unknown = null
  let step = 'starting'
  let talked = false
  const talker = (async () => {
    while (!stop) {
      const n = k
      step = `broadcast b${n}`
      await b.plugin(CHAT).broadcast(utf8.encode(`b${n}`))
      step = `send u${n}`
      await c.plugin(CHAT).send(a.username, utf8.encode(`u${n}`))
      k++
      step = 'pausing'
      await net.sleep(10)
    }
  })()
    .catch((err: unknown) => (failed = err))
    .finally(() => (talked = true))
  let result: T
  try {
    result = await attack()
    // At least a few rounds, however quick the attack was.
    await net.until(() => k >= 5 || failed !== null, 5000, 'five rounds of honest traffic')
  } finally {
    stop = true
    // Time moves while the talker finishes: a broadcast waiting for a relay
    // token waits on the (manual) clock. Named, so that a talker stuck in a
    // broadcast or send fails by what it awaited.
    await net.until(() => talked, 10_000, () => `the honest talker to stop (at ${step})`)
    await talker
  }
  if (failed !== null) {
    throw new Error(`honest traffic failed during the attack: ${String((failed as Error)?.message ?? failed)}; cut-offs ${JSON.stringify(honest.map((x) => x.stats().cutOffReasons))}`)
  }
  const sent = k
  const got = (x: Node, prefix: string, from: string): string[] => boxes.get(x.username)!.filter((m: PluginMessage) => m.from === from && text.decode(m.data).startsWith(prefix)).map((m) => text.decode(m.data))
  const count = (x: Node, prefix: string, from: string): number => got(x, prefix, from).length
  /** Which of the `sent` messages `prefix`0 … are not in `have` (for the failure message). */
  const missing = (prefix: string, have: string[]): string => {
    const set = new Set(have)
    const out: string[] = []
    for (let i = 0; i < sent; i++) if (!set.has(`${prefix}${i}`)) out.push(`${prefix}${i}`)
    return out.length > 10 ? `${out.slice(0, 10).join(',')},…` : out.join(',')
  }
  const counters = (x: Node): string => {
    const st = x.stats()
    return `${x.username}: delivered ${st.delivered} dropped ${st.dropped} slow ${st.droppedSlowPeer} unknownOrigin ${st.unknownOrigin} badFrame ${st.badFrame} throttled ${st.throttled} relayDropped ${st.relayDropped} handshakeFailures ${st.handshakeFailures}`
  }
  await net.until(
    () => count(a, 'b', b.username) === sent && count(c, 'b', b.username) === sent && count(a, 'u', c.username) === sent,
    10_000,
    () =>
      `honest traffic: ${sent} sent; broadcasts at ${a.username} ${count(a, 'b', b.username)}, at ${c.username} ${count(c, 'b', b.username)}; unicasts ${count(a, 'u', c.username)}; ` +
      `missing: ${[missing('b', got(a, 'b', b.username)), missing('b', got(c, 'b', b.username)), missing('u', got(a, 'u', c.username))].join(' | ')}; ` +
      `cut-offs ${JSON.stringify(honest.map((x) => x.stats().cutOffReasons))}, links ${JSON.stringify(honest.map((x) => x.links({ direct: true }).map((l) => `${l.username}:${l.status}`)))}; ${honest.map(counters).join('; ')}`,
  )
  return result
}

