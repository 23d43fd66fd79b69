#!/usr/bin/env node
// The p4net command: runs the command line (ts/cli/run.ts) and exits with its
// code once stdout and stderr have drained.
import { main } from './run.js'

function exit(code: number): void {
  // Let piped stdout/stderr drain before exiting.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))
}

// Output closed by the reader (e.g. `p4net demo | head`): stop quietly, as on SIGPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0)
    throw err
  })
}

main(process.argv.slice(2)).then(exit, (err: unknown) => {
  process.stderr.write(`p4net: ${String(err)}\n`)
  exit(1)
})
