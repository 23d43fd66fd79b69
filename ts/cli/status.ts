// `p4net status`: asks the node running on a data dir (over its local
// control socket) for links, users and counters.
import { CONFIG_OPTION, helpText, parseCommand, schemaFlags, type CommandSpec } from './args.js'
import { resolveConfig } from './config.js'
import { requestStatus, type StatusReport } from './control.js'
import type { Reachability } from '../node.js'

export const statusSpec: CommandSpec = {
  name: 'status',
  summary: 'show the links, users and counters of a running node',
  usage: 'p4net status [--data-dir DIR] [--json]',
  options: {
    ...schemaFlags(['dataDir'], { dataDir: 'data dir of the running node' }),
    config: { ...CONFIG_OPTION, help: 'config file to read dataDir from' },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  details: `Talks to the control socket <data dir>/control.sock that \`p4net start\`
(or \`p4net chat\`) creates. Exits 1 when no node runs on that data dir.`,
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`
}

/** A counter: a number right-aligned; a table of counts (cutOffReasons) as "name n, name n", or "-". */
function counter(v: unknown): string {
  if (typeof v !== 'object' || v === null) return String(v).padStart(12)
  const parts = Object.entries(v).map(([name, n]) => `${name} ${String(n)}`)
  return parts.length > 0 ? parts.join(', ') : '-'.padStart(12)
}

/** "reachability public at H:P …": the verdict, where peers see the node, and the last check's answers (none from a node without it). */
function reachLine(x: Reachability | undefined): string[] {
  if (!x) return []
  const at = x.status === 'public' && x.address ? ` at ${x.address.host}:${x.address.port}` : ''
  const seen = x.observed.length > 0 ? `, seen at ${x.observed.map((o) => o.host).join(', ')}` : ''
  const a = x.answers
  const last = x.checkedAt > 0 ? ` (last check: ${a.reachable} reached it, ${a.unreachable} could not, ${a.refused} refused, ${a.missing} did not answer)` : ''
  return [`reachability ${x.status}${at}${seen}${last}`]
}

/** The human-readable report. */
export function formatStatus(r: StatusReport): string {
  const lines = [
    `${r.username} on ${r.address.host}:${r.address.port}  fingerprint ${r.fingerprint}`,
    `pid ${r.pid} (p4net ${r.command}), up ${seconds(r.uptimeMs)}, data dir ${r.dataDir}`,
    ...(r.advertised.host !== r.address.host ? [`advertised as ${r.advertised.host}:${r.advertised.port}`] : []),
    `state ${r.status.state}`,
    // Why it could not join or link, newest last, with how long ago.
    ...r.status.reasons.map((x) => `  ${seconds(Date.parse(r.startedAt) + r.uptimeMs - x.at).padStart(7)} ago  ${x.code}  ${x.message}`),
    ...reachLine(r.status.reachability),
    '',
    `links (${r.links.length}):`,
  ]
  const nameWidth = Math.max(8, ...r.links.map((l) => l.username.length), ...r.users.map((u) => u.username.length))
  for (const l of r.links) {
    const rtt = l.rtt === undefined || l.rtt === null ? '-' : `${l.rtt.toFixed(2)} ms`
    lines.push(`  ${l.username.padEnd(nameWidth)}  ${`${l.host}:${l.port}`.padEnd(21)}  ${l.status.padEnd(6)}  ${l.initiator ? 'out' : 'in '}  age ${seconds(l.ageMs).padStart(7)}  rtt ${rtt}`)
  }
  lines.push('', `users (${r.users.length}):`)
  for (const u of r.users) lines.push(`  ${u.username.padEnd(nameWidth)}  plugins ${u.plugins.length ? u.plugins.join(', ') : '-'}`)
  lines.push('', 'counters:')
  const stats = Object.entries(r.stats)
  const keyWidth = Math.max(...stats.map(([k]) => k.length))
  for (const [k, v] of stats) lines.push(`  ${k.padEnd(keyWidth)}  ${counter(v)}`)
  return lines.join('\n') + '\n'
}

export async function statusCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(statusSpec, argv)
  if (!parsed) {
    process.stdout.write(helpText(statusSpec))
    return 0
  }
  const { settings } = resolveConfig({ command: 'status', flags: parsed.values })
  const report = await requestStatus(settings.dataDir)
  process.stdout.write(parsed.values.json ? JSON.stringify(report, null, 2) + '\n' : formatStatus(report))
  return 0
}
