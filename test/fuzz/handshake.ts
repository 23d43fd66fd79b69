// Fuzz target of the handshake (preamble + Noise XX + payload) over an
// in-memory Conn pair whose bytes the fuzzer controls:
//   live     an honest initiator and responder, one message of the
//            transcript mutated in flight (or cut, or split byte by byte);
//   replay   a victim responder (or initiator) fed a mutated recording of
//            the other side, which can never authenticate (fresh ephemerals).
// Every handshake must end before its deadline with a result or a P4Error; a
// side that succeeds must have authenticated exactly the honest peer.
import { EventEmitter } from 'node:events'
import { P4Error, type P4ErrorCode } from '../../ts/core/errors.js'
import { generateIdentity, type Identity } from '../../ts/core/identity.js'
import { acceptSession, initiateSession, type HandshakeResult, type SessionOptions } from '../../ts/session/handshake.js'
import { LinkIntent } from '../../ts/session/handshake-payload.js'
import { initNoise } from '../../ts/session/noise.js'
import type { Conn, ConnEvents } from '../../ts/transport/types.js'
import type { FuzzTarget, Trial } from './harness.js'
import { mutate, Rng } from './rng.js'

/**
 * One end of an in-process byte pipe. Writes go to `onWrite` (the fuzzer
 * decides what reaches the other end); deliveries arrive as 'data' on a later
 * turn, honouring pause()/resume(); destroy() closes both ends.
 */
export class PipeConn extends EventEmitter implements Conn {
  peer!: PipeConn
  destroyed = false
  readonly writableLength = 0
  readonly remoteHost = '127.0.0.1'
  readonly localHost = '127.0.0.1'
  onWrite: (bytes: Uint8Array) => void = () => undefined
  private inbox: Buffer[] = []
  private flowing: boolean | null = null
  private scheduled = false

  constructor(
    readonly localPort: number,
    readonly remotePort: number,
  ) {
    super()
  }

  static pair(): [PipeConn, PipeConn] {
    const a = new PipeConn(40000, 4001)
    const b = new PipeConn(4001, 40000)
    a.peer = b
    b.peer = a
    return [a, b]
  }

  write(chunk: Uint8Array): boolean {
    if (this.destroyed) return false
    this.onWrite(Uint8Array.from(chunk))
    return true
  }

  /** Puts bytes in this end's inbox (what the remote "sent"). */
  deliver(bytes: Uint8Array): void {
    if (this.destroyed || bytes.length === 0) return
    this.inbox.push(Buffer.from(bytes))
    this.schedule()
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      while (this.flowing === true && !this.destroyed && this.inbox.length > 0) this.emit('data', this.inbox.shift()!)
    })
  }

  pause(): void {
    this.flowing = false
  }

  resume(): void {
    this.flowing = true
    this.schedule()
  }

  override on<E extends keyof ConnEvents>(event: E, listener: ConnEvents[E]): this {
    super.on(event, listener)
    if (event === 'data' && this.flowing === null) this.resume()
    return this
  }

  end(): void {
    this.destroy()
  }

  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.inbox = []
    setImmediate(() => this.emit('close'))
    this.peer.destroy()
  }
}

const CODES: P4ErrorCode[] = ['BAD_PREAMBLE', 'BAD_VERSION', 'BAD_HANDSHAKE', 'DECRYPT_FAILED', 'BAD_PAYLOAD', 'BAD_USERNAME', 'BAD_SIGNATURE', 'MESSAGE_TOO_LARGE', 'PEER_CLOSED', 'TIMEOUT']

interface Party {
  identity: Identity
  username: string
}

interface Recording {
  hash: 'BLAKE2s' | 'SHA256'
  /** Initiator's writes: CONNECT || message 1, then message 3. */
  fromInitiator: Uint8Array[]
  /** Responder's write: OK || message 2. */
  fromResponder: Uint8Array[]
}

type Outcome = { ok: true; result: HandshakeResult } | { ok: false; error: P4Error }

function settle(p: Promise<HandshakeResult>): Promise<Outcome> {
  return p.then(
    (result) => ({ ok: true, result }),
    (error: unknown) => {
      if (error instanceof P4Error) return { ok: false, error }
      throw error // a crash: not a P4Error
    },
  )
}

function opts(p: Party, hash: Recording['hash'], timeoutMs: number, extension?: Uint8Array): SessionOptions {
  return { identity: p.identity, username: p.username, listenPort: 4001, intent: LinkIntent.OVERLAY, hash, timeoutMs, extension }
}

/** Destroys the pipe once nothing was written for `turns` event-loop turns (both sides wait for bytes that will never come). */
function closeWhenQuiet(a: PipeConn, counter: () => number, turns = 4): void {
  let last = counter()
  let quiet = 0
  const tick = (): void => {
    if (a.destroyed) return
    const now = counter()
    if (now !== last) {
      last = now
      quiet = 0
    } else if (++quiet >= turns) {
      a.destroy()
      return
    }
    setImmediate(tick)
  }
  setImmediate(tick)
}

function check(o: Outcome, expectPeer: Party | null, who: string): void {
  if (!o.ok) {
    if (!CODES.includes(o.error.code)) throw new Error(`${who}: unexpected code ${o.error.code}: ${o.error.message}`)
    return
  }
  if (expectPeer === null) throw new Error(`${who}: completed a handshake with a replayed recording`)
  const r = o.result.remote
  if (Buffer.compare(r.identityKey, expectPeer.identity.publicKey) !== 0 || r.username !== expectPeer.username) {
    throw new Error(`${who}: authenticated ${r.username} under a key that is not the honest peer's`)
  }
}

function chunks(rng: Rng, bytes: Uint8Array): Uint8Array[] {
  if (rng.chance(0.1)) return Array.from(bytes, (b) => Uint8Array.of(b))
  const out: Uint8Array[] = []
  for (let at = 0; at < bytes.length; ) {
    const n = rng.chance(0.7) ? bytes.length - at : 1 + rng.int(bytes.length - at)
    out.push(bytes.subarray(at, at + n))
    at += n
  }
  return out
}

export async function handshakeTarget(): Promise<FuzzTarget> {
  await initNoise()
  const parties: Party[] = [
    { identity: generateIdentity(), username: 'initiator' },
    { identity: generateIdentity(), username: 'réponse' },
  ]
  const [ini, res] = parties as [Party, Party]
  // Recordings of honest handshakes (both hashes, with and without an extension).
  const recordings: Recording[] = []
  for (const hash of ['BLAKE2s', 'SHA256'] as const) {
    for (const ext of [undefined, new Uint8Array(300).fill(7)]) {
      const [a, b] = PipeConn.pair()
      const rec: Recording = { hash, fromInitiator: [], fromResponder: [] }
      a.onWrite = (x) => (rec.fromInitiator.push(x), b.deliver(x))
      b.onWrite = (x) => (rec.fromResponder.push(x), a.deliver(x))
      const [x, y] = await Promise.all([initiateSession(a, opts(ini, hash, 2000, ext)), acceptSession(b, opts(res, hash, 2000, ext))])
      x.conn.destroy()
      void y
      if (rec.fromInitiator.length !== 2 || rec.fromResponder.length !== 1) throw new Error('handshake fuzz: unexpected transcript shape')
      recordings.push(rec)
    }
  }
  const deadline = 1000
  return {
    name: 'handshake',
    codes: [],
    concurrency: 32,
    hangMs: deadline + 1000,
    async run(rng, describe): Promise<Trial> {
      const rec = rng.pick(recordings)
      const mode = rng.int(10)
      // 1 in 200 leaves the pipe open: the deadline (TIMEOUT) must end it.
      const stall = rng.chance(0.005)
      const timeoutMs = stall ? 30 : deadline
      const [a, b] = PipeConn.pair()
      let writes = 0
      if (mode < 5) {
        // live: one write of the transcript is mutated on its way.
        const target = rng.int(3) // 0: CONNECT||msg1, 1: OK||msg2, 2: msg3
        const pass = (idx: number, x: Uint8Array, to: PipeConn): void => {
          if (idx !== target) return to.deliver(x)
          const m = rng.chance(0.1) ? x.subarray(0, rng.int(x.length)) : mutate(rng, x, x.length + 64)
          describe(m)
          for (const c of chunks(rng, m)) to.deliver(c)
          if (!stall) closeWhenQuiet(a, () => writes)
        }
        let fromInitiator = 0
        a.onWrite = (x) => {
          writes++
          pass(fromInitiator++ === 0 ? 0 : 2, x, b)
        }
        b.onWrite = (x) => {
          writes++
          pass(1, x, a)
        }
        const [oi, or] = await Promise.all([settle(initiateSession(a, opts(ini, rec.hash, timeoutMs))), settle(acceptSession(b, opts(res, rec.hash, timeoutMs)))])
        a.destroy()
        check(oi, res, 'initiator')
        check(or, ini, 'responder')
        const code = !or.ok ? or.error.code : !oi.ok ? oi.error.code : undefined
        return { verdict: oi.ok && or.ok ? 'accepted' : 'rejected', allocLimit: 64 * 1024, code }
      }
      // replay: the victim talks to a recording.
      const victimIsResponder = mode < 8
      const stream = victimIsResponder ? Buffer.concat(rec.fromInitiator.slice(0, rng.chance(0.3) ? 1 : 2)) : rec.fromResponder[0]!
      const input = rng.chance(0.05) ? stream : mutate(rng, stream, stream.length + 64)
      describe(input)
      const [victim, other] = victimIsResponder ? [b, a] : [a, b]
      other.onWrite = () => undefined
      victim.onWrite = () => {
        writes++
      }
      const p = settle(victimIsResponder ? acceptSession(victim, opts(res, rec.hash, timeoutMs)) : initiateSession(victim, opts(ini, rec.hash, timeoutMs)))
      for (const c of chunks(rng, input)) victim.deliver(c)
      if (!stall) closeWhenQuiet(victim, () => writes)
      const o = await p
      victim.destroy()
      check(o, null, victimIsResponder ? 'responder' : 'initiator')
      return { verdict: 'rejected', allocLimit: 64 * 1024, code: o.ok ? undefined : o.error.code }
    },
  }
}
