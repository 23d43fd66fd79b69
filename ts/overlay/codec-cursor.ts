// The byte cursors every message codec is built on. Conventions of all
// codecs (docs/protocol-overlay.md has the byte layouts): a body is what
// follows the 18-byte header, after the 96-byte origin block for SIGNED
// messages. Encoders validate their input and throw BAD_ARGUMENT
// (BAD_USERNAME for names); decoders are strict — exact lengths, caps, strict
// UTF-8, no trailing bytes — and throw only P4Error 'BAD_PAYLOAD'. Decoders
// copy what they return (the input may be a reused buffer or WASM memory) and
// never allocate more than the input's own length.
import { P4Error } from '../core/errors.js'
import { USERNAME_MAX_BYTES, decodeUsername } from '../core/username.js'
import { HOST_CHARS, hasControl } from './codec-fields.js'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export function bad(msg: string): never {
  throw new P4Error('BAD_PAYLOAD', msg)
}

export class Writer {
  readonly buf: Uint8Array
  private readonly dv: DataView
  private off = 0
  constructor(size: number) {
    this.buf = new Uint8Array(size)
    this.dv = new DataView(this.buf.buffer)
  }
  u8(v: number): void {
    this.dv.setUint8(this.off, v)
    this.off += 1
  }
  u16(v: number): void {
    this.dv.setUint16(this.off, v)
    this.off += 2
  }
  u32(v: number): void {
    this.dv.setUint32(this.off, v)
    this.off += 4
  }
  u64(v: bigint): void {
    this.dv.setBigUint64(this.off, v)
    this.off += 8
  }
  bytes(b: Uint8Array): void {
    this.buf.set(b, this.off)
    this.off += b.length
  }
  /** Returns the buffer after checking the precomputed size was exact. */
  done(): Uint8Array {
    if (this.off !== this.buf.length) throw new Error(`internal: wrote ${this.off} of ${this.buf.length} bytes`)
    return this.buf
  }
}

export class Reader {
  private readonly dv: DataView
  private off = 0
  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {
    if (!(buf instanceof Uint8Array)) throw new P4Error('BAD_PAYLOAD', `${what}: body must be a Uint8Array`)
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  }
  get remaining(): number {
    return this.buf.length - this.off
  }
  private need(n: number): void {
    if (this.remaining < n) bad(`${this.what}: truncated`)
  }
  u8(): number {
    this.need(1)
    return this.dv.getUint8(this.off++)
  }
  u16(): number {
    this.need(2)
    const v = this.dv.getUint16(this.off)
    this.off += 2
    return v
  }
  u32(): number {
    this.need(4)
    const v = this.dv.getUint32(this.off)
    this.off += 4
    return v
  }
  u64(): bigint {
    this.need(8)
    const v = this.dv.getBigUint64(this.off)
    this.off += 8
    return v
  }
  safeU64(field: string): number {
    const v = this.u64()
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad(`${this.what}: ${field} out of range`)
    return Number(v)
  }
  /** A view of the next n bytes (callers copy what they keep). */
  view(n: number): Uint8Array {
    this.need(n)
    const v = this.buf.subarray(this.off, this.off + n)
    this.off += n
    return v
  }
  copy(n: number): Uint8Array {
    return this.view(n).slice()
  }
  username(): string {
    const n = this.u8()
    if (n === 0 || n > USERNAME_MAX_BYTES) bad(`${this.what}: username length ${n} out of range`)
    const name = decodeUsername(this.view(n))
    if (name === undefined) bad(`${this.what}: invalid username`)
    return name
  }
  host(allowEmpty: boolean): string {
    const n = this.u8()
    if (n === 0 && !allowEmpty) bad(`${this.what}: empty host`)
    const b = this.view(n)
    let host = ''
    for (let i = 0; i < b.length; i++) host += String.fromCharCode(b[i]!)
    if (!HOST_CHARS.test(host)) bad(`${this.what}: invalid host`)
    return host
  }
  text(max: number): string {
    const n = this.u8()
    if (n > max) bad(`${this.what}: text longer than ${max} bytes`)
    let s: string
    try {
      s = strictUtf8.decode(this.view(n))
    } catch {
      bad(`${this.what}: text is not valid UTF-8`)
    }
    if (hasControl(s)) bad(`${this.what}: text contains control characters`)
    return s
  }
  end(): void {
    if (this.remaining !== 0) bad(`${this.what}: ${this.remaining} trailing bytes`)
  }
}
