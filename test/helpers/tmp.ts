// Temporary directories for a test file. Each file makes its own set and
// registers its cleanup with test.after: uvu imports every file before it runs
// any, so a set shared across files would be removed under another file.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TempDirs {
  /**
   * A new empty directory: `<os tmpdir>/<prefix>XXXXXX`, or, inside `parent`,
   * `<parent>/<n>-XXXXXX` (short: Unix socket paths are limited).
   */
  make(parent?: string): string
  /** Removes every directory made so far (give it to test.after). */
  cleanup(): void
}

export function tempDirs(prefix: string): TempDirs {
  const made: string[] = []
  let n = 0
  return {
    make(parent) {
      const d = mkdtempSync(parent === undefined ? join(tmpdir(), prefix) : join(parent, `${n++}-`))
      made.push(d)
      return d
    },
    cleanup() {
      for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true })
    },
  }
}
