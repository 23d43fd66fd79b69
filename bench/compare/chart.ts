// One horizontal bar chart per case, hand-written SVG: a bar per system with
// its value and [min–max] whisker, the ratio to p4net labelled, and which way
// is better. Linear scale from zero, so lengths compare honestly.

export interface Bar {
  label: string
  value: number | null
  min: number | null
  max: number | null
  /** value / p4net's value; null for p4net itself or when either is missing. */
  ratio: number | null
  note?: string
  /** Fill colour (default: by position). */
  color?: string
}

export interface ChartSpec {
  title: string
  unit: string
  better: 'higher' | 'lower'
  bars: Bar[]
  footer?: string
}

const W = 820
const LABEL_W = 185
const BAR_W = 345
const ROW = 40
const TOP = 58
const COLORS = ['#1f6feb', '#8250df', '#bf8700', '#6e7781', '#1a7f37', '#cf222e']

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

export function fmt(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return 'failed'
  const a = Math.abs(x)
  if (Number.isInteger(x) && a < 1e4) return String(x)
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)} M`
  if (a >= 1e4) return `${(x / 1e3).toFixed(1)} k`
  if (a >= 100) return x.toFixed(0)
  if (a >= 10) return x.toFixed(1)
  return x.toFixed(2)
}

export function ratioText(r: number): string {
  return r >= 10 ? `${r.toFixed(0)}×` : r >= 1 ? `${r.toFixed(2)}×` : `${r.toFixed(3)}×`
}

export function barChart(c: ChartSpec): string {
  const h = TOP + c.bars.length * ROW + (c.footer ? 44 : 24)
  const top = Math.max(0, ...c.bars.map((b) => Math.max(b.value ?? 0, b.max ?? 0)))
  const x = (v: number): number => LABEL_W + (top > 0 ? (Math.max(0, v) / top) * BAR_W : 0)
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="${W}" height="${h}" fill="#ffffff"/>`,
    `<text x="12" y="24" font-size="15" font-weight="bold" fill="#24292f">${esc(c.title)}</text>`,
    `<text x="12" y="44" fill="#57606a">${esc(c.unit)}, ${c.better} is better; median of trials, whisker = min–max; ratio = system / p4net</text>`,
  ]
  c.bars.forEach((b, i) => {
    const y = TOP + i * ROW
    const color = b.color ?? COLORS[i % COLORS.length]!
    out.push(`<text x="${LABEL_W - 8}" y="${y + 20}" text-anchor="end" fill="#24292f">${esc(b.label)}</text>`)
    if (b.value === null) {
      out.push(`<text x="${LABEL_W + 4}" y="${y + 20}" fill="#cf222e">${esc(b.note ?? 'failed')}</text>`)
      return
    }
    const x1 = x(b.value)
    out.push(`<rect x="${LABEL_W}" y="${y + 6}" width="${Math.max(2, x1 - LABEL_W).toFixed(1)}" height="20" fill="${color}" rx="2"/>`)
    if (b.min !== null && b.max !== null && b.max > b.min) {
      const a = x(b.min)
      const z = x(b.max)
      out.push(
        `<path d="M${a.toFixed(1)} ${y + 16}H${z.toFixed(1)}M${a.toFixed(1)} ${y + 11}V${y + 21}M${z.toFixed(1)} ${y + 11}V${y + 21}" stroke="#24292f" stroke-width="1.2" fill="none"/>`,
      )
    }
    const ratio = b.ratio === null ? '' : `<tspan dx="10" fill="#57606a">${esc(`${ratioText(b.ratio)} p4net`)}</tspan>`
    const note = b.note ? `<tspan dx="10" fill="#cf222e">${esc(b.note)}</tspan>` : ''
    out.push(`<text x="${(Math.max(x1, b.max !== null ? x(b.max) : 0) + 6).toFixed(1)}" y="${y + 20}" fill="#24292f">${esc(fmt(b.value))}${ratio}${note}</text>`)
  })
  out.push(`<line x1="${LABEL_W}" y1="${TOP - 2}" x2="${LABEL_W}" y2="${TOP + c.bars.length * ROW}" stroke="#8c959f"/>`)
  if (c.footer) out.push(`<text x="12" y="${h - 14}" fill="#57606a" font-size="11">${esc(c.footer)}</text>`)
  out.push('</svg>')
  return out.join('\n') + '\n'
}

/** A file name for a case: lower case, words joined by dashes. */
export function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[×]/g, 'x')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
}
