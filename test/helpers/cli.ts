// Running the p4net command in tests: real processes, stdin piped, output
// read, each killed in a finally block and every wait with a deadline.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { tempDirs } from './tmp.js'

export const MAIN = fileURLToPath(new URL('../../ts/cli/main.js', import.meta.url))
export const EXAMPLE_CHAT = fileURLToPath(new URL('../../examples/chat.js', import.meta.url))
export const EXAMPLE_COUNTER = fileURLToPath(new URL('../../examples/counter.js', import.meta.url))
export const EXAMPLE_FILE_COPY = fileURLToPath(new URL('../../examples/file-copy.js', import.meta.url))

// One root for every file that imports this module: uvu loads all files into
// one process, so the root is removed when that process exits, not by a
// file's test.after (which would pull it from under the next file).
const tmp = tempDirs('p4cli-')
export const root = tmp.make()
process.once('exit', () => tmp.cleanup())
/** A fresh directory under the test root (short: Unix socket paths are limited). */
export const freshDir = (): string => tmp.make(root)

/** A clean environment: no P4NET_* from the caller, config dir and cwd in the test root. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('P4NET_') && k !== 'NODE_DEBUG') env[k] = v
  return { ...env, XDG_CONFIG_HOME: join(root, 'xdg'), HOME: root, ...extra }
}

export class Proc {
  out = ''
  err = ''
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  constructor(args: string[], opts: { script?: string; env?: Record<string, string>; cwd?: string } = {}) {
    this.child = spawn(process.execPath, [opts.script ?? MAIN, ...args], { env: cleanEnv(opts.env), cwd: opts.cwd ?? root, stdio: ['pipe', 'pipe', 'pipe'] })
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => (this.out += s))
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => (this.err += s))
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))))
  }
  /** Resolves with the first match of `re` in stdout (checked as output arrives); rejects after `ms` or when the process exits first. */
  waitFor(re: RegExp, ms = 8000): Promise<RegExpMatchArray> {
    const stdout = this.child.stdout!
    return new Promise<RegExpMatchArray>((resolve, reject) => {
      let settled = false
      const done = (): boolean => {
        if (settled) return false
        settled = true
        clearTimeout(timer)
        stdout.off('data', check)
        stdout.off('close', ended)
        this.child.off('exit', exited)
        return true
      }
      const check = (): void => {
        const m = re.exec(this.out)
        if (m && done()) resolve(m)
      }
      const ended = (): void => {
        check()
        if (done()) reject(new Error(`exited ${this.child.exitCode} before ${re}\n--- stdout:\n${this.out}\n--- stderr:\n${this.err}`))
      }
      const exited = (): void => {
        // Output still in the pipe comes before its 'close'; 'exit' may come first.
        if (stdout.closed) ended()
        else stdout.once('close', ended)
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`timed out waiting for ${re}\n--- stdout:\n${this.out}\n--- stderr:\n${this.err}`))
      }, ms)
      // After the constructor's listener has appended the chunk.
      stdout.on('data', check)
      if (this.child.exitCode !== null || this.child.signalCode !== null) exited()
      else this.child.once('exit', exited)
      check()
    })
  }
  send(line: string): void {
    this.child.stdin!.write(line + '\n')
  }
  /** Exit code, or a rejection when the process is still running after `ms`. */
  async exit(ms = 8000): Promise<number | null> {
    let t: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`still running after ${ms} ms\n--- stdout:\n${this.out}\n--- stderr:\n${this.err}`)), ms)
    })
    try {
      return await Promise.race([this.exited, timeout])
    } finally {
      clearTimeout(t)
    }
  }
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL')
  }
}

/** Sends `line` until the output matches `re` (for state that arrives asynchronously). */
export async function poll(p: Proc, line: string, re: RegExp, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    p.send(line)
    try {
      await p.waitFor(re, 200)
      return
    } catch (err) {
      if (Date.now() > end) throw err
    }
  }
}

/** Runs the command to completion (killed after `ms`). */
export async function run(args: string[], opts: { env?: Record<string, string>; cwd?: string; ms?: number; script?: string } = {}): Promise<{ code: number | null; out: string; err: string }> {
  const p = new Proc(args, opts)
  try {
    p.child.stdin!.end()
    const code = await p.exit(opts.ms ?? 8000)
    return { code, out: p.out, err: p.err }
  } finally {
    p.kill()
  }
}

