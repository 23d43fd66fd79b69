// The split of a process's resident memory that /proc/self/status gives
// (Linux): the footprint bench (bench/footprint-child.ts) and test
// (test/footprint.test.ts) report and bound it.
import { readFileSync } from 'node:fs'

/**
 * RssAnon and RssFile of /proc/self/status, in bytes (0 and 0 where there is
 * none): anonymous pages (the process's own memory: V8's heap, WebAssembly,
 * malloc) and file-backed ones (mostly the node executable's code and
 * read-only data, paged in as Node's own features run; shared with every
 * other Node process and clean).
 */
export function rssSplit(): { rssAnon: number; rssFile: number } {
  let text = ''
  try {
    text = readFileSync('/proc/self/status', 'utf8')
  } catch {
    return { rssAnon: 0, rssFile: 0 }
  }
  const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024
  return { rssAnon: kb('RssAnon'), rssFile: kb('RssFile') }
}
