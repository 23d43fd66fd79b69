// What a test is waiting for, so a test stopped at its deadline can say so
// (test/helpers/test.ts lists these in the error). No uvu here: benches wait
// through common/net.ts too.

const pending = new Map<symbol, string | (() => string)>()

/** Resolves like `p`; while it is pending, a deadline error lists `what`. */
export async function waiting<T>(what: string | (() => string), p: Promise<T>): Promise<T> {
  const key = Symbol()
  pending.set(key, what)
  try {
    return await p
  } finally {
    pending.delete(key)
  }
}

/** The labelled waits pending now, described (a describing function that throws is reported as such). */
export function pendingWaits(): string[] {
  return [...pending.values()].map((w) => {
    try {
      return typeof w === 'function' ? w() : w
    } catch (err) {
      return `(describing the wait failed: ${String(err)})`
    }
  })
}
