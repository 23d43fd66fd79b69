// Fuzz targets of the config loader (ts/cli/config-file.ts, ts/cli/flags-env.ts):
//   config       validateConfig on random JSON values biased towards the real
//                keys and their edge values, on mutated valid config text
//                (JSON.parse first, as readConfigFile does), and
//                settingsFromEnv on random P4NET_* strings.
//   config-file  readConfigFile itself on mutated bytes written to a file.
// Outcome: Settings holding only known keys, or P4Error BAD_CONFIG.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readConfigFile, validateConfig } from '../../ts/cli/config-file.js'
import { settingsFromEnv, TEXT_OPTIONS } from '../../ts/cli/flags-env.js'
import { OPTIONS } from '../../ts/options.js'
import { resetLargestAlloc } from './alloc.js'
import type { FuzzTarget, Trial } from './harness.js'
import { tempDirs } from '../helpers/tmp.js'
import { mutate, Rng } from './rng.js'

// The config file's keys, from the option schema.
const KEYS = OPTIONS.filter((e) => !e.name.includes('.') && e.file !== false).map((e) => e.name)
const SUBKEYS = ['min', 'max', 'hardCap', 'forwardProbability', 'minHops', 'maxHops', 'capacity', 'ttlMs', 'maintenanceMs', 'pingIntervalMs', 'handshakeTimeoutMs', 'policy', 'keys', 'authorityKey', 'clockSkewMs', 'maxPins']
const STRINGS = ['', 'alice', 'tofu', 'allowlist', 'authority', 'small', 'default', '127.0.0.1:4001', '[::1]:9', 'h:0', 'h:65536', '~/x', '../../etc', 'a'.repeat(40), '\u0000', 'é', 'AAAA', 'QQ==', '00'.repeat(32), '10.77.0.1']
const NUMBERS = [0, 1, -1, 0.5, 2, 255, 256, 1023, 1024, 4096, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 53, -0, 1e308, 1 << 20, 256 * 1024 * 1024]

function randomJson(rng: Rng, depth: number): unknown {
  switch (rng.int(depth > 3 ? 5 : 8)) {
    case 0:
      return null
    case 1:
      return rng.chance(0.5)
    case 2:
      return rng.chance(0.7) ? rng.pick(NUMBERS) : (rng.u32() - 0x80000000) / (rng.chance(0.5) ? 1 : 1000)
    case 3:
      return rng.chance(0.8) ? rng.pick(STRINGS) : String.fromCharCode(...Array.from({ length: rng.size(40) }, () => rng.int(0x3000)))
    case 4:
      return rng.pick(STRINGS)
    case 5:
      return Array.from({ length: rng.size(6) }, () => randomJson(rng, depth + 1))
    default: {
      const o: Record<string, unknown> = {}
      for (let k = rng.size(6); k > 0; k--) o[rng.chance(0.9) ? rng.pick(depth === 0 ? KEYS : SUBKEYS) : rng.pick(STRINGS)] = randomJson(rng, depth + 1)
      return o
    }
  }
}

/** A config object with mostly known keys at the top. */
function randomConfig(rng: Rng): unknown {
  if (rng.chance(0.05)) return randomJson(rng, 1)
  const o: Record<string, unknown> = {}
  for (let k = 1 + rng.size(8); k > 0; k--) o[rng.chance(0.95) ? rng.pick(KEYS) : rng.pick(STRINGS)] = randomJson(rng, 1)
  return o
}

const VALID = [
  { username: 'alice', port: 4001, bootstrap: ['127.0.0.1:4002', '[::1]:4003'], links: { min: 2, max: 8 } },
  { username: 'bob', host: '0.0.0.0', advertiseHost: '10.77.0.2', dataDir: '~/p4', profile: 'small', trust: { policy: 'tofu', maxPins: 100 } },
  // Not 00..00 here: that is a small-order Ed25519 key, which parseKey refuses (small-order.test.ts).
  { trust: { policy: 'allowlist', keys: ['22'.repeat(32)] }, timers: { maintenanceMs: 50, pingIntervalMs: 1000 }, dedup: { capacity: 4096, ttlMs: 60000 } },
  { trust: { policy: 'authority', authorityKey: '11'.repeat(32) }, certificate: 'AAAA', discover: { forwardProbability: 0.9, minHops: 2, maxHops: 8 } },
  { maxMessage: 1048576, hopLimit: 16, maxUsers: 512, maxDirect: 4, highWaterMark: 65536 },
]

function checkSettings(s: unknown): void {
  if (typeof s !== 'object' || s === null) throw new Error('config: accepted a non-object')
  for (const k of Object.keys(s)) if (!KEYS.includes(k)) throw new Error(`config: accepted unknown key ${JSON.stringify(k)}`)
}

const utf8 = new TextEncoder()
const text = new TextDecoder()

export function configTarget(): FuzzTarget {
  const corpus = VALID.map((v, i) => utf8.encode(JSON.stringify(v, null, i % 2 ? 2 : 0)))
  for (const v of VALID) checkSettings(validateConfig(v, 'seed', '/tmp', '/home/fuzz'))
  return {
    name: 'config',
    codes: ['BAD_CONFIG'],
    run(rng, describe): Trial {
      const mode = rng.int(10)
      if (mode < 5) {
        const doc = randomConfig(rng)
        const json = JSON.stringify(doc)
        describe(json)
        resetLargestAlloc()
        checkSettings(validateConfig(doc, 'fuzz.json', '/tmp', '/home/fuzz'))
        return { verdict: 'accepted', allocLimit: json.length * 4 + 1024 }
      }
      if (mode < 9) {
        const bytes = mutate(rng, rng.pick(corpus), 4096, rng.pick(corpus))
        const src = text.decode(bytes)
        describe(src)
        resetLargestAlloc()
        let doc: unknown
        try {
          doc = JSON.parse(src)
        } catch {
          return { verdict: 'rejected', allocLimit: Infinity, code: 'BAD_CONFIG' } // readConfigFile: "not valid JSON"
        }
        checkSettings(validateConfig(doc, 'fuzz.json', '/tmp', '/home/fuzz'))
        return { verdict: 'accepted', allocLimit: bytes.length * 4 + 1024 }
      }
      // Environment strings (P4NET_*), each a random or edge string.
      const env: Record<string, string> = {}
      for (const s of TEXT_OPTIONS) if (s.env !== undefined && rng.chance(0.4)) env[s.env] = rng.chance(0.5) ? rng.pick(STRINGS) : String(rng.pick(NUMBERS))
      describe(JSON.stringify(env))
      resetLargestAlloc()
      settingsFromEnv(env, '/tmp')
      return { verdict: 'accepted', allocLimit: 4096 }
    },
  }
}

/** readConfigFile on mutated file contents (real file I/O, so slower). */
export function configFileTarget(): FuzzTarget {
  const tmp = tempDirs('p4net-fuzz-')
  const dir = tmp.make()
  const path = join(dir, 'p4net.config.json')
  const corpus = VALID.map((v) => utf8.encode(JSON.stringify(v, null, 2)))
  return {
    name: 'config-file',
    codes: ['BAD_CONFIG'],
    run(rng, describe): Trial {
      const bytes = rng.chance(0.05) ? rng.bytes(rng.size(512)) : mutate(rng, rng.pick(corpus), 4096, rng.pick(corpus))
      describe(bytes)
      writeFileSync(path, bytes)
      resetLargestAlloc()
      checkSettings(readConfigFile(path, dir, '/home/fuzz'))
      return { verdict: 'accepted', allocLimit: 64 * 1024 }
    },
    close() {
      tmp.cleanup()
    },
  }
}
