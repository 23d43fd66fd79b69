// Everything a stream's readable side gives until 'end' (rejects on 'error');
// `into` collects the chunks as they come, for tests that look before the end.
import type { P4Stream } from '../../ts/index.js'

export function readAll(s: P4Stream, into: Buffer[] = []): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    s.on('data', (c: Buffer) => into.push(c))
    s.on('end', () => resolve(Buffer.concat(into)))
    s.on('error', reject)
  })
}
