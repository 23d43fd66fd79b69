// The one way a benchmark runs part of itself in another process:
//   * Child: a forked module that takes orders over IPC and owes replies,
//     each reply naming its `op`; { op: 'error', message } from the child
//     fails whatever the parent waits for, and so does the child's exit.
//   * childMain: the child's side of it.
//   * runJson: a process run to its end that prints its figures as JSON on
//     its last stdout line (a fresh process per measurement).
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { pathToFileURL } from 'node:url'

export type Reply = { op: string; [k: string]: unknown }

export class Child {
  readonly child: ChildProcess
  private waiting: { op: string; resolve: (r: Reply) => void; reject: (e: Error) => void }[] = []
  private dead: Error | null = null

  /** Forks `script` (a dist/ .js path) with `args`, and `execArgv` for node (e.g. --expose-gc). */
  constructor(
    script: string,
    private readonly opts: { args?: string[]; execArgv?: string[]; name?: string } = {},
  ) {
    const name = opts.name ?? 'child'
    this.child = fork(script, opts.args ?? [], { execArgv: opts.execArgv ?? [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (m: Reply) => {
      if (m.op === 'error') {
        // Nothing waiting: the trial it belonged to is over, but say so.
        if (this.waiting.length === 0) process.stderr.write(`${name} reported after its trial: ${String(m.message)}\n`)
        return this.failAll(new Error(`${name}: ${String(m.message)}`))
      }
      const i = this.waiting.findIndex((w) => w.op === m.op)
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m)
    })
    // A broken IPC pipe is as final as an exit (and may be seen first).
    this.child.on('error', (err) => this.die(new Error(`${name}: ${err.message}`)))
    this.child.on('exit', (code, signal) => this.die(new Error(`${name} exited (${signal ?? code})`)))
  }

  private die(err: Error): void {
    this.dead ??= err
    this.failAll(err)
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill()
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.splice(0)) w.reject(err)
  }

  get alive(): boolean {
    return this.dead === null
  }

  /** The next reply `op`; rejects on an error report from the child or its exit. */
  expect(op: string): Promise<Reply> {
    if (this.dead) return Promise.reject(this.dead)
    return new Promise((resolve, reject) => this.waiting.push({ op, resolve, reject }))
  }

  order(msg: object): void {
    if (this.dead || !this.child.connected) return // expect() reports it
    this.child.send(msg, (err) => {
      if (err) this.die(new Error(`${this.opts.name ?? 'child'}: ${err.message}`))
    })
  }

  /** Sends `msg` and waits for the reply `op`. */
  request(msg: object, op: string): Promise<Reply> {
    const reply = this.expect(op)
    this.order(msg)
    return reply
  }

  /** Disconnects (the child exits, see childMain) and waits for the exit, killing it after 5 s. */
  async end(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()))
    if (this.child.connected) this.child.disconnect()
    const t = setTimeout(() => this.child.kill(), 5000)
    await exited
    clearTimeout(t)
  }
}

/** What a child's order handler replies with. */
export interface ChildIo {
  send(m: Reply): void
  /** Reports `err` to the parent as { op: 'error', message }. */
  fail(err: unknown): void
}

/** The child's side: hands each order to `onOrder`; the parent going away ends the child. */
export function childMain<O>(onOrder: (order: O, io: ChildIo) => void): void {
  const io: ChildIo = {
    send: (m) => void process.send!(m),
    fail: (err) => io.send({ op: 'error', message: err instanceof Error ? err.message : String(err) }),
  }
  process.on('message', (order: O) => {
    try {
      onOrder(order, io)
    } catch (err) {
      io.fail(err)
    }
  })
  process.on('disconnect', () => process.exit(0))
}

/** True in the module node was started with (not when it is imported). */
export function isMain(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && moduleUrl === pathToFileURL(process.argv[1]).href
}

/** Runs `node script ...args` to its end; its last stdout line, parsed as JSON. */
export function runJson<T>(script: string, args: string[], what = script): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('error', reject)
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${what} exited ${code}: ${err.trim().split('\n').slice(-2).join(' ')}`))
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as T)
      } catch {
        reject(new Error(`${what} printed ${JSON.stringify(out.slice(0, 200))}`))
      }
    })
  })
}
