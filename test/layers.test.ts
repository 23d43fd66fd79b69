// The source tree's shape, checked: imports point down the layers of
// docs/architecture.md and never up, and no module imports itself through
// others (no cycle anywhere in ts/); tests and benches do not import each
// other (what both need is in common/).
import { readFileSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import * as assert from 'uvu/assert'
import { ROOT, sources } from './helpers/sources.js'
import { test } from './helpers/test.js'


/** Layer of a source file, lowest first; a file may import its own layer and those below. */
const LAYERS: Array<[RegExp, number, string]> = [
  [/^ts\/core\//, 0, 'core'],
  [/^ts\/wasm\//, 1, 'wasm'],
  [/^ts\/crypto\.ts$/, 2, 'crypto (public AEAD)'],
  [/^ts\/native\//, 2, 'native'],
  [/^ts\/transport\//, 3, 'transport'],
  [/^ts\/session\//, 4, 'session'],
  [/^ts\/overlay\//, 5, 'overlay'],
  [/^ts\/(e2e|e2e-aad|e2e-aead|e2e-keys|e2e-wasm|plugin|stream|stream-box)\.ts$/, 6, 'plugin API'],
  [/^ts\/(node|node-types|node-runtime|plugin-router|options|option-schema|join)\.ts$/, 7, 'node'],
  [/^ts\/index\.ts$/, 8, 'index'],
  [/^ts\/cli\//, 9, 'cli'],
]

function layerOf(file: string): [number, string] {
  for (const [re, rank, name] of LAYERS) if (re.test(file)) return [rank, name]
  throw new Error(`${file} is in no layer: add it to test/layers.test.ts and docs/architecture.md`)
}


/** Relative imports of `file` (static, re-exports and dynamic), as repository paths of .ts files. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = normalize(join(dirname(file), m[1]!)).replace(/\.js$/, '.ts')
    out.push(target)
  }
  return out
}

/** Imports that point to a higher layer, or sideways into another layer of the same rank. */
function upward(graph: Map<string, string[]>): string[] {
  const up: string[] = []
  for (const [file, deps] of graph) {
    const [rank, name] = layerOf(file)
    for (const d of deps) {
      const [r, n] = layerOf(d)
      if (r > rank || (r === rank && n !== name)) up.push(`${file} (${name}) imports ${d} (${n})`)
    }
  }
  return up
}

/** Every import cycle, as "a → b → a". */
function cycles(graph: Map<string, string[]>): string[] {
  const state = new Map<string, 'open' | 'done'>()
  const found: string[] = []
  const visit = (f: string, path: string[]): void => {
    const s = state.get(f)
    if (s === 'done') return
    if (s === 'open') {
      found.push([...path.slice(path.indexOf(f)), f].join(' → '))
      return
    }
    state.set(f, 'open')
    for (const d of graph.get(f) ?? []) visit(d, [...path, f])
    state.set(f, 'done')
  }
  for (const f of graph.keys()) visit(f, [])
  return found
}

/**
 * Imports that cross between tests and benches: neither imports the other
 * (benches may use the reference implementations under test/reference/, and
 * spawn test/helpers/attacker.js, which is no import), and common/, which
 * both import, imports neither.
 */
function crossings(graph: Map<string, string[]>): string[] {
  const forbidden: Array<[RegExp, RegExp]> = [
    [/^test\//, /^bench\//],
    [/^bench\//, /^test\/(?!reference\/)/],
    [/^common\//, /^(test|bench)\//],
  ]
  const out: string[] = []
  for (const [file, deps] of graph) {
    for (const [from, to] of forbidden) if (from.test(file)) for (const d of deps) if (to.test(d)) out.push(`${file} imports ${d}`)
  }
  return out
}

const FILES = sources('ts')
const GRAPH = new Map(FILES.map((f) => [f, importsOf(f)]))

test('every file of ts/ is in a layer, and every relative import points at a file of ts/', () => {
  assert.ok(FILES.length > 40 && GRAPH.get('ts/node.ts')!.length > 5, 'the sources were found')
  for (const [file, deps] of GRAPH) {
    layerOf(file)
    for (const d of deps) assert.ok(GRAPH.has(d), `${file} imports ${d}, which is not a source file of ts/`)
  }
})

test('imports point down the layers, never up', () => {
  const up = upward(GRAPH)
  assert.equal(up, [], `imports that point up or sideways:\n  ${up.join('\n  ')}`)
})

test('no import cycle anywhere in ts/', () => {
  const found = cycles(GRAPH)
  assert.equal(found, [], `import cycles:\n  ${found.join('\n  ')}`)
})

test('the checks find an upward import, a sideways one and a cycle in a made-up tree', () => {
  const fake = new Map([
    ['ts/core/a.ts', ['ts/node.ts']],
    ['ts/node.ts', ['ts/core/a.ts']],
    ['ts/native/x.ts', ['ts/crypto.ts']],
    ['ts/crypto.ts', []],
  ])
  assert.equal(upward(fake), ['ts/core/a.ts (core) imports ts/node.ts (node)', 'ts/native/x.ts (native) imports ts/crypto.ts (crypto (public AEAD))'])
  assert.equal(cycles(fake), ['ts/core/a.ts → ts/node.ts → ts/core/a.ts'])
  assert.throws(() => layerOf('ts/elsewhere.ts'), /in no layer/)
})

test('tests and benches do not import each other; common/ imports neither', () => {
  const files = ['test', 'bench', 'common'].flatMap(sources)
  assert.ok(files.length > 50 && files.includes('common/net.ts'), 'the sources were found')
  const found = crossings(new Map(files.map((f) => [f, importsOf(f)])))
  assert.equal(found, [], `imports across test/ and bench/:\n  ${found.join('\n  ')}`)
})

test('the crossing check finds a test importing a bench, a bench importing a test helper, and common/ importing either', () => {
  const fake = new Map([
    ['test/a.test.ts', ['bench/lib.ts', 'common/net.ts', 'test/helpers/test.ts']],
    ['bench/b.bench.ts', ['test/helpers/test.ts', 'test/reference/frame-reference.ts', 'common/results.ts']],
    ['common/c.ts', ['test/helpers/errors.ts', 'bench/lib.ts', 'ts/index.ts']],
  ])
  assert.equal(crossings(fake), [
    'test/a.test.ts imports bench/lib.ts',
    'bench/b.bench.ts imports test/helpers/test.ts',
    'common/c.ts imports test/helpers/errors.ts',
    'common/c.ts imports bench/lib.ts',
  ])
})

test.run()
