// Regenerates the option tables of docs/cli.md from the option schema
// (ts/option-schema.ts), between their marker comments. Needs the compiled
// TypeScript (npm run build:ts). With --check it changes nothing and exits 1
// when the committed tables are not what the schema gives.
//   node scripts/docs-options.js [--check]
import { readFileSync, writeFileSync } from 'node:fs'

const { withOptionTables } = await import('../dist/ts/cli/options-doc.js')
const file = new URL('../docs/cli.md', import.meta.url)
const before = readFileSync(file, 'utf8')
const after = withOptionTables(before)
if (process.argv.includes('--check')) {
  if (after !== before) {
    console.error('docs/cli.md: the option tables differ from ts/option-schema.ts; run npm run docs:options')
    process.exit(1)
  }
} else if (after !== before) {
  writeFileSync(file, after)
  console.log('docs/cli.md: option tables updated')
}
