import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { isP4Error } from '../ts/core/errors.js'
import {
  decodeUsername,
  encodeUsername,
  isValidUsername,
  quoteUsername,
  usernameProblem,
  validateUsername,
  USERNAME_MAX_BYTES,
} from '../ts/core/username.js'

const utf8 = new TextEncoder()

/** Asserts `name` is refused everywhere, with a BAD_USERNAME message matching `why`. */
function refused(name: string, why: RegExp): void {
  const what = quoteUsername(name)
  try {
    validateUsername(name)
    assert.unreachable(`${what} should be refused`)
  } catch (err) {
    assert.ok(isP4Error(err, 'BAD_USERNAME'), `${what}: ${String(err)}`)
    assert.match((err as Error).message, why, what)
  }
  assert.not.ok(isValidUsername(name), what)
  assert.is(decodeUsername(utf8.encode(name)), undefined, `${what} decoded`)
  assert.ok(usernameProblem(name), what)
}

function accepted(name: string): void {
  const what = quoteUsername(name)
  assert.is(usernameProblem(name), undefined, what)
  assert.is(validateUsername(name), name, what)
  assert.ok(isValidUsername(name), what)
  assert.is(decodeUsername(encodeUsername(name)), name, what)
}

test('invisible characters: zero-width space, joiners, BOM, soft hyphen, word joiner, Hangul filler', () => {
  for (const c of ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u180e']) {
    refused(`ali${c}ce`, /invisible formatting character/)
    refused(`${c}alice`, /invisible formatting character/)
    refused(`alice${c}`, /invisible formatting character/)
  }
  refused('a\u3164b', /invisible formatting character \(U\+3164\)/) // default-ignorable letter
  refused('a\ufe0fb', /invisible formatting character/) // variation selector (a mark, but ignorable)
})

test('bidirectional controls: overrides, embeddings, isolates, marks', () => {
  for (const c of ['\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c']) {
    refused(`ab${c}cd`, /bidirectional control character/)
  }
  // The message escapes the control so a log line is not reordered.
  try {
    validateUsername('evil\u202egnp.exe')
    assert.unreachable()
  } catch (err) {
    assert.ok((err as Error).message.includes('"evil\\u{202E}gnp.exe"'), (err as Error).message)
    assert.not.ok((err as Error).message.includes('\u202e'))
  }
})

test('tag characters, private use, unassigned code points, lone surrogates', () => {
  refused('a\u{e0061}', /invisible formatting character \(U\+E0061\)/)
  refused('flag\u{e0067}\u{e0062}\u{e007f}', /invisible/)
  refused('a\ue000', /private-use character/)
  refused('a\u{f0000}', /private-use character/)
  refused('a\u0378', /unassigned code point \(U\+0378\)/)
  refused('a\u{10fffd}x', /private-use/)
  refused('a\u{2fffe}', /unassigned/) // a noncharacter: never assigned
  refused('\ud800x', /lone surrogate/)
  refused('x\udc00', /lone surrogate/)
})

test('whitespace and control characters anywhere; names of only spaces', () => {
  for (const n of ['a b', ' alice', 'alice ', ' ', '   ', 'a\u00a0b', 'a\u3000b', 'a\u2028b', 'a\u2003b']) refused(n, /whitespace/)
  for (const n of ['\t', 'tab\there', 'new\nline', 'a\u0000b', 'del\u007f', 'c1\u0085', 'c1\u009f']) refused(n, /control character/)
})

test('compatibility forms are refused (must be stable under NFKC), with the NFKC spelling', () => {
  refused('ａｌｉｃｅ', /NFKC form is "alice"/)
  refused('ﬁsh', /NFKC form is "fish"/)
  refused('ǆemal', /NFKC/)
  refused('ſam', /NFKC/)
  refused('ﾊﾛｰ', /NFKC form is "ハロー"/) // halfwidth katakana
  refused('ㄱ', /NFKC/) // Hangul compatibility jamo
  refused('x²', /not a letter, a digit/) // superscripts are not decimal digits either
  refused('ａ1', /NFKC/)
})

test('NFC: a decomposed é is refused, the composed one is fine', () => {
  refused('e\u0301', /not in Unicode NFC form/)
  accepted('\u00e9')
  accepted('café')
})

test('lower case only; the message shows the lower-case spelling', () => {
  refused('Alice', /not lower case; usernames are lower case: "alice"/)
  refused('ALICE', /"alice"/)
  refused('Zoë', /"zoë"/)
  refused('Ωμέγα', /"ωμέγα"/)
  refused('Иван', /"иван"/)
  refused('ᏣᎳᎩ', /not lower case/) // Cherokee capitals: the lower-case letters are the valid spelling
  accepted('zoë')
  accepted('ωμέγα')
  accepted('straße')
  accepted('ς')
})

test('symbols, emoji and other punctuation are refused', () => {
  for (const n of ['a!', 'a@b', 'a/b', 'a:b', 'a+b', '😀', 'a😀', 'ⓐ', 'a·b', 'a\'b', 'a,b', '名前・名']) {
    refused(n, /not a letter, a digit or one of "-", "_" or "."/)
  }
})

test('separators: "-", "_" and "." between characters, never at an edge or doubled', () => {
  for (const n of ['a-b', 'a_b', 'a.b', 'a-b_c.d', 'bob_42', '4-2', 'ελένη-2', '東京-タワー']) accepted(n)
  for (const n of ['-a', 'a-', '_a', 'a_', '.a', 'a.', '-', '.', '_']) refused(n, /must not start or end/)
  for (const n of ['a--b', 'a..b', 'a_-b', 'a.-b']) refused(n, /two of .* in a row/)
})

test('mixed scripts are refused: Latin + Cyrillic look-alikes', () => {
  refused('p\u0430ypal', /mixes scripts: "p" is Latin, "а" \(U\+0430\) is Cyrillic/)
  refused('\u0430pple', /mixes scripts: "а" is Cyrillic, "p" \(U\+0070\) is Latin/)
  refused('alphaβ', /Latin.*Greek/)
  refused('ひらがな한글', /Hiragana.*Hangul/)
  refused('abc名前', /Latin.*Han/)
  refused('abc\u05d0', /Latin.*Hebrew/)
  // Historic scripts are not on the list at all.
  refused('\u{10330}\u{10331}', /not in a script allowed/) // Gothic
  refused('\u{10300}', /not in a script allowed/) // Old Italic
})

test('one script is fine, including the multi-script writing systems and combining marks', () => {
  for (const n of [
    'alice',
    'иван',
    'ελλάδα',
    'देवनागरी', // Devanagari with vowel signs and virama
    'नमस्ते',
    'สวัสดี', // Thai marks
    'مُحَمَّد', // Arabic with harakat
    'שלום',
    'ᏣᎳᎩ'.toLowerCase(),
    'コーヒー', // the prolonged sound mark is shared by both kana
    '東京タワー', // Japanese: Han + Katakana
    'ひらがな漢字カタカナ', // Han + Hiragana + Katakana
    '한국어', // Korean
    '漢字한글', // Korean: Hangul + Han
    '中文ㄅㄆ', // Chinese: Han + Bopomofo
    '𠀀𠀁', // Han outside the BMP (surrogate pairs)
    'q\u0301', // a Latin letter with a mark that has no composed form
  ]) {
    accepted(n)
  }
})

test('ASCII digits go with any script; other digits with their own script, one digit set per name', () => {
  for (const n of ['42', 'bob42', 'иван2', '東京2', 'محمد7', '١٢٣', 'محمد١٢', 'ज्ञान१२', '0']) accepted(n)
  refused('١۲', /mixes digits/) // Arabic-Indic 1 + Extended Arabic-Indic 2: ١ and ۱ look alike
  refused('محمد1١', /mixes digits/)
  refused('alice١', /mixes scripts/) // an Arabic-Indic digit is Arabic, not Latin
})

test('combining marks only after a letter, never the same mark twice', () => {
  refused('\u0301a', /combining mark that does not follow a letter/)
  refused('1\u0301', /combining mark that does not follow a letter/)
  refused('a-\u0301b', /combining mark that does not follow a letter/)
  refused('q\u0301\u0301', /repeats a combining mark/)
  accepted('q\u0301\u0302')
})

test('whole-script confusables are NOT caught (documented): the trust policy tells users apart', () => {
  accepted('раураӏ') // all Cyrillic, looks like "paypal"
})

test('length: 1..31 bytes of UTF-8', () => {
  accepted('a')
  accepted('x'.repeat(USERNAME_MAX_BYTES))
  accepted('é'.repeat(15)) // 30 bytes
  accepted('名'.repeat(10)) // 30 bytes
  accepted('𠀀'.repeat(7)) // 28 bytes
  refused('', /must not be empty/)
  refused('x'.repeat(32), /longer than 31 bytes/)
  refused('é'.repeat(16), /longer than 31 bytes/)
  refused('名'.repeat(11), /longer than 31 bytes/)
  refused('𠀀'.repeat(8), /longer than 31 bytes/)
  refused('x'.repeat(100_000), /longer than 31 bytes/)
  // A refused long name is cut in the message.
  try {
    validateUsername('X'.repeat(1000))
    assert.unreachable()
  } catch (err) {
    assert.ok((err as Error).message.length < 150, (err as Error).message)
  }
})

test('non-strings are BAD_USERNAME; decodeUsername refuses bad UTF-8 and agrees with validateUsername', () => {
  for (const v of [undefined, null, 5, {}, ['a']]) {
    try {
      validateUsername(v)
      assert.unreachable()
    } catch (err) {
      assert.ok(isP4Error(err, 'BAD_USERNAME'), String(v))
    }
    assert.not.ok(isValidUsername(v))
  }
  assert.is(decodeUsername(new Uint8Array([0xc3])), undefined) // truncated
  assert.is(decodeUsername(new Uint8Array([0xc0, 0x80])), undefined) // overlong NUL
  assert.is(decodeUsername(new Uint8Array([0xed, 0xa0, 0x80])), undefined) // encoded surrogate
  assert.is(decodeUsername(new Uint8Array(0)), undefined)
  assert.is(decodeUsername(new Uint8Array(32).fill(0x61)), undefined)
  // Every name in this file: decode(bytes) is the name exactly when validate accepts it.
  const sample = ['alice', 'Alice', 'a b', 'p\u0430ypal', 'ａｌｉｃｅ', 'a\u200bb', '東京タワー', 'a--b', 'é', 'e\u0301', '١۲', 'раураӏ']
  for (const n of sample) assert.is(decodeUsername(utf8.encode(n)) === n, isValidUsername(n), quoteUsername(n))
})

test('fast enough for every HELLO: well under 50 µs per check (measured 0.1-7 µs)', () => {
  const names = ['alice', 'node-12', 'иван', 'देवनागरी', '東京タワー', '김철수', 'Alice', 'p\u0430ypal']
  for (const n of names) isValidUsername(n) // warm up
  const rounds = 5_000
  const t0 = performance.now()
  for (let i = 0; i < rounds; i++) for (const n of names) isValidUsername(n)
  const perCheckUs = ((performance.now() - t0) * 1000) / (rounds * names.length)
  assert.ok(perCheckUs < 50, `${perCheckUs.toFixed(2)} µs per check`)
})

test.run()
