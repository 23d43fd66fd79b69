// Builds the native addon for this machine's platform and architecture and
// stores it as prebuilds/<platform>-<arch>/p4net_native.node, the binary the
// published package ships and loads first (ts/native/index.ts), so a plain
// `npm install p4net` compiles nothing. Beside it, build.json records a hash of
// the sources it was built from (binding.gyp, native/*). Rerun it whenever
// native/ or binding.gyp changes: `npm test` fails while a prebuilt binary's
// hash differs from the sources (test/package.test.ts runs --check).
// Only linux-x64 can be built on the project's machines.
//   node scripts/prebuild.js            build and store (npm run prebuilds)
//   node scripts/prebuild.js --check    exit 1 if any prebuilt binary is stale
import { createHash } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const prebuilds = path.join(root, 'prebuilds')

/** sha256 over the addon's sources: binding.gyp and every file in native/, by name and content. */
export function sourcesHash() {
  const files = ['binding.gyp', ...readdirSync(path.join(root, 'native')).sort().map((f) => `native/${f}`)]
  const h = createHash('sha256')
  for (const f of files) h.update(`${f}\0`).update(readFileSync(path.join(root, f))).update('\0')
  return { sha256: h.digest('hex'), files }
}

function check() {
  const { sha256 } = sourcesHash()
  const stale = []
  const dirs = existsSync(prebuilds) ? readdirSync(prebuilds) : []
  for (const d of dirs) {
    let built
    try {
      built = JSON.parse(readFileSync(path.join(prebuilds, d, 'build.json'), 'utf8'))
    } catch (err) {
      stale.push(`${d}: no readable build.json (${err.message})`)
      continue
    }
    if (built.sources !== sha256) stale.push(`${d}: built from sources ${String(built.sources).slice(0, 12)}…, native/ and binding.gyp are now ${sha256.slice(0, 12)}…`)
    if (!existsSync(path.join(prebuilds, d, 'p4net_native.node'))) stale.push(`${d}: p4net_native.node missing`)
  }
  if (dirs.length === 0) stale.push('no prebuilt binary at all (prebuilds/ is empty)')
  if (stale.length > 0) {
    console.error(`prebuilt native addon out of date; run \`npm run prebuilds\` on each platform:\n  ${stale.join('\n  ')}`)
    process.exit(1)
  }
  console.log(`prebuilds up to date (${dirs.join(', ')})`)
}

function build() {
  const target = `${process.platform}-${process.arch}`
  const run = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.js'), '--verbose'], { cwd: root, stdio: 'inherit' })
  const addon = path.join(root, 'build', 'Release', 'p4net_native.node')
  if (run.status !== 0 || !existsSync(addon)) {
    console.error(`prebuild: the addon did not build for ${target}`)
    process.exit(1)
  }
  const dir = path.join(prebuilds, target)
  mkdirSync(dir, { recursive: true })
  const out = path.join(dir, 'p4net_native.node')
  copyFileSync(addon, out)
  // Debug symbols are of no use to users: strip them where strip exists (about half the size).
  if (process.platform === 'linux') spawnSync('strip', ['--strip-unneeded', out], { stdio: 'inherit' })
  const { sha256, files } = sourcesHash()
  const info = { sources: sha256, files, target, node: process.version, built: new Date().toISOString().slice(0, 10) }
  writeFileSync(path.join(dir, 'build.json'), JSON.stringify(info, null, 2) + '\n')
  console.log(`prebuild: ${path.relative(root, out)} (sources ${sha256.slice(0, 12)}…)`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) check()
  else build()
}
