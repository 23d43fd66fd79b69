// Small unicast boxes (ts/e2e.ts) sealed and opened by the WASM
// ChaCha20-Poly1305 kernel in place: the box header is written in front of
// the plaintext in WASM memory, so a sealed box leaves in one copy and no
// separate ciphertext array is made. Same bytes as ts/crypto.ts `aead`.
//
// Scratch layout: key (32) | nonce (16) | AAD (aadCap) | header | message + tag
//
// What stays the same from one message to the next stays in WASM memory: the
// key (until another key is used) and the AAD up to its last 10 bytes (the
// plugin ID and message ID, written per message), so a box between two users
// costs a copy of its plaintext and a few header bytes in, one call, and one
// copy out.
import { P4Error } from './core/errors.js'
import { kernel as defaultKernel, kernelFault, type Kernel } from './wasm/loader.js'
import { writeU32 } from './core/bytes.js'

interface Exports {
  aead_seal(keyPtr: number, noncePtr: number, aadPtr: number, aadLen: number, ptr: number, len: number): void
  aead_open(keyPtr: number, noncePtr: number, aadPtr: number, aadLen: number, ptr: number, sealedLen: number): number
}

const TAG = 16
/** u16 pluginId || u64 messageId: the AAD's last bytes, written per message. */
export const AAD_IDS = 10

export class WasmBoxCipher {
  private readonly ex: Exports
  private base = 0
  private aadCap = 0
  private msgCap = 0
  /** The key, the AAD prefix and the header's start now in the scratch (the arrays they were copied from), if any. */
  private keyIn: Uint8Array | null = null
  private prefixIn: Uint8Array | null = null
  private headIn: Uint8Array | null = null

  constructor(
    private readonly header: number,
    private readonly k: Kernel = defaultKernel(),
  ) {
    this.ex = k.exports as unknown as Exports
    this.reserve(256, 4096)
  }

  private reserve(aadLen: number, msgLen: number): Uint8Array {
    if (aadLen > this.aadCap || msgLen > this.msgCap) {
      const aadCap = Math.max(aadLen, this.aadCap)
      const msgCap = Math.max(msgLen, this.msgCap)
      const next = this.k.alloc(48 + aadCap + this.header + msgCap + TAG) // may grow memory: bytes() below is fresh
      if (this.base !== 0) this.k.free(this.base)
      this.base = next
      this.aadCap = aadCap
      this.msgCap = msgCap
      this.keyIn = this.prefixIn = this.headIn = null
    }
    return this.k.bytes()
  }

  // The key at base, copied only when it is another key than last time.
  private loadKey(mem: Uint8Array, key: Uint8Array): void {
    if (key !== this.keyIn) {
      mem.set(key, this.base)
      this.keyIn = key
    }
  }

  /** header || ChaCha20-Poly1305(key, nonce, plaintext, aad): the whole box, one fresh array. */
  seal(header: Uint8Array, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    if (header.length !== this.header) throw new P4Error('BAD_ARGUMENT', `box header must be ${this.header} bytes`)
    const mem = this.reserve(aad.length, plaintext.length)
    this.prefixIn = this.headIn = null
    mem.set(aad, this.base + 48)
    mem.set(nonce, this.base + 32)
    mem.set(header, this.base + 48 + this.aadCap)
    return this.sealLoaded(mem, key, plaintext, aad.length).slice()
  }

  /**
   * seal() of a box whose header is `head` (its fixed start) || u64 BE
   * counter, under the nonce 0^32 || u64 BE counter, with the AAD `prefix ||
   * u16 pluginId || u32 hi || u32 lo`: all of it written in WASM memory.
   * Returns a view of the box in WASM memory, valid until the next call into
   * this cipher or anything that can grow WASM memory.
   */
  sealIds(head: Uint8Array, counterHi: number, counterLo: number, key: Uint8Array, plaintext: Uint8Array, prefix: Uint8Array, pluginId: number, hi: number, lo: number): Uint8Array {
    if (head.length + 8 !== this.header) throw new P4Error('BAD_ARGUMENT', `box header must be ${this.header} bytes`)
    const mem = this.reserve(prefix.length + AAD_IDS, plaintext.length)
    this.loadIds(mem, prefix, pluginId, hi, lo)
    const n = this.base + 32
    const box = this.base + 48 + this.aadCap
    if (head !== this.headIn) {
      mem.set(head, box)
      this.headIn = head
    }
    mem[n] = mem[n + 1] = mem[n + 2] = mem[n + 3] = 0
    writeU32(mem, n + 4, counterHi)
    writeU32(mem, n + 8, counterLo)
    writeU32(mem, box + head.length, counterHi)
    writeU32(mem, box + head.length + 4, counterLo)
    return this.sealLoaded(mem, key, plaintext, prefix.length + AAD_IDS)
  }

  // Seals the plaintext behind the header already in place.
  private sealLoaded(mem: Uint8Array, key: Uint8Array, plaintext: Uint8Array, aadLen: number): Uint8Array {
    const b = this.base
    const box = b + 48 + this.aadCap
    const msg = box + this.header
    this.loadKey(mem, key)
    mem.set(plaintext, msg)
    try {
      this.ex.aead_seal(b, b + 32, b + 48, aadLen, msg, plaintext.length)
    } catch (err) {
      throw kernelFault(err, 'aead_seal')
    }
    return mem.subarray(box, msg + plaintext.length + TAG)
  }

  // The AAD: its prefix copied when it changed, the IDs written in place.
  private loadIds(mem: Uint8Array, prefix: Uint8Array, pluginId: number, hi: number, lo: number): void {
    const ad = this.base + 48
    if (prefix !== this.prefixIn) {
      mem.set(prefix, ad)
      this.prefixIn = prefix
    }
    const at = ad + prefix.length
    mem[at] = pluginId >>> 8
    mem[at + 1] = pluginId
    writeU32(mem, at + 2, hi)
    writeU32(mem, at + 6, lo)
  }

  /** The plaintext of `sealed` (ciphertext || tag), or null when it does not authenticate. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
    if (sealed.length < TAG) return null
    const mem = this.reserve(aad.length, sealed.length - TAG)
    this.prefixIn = this.headIn = null
    mem.set(aad, this.base + 48)
    mem.set(nonce, this.base + 32)
    mem.set(sealed, this.base + 48 + this.aadCap + this.header)
    return this.openLoaded(mem, key, sealed.length, aad.length)
  }

  /**
   * open() of a whole box (header, then ciphertext || tag) whose header ends
   * in the u64 BE counter of the nonce 0^32 || counter, with the AAD of
   * sealIds().
   */
  openIds(key: Uint8Array, box: Uint8Array, prefix: Uint8Array, pluginId: number, hi: number, lo: number): Uint8Array | null {
    const sealedLen = box.length - this.header
    if (sealedLen < TAG) return null
    const mem = this.reserve(prefix.length + AAD_IDS, sealedLen - TAG)
    this.loadIds(mem, prefix, pluginId, hi, lo)
    // The box where seal puts one: its header lands in front of the message.
    const at = this.base + 48 + this.aadCap
    this.headIn = null
    mem.set(box, at)
    const n = this.base + 32
    const c = at + this.header - 8
    mem[n] = mem[n + 1] = mem[n + 2] = mem[n + 3] = 0
    for (let i = 0; i < 8; i++) mem[n + 4 + i] = mem[c + i]!
    return this.openLoaded(mem, key, sealedLen, prefix.length + AAD_IDS)
  }

  // Opens the sealed bytes already in place behind the header region.
  private openLoaded(mem: Uint8Array, key: Uint8Array, sealedLen: number, aadLen: number): Uint8Array | null {
    const b = this.base
    const msg = b + 48 + this.aadCap + this.header
    const len = sealedLen - TAG
    this.loadKey(mem, key)
    let ok: number
    try {
      ok = this.ex.aead_open(b, b + 32, b + 48, aadLen, msg, sealedLen)
    } catch (err) {
      throw kernelFault(err, 'aead_open')
    }
    return ok === 1 ? mem.slice(msg, msg + len) : null
  }
}
