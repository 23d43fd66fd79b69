// A minimal chat on p4net: every line typed goes to everyone running plugin 1001.
//   node dist/examples/chat.js --username alice [--port 4001]
//   node dist/examples/chat.js --username bob --bootstrap 127.0.0.1:4001
// (`p4net chat` is the full client, with /msg, /names, /latency ...)
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { createNode } from '../ts/index.js' // in an application: from 'p4net'

const USAGE = 'usage: chat.js --username NAME [--port PORT] [--bootstrap HOST:PORT ...]'

function options() {
  try {
    return parseArgs({
      options: {
        username: { type: 'string' },
        port: { type: 'string', default: '0' },
        bootstrap: { type: 'string', multiple: true, default: [] },
        help: { type: 'boolean' },
      },
    }).values
  } catch (err) {
    // An unknown or malformed option: one line and the usage, not a stack.
    console.error(`chat.js: ${(err as Error).message}\n${USAGE}`)
    process.exit(2)
  }
}

const values = options()
if (values.help) {
  console.log(USAGE)
  process.exit(0)
}
if (!values.username) {
  console.error(USAGE)
  process.exit(2)
}

const node = await createNode({ username: values.username, port: Number(values.port), bootstrap: values.bootstrap })
const chat = node.plugin(1001)
const text = new TextDecoder()
// Strip control characters: a peer must not be able to drive our terminal.
chat.on('message', (m) => console.log(`<${m.from}> ${text.decode(m.data).replace(/[\x00-\x1f\x7f]/g, '?')}`))
node.on('user-joined', (user: string) => console.log(`* ${user} joined`))
node.on('user-left', (user: string) => console.log(`* ${user} left`))
await node.start()
console.log(`* ${node.username} listening on ${node.address.host}:${node.address.port}`)

// Until end of input (Ctrl-D, or the end of a pipe), then leave cleanly.
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() !== '') await chat.broadcast(new TextEncoder().encode(line))
}
await node.stop()
