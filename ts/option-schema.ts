// The option schema: every option of createNode() and of the p4net command in
// one table (type and range, default per profile, flag, environment variable,
// one line of doc). ts/options.ts validates through it; the CLI's flags,
// environment, config file, --help and the tables of docs/cli.md derive from it.
import { DEFAULT_HOP_LIMIT, DEFAULT_MAX_MESSAGE } from './core/protocol.js'
import type { Identity } from './core/identity.js'
import { usernameProblem, quoteUsername } from './core/username.js'
import { checkSocketOptions, type SocketOptions } from './native/options.js'
import { validateHost } from './overlay/codec-fields.js'
import { isMulticastIPv4, LAN_DEFAULT_GROUP, LAN_DEFAULT_PORT } from './overlay/lan-config.js'
import type { OverlayTimers } from './overlay/overlay.js'
import type { Quotas } from './overlay/quotas.js'
import type { ReachConfig, RelayConfig } from './overlay/types.js'
import { parseTrustConfig, type TrustConfig } from './overlay/trust-config.js'
import type { TrustPolicy } from './overlay/trust-policy.js'
import { isDatagramTransport, type DatagramTransport } from './transport/datagram.js'
import type { Address, Transport } from './transport/types.js'
import { DEDUP_MAX_CAPACITY, DEDUP_MIN_CAPACITY } from './wasm/dedup-limits.js'
import type { Clock } from './core/clock.js'
import { P4Error } from './core/errors.js'

export type Profile = 'default' | 'small'
export const PROFILE_NAMES: readonly Profile[] = ['default', 'small']

/** Options of createNode(); each is an entry of OPTIONS below (its doc, range and default). */
export interface NodeOptions {
  username: string
  identity?: Identity
  host?: string
  port?: number
  advertiseHost?: string
  bootstrap?: Array<string | Address>
  dataDir?: string
  transport?: Transport
  profile?: Profile
  links?: { min?: number; max?: number; hardCap?: number }
  maxMessage?: number
  hopLimit?: number
  trust?: TrustConfig | TrustPolicy
  certificate?: Uint8Array
  discover?: { forwardProbability?: number; minHops?: number; maxHops?: number }
  timers?: Partial<OverlayTimers>
  dedup?: { capacity?: number; ttlMs?: number }
  maxUsers?: number
  maxDirect?: number
  highWaterMark?: number
  streams?: { max?: number; window?: number }
  reach?: Partial<ReachConfig>
  quotas?: Partial<Quotas>
  socket?: SocketOptions
  clock?: Clock
  lan?: { enabled?: boolean; group?: string; port?: number; intervalMs?: number; transport?: DatagramTransport }
  relay?: Partial<RelayConfig>
}

export type Value = number | string | boolean | readonly string[]

/** How a value reached the checks: as createNode() takes it, or as JSON in a config file (or a flag or variable). */
export type Form = 'api' | 'file'

export interface OptionEntry {
  /** Dotted path: "port", "links.min", "timers.pingIntervalMs". */
  readonly name: string
  /** int: integer min..max; fraction: number in [min, max); text: non-empty string; host: host name or IP literal; enum: one of values; bool: true or false (a flag without a value); addresses: list of host:port; group: object of the entries under it; custom: check(). */
  readonly kind: 'int' | 'fraction' | 'text' | 'host' | 'enum' | 'bool' | 'addresses' | 'group' | 'custom'
  readonly doc: string
  readonly min?: number
  readonly max?: number
  readonly values?: readonly string[]
  /** A sibling that bounds this value from above (min ≤ max ≤ hardCap); the default is lowered to it. */
  readonly atMost?: string
  /** A sibling whose given value raises this default, so raising that one alone is enough. */
  readonly raisedBy?: string
  /** The default, or one per profile; none when absent. */
  readonly default?: Value | { readonly default: Value; readonly small: Value }
  /** A default computed from other options (`get` resolves them). */
  readonly derive?: (get: (name: string) => unknown) => unknown
  /** The default as help and docs show it, when it is not a plain value. */
  readonly defaultDoc?: string
  readonly required?: boolean
  /** Error code for a bad value (default BAD_OPTION). */
  readonly code?: 'BAD_USERNAME'
  /** kind custom: what is wrong with `v`, or undefined when it is fine. */
  readonly check?: (v: unknown, form: Form) => string | undefined
  /** false: not in a config file (objects only code can make); a function: turns the file form into the createNode() form. */
  readonly file?: false | ((v: unknown) => unknown)
  /** The type as docs show it, when the kind does not say enough. */
  readonly typeDoc?: string
  /** Command-line flag (without --), its one-letter form and value placeholder. */
  readonly flag?: string
  readonly short?: string
  readonly placeholder?: string
  /** Environment variable of the p4net command. */
  readonly env?: string
  /** A path: relative to the working directory on the command line, to the file's directory in a config file. */
  readonly path?: boolean
}

/** A value shown in a message: JSON, cut short. */
export function show(v: unknown): string {
  if (v instanceof Uint8Array) return `<${v.length} bytes>`
  let s: string | undefined
  try {
    s = JSON.stringify(v)
  } catch {
    s = undefined
  }
  if (s === undefined) return String(v)
  return s.length > 40 ? s.slice(0, 37) + '...' : s
}

/** Parses "host:port" / "[v6]:port" / { host, port }. Throws `code` (BAD_OPTION) naming `what`. */
export function parseAddress(a: unknown, what = 'address', code: 'BAD_OPTION' | 'BAD_ARGUMENT' = 'BAD_OPTION'): Address {
  const bad: (message: string) => never = (message) => {
    throw new P4Error(code, message)
  }
  let host: unknown
  let port: unknown
  if (typeof a === 'string') {
    const m = /^\[?([^\]]*)\]?:(\d{1,5})$/.exec(a.trim())
    if (!m) bad(`${what} must look like host:port, got ${JSON.stringify(a)}`)
    host = m[1]
    port = Number(m[2])
  } else if (typeof a === 'object' && a !== null) {
    host = (a as Address).host
    port = (a as Address).port
  } else bad(`${what} must be "host:port" or { host, port }`)
  if (typeof host !== 'string' || host.length === 0) bad(`${what}: host must be a non-empty string`)
  try {
    validateHost(host)
  } catch {
    bad(`${what}: invalid host ${JSON.stringify(host)}`)
  }
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) bad(`${what}: port must be 1..65535, got ${String(port)}`)
  return { host, port }
}

export function isTransport(t: unknown): t is Transport {
  return typeof t === 'object' && t !== null && typeof (t as Transport).listen === 'function' && typeof (t as Transport).dial === 'function'
}

export function isTrustPolicy(t: unknown): t is TrustPolicy {
  return typeof t === 'object' && t !== null && typeof (t as TrustPolicy).check === 'function'
}

/** The problem a throwing validator reports, as a phrase. */
function thrown(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    return `is invalid: ${(err as Error).message}`
  }
}

type Leaf = Omit<OptionEntry, 'name'>
type Fields<T> = { readonly [K in keyof Required<T>]: Leaf }

const MS: Leaf = { kind: 'int', min: 1, max: 2 ** 31 - 1, doc: '' }
const ms = (dflt: number, doc: string): Leaf => ({ ...MS, default: dflt, doc })
const quota = (dflt: number, small: number, doc: string): Leaf => ({ kind: 'int', min: 1, max: 1e9, default: dflt === small ? dflt : { default: dflt, small }, doc })

const LINKS: Fields<NonNullable<NodeOptions['links']>> = {
  min: { kind: 'int', min: 0, max: 4096, default: { default: 4, small: 2 }, atMost: 'max', flag: 'min-links', placeholder: 'N', env: 'P4NET_MIN_LINKS', doc: 'keep at least this many overlay links' },
  max: { kind: 'int', min: 1, max: 4096, default: { default: 12, small: 4 }, atMost: 'hardCap', flag: 'max-links', placeholder: 'N', env: 'P4NET_MAX_LINKS', doc: 'keep at most this many overlay links' },
  hardCap: { kind: 'int', min: 1, max: 4096, default: { default: 64, small: 8 }, raisedBy: 'max', doc: 'never more links than this: a new link beyond it is refused' },
}

const DISCOVER: Fields<NonNullable<NodeOptions['discover']>> = {
  forwardProbability: { kind: 'fraction', min: 0, max: 1, default: 0.9, doc: 'a walk hop forwards the walk with this probability, else the walker links back to its origin' },
  minHops: { kind: 'int', min: 0, max: 255, default: 2, atMost: 'maxHops', doc: 'a walk is forwarded at least this many hops' },
  maxHops: { kind: 'int', min: 1, max: 255, default: 8, doc: 'a walk ends after this many hops' },
}

const TIMERS: Fields<OverlayTimers> = {
  maintenanceMs: ms(1000, 'link upkeep period (min/max, walks, pings, idle directs)'),
  pingIntervalMs: ms(15_000, 'PING period on every link, busy or quiet (liveness and rtt); a link silent for 3 periods is closed'),
  linkMinAgeMs: ms(30_000, 'a link younger than this is never closed except on stop (P4: 30 s)'),
  directIdleMs: ms(60_000, 'direct sessions idle this long are closed'),
  helloRefreshMs: ms(300_000, 'own HELLO is re-flooded this often'),
  userTimeoutMs: ms(900_000, 'a user not heard of (no HELLO) for this long is marked offline'),
  handshakeTimeoutMs: ms(10_000, 'handshake deadline'),
  requestTimeoutMs: ms(5000, 'timeout of latency() and of dialling'),
  walkTimeoutMs: ms(5000, 'a DISCOVER walk not answered within this is given up'),
  lkaSyncMs: ms(60_000, 'one random link is asked for its LKA table about this often'),
  clockSkewMs: ms(600_000, 'clock difference tolerated between nodes in HELLO and DISCOVER timestamps'),
}

const DEDUP: Fields<NonNullable<NodeOptions['dedup']>> = {
  capacity: { kind: 'int', min: DEDUP_MIN_CAPACITY, max: DEDUP_MAX_CAPACITY, default: { default: 1 << 16, small: 1 << 12 }, doc: 'entries of the seen-message table (fixed size)' },
  ttlMs: ms(600_000, 'a seen message ID is remembered this long'),
}

const STREAMS: Fields<NonNullable<NodeOptions['streams']>> = {
  max: { kind: 'int', min: 0, max: 65536, default: { default: 256, small: 16 }, doc: 'streams open at once with one peer (both directions; more are refused); 0 turns streams off' },
  window: { kind: 'int', min: 4096, max: 1 << 30, default: { default: 256 << 10, small: 32 << 10 }, doc: 'receive window of each stream, bytes: a peer never has more unread bytes buffered per stream' },
}

const REACH: Fields<ReachConfig> = {
  peers: { kind: 'int', min: 0, max: 16, default: 3, doc: 'peers asked to dial this node back per reachability check (different IP addresses first); 0: never check' },
  quorum: { kind: 'int', min: 1, max: 16, default: 2, atMost: 'peers', doc: 'answers that must agree for a verdict (public or private), so one lying peer cannot decide' },
  intervalMs: ms(600_000, 'reachability is checked again this often (and within a minute of links changing)'),
  servePerPeer: quota(3, 2, 'dial-backs served per minute to one peer (only to the address its connection comes from); more are refused'),
  servePerMinute: { kind: 'int', min: 0, max: 1e6, default: { default: 60, small: 10 }, doc: 'dial-backs served per minute to all peers together; 0: serve none' },
  serveAtOnce: quota(4, 1, 'dial-backs in progress at once; more are refused'),
}

const QUOTAS: Fields<Quotas> = {
  framesPerSecond: quota(20_000, 5000, 'control and flooded frames per second from one peer'),
  helloPerSecond: quota(500, 200, 'HELLO frames per second from one peer'),
  discoverPerSecond: quota(20, 20, 'DISCOVER frames per second from one peer'),
  duplicatesPerSecond: quota(10_000, 2000, 'flooded frames already seen, per second, from one peer'),
  badSignaturesPerMinute: quota(30, 30, 'frames with an invalid origin signature, per minute, from one peer'),
  lkaRequestsPerMinute: quota(6, 6, 'LKA requests (each answered with a whole table), per minute, from one peer'),
  maxPendingHandshakes: quota(64, 8, 'inbound connections still in their handshake; more are closed at once'),
  notReadingMs: quota(10_000, 10_000, 'a link whose full send queue takes less than highWaterMark bytes for this long is closed'),
  banMs: quota(60_000, 60_000, 'a cut-off identity is refused for this long'),
  cpuMsPerSecond: quota(250, 100, 'CPU ms per second one peer may cost (signatures, walks, LKA answers, boxes); past it, reading it pauses'),
  cpuBurstMs: quota(50, 25, 'largest burst of that CPU time, ms'),
  decryptFailuresPerMinute: quota(30, 30, 'end-to-end boxes that fail to open, per minute, from one peer'),
}

const LAN: Fields<NonNullable<NodeOptions['lan']>> = {
  enabled: { kind: 'bool', default: false, flag: 'lan', env: 'P4NET_LAN', doc: 'find nodes on the local network by signed UDP multicast beacons, with no bootstrap (needs a LAN host, not 127.0.0.1)' },
  group: {
    kind: 'custom', default: LAN_DEFAULT_GROUP, typeDoc: 'IPv4 multicast address', doc: 'multicast group of the beacons (239.255.0.0/16 is scoped to the site)',
    check: (v) => (isMulticastIPv4(v) ? undefined : `must be an IPv4 multicast address (224.0.0.0 to 239.255.255.255), got ${show(v)}`),
  },
  port: { kind: 'int', min: 1, max: 65535, default: LAN_DEFAULT_PORT, doc: 'UDP port of the beacons' },
  intervalMs: { kind: 'int', min: 1000, max: 3_600_000, default: { default: 15_000, small: 60_000 }, doc: 'a beacon goes out at start and about this often (jittered by a quarter either way)' },
  transport: {
    kind: 'custom', file: false, defaultDoc: 'udp (node:dgram)', typeDoc: 'DatagramTransport',
    doc: 'the datagram sockets: udp, or MemoryLan.transport(host) to simulate a LAN in one process',
    check: (v) => (isDatagramTransport(v) ? undefined : 'must be a DatagramTransport (udp, or MemoryLan.transport(host))'),
  },
}

const RELAY: Fields<RelayConfig> = {
  serve: {
    kind: 'custom', default: { default: 'auto', small: false }, typeDoc: 'true, false or "auto"',
    doc: 'relay circuits for nodes others cannot dial; "auto": only while this node found it can be dialled itself (reachability public)',
    check: (v) => (v === true || v === false || v === 'auto' ? undefined : `must be true, false or "auto", got ${show(v)}`),
  },
  client: { kind: 'enum', values: ['auto', 'always', 'never'], default: 'auto', doc: 'hold reservations with relays so others reach this node through them; "auto": once it found it cannot be dialled' },
  count: { kind: 'int', min: 1, max: 4, default: 2, doc: 'relays a node that cannot be dialled holds a reservation with' },
  maxReservations: { kind: 'int', min: 1, max: 65535, default: { default: 128, small: 8 }, doc: 'reservations a relay holds in all; more are refused (RESERVATION_LIMIT)' },
  reservationsPerHost: { kind: 'int', min: 1, max: 65535, default: 4, doc: 'reservations a relay holds for the nodes of one IP address (HOST_LIMIT)' },
  reservationMs: { kind: 'int', min: 1000, max: 2 ** 31 - 1, default: 900_000, doc: 'a reservation lasts this long unless renewed (clients renew at three quarters of it)' },
  maxCircuits: { kind: 'int', min: 1, max: 65535, default: { default: 256, small: 16 }, doc: 'circuits a relay keeps open in all (RELAY_FULL)' },
  circuitsPerReservation: { kind: 'int', min: 1, max: 65535, default: 16, doc: 'circuits open at once to one node holding a reservation (CIRCUIT_LIMIT)' },
  circuitsPerPeer: { kind: 'int', min: 1, max: 65535, default: 8, doc: 'circuits open at once through a relay from one opener (PEER_LIMIT)' },
  circuitBytes: { kind: 'int', min: 1024, max: 2 ** 40, default: { default: 256 << 20, small: 16 << 20 }, doc: 'a circuit closes after carrying this many bytes, both ways together (BYTE_LIMIT)' },
  circuitMs: { kind: 'int', min: 1000, max: 2 ** 31 - 1, default: 1_800_000, doc: 'a circuit closes after this long (TIME_LIMIT); the next message opens another' },
  connectsPerMinute: { kind: 'int', min: 1, max: 1e6, default: 120, doc: 'circuits one peer may open through a relay per minute, burst as many (RATE_LIMITED)' },
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

const TOP: { readonly [K in keyof Required<NodeOptions>]: Leaf & { fields?: Record<string, Leaf> } } = {
  username: {
    kind: 'custom', required: true, code: 'BAD_USERNAME', flag: 'username', short: 'u', placeholder: 'NAME', env: 'P4NET_USERNAME',
    typeDoc: 'string, the username rules of docs/protocol.md',
    doc: 'username: 1-31 bytes of UTF-8, lower case, letters of one script, digits, - _ .',
    check: (v) => {
      const why = usernameProblem(v)
      return why === undefined ? undefined : `is not a valid username (${why})${typeof v === 'string' ? `, got ${quoteUsername(v)}` : ''}`
    },
  },
  identity: {
    kind: 'custom', file: false, defaultDoc: 'loaded from (or created in) dataDir, else generated', typeDoc: 'Identity',
    doc: 'the node identity, from generateIdentity() or loadIdentity()',
    check: (v) => (typeof v === 'object' && v !== null && (v as Identity).publicKey instanceof Uint8Array ? undefined : 'must come from generateIdentity() or loadIdentity()'),
  },
  host: { kind: 'host', default: '127.0.0.1', flag: 'host', placeholder: 'HOST', env: 'P4NET_HOST', doc: 'listen host' },
  port: { kind: 'int', min: 0, max: 65535, default: 0, flag: 'port', short: 'p', placeholder: 'PORT', env: 'P4NET_PORT', doc: 'listen port; 0 = any free port' },
  advertiseHost: {
    kind: 'host', flag: 'advertise-host', placeholder: 'HOST', env: 'P4NET_ADVERTISE_HOST',
    derive: (get) => (get('host') === '0.0.0.0' || get('host') === '::' ? '127.0.0.1' : get('host')),
    defaultDoc: 'the listen host; for 0.0.0.0 and ::, the address peers dialled it back at (reachability), before that one peers on 2 IP addresses see it at, else 127.0.0.1',
    doc: 'host put in HELLO for others to reach this node',
  },
  bootstrap: { kind: 'addresses', default: [], flag: 'bootstrap', short: 'b', placeholder: 'HOST:PORT', env: 'P4NET_BOOTSTRAP', doc: 'nodes to join through; repeat the flag or comma-separate' },
  dataDir: {
    kind: 'text', path: true, flag: 'data-dir', short: 'd', placeholder: 'DIR', env: 'P4NET_DATA_DIR',
    defaultDoc: 'the user config dir', doc: 'identity, pinned keys, peer cache, control socket (createNode: none unless given)',
  },
  transport: {
    kind: 'custom', file: false, defaultDoc: 'tcp', typeDoc: 'Transport',
    doc: 'tcp, or memoryTransport(network) to simulate many nodes in one process',
    check: (v) => (isTransport(v) ? undefined : 'must be a Transport (tcp or memoryTransport(network))'),
  },
  profile: { kind: 'enum', values: PROFILE_NAMES, default: 'default', flag: 'profile', placeholder: 'NAME', env: 'P4NET_PROFILE', doc: '"small" lowers every bound together for constrained devices' },
  links: { kind: 'group', doc: 'overlay link targets', fields: LINKS },
  maxMessage: { kind: 'int', min: 1, max: 256 * 1024 * 1024, default: { default: DEFAULT_MAX_MESSAGE, small: 1 << 20 }, doc: 'largest plugin payload, bytes' },
  hopLimit: { kind: 'int', min: 1, max: 255, default: DEFAULT_HOP_LIMIT, doc: 'relayed messages are dropped after this many hops' },
  trust: {
    kind: 'custom', defaultDoc: '{ "policy": "tofu" }',
    typeDoc: '{ "policy": "tofu", "maxPins"? }, { "policy": "allowlist", "keys": [...] } or { "policy": "authority", "authorityKey": "...", "clockSkewMs"? } (keys as hex or base64)',
    doc: 'trust policy (createNode also takes a TrustPolicy object)',
    check: (v, form) => (form === 'api' && isTrustPolicy(v) ? undefined : thrown(() => parseTrustConfig(v))),
  },
  certificate: {
    kind: 'custom', typeDoc: 'base64 string (createNode: Uint8Array)', doc: 'username certificate for the authority trust policy',
    check: (v, form) =>
      form === 'api'
        ? v instanceof Uint8Array ? undefined : 'must be a Uint8Array'
        : typeof v === 'string' && BASE64.test(v) && Buffer.from(v, 'base64').toString('base64') === v ? undefined : 'must be base64',
    file: (v) => new Uint8Array(Buffer.from(v as string, 'base64')),
  },
  discover: { kind: 'group', doc: 'DISCOVER random walks, which find new neighbours', fields: DISCOVER },
  timers: { kind: 'group', doc: 'overlay timers, milliseconds', fields: TIMERS },
  dedup: { kind: 'group', doc: 'the seen-message table, which drops a flooded message seen before', fields: DEDUP },
  maxUsers: { kind: 'int', min: 1, max: 1 << 20, default: { default: 4096, small: 512 }, doc: 'users kept in the Last Known Address table' },
  maxDirect: { kind: 'int', min: 1, max: 4096, default: { default: 32, small: 4 }, doc: 'direct (non-link) sessions kept open' },
  highWaterMark: { kind: 'int', min: 1024, max: 1 << 30, default: { default: 1 << 20, small: 64 << 10 }, doc: 'bytes queued per session before send() waits for it to drain' },
  streams: { kind: 'group', doc: 'plugin.openStream(): streams per peer and their flow control', fields: STREAMS },
  reach: { kind: 'group', doc: 'reachability: dial-back checks this node asks for (node.reachability), and those it serves for peers', fields: REACH },
  quotas: { kind: 'group', doc: 'per-peer quotas: a peer that exceeds one is cut off', fields: QUOTAS },
  clock: {
    kind: 'custom', file: false, defaultDoc: 'the system clock', typeDoc: 'Clock',
    doc: 'time and timers: a ManualClock lets tests and simulations on the memory transport drive the protocol',
    check: (v) => {
      const c = v as Partial<Clock> | null
      return typeof c === 'object' && c !== null && typeof c.now === 'function' && typeof c.wall === 'function' && typeof c.setTimeout === 'function' && typeof c.clearTimeout === 'function'
        ? undefined
        : 'must be a Clock (now, wall, setTimeout, clearTimeout), e.g. new ManualClock()'
    },
  },
  lan: { kind: 'group', doc: 'LAN discovery by signed multicast beacons (off unless enabled)', fields: LAN },
  relay: { kind: 'group', doc: 'relayed sessions: reservations with relays for nodes others cannot dial, circuits through them, and the limits of a relay', fields: RELAY },
  socket: {
    kind: 'custom', defaultDoc: 'the system defaults', typeDoc: '{ noDelay, quickAck, sendBuffer, receiveBuffer, keepAlive: { idleMs, intervalMs, count } | false, userTimeoutMs } (docs/native.md)',
    doc: 'socket options of the default tcp transport',
    check: (v) => thrown(() => checkSocketOptions(v)),
  },
}

/** Every option, groups before their fields, in the order docs list them. */
export const OPTIONS: readonly OptionEntry[] = Object.entries(TOP).flatMap(([name, { fields, ...e }]) => [
  { name, ...e } as OptionEntry,
  ...Object.entries(fields ?? {}).map(([k, f]) => ({ ...f, name: `${name}.${k}`, atMost: f.atMost && `${name}.${f.atMost}`, raisedBy: f.raisedBy && `${name}.${f.raisedBy}` }) as OptionEntry),
])

const BY_NAME = new Map(OPTIONS.map((e) => [e.name, e]))

/** The entry of `name` ("links.min"), or undefined. */
export function optionEntry(name: string): OptionEntry | undefined {
  return BY_NAME.get(name)
}

/** The fields of a group entry ("links" → links.min, links.max, links.hardCap). */
export function fieldsOf(group: string): OptionEntry[] {
  return OPTIONS.filter((e) => e.name.startsWith(`${group}.`))
}

/** The table default of `name` under `profile` (before derived defaults and bounds). */
export function defaultOf(name: string, profile: Profile = 'default'): Value | undefined {
  const d = BY_NAME.get(name)?.default
  return typeof d === 'object' && d !== null && !Array.isArray(d) ? (d as { default: Value; small: Value })[profile] : (d as Value | undefined)
}
