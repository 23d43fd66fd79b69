// The peer cache holds only addresses this node proved itself: it dialled
// them and the handshake showed a key. Inbound links claiming listen ports
// (260 short links from one host once replaced every honest entry) add
// nothing.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { createNode, generateIdentity, ManualClock, memoryTransport, MemoryNetwork } from '../ts/index.js'
import { initiateSession } from '../ts/session/handshake.js'
import { LinkIntent } from '../ts/session/handshake-payload.js'
import { tempDirs } from './helpers/tmp.js'

const tmp = tempDirs('p4net-cache-flood-')
test.after(tmp.cleanup)

test('260 inbound links claiming listen ports add nothing to the peer cache; the dialled bootstrap stays', async () => {
  const dir = tmp.make()
  const network = new MemoryNetwork()
  const transport = memoryTransport(network)
  // Clock time: each short link needs no real time, only its handshake's I/O.
  const clock = new ManualClock({ idle: () => network.idle })
  const boot = await createNode({ username: 'boot', transport, clock })
  await boot.start()
  // vic's bootstrap is the one address it dials.
  const vicWithBoot = await createNode({ username: 'vic', transport, clock, dataDir: dir, bootstrap: [boot.address], links: { min: 1, max: 2, hardCap: 8 } })
  try {
    await vicWithBoot.start()
    await clock.until(() => vicWithBoot.links().some((l) => l.username === 'boot'), 3000, 'vic linked to its bootstrap')
    for (let i = 0; i < 260; i++) {
      const conn = await transport.dial(vicWithBoot.address.host, vicWithBoot.address.port, { timeoutMs: 3000 })
      const h = await initiateSession(conn, { identity: generateIdentity(), username: `flood${i}`, intent: LinkIntent.OVERLAY, listenPort: 20_000 + i, timeoutMs: 3000, clock })
      h.conn.resume()
      // A short link: up at vic, then gone.
      await clock.until(() => vicWithBoot.links().some((l) => l.username === `flood${i}`), 3000, `flood${i} linked`)
      h.conn.destroy()
      await clock.until(() => !vicWithBoot.links().some((l) => l.username === `flood${i}`), 3000, `flood${i} gone`)
    }
    await vicWithBoot.stop()
    const file = JSON.parse(readFileSync(join(dir, 'peers.json'), 'utf8')) as { peers: Array<{ host: string; port: number }> }
    assert.equal(file.peers.map((p) => `${p.host}:${p.port}`), [`${boot.address.host}:${boot.address.port}`])
  } finally {
    await Promise.all([boot.stop(), vicWithBoot.stop()])
  }
})

test.run()
