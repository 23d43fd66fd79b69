// npm run bench [-- --quick] [-- --only aead,frame]: runs every benchmark in
// its own process (crypto libraries disturb each other in one process), one
// after the other, each printing its table and writing bench/results/<name>.json.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const BENCHES = ['aead', 'frame', 'dedup', 'handshake', 'session', 'overlay', 'stream', 'relay', 'e2e', 'e2e-box', 'native', 'footprint']

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } })
const only = values.only ? values.only.split(',') : BENCHES
const unknown = only.filter((b) => !BENCHES.includes(b))
if (unknown.length > 0) {
  console.error(`bench: unknown benchmark ${unknown.join(', ')} (have: ${BENCHES.join(', ')})`)
  process.exit(2)
}
const failed: string[] = []
for (const name of only) {
  const file = fileURLToPath(new URL(`./${name}.bench.js`, import.meta.url))
  console.log(`\n=== ${name} ===`)
  const r = spawnSync(process.execPath, ['--expose-gc', file, ...(values.quick ? ['--quick'] : [])], { stdio: 'inherit' })
  if (r.status !== 0) failed.push(`${name} (exit ${r.status ?? r.signal})`)
}
if (failed.length > 0) {
  console.error(`\nbench: failed: ${failed.join(', ')}`)
  process.exit(1)
}
