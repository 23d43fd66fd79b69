// Assertions on P4Error codes, shared by the test files: that a call throws
// (or a promise rejects with) a P4Error of a given code, or which code it was.
import * as assert from 'uvu/assert'
import { isP4Error, type P4Error } from '../../ts/core/errors.js'

/** Asserts that `fn` throws a P4Error with `code` (and, given `match`, a message matching it); returns the error. */
export function throwsCode(fn: () => unknown, code: string, what = '', match?: RegExp): P4Error {
  try {
    fn()
  } catch (err) {
    return hasCode(err, code, what, match)
  }
  return assert.unreachable(`${prefix(what)}expected ${code}, nothing was thrown`) as never
}

/** Asserts that `p` rejects with a P4Error with `code`; returns the error. */
export async function rejectsCode(p: Promise<unknown>, code: string, what = ''): Promise<P4Error> {
  try {
    await p
  } catch (err) {
    return hasCode(err, code, what)
  }
  return assert.unreachable(`${prefix(what)}expected a rejection with ${code}`) as never
}

/** Resolves with the P4Error code `fn` throws or rejects with (fails otherwise). */
export async function errorCode(fn: () => unknown, what = 'the call'): Promise<string> {
  try {
    await fn()
  } catch (err) {
    if (isP4Error(err)) return err.code
    throw new Error(`${what}: expected a P4Error, got ${String(err)}`)
  }
  throw new Error(`${what}: expected a P4Error, but nothing was thrown`)
}

function prefix(what: string): string {
  return what ? `${what}: ` : ''
}

function hasCode(err: unknown, code: string, what: string, match?: RegExp): P4Error {
  assert.ok(isP4Error(err), `${prefix(what)}expected a P4Error ${code}, got ${String(err)}`)
  const e = err as P4Error
  assert.is(e.code, code, `${prefix(what)}${e.message}`)
  if (match) assert.match(e.message, match, what)
  return e
}
