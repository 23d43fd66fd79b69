// End-to-end sealing of encrypted streams (plugin.openStream(user,
// { encrypted: true })): the ChunkBox of one stream. The overlay carries its
// sealed bytes (ts/overlay/stream-channel.ts) and never sees a key.
//
//   ikm    = X25519(own static, peer static)    box v1's pair secret (E2eBoxes.pairSecret),
//                                                from the static keys of both users' signed HELLOs
//   salt   = opener salt (16, in OPEN) || acceptor salt (16, in the accept)
//   key_d  = HKDF-SHA256(ikm, salt, info_d, 32)
//   info_d = "p4net/2 stream v1" || u8 d || opener identity key (32) || acceptor identity key (32)
//            || opener static key (32) || acceptor static key (32) || u16 pluginId || u32 streamId
//            || str8 opener username || str8 acceptor username
//   d      = 1 opener → acceptor, 2 acceptor → opener
//   chunk i of direction d (i = 0, 1, …; the FIN takes the next i after the last DATA):
//            ChaCha20-Poly1305(key_d, nonce = 00000000 || u64 i, plaintext, aad)
//   aad    = "p4net/2 stream\0" || u8 kind (1 DATA, 2 FIN) || u8 d || u32 streamId || u64 i
//   DATA   = ciphertext || tag; FIN = the tag of an empty plaintext of kind FIN
//
// Both sides draw a salt, so neither can make the other reuse a key (a
// replayed OPEN meets a fresh acceptor salt); the counter is per direction
// and never wraps (NONCE_EXHAUSTED resets the stream first). Nothing is on
// the wire but the salts: i is implicit (chunks of a stream arrive in order),
// so a chunk dropped, reordered or replayed fails the next open.
import { hkdfSync } from 'node:crypto'
import { P4Error } from './core/errors.js'
import { encodeUsername } from './core/username.js'
import { counterNonce, NONCE_SIZE, TAG_SIZE, type SizedAead } from './e2e-aead.js'
import type { BoxKey } from './e2e-keys.js'
import type { ChunkBox, ChunkBoxMaker, StreamKeyInput } from './overlay/overlay.js'

const te = new TextEncoder()
export const STREAM_KEY_INFO = te.encode('p4net/2 stream v1')
export const STREAM_AAD_DOMAIN = te.encode('p4net/2 stream\0')
const KIND_DATA = 1
const KIND_END = 2
const TO_ACCEPTOR = 1
const TO_OPENER = 2
const AAD_SIZE = STREAM_AAD_DOMAIN.length + 1 + 1 + 4 + 8
/** Chunks one direction may seal: the counter stays exact in a double, far from wrapping its u64. */
export const MAX_STREAM_CHUNKS = 2 ** 53 - 1
const EMPTY = new Uint8Array(0)

/** One end of a stream: the user and the keys its signed HELLO binds. */
export interface StreamParty {
  username: string
  /** Ed25519, 32 bytes. */
  identityKey: Uint8Array
  /** X25519, 32 bytes. */
  staticKey: Uint8Array
}

/** key_d as above. */
export function streamKey(pairSecret: Uint8Array, opener: StreamParty, acceptor: StreamParty, k: StreamKeyInput, d: 1 | 2): Uint8Array {
  const on = encodeUsername(opener.username)
  const an = encodeUsername(acceptor.username)
  const info = new Uint8Array(STREAM_KEY_INFO.length + 1 + 4 * 32 + 2 + 4 + 1 + on.length + 1 + an.length)
  const v = new DataView(info.buffer)
  let at = STREAM_KEY_INFO.length
  info.set(STREAM_KEY_INFO, 0)
  info[at++] = d
  for (const key of [opener.identityKey, acceptor.identityKey, opener.staticKey, acceptor.staticKey]) {
    info.set(key, at)
    at += 32
  }
  v.setUint16(at, k.pluginId)
  v.setUint32(at + 2, k.streamId)
  at += 6
  info[at++] = on.length
  info.set(on, at)
  at += on.length
  info[at++] = an.length
  info.set(an, at)
  const salt = new Uint8Array(k.openerSalt.length + k.acceptorSalt.length)
  salt.set(k.openerSalt, 0)
  salt.set(k.acceptorSalt, k.openerSalt.length)
  return new Uint8Array(hkdfSync('sha256', pairSecret, salt, info, 32))
}

/** The two directions of one encrypted stream, from one end's side. */
export class StreamBox implements ChunkBox {
  private sent = 0
  private got = 0
  private readonly nonce = new Uint8Array(NONCE_SIZE)
  private readonly aad = new Uint8Array(AAD_SIZE)

  constructor(
    private readonly aead: SizedAead,
    private readonly sendKey: BoxKey,
    private readonly recvKey: BoxKey,
    /** The direction this end seals (1: it opened the stream). */
    private readonly sendDir: 1 | 2,
    private readonly streamId: number,
    private readonly limit = MAX_STREAM_CHUNKS,
  ) {
    if (aead.header !== 0) throw new P4Error('BAD_ARGUMENT', 'stream chunks are sealed without a header')
    this.aad.set(STREAM_AAD_DOMAIN, 0)
    new DataView(this.aad.buffer).setUint32(STREAM_AAD_DOMAIN.length + 2, streamId)
  }

  /** Sets nonce and AAD for chunk `i` of `kind` in direction `d`. */
  private at(kind: number, d: number, i: number): void {
    counterNonce(this.nonce, i)
    const a = this.aad
    const at = STREAM_AAD_DOMAIN.length
    a[at] = kind
    a[at + 1] = d
    a.set(this.nonce.subarray(4), at + 6)
  }

  private nextSend(kind: number): void {
    if (this.sent >= this.limit) throw new P4Error('NONCE_EXHAUSTED', `stream ${this.streamId} sealed ${this.sent} chunks, as many as one direction may: open a new stream`)
    this.at(kind, this.sendDir, this.sent++)
  }

  seal(plaintext: Uint8Array): Uint8Array {
    this.nextSend(KIND_DATA)
    return this.aead.seal(EMPTY, this.sendKey, this.nonce, plaintext, this.aad)
  }

  open(sealed: Uint8Array): Uint8Array | null {
    this.at(KIND_DATA, 3 - this.sendDir, this.got)
    const pt = this.aead.open(this.recvKey, this.nonce, sealed, this.aad)
    if (pt !== null) this.got++
    return pt
  }

  sealEnd(): Uint8Array {
    this.nextSend(KIND_END)
    return this.aead.seal(EMPTY, this.sendKey, this.nonce, EMPTY, this.aad)
  }

  openEnd(tag: Uint8Array): boolean {
    if (tag.length !== TAG_SIZE) return false
    this.at(KIND_END, 3 - this.sendDir, this.got)
    return this.aead.open(this.recvKey, this.nonce, tag, this.aad) !== null
  }
}

/**
 * The ChunkBoxMaker for streams between `me` and `peer`, from their pair
 * secret, for the end that opens them (`opener`) or accepts them.
 */
export function streamBoxMaker(aead: SizedAead, pairSecret: Uint8Array, me: StreamParty, peer: StreamParty, opener: boolean, limit = MAX_STREAM_CHUNKS): ChunkBoxMaker {
  const [o, a] = opener ? [me, peer] : [peer, me]
  return (k) => {
    const toAcceptor: BoxKey = { raw: streamKey(pairSecret, o, a, k, TO_ACCEPTOR), node: undefined }
    const toOpener: BoxKey = { raw: streamKey(pairSecret, o, a, k, TO_OPENER), node: undefined }
    return opener ? new StreamBox(aead, toAcceptor, toOpener, TO_ACCEPTOR, k.streamId, limit) : new StreamBox(aead, toOpener, toAcceptor, TO_OPENER, k.streamId, limit)
  }
}
