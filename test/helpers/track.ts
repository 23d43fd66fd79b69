// A promise's state, observable without waiting: for tests that move a
// ManualClock until a send settles, or check that it has not yet.

export interface Tracked {
  state: 'pending' | 'resolved' | 'rejected'
  /** The rejection reason, once rejected. */
  error?: unknown
}

/** `p`'s state, updated as it settles (a rejection is handled here, never unhandled). */
export function track(p: Promise<unknown>): Tracked {
  const t: Tracked = { state: 'pending' }
  p.then(
    () => (t.state = 'resolved'),
    (err: unknown) => {
      t.state = 'rejected'
      t.error = err
    },
  )
  return t
}
