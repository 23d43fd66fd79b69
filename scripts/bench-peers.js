// Makes the systems p4net is compared with available to the benches that
// compare (npm run bench:compare, and the AEAD bench of npm run bench),
// without the project's own `npm install` ever pulling them:
//   1. installs bench/compare/package.json (exact versions, its own lock file)
//      into bench/compare/node_modules, only when a package is missing or at
//      another version (first use: ~150 packages, ~70 MB);
//   2. compiles bench/compare with its own tsconfig into dist/;
//   3. links dist/bench/node_modules to bench/compare/node_modules, so the
//      compiled benches (dist/bench/**) resolve those packages at run time.
//   node scripts/bench-peers.js
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const dir = path.join(root, 'bench', 'compare')

function run(what, command, args, cwd) {
  const r = spawnSync(command, args, { cwd, stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`bench-peers: ${what} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`)
    process.exit(1)
  }
}

/** Dependencies of bench/compare/package.json that are not installed at their pinned version. */
function missing() {
  const { dependencies } = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'))
  return Object.entries(dependencies).filter(([name, version]) => {
    try {
      return JSON.parse(readFileSync(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')).version !== version
    } catch {
      return true
    }
  })
}

// npm as the one running this script (npm_execpath) when there is one, else npm from PATH.
function npm(args) {
  const cli = process.env.npm_execpath
  if (cli && cli.endsWith('.js')) run(`npm ${args[0]}`, process.execPath, [cli, ...args], dir)
  else run(`npm ${args[0]}`, process.platform === 'win32' ? 'npm.cmd' : 'npm', args, dir)
}

const todo = missing()
if (todo.length > 0) {
  console.error(`bench-peers: installing the compared systems into bench/compare/node_modules (${todo.length} missing or outdated: ${todo.map(([n]) => n).join(', ')})`)
  npm(['ci', '--no-audit', '--no-fund'])
  if (missing().length > 0) {
    console.error('bench-peers: bench/compare/package-lock.json does not match bench/compare/package.json; run npm install in bench/compare')
    process.exit(1)
  }
}

const tsc = createRequire(path.join(root, 'package.json')).resolve('typescript/bin/tsc')
run('compiling bench/compare', process.execPath, [tsc, '-b', path.join(dir, 'tsconfig.json')], root)
// The sources compiled, for run.ts to refuse a build of other ones (bench/compare/sources.ts, just compiled).
const built = path.join(root, 'dist', 'bench', 'compare')
const { sourcesHash, STAMP } = await import(pathToFileURL(path.join(built, 'sources.js')).href)
writeFileSync(path.join(built, STAMP), sourcesHash(dir) + '\n')

const link = path.join(root, 'dist', 'bench', 'node_modules')
const target = path.relative(path.dirname(link), path.join(dir, 'node_modules'))
let current = null
try {
  current = readlinkSync(link)
} catch {
  // no link yet
}
if (current !== target) {
  if (existsSync(link) || current !== null) rmSync(link, { recursive: true, force: true })
  mkdirSync(path.dirname(link), { recursive: true })
  symlinkSync(target, link, 'junction')
}
