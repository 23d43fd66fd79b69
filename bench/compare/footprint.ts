// Install footprint: what `npm pack` would publish for p4net, and the
// production dependency closure of each system as installed in node_modules
// (each package directory's files, its own nested node_modules excluded, each
// package counted once). Read from disk: no registry traffic.
import { execFileSync } from 'node:child_process'
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

export interface PackInfo {
  /** Tarball bytes. */
  size: number
  unpackedSize: number
  entryCount: number
  /** Unpacked bytes by kind of file: js, map, d.ts, wasm, native source, other. */
  byKind: Record<string, number>
}

function kind(path: string): string {
  if (path.endsWith('.map')) return 'map'
  if (path.endsWith('.d.ts')) return 'd.ts'
  if (path.endsWith('.js')) return 'js'
  if (path.endsWith('.wasm')) return 'wasm'
  if (/\.(cc|h|gyp)$/.test(path)) return 'native source'
  return 'other'
}

/** `npm pack --dry-run --json` of the package at root (scripts not run: nothing is built). */
export function packInfo(root: string): PackInfo {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const info = (JSON.parse(out) as (PackInfo & { files: { path: string; size: number }[] })[])[0]
  if (!info) throw new Error('npm pack printed nothing')
  const byKind: Record<string, number> = {}
  for (const f of info.files) byKind[kind(f.path)] = (byKind[kind(f.path)] ?? 0) + f.size
  return { size: info.size, unpackedSize: info.unpackedSize, entryCount: info.entryCount, byKind }
}

interface Manifest {
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
}

function manifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest
}

/** Where `name` resolves from `fromDir` (Node's node_modules walk), or null. */
function resolvePackage(fromDir: string, name: string): string | null {
  for (let d = fromDir; ; d = dirname(d)) {
    const candidate = join(d, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return candidate
    if (dirname(d) === d) return null
  }
}

/** Bytes of the files under dir, nested node_modules left out. */
function dirBytes(dir: string): number {
  let total = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules') continue
    const p = join(dir, e.name)
    if (e.isDirectory()) total += dirBytes(p)
    else if (e.isFile()) total += lstatSync(p).size
  }
  return total
}

export interface Closure {
  packages: number
  bytes: number
}

/** The installed production closure of `roots` (package names resolved from root), roots included. */
export function closure(root: string, roots: string[]): Closure {
  const seen = new Set<string>()
  const stack: string[] = []
  for (const r of roots) {
    const dir = resolvePackage(root, r)
    if (!dir) throw new Error(`${r} is not installed`)
    stack.push(dir)
  }
  while (stack.length > 0) {
    const dir = stack.pop()!
    if (seen.has(dir)) continue
    seen.add(dir)
    const m = manifest(dir)
    for (const name of Object.keys({ ...m.dependencies, ...m.optionalDependencies })) {
      const dep = resolvePackage(dir, name)
      if (dep) stack.push(dep) // an optional dependency may be absent
    }
  }
  let bytes = 0
  for (const dir of seen) bytes += dirBytes(dir)
  return { packages: seen.size, bytes }
}

/** Direct production dependencies of the package at root. */
export function productionDependencies(root: string): string[] {
  return Object.keys(manifest(root).dependencies ?? {})
}
