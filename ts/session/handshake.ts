// The p4net handshake over a Conn: the P4 preamble, then Noise XX with the
// preamble bytes as prologue, each handshake message framed as u16 BE length
// || bytes. The initiator pipelines: CONNECT || message 1 go out in one write,
// and the responder answers OK || message 2 in one write, so the handshake
// takes 1.5 round trips. Result: the authenticated peer and the transport keys.
import { systemClock, type Clock } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import { checkIdentity, type Identity } from '../core/identity.js'
import { validateUsername } from '../core/username.js'
import type { Conn } from '../transport/types.js'
import {
  decodePayload,
  encodePayload,
  isLinkIntent,
  LinkIntent,
  MAX_EXTENSION,
  signStaticKey,
  verifyStaticKey,
} from './handshake-payload.js'
import { HandshakeState, initNoise, noiseHash, type Aead, type NoiseHashName } from './noise.js'
import {
  closeAfterFailure,
  CONNECT_BYTES,
  ConnReader,
  OK_BYTES,
  PROLOGUE,
  readConnect,
  readOk,
} from './preamble.js'

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000
/** Default cap on an incoming handshake message (the largest legitimate one is 4 329 bytes). */
export const DEFAULT_MAX_HANDSHAKE_MESSAGE = 8192

/** Who is on the other end, as authenticated by the handshake. */
export interface RemoteInfo {
  /** Ed25519 identity key (32 bytes). */
  identityKey: Uint8Array
  /** X25519 Noise static key (32 bytes), certified by identityKey. */
  staticKey: Uint8Array
  username: string
  /** The port the peer accepts connections on; 0 = not listening. */
  listenPort: number
  /** The initiator's intent decides what the connection is for; the responder's is informational. */
  intent: LinkIntent
  features: number
  extension: Uint8Array
  /** The transport-level address of the connection. */
  host: string
  port: number
}

export interface SessionOptions {
  identity: Identity
  username: string
  /** Default 0 (not listening). */
  listenPort?: number
  /** Default LinkIntent.OVERLAY. */
  intent?: LinkIntent
  /** u32 bit set. Default 0. */
  features?: number
  /** Opaque bytes for the peer, at most 4096. Default empty. */
  extension?: Uint8Array
  /** Noise hash; both ends must use the same. Default 'BLAKE2s'. */
  hash?: NoiseHashName
  /** Deadline for the whole handshake, preamble included. Default 10 000 ms. */
  timeoutMs?: number
  /** Whose time the deadline runs on. Default: the system clock. */
  clock?: Clock
  /** Cap on an incoming handshake message. Default 8192, at most 65535. */
  maxMessageSize?: number
  /** Called with the authenticated peer; throw (P4Error 'UNTRUSTED_KEY') to refuse. Default: accept. */
  trust?: (remote: RemoteInfo) => void | Promise<void>
  /** ChaCha20-Poly1305 implementation for the handshake. Default: noise.ts's default AEAD. */
  aead?: Aead
}

export interface HandshakeResult {
  remote: RemoteInfo
  /** Key that seals what we send (nonces from 0). */
  sendKey: Uint8Array
  /** Key that opens what we receive (nonces from 0). */
  recvKey: Uint8Array
  handshakeHash: Uint8Array
  /** Bytes already received after the last handshake message: the first channel bytes. */
  leftover: Uint8Array
  /** The Conn, paused: attach 'data' (and 'error'/'close') listeners, then resume(). */
  conn: Conn
  hash: NoiseHashName
  /** The feature bits this side announced (a Session built from this result compares them with the peer's). */
  localFeatures: number
  /** The feature bits the peer announced (= remote.features). */
  remoteFeatures: number
}

/** Runs the initiator side on a freshly dialled Conn. */
export function initiateSession(conn: Conn, opts: SessionOptions): Promise<HandshakeResult> {
  return run(conn, opts, true)
}

/** Runs the responder side on a freshly accepted Conn. */
export function acceptSession(conn: Conn, opts: SessionOptions): Promise<HandshakeResult> {
  return run(conn, opts, false)
}

interface Prepared {
  identity: Identity
  features: number
  payload: Uint8Array
  hash: NoiseHashName
  timeoutMs: number
  clock: Clock
  maxMessageSize: number
  trust: ((remote: RemoteInfo) => void | Promise<void>) | undefined
  aead: Aead | undefined
}

function option(why: string): P4Error {
  return new P4Error('BAD_OPTION', `handshake option ${why}`)
}

function prepare(opts: SessionOptions): Prepared {
  if (typeof opts !== 'object' || opts === null) throw option('object is missing')
  const identity = checkIdentity(opts.identity)
  validateUsername(opts.username)
  const listenPort = opts.listenPort ?? 0
  if (!Number.isInteger(listenPort) || listenPort < 0 || listenPort > 65535) throw option('listenPort must be 0..65535')
  const intent = opts.intent ?? LinkIntent.OVERLAY
  if (!isLinkIntent(intent)) throw option('intent must be 1 (overlay), 2 (direct) or 3 (probe)')
  const features = opts.features ?? 0
  if (!Number.isInteger(features) || features < 0 || features > 0xffffffff) throw option('features must be a u32')
  const extension = opts.extension ?? new Uint8Array(0)
  if (!(extension instanceof Uint8Array) || extension.length > MAX_EXTENSION) {
    throw option(`extension must be a Uint8Array of at most ${MAX_EXTENSION} bytes`)
  }
  const hash = opts.hash ?? 'BLAKE2s'
  if (hash !== 'BLAKE2s' && hash !== 'SHA256') throw option('hash must be "BLAKE2s" or "SHA256"')
  const timeoutMs = opts.timeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || !Number.isFinite(timeoutMs)) {
    throw option('timeoutMs must be a positive number')
  }
  const maxMessageSize = opts.maxMessageSize ?? DEFAULT_MAX_HANDSHAKE_MESSAGE
  if (!Number.isInteger(maxMessageSize) || maxMessageSize < 64 || maxMessageSize > 65535) {
    throw option('maxMessageSize must be an integer 64..65535')
  }
  if (opts.trust !== undefined && typeof opts.trust !== 'function') throw option('trust must be a function')
  const payload = encodePayload({
    identityKey: identity.publicKey,
    signature: signStaticKey(identity),
    username: opts.username,
    listenPort,
    intent,
    features,
    extension,
  })
  const clock = opts.clock ?? systemClock
  if (typeof clock !== 'object' || clock === null || typeof clock.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function') throw option('clock must be a Clock')
  return { identity, features, payload, hash, timeoutMs, clock, maxMessageSize, trust: opts.trust, aead: opts.aead }
}

function frame(message: Uint8Array, before?: Uint8Array): Uint8Array {
  const pre = before?.length ?? 0
  const out = Buffer.allocUnsafe(pre + 2 + message.length)
  if (before) out.set(before)
  out.writeUInt16BE(message.length, pre)
  out.set(message, pre + 2)
  return out
}

async function readFrame(reader: ConnReader, max: number, n: number): Promise<Uint8Array> {
  const head = await reader.need(2)
  const len = head.readUInt16BE(0)
  if (len > max) {
    throw new P4Error('MESSAGE_TOO_LARGE', `handshake message ${n} is ${len} bytes (at most ${max} accepted)`)
  }
  if (len === 0) throw new P4Error('BAD_HANDSHAKE', `handshake message ${n} is empty`)
  const buf = await reader.need(2 + len)
  const message = buf.subarray(2, 2 + len)
  reader.consume(2 + len)
  return message
}

/** Decodes the peer's payload and checks that its identity key certifies the static key Noise authenticated. */
function authenticate(payload: Uint8Array, hs: HandshakeState, conn: Conn): RemoteInfo {
  const p = decodePayload(payload)
  const staticKey = hs.remoteStaticKey!
  if (!verifyStaticKey(p.identityKey, staticKey, p.signature)) {
    throw new P4Error('BAD_SIGNATURE', `the identity key of "${p.username}" did not sign the Noise static key it used`)
  }
  return {
    identityKey: p.identityKey,
    staticKey,
    username: p.username,
    listenPort: p.listenPort,
    intent: p.intent,
    features: p.features,
    extension: p.extension,
    host: conn.remoteHost,
    port: conn.remotePort,
  }
}

async function callTrust(cfg: Prepared, remote: RemoteInfo): Promise<void> {
  if (!cfg.trust) return
  try {
    await cfg.trust(remote)
  } catch (err) {
    if (err instanceof P4Error) throw err
    throw new P4Error('UNTRUSTED_KEY', `trust hook refused "${remote.username}": ${(err as Error)?.message ?? String(err)}`, {
      cause: err,
    })
  }
}

async function run(conn: Conn, opts: SessionOptions, initiator: boolean): Promise<HandshakeResult> {
  if (typeof conn?.write !== 'function' || typeof conn.on !== 'function') {
    throw new P4Error('BAD_ARGUMENT', 'the first argument must be a Conn')
  }
  // Listen first: a Conn emits nothing until a 'data' listener exists, and
  // from here on every outcome closes it or hands it over.
  const reader = new ConnReader(conn)
  let cfg: Prepared
  try {
    cfg = prepare(opts)
  } catch (err) {
    await closeAfterFailure(reader, false)
    throw err
  }
  const timer = cfg.clock.setTimeout(() => {
    reader.fail(new P4Error('TIMEOUT', `handshake did not finish within ${cfg.timeoutMs} ms`))
  }, cfg.timeoutMs)
  let stage = 'the preamble'
  try {
    await reader.guard(initNoise())
    const hs = new HandshakeState({
      initiator,
      hash: noiseHash(cfg.hash),
      s: { publicKey: cfg.identity.staticPublicKey, keyObject: cfg.identity.staticKey },
      prologue: PROLOGUE,
      aead: cfg.aead,
    })
    let remote: RemoteInfo
    if (initiator) {
      conn.write(frame(hs.writeMessage(), CONNECT_BYTES))
      await readOk(reader)
      stage = 'message 2'
      remote = authenticate(hs.readMessage(await readFrame(reader, cfg.maxMessageSize, 2)), hs, conn)
      stage = 'the trust check'
      await reader.guard(callTrust(cfg, remote))
      conn.write(frame(hs.writeMessage(cfg.payload)))
    } else {
      await readConnect(reader)
      stage = 'message 1'
      const first = hs.readMessage(await readFrame(reader, cfg.maxMessageSize, 1))
      if (first.length > 0) throw new P4Error('BAD_PAYLOAD', `message 1 must have an empty payload, got ${first.length} bytes`)
      conn.write(frame(hs.writeMessage(cfg.payload), OK_BYTES))
      stage = 'message 3'
      remote = authenticate(hs.readMessage(await readFrame(reader, cfg.maxMessageSize, 3)), hs, conn)
      stage = 'the trust check'
      await reader.guard(callTrust(cfg, remote))
    }
    // The peer may have closed while we finished; its 'close' would not be seen again.
    if (reader.failed) throw reader.failed
    cfg.clock.clearTimeout(timer)
    const [k1, k2] = hs.splitKeys()
    conn.pause()
    return {
      remote,
      sendKey: initiator ? k1 : k2,
      recvKey: initiator ? k2 : k1,
      handshakeHash: hs.handshakeHash,
      leftover: reader.detach(),
      conn,
      hash: cfg.hash,
      localFeatures: cfg.features,
      remoteFeatures: remote.features,
    }
  } catch (err) {
    cfg.clock.clearTimeout(timer)
    const refused = !initiator && err instanceof P4Error && err.code === 'BAD_VERSION'
    await closeAfterFailure(reader, refused, undefined, cfg.clock)
    const where = `${initiator ? 'to' : 'from'} ${conn.remoteHost}:${conn.remotePort}`
    const code = err instanceof P4Error ? err.code : 'BAD_HANDSHAKE'
    const what = err instanceof Error ? err.message : String(err)
    throw new P4Error(code, `handshake ${where} failed at ${stage}: ${what}`, { cause: err })
  }
}
