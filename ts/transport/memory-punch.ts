// Simultaneous opens on a MemoryNetwork (memory.ts): dialFrom() forms a
// connection only when the other side dials back from the address it is
// dialled at, before the deadline (a TCP simultaneous open through two NATs);
// no listener takes part. Hosts can be made unpunchable (a NAT that maps
// each connection to a new port).
import type { Clock, Timer } from '../core/clock.js'
import { P4Error } from '../core/errors.js'
import type { ConnEnd, ConnOwner } from './memory-conn.js'
import { checkAddress, type Conn } from './types.js'

export class Punches {
  private readonly unpunchable = new Set<string>()
  /** dialFrom() calls waiting for the other side's, by "from:port>to:port". */
  private readonly waiting = new Map<string, { owner: ConnOwner; resolve: (c: Conn) => void; timer: Timer }>()

  constructor(
    private readonly clock: Clock,
    /** Makes the two ends of a new connection; returns [a's, b's]. */
    private readonly connectPair: (a: ConnEnd, b: ConnEnd) => [Conn, Conn],
  ) {}

  /** Makes dialFrom() from or to `host` never meet the other side's: both time out. */
  setPunchable(host: string, punchable: boolean): void {
    checkAddress(host, 0, true)
    if (punchable) this.unpunchable.delete(host)
    else this.unpunchable.add(host)
  }

  /** dialFrom() from `from:localPort` to `host:port`. */
  open(from: string, localPort: number, host: string, port: number, owner: ConnOwner, timeoutMs: number): Promise<Conn> {
    return new Promise<Conn>((resolve, reject) => {
      const mine = `${from}:${localPort}>${host}:${port}`
      const theirsKey = `${host}:${port}>${from}:${localPort}`
      const theirs = this.waiting.get(theirsKey)
      const blocked = this.unpunchable.has(from) || this.unpunchable.has(host)
      if (theirs !== undefined && !blocked) {
        this.waiting.delete(theirsKey)
        this.clock.clearTimeout(theirs.timer)
        const [a, b] = this.connectPair({ host: from, port: localPort, owner }, { host, port, owner: theirs.owner })
        theirs.resolve(b)
        resolve(a)
        return
      }
      if (this.waiting.has(mine)) return reject(new P4Error('UNREACHABLE', `already dialling ${host}:${port} from port ${localPort}`))
      const timer = this.clock.setTimeout(() => {
        this.waiting.delete(mine)
        reject(new P4Error('TIMEOUT', `connecting to ${host}:${port} from port ${localPort} timed out after ${timeoutMs} ms`))
      }, timeoutMs)
      timer.unref?.()
      this.waiting.set(mine, { owner, resolve, timer })
    })
  }
}
