// Username rules shared by every layer (config, handshake, HELLO, trust).
// A username is 1–31 bytes of UTF-8 with no control characters, and must
// already be in Unicode NFC. Non-NFC input is rejected rather than
// normalised: the name a user typed is then exactly the name on the wire, in
// pin files and in certificates, so two spellings of "é" can never be two
// different users that look the same, nor one user under two byte strings.
import { P4Error } from './errors.js'

export const USERNAME_MAX_BYTES = 31

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Returns `name` unchanged when it is a valid username, else throws P4Error 'BAD_USERNAME'. */
export function validateUsername(name: unknown): string {
  if (typeof name !== 'string') throw new P4Error('BAD_USERNAME', 'username must be a string')
  const reason = usernameProblem(name)
  if (reason !== undefined) throw new P4Error('BAD_USERNAME', `username ${JSON.stringify(name)}: ${reason}`)
  return name
}

/** True when `name` is a valid username (no throw). */
export function isValidUsername(name: unknown): name is string {
  return typeof name === 'string' && usernameProblem(name) === undefined
}

/** Encodes a valid username to its UTF-8 bytes (throws BAD_USERNAME otherwise). */
export function encodeUsername(name: unknown): Uint8Array {
  return utf8.encode(validateUsername(name))
}

/**
 * Decodes username bytes received from the network. Returns undefined when the
 * bytes are not strict UTF-8 or the name breaks a rule, so wire decoders can
 * raise their own error code.
 */
export function decodeUsername(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0 || bytes.length > USERNAME_MAX_BYTES) return undefined
  let name: string
  try {
    name = strictUtf8.decode(bytes)
  } catch {
    return undefined
  }
  return usernameProblem(name) === undefined ? name : undefined
}

function usernameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty'
  // Cheap bound before encoding: a UTF-16 unit is at least one UTF-8 byte.
  if (name.length > USERNAME_MAX_BYTES) return `longer than ${USERNAME_MAX_BYTES} bytes of UTF-8`
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return 'contains a control character'
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = name.charCodeAt(i + 1)
      if (!(next >= 0xdc00 && next <= 0xdfff)) return 'contains a lone surrogate'
      i++
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return 'contains a lone surrogate'
    }
  }
  if (Buffer.byteLength(name, 'utf8') > USERNAME_MAX_BYTES) return `longer than ${USERNAME_MAX_BYTES} bytes of UTF-8`
  if (name.normalize('NFC') !== name) return 'is not in Unicode NFC form'
  return undefined
}
