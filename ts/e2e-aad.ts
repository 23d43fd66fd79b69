// The AAD of end-to-end boxes (ts/e2e.ts): what binds a box to its sender,
// its recipient, its plugin and its message, so a relay can neither re-target
// a box nor splice it into another message nor re-send it as its own.
import { P4Error, expectBytes } from './core/errors.js'
import { encodeUsername } from './core/username.js'
import { sameBytes } from './e2e-keys.js'
import { AAD_IDS } from './e2e-wasm.js'
import { writeU32 } from './core/bytes.js'

export const AAD_DOMAIN = new TextEncoder().encode('p4net/2 e2e aad\0')
const AAD_UNICAST = 1
const AAD_GROUP = 2

function checkAadFields(sender: Uint8Array, pluginId: number, messageId: bigint): void {
  expectBytes(sender, 32, 'sender identity key')
  if (!Number.isInteger(pluginId) || pluginId < 0 || pluginId > 0xffff) throw new P4Error('BAD_ARGUMENT', `bad pluginId ${String(pluginId)}`)
  if (typeof messageId !== 'bigint' || BigInt.asUintN(64, messageId) !== messageId) throw new P4Error('BAD_ARGUMENT', 'messageId must be a u64 bigint')
}

/**
 * AAD for a unicast box:
 *   "p4net/2 e2e aad\0" || 0x01 || senderIdentityKey(32) || str8 recipientUsername
 *   || pluginId u16 || messageId u64
 * Both ends rebuild it: the sender from its own key and the target, the
 * recipient from the authenticated sender (session peer or origin key), its
 * own username and the frame header.
 */
export function e2eAad(f: { sender: Uint8Array; recipient: string; pluginId: number; messageId: bigint }): Uint8Array {
  if (typeof f !== 'object' || f === null) throw new P4Error('BAD_ARGUMENT', 'AAD fields must be an object')
  checkAadFields(f.sender, f.pluginId, f.messageId)
  const prefix = unicastPrefix(f.sender, f.recipient)
  const out = new Uint8Array(prefix.length + 2 + 8)
  out.set(prefix, 0)
  writeIds(out, prefix.length, f.pluginId, f.messageId)
  return out
}

/** The unicast AAD from its cached prefix and the IDs (for node:crypto, which wants it whole). */
export function unicastAad(prefix: Uint8Array, pluginId: number, hi: number, lo: number): Uint8Array {
  const out = new Uint8Array(prefix.length + AAD_IDS)
  out.set(prefix, 0)
  const at = prefix.length
  out[at] = pluginId >>> 8
  out[at + 1] = pluginId & 0xff
  writeU32(out, at + 2, hi)
  writeU32(out, at + 6, lo)
  return out
}

/** u16 pluginId || u64 messageId, big-endian, at `at` (bytes by hand: a DataView per AAD cost a microsecond). */
function writeIds(out: Uint8Array, at: number, pluginId: number, messageId: bigint): void {
  out[at] = pluginId >>> 8
  out[at + 1] = pluginId & 0xff
  writeU32(out, at + 2, Number(messageId >> 32n))
  writeU32(out, at + 6, Number(messageId & 0xffffffffn))
}

// The unicast AAD up to the recipient's name is the same for every message
// between two users: the last few are kept (validating and encoding a
// username costs more than the rest of the AAD), most recent first. `ref` is
// the sender key's array (an identity key: never changed in place), the same
// array being the same key without comparing bytes.
interface Prefix {
  ref: Uint8Array
  sender: Uint8Array
  recipient: string
  prefix: Uint8Array
}
const PREFIXES_KEPT = 4
const prefixes: Prefix[] = []

export function unicastPrefix(sender: Uint8Array, recipient: string): Uint8Array {
  for (let i = 0; i < prefixes.length; i++) {
    const m = prefixes[i]!
    if (m.ref === sender && m.recipient === recipient) return m.prefix
  }
  for (let i = 0; i < prefixes.length; i++) {
    const m = prefixes[i]!
    if (m.recipient === recipient && sameBytes(m.sender, sender)) return remember(sender, recipient, m.prefix)
  }
  expectBytes(sender, 32, 'sender identity key')
  const name = encodeUsername(recipient)
  const d = AAD_DOMAIN.length
  const prefix = new Uint8Array(d + 1 + 32 + 1 + name.length)
  prefix.set(AAD_DOMAIN, 0)
  prefix[d] = AAD_UNICAST
  prefix.set(sender, d + 1)
  prefix[d + 33] = name.length
  prefix.set(name, d + 34)
  return remember(sender, recipient, prefix)
}

function remember(sender: Uint8Array, recipient: string, prefix: Uint8Array): Uint8Array {
  prefixes.unshift({ ref: sender, sender: sender.slice(), recipient, prefix })
  if (prefixes.length > PREFIXES_KEPT) prefixes.pop()
  return prefix
}

/**
 * AAD for a group box:
 *   "p4net/2 e2e aad\0" || 0x02 || originKey(32) || pluginId u16 || messageId u64
 */
export function groupAad(f: { sender: Uint8Array; pluginId: number; messageId: bigint }): Uint8Array {
  if (typeof f !== 'object' || f === null) throw new P4Error('BAD_ARGUMENT', 'AAD fields must be an object')
  checkAadFields(f.sender, f.pluginId, f.messageId)
  const d = AAD_DOMAIN.length
  const out = new Uint8Array(d + 1 + 32 + 2 + 8)
  out.set(AAD_DOMAIN, 0)
  out[d] = AAD_GROUP
  out.set(f.sender, d + 1)
  writeIds(out, d + 33, f.pluginId, f.messageId)
  return out
}

