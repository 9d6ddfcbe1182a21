/** X-Forwarded-For behind trusted proxies: which hop is the client, and what the option accepts. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clientAddress, normalizeAddress, parseHop, TrustedProxies } from '@smegchat/common';
import { ConfigError, parseOptions } from '@smegchat/supervisor/dist/options.js';

const trusted = TrustedProxies.parse(['127.0.0.1', '10.0.0.0/8', 'fd00::/8', '::1']);

describe('clientAddress', () => {
  it('is the last hop that is not a trusted proxy, whatever the client wrote left of it', () => {
    assert.deepEqual(clientAddress('127.0.0.1', '203.0.113.7', trusted), { address: '203.0.113.7', forwarded: true });
    assert.deepEqual(clientAddress('127.0.0.1', '198.51.100.1, 203.0.113.7', trusted), { address: '203.0.113.7', forwarded: true });
    assert.deepEqual(clientAddress('127.0.0.1', '203.0.113.7, 10.1.2.3, 10.4.5.6', trusted), { address: '203.0.113.7', forwarded: true });
    // A forged trusted address on the left is passed over like the rest.
    assert.deepEqual(clientAddress('::ffff:127.0.0.1', '10.0.0.1, 192.0.2.9', trusted), { address: '192.0.2.9', forwarded: true });
  });

  it('is the first hop when every hop is a proxy, and the proxy itself without a header', () => {
    assert.deepEqual(clientAddress('127.0.0.1', '10.0.0.1, 10.0.0.2', trusted), { address: '10.0.0.1', forwarded: true });
    assert.deepEqual(clientAddress('127.0.0.1', undefined, trusted), { address: '127.0.0.1', forwarded: false });
    assert.deepEqual(clientAddress('127.0.0.1', ' ', trusted), { address: '127.0.0.1', forwarded: false });
  });

  it('ignores the header of a connection from anyone not trusted', () => {
    assert.deepEqual(clientAddress('192.0.2.1', '203.0.113.7', trusted), { address: '192.0.2.1', forwarded: false });
    assert.deepEqual(clientAddress('192.0.2.1', 'nonsense', trusted), { address: '192.0.2.1', forwarded: false });
    assert.deepEqual(clientAddress('127.0.0.1', '203.0.113.7', TrustedProxies.none), { address: '127.0.0.1', forwarded: false });
  });

  it('refuses a header whose client hop is not an address, but not one whose garbage lies beyond it', () => {
    assert.ok('error' in clientAddress('127.0.0.1', '203.0.113.7, unknown', trusted));
    assert.deepEqual(clientAddress('127.0.0.1', 'unknown, 203.0.113.7', trusted), { address: '203.0.113.7', forwarded: true });
  });
});

describe('parseHop and normalizeAddress', () => {
  it('reads the forms proxies write, ports and brackets included, in one spelling', () => {
    assert.equal(parseHop(' 203.0.113.7 '), '203.0.113.7');
    assert.equal(parseHop('203.0.113.7:51234'), '203.0.113.7');
    assert.equal(parseHop('2001:DB8::1'), '2001:db8::1');
    assert.equal(parseHop('[2001:db8::1]:443'), '2001:db8::1');
    assert.equal(parseHop('[2001:db8::1]'), '2001:db8::1');
    assert.equal(parseHop('::ffff:203.0.113.7'), '203.0.113.7');
    for (const bad of ['unknown', '_hidden', '', '300.1.1.1', '203.0.113.7:port', '[203.0.113.7']) assert.equal(parseHop(bad), null, bad);
    assert.equal(normalizeAddress('::FFFF:10.0.0.1'), '10.0.0.1');
    assert.equal(normalizeAddress('::ffff:abcd'), '::ffff:abcd');
  });
});

describe('TrustedProxies', () => {
  it('holds addresses and networks of both families', () => {
    for (const yes of ['127.0.0.1', '::ffff:127.0.0.1', '10.200.3.4', 'fd12::1', '::1']) assert.ok(trusted.has(yes), yes);
    for (const no of ['127.0.0.2', '11.0.0.1', 'fe80::1', 'not-an-address']) assert.ok(!trusted.has(no), no);
  });

  it('refuses what is not an address or network, naming it, in --trusted-proxies too', () => {
    for (const bad of ['nginx', '10.0.0.0/33', '10.0.0.0/8/1', '::1/129', '10.0.0.0/x']) {
      assert.throws(() => TrustedProxies.parse([bad]), new RegExp(`"${bad.replace(/[./]/g, '\\$&')}" is not an IP address or network`));
    }
    assert.deepEqual(parseOptions(['--trusted-proxies', ' 10.0.0.1, ::1 ,'], '/srv')!.trustedProxies, ['10.0.0.1', '::1']);
    assert.throws(
      () => parseOptions(['--trusted-proxies', '10.0.0.1,proxy.local'], '/srv'),
      (e: Error) => e instanceof ConfigError && /--trusted-proxies: "proxy.local"/.test(e.message),
    );
  });
});
