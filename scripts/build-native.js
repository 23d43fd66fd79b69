// Builds the optional native addon (binding.gyp -> build/Release/p4net_native.node)
// with node-gyp, offline, from Node's local headers: `npm run build:native` in a
// checkout, scripts/prebuild.js, and CI. npm install does not run it (the
// package ships a prebuilt binary, prebuilds/). It never fails: without a
// C++ toolchain, headers or node-gyp, p4net runs on its TypeScript fallback
// (or the prebuilt binary). Uses `node-gyp configure build`, never
// `rebuild`: rebuild deletes build/, which also holds the WASM kernels.
//   node scripts/build-native.js [--verbose]
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const verbose = process.argv.includes('--verbose')
const logFile = path.join(root, 'build', 'native-build.log')
const addonFile = path.join(root, 'build', 'Release', 'p4net_native.node')

function done(message) {
  console.log(`p4net: ${message}`)
  process.exit(0)
}
function fallback(reason) {
  done(`native addon not built (${reason}); using the TypeScript fallback`)
}

if (process.env.P4NET_NO_NATIVE === '1') fallback('P4NET_NO_NATIVE=1')
// Windows sockets have no file descriptor that Node exposes, so the addon could not be used.
if (process.platform === 'win32') fallback('not supported on Windows')

// node-gyp: the one npm hands to lifecycle scripts, a local devDependency,
// or the one bundled with npm next to this node binary.
function findNodeGyp() {
  const candidates = []
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp)
  try {
    candidates.push(createRequire(path.join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'))
  } catch {
    // not installed locally
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..')
  candidates.push(path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'))
  return candidates.find((file) => existsSync(file))
}

const nodeGyp = findNodeGyp()
if (nodeGyp === undefined) fallback('node-gyp not found')

const args = [nodeGyp, 'configure', 'build']
// Without a configured nodedir node-gyp would download headers; use the ones
// installed with this node when they are there (an offline build).
if (!process.env.npm_config_nodedir) {
  const prefix = path.resolve(path.dirname(process.execPath), '..')
  if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`)
}

mkdirSync(path.dirname(logFile), { recursive: true })
const run = spawnSync(process.execPath, args, {
  cwd: root,
  stdio: verbose ? 'inherit' : ['ignore', 'pipe', 'pipe'],
  encoding: 'utf8',
  timeout: 300_000,
})
if (!verbose) writeFileSync(logFile, `$ node ${args.join(' ')}\n${run.stdout ?? ''}${run.stderr ?? ''}`)
const where = verbose ? 'output above' : `log: ${path.relative(root, logFile)}`
if (run.error) fallback(`${run.error.message}; ${where}`)
if (run.status !== 0 || !existsSync(addonFile)) {
  // An addon left from an earlier build would not match these sources.
  rmSync(addonFile, { force: true })
  fallback(`node-gyp exited with ${run.status ?? run.signal}; ${where}`)
}
done(`native addon built: ${path.relative(root, addonFile)}`)
