// Which sources a build of bench/compare came from. The harness compiles with
// its own tsconfig (scripts/bench-peers.js, run by `npm run bench:compare`),
// not with `npm run build:ts`: once an old build of it (other message counts)
// ran unnoticed. bench-peers.js stamps the build with this hash of the
// sources it compiled (STAMP, beside this module's output); run.ts refuses a
// stamp that differs from the sources there now.
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

/** The stamp's file name, in the build's directory (dist/bench/compare). */
export const STAMP = 'sources.sha256'

/** SHA-256 over the names and contents of the .ts files in `dir` (bench/compare), in name order. */
export function sourcesHash(dir: string): string {
  const h = createHash('sha256')
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts')).sort()) h.update(f).update(readFileSync(join(dir, f)))
  return h.digest('hex')
}
