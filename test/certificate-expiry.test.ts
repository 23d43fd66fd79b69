// Authority certificates are enforced while nodes run, not only at the
// handshake: when a user's certificate expires its sessions are closed, it is
// dropped from users(), nothing is delivered as from it and it cannot come
// back; a node that renews its certificate (node.setCertificate) in time
// stays. Revocation is "short validity plus renewal": an operator stops
// renewing a user's certificate (docs/security.md).
import { test } from './helpers/test.js'
import * as assert from 'uvu/assert'
import { generateIdentity, isP4Error, issueCertificate, type Node } from '../ts/index.js'
import { errorCode } from './helpers/errors.js'
import { inbox, startNet } from '../common/net.js'

const CHAT = 1001
const utf8 = new TextEncoder()
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

test('an expired certificate closes the user out: sessions closed, dropped from users(), nothing delivered, no way back; a renewed one stays', async () => {
  const authority = generateIdentity()
  // No tolerated skew: the certificate ends exactly at notAfter.
  const trust = { policy: 'authority' as const, authorityKey: hex(authority.publicKey), clockSkewMs: 0 }
  const names = ['a', 'b', 'c', 'd']
  const ids = names.map(() => generateIdentity())
  // The nodes run on a manual clock whose wall time starts at t0: expiry
  // happens when the test drives the clock there, not 30 s of real time later.
  // Certificates are valid from t0 (by default from when they are issued, in
  // real time, which may be ahead of the clock: no skew is tolerated here).
  const t0 = Date.now()
  // Past startNet's convergence deadline (15 s of clock time): on a loaded
  // machine the clock may run that far while the four nodes link up, and c
  // and d must not expire before they have joined.
  const shortly = t0 + 30_000
  const later = t0 + 3_600_000
  // c's certificate ends shortly; so does d's, but d renews it.
  const notAfter = (i: number): number => (i >= 2 ? shortly : later)
  const net = await startNet({
    n: 4,
    transport: 'memory',
    clock: 'manual',
    wallAt: t0,
    plugins: [CHAT],
    options: (i) => ({ username: names[i]!, identity: ids[i]!, trust, certificate: issueCertificate(authority, names[i]!, ids[i]!.publicKey, { notBefore: t0, notAfter: notAfter(i) }) }),
  })
  try {
    const [a, b, c, d] = net.nodes as [Node, Node, Node, Node]
    const left: string[] = []
    for (const x of [a, b]) x.on('user-left', (u: string) => left.push(`${x.username}:${u}`))
    const atA = inbox(a.plugin(CHAT))
    // Renewal before expiry; a bad certificate (another user's) is refused.
    assert.is(await errorCode(() => d.setCertificate(issueCertificate(authority, 'c', ids[3]!.publicKey, { notBefore: t0, notAfter: later }))), 'UNTRUSTED_KEY')
    assert.is(await errorCode(() => d.setCertificate('x' as never)), 'BAD_ARGUMENT')
    d.setCertificate(issueCertificate(authority, 'd', ids[3]!.publicKey, { notBefore: t0, notAfter: later }))
    // Nothing expires before notAfter (no skew tolerated): up to then c is everywhere.
    await net.sleep(Math.max(0, shortly - 1 - net.clock!.wall()))
    for (const x of [a, b, d]) assert.ok(x.users().includes('c') && x.links().length > 0, `${x.username} still lists c just before notAfter`)
    assert.equal(left, [])
    // Enforced at the next maintenance pass (every 50 ms here): within a second of clock time.
    await net.until(() => left.includes('a:c') && left.includes('b:c'), 1000, () => `c dropped at a and b (user-left: ${left.join(', ')})`)
    assert.ok(!a.users().includes('c') && !b.users().includes('c'))
    await net.until(() => !net.nodes.some((x) => x !== c && x.links().some((l) => l.username === 'c')), 3000, "c's sessions closed")
    assert.ok(a.stats().expired + b.stats().expired + d.stats().expired >= 1, 'closed as expired')
    // c cannot get anything delivered any more: a refuses its handshakes (as Noise XX
    // initiator c may see a session for a moment before a checks it and hangs up).
    const refused = a.stats().untrustedKey
    const err = await c.plugin(CHAT).send('a', utf8.encode('still here?')).then(() => null, (e: unknown) => e)
    assert.ok(err === null || (isP4Error(err) && ['UNREACHABLE', 'UNKNOWN_USER', 'CLOSED'].includes(err.code)), `c's unicast: ${String(err)}`)
    await net.until(() => a.stats().untrustedKey > refused, 3000, "a refusing c's handshake")
    // d renewed in time: still listed everywhere, and its messages arrive as its own.
    for (const x of [a, b]) assert.ok(x.users().includes('d'), `${x.username} still lists d`)
    await d.plugin(CHAT).send('a', utf8.encode('renewed'), { encrypted: true })
    await net.until(() => atA.some((m) => m.from === 'd'), 3000, "d's message at a")
    assert.ok(!left.some((x) => x.endsWith(':d')), 'd never left')
    assert.ok(!atA.some((m) => m.from === 'c'), 'nothing delivered as from c')
  } finally {
    await net.stop()
  }
})

test('authority policy: validUntil is notAfter plus the tolerated skew; a malformed or missing certificate has none', async () => {
  const { AuthorityPolicy } = await import('../ts/overlay/trust-authority.js')
  const authority = generateIdentity()
  const id = generateIdentity()
  const p = new AuthorityPolicy({ authorityKey: authority.publicKey, clockSkewMs: 1000 })
  const cert = issueCertificate(authority, 'x', id.publicKey, { notBefore: 0, notAfter: 5000 })
  assert.is(p.validUntil(cert), 6000)
  assert.is(p.validUntil(undefined), -Infinity)
  assert.is(p.validUntil(new Uint8Array(3)), -Infinity)
})

test.run()
