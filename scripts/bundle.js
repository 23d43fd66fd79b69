// Bundles the compiled library (dist/ts, from tsc) into the files the
// package's "exports" name: dist/bundle/lib/{index,crypto}.js and the chunks
// they share. Loading ES modules costs time and memory per module (the
// resolution, the module record, the code V8 compiles per file:
// docs/small-profile.md), so `import('p4net')` evaluates 2 files instead of
// 35 and createNode() loads a few more instead of some 105.
// ESM for Node 20, code splitting: what ts/ loads by dynamic import (the node
// runtime, the WebAssembly loader, the CLI's commands) stays in chunks loaded
// on first use, node: builtins stay external imports.
// Whitespace and syntax are minified, names are not (stack traces keep
// function and class names): V8 keeps each script's source in the heap, and
// this took a started small-profile node's heap from 3.2 to 2.5 MiB and its
// createNode() from 48 to 39 ms (docs/small-profile.md), the package's
// JavaScript from 1.2 MB to 0.8. The CLI is a bundle of its own (its copy
// of the library does not split the library's chunks further: one build of
// both made import('p4net') load 9 files and take 0.4 MiB more).
// Types stay on dist/ts/*.d.ts. Run by `npm run build:ts` after tsc.
// Each bundle directory gets a package.json of its own ({"type":"module"}):
// Node's ES module loader looks for the package scope of every file it
// loads, directory by directory up to the package root, and runs its
// URL-to-path helper at each step; found beside the files, 7 files cost 27
// runs of it instead of 60. Enough runs (a longer install path, a few more
// files) and V8 optimizes that helper, paging in about 3 MiB of its
// optimizing compiler in a node that otherwise has no use for it yet
// (docs/small-profile.md).
//   node scripts/bundle.js              build
//   node scripts/bundle.js --sourcemap  with source maps (for debugging; never packed)
//
// The output directory is as deep as dist/ts/<dir>/: the library finds its
// files by URLs relative to its own module (ts/wasm/loader.ts:
// '../../../build/p4net.wasm', ts/native/index.ts: '../../../prebuilds/…',
// ts/cli/run.ts: '../../../package.json'), which esbuild leaves as written.
// Every such URL in the output is checked to land at the package root.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(path.join(root, 'package.json'))

/** Bundle directory -> its entry points (name -> compiled module). */
export const BUNDLES = {
  'dist/bundle/lib': { index: 'dist/ts/index.js', crypto: 'dist/ts/crypto.js' },
  'dist/bundle/cli': { main: 'dist/ts/cli/main.js' },
}

/** The package.json of each bundle directory: the package scope the loader looks for, found at once. */
export const SCOPE = '{"type":"module"}\n'

/** The relative file URLs a module resolves against its own location (new URL('…', import.meta.url)). */
function ownUrls(code) {
  return [...code.matchAll(/new URL\(\s*[`'"]([^`'"$]*)[^)]*?,\s*import\.meta\.url\s*\)/g)].map((m) => m[1])
}

async function bundle(outdir, entryPoints, sourcemap) {
  const esbuild = require('esbuild')
  const out = path.join(root, outdir)
  rmSync(out, { recursive: true, force: true })
  if (path.relative(root, out).split(path.sep).length !== 3) throw new Error(`${outdir} must be as deep as dist/ts/wasm/`)
  for (const f of Object.values(entryPoints)) {
    if (!existsSync(path.join(root, f))) throw new Error(`${f} missing: run tsc first (npm run build:ts)`)
  }
  await esbuild.build({
    absWorkingDir: root,
    entryPoints,
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    chunkNames: 'chunk-[hash]',
    sourcemap: sourcemap ? 'linked' : false,
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
  })
  writeFileSync(path.join(out, 'package.json'), SCOPE)
  for (const f of readdirSync(out).filter((f) => f.endsWith('.js'))) {
    for (const url of ownUrls(readFileSync(path.join(out, f), 'utf8'))) {
      const to = path.resolve(out, url)
      if (path.relative(root, to).startsWith('..')) {
        throw new Error(`${outdir}/${f}: new URL('${url}', import.meta.url) resolves to ${to}, outside the package`)
      }
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  // A misspelt option would build without it: refused before anything is removed.
  const unknown = args.find((a) => a !== '--sourcemap')
  if (unknown !== undefined) {
    console.error(`bundle: unknown argument '${unknown}'; usage: node scripts/bundle.js [--sourcemap]`)
    process.exit(2)
  }
  const sourcemap = args.includes('--sourcemap')
  try {
    for (const [outdir, entries] of Object.entries(BUNDLES)) await bundle(outdir, entries, sourcemap)
  } catch (err) {
    console.error(`bundle: ${err.message}`)
    process.exit(1)
  }
}
