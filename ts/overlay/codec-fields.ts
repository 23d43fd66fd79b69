// Field checks shared by the message codecs (hello-codec.ts, discover-codec.ts,
// link-codec.ts): what a host and a port may be, and the encode-side range
// checks, which throw BAD_ARGUMENT.
import { P4Error } from '../core/errors.js'

export const HOST_MAX_BYTES = 255

const utf8 = new TextEncoder()
const U64_MAX = 0xffffffffffffffffn

export const HOST_CHARS = /^[A-Za-z0-9._:%-]*$/

/**
 * A host is a DNS name or an IP literal (IPv6 without brackets, optional
 * %zone): ASCII letters, digits and . - _ : %, at most 255 bytes. Empty is
 * allowed where a message says so. Rejecting anything else keeps logs and
 * dialers safe from odd bytes.
 */
export function isValidHost(host: unknown): host is string {
  return typeof host === 'string' && host.length <= HOST_MAX_BYTES && HOST_CHARS.test(host)
}

export function validateHost(host: unknown, what = 'host'): string {
  if (!isValidHost(host)) throw new P4Error('BAD_ARGUMENT', `${what} must be a host name or IP literal of at most ${HOST_MAX_BYTES} bytes`)
  return host
}

export function validatePort(port: unknown, min = 0, what = 'port'): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < min || port > 65535) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be an integer in ${min}..65535, got ${String(port)}`)
  }
  return port
}

export function checkU8(v: unknown, what: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 255) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be an integer in ${min}..255, got ${String(v)}`)
  }
  return v
}

export function checkU16(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be an integer in 0..65535, got ${String(v)}`)
  }
  return v
}

export function checkU32(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be an integer in 0..2^32-1, got ${String(v)}`)
  }
  return v
}

export function checkU64(v: unknown, what: string): bigint {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new P4Error('BAD_ARGUMENT', `${what} must be a bigint in 0..2^64-1`)
  return v
}

export function checkSafeU64(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new P4Error('BAD_ARGUMENT', `${what} must be a non-negative safe integer, got ${String(v)}`)
  }
  return v
}

export function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true
  }
  return false
}

export function hostBytes(host: string): Uint8Array {
  // Hosts are ASCII (checked), so one byte per character.
  return utf8.encode(host)
}
