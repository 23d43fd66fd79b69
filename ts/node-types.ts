// The types of the Node's public API: events, options of start() and
// waitForUser(), status() and stats() (ts/node.ts implements them).
import type { P4Error } from './core/errors.js'
import type { StatusReason } from './join.js'
import type { LinkInfo, OverlayStats, Reachability } from './overlay/overlay.js'
import type { Address } from './transport/types.js'

export type { Reachability, StatusReason }

/** A DATA message as it arrived, before end-to-end decryption (the 'wire' event, for diagnostics). */
export interface WireMessage {
  pluginId: number
  /** The sender, as the user table names its key. */
  from: string
  /** The payload as carried: a sealed box when `encrypted`. */
  body: Uint8Array
  broadcast: boolean
  encrypted: boolean
}

/** Bytes this node relayed on a circuit (the 'relay-wire' event, for diagnostics): what a relay sees. */
export interface RelayedBytes {
  /** The end that sent them and the end they went to, as this node names their keys. */
  from: string
  to: string
  /** One DATA payload as carried: records of the ends' own encrypted session. */
  bytes: Uint8Array
}

/** Options of node.start(). */
export interface StartOptions {
  /**
   * How long start() waits for the node to join (a link up and its user
   * table received) when it has a bootstrap or cached peers, in ms. After it,
   * start() resolves anyway, with a 'warning' (NOT_JOINED) saying why the
   * node is alone; it keeps trying in the background. 0: do not wait.
   * Default 10,000.
   */
  joinTimeout?: number
}

/** Options of node.waitForUser(). */
export interface WaitForUserOptions {
  /** Give up after this many ms (TIMEOUT). Default 10,000. */
  timeout?: number
  /** Wait until the user also runs this plugin. */
  plugin?: number
}


/** What node.status() reports: whether the node is in a network, and if not, why. */
export interface NodeStatus {
  /**
   * new: not started; joining: started, waiting for its first link and user
   * table; joined: linked; alone: running without links (nobody to join, or
   * joining failed: see reasons); stopped.
   */
  state: 'new' | 'joining' | 'joined' | 'alone' | 'stopped'
  links: number
  /** The latest warnings (failed bootstrap dials, refused keys, …), newest last, at most 8. */
  reasons: StatusReason[]
  /** Whether other nodes can dial this one (node.reachability). */
  reachability: Reachability
}

/** Node events and their listeners' arguments. */
export interface NodeEvents {
  /** A user came online (its signed HELLO was accepted). */
  'user-joined': (username: string) => void
  /** A user left, timed out, or was found unreachable. */
  'user-left': (username: string) => void
  /** A known user is now at another address. */
  'user-moved': (username: string) => void
  'link-up': (link: LinkInfo) => void
  /** `reason`: why the link closed (null for a clean BYE). */
  'link-down': (link: LinkInfo, reason: P4Error | null) => void
  /** start() is listening (node.address is known); joining comes next. */
  listening: (address: Address) => void
  /** The first user table arrived over a link: the node is in a network. */
  joined: () => void
  /** Why the node cannot join or link (unreachable bootstrap, refused key, …); also in status().reasons. */
  warning: (err: P4Error) => void
  error: (err: Error) => void
  /** node.reachability changed: a new verdict (public / private) or address. */
  reachability: (r: Reachability) => void
  /** Every DATA message as it arrived (diagnostics). */
  wire: (m: WireMessage) => void
  /** Every DATA payload this node relayed on a circuit (diagnostics: all a relay sees). */
  'relay-wire': (m: RelayedBytes) => void
}

/** Any event name but those of NodeEvents, whose listeners must have their types. */
export type OtherEvent<E> = E extends keyof NodeEvents ? never : E

export interface NodeStats extends OverlayStats {
  links: number
  directSessions: number
  users: number
  dedupEntries: number
  dedupBytes: number
  /** Inbound handshakes in progress plus sessions being torn down (capped by quotas.maxPendingHandshakes). */
  handshakesPending: number
  /** Entries LAN discovery's receiving checks hold: rate buckets per source address and per key, last beacon per key (bounded). */
  lanEntries: number
}
