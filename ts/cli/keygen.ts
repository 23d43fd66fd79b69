// `p4net keygen`: creates the node identity (Ed25519 + X25519) in a data
// dir and prints its fingerprint. Never replaces an existing identity.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fingerprint, IDENTITY_FILE, loadIdentity, loadOrCreateIdentity } from '../core/identity.js'
import { CliError, CONFIG_OPTION, helpText, parseCommand, schemaFlags, type CommandSpec } from './args.js'
import { resolveConfig } from './config.js'

export const keygenSpec: CommandSpec = {
  name: 'keygen',
  summary: 'create this node\'s identity and print its fingerprint',
  usage: 'p4net keygen [--data-dir DIR]',
  options: {
    ...schemaFlags(['dataDir'], { dataDir: 'where to create identity.json' }),
    config: { ...CONFIG_OPTION, help: 'config file to read dataDir from' },
  },
  details: `Writes <data dir>/identity.json (mode 0600): the Ed25519 identity key and
the X25519 Noise static key. Prints the fingerprint on stdout. An existing
identity is never overwritten (exit 1); remove the file yourself to replace it.
\`p4net start\` and \`p4net chat\` create an identity on first use if none exists.`,
}

export async function keygenCommand(argv: string[]): Promise<number> {
  const parsed = parseCommand(keygenSpec, argv)
  if (!parsed) {
    process.stdout.write(helpText(keygenSpec))
    return 0
  }
  const { settings } = resolveConfig({ command: 'keygen', flags: parsed.values })
  const dir = settings.dataDir
  const file = join(dir, IDENTITY_FILE)
  if (existsSync(file)) {
    let fp = 'unreadable'
    try {
      fp = fingerprint((await loadIdentity(dir)).publicKey)
    } catch {
      // Still refuse: a damaged identity is the user's to inspect, not ours to replace.
    }
    throw new CliError('ALREADY_EXISTS', `p4net keygen: ${file} already exists (fingerprint ${fp}); not overwriting it`)
  }
  // loadOrCreateIdentity links the new file into place only if none exists,
  // so a concurrent creator wins cleanly instead of being overwritten.
  const id = await loadOrCreateIdentity(dir)
  process.stderr.write(`p4net keygen: created ${file}\n`)
  process.stdout.write(fingerprint(id.publicKey) + '\n')
  return 0
}
