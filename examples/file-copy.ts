// Copies a file to another user over a p4net stream (plugin.openStream):
//   node dist/examples/file-copy.js --username bob --receive DIR [--port 4001] [--once]
//   node dist/examples/file-copy.js --username alice --bootstrap 127.0.0.1:4001 --to bob FILE
// The stream carries a small header (u16 name length, the file's base name),
// then the bytes; the receiver answers "ok <bytes>" and both ends close.
// Flow control is the stream's own: a slow disk at the receiver slows the
// sender through pipeline(), without buffering the file in memory.
import { createReadStream, createWriteStream, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { createNode, type P4Stream } from '../ts/index.js' // in an application: from 'p4net'

const PLUGIN = 1002
const USAGE = `usage: file-copy.js --username NAME --receive DIR [--port PORT] [--once] [--bootstrap HOST:PORT ...]
       file-copy.js --username NAME --bootstrap HOST:PORT --to USER FILE`

function options() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        username: { type: 'string' },
        port: { type: 'string', default: '0' },
        bootstrap: { type: 'string', multiple: true, default: [] },
        receive: { type: 'string' },
        once: { type: 'boolean', default: false },
        to: { type: 'string' },
        help: { type: 'boolean' },
      },
    })
  } catch (err) {
    // An unknown or malformed option: one line and the usage, not a stack.
    console.error(`file-copy.js: ${(err as Error).message}\n${USAGE}`)
    process.exit(2)
  }
}

const { values, positionals } = options()
if (values.help) {
  console.log(USAGE)
  process.exit(0)
}
const sending = values.to !== undefined
if (!values.username || sending === (values.receive !== undefined) || (sending && positionals.length !== 1)) {
  console.error(USAGE)
  process.exit(2)
}

const node = await createNode({ username: values.username, port: Number(values.port), bootstrap: values.bootstrap })
const files = node.plugin(PLUGIN)

/** Reads the header (u16 length, name) off the front of the stream; the rest stays in it. */
async function readName(s: P4Stream): Promise<string> {
  let head = Buffer.alloc(0)
  for (;;) {
    const c = s.read() as Buffer | null
    if (c === null) {
      if (s.readableEnded) throw new Error('stream ended inside the header')
      await new Promise((r) => s.once('readable', r))
      continue
    }
    head = Buffer.concat([head, c])
    if (head.length >= 2 && head.length >= 2 + head.readUInt16BE(0)) break
  }
  const n = head.readUInt16BE(0)
  const rest = head.subarray(2 + n)
  if (rest.length > 0) s.unshift(rest)
  // Only a base name: a peer must not write outside the directory.
  return basename(head.subarray(2, 2 + n).toString('utf8')).replace(/[\x00-\x1f\x7f]/g, '?')
}

if (!sending) {
  const dir = values.receive!
  files.on('stream', (s, from) => {
    s.on('error', (err) => console.error(`! from ${from}: ${err.message}`))
    void (async () => {
      const name = await readName(s)
      const out = createWriteStream(join(dir, name))
      let bytes = 0
      s.on('data', (c: Buffer) => (bytes += c.length))
      // pipeline() leaves the stream's writable side open for the answer.
      await pipeline(s, out)
      console.log(`* received ${name} (${bytes} bytes) from ${from}`)
      s.end(`ok ${bytes}\n`)
      if (values.once) {
        await new Promise((r) => s.once('close', r))
        await node.stop()
      }
    })().catch((err: Error) => {
      console.error(`! from ${from}: ${err.message}`)
      s.destroy()
    })
  })
  await node.start()
  console.log(`* ${node.username} listening on ${node.address.host}:${node.address.port}, files go to ${dir}`)
} else {
  const to = values.to!
  const file = positionals[0]!
  const size = statSync(file).size
  await node.start()
  await node.waitForUser(to, { plugin: PLUGIN, timeout: 15_000 })
  const s = await files.openStream(to)
  const name = Buffer.from(basename(file), 'utf8')
  const head = Buffer.alloc(2)
  head.writeUInt16BE(name.length)
  s.write(Buffer.concat([head, name]))
  let answer = ''
  s.setEncoding('utf8').on('data', (t: string) => (answer += t))
  const answered = new Promise((resolve, reject) => {
    s.once('end', resolve)
    s.once('error', reject)
  })
  // end() after the file: the receiver sees the stream's end as the file's end.
  await pipeline(createReadStream(file), s).catch((err: Error) => {
    console.error(`! ${err.message}`)
    process.exit(1)
  })
  await answered
  if (answer.trim() !== `ok ${size}`) {
    console.error(`! ${to} answered ${JSON.stringify(answer.trim())}, expected "ok ${size}"`)
    process.exit(1)
  }
  console.log(`* sent ${basename(file)} (${size} bytes) to ${to}`)
  await node.stop()
}
