// What the published package holds and how its optional native addon is
// found: a plain `npm install p4net` compiles nothing (prebuilt binary, no
// install script), leaves no build debris, and the prebuilt binary is the one
// built from today's native/ sources.
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import * as assert from 'uvu/assert'
import { addonPaths } from '../ts/native/index.js'
import { ROOT } from './helpers/sources.js'
import { test } from './helpers/test.js'
import { tempDirs } from './helpers/tmp.js'

const run = promisify(execFile)
const dirs = tempDirs('p4net-pack-')
test.after(() => dirs.cleanup())

interface Packed {
  files: { path: string }[]
}

test('the prebuilt native addon was built from the current native/ and binding.gyp (else: npm run prebuilds)', async () => {
  const r = await run(process.execPath, [join(ROOT, 'scripts', 'prebuild.js'), '--check'], { cwd: ROOT }).catch((err: { stderr?: string; message: string }) => {
    throw new Error(err.stderr || err.message)
  })
  assert.match(r.stdout, /prebuilds up to date \(.*linux-x64/)
})

test('the addon is looked for in prebuilds/<platform>-<arch> first, then in a local build', () => {
  assert.equal(addonPaths('linux', 'x64'), [
    '../../../prebuilds/linux-x64/p4net_native.node',
    '../../../build/Release/p4net_native.node',
    '../../../build/Debug/p4net_native.node',
  ])
  assert.ok(addonPaths('darwin', 'arm64')[0]!.includes('/prebuilds/darwin-arm64/'))
})

test('on linux-x64 the prebuilt binary is the one that loads', async () => {
  if (process.platform !== 'linux' || process.arch !== 'x64') return
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_DEBUG: 'p4net:native' }
  delete env.P4NET_NO_NATIVE
  const script = `const n = await import(${JSON.stringify(join(ROOT, 'dist', 'ts', 'native', 'index.js'))}); console.log(n.loadNative() ? 'native' : 'fallback')`
  const r = await run(process.execPath, ['--input-type=module', '-e', script], { env })
  assert.is(r.stdout.trim(), 'native')
  assert.match(r.stderr, /native addon loaded from \S*\/prebuilds\/linux-x64\/p4net_native\.node/)
})

test('from the bundle the package entry is, a node finds its WebAssembly kernel and, on linux-x64, the prebuilt addon', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_DEBUG: 'p4net:native' }
  delete env.P4NET_NO_NATIVE
  delete env.P4NET_WASM
  // Self-reference: run inside the package, `import('p4net')` is its own "exports" entry.
  const script = `const { createNode } = await import('p4net')
const a = await createNode({ username: 'a' })
await a.start()
const b = await createNode({ username: 'b', bootstrap: ['127.0.0.1:' + a.address.port] })
const up = new Promise((r) => b.once('link-up', r))
await b.start()
await up
console.log(JSON.stringify({ entry: import.meta.resolve('p4net'), tcp: b.links()[0]?.tcp ?? null }))
await b.stop()
await a.stop()`
  const r = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, env })
  const out = JSON.parse(r.stdout.trim()) as { entry: string; tcp: object | null }
  assert.ok(out.entry.endsWith('/dist/bundle/lib/index.js'), out.entry)
  if (process.platform !== 'linux' || process.arch !== 'x64') return
  assert.ok(out.tcp, 'node.links() has the addon\'s TCP figures')
  assert.match(r.stderr, /native addon loaded from \S*\/prebuilds\/linux-x64\/p4net_native\.node/)
})

test('the package: prebuilt addon, WASM, LICENSE; no install script, no build debris, no dangling source maps', async () => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; gypfile?: boolean }
  for (const s of ['preinstall', 'install', 'postinstall']) assert.is(manifest.scripts[s], undefined, `no ${s} script`)
  // Without this npm would run `node-gyp rebuild` for binding.gyp in the checkout (deleting build/*.wasm).
  assert.is(manifest.gypfile, false)
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 16 << 20 })
  const files = (JSON.parse(stdout) as Packed[])[0]!.files.map((f) => f.path)
  for (const f of ['LICENSE', 'prebuilds/linux-x64/p4net_native.node', 'build/p4net.wasm', 'build/p4net.simd.wasm', 'dist/ts/index.d.ts', 'dist/ts/crypto.d.ts']) {
    assert.ok(files.includes(f), `ships ${f}`)
  }
  // The entries are the bundles (scripts/bundle.js): the JavaScript tsc emits one file per module is not shipped.
  const { exports, bin, main } = manifest as unknown as { exports: Record<string, { default?: string }>; bin: Record<string, string>; main: string }
  const entries = [main, exports['.']!.default!, exports['./crypto']!.default!, bin.p4net!].map((f) => f.replace(/^\.\//, ''))
  for (const f of entries) {
    assert.match(f, /^dist\/bundle\//)
    assert.ok(files.includes(f), `ships ${f}`)
  }
  // Each bundle directory is its own package scope: the loader finds it beside the files (scripts/bundle.js).
  for (const dir of ['dist/bundle/lib', 'dist/bundle/cli']) assert.ok(files.includes(`${dir}/package.json`), `ships ${dir}/package.json`)
  for (const f of files.filter((f) => f.startsWith('dist/bundle/') && f.endsWith('.js'))) {
    for (const m of readFileSync(join(ROOT, f), 'utf8').matchAll(/from\s*"(\.[^"]+)"|import\("(\.[^"]+)"\)/g)) {
      assert.ok(files.includes(join(dirname(f), m[1] ?? m[2]!)), `${f} imports ${m[1] ?? m[2]}, which is shipped`)
    }
  }
  assert.equal(files.filter((f) => f.startsWith('dist/ts/') && !f.endsWith('.d.ts')), [], 'no unbundled JavaScript')
  const debris = files.filter((f) => /\.(map|o|mk|gypi|log|wat|cc|h|gyp|tsbuildinfo)$|Makefile|^build\/Release|^native\/|^scripts\//.test(f))
  assert.equal(debris, [], 'nothing from the native or WASM build but the binaries, no source maps, no sources')
  const mapped = files.filter((f) => f.endsWith('.js') && readFileSync(join(ROOT, f), 'utf8').includes('//# sourceMappingURL='))
  assert.equal(mapped, [], 'no shipped .js names a source map')
})

test('npm pack: the packed package.json has no prepare script, the checkout keeps it; no pack with a compiled file missing', async () => {
  const dir = dirs.make()
  const original = JSON.stringify({ name: 'x', version: '1.0.0', scripts: { prepare: 'npm run build', test: 'uvu' } }, null, 2) + '\n'
  writeFileSync(join(dir, 'package.json'), original)
  mkdirSync(join(dir, 'ts', 'core'), { recursive: true })
  writeFileSync(join(dir, 'ts', 'core', 'a.ts'), 'export const a = 1\n')
  mkdirSync(join(dir, 'dist', 'ts', 'core'), { recursive: true })
  writeFileSync(join(dir, 'dist', 'ts', 'core', 'a.js'), 'export const a = 1;\n')
  const script = join(ROOT, 'scripts', 'pack-manifest.js')
  const step = (what: string): Promise<unknown> => run(process.execPath, [script, what], { cwd: dir })

  // an entry package.json names is missing: strip refuses and leaves package.json as it was
  const named = JSON.stringify({ ...(JSON.parse(original) as object), exports: { '.': { types: './dist/ts/core/a.d.ts', default: './dist/bundle/lib/index.js' } } }, null, 2) + '\n'
  writeFileSync(join(dir, 'dist', 'ts', 'core', 'a.d.ts'), 'export declare const a = 1;\n')
  writeFileSync(join(dir, 'package.json'), named)
  const noBundle = await step('strip').then(() => null, (err: { stderr: string }) => err.stderr)
  assert.match(String(noBundle), /compiled file\(s\) missing, e\.g\. dist\/bundle\/lib\/index\.js/)
  assert.is(readFileSync(join(dir, 'package.json'), 'utf8'), named)
  writeFileSync(join(dir, 'package.json'), original)
  rmSync(join(dir, 'dist', 'ts', 'core', 'a.d.ts'))

  // a.d.ts missing: strip refuses and leaves package.json as it was
  const refused = await step('strip').then(() => null, (err: { stderr: string }) => err.stderr)
  assert.match(String(refused), /compiled file\(s\) missing, e\.g\. dist\/ts\/core\/a\.d\.ts/)
  assert.is(readFileSync(join(dir, 'package.json'), 'utf8'), original)

  writeFileSync(join(dir, 'dist', 'ts', 'core', 'a.d.ts'), 'export declare const a = 1;\n')
  await step('strip')
  assert.equal(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).scripts, { test: 'uvu' })
  await step('restore')
  assert.is(readFileSync(join(dir, 'package.json'), 'utf8'), original)
  assert.not.ok(existsSync(join(dir, 'build', 'package.json.prepack')))

  // a pack that failed after strip: the next strip starts from the kept original
  await step('strip')
  await step('strip')
  await step('restore')
  assert.is(readFileSync(join(dir, 'package.json'), 'utf8'), original)
  rmSync(join(dir, 'build'), { recursive: true, force: true })
})

test('scripts/bundle.js refuses an argument it does not know, with its usage, before it touches dist/bundle', async () => {
  const scope = join(ROOT, 'dist', 'bundle', 'lib', 'package.json')
  const before = statSync(scope).mtimeMs
  const err = await run(process.execPath, [join(ROOT, 'scripts', 'bundle.js'), '--source-map'], { cwd: ROOT }).then(
    () => null,
    (e: { code: number; stderr: string }) => e,
  )
  assert.ok(err, 'a misspelt --sourcemap was taken')
  assert.is(err.code, 2)
  assert.match(err.stderr, "unknown argument '--source-map'")
  assert.match(err.stderr, 'usage: node scripts/bundle.js [--sourcemap]')
  assert.is(statSync(scope).mtimeMs, before, 'dist/bundle was rebuilt')
})

test.run()
