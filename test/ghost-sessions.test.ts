// Sessions the overlay does not keep (the losing side of a duplicate link, a
// link replaced by a newer one, a link over links.hardCap) are torn down
// within the close deadline, whatever the peer does, and never have their
// frames processed. The attacker runs in its own process
// (helpers/attacker.ts) so that this process's file descriptors and
// memory are the victim's alone.
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { createNode, type Node } from '../ts/index.js'
import { waitFor } from '../common/net.js'

const MB = 1024 * 1024
const ATTACKER = fileURLToPath(new URL('./helpers/attacker.js', import.meta.url))
/** The overlay's close deadline (ts/overlay/peer-table.ts CLOSE_DEADLINE_MS) plus slack for a busy machine. */
const DEADLINE_MS = 1000 + 2000

/** Open TCP sockets of this process (not the attacker's stdio, which are Unix sockets). */
function openFds(): number {
  const tcpInodes = new Set<string>()
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[9]
      if (inode && inode !== '0') tcpInodes.add(inode)
    }
  }
  let n = 0
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))
      if (m && tcpInodes.has(m[1]!)) n++
    } catch {
      // closed between the listing and the readlink
    }
  }
  return n
}

/** Memory held in ArrayBuffers and Buffers (where received frames live), after a collection when one can be forced. */
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as (() => void) | undefined
function external(collect = false): number {
  if (collect) gc?.()
  return process.memoryUsage().arrayBuffers
}

/** Starts the attacker; resolves with it and its output lines once it printed "done". */
function attack(port: number, mode: string, n: number): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(process.execPath, [ATTACKER, String(port), mode, String(n)], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  return new Promise((resolve, reject) => {
    let buf = ''
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      const parts = buf.split('\n')
      buf = parts.pop()!
      lines.push(...parts)
      if (parts.includes('done')) resolve({ child, lines })
    })
    child.on('exit', (code) => reject(new Error(`attacker exited (${String(code)}) before it was done: ${err.slice(-500)}`)))
  })
}

async function victim(opts: { hardCap?: number; maxPendingHandshakes?: number } = {}): Promise<{ node: Node; honest: Node }> {
  const node = await createNode({ username: 'victim', links: { min: 0, max: Math.min(2, opts.hardCap ?? 4), hardCap: opts.hardCap ?? 4 }, quotas: { maxPendingHandshakes: opts.maxPendingHandshakes ?? 64 } })
  await node.start()
  const honest = await createNode({ username: 'honest', bootstrap: [node.address], links: { min: 1, max: 2 } })
  await honest.start()
  await waitFor(() => node.links().some((l) => l.username === 'honest'), 5000, 'the honest link')
  return { node, honest }
}

test('one identity reconnecting 120 times: the sessions it replaces are closed within the deadline, file descriptors return to their bound', async () => {
  const maxPending = 16
  const { node, honest } = await victim({ maxPendingHandshakes: maxPending })
  let child: ChildProcess | undefined
  try {
    const base = openFds()
    let peak = base
    const sampler = setInterval(() => (peak = Math.max(peak, openFds())), 5)
    let run: { child: ChildProcess; lines: string[] }
    try {
      // Far more sessions than maxPendingHandshakes (16): the bound has to hold them back.
      run = await attack(node.address.port, 'reconnect', 120)
      child = run.child
    } finally {
      clearInterval(sampler)
    }
    const up = run.lines.filter((l) => l.startsWith('session')).length
    assert.ok(up > maxPending, `the attacker got ${up} sessions up`)
    // At most one kept link, the sessions being torn down (bounded by maxPendingHandshakes
    // together with the handshakes in progress), and the listener's accept in flight.
    assert.ok(peak <= base + maxPending + 3, `file descriptors peaked at ${peak} (base ${base})`)
    await waitFor(() => openFds() <= base + 1, DEADLINE_MS, () => `file descriptors back to at most ${base + 1} (now ${openFds()})`)
    assert.ok(node.links().filter((l) => l.username === 'ghost').length <= 1, 'one link for the identity at most')
    assert.ok(node.links().some((l) => l.username === 'honest'), 'the honest link stayed')
  } finally {
    child?.kill()
    await Promise.all([node.stop(), honest.stop()])
  }
})

test('peers over hardCap that never close, each with half of a 16 MiB frame sent: refused, torn down within the deadline, their bytes not kept', async () => {
  // hardCap 1: the honest link fills it, so every attacker is refused.
  const { node, honest } = await victim({ hardCap: 1 })
  let child: ChildProcess | undefined
  try {
    const baseFds = openFds()
    const baseMem = external(true)
    let peakMem = baseMem
    const sampler = setInterval(() => (peakMem = Math.max(peakMem, external())), 5)
    try {
      const run = await attack(node.address.port, 'announce', 10)
      child = run.child
      await waitFor(() => openFds() <= baseFds, DEADLINE_MS, () => `file descriptors back to ${baseFds} (now ${openFds()})`)
    } finally {
      clearInterval(sampler)
    }
    // A refused session's bytes are never opened: no 16 MiB frame buffer is allocated for
    // any of them (ten would be 160 MiB), and nothing is held once they are torn down.
    const after = external(true) - baseMem
    assert.ok(after < 4 * MB, `${(after / MB).toFixed(1)} MiB held after the deadline`)
    assert.ok(peakMem - baseMem < 16 * MB, `memory peaked ${((peakMem - baseMem) / MB).toFixed(1)} MiB over the base`)
    assert.equal(node.links().map((l) => l.username), ['honest'])
    assert.ok(node.links().some((l) => l.username === 'honest'), 'the honest link stayed')
  } finally {
    child?.kill()
    await Promise.all([node.stop(), honest.stop()])
  }
})

test.run()
