// Waiting on connections in tests: a Conn's close, and a round trip used as
// a positive barrier before asserting that something did not arrive.
import type { Conn, Transport } from '../../ts/transport/types.js'

/** Resolves once `c` has closed (at once if it already has). */
export const closed = (c: Conn): Promise<void> => (c.destroyed ? Promise.resolve() : new Promise((r) => c.once('close', () => r())))

/**
 * A positive barrier for "X did not happen": a round trip over a fresh
 * connection of the same transport. Bytes written before it are at the
 * reader's side (loopback TCP hands them to the peer's socket in the write;
 * the memory network delivers in the order written, one shared turn at a
 * time), and the event loop has polled for I/O more than once since, so a
 * reader that was going to get them has had its chance.
 */
export async function roundTrip(t: Transport): Promise<void> {
  const l = await t.listen('127.0.0.1', 0, (c) => c.on('data', (d) => c.write(d)))
  const c = await t.dial('127.0.0.1', l.address.port)
  await new Promise<void>((r) => {
    c.once('data', () => r())
    c.write(Buffer.from('?'))
  })
  const gone = closed(c)
  c.destroy()
  await gone
  await l.close()
}
