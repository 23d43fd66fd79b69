// The repository's TypeScript sources, for tests that read code as text
// (the layers and the no-sleeps checks).
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root (this file runs from dist/test/helpers/). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** Every .ts file (not .d.ts) under `dir` (relative to ROOT), as ROOT-relative paths. */
export function sources(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    // bench/compare/node_modules: the compared systems' packages, once installed.
    if (e.name === 'node_modules') continue
    const p = `${dir}/${e.name}`
    if (e.isDirectory()) out.push(...sources(p))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p)
  }
  return out
}
