// The socket-tuning addon and its fallback. Addon tests run only when the
// addon loads (the reason is printed otherwise); fallback tests always run.
// Loopback only, port 0.
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import * as fs from 'node:fs'
import * as net from 'node:net'
import { fileURLToPath } from 'node:url'
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import {
  checkSocketOptions,
  connInfo,
  fallbackTuner,
  loadNative,
  nativeTuner,
  nativeUnavailableReason,
  socketFd,
  socketTuner,
  type SocketOptions,
  type SocketTuner,
} from '../ts/native/index.js'
import { memoryTransport, MemoryNetwork } from '../ts/transport/memory.js'
import { DEFAULT_SOCKET_OPTIONS, tcpTransport, type TcpConn } from '../ts/transport/tcp.js'
import { throwsCode } from './helpers/errors.js'
import { connPair } from '../common/pair.js'
import { waitFor } from '../common/net.js'

const addon = loadNative()
const linux = addon?.platform === 'linux'

interface Pair {
  a: net.Socket
  b: net.Socket
  close(): Promise<void>
}

async function pair(): Promise<Pair> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const accepted = once(server, 'connection')
  const a = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  await once(a, 'connect')
  const [b] = (await accepted) as [net.Socket]
  return {
    a,
    b,
    async close() {
      a.destroy()
      b.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

const ALL: SocketOptions = {
  noDelay: true,
  quickAck: true,
  sendBuffer: 65536,
  receiveBuffer: 65536,
  keepAlive: { idleMs: 5000, intervalMs: 2000, count: 4 },
  userTimeoutMs: 15000,
}

// ---- validation (no addon needed) ----

test('checkSocketOptions accepts good options and returns a copy', () => {
  const out = checkSocketOptions(ALL)
  assert.equal(out, ALL)
  assert.is.not(out, ALL)
  assert.equal(checkSocketOptions({}), {})
  assert.equal(checkSocketOptions({ keepAlive: false, userTimeoutMs: 0 }), { keepAlive: false, userTimeoutMs: 0 })
})

test('bad socket options are BAD_OPTION', () => {
  const bad: unknown[] = [
    null,
    'fast',
    [],
    { nodelay: true },
    { noDelay: 1 },
    { quickAck: 'yes' },
    { sendBuffer: 0 },
    { sendBuffer: 1.5 },
    { sendBuffer: 2 ** 30 + 1 },
    { receiveBuffer: -1 },
    { receiveBuffer: Number.NaN },
    { userTimeoutMs: -1 },
    { userTimeoutMs: 2 ** 31 },
    { keepAlive: true },
    { keepAlive: { idleMs: 5000, intervalMs: 1000 } },
    { keepAlive: { idleMs: 1500, intervalMs: 1000, count: 3 } },
    { keepAlive: { idleMs: 0, intervalMs: 1000, count: 3 } },
    { keepAlive: { idleMs: 1000, intervalMs: 32_768_000, count: 3 } },
    { keepAlive: { idleMs: 1000, intervalMs: 1000, count: 0 } },
    { keepAlive: { idleMs: 1000, intervalMs: 1000, count: 128 } },
    { keepAlive: { idleMs: 1000, intervalMs: 1000, count: 3, extra: 1 } },
  ]
  for (const opts of bad) throwsCode(() => checkSocketOptions(opts), 'BAD_OPTION')
  throwsCode(() => tcpTransport({ socket: { sendBuffer: -5 } }), 'BAD_OPTION')
  throwsCode(() => tcpTransport({ socket: 'x' as unknown as SocketOptions }), 'BAD_OPTION')
  throwsCode(() => tcpTransport(null as unknown as object), 'BAD_OPTION')
  throwsCode(() => tcpTransport({ tuner: {} as SocketTuner }), 'BAD_OPTION')
  throwsCode(() => fallbackTuner().apply(new net.Socket(), { quickAck: 1 } as unknown as SocketOptions), 'BAD_OPTION')
})

// ---- fallback (always) ----

test('fallback applies noDelay and keepAlive idle, reports the rest as skipped', async () => {
  const p = await pair()
  try {
    const tuner = fallbackTuner()
    assert.is(tuner.kind, 'fallback')
    const r = tuner.apply(p.a, ALL)
    assert.equal(r.applied, ['noDelay', 'keepAlive', 'keepAlive.idleMs'])
    assert.equal(
      r.skipped.map((s) => s.option),
      ['keepAlive.intervalMs', 'keepAlive.count', 'quickAck', 'sendBuffer', 'receiveBuffer', 'userTimeoutMs'],
    )
    for (const s of r.skipped) assert.match(s.reason, /native addon/)
    assert.equal(tuner.read(p.a), {})
    assert.is(tuner.tcpInfo(p.a), undefined)
    if (addon) {
      // The addon, loaded in this process, proves Node's setters took effect.
      const fd = socketFd(p.a) as number
      assert.is(addon.getOption(fd, 'noDelay'), 1)
      assert.is(addon.getOption(fd, 'keepAlive'), 1)
      assert.is(addon.getOption(fd, 'keepIdle'), 5)
      tuner.apply(p.a, { noDelay: false, keepAlive: false })
      assert.is(addon.getOption(fd, 'noDelay'), 0)
      assert.is(addon.getOption(fd, 'keepAlive'), 0)
    } else {
      console.log('  (fallback effects not read back: no addon in this process)')
    }
  } finally {
    await p.close()
  }
})

test('tcp transport applies options through the fallback tuner', async () => {
  const t = tcpTransport({
    socket: { sendBuffer: 32768, keepAlive: { idleMs: 7000, intervalMs: 1000, count: 3 } },
    tuner: fallbackTuner(),
  })
  const { a, b, close } = await connPair(t)
  const [dialled, accepted] = [a as TcpConn, b as TcpConn]
  try {
    for (const conn of [dialled, accepted]) {
      assert.equal(conn.tuning.applied, ['noDelay', 'keepAlive', 'keepAlive.idleMs'])
      assert.equal(
        conn.tuning.skipped.map((s) => s.option),
        ['keepAlive.intervalMs', 'keepAlive.count', 'sendBuffer'],
      )
      if (addon) {
        const fd = socketFd(conn.socket) as number
        assert.is(addon.getOption(fd, 'noDelay'), 1)
        assert.is(addon.getOption(fd, 'keepIdle'), 7)
      }
    }
  } finally {
    dialled.destroy()
    accepted.destroy()
    await close()
  }
})

test('default options: noDelay on both ends of a default tcp transport', async () => {
  assert.equal(DEFAULT_SOCKET_OPTIONS, { noDelay: true })
  assert.ok(Object.isFrozen(DEFAULT_SOCKET_OPTIONS))
  const t = tcpTransport()
  const { a, b, close } = await connPair(t)
  const [dialled, accepted] = [a as TcpConn, b as TcpConn]
  try {
    for (const conn of [dialled, accepted]) {
      assert.ok(conn.tuning.applied.includes('noDelay'))
      assert.equal(conn.tuning.skipped, [])
      if (addon) assert.is(addon.getOption(socketFd(conn.socket) as number, 'noDelay'), 1)
    }
  } finally {
    dialled.destroy()
    accepted.destroy()
    await close()
  }
})

test('connInfo is undefined for non-TCP and closed conns', async () => {
  const mem = memoryTransport(new MemoryNetwork())
  const listener = await mem.listen('a', 1, () => {})
  const conn = await mem.dial('a', 1)
  assert.is(connInfo(conn), undefined)
  assert.is(connInfo(undefined), undefined)
  conn.destroy()
  await listener.close()
  const p = await pair()
  await p.close()
  assert.is(connInfo({ socket: p.a }), undefined)
  assert.is(socketFd(p.a), undefined)
  assert.is(socketFd(new net.Socket()), undefined)
})

test('P4NET_NO_NATIVE=1 selects the fallback and says so once on debug output', () => {
  const index = fileURLToPath(new URL('../ts/native/index.js', import.meta.url))
  const script = `const m = await import(${JSON.stringify(index)}); m.loadNative(); m.loadNative();
    console.log(JSON.stringify({ kind: m.socketTuner().kind, addon: m.loadNative() !== null, reason: m.nativeUnavailableReason() ?? null }))`
  const run = (env: NodeJS.ProcessEnv): { out: { kind: string; addon: boolean; reason: string | null }; err: string } => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8', timeout: 10_000 })
    assert.is(r.status, 0, r.stderr)
    return { out: JSON.parse(r.stdout), err: r.stderr }
  }
  const off = run({ ...process.env, P4NET_NO_NATIVE: '1', NODE_DEBUG: 'p4net:native' })
  assert.match(off.err, /P4NET:NATIVE .*: p4net runs without the native addon: disabled by P4NET_NO_NATIVE/)
  assert.equal(off.out, { kind: 'fallback', addon: false, reason: 'disabled by P4NET_NO_NATIVE' })
  assert.is(off.err.match(/runs without the native addon/g)?.length, 1)
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_DEBUG: '' }
  delete env.P4NET_NO_NATIVE
  const on = run(env)
  assert.not.match(on.err, /native/) // debug output is off unless NODE_DEBUG asks for it
  if (addon) assert.equal(on.out, { kind: 'native', addon: true, reason: null })
  else assert.is(on.out.kind, on.out.addon ? 'native' : 'fallback')
})

// ---- native (only when the addon loads) ----

function nativeTests(tuner: SocketTuner): void {
  const a = addon as NonNullable<typeof addon>

  test('native: addon shape and supported map', () => {
    assert.is(tuner.kind, 'native')
    assert.is(socketTuner().kind, 'native')
    for (const name of ['noDelay', 'sendBuffer', 'receiveBuffer', 'keepAlive', 'tcpInfo'] as const) {
      assert.is(a.supported[name], true, name)
    }
    if (linux) {
      for (const name of ['quickAck', 'keepIdle', 'keepInterval', 'keepCount', 'userTimeout'] as const) {
        assert.is(a.supported[name], true, name)
      }
    }
  })

  test('native: apply sets every option; getsockopt reads them back', async () => {
    const p = await pair()
    try {
      const r = tuner.apply(p.a, ALL)
      if (linux) assert.equal(r.skipped, [])
      const read = tuner.read(p.a)
      assert.is(read.noDelay, true)
      // Linux doubles SO_SNDBUF/SO_RCVBUF for its bookkeeping.
      assert.is(read.sendBuffer, linux ? 2 * 65536 : read.sendBuffer)
      assert.is(read.receiveBuffer, linux ? 2 * 65536 : read.receiveBuffer)
      if (linux) {
        assert.is(read.quickAck, true)
        assert.equal(read.keepAlive, { idleMs: 5000, intervalMs: 2000, count: 4 })
        assert.is(read.userTimeoutMs, 15000)
      }
      // And back the other way.
      tuner.apply(p.a, { noDelay: false, quickAck: false, keepAlive: false, userTimeoutMs: 0, sendBuffer: 16384 })
      const after = tuner.read(p.a)
      assert.is(after.noDelay, false)
      assert.is(after.keepAlive, false)
      if (linux) {
        assert.is(after.quickAck, false)
        assert.is(after.userTimeoutMs, 0)
        assert.is(after.sendBuffer, 2 * 16384)
      }
      // The other end was not touched.
      assert.is.not(tuner.read(p.b).sendBuffer, 2 * 65536)
    } finally {
      await p.close()
    }
  })

  test('native: tcp transport tunes dialled and accepted sockets', async () => {
    const t = tcpTransport({ socket: { receiveBuffer: 49152, userTimeoutMs: 9000 }, tuner })
    const { a, b, close } = await connPair(t)
    const [dialled, accepted] = [a as TcpConn, b as TcpConn]
    try {
      for (const conn of [dialled, accepted]) {
        const read = tuner.read(conn.socket)
        assert.is(read.noDelay, true)
        if (linux) {
          assert.equal(conn.tuning, { applied: ['noDelay', 'receiveBuffer', 'userTimeoutMs'], skipped: [] })
          assert.is(read.receiveBuffer, 2 * 49152)
          assert.is(read.userTimeoutMs, 9000)
        }
      }
    } finally {
      dialled.destroy()
      accepted.destroy()
      await close()
    }
  })

  test('native: tcpInfo and connInfo after an exchange', async () => {
    const p = await pair()
    try {
      const payload = Buffer.alloc(100_000, 7)
      let received = 0
      const all = new Promise<void>((resolve) => {
        p.b.on('data', (chunk: Buffer) => {
          received += chunk.length
          if (received === payload.length) resolve()
        })
      })
      p.a.write(payload)
      await all
      // The receiver has every byte; the sender's kernel learns so with the last ACK.
      if (linux) await waitFor(() => tuner.tcpInfo(p.a)?.unacked === 0, 2000, 'the last ACK at the sender')
      const info = tuner.tcpInfo(p.a)
      assert.ok(info)
      assert.ok(info.rttUs > 0, `rttUs ${info.rttUs}`)
      assert.ok(info.rttVarUs >= 0)
      assert.ok(info.sndCwnd > 0)
      if (linux) {
        assert.is(info.state, 1) // TCP_ESTABLISHED
        // Loopback can retransmit too (a tail-loss probe on a busy machine): the field is read, not its value assumed.
        assert.ok(Number.isInteger(info.totalRetrans) && info.totalRetrans! >= 0, `totalRetrans ${info.totalRetrans}`)
        assert.ok((info.bytesAcked ?? 0) >= payload.length)
        assert.is(info.unacked, 0)
        assert.is(info.packetsInFlight, 0)
        assert.is(tuner.tcpInfo(p.b)?.bytesReceived, payload.length)
      }
      const ci = connInfo({ socket: p.a })
      assert.ok(ci)
      assert.is(ci.rttMs, info.rttUs / 1000)
      assert.is(ci.cwnd, info.sndCwnd)
      if (linux) assert.is(ci.retransmits, info.totalRetrans)
    } finally {
      await p.close()
    }
  })

  test('native: errors carry errno text; the tuner turns them into skipped / IO_ERROR', async () => {
    const p = await pair()
    const file = fs.openSync(fileURLToPath(import.meta.url), 'r')
    try {
      const fd = socketFd(p.a) as number
      const err = (fn: () => unknown): Error & { code?: string; errno?: number } => {
        try {
          fn()
        } catch (e) {
          return e as Error
        }
        throw new Error('expected a throw')
      }
      const notSock = err(() => a.getOption(file, 'noDelay'))
      assert.is(notSock.code, 'ENOTSOCK')
      assert.match(notSock.message, /getsockopt\(TCP_NODELAY\): Socket operation on non-socket/)
      if (linux) {
        const inval = err(() => a.setOption(fd, 'keepIdle', 0))
        assert.is(inval.code, 'EINVAL')
        assert.match(inval.message, /setsockopt\(TCP_KEEPIDLE\): Invalid argument/)
      }
      assert.instance(err(() => a.getOption(fd, 'fast' as 'noDelay')), TypeError)
      assert.instance(err(() => a.getOption(-1, 'noDelay')), TypeError)
      assert.instance(err(() => a.setOption(fd, 'noDelay', 0.5)), TypeError)
      assert.instance(err(() => a.tcpInfo('3' as unknown as number)), TypeError)

      // A "socket" whose fd is a file: the tuner reports, never crashes.
      const fake = { _handle: { fd: file }, setNoDelay() {}, setKeepAlive() {} } as unknown as net.Socket
      const r = tuner.apply(fake, { noDelay: true, sendBuffer: 65536 })
      assert.equal(r.applied, ['noDelay'])
      assert.is(r.skipped[0].option, 'sendBuffer')
      assert.match(r.skipped[0].reason, /non-socket/)
      throwsCode(() => tuner.read(fake), 'IO_ERROR')
      throwsCode(() => tuner.tcpInfo(fake), 'IO_ERROR')
      assert.is(connInfo({ socket: Object.assign(fake, { destroyed: false }) }), undefined)
    } finally {
      fs.closeSync(file)
      await p.close()
    }
  })

  test('native: a socket without a file descriptor gets Node setters only', () => {
    const s = new net.Socket()
    const r = tuner.apply(s, { noDelay: true, receiveBuffer: 8192 })
    assert.equal(r.applied, ['noDelay'])
    assert.equal(r.skipped.map((x) => x.option), ['receiveBuffer'])
    assert.match(r.skipped[0].reason, /no file descriptor/)
    assert.equal(tuner.read(s), {})
    assert.is(tuner.tcpInfo(s), undefined)
    s.destroy()
  })
}

if (addon) nativeTests(nativeTuner(addon))
else console.log(`[native.test] addon tests not run: ${nativeUnavailableReason()}`)

test.run()
