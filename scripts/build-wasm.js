// Builds the WASM kernels (assembly/ -> build/p4net.wasm and
// build/p4net.simd.wasm, both targets of asconfig.json) unless they are up to
// date: build/wasm-inputs.sha256 holds a hash of what they were built from
// (assembly/*, the ts/ files assembly imports, asconfig.json, the
// AssemblyScript version). `npm install` and `npm pack` run it through
// `prepare`, so packing a built tree does not recompile them.
//   node scripts/build-wasm.js           build when out of date
//   node scripts/build-wasm.js --force   always build (npm run build:wasm)
import { createHash } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(path.join(root, 'package.json'))
const stampFile = path.join(root, 'build', 'wasm-inputs.sha256')
const outputs = ['build/p4net.wasm', 'build/p4net.simd.wasm']

function inputsHash() {
  const files = new Set(['asconfig.json'])
  for (const f of readdirSync(path.join(root, 'assembly')).sort()) {
    files.add(`assembly/${f}`)
    // assembly/ shares constants with the TypeScript side: '../ts/core/wire' and the like.
    for (const m of readFileSync(path.join(root, 'assembly', f), 'utf8').matchAll(/from\s+'\.\.\/(ts\/[^']+)'/g)) files.add(`${m[1]}.ts`)
  }
  const h = createHash('sha256').update(`assemblyscript ${require('assemblyscript/package.json').version}\0`)
  for (const f of [...files].sort()) h.update(`${f}\0`).update(readFileSync(path.join(root, f))).update('\0')
  return h.digest('hex')
}

const hash = inputsHash()
const force = process.argv.includes('--force')
const current = existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : ''
if (!force && current === hash && outputs.every((f) => existsSync(path.join(root, f)))) {
  console.log('p4net: WASM kernels up to date (build/*.wasm); `npm run build:wasm` rebuilds them')
  process.exit(0)
}
const asc = path.join(path.dirname(require.resolve('assemblyscript/package.json')), 'bin', 'asc.js')
for (const target of ['simd', 'scalar']) {
  const r = spawnSync(process.execPath, [asc, 'assembly/index.ts', '--target', target], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}
writeFileSync(stampFile, hash + '\n')
