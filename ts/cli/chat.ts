// `p4net chat`: the successor of P4's p4im, an IRC-style line chat on plugin
// 1001. Reads stdin line by line (a TTY or a pipe); a plain line goes to
// everyone, /commands act on the node. Output is plain text lines.
import { createInterface, type Interface } from 'node:readline'
import { isP4Error, type P4Error } from '../core/errors.js'
import { fingerprint } from '../core/identity.js'
import { quoteUsername, usernameProblem } from '../core/username.js'
import { parseAddress, type LinkInfo } from '../node.js'
import type { Plugin, PluginMessage } from '../plugin.js'
import { debug } from '../core/log.js'
import { helpText, NODE_OPTIONS, parseCommand, type CommandSpec } from './args.js'
import { aloneBecause, describeAddress, joinDeadlineMs, launchNode, untilSignal } from './start.js'

const log = debug('chat')

/** The chat plugin ID (P4's p4im used plugin 1001 too in p4net's numbering). */
export const CHAT_PLUGIN = 1001

export const chatSpec: CommandSpec = {
  name: 'chat',
  summary: "interactive line chat on plugin 1001 (P4's p4im)",
  usage: 'p4net chat --username NAME [--port PORT] [--bootstrap HOST:PORT ...] [--data-dir DIR]',
  options: NODE_OPTIONS,
  details: `Type a line to send it to everyone running the chat. Commands:
  /msg USER TEXT          private message, end-to-end encrypted to USER
  /names [PLUGIN|*]       users running the chat (or PLUGIN; * = everyone)
  /conns                  links and direct sessions of this node
  /open [USER] HOST:PORT  open an overlay link to the node at HOST:PORT
  /load ID, /unload ID    start / stop announcing plugin ID (0..65535)
  /plugins [USER]         plugins USER (default: you) runs
  /latency USER           round-trip time to USER in ms
  /help, /quit            this list; leave (so does end of input or Ctrl-C)
A line starting with // is sent as text starting with /.`,
}

const CHAT_HELP = chatSpec.details!.split('\n').slice(1, 10).join('\n')

const decoder = new TextDecoder('utf-8')
const encoder = new TextEncoder()

/** Remote text made safe for a terminal: control characters become U+FFFD. */
export function printable(bytes: Uint8Array): string {
  // eslint-disable-next-line no-control-regex
  return decoder.decode(bytes).replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd')
}

function pluginId(s: string | undefined): number {
  const n = s !== undefined && /^\d{1,5}$/.test(s) ? Number(s) : NaN
  if (!(n >= 0 && n <= 0xffff)) throw new Error(`plugin ID must be an integer 0..65535, got ${JSON.stringify(s ?? '')}`)
  return n
}

function age(ms: number): string {
  return ms < 60_000 ? `${Math.round(ms / 1000)}s` : `${Math.round(ms / 60_000)}m`
}

/** One /conns line: user, address, link or direct, who dialled, age, RTT ('-' until measured). */
export function describeConn(l: LinkInfo, now = Date.now()): string {
  const rtt = l.rtt === undefined || l.rtt === null ? '-' : `${l.rtt.toFixed(2)} ms`
  return `${l.username} ${l.host}:${l.port} ${l.status} ${l.initiator ? 'out' : 'in'} ${age(now - l.since)} rtt ${rtt}`
}

/** Why USER (a word the user typed) cannot be a username, as a chat line; undefined when it can. */
function notAUsername(user: string): string | undefined {
  const problem = usernameProblem(user)
  return problem === undefined ? undefined : `* ${quoteUsername(user)} is not a username: ${problem}`
}

export async function chatCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(chatSpec, argv)
  if (!parsed) {
    process.stdout.write(helpText(chatSpec))
    return 0
  }
  const tty = process.stdin.isTTY === true && process.stdout.isTTY === true
  let rl: Interface | undefined
  let rlOpen = false
  // In a terminal, redraw the prompt under each incoming line; otherwise plain lines.
  const say = (line: string): void => {
    if (tty && rl && rlOpen) {
      process.stdout.write('\r\x1b[2K' + line + '\n')
      rl.prompt(true)
    } else {
      process.stdout.write(line + '\n')
    }
  }
  const loaded = new Map<number, Plugin>()
  let chat!: Plugin
  const signal = untilSignal()
  const launched = await launchNode('chat', parsed.values, (node) => {
    chat = node.plugin(CHAT_PLUGIN)
    chat.on('message', (m: PluginMessage) => {
      const body = printable(m.data)
      if (m.broadcast) say(`<${m.from}> ${body}`)
      else say(`*${m.from}* (private${m.encrypted ? '' : ', unencrypted'}) ${body}`)
    })
    loaded.set(CHAT_PLUGIN, chat)
    node.on('user-joined', (u: string) => say(`* ${u} joined`))
    node.on('user-left', (u: string) => say(`* ${u} left`))
    node.on('user-moved', (u: string) => say(`* ${u} moved`))
    // NOT_JOINED repeats a warning already printed: the "alone" line below says it.
    node.on('warning', (e: P4Error) => void (e.code !== 'NOT_JOINED' && say(`* warning: ${e.message}`)))
    node.on('listening', () => {
      say(`* listening on ${describeAddress(node)}`)
      say(`* you are ${node.username} (fingerprint ${fingerprint(node.identity.publicKey)}); /help for commands`)
    })
  }, signal.promise).catch((err: unknown) => {
    signal.dispose()
    throw err
  })
  const { node } = launched

  /** Why a private message to a valid `user` would reach nobody, as a chat line; undefined when it can go. */
  const notReached = (user: string): string | undefined => {
    if (user === node.username) return undefined
    if (!node.users().includes(user)) return `* no known user ${quoteUsername(user)}; not delivered`
    if (!node.pluginsOf(user).includes(CHAT_PLUGIN)) return `* ${user} does not run chat (plugin ${CHAT_PLUGIN}); not delivered`
    return undefined
  }

  const commands: Record<string, (args: string, words: string[]) => Promise<void> | void> = {
    async msg(args) {
      // A username has no whitespace: the first word is the user, the rest the text.
      const m = /^(\S+)\s+([\s\S]+)$/.exec(args)
      if (!m) return say('* usage: /msg USER TEXT')
      const [, user, body] = m as unknown as [string, string, string]
      const refused = notAUsername(user) ?? notReached(user)
      if (refused) return say(refused)
      await chat.send(user, encoder.encode(body), { encrypted: true })
      say(`-> *${user}* ${body}`)
    },
    names(_args, [which]) {
      const users = which === '*' ? node.users() : node.users(which === undefined ? CHAT_PLUGIN : pluginId(which))
      const what = which === '*' ? 'users' : `users running ${which ?? CHAT_PLUGIN}`
      say(`* ${what} (${users.length}): ${users.join(' ')}`)
    },
    conns() {
      const conns = node.links({ direct: true })
      if (conns.length === 0) return say('* no connections')
      for (const c of conns) say(`* ${describeConn(c)}`)
    },
    async open(_args, words) {
      if (words.length < 1 || words.length > 2) return say('* usage: /open [USER] HOST:PORT')
      const user = words.length === 2 ? words[0] : undefined
      const bad = user === undefined ? undefined : notAUsername(user)
      if (bad) return say(bad)
      const addr = parseAddress(words[words.length - 1], 'address')
      const before = new Set(node.links().map((l) => l.username))
      let link: LinkInfo
      try {
        link = await node.connect(addr.host, addr.port, { user })
      } catch (err) {
        // connect() closes a link it opened to the wrong user, never one that was already there.
        if (isP4Error(err, 'UNREACHABLE') && / is .*, not /.test(err.message)) return say(`* ${err.message}`)
        throw err
      }
      say(`* link ${before.has(link.username) ? 'already open' : 'open'} to ${link.username} at ${addr.host}:${addr.port}`)
    },
    load(_args, [id]) {
      const n = pluginId(id)
      if (loaded.has(n)) return say(`* plugin ${n} is already loaded`)
      const p = node.plugin(n)
      p.on('message', (m: PluginMessage) => say(`[${n}] ${m.broadcast ? `<${m.from}>` : `*${m.from}*`} ${printable(m.data)}`))
      loaded.set(n, p)
      say(`* plugin ${n} loaded`)
    },
    unload(_args, [id]) {
      const n = pluginId(id)
      if (n === CHAT_PLUGIN) return say(`* plugin ${n} is this chat; use /quit`)
      const p = loaded.get(n)
      if (!p) return say(`* plugin ${n} is not loaded`)
      p.close()
      loaded.delete(n)
      say(`* plugin ${n} unloaded`)
    },
    plugins(_args, words) {
      if (words.length > 1) return say('* usage: /plugins [USER] (a username has no spaces)')
      const [user] = words
      const bad = user === undefined ? undefined : notAUsername(user)
      if (bad) return say(bad)
      const who = user ?? node.username
      const ids = node.pluginsOf(who)
      say(`* ${who} runs ${ids.length === 0 ? 'no plugins' : `${ids.length === 1 ? 'plugin' : 'plugins'} ${ids.join(', ')}`}`)
    },
    async latency(_args, words) {
      if (words.length !== 1) return say('* usage: /latency USER (a username has no spaces)')
      const user = words[0]!
      const bad = notAUsername(user)
      if (bad) return say(bad)
      const ms = await node.latency(user)
      say(`* latency to ${user}: ${ms.toFixed(2)} ms`)
    },
    help() {
      say(CHAT_HELP)
    },
  }

  let quitting = false
  const handle = async (line: string): Promise<void> => {
    if (quitting) return
    if (line.trim() === '') return
    if (line.startsWith('/') && !line.startsWith('//')) {
      const m = /^\/(\S+)\s*([\s\S]*)$/.exec(line)!
      const name = m[1]!.toLowerCase()
      const args = m[2]!.trim()
      if (name === 'quit' || name === 'exit') {
        quitting = true
        rl?.close()
        return
      }
      const cmd = Object.hasOwn(commands, name) ? commands[name] : undefined
      if (!cmd) return say(`* unknown command /${name} (try /help)`)
      await cmd(args, args === '' ? [] : args.split(/\s+/))
      return
    }
    const textOut = line.startsWith('//') ? line.slice(1) : line
    // A line nobody can receive is not shown as sent.
    if (!node.users(CHAT_PLUGIN).some((u) => u !== node.username)) {
      return say(`* ${node.users().length > 1 ? 'nobody else runs the chat' : 'nobody else is here'}; not delivered`)
    }
    await chat.broadcast(encoder.encode(textOut))
    say(`<${node.username}> ${textOut}`)
  }

  // Input is read only once the node has joined (launchNode waits for it up
  // to the join deadline): lines piped in would otherwise all be handled
  // before anyone is there.
  let signalled: string | undefined
  void signal.promise.then((sig) => (signalled = sig))
  await Promise.resolve() // a signal during the join is seen here
  const alone = aloneBecause(node)
  if (alone && signalled === undefined) say(`* alone after ${(joinDeadlineMs(launched.settings) / 1000).toFixed(1)} s: ${alone}; reading input anyway`)
  let why = signalled
  let chain = Promise.resolve()
  if (why === undefined) {
    rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty, prompt: tty ? `${node.username}> ` : '' })
    rl.on('line', (line) => {
      // In a terminal, replace the echoed input line with its formatted form.
      if (tty) process.stdout.write('\x1b[1A\r\x1b[2K')
      chain = chain.then(() =>
        handle(line).catch((err: unknown) => {
          log('command %j failed: %s', line, (err as Error)?.stack)
          say(`* error: ${(err as Error).message ?? String(err)}`)
        }),
      )
    })
    rlOpen = true
    rl.on('SIGINT', () => rl!.close())
    const inputEnded = new Promise<string>((resolve) =>
      rl!.once('close', () => {
        rlOpen = false
        resolve('end of input')
      }),
    )
    if (tty) rl.prompt()
    why = await Promise.race([inputEnded, signal.promise])
    rl.close()
  }
  signal.dispose()
  // Finish what was already typed (or piped) before leaving: each line's send
  // has been handed to its session, and stop() sends BYE after it.
  await chain
  log('quitting: %s', why)
  await launched.stop()
  process.stdout.write(`${tty ? '\r\x1b[2K' : ''}* bye\n`)
  return 0
}
