// LAN beacons (ts/overlay/lan-codec.ts) and the checks a received one goes
// through (ts/overlay/lan-filter.ts): every field validated, a bad datagram
// is a counted reason and never a throw, and what the filter keeps stays
// within LAN_LIMITS under a flood from many sources and keys.
import * as assert from 'uvu/assert'
import { generateIdentity } from '../ts/core/identity.js'
import { isP4Error } from '../ts/core/errors.js'
import { BEACON_MAX_BYTES, BEACON_MIN_BYTES, decodeBeacon, encodeBeacon, verifyBeacon, type BeaconFields } from '../ts/overlay/lan-codec.js'
import { BeaconFilter, LAN_LIMITS, type LanRejectReason } from '../ts/overlay/lan-filter.js'
import { fixedIdentity } from './helpers/identities.js'
import { throwsCode } from './helpers/errors.js'
import { test } from './helpers/test.js'

const alice = fixedIdentity(1)
const me = fixedIdentity(9)
const WALL = 1_700_000_000_000

function fields(o: Partial<BeaconFields> = {}): BeaconFields {
  return { identityKey: alice.publicKey, time: WALL, username: 'alice', port: 4001, hosts: ['10.79.0.1'], certificate: new Uint8Array(0), ...o }
}

/** A filter as a node with key `own` runs it; admit() accepts everything unless told. */
function filter(own = me.publicKey, admit: (name: string) => LanRejectReason | undefined = () => undefined): BeaconFilter {
  return new BeaconFilter(own, 600_000, (b) => admit(b.username), 0)
}

test('a beacon round-trips, and its signature covers every byte (any flipped bit fails)', () => {
  const bytes = encodeBeacon(alice, fields({ hosts: ['10.79.0.1', 'alice.lan'], certificate: Uint8Array.of(1, 2, 3) }))
  const b = decodeBeacon(bytes)
  assert.equal([b.username, b.port, b.hosts, b.time, [...b.certificate], b.flags], ['alice', 4001, ['10.79.0.1', 'alice.lan'], WALL, [1, 2, 3], 0])
  assert.ok(verifyBeacon(b))
  // Flip one bit at a time past the magic and version: it no longer decodes, or no longer verifies.
  for (let i = 5; i < bytes.length; i++) {
    const m = Uint8Array.from(bytes)
    m[i]! ^= 0x10
    let ok = false
    try {
      ok = verifyBeacon(decodeBeacon(m))
    } catch (err) {
      assert.ok(isP4Error(err, 'BAD_PAYLOAD'), String(err))
    }
    assert.not.ok(ok, `bit flipped at byte ${i} still verifies`)
  }
  // Signed by another key than the one it names: refused.
  const forged = encodeBeacon(fixedIdentity(2), fields())
  assert.not.ok(verifyBeacon(decodeBeacon(forged)))
})

test('decoding is strict: truncations, a trailing byte, bad fields; encoding checks its input', () => {
  const bytes = encodeBeacon(alice, fields())
  for (let n = 0; n < bytes.length; n++) throwsCode(() => decodeBeacon(bytes.subarray(0, n)), 'BAD_PAYLOAD', `truncated to ${n}`)
  throwsCode(() => decodeBeacon(Uint8Array.from([...bytes, 0])), 'BAD_PAYLOAD', 'trailing byte')
  const at = (i: number, v: number): Uint8Array => {
    const m = Uint8Array.from(bytes)
    m[i] = v
    return m
  }
  const nameAt = 46
  const portAt = nameAt + 1 + 5
  throwsCode(() => decodeBeacon(at(0, 0x51)), 'BAD_PAYLOAD', 'magic')
  throwsCode(() => decodeBeacon(at(4, 2)), 'BAD_PAYLOAD', 'version', /unknown version 2/)
  throwsCode(() => decodeBeacon(at(nameAt, 0)), 'BAD_PAYLOAD', 'empty name')
  throwsCode(() => decodeBeacon(at(nameAt + 1, 0x41)), 'BAD_PAYLOAD', 'upper-case name')
  throwsCode(() => decodeBeacon(at(portAt, 0).map((v, i) => (i === portAt + 1 ? 0 : v))), 'BAD_PAYLOAD', 'port 0')
  throwsCode(() => decodeBeacon(at(portAt + 2, 5)), 'BAD_PAYLOAD', '5 hosts')
  throwsCode(() => decodeBeacon(at(portAt + 4, 0x20)), 'BAD_PAYLOAD', 'a space in a host')
  assert.ok(BEACON_MIN_BYTES <= bytes.length && bytes.length <= BEACON_MAX_BYTES)
  throwsCode(() => encodeBeacon(alice, fields({ port: 0 })), 'BAD_ARGUMENT')
  throwsCode(() => encodeBeacon(alice, fields({ hosts: ['a', 'b', 'c', 'd', 'e'] })), 'BAD_ARGUMENT')
  throwsCode(() => encodeBeacon(alice, fields({ hosts: [''] })), 'BAD_ARGUMENT')
  throwsCode(() => encodeBeacon(alice, fields({ time: -1 })), 'BAD_ARGUMENT')
  throwsCode(() => encodeBeacon(alice, fields({ username: 'Alice' })), 'BAD_USERNAME')
  throwsCode(() => encodeBeacon(alice, fields({ certificate: new Uint8Array(1025) })), 'BAD_ARGUMENT')
  // Every field at its cap still fits the bound a receiver drops larger datagrams by.
  const big = encodeBeacon(alice, fields({ username: 'a'.repeat(31), hosts: Array(4).fill('h'.repeat(255)), certificate: new Uint8Array(1024) }))
  assert.ok(big.length <= BEACON_MAX_BYTES && big.length > BEACON_MAX_BYTES - 520, `${big.length}`)
})

test('filter: each bad datagram is a reason, never a throw (garbage, oversized, own, stale, replay, forged)', () => {
  const f = filter()
  const reason = (data: Uint8Array, source = '10.0.0.1', wall = WALL): string => f.check(data, source, 0, wall).reason ?? 'accepted'
  const good = encodeBeacon(alice, fields())
  assert.is(reason(good), 'accepted')
  assert.is(reason(good), 'replay', 'the same beacon again')
  assert.is(reason(encodeBeacon(alice, fields({ time: WALL - 1 }))), 'replay', 'an older one')
  assert.is(reason(encodeBeacon(alice, fields({ time: WALL + 1 }))), 'accepted', 'a newer one')
  assert.is(reason(encodeBeacon(alice, fields({ time: WALL - 600_001 })), '10.0.0.2'), 'stale')
  assert.is(reason(encodeBeacon(alice, fields({ time: WALL + 600_001 })), '10.0.0.2'), 'stale', 'from the future')
  assert.is(reason(new Uint8Array(BEACON_MAX_BYTES + 1), '10.0.0.3'), 'oversized')
  assert.is(reason(Uint8Array.of(1, 2, 3), '10.0.0.3'), 'malformed')
  const v2 = Uint8Array.from(good)
  v2[4] = 2
  assert.is(reason(v2, '10.0.0.3'), 'version')
  const badSig = encodeBeacon(alice, fields({ time: WALL + 5 }))
  badSig[badSig.length - 1]! ^= 1
  assert.is(reason(badSig, '10.0.0.4'), 'badSignature')
  assert.is(reason(encodeBeacon(fixedIdentity(3), fields({ time: WALL + 6 })), '10.0.0.4'), 'badSignature', 'names alice, signed by another')
  assert.is(reason(encodeBeacon(me, fields({ identityKey: me.publicKey })), '10.0.0.4'), 'own')
  // The caller's checks come last, on authentic beacons only.
  const g = filter(undefined, (name) => (name === 'mallory' ? 'untrusted' : undefined))
  assert.is(g.check(encodeBeacon(fixedIdentity(4), fields({ identityKey: fixedIdentity(4).publicKey, username: 'mallory' })), '10.0.0.5', 0, WALL).reason, 'untrusted')
  // Random garbage of every size up to the bound: counted, never thrown.
  let seed = 7
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
  for (let i = 0; i < 2000; i++) {
    const n = Math.floor(rnd() * (BEACON_MAX_BYTES + 50))
    const data = Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256))
    if (i % 3 === 0 && n > 5) data.set([0x50, 0x34, 0x4c, 0x42, 1], 0) // past the magic and version
    const r = filter().check(data, '10.0.0.6', 0, WALL)
    assert.ok(r.reason !== undefined, 'garbage is never accepted')
  }
})

test('filter: rate limits per source, per key and in all; what it keeps stays bounded under a flood', () => {
  const f = filter()
  // One source: its burst, then refused until its bucket refills.
  const reasons: string[] = []
  for (let i = 0; i < 15; i++) reasons.push(f.check(Uint8Array.of(0), '10.0.0.1', 0, WALL).reason!)
  assert.is(reasons.filter((r) => r === 'malformed').length, 2 * LAN_LIMITS.sourcePerSecond)
  assert.is(reasons.filter((r) => r === 'sourceRate').length, 15 - 2 * LAN_LIMITS.sourcePerSecond)
  assert.is(f.check(Uint8Array.of(0), '10.0.0.1', 1000, WALL).reason, 'malformed', 'refilled a second later')
  // One key, authentic beacons from many sources: its burst, then keyRate.
  const k: string[] = []
  for (let i = 0; i < 6; i++) k.push(f.check(encodeBeacon(alice, fields({ time: WALL + i })), `10.1.0.${i}`, 1000, WALL).reason ?? 'accepted')
  assert.equal(k, ['accepted', 'accepted', 'accepted', 'keyRate', 'keyRate', 'keyRate'])
  // A flood from fresh sources, 100 per second for 30 s, signed by 1,200 keys
  // in turn (the next key once one got past the node-wide bucket).
  const g = filter()
  const ids = Array.from({ length: 1200 }, () => generateIdentity())
  const counts: Record<string, number> = {}
  let n = 0
  let next = 0
  for (let s = 0; s < 30; s++) {
    for (let i = 0; i < 100; i++, n++) {
      const id = ids[next % ids.length]!
      const r = g.check(encodeBeacon(id, fields({ identityKey: id.publicKey, time: WALL + n })), `10.${n >> 16}.${(n >> 8) & 255}.${n & 255}`, s * 1000, WALL)
      counts[r.reason ?? 'accepted'] = (counts[r.reason ?? 'accepted'] ?? 0) + 1
      if (r.reason !== 'totalRate') next++
    }
    const sizes = g.sizes()
    assert.ok(sizes.sources <= LAN_LIMITS.maxSources && sizes.keys <= LAN_LIMITS.maxKeys && sizes.senders <= LAN_LIMITS.maxSenders, JSON.stringify(sizes))
  }
  // Signature checks (accepted, here) are bounded by the node-wide bucket: burst + rate × time.
  assert.ok(counts.accepted! <= 2 * LAN_LIMITS.totalPerSecond + LAN_LIMITS.totalPerSecond * 29, JSON.stringify(counts))
  assert.ok(counts.totalRate! > 1000, JSON.stringify(counts))
  assert.equal(g.sizes(), { sources: LAN_LIMITS.maxSources, keys: LAN_LIMITS.maxKeys, senders: LAN_LIMITS.maxSenders })
})

test.run()
