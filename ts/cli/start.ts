// `p4net start`: runs a node until SIGINT/SIGTERM, printing one line per
// join, leave and link event. launchNode() is shared with `p4net chat`.
import type { Node } from '../node.js'
import { fingerprint } from '../core/identity.js'
import type { LinkInfo } from '../node.js'
import type { TrustPolicy } from '../overlay/trust-policy.js'
import { debug } from '../core/log.js'
import type { P4Error } from '../core/errors.js'
import { counted } from './words.js'
import { helpText, NODE_OPTIONS, parseCommand, type CommandSpec, type Values } from './args.js'
import { requireUsername, resolveConfig, toNodeOptions } from './config.js'
import type { ResolvedSettings } from './settings.js'
import { defaultOf } from '../options.js'
import { checkControlPath, serveControl, statusOf, type ControlServer } from './control.js'

const log = debug('cli')

export const startSpec: CommandSpec = {
  name: 'start',
  summary: 'run a node until interrupted',
  usage: 'p4net start --username NAME [--port PORT] [--host HOST] [--bootstrap HOST:PORT ...] [--data-dir DIR]',
  options: {
    ...NODE_OPTIONS,
    quiet: { type: 'boolean', short: 'q', help: 'do not print join, leave and link events' },
  },
  details: `Prints one line per event (user-joined, user-left, user-moved, link-up,
link-down). SIGINT or SIGTERM stops the node cleanly: BYE to every peer,
pinned keys and the peer cache flushed, control socket removed.
\`p4net status\` with the same data dir asks the running node for its state.`,
}

export interface Launched {
  node: Node
  settings: ResolvedSettings
  control: ControlServer
  /** Stops the node, flushes trust pins, removes the control socket. Idempotent. */
  stop(): Promise<void>
}

/** How long a command waits for the join: two dial timeouts (timers.requestTimeoutMs), one to dial and one for the first user table. */
export function joinDeadlineMs(settings: ResolvedSettings): number {
  return 2 * (settings.timers?.requestTimeoutMs ?? (defaultOf('timers.requestTimeoutMs') as number))
}

/**
 * Resolves configuration, creates and starts a node (after `setup` registers
 * plugins and listeners: 'listening' comes before the join), and serves the
 * control socket in its data dir. Resolves once joined or after the join
 * deadline (node.status() tells which); `cancel` (a signal) ends the wait
 * by stopping the node.
 */
export async function launchNode(command: string, values: Values, setup: (node: Node) => void = () => undefined, cancel?: Promise<unknown>): Promise<Launched> {
  const { settings } = resolveConfig({ command, flags: values })
  const username = requireUsername(settings, command)
  // Before createNode(), which creates the data dir and identity.json: a
  // refused start writes nothing.
  checkControlPath(settings.dataDir)
  const { options, trust } = toNodeOptions(settings, username)
  // The library is loaded only once the arguments are known to be good.
  const { createNode } = await import('../node.js')
  const node = await createNode(options)
  setup(node)
  const startedAt = Date.now()
  // Claim the data dir's control socket before joining: a second node on the
  // same data dir (same identity) is refused before it touches the network.
  const control = await serveControl(settings.dataDir, () => statusOf({ node, command, dataDir: settings.dataDir, startedAt }))
  let starting = true
  void cancel?.then(() => {
    if (starting) void node.stop()
  })
  try {
    await node.start({ joinTimeout: joinDeadlineMs(settings) })
  } catch (err) {
    await control.close()
    throw err
  } finally {
    starting = false
  }
  log('%s started as %s on %o', command, username, node.address)
  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await control.close()
      await node.stop()
      await flushTrust(trust)
    })())
  return { node, settings, control, stop }
}

async function flushTrust(trust: TrustPolicy): Promise<void> {
  // node.stop() leaves tofu pins to a delayed, unref'd save; write them now.
  const t = trust as TrustPolicy & { flush?: () => Promise<void> }
  if (typeof t.flush === 'function') await t.flush()
}

/** Resolves on the first SIGINT or SIGTERM with its name; a second one exits at once. */
export function untilSignal(): { promise: Promise<string>; dispose(): void } {
  let resolve!: (s: string) => void
  const promise = new Promise<string>((r) => (resolve = r))
  let seen = 0
  const on = (sig: NodeJS.Signals): void => {
    if (++seen > 1) process.exit(130)
    resolve(sig)
  }
  process.on('SIGINT', on)
  process.on('SIGTERM', on)
  return {
    promise,
    dispose() {
      process.off('SIGINT', on)
      process.off('SIGTERM', on)
    },
  }
}

/** Where a node listens, for a "listening on" line: the bound address, and the advertised one where it differs. */
export function describeAddress(node: Node): string {
  const a = node.address
  const adv = node.advertisedAddress
  return `${a.host}:${a.port}${adv.host !== a.host ? ` (advertised as ${adv.host}:${adv.port})` : ''}`
}

/** After the join wait: "" when joined (or nobody to join), else why the node is alone. */
export function aloneBecause(node: Node): string {
  const st = node.status()
  if (st.state === 'joined' || st.reasons.length === 0) return ''
  // The NOT_JOINED warning repeats its cause: name the cause itself.
  const why = [...st.reasons].reverse().find((r) => r.code !== 'NOT_JOINED') ?? st.reasons[st.reasons.length - 1]!
  return why.message
}

export function describeLink(l: LinkInfo): string {
  return `${l.username} ${l.host}:${l.port} ${l.initiator ? 'out' : 'in'}`
}

export async function startCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(startSpec, argv)
  if (!parsed) {
    process.stdout.write(helpText(startSpec))
    return 0
  }
  const quiet = parsed.values.quiet === true
  const say = (line: string): void => void process.stdout.write(line + '\n')
  const event = (what: string): void => {
    if (!quiet) say(`${new Date().toISOString()} ${what}`)
  }
  const signal = untilSignal()
  try {
    const { node, settings, control, stop } = await launchNode('start', parsed.values, (node) => {
      node.on('user-joined', (u: string) => event(`user-joined ${u}`))
      node.on('user-left', (u: string) => event(`user-left ${u}`))
      node.on('user-moved', (u: string) => event(`user-moved ${u}`))
      node.on('link-up', (l: LinkInfo) => event(`link-up ${describeLink(l)}`))
      node.on('link-down', (l: LinkInfo, reason?: Error | null) => event(`link-down ${describeLink(l)}${reason ? ` (${reason.message})` : ''}`))
      // Why the node may be alone (an unreachable or refusing bootstrap), even with --quiet.
      // (NOT_JOINED repeats an earlier warning: the "alone" line below says it.)
      node.on('warning', (e: P4Error) => void (e.code !== 'NOT_JOINED' && process.stderr.write(`p4net: warning: ${e.message}\n`)))
      node.on('listening', () => {
        say(`p4net: ${node.username} listening on ${describeAddress(node)} (fingerprint ${fingerprint(node.identity.publicKey)})`)
      })
    }, signal.promise)
    say(`p4net: data dir ${settings.dataDir}, control socket ${control.path}`)
    const alone = aloneBecause(node)
    if (alone) say(`p4net: alone (still trying): ${alone}`)
    else if (node.status().state === 'joined') say(`p4net: joined: ${counted(node.links().length, 'link')}, ${counted(node.users().length - 1, 'other user')}`)
    const sig = await signal.promise
    say(`p4net: ${sig}: stopping`)
    await stop()
    say('p4net: stopped')
    return 0
  } finally {
    signal.dispose()
  }
}
