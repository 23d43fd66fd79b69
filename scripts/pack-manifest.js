// The published package.json has no `prepare` script. A checkout needs it
// (`npm install` in a clone builds WASM and TypeScript through it), but in a
// package installed from a tarball npm 11 lists it among the "install scripts
// not yet covered by allowScripts" and warns, though it never runs it there.
// `npm pack` / `npm publish` run this around packing:
//   prepack:  node scripts/pack-manifest.js strip    (package.json without prepare;
//             the original kept in build/package.json.prepack)
//   postpack: node scripts/pack-manifest.js restore  (the original back)
// npm reads the manifest again after prepack, so it then skips `prepare`:
// prepack builds first (npm run build).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'

const dir = process.cwd()
const manifest = path.join(dir, 'package.json')
const backup = path.join(dir, 'build', 'package.json.prepack')

/** The .ts files (not .d.ts) under dir. */
function sources(d) {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(d, e.name)
    if (e.isDirectory()) return sources(p)
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : []
  })
}

/** Every file path package.json names: main, types, bin, and each exports target. */
function entries(pkg) {
  const out = []
  const walk = (v) => {
    if (typeof v === 'string') out.push(v)
    else if (v && typeof v === 'object') Object.values(v).forEach(walk)
  }
  walk([pkg.main, pkg.types, pkg.bin, pkg.exports])
  return out
}

function restore() {
  if (existsSync(backup)) renameSync(backup, manifest)
}

const what = process.argv[2]
if (what === 'restore') {
  restore()
} else if (what === 'strip') {
  // tsc -b is incremental and does not re-emit an output deleted by hand: never pack without one.
  const missing = sources(path.join(dir, 'ts')).flatMap((f) => {
    const out = path.join(dir, 'dist', path.relative(dir, f)).replace(/\.ts$/, '')
    return ['.js', '.d.ts'].filter((ext) => !existsSync(out + ext)).map((ext) => path.relative(dir, out + ext))
  })
  // A pack that failed after stripping left the original in the backup: start from it.
  restore()
  const text = readFileSync(manifest, 'utf8')
  const pkg = JSON.parse(text)
  // The files the manifest names as entries (the bundles of scripts/bundle.js, the types).
  for (const f of entries(pkg)) if (!existsSync(path.join(dir, f))) missing.push(path.normalize(f))
  if (missing.length > 0) {
    console.error(`pack: ${missing.length} compiled file(s) missing, e.g. ${missing[0]}; run rm -rf dist && npm run build`)
    process.exit(1)
  }
  delete pkg.scripts?.prepare
  mkdirSync(path.dirname(backup), { recursive: true })
  writeFileSync(backup, text)
  writeFileSync(manifest, JSON.stringify(pkg, null, 2) + '\n')
} else {
  console.error('usage: node scripts/pack-manifest.js strip|restore')
  process.exit(2)
}
