// Waiting until a started node has joined the overlay, for commands that act
// on the network as soon as they run (chat reading piped input). Joined means
// what the library means: a link is up and another user is known (its user
// table arrived). A deadline bounds the wait; the caller says why it is alone.
import type { Node } from '../node.js'
import { defaultOf } from '../options.js'
import type { ResolvedSettings } from './settings.js'

export interface JoinResult {
  joined: boolean
  /** Why the node is not joined (when it is not): the last warning, or what is missing. */
  why?: string
  waitedMs: number
}

/** The join deadline: two dial timeouts (timers.requestTimeoutMs), one to dial and one for the first user table. */
export function joinDeadlineMs(settings: ResolvedSettings): number {
  return 2 * (settings.timers?.requestTimeoutMs ?? (defaultOf('timers.requestTimeoutMs') as number))
}

/** True once the node has a link and knows a user besides itself. */
export function hasJoined(node: Node): boolean {
  return node.links().length > 0 && node.users().some((u) => u !== node.username)
}

/**
 * Resolves once `node` has joined, or after `ms` with why it has not (the
 * last 'warning' it emitted, else whether a link ever came up). `cancel`
 * ends the wait early (a signal).
 */
export function awaitJoin(node: Node, ms: number, cancel?: Promise<unknown>): Promise<JoinResult> {
  const t0 = Date.now()
  return new Promise<JoinResult>((resolve) => {
    let lastWarning: string | undefined
    let settled = false
    let settling = false
    const finish = (joined: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      node.off('link-up', check)
      node.off('user-joined', check)
      node.off('warning', onWarning)
      const why = joined ? undefined : (lastWarning ?? (node.links().length === 0 ? 'no link came up' : 'a link is up but no user table arrived'))
      resolve({ joined, why, waitedMs: Date.now() - t0 })
    }
    const check = (): void => {
      if (settling || !hasJoined(node)) return
      settling = true
      // The first user known may be the neighbour's own HELLO, ahead of its
      // user table. A node asks a new link for that table as the link comes
      // up, so one PING round trip on the link later the answer is in.
      const neighbour = node.links()[0]!.username
      node.latency(neighbour).then(
        () => finish(true),
        () => finish(hasJoined(node)),
      )
    }
    const onWarning = (e: Error): void => {
      lastWarning = e.message
    }
    const timer = setTimeout(() => finish(hasJoined(node)), ms)
    node.on('link-up', check)
    node.on('user-joined', check)
    node.on('warning', onWarning)
    cancel?.then(() => finish(hasJoined(node)), () => finish(hasJoined(node)))
    check()
  })
}
