// A shared counter on p4net. Each node counts its own increments and
// broadcasts its count; every node keeps the highest count seen per user, so
// all converge on the same total whatever the order, duplication or timing of
// messages (a grow-only counter). m.from is authenticated, so nobody can
// raise another user's count.
//   node dist/examples/counter.js --username a [--port P] [--bootstrap HOST:PORT] [--every MS] [--times N]
//   node dist/examples/counter.js --self-test [--nodes N]   (N nodes in one process; exit 0 once all agree)
import { parseArgs } from 'node:util'
import { createNode, type Node } from '../ts/index.js' // in an application: from 'p4net'

const COUNTER = 1002

/** One node's view of the counter. */
class SharedCounter {
  readonly counts = new Map<string, number>()
  constructor(readonly node: Node, onChange: (total: number) => void = () => undefined) {
    const plugin = node.plugin(COUNTER)
    plugin.on('message', (m) => {
      const n = Number(new TextDecoder().decode(m.data))
      if (Number.isSafeInteger(n) && n > (this.counts.get(m.from) ?? 0)) {
        this.counts.set(m.from, n)
        onChange(this.total)
      }
    })
    // Newcomers know nothing yet: tell them our count.
    node.on('user-joined', () => void this.announce().catch(() => undefined))
  }
  get mine(): number {
    return this.counts.get(this.node.username) ?? 0
  }
  get total(): number {
    let t = 0
    for (const n of this.counts.values()) t += n
    return t
  }
  increment(): Promise<void> {
    this.counts.set(this.node.username, this.mine + 1)
    return this.announce()
  }
  announce(): Promise<void> {
    return this.node.plugin(COUNTER).broadcast(new TextEncoder().encode(String(this.mine)))
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const USAGE = 'usage: counter.js --username NAME [--port PORT] [--bootstrap HOST:PORT ...] [--every MS] [--times N] | --self-test [--nodes N]'

function options() {
  try {
    return parseArgs({
      options: {
        username: { type: 'string' },
        port: { type: 'string', default: '0' },
        bootstrap: { type: 'string', multiple: true, default: [] },
        every: { type: 'string', default: '1000' },
        times: { type: 'string', default: '0' },
        'self-test': { type: 'boolean', default: false },
        nodes: { type: 'string', default: '3' },
        help: { type: 'boolean' },
      },
    }).values
  } catch (err) {
    // An unknown or malformed option: one line and the usage, not a stack.
    console.error(`counter.js: ${(err as Error).message}\n${USAGE}`)
    process.exit(2)
  }
}

const values = options()
if (values.help) {
  console.log(USAGE)
  process.exit(0)
}

if (values['self-test']) {
  // N nodes on loopback, each joining through the previous one; each adds 10.
  const n = Number(values.nodes)
  const nodes: Node[] = []
  const counters: SharedCounter[] = []
  for (let i = 0; i < n; i++) {
    const prev = nodes[i - 1]
    const node = await createNode({ username: `counter${i}`, bootstrap: prev ? [`127.0.0.1:${prev.address.port}`] : [] })
    counters.push(new SharedCounter(node))
    await node.start()
    nodes.push(node)
    const joinBy = Date.now() + 5000
    while (node.users(COUNTER).length < i + 1) {
      if (Date.now() > joinBy) throw new Error(`${node.username} did not join within 5 s`)
      await sleep(10)
    }
  }
  await Promise.all(counters.map(async (c) => {
    for (let k = 0; k < 10; k++) await c.increment()
  }))
  const deadline = Date.now() + 10_000
  while (!counters.every((c) => c.total === n * 10) && Date.now() < deadline) await sleep(20)
  const totals = counters.map((c) => c.total)
  console.log(`totals: ${totals.join(' ')} (expected ${n * 10} each)`)
  await Promise.all(nodes.map((node) => node.stop()))
  process.exit(totals.every((t) => t === n * 10) ? 0 : 1)
}

if (!values.username) {
  console.error(USAGE)
  process.exit(2)
}
const node = await createNode({ username: values.username, port: Number(values.port), bootstrap: values.bootstrap })
const counter = new SharedCounter(node, (total) => console.log(`total ${total}`))
await node.start()
console.log(`${node.username} listening on ${node.address.host}:${node.address.port}`)
const times = Number(values.times)
for (let k = 0; times === 0 || k < times; k++) {
  await sleep(Number(values.every))
  await counter.increment()
  console.log(`total ${counter.total} (mine ${counter.mine})`)
}
await node.stop()
