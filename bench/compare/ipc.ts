// A forked bench/compare/worker.js and the replies it owes (orders and
// replies: see worker.ts). Used by the driver and by a trial process that
// needs a far end in another process.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url))

export type Reply = { op: string; [k: string]: unknown }

export class WorkerProcess {
  readonly child: ChildProcess
  private waiting: { op: string; resolve: (r: Reply) => void; reject: (e: Error) => void }[] = []
  private dead: Error | null = null

  constructor(execArgv: string[] = []) {
    this.child = fork(WORKER, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (m: Reply) => {
      if (m.op === 'error') {
        if (this.waiting.length === 0) process.stderr.write(`worker reported after its trial: ${String(m.message)}\n`)
        return this.failAll(new Error(`worker: ${String(m.message)}`))
      }
      const i = this.waiting.findIndex((w) => w.op === m.op)
      if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(m)
    })
    // A broken IPC pipe is as final as an exit (and may be seen first).
    this.child.on('error', (err) => this.die(new Error(`worker: ${err.message}`)))
    this.child.on('exit', (code, signal) => this.die(new Error(`worker exited (${signal ?? code})`)))
  }

  private die(err: Error): void {
    this.dead ??= err
    this.failAll(err)
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill()
  }

  private failAll(err: Error): void {
    for (const w of this.waiting.splice(0)) w.reject(err)
  }

  /** The next reply `op`; rejects on an error report from the worker or its exit. */
  expect(op: string): Promise<Reply> {
    if (this.dead) return Promise.reject(this.dead)
    return new Promise((resolve, reject) => this.waiting.push({ op, resolve, reject }))
  }

  order(msg: object): void {
    if (this.dead || !this.child.connected) return // expect() reports it
    this.child.send(msg, (err) => {
      if (err) this.die(new Error(`worker: ${err.message}`))
    })
  }

  /** Sends `msg` and waits for the reply `op`. */
  request(msg: object, op: string): Promise<Reply> {
    const reply = this.expect(op)
    this.order(msg)
    return reply
  }

  /** Disconnects (the worker exits) and waits for the exit, killing it after 5 s. */
  async end(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()))
    if (this.child.connected) this.child.disconnect()
    const t = setTimeout(() => this.child.kill(), 5000)
    await exited
    clearTimeout(t)
  }
}
