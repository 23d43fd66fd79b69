// The scope rule hole punching uses to decide which offered addresses it may
// dial (ts/overlay/address-scope.ts): loopback < local < global, IPv4-mapped
// IPv6 as IPv4 in any spelling, no scope ('none') for unspecified, multicast
// and broadcast addresses, and anything that is not an IP literal refused.
import * as assert from 'uvu/assert'
import { addressScope, withinScope } from '../ts/overlay/address-scope.js'
import { throwsCode } from './helpers/errors.js'
import { test } from './helpers/test.js'

test('scopes of IPv4, IPv6 and IPv4-mapped literals', () => {
  const cases: Array<[string, string]> = [
    ['127.0.0.1', 'loopback'],
    ['127.9.9.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['10.1.2.3', 'local'],
    ['172.16.0.1', 'local'],
    ['172.31.255.255', 'local'],
    ['192.168.1.1', 'local'],
    ['100.64.0.1', 'local'],
    ['169.254.1.1', 'local'],
    ['fd00::1', 'local'],
    ['FE80::1', 'local'],
    ['172.32.0.1', 'global'],
    ['100.128.0.1', 'global'],
    ['8.8.8.8', 'global'],
    ['::ffff:8.8.8.8', 'global'],
    ['2001:db8::1', 'global'],
    // Other spellings of the same addresses: judged by value, not by text.
    ['::ffff:7f00:1', 'loopback'],
    ['::FFFF:7F00:1', 'loopback'],
    ['0:0:0:0:0:ffff:7f00:1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::0:1', 'loopback'],
    ['::ffff:a00:9', 'local'],
    ['::ffff:c0a8:101', 'local'],
    ['fe80::1%eth0', 'local'],
    ['febf::1', 'local'],
    ['fec0::1', 'global'],
    ['::ffff:808:808', 'global'],
    // No one host: unspecified (0.0.0.0 and :: reach this one), multicast, broadcast.
    ['0.0.0.0', 'none'],
    ['0.1.2.3', 'none'],
    ['::', 'none'],
    ['0::0', 'none'],
    ['0:0:0:0:0:0:0:0', 'none'],
    ['::ffff:0.0.0.0', 'none'],
    ['::ffff:0:0', 'none'],
    ['224.0.0.1', 'none'],
    ['255.255.255.255', 'none'],
    ['::ffff:224.0.0.1', 'none'],
    ['ff02::1', 'none'],
  ]
  for (const [host, scope] of cases) assert.is(addressScope(host), scope, host)
})

test('withinScope: a loopback address only from loopback, a local one only from a non-global one', () => {
  assert.ok(withinScope('127.0.0.1', '127.0.0.1'))
  assert.not.ok(withinScope('127.0.0.1', '10.0.0.1'))
  assert.not.ok(withinScope('10.0.0.2', '8.8.8.8'))
  assert.ok(withinScope('10.0.0.2', '10.0.0.1'))
  assert.ok(withinScope('8.8.4.4', '10.0.0.1'))
  assert.not.ok(withinScope('::ffff:7f00:1', '8.8.8.8'), 'loopback spelled as mapped hex')
  assert.not.ok(withinScope('::ffff:a00:9', '8.8.8.8'), '10.0.0.9 spelled as mapped hex')
  for (const none of ['0.0.0.0', '::ffff:0.0.0.0', '0::0', '224.0.0.1']) {
    assert.not.ok(withinScope(none, '8.8.8.8'), none)
    assert.not.ok(withinScope(none, '127.0.0.1'), none)
  }
})

test('anything but an IP literal is BAD_ARGUMENT, not "global"', () => {
  for (const bad of ['localhost', 'example.com', '', '1.2.3', '256.1.1.1', ' 8.8.8.8', '8.8.8.8:80']) {
    throwsCode(() => addressScope(bad), 'BAD_ARGUMENT', bad)
    throwsCode(() => withinScope(bad, '8.8.8.8'), 'BAD_ARGUMENT', bad)
  }
  throwsCode(() => addressScope(undefined as unknown as string), 'BAD_ARGUMENT')
  throwsCode(() => addressScope(42 as unknown as string), 'BAD_ARGUMENT')
})

test.run()
