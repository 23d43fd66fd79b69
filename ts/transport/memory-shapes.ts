// Link shapes of a MemoryNetwork (memory.ts): a one-way delay and a
// bandwidth per pair of hosts, per host's access link, or for the whole
// network, and which of them a new connection between two hosts gets.
import { P4Error } from '../core/errors.js'
import type { Shape } from './memory-conn.js'
import { checkAddress } from './types.js'

/**
 * A link's one-way delay and bandwidth. A connection between hosts A and B
 * takes the shape set for the pair (setLink), else the sum of the two hosts'
 * delays and the lower of their bandwidths (setHostLink), else the network's
 * default. The bandwidth limits each direction of each connection on its own
 * (it is not shared between connections). Dialling takes one round trip; a
 * connection keeps at most highWaterMark bytes in flight (its window).
 */
export interface LinkShape {
  /** One-way delay, ms (default 0). */
  delayMs?: number
  /** Bytes per second (default: no limit). */
  bytesPerSecond?: number
}

export class LinkShapes {
  private readonly defaultShape: Shape
  private readonly hostShapes = new Map<string, Shape>()
  private readonly linkShapes = new Map<string, Shape>()

  constructor(link: LinkShape) {
    this.defaultShape = toShape(link)
  }

  /** Shapes `host`'s access link; null: back to the network's default. */
  setHost(host: string, shape: LinkShape | null): void {
    checkAddress(host, 0, true)
    if (shape === null) this.hostShapes.delete(host)
    else this.hostShapes.set(host, toShape(shape))
  }

  /** Shapes the link between hosts `a` and `b` (both directions); null removes it. */
  setLink(a: string, b: string, shape: LinkShape | null): void {
    checkAddress(a, 0, true)
    checkAddress(b, 0, true)
    if (shape === null) this.linkShapes.delete(pairKey(a, b))
    else this.linkShapes.set(pairKey(a, b), toShape(shape))
  }

  /** The shape of a connection between `a` and `b`, or null for an immediate one. */
  between(a: string, b: string): Shape | null {
    let s = this.linkShapes.get(pairKey(a, b))
    if (s === undefined) {
      const sa = this.hostShapes.get(a)
      const sb = this.hostShapes.get(b)
      if (sa === undefined && sb === undefined) s = this.defaultShape
      else {
        const x = sa ?? this.defaultShape
        const y = sb ?? this.defaultShape
        s = { delayMs: x.delayMs + y.delayMs, bytesPerMs: Math.min(x.bytesPerMs, y.bytesPerMs) }
      }
    }
    return s.delayMs === 0 && s.bytesPerMs === Infinity ? null : s
  }
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a} ${b}` : `${b} ${a}`
}

function toShape(l: LinkShape): Shape {
  if (typeof l !== 'object' || l === null) throw new P4Error('BAD_ARGUMENT', 'a link shape must be an object')
  const delayMs = l.delayMs ?? 0
  const bps = l.bytesPerSecond ?? Infinity
  if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) throw new P4Error('BAD_ARGUMENT', `delayMs must be a finite number >= 0, got ${String(delayMs)}`)
  if (typeof bps !== 'number' || !(bps > 0)) throw new P4Error('BAD_ARGUMENT', `bytesPerSecond must be a number > 0, got ${String(bps)}`)
  return { delayMs, bytesPerMs: bps / 1000 }
}
