// The README's performance section, generated from bench/results/*.json
// (compare, footprint, session, overlay, aead, frame, dedup — whichever exist; their
// format: common/results.ts), with
// the machine, Node version and date each file was measured on; and the
// comparison charts, bench/results/charts/*.svg, redrawn from compare.json.
// Writes only between <!-- perf:start --> and <!-- perf:end --> in README.md;
// without those markers it prints the section to stdout instead.
//
//   node dist/bench/report.js [--stdout]
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readResults, RESULTS_DIR, type Report, type Result } from '../common/results.js'
import { isMain } from './child.js'
import { barChart, fmt, ratioText, slug } from './compare/chart.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const START = '<!-- perf:start -->'
const END = '<!-- perf:end -->'

// compare.json files written before the rows were all `impl` name the system `system`.
const who = (r: Result): string => r.impl ?? (r.system as string | undefined) ?? ''

function md(s: string): string {
  return s.replace(/\|/g, '\\|')
}

function day(iso: string): string {
  return iso.slice(0, 10)
}

function machine(r: Report): string {
  return `${r.cores ? `${r.cores} × ` : ''}${r.cpu}, Node ${r.node}, ${day(r.date)}`
}

function cell(r: Result | undefined, ratioTo?: Result): string {
  if (!r) return '–'
  if (r.value === null) return `failed${r.errors?.length ? ` (${md(r.errors[0]!.slice(0, 80))})` : ''}`
  const range = r.min != null && r.max != null && r.trials && r.trials.length > 1 ? ` [${fmt(r.min)}–${fmt(r.max)}]` : ''
  const failed = r.errors?.length ? ` (${r.errors.length} failed)` : ''
  const q = ratioTo && ratioTo !== r && ratioTo.value ? ` · ${ratioText(r.value / ratioTo.value)}` : ''
  return `${fmt(r.value)}${range}${failed}${q}`
}

/** A case × column table; `columns` pick and order the impl/system names shown. */
function pivot(results: Result[], columns: { key: string; label: string }[], ratioKey?: string): string[] {
  const cases = [...new Set(results.map((r) => r.case))]
  const cols = columns.filter((c) => results.some((r) => who(r) === c.key))
  const out = [`| case | ${cols.map((c) => c.label).join(' | ')} |`, `|---|${cols.map(() => '---:').join('|')}|`]
  for (const c of cases) {
    const inCase = results.filter((r) => r.case === c)
    if (!cols.some((col) => inCase.some((r) => who(r) === col.key))) continue
    const unit = inCase[0]!.unit
    const better = inCase[0]!.better ? `, ${inCase[0]!.better} is better` : ''
    // Cases measured below the API (connection setup, idle memory) take their ratios to the p4net session.
    const base = ratioKey ? (inCase.find((r) => who(r) === ratioKey) ?? inCase.find((r) => who(r) === `${ratioKey}-session`)) : undefined
    out.push(`| ${md(c)} (${md(unit)}${better}) | ${cols.map((col) => cell(inCase.find((r) => who(r) === col.key), base)).join(' | ')} |`)
  }
  return out
}

/** One line per result: for files whose rows mix impls case by case. */
function list(results: Result[]): string[] {
  const out = ['| case | impl | figure |', '|---|---|---:|']
  for (const r of results) out.push(`| ${md(r.case)} | ${md(who(r))} | ${cell(r)}${r.value === null ? '' : ` ${md(r.unit)}`} |`)
  return out
}

/** Each system keeps its colour in every chart. */
const COMPARE_COLUMNS = [
  { key: 'p4net', label: 'p4net API', color: '#1f6feb' },
  { key: 'p4net-e2e', label: 'p4net encrypted', color: '#54aeff' },
  { key: 'p4net-session', label: 'p4net session', color: '#0a3069' },
  { key: 'p4net-stream', label: 'p4net stream', color: '#218bff' },
  { key: 'libp2p', label: 'js-libp2p 2.10', color: '#8250df' },
  { key: 'libp2p-batched', label: 'js-libp2p app-batched', color: '#c297ff' },
  { key: 'gossipsub', label: 'gossipsub 14', color: '#8250df' },
  { key: 'secret-stream', label: 'secret-stream', color: '#bf8700' },
  { key: 'raw', label: 'raw node:net', color: '#6e7781' },
]

/** Draws one SVG per case of a compare report into dir (default bench/results/charts); returns the file names. */
export function drawCharts(r: Report, dir = join(RESULTS_DIR, 'charts')): string[] {
  mkdirSync(dir, { recursive: true })
  const files: string[] = []
  for (const c of [...new Set(r.results.map((x) => x.case))]) {
    const rs = COMPARE_COLUMNS.map((col) => r.results.find((x) => x.case === c && who(x) === col.key)).filter((x): x is Result => x !== undefined)
    if (rs.length < 2) continue
    const p4 = rs.find((x) => who(x) === 'p4net')
    const file = `${slug(c)}.svg`
    writeFileSync(
      join(dir, file),
      barChart({
        title: c,
        unit: rs[0]!.unit,
        better: rs[0]!.better ?? 'higher',
        bars: rs.map((x) => ({
          label: COMPARE_COLUMNS.find((col) => col.key === who(x))!.label,
          color: COMPARE_COLUMNS.find((col) => col.key === who(x))!.color,
          value: x.value,
          min: x.min ?? null,
          max: x.max ?? null,
          ratio: x === p4 || !p4?.value || x.value === null ? null : x.value / p4.value,
          note: x.value === null ? `failed: ${(x.errors?.[0] ?? '').slice(0, 60)}` : x.errors?.length ? `${x.errors.length} failed` : undefined,
        })),
        footer: machine(r),
      }),
    )
    files.push(file)
  }
  // Charts of cases this report no longer has would mislead: gone.
  for (const f of readdirSync(dir)) if (f.endsWith('.svg') && !files.includes(f)) unlinkSync(join(dir, f))
  return files
}

/** compare.json's own header fields. */
type CompareReport = Report & { streamTrials?: number; coldTrials?: number; load?: { case: string; before: number; after: number }[]; merged?: { from: string; cases: string } }

function compareSection(r: CompareReport, charts: string[]): string[] {
  const out: string[] = []
  out.push(`### p4net next to js-libp2p, secret-stream, raw node:net and gossipsub`)
  out.push('')
  out.push(
    `\`npm run bench:compare\` on ${r.merged ? `${machine({ ...r, date: r.merged.from })} (rows of the cases matching "${md(r.merged.cases)}" re-measured on ${day(r.date)} with \`--only ${md(r.merged.cases)} --merge\`)` : machine(r)}${r.quick ? ' (**--quick smoke run: not figures**)' : ''}. ` +
      `Median of ${r.trials ?? '?'} trials [min–max] (throughput and 64 B one way: ${r.streamTrials ?? r.trials ?? '?'}; cold start: ${r.coldTrials ?? '?'}), systems interleaved within each trial; \`· N×\` = that system's figure / p4net API's (where p4net is measured only as a session, / p4net session's). ` +
      `Loopback TCP; "two processes" puts the receiving end in a child process. Setup and configuration: [docs/benchmarks.md](docs/benchmarks.md).`,
  )
  out.push(
    'Each system in its natural form: **p4net API** is what an application writes, `for (…) await plugin.send(user, msg)` on nodes from `createNode` ' +
      '("64 B one way": 1,000 sends in flight, then awaited; "await each": one at a time), `await plugin.broadcast`; **p4net encrypted** the same with `{ encrypted: true }`; ' +
      '**p4net session** the bare Session beneath (for reference; connection setup and idle memory are measured at this level); **p4net stream** `plugin.openStream` (once it exists); ' +
      '**js-libp2p** one yamux stream, bulk as a generator into `stream.sink`, messages framed by it-length-prefixed; **gossipsub** `await publish`; ' +
      "**secret-stream** `write()` with 'drain'; **raw node:net** the unencrypted ceiling.",
  )
  if (r.load?.length) {
    const all = r.load.flatMap((l) => [l.before, l.after])
    out.push(`Machine load during the run (1-minute load average, ${r.cores ?? '?'} cores): ${fmt(Math.min(...all))}–${fmt(Math.max(...all))}.`)
  }
  out.push('')
  // The secondary memory rows (heap total, external, the warm-up variant) fold away.
  const secondary = (x: Result): boolean => /after a warm-up|heap total|external per connection/.test(x.case)
  out.push(...pivot(r.results.filter((x) => !secondary(x)), COMPARE_COLUMNS, 'p4net'))
  out.push('')
  const more = r.results.filter(secondary)
  if (more.length) {
    out.push('<details><summary>More memory rows (heap total, external; after a warm-up of as many connections opened and closed)</summary>', '')
    out.push(...pivot(more, COMPARE_COLUMNS, 'p4net'))
    out.push('', '</details>', '')
  }
  if (r.targets?.length) {
    out.push('Targets (issues 6 and 17):')
    out.push('')
    for (const t of r.targets) out.push(`- ${t.met === null ? 'n/a' : t.met ? '**met**' : '**missed**'} — ${md(t.target)}: ${md(t.figure)}`)
    out.push('')
  }
  if (r.notes?.length) {
    for (const n of r.notes) out.push(`- note: ${md(n)}`)
    out.push('')
  }
  const shown = ['throughput-64-kib-two-processes', '64-b-one-way-two-processes', 'ping-pong-median-rtt-two-processes', 'idle-connection-memory-rss-per-connection']
    .map((s) => `${s}.svg`)
    .filter((f) => charts.includes(f))
  const broadcast = charts.filter((f) => f.startsWith('broadcast-') && f.includes('50-nodes'))
  for (const f of [...shown, ...broadcast]) out.push(`![${f.replace(/\.svg$/, '')}](bench/results/charts/${f})`)
  if (shown.length + broadcast.length) out.push('')
  out.push(`All ${charts.length} charts: [bench/results/charts/](bench/results/charts/).`)
  out.push('')
  return out
}

/** footprint.json: what a small device pays (issue 19), with its targets. */
function footprintSection(r: Report): string[] {
  const body = [
    `Each figure from a fresh process, median of ${r.trials ?? '?'} trials [min–max] (cold start: ${(r as { coldTrials?: number }).coldTrials ?? '?'}), RSS after GC over the same process before (bare Node); p4net as installed (\`node_modules/p4net\`). ` +
      'The floor: what any node on Node pays before a line of p4net runs, cumulative in one process — an application of 14 ES modules (from about 20 import edges at an installed path, V8 optimizes Node\'s URL and path helpers and pages in about 4 MiB of node\'s own code), one node:net connection, node:crypto (X25519, Ed25519, ChaCha20-Poly1305), p4net\'s WebAssembly kernel compiled. ' +
      'What the small profile promises: [docs/small-profile.md](docs/small-profile.md).',
    '',
    ...list(r.results),
    '',
  ]
  for (const t of r.targets ?? []) body.push(`- **${t.met === null ? 'n/a' : t.met ? 'met' : 'missed'}** — issue 19: ${md(t.target)}: ${md(t.figure)}`)
  return section('Footprint: import, a node with 8 links, cold start (`bench/footprint.bench.ts`)', r, body)
}

function section(title: string, r: Report, body: string[]): string[] {
  return [`### ${title}`, '', `${machine(r)}${r.quick ? ' (--quick smoke run)' : ''}.`, '', ...body, '']
}

export function buildSection(): { text: string; sources: string[] } {
  const sources: string[] = []
  const out: string[] = ['(generated by `npm run bench:report` from bench/results/*.json; do not edit by hand)', '']
  const compare = readResults('compare')
  if (compare) {
    sources.push('compare')
    out.push(...compareSection(compare, drawCharts(compare)))
  }
  const footprint = readResults('footprint')
  if (footprint) {
    sources.push('footprint')
    out.push(...footprintSection(footprint))
  }
  const session = readResults('session')
  if (session) {
    sources.push('session')
    out.push(...section('Encrypted session vs raw node:net (`bench/session.bench.ts`)', session, pivot(session.results, [{ key: 'raw', label: 'raw node:net' }, { key: 'p4net', label: 'p4net' }], 'raw')))
  }
  const overlay = readResults('overlay')
  if (overlay) {
    sources.push('overlay')
    out.push(...section('Overlay through the public API (`bench/overlay.bench.ts`)', overlay, list(overlay.results)))
  }
  const aead = readResults('aead')
  if (aead) {
    sources.push('aead')
    const cols = ['p4net', 'p4net-scalar', 'node', 'libsodium', 'noble', 'chainsafe'].map((k) => ({ key: k, label: k }))
    out.push(...section('ChaCha20-Poly1305 kernel (`bench/aead.bench.ts`; best of runs)', aead, pivot(aead.results, cols, 'p4net')))
  }
  const frame = readResults('frame')
  if (frame) {
    sources.push('frame')
    const cols = ['wasm-simd in place', 'wasm-scalar in place', 'ts-descriptors', 'ts-reference'].map((k) => ({ key: k, label: k }))
    out.push(...section('Frame codec (`bench/frame.bench.ts`)', frame, pivot(frame.results, cols, 'ts-reference')))
  }
  const dedup = readResults('dedup')
  if (dedup) {
    sources.push('dedup')
    out.push(...section('Dedup table (`bench/dedup.bench.ts`)', dedup, list(dedup.results)))
  }
  if (sources.length === 0) out.push('No results yet: run `npm run bench` and `npm run bench:compare`.', '')
  return { text: out.join('\n'), sources }
}

function main(): void {
  const { text, sources } = buildSection()
  const readme = join(ROOT, 'README.md')
  const current = existsSync(readme) ? readFileSync(readme, 'utf8') : ''
  const a = current.indexOf(START)
  const b = current.indexOf(END)
  if (process.argv.includes('--stdout') || a < 0 || b < a) {
    if (!process.argv.includes('--stdout')) process.stderr.write(`report: README.md has no ${START} … ${END} markers; printing the section instead\n`)
    process.stdout.write(text + '\n')
    return
  }
  writeFileSync(readme, current.slice(0, a + START.length) + '\n' + text + '\n' + current.slice(b))
  process.stderr.write(`report: README.md performance section rewritten from ${sources.map((s) => `${s}.json`).join(', ') || 'nothing'}\n`)
}

if (isMain(import.meta.url)) main()
