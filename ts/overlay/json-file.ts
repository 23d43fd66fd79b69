// Atomic JSON files in the data directory, shared by the peer cache and the
// TOFU pin store: atomic writes, a debounced saver, and reading a file that
// may not exist yet.
import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { open, mkdir, rename, unlink } from 'node:fs/promises'
import { debuglog } from 'node:util'
import { P4Error } from '../core/errors.js'

const debug = debuglog('p4net')

/** The default `warn` of PeerCache and TofuPolicy: the message under NODE_DEBUG=p4net. */
export function debugWarn(err: P4Error): void {
  debug('%s', err.message)
}

function tempName(path: string): string {
  return `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
}

/**
 * Writes `text` to `path` atomically: a private (0600) temporary file in the
 * same directory, fsync, rename over the target. Readers see the old or the
 * new file, never a torn one. The directory is created (0700) if missing.
 * When any step fails the temporary file is removed (a full disk must not
 * also collect half-written files) and the error propagates.
 */
export async function writeFileAtomic(path: string, text: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const tmp = tempName(path)
  const fh = await open(tmp, 'wx', 0o600)
  try {
    try {
      await fh.writeFile(text, 'utf8')
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    throw err
  }
}

/** writeFileAtomic, synchronously (for exit paths). */
export function writeFileAtomicSync(path: string, text: string, dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const tmp = tempName(path)
  const fd = openSync(tmp, 'wx', 0o600)
  try {
    try {
      // writeSync may write less than asked (e.g. at a file size limit)
      // without throwing: loop, so a short write fails instead of being
      // renamed into place as a truncated file.
      const bytes = Buffer.from(text, 'utf8')
      for (let off = 0; off < bytes.length; ) {
        const n = writeSync(fd, bytes, off)
        if (n <= 0) throw new P4Error('IO_ERROR', `no progress writing ${tmp}`)
        off += n
      }
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } catch (err) {
    try {
      unlinkSync(tmp)
    } catch {
      // the temporary file is already gone
    }
    throw err
  }
}

/**
 * Debounced, serialised saving of one JSON document: schedule() after each
 * change writes once `delayMs` later; flush() writes now and resolves when
 * the bytes are on disk. Writes never overlap and always carry the latest
 * state (serialize() runs when a write starts).
 */
export class JsonFileSaver {
  private timer: NodeJS.Timeout | undefined
  private dirty = false
  private chain: Promise<void> = Promise.resolve()

  constructor(
    readonly path: string,
    private readonly dir: string,
    private readonly serialize: () => unknown,
    private readonly delayMs: number,
  ) {}

  schedule(): void {
    this.dirty = true
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.flush().catch((err: unknown) => debug('saving %s failed: %s', this.path, String(err)))
    }, this.delayMs)
    this.timer.unref()
  }

  /** Writes pending changes now; rejects with P4Error 'IO_ERROR' when the write fails. */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (!this.dirty) return this.chain
    this.dirty = false
    const text = JSON.stringify(this.serialize())
    const write = this.chain.then(() => writeFileAtomic(this.path, text, this.dir))
    this.chain = write.catch(() => undefined)
    return write.catch((cause: unknown) => {
      this.dirty = true
      throw new P4Error('IO_ERROR', `cannot write ${this.path}`, { cause })
    })
  }

  /** Writes pending changes synchronously (process exit); throws P4Error 'IO_ERROR'. */
  flushSync(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    if (!this.dirty) return
    this.dirty = false
    try {
      writeFileAtomicSync(this.path, JSON.stringify(this.serialize()), this.dir)
    } catch (cause) {
      this.dirty = true
      throw new P4Error('IO_ERROR', `cannot write ${this.path}`, { cause })
    }
  }
}

/** Reads a UTF-8 file; undefined when it does not exist. Other errors propagate. */
export function readFileIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}
