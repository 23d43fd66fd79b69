// End-to-end encrypted streams (plugin.openStream(user, { encrypted: true })):
// chunks sealed between the two users' keys above the session, as a node
// carrying the stream sees them. Frames are watched (and altered) where they
// arrive, between the session and the stream mux: what a relay would carry.
// Memory network on a ManualClock, and one test over loopback TCP.
import * as assert from 'uvu/assert'
import { createDecipheriv, diffieHellman, hkdfSync, randomBytes } from 'node:crypto'
import { createNode, ManualClock, memoryTransport, tcp, MemoryNetwork, P4Error, type Node, type NodeOptions, type P4Stream, type Plugin } from '../ts/index.js'
import { x25519PublicKey } from '../ts/core/identity.js'
import { MsgType } from '../ts/core/protocol.js'
import { SizedAead } from '../ts/e2e-aead.js'
import type { PeerTable } from '../ts/overlay/peer-table.js'
import { StreamChannel, type ChannelHost, type ChunkBox } from '../ts/overlay/stream-channel.js'
import { decodeRst, encodeAccept, encodeOpen, StreamOp } from '../ts/overlay/stream-codec.js'
import type { Flow } from '../ts/session/flows.js'
import type { Frame } from '../ts/session/receiver.js'
import { streamBoxMaker, type StreamParty } from '../ts/stream-box.js'
import { fixedIdentity } from './helpers/identities.js'
import { readAll } from './helpers/read-all.js'
import { test } from './helpers/test.js'

const A = '10.0.0.1'
const B = '10.0.0.2'
const APP = 7

interface Pair {
  clock: ManualClock
  a: Node
  b: Node
  pa: Plugin
  pb: Plugin
  wait<T>(p: Promise<T>, what: string): Promise<T>
  stop(): Promise<void>
}

async function pair(optsB: Partial<NodeOptions> = {}): Promise<Pair> {
  let network!: MemoryNetwork
  const clock = new ManualClock({ wallAt: 0, idle: () => network.idle })
  network = new MemoryNetwork({ clock })
  const make = (host: string, username: string, o: Partial<NodeOptions>): Promise<Node> =>
    createNode({ username, host, transport: memoryTransport(network, { host }), links: { min: 0, max: 4 }, clock, ...o })
  const a = await make(A, 'a', {})
  const b = await make(B, 'b', optsB)
  const pa = a.plugin(APP)
  const pb = b.plugin(APP)
  await a.start()
  await b.start()
  const wait = async <T>(p: Promise<T>, what: string): Promise<T> => {
    let done = false
    const watched = p.finally(() => (done = true))
    watched.catch(() => undefined)
    await clock.until(() => done, 60_000, what)
    return watched
  }
  await wait(a.connect(B, b.address.port), 'a linking to b')
  await wait(Promise.all([a.waitForUser('b', { plugin: APP }), b.waitForUser('a', { plugin: APP })]), 'a and b knowing each other')
  return { clock, a, b, pa, pb, wait, stop: () => wait(Promise.all([a.stop(), b.stop()]), 'the nodes to stop').then(() => undefined) }
}

interface Seen {
  op: number
  stream: number
  payload: Buffer
}

/** STREAM frames `node` receives from `user`, as they come out of the session; `edit` may alter one before the mux sees it. */
function tap(node: Node, user: string, edit?: (f: Frame, n: number) => void): Seen[] {
  const session = (node as unknown as { overlay: { table: PeerTable } }).overlay.table.peerOf(user)!.session
  const inner = session.onframe!
  const seen: Seen[] = []
  session.onframe = (f) => {
    if (f.type === MsgType.STREAM) {
      edit?.(f, seen.length)
      seen.push({ op: f.idLo, stream: f.idHi, payload: Buffer.from(f.payload) })
    }
    inner(f)
  }
  return seen
}

const quiet = (s: P4Stream): P4Stream => s.on('error', () => undefined)

const errorOf = (s: P4Stream): Promise<P4Error> => new Promise((resolve) => s.once('error', (e) => resolve(e as P4Error)))

async function rejects(p: Promise<unknown>, code: string, match: RegExp): Promise<void> {
  try {
    await p
  } catch (err) {
    assert.instance(err, P4Error)
    assert.is((err as P4Error).code, code, (err as Error).message)
    assert.match((err as Error).message, match)
    return
  }
  assert.unreachable(`expected ${code}`)
}

/** a writes `up` and ends; b reads it all, then writes `down` and ends; both see `encrypted`. */
async function roundTrip(open: () => Promise<P4Stream>, pb: Plugin, up: Buffer, down: Buffer, wait: <T>(p: Promise<T>, what: string) => Promise<T>): Promise<{ atA: Buffer; atB: Buffer; s: P4Stream; flags: boolean[] }> {
  const flags: boolean[] = []
  const atB = new Promise<Buffer>((resolve, reject) =>
    pb.once('stream', (s) => {
      flags.push(s.encrypted)
      readAll(s).then((got) => {
        s.end(down)
        resolve(got)
      }, reject)
    }),
  )
  const s = await wait(open(), 'the encrypted stream')
  flags.push(s.encrypted)
  const back = readAll(s)
  s.end(up)
  return { atB: await wait(atB, "b's read"), atA: await wait(back, "a's read"), s, flags }
}

test('round trip of random data both ways with half-close; the wire carries only sealed chunks, credit counts plaintext', async () => {
  // An odd window: credit that counted the tag at one end only would overrun it.
  const t = await pair({ streams: { window: 10_007 } })
  try {
    const wire = tap(t.b, 'a')
    const up = randomBytes(300_001)
    const down = randomBytes(150_003)
    const r = await roundTrip(() => t.pa.openStream('b', { encrypted: true }), t.pb, up, down, t.wait)
    assert.equal(r.atB, up)
    assert.equal(r.atA, down)
    assert.equal(r.flags, [true, true], 'stream.encrypted at both ends')
    const data = wire.filter((f) => f.op === StreamOp.DATA)
    assert.ok(data.length > 1)
    // Each DATA is one sealed chunk: plaintext + 16 bytes, and no chunk of it in clear.
    assert.is(data.reduce((n, f) => n + f.payload.length, 0), up.length + 16 * data.length)
    for (const f of data) assert.is(up.indexOf(f.payload.subarray(0, 32)), -1)
    const [fin] = wire.filter((f) => f.op === StreamOp.FIN)
    assert.is(fin!.payload.length, 16, 'the FIN is a tag')
    assert.is(wire.find((f) => f.op === StreamOp.OPEN)!.payload.length, 21, 'OPEN: window, flags, salt')
    assert.is(t.b.stats().streamBytesIn, up.length, 'plaintext bytes')
    assert.is(t.a.stats().streamBytesIn, down.length)
    assert.is(t.b.stats().decryptFailed + t.a.stats().decryptFailed, 0)
  } finally {
    await t.stop()
  }
})

test('a chunk altered on the way resets the stream at both ends with DECRYPT_FAILED: nothing forged is read, the link stays', async () => {
  const t = await pair()
  try {
    let dataSeen = 0
    // The second DATA frame gets one bit flipped, as a node carrying the stream might.
    tap(t.b, 'a', (f) => {
      if (f.idLo === StreamOp.DATA && ++dataSeen === 2) f.payload[100] ^= 0x01
    })
    const got: Buffer[] = []
    let inbound!: P4Stream
    const accepted = new Promise<void>((resolve) =>
      t.pb.once('stream', (s) => {
        inbound = quiet(s)
        s.on('data', (c: Buffer) => got.push(c))
        resolve()
      }),
    )
    const s = quiet(await t.wait(t.pa.openStream('b', { encrypted: true }), 'the stream'))
    await t.wait(accepted, 'b accepting')
    const [errA, errB] = [errorOf(s), errorOf(inbound)]
    const data = randomBytes(200_000)
    s.write(data)
    const [ea, eb] = await t.wait(Promise.all([errA, errB]), 'both ends failing')
    assert.is(eb.code, 'DECRYPT_FAILED')
    assert.match(eb.message, /a chunk did not open \(tampered with on the way, or not sealed by a\)/)
    assert.is(ea.code, 'DECRYPT_FAILED')
    assert.match(ea.message, /reset by b/)
    const read = Buffer.concat(got)
    assert.ok(read.length <= 65536, 'at most the chunk before the altered one')
    assert.equal(read, data.subarray(0, read.length), 'only bytes a sent')
    assert.is(t.b.stats().decryptFailed, 1)
    assert.is(t.b.links().length, 1, 'one bad chunk does not cut the peer off')
  } finally {
    await t.stop()
  }
})

test('an altered FIN (a forged clean end) resets the stream with DECRYPT_FAILED instead of ending it', async () => {
  const t = await pair()
  try {
    tap(t.b, 'a', (f) => {
      if (f.idLo === StreamOp.FIN) f.payload[0] ^= 0x80
    })
    const inbound = new Promise<P4Stream>((resolve) => t.pb.once('stream', (s) => resolve(quiet(s))))
    const s = quiet(await t.wait(t.pa.openStream('b', { encrypted: true }), 'the stream'))
    const atB = await t.wait(inbound, 'b accepting')
    let ended = false
    atB.on('end', () => (ended = true))
    const err = errorOf(atB)
    atB.resume()
    s.end(Buffer.from('all of it'))
    assert.is((await t.wait(err, "b's stream failing")).code, 'DECRYPT_FAILED')
    assert.is(ended, false)
  } finally {
    await t.stop()
  }
})

test('a node without encrypted streams: UNSUPPORTED before anything is sent, both ways; an encrypted OPEN sent anyway is refused', async () => {
  // maxMessage 61,440: sessions take a 64 KiB DATA but not a sealed one, so b announces STREAMS without STREAM_BOX1.
  const t = await pair({ maxMessage: 61_440 })
  try {
    const atB = tap(t.b, 'a')
    await rejects(t.pa.openStream('b', { encrypted: true }), 'UNSUPPORTED', /b's node does not support end-to-end encrypted streams .*STREAM_BOX1/)
    await rejects(t.pb.openStream('a', { encrypted: true }), 'UNSUPPORTED', /encrypted streams are off on this node/)
    assert.equal(atB, [], 'no frame reached b')
    // A plain stream still opens.
    t.pb.on('stream', (s) => quiet(s).end())
    const s = quiet(await t.wait(t.pa.openStream('b'), 'a plain stream'))
    assert.is(s.encrypted, false)
    // A peer that sends an encrypted OPEN regardless gets RST UNSUPPORTED.
    const atA = tap(t.a, 'b')
    const session = (t.a as unknown as { overlay: { table: PeerTable } }).overlay.table.peerOf('b')!.session
    session.send(MsgType.STREAM, 0, 0, APP, 99, StreamOp.OPEN, encodeOpen(65536, new Uint8Array(16)))
    await t.clock.until(() => atA.some((f) => f.op === StreamOp.RST && f.stream === (99 | 0x80000000) >>> 0), 10_000, 'the RST')
    assert.is(decodeRst(atA.find((f) => f.op === StreamOp.RST)!.payload).code, 'UNSUPPORTED')
  } finally {
    await t.stop()
  }
})

test('two streams between the same users, and a stream opened again, never share keys: same plaintext, different bytes on the wire', async () => {
  const t = await pair()
  try {
    const wire = tap(t.b, 'a')
    t.pb.on('stream', (s) => quiet(s).resume().on('end', () => s.end()))
    const text = Buffer.alloc(1000, 0x41)
    const send = async (encrypted: boolean): Promise<void> => {
      const s = quiet(await t.wait(t.pa.openStream('b', { encrypted }), 'a stream'))
      const closed = new Promise((r) => s.once('close', r))
      s.resume()
      s.end(text)
      await t.wait(closed, 'the stream closing')
    }
    await Promise.all([send(true), send(true)])
    await send(true) // after both closed
    await send(false)
    const data = wire.filter((f) => f.op === StreamOp.DATA)
    assert.is(data.length, 4)
    const [e1, e2, e3, plain] = data.map((f) => f.payload.toString('hex'))
    assert.is(new Set([e1, e2, e3]).size, 3, 'three encrypted streams, three ciphertexts')
    assert.is(plain, text.toString('hex'), 'the plain stream, for contrast, is plaintext above the session')
    const opens = wire.filter((f) => f.op === StreamOp.OPEN).map((f) => f.payload.subarray(5).toString('hex'))
    assert.is(new Set(opens.slice(0, 3)).size, 3, 'a fresh salt in every OPEN')
  } finally {
    await t.stop()
  }
})

test('a plugin with requireEncrypted refuses plain streams (STREAM_REFUSED at the opener, counted) and accepts encrypted ones', async () => {
  const t = await pair()
  try {
    const strict = t.b.plugin(8, { requireEncrypted: true })
    const pa8 = t.a.plugin(8)
    await t.wait(t.a.waitForUser('b', { plugin: 8 }), 'b running plugin 8')
    let accepted = 0
    strict.on('stream', (s) => {
      accepted++
      quiet(s).end()
    })
    const before = t.b.stats().notEncrypted
    await rejects(t.wait(pa8.openStream('b'), 'a plain stream refused'), 'STREAM_REFUSED', /only end-to-end encrypted streams/)
    assert.is(t.b.stats().notEncrypted, before + 1)
    assert.is(accepted, 0)
    const s = quiet(await t.wait(pa8.openStream('b', { encrypted: true }), 'an encrypted stream'))
    assert.is(s.encrypted, true)
    assert.is(accepted, 1)
  } finally {
    await t.stop()
  }
})

test('bad options are rejected with their code before anything is opened', async () => {
  const t = await pair()
  try {
    await rejects(t.pa.openStream('b', { encrypted: 'yes' } as never), 'BAD_ARGUMENT', /encrypted must be a boolean/)
    await rejects(t.pa.openStream('b', { encrypted: 1 } as never), 'BAD_ARGUMENT', /encrypted must be a boolean/)
    await rejects(t.pa.openStream('b', { encrypted: true, window: 1 } as never), 'BAD_ARGUMENT', /unknown stream option "window"/)
    await rejects(t.pa.openStream('nobody', { encrypted: true }), 'UNKNOWN_USER', /nobody/)
    await rejects(t.pa.openStream('a', { encrypted: true }), 'BAD_ARGUMENT', /another user/)
    assert.is(t.a.stats().streamsOpened, 0)
  } finally {
    await t.stop()
  }
})

test('the sealing is the documented one: keys, nonces and AAD rebuilt with node:crypto alone; a direction stops at its chunk limit', () => {
  const [ia, ib] = [fixedIdentity(1), fixedIdentity(2)]
  const pa: StreamParty = { username: 'a', identityKey: ia.publicKey, staticKey: ia.staticPublicKey }
  const pb: StreamParty = { username: 'b', identityKey: ib.publicKey, staticKey: ib.staticPublicKey }
  const secret = new Uint8Array(diffieHellman({ privateKey: ia.staticKey, publicKey: x25519PublicKey(ib.staticPublicKey) }))
  const k = { streamId: 5, pluginId: APP, openerSalt: new Uint8Array(16).fill(1), acceptorSalt: new Uint8Array(16).fill(2) }
  const opener = streamBoxMaker(new SizedAead(0), secret, pa, pb, true, 3)(k)
  const acceptor = streamBoxMaker(new SizedAead(0), secret, pb, pa, false)(k)
  const u8 = (n: number): Buffer => Buffer.of(n)
  const info = (d: number): Buffer =>
    Buffer.concat([Buffer.from('p4net/2 stream v1'), u8(d), ia.publicKey, ib.publicKey, ia.staticPublicKey, ib.staticPublicKey, Buffer.from([0, APP, 0, 0, 0, 5]), u8(1), Buffer.from('a'), u8(1), Buffer.from('b')])
  const key = (d: number): Buffer => Buffer.from(hkdfSync('sha256', secret, Buffer.concat([k.openerSalt, k.acceptorSalt]), info(d), 32))
  const reference = (d: number, kind: number, i: number, sealed: Uint8Array): Buffer => {
    const nonce = Buffer.alloc(12)
    nonce.writeUInt32BE(i, 8)
    const aad = Buffer.concat([Buffer.from('p4net/2 stream\0'), u8(kind), u8(d), Buffer.from([0, 0, 0, 5]), nonce.subarray(4)])
    const dec = createDecipheriv('chacha20-poly1305', key(d), nonce, { authTagLength: 16 })
    dec.setAAD(aad, { plaintextLength: sealed.length - 16 })
    dec.setAuthTag(sealed.subarray(sealed.length - 16))
    return Buffer.concat([dec.update(sealed.subarray(0, sealed.length - 16)), dec.final()])
  }
  const small = Buffer.from('small chunk, WASM')
  const large = randomBytes(70_000) // node:crypto
  const c0 = opener.seal(small)
  const c1 = opener.seal(large)
  assert.equal(reference(1, 1, 0, c0), small)
  assert.equal(reference(1, 1, 1, c1), large)
  assert.is(acceptor.open(c1), null, 'out of order')
  assert.equal(Buffer.from(acceptor.open(c0)!), small)
  assert.equal(Buffer.from(acceptor.open(c1)!), large)
  const back = acceptor.seal(small)
  assert.equal(reference(2, 1, 0, back), small)
  assert.equal(Buffer.from(opener.open(back)!), small)
  const end = opener.sealEnd()
  assert.equal(reference(1, 2, 2, end), Buffer.alloc(0))
  assert.is(acceptor.openEnd(end), true)
  // The opener's limit here is 3 chunks: the fourth seal refuses.
  assert.throws(() => opener.seal(small), (e: unknown) => e instanceof P4Error && e.code === 'NONCE_EXHAUSTED')
})

test('a direction that may seal no more resets its stream with the code (NONCE_EXHAUSTED): RST to the other side, the error to this one', async () => {
  const sent: Array<[number, Uint8Array]> = []
  const host: ChannelHost = {
    flow: () => ({ needDrain: false, on: () => undefined }) as unknown as Flow,
    send: (_ch, op, payload) => (sent.push([op, payload]), true),
    forget: () => undefined,
    unopened: () => undefined,
    stats: { streamBytesIn: 0 },
  }
  const spent: ChunkBox = {
    seal: () => {
      throw new P4Error('NONCE_EXHAUSTED', 'no more chunks')
    },
    open: () => null,
    sealEnd: () => new Uint8Array(16),
    openEnd: () => false,
  }
  const ch = new StreamChannel(host, 1, 'b', APP, 65536, () => spent)
  const errors: P4Error[] = []
  ch.sink = { data: () => undefined, fin: () => undefined, reset: (e) => errors.push(e), writable: () => undefined }
  const opened = ch.opened()
  ch.frame(StreamOp.WINDOW, encodeAccept(65536, new Uint8Array(16)))
  await opened
  assert.is(ch.write(new Uint8Array(10)), 0)
  assert.equal(sent.map(([op]) => op), [StreamOp.RST])
  assert.is(decodeRst(sent[0]![1]).code, 'NONCE_EXHAUSTED')
  assert.is(errors[0]?.code, 'NONCE_EXHAUSTED')
  assert.is(ch.closed, true)
})

test('over loopback TCP: an encrypted round trip of 2 MB each way next to a plain stream', async () => {
  const a = await createNode({ username: 'a', transport: tcp, links: { min: 0, max: 4 } })
  const b = await createNode({ username: 'b', transport: tcp, links: { min: 0, max: 4 } })
  const pa = a.plugin(APP)
  const pb = b.plugin(APP)
  await a.start()
  await b.start()
  try {
    await a.connect(b.address.host, b.address.port)
    await Promise.all([a.waitForUser('b', { plugin: APP }), b.waitForUser('a', { plugin: APP })])
    const up = randomBytes(2_000_000)
    const down = randomBytes(2_000_000)
    // b reads each stream to its end, then answers: `down` on the encrypted one, `up` on the plain one.
    const atB: Array<Promise<[boolean, Buffer]>> = []
    pb.on('stream', (s) => atB.push(readAll(s).then((got) => (s.end(s.encrypted ? down : up), [s.encrypted, got]))))
    const [enc, plain] = await Promise.all([pa.openStream('b', { encrypted: true }), pa.openStream('b')])
    assert.equal([enc.encrypted, plain.encrypted], [true, false])
    const backs = Promise.all([readAll(enc), readAll(plain)])
    enc.end(up)
    plain.end(down)
    const [encBack, plainBack] = await backs
    assert.equal(encBack, down)
    assert.equal(plainBack, up)
    const got = new Map(await Promise.all(atB))
    assert.equal(got.get(true), up)
    assert.equal(got.get(false), down)
    assert.is(a.stats().decryptFailed + b.stats().decryptFailed, 0)
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
})

test.run()
