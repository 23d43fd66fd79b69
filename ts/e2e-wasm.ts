// Small unicast boxes (ts/e2e.ts) sealed and opened by the WASM
// ChaCha20-Poly1305 kernel in place: the box header is written in front of
// the plaintext in WASM memory, so a sealed box leaves in one copy and no
// separate ciphertext array is made. Same bytes as ts/crypto.ts `aead`.
//
// Scratch layout: key (32) | nonce (16) | AAD (aadCap) | header | message + tag
import { P4Error } from './core/errors.js'
import { kernel as defaultKernel, kernelFault, type Kernel } from './wasm/loader.js'

interface Exports {
  aead_seal(keyPtr: number, noncePtr: number, aadPtr: number, aadLen: number, ptr: number, len: number): void
  aead_open(keyPtr: number, noncePtr: number, aadPtr: number, aadLen: number, ptr: number, sealedLen: number): number
}

const TAG = 16

export class WasmBoxCipher {
  private readonly ex: Exports
  private base = 0
  private aadCap = 0
  private msgCap = 0

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
    }
    return this.k.bytes()
  }

  /** header || ChaCha20-Poly1305(key, nonce, plaintext, aad): the whole box, one fresh array. */
  seal(header: Uint8Array, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Uint8Array {
    if (header.length !== this.header) throw new P4Error('BAD_ARGUMENT', `box header must be ${this.header} bytes`)
    const mem = this.reserve(aad.length, plaintext.length)
    const b = this.base
    const ad = b + 48
    const box = ad + this.aadCap
    const msg = box + this.header
    mem.set(key, b)
    mem.set(nonce, b + 32)
    mem.set(aad, ad)
    mem.set(header, box)
    mem.set(plaintext, msg)
    try {
      this.ex.aead_seal(b, b + 32, ad, aad.length, msg, plaintext.length)
    } catch (err) {
      throw kernelFault(err, 'aead_seal')
    }
    return mem.slice(box, msg + plaintext.length + TAG)
  }

  /** The plaintext of `sealed` (ciphertext || tag), or null when it does not authenticate. */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Uint8Array | null {
    if (sealed.length < TAG) return null
    const len = sealed.length - TAG
    const mem = this.reserve(aad.length, len)
    const b = this.base
    const ad = b + 48
    const msg = ad + this.aadCap + this.header
    mem.set(key, b)
    mem.set(nonce, b + 32)
    mem.set(aad, ad)
    mem.set(sealed, msg)
    let ok: number
    try {
      ok = this.ex.aead_open(b, b + 32, ad, aad.length, msg, sealed.length)
    } catch (err) {
      throw kernelFault(err, 'aead_open')
    }
    return ok === 1 ? mem.slice(msg, msg + len) : null
  }
}
