// Username rules shared by every layer (config, handshake, HELLO, trust,
// certificates, pin and peer files). A username is 1–31 bytes of UTF-8 and:
//
//  1. has no whitespace, control, format (Cf), default-ignorable,
//     bidirectional-control, private-use, unassigned or surrogate code point:
//     nothing invisible, nothing that reorders text, nothing without meaning;
//  2. is made only of letters (\p{L}), combining marks (\p{M}), decimal
//     digits (\p{Nd}) and the three separators "-", "_", ".";
//  3. is already in NFC and in NFKC. Nothing is normalised for the user: the
//     name typed is the byte string on the wire, in pin files and in
//     certificates. NFKC refuses fullwidth forms, ligatures, superscripts,
//     halfwidth kana, letter-like symbols and the like;
//  4. is lower case (name === name.toLowerCase()), so "Alice" and "alice"
//     cannot be two users; the refusal shows the lower-case spelling;
//  5. uses a separator only between two other characters, never two in a row;
//     a combining mark only after a letter (or another mark), never the same
//     mark twice in a row; digits all from one set (ASCII 0-9 or one
//     script's), so Arabic-Indic ٠١٢ and Persian ۰۱۲ cannot be mixed;
//  6. has its letters, marks and non-ASCII digits from ONE writing system:
//     one script in use today (UAX #31 recommended and limited-use scripts,
//     SCRIPTS below), where Japanese (Han + Hiragana + Katakana), Korean
//     (Hangul + Han) and Chinese (Han + Bopomofo) each count as one. ASCII
//     digits and the separators go with any script. Decided with Unicode
//     Script_Extensions, so shared characters such as "ー" work in both kana.
//
// What this does not catch: whole-script confusables. An all-Cyrillic "раураӏ"
// is a valid name that looks like the Latin "paypal", and a few letters look
// alike inside one script. The rules stop invisible and mixed-script tricks;
// telling users apart is the trust policy's job (their keys). "Unassigned"
// means unassigned in the Unicode version of the running Node.js, so a name
// using characters newer than an old peer's Unicode is refused by that peer.
import { P4Error } from './errors.js'

export const USERNAME_MAX_BYTES = 31

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Returns `name` unchanged when it is a valid username, else throws P4Error 'BAD_USERNAME'. */
export function validateUsername(name: unknown): string {
  const reason = usernameProblem(name)
  if (reason === undefined) return name as string
  if (typeof name !== 'string') throw new P4Error('BAD_USERNAME', `username ${reason}`)
  throw new P4Error('BAD_USERNAME', `username ${quoteUsername(name)}: ${reason}`)
}

/** True when `name` is a valid username (no throw). */
export function isValidUsername(name: unknown): name is string {
  return usernameProblem(name) === undefined
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

/**
 * The name in double quotes for messages and logs, with invisible, bidi and
 * non-space whitespace characters as \u{…} escapes (so a refused name cannot
 * reorder or hide text in a log line) and cut after 40 UTF-16 units.
 */
export function quoteUsername(name: string): string {
  const shown = name.length > 40 ? `${name.slice(0, 40)}…` : name
  return JSON.stringify(shown).replace(UNSAFE_IN_LOGS, (c) => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase()}}`)
}

/**
 * Why `name` is not a valid username ("must not be empty", "is not lower
 * case; …"), or undefined when it is valid.
 */
export function usernameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'must be a string'
  // The common case, every rule at once: ASCII lower-case letters and digits,
  // single separators between them. ASCII is one UTF-8 byte per unit.
  if (name.length <= USERNAME_MAX_BYTES && ASCII_NAME.test(name)) return undefined
  if (name.length === 0) return 'must not be empty'
  // Cheap bound before encoding: a UTF-16 unit is at least one UTF-8 byte.
  if (name.length > USERNAME_MAX_BYTES) return `longer than ${USERNAME_MAX_BYTES} bytes of UTF-8`
  const bad = FORBIDDEN.exec(name)
  if (bad !== null) return `contains ${forbiddenKind(bad[0])} (${codePoint(bad[0])})`
  if (Buffer.byteLength(name, 'utf8') > USERNAME_MAX_BYTES) return `longer than ${USERNAME_MAX_BYTES} bytes of UTF-8`
  const other = NOT_ALLOWED.exec(name)
  if (other !== null) return `contains ${JSON.stringify(other[0])} (${codePoint(other[0])}), which is not a letter, a digit or one of ${SEPARATORS}`
  if (name.normalize('NFC') !== name) return 'is not in Unicode NFC form'
  const nfkc = name.normalize('NFKC')
  if (nfkc !== name) return `contains compatibility characters (fullwidth or halfwidth forms, ligatures, super- or subscripts, …); its NFKC form is ${quoteUsername(nfkc)}`
  if (UPPER.test(name)) return `is not lower case; usernames are lower case: ${quoteUsername(name.toLowerCase())}`
  if (EDGE_SEPARATOR.test(name)) return `must not start or end with ${SEPARATORS}`
  if (DOUBLE_SEPARATOR.test(name)) return `must not have two of ${SEPARATORS} in a row`
  if (LOOSE_MARK.test(name)) return 'has a combining mark that does not follow a letter'
  if (REPEATED_MARK.test(name)) return 'repeats a combining mark'
  if (NON_ASCII_DIGIT.test(name) && !oneDigitSet(name)) return 'mixes digits of different sets (e.g. ASCII with Arabic-Indic)'
  for (let i = 0; i < SYSTEMS.length; i++) if (systemName(i).test(name)) return undefined
  return mixedScripts(name)
}

// ---------------------------------------------------------------------------
// Implementation. All regular expressions are compiled once (the per-script
// ones on first use); none is global
// (no lastIndex state) except UNSAFE_IN_LOGS, which is only used by replace().

const SEPARATORS = '"-", "_" or "."'

const ASCII_NAME = /^[a-z0-9]+(?:[-_.][a-z0-9]+)*$/

const FORBIDDEN_CLASS =
  '\\p{Cs}\\p{Cc}\\p{Bidi_Control}\\p{White_Space}\\p{Cf}\\p{Default_Ignorable_Code_Point}\\p{Co}\\p{Cn}'
const FORBIDDEN = new RegExp(`[${FORBIDDEN_CLASS}]`, 'u')
const UNSAFE_IN_LOGS = new RegExp(`[^\\x20\\P{White_Space}]|[${FORBIDDEN_CLASS.replace('\\p{White_Space}', '')}]`, 'gu')
const IS_SURROGATE = /\p{Cs}/u
const IS_CONTROL = /\p{Cc}/u
const IS_BIDI = /\p{Bidi_Control}/u
const IS_SPACE = /\p{White_Space}/u
const IS_PRIVATE = /\p{Co}/u
const IS_UNASSIGNED = /\p{Cn}/u

function forbiddenKind(c: string): string {
  if (IS_SURROGATE.test(c)) return 'a lone surrogate'
  if (IS_CONTROL.test(c)) return 'a control character'
  if (IS_BIDI.test(c)) return 'a bidirectional control character'
  if (IS_SPACE.test(c)) return 'whitespace'
  if (IS_PRIVATE.test(c)) return 'a private-use character'
  if (IS_UNASSIGNED.test(c)) return 'an unassigned code point'
  return 'an invisible formatting character'
}

function codePoint(c: string): string {
  return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`
}

const NOT_ALLOWED = /[^\p{L}\p{M}\p{Nd}\-_.]/u
const UPPER = /\p{Changes_When_Lowercased}/u
const EDGE_SEPARATOR = /^[-_.]|[-_.]$/
const DOUBLE_SEPARATOR = /[-_.]{2}/
const LOOSE_MARK = /(?:^|[^\p{L}\p{M}])\p{M}/u
const REPEATED_MARK = /(\p{M})\1/u
const NON_ASCII_DIGIT = /[^\P{Nd}0-9]/u
const DIGIT = /\p{Nd}/u

/**
 * True when every decimal digit in `name` comes from one set of ten.
 * Unicode puts each set in ten consecutive code points, 0 to 9, and sets
 * that touch (Myanmar Extended-C) start at multiples of ten from the run's
 * first digit, so a digit's zero is found by walking back to that first digit.
 */
function oneDigitSet(name: string): boolean {
  let zero = -1
  for (const c of name) {
    if (!DIGIT.test(c)) continue
    const cp = c.codePointAt(0)!
    let start = cp
    if (cp > 0x39) while (DIGIT.test(String.fromCodePoint(start - 1))) start--
    else start = 0x30
    const z = start + Math.floor((cp - start) / 10) * 10
    if (zero === -1) zero = z
    else if (z !== zero) return false
  }
  return true
}

/**
 * Scripts whose letters may appear in a username: the ones in use today,
 * after UAX #31 (recommended and limited-use scripts). Historic scripts
 * (Gothic, Old Italic, Linear B, Coptic, …) are left out: nobody needs them
 * for a name, and several mimic Latin or Greek letters.
 */
const SCRIPTS = [
  'Latin', 'Greek', 'Cyrillic', 'Armenian', 'Georgian', 'Hebrew', 'Arabic', 'Syriac', 'Thaana', 'Nko',
  'Devanagari', 'Bengali', 'Gurmukhi', 'Gujarati', 'Oriya', 'Tamil', 'Telugu', 'Kannada', 'Malayalam',
  'Sinhala', 'Thai', 'Lao', 'Tibetan', 'Myanmar', 'Khmer', 'Ethiopic', 'Mongolian',
  'Han', 'Hiragana', 'Katakana', 'Bopomofo', 'Hangul', 'Yi',
  'Adlam', 'Balinese', 'Bamum', 'Batak', 'Canadian_Aboriginal', 'Chakma', 'Cham', 'Cherokee',
  'Hanifi_Rohingya', 'Javanese', 'Kayah_Li', 'Lepcha', 'Limbu', 'Lisu', 'Mandaic', 'Meetei_Mayek', 'Miao',
  'New_Tai_Lue', 'Newa', 'Nyiakeng_Puachue_Hmong', 'Ol_Chiki', 'Osage', 'Saurashtra', 'Sundanese',
  'Syloti_Nagri', 'Tai_Le', 'Tai_Tham', 'Tai_Viet', 'Tifinagh', 'Vai', 'Wancho',
] as const

/** Writing systems that combine several scripts; every other script is one on its own. */
const MULTI_SCRIPT_SYSTEMS: ReadonlyArray<readonly string[]> = [
  ['Han', 'Hiragana', 'Katakana'], // Japanese
  ['Hangul', 'Han'], // Korean
  ['Han', 'Bopomofo'], // Chinese
]
const IN_MULTI = new Set(MULTI_SCRIPT_SYSTEMS.flat())

const scx = (scripts: readonly string[]): string => scripts.map((s) => `\\p{Script_Extensions=${s}}`).join('')

// A whole-name test per writing system. Steps 1-5 already restricted the
// characters to letters, marks, digits and separators, so each test only has
// to ask "does every character belong to this system": its scripts, marks
// inherited from the base letter (Script_Extensions=Inherited), ASCII digits
// and separators. Latin, then the CJK systems, go first: most names are one
// of them and the loop stops at the first match.
const SYSTEMS: ReadonlyArray<readonly string[]> = [
  ['Latin'],
  ...MULTI_SCRIPT_SYSTEMS,
  ...SCRIPTS.filter((s) => s !== 'Latin' && !IN_MULTI.has(s)).map((s) => [s]),
]
// Each test is compiled the first time it is needed (a Latin name needs only
// the first): the 160 of them cost about 20 ms and their Unicode sets when
// built at import.
const systemNames: (RegExp | undefined)[] = []
function systemName(i: number): RegExp {
  return (systemNames[i] ??= new RegExp(`^[0-9\\-_.\\p{Script_Extensions=Inherited}${scx(SYSTEMS[i]!)}]+$`, 'u'))
}

const scriptTests: (RegExp | undefined)[] = []
const INHERITED_OR_COMMON = /[0-9\-_.\p{Script_Extensions=Inherited}]/u

function scriptOf(c: string): string | undefined {
  for (let i = 0; i < SCRIPTS.length; i++) {
    const re = (scriptTests[i] ??= new RegExp(`[${scx([SCRIPTS[i]!])}]`, 'u'))
    if (re.test(c)) return SCRIPTS[i]!.replace(/_/g, ' ')
  }
  return undefined
}

/**
 * The refusal reason for a name no writing system accepts. Of the systems
 * that hold its first letter, the one that accepts the longest prefix names
 * the clashing character.
 */
function mixedScripts(name: string): string {
  const chars = [...name]
  const first = chars.find((c) => !INHERITED_OR_COMMON.test(c)) ?? chars[0]!
  let clash = first
  let furthest = -1
  for (let i = 0; i < SYSTEMS.length; i++) {
    const re = systemName(i)
    if (!re.test(first)) continue
    const at = chars.findIndex((c) => !re.test(c))
    if (at > furthest) {
      furthest = at
      clash = chars[at]!
    }
  }
  const script = scriptOf(clash)
  if (furthest === -1 || script === undefined) {
    return `contains ${JSON.stringify(clash)} (${codePoint(clash)}), which is not in a script allowed in usernames`
  }
  return (
    `mixes scripts: ${JSON.stringify(first)} is ${scriptOf(first)}, ${JSON.stringify(clash)} (${codePoint(clash)}) is ${script}; ` +
    'a username uses one script (Japanese may mix Han and kana, Korean Hangul and Han, Chinese Han and Bopomofo)'
  )
}
