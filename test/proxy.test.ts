/**
 * Behind a reverse proxy (--trusted-proxies): the test's own connections,
 * from 127.0.0.1, play the proxy, and send X-Forwarded-For as nginx would.
 * The proxy is exempt from the per-address cap at accept; each forwarded
 * client is capped by its own address, across workers, against the counts
 * the supervisor keeps; logs name the client, never the query string.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { BoardClient, stroke, upgradeRefusal } from './lib/client.js';
import { scrapeUntil } from './lib/prometheus.js';
import { startSmegchat, until } from './lib/smegchat.js';

const xff = (value: string): { headers: Record<string, string> } => ({ headers: { 'X-Forwarded-For': value } });

/** An HTTP GET to the port with these headers, bounded: its status and Retry-After. */
function get(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer`)));
    req.on('error', reject);
  });
}

describe('behind a trusted proxy', () => {
  it('exempts the proxy from the per-address cap, and caps each forwarded client across workers', async (t) => {
    const server = await startSmegchat(t, {
      workers: 2,
      args: ['--trusted-proxies', '10.9.9.9, 127.0.0.1', '--max-connections-per-ip', '2', '--metrics', '127.0.0.1:0'],
    });
    const open: BoardClient[] = [];
    t.after(() => Promise.all(open.map((c) => (c.ws.readyState === c.ws.OPEN ? c.close() : undefined))));
    const join = async (forwarded: string): Promise<BoardClient> => {
      const c = await BoardClient.open(server.port, 'proxied', xff(forwarded));
      open.push(c);
      return c;
    };

    // Two connections of one client, one on each worker; a third is over its cap, whichever worker gets it.
    const ann = [await join('203.0.113.7'), await join('203.0.113.7')];
    assert.deepEqual(new Set(ann.map((c) => c.welcome.worker)), new Set([1, 2]));
    assert.equal(await upgradeRefusal(server.port, '/ws/proxied', xff('203.0.113.7')), 503);
    assert.equal(await upgradeRefusal(server.port, '/ws/proxied', xff('203.0.113.7')), 503);
    // Plain HTTP behind the proxy counts the same way.
    assert.deepEqual(await get(server.port, '/healthz', { 'X-Forwarded-For': '203.0.113.7' }), { status: 503, retryAfter: '5' });

    // Other clients through the same proxy: the proxy's own address is not capped (seven connections from 127.0.0.1).
    for (const other of ['198.51.100.1', '198.51.100.2', '2001:db8::5']) await join(other);
    // The client is the last hop that is not a proxy: what the client wrote left of it changes nothing.
    await join('203.0.113.7, 198.51.100.9');
    await join('198.51.100.10, 10.9.9.9');
    assert.equal(await upgradeRefusal(server.port, '/ws/proxied', xff('192.0.2.1, 203.0.113.7')), 503);
    // No header: the proxy itself, exempt.
    await BoardClient.open(server.port, 'proxied').then((c) => open.push(c));
    // A hop where the client should be that is not an address: the proxy is misconfigured, 400.
    assert.equal(await upgradeRefusal(server.port, '/ws/proxied', xff('198.51.100.1, unknown')), 400);

    // Once one of Ann's connections closes, she has room again.
    await ann[0]!.close();
    await until(
      'room for 203.0.113.7 again',
      async () =>
        await BoardClient.open(server.port, 'proxied', { ...xff('203.0.113.7'), ms: 5_000 })
          .then((c) => (open.push(c), true))
          .catch(() => false),
      15_000,
      50,
    );

    const s = await scrapeUntil(
      server.metricsPort!,
      'the refusals counted',
      (m) => m.value('smegchat_connections_refused_total', { reason: 'bad-request' }) === 1,
    );
    assert.ok((s.value('smegchat_connections_refused_total', { reason: 'max-per-address' }) ?? 0) >= 4);
  });

  it('logs the forwarded client, and never the query string that holds its session', async (t) => {
    const server = await startSmegchat(t, { workers: 1, args: ['--trusted-proxies', '127.0.0.1'] });
    const first = await BoardClient.open(server.port, 'logs', xff('203.0.113.50'));
    first.send(stroke());
    await first.waitForSeq(1);
    const session = first.welcome.session;
    await first.close();
    // Resumed with its session in the URL, then closed for bad input: a line that names the client.
    const resumed = await BoardClient.open(server.port, 'logs', { ...xff('203.0.113.50'), since: 1, epoch: first.welcome.epoch, session });
    resumed.sendRaw('{"t":"stroke",');
    assert.equal((await resumed.closed).code, 1007);
    const rec = await server.waitForLog((r) => r.msg === 'client closed for bad input');
    assert.equal(rec['address'], '203.0.113.50');
    assert.ok(!server.logs.some((r) => JSON.stringify(r).includes(session)), 'a log line holds the session');
  });

  it('ignores X-Forwarded-For from anyone not trusted: the connection is capped by its own address', async (t) => {
    const server = await startSmegchat(t, { workers: 2, args: ['--max-connections-per-ip', '2'] });
    const a = await BoardClient.open(server.port, 'direct', xff('203.0.113.1'));
    const b = await BoardClient.open(server.port, 'direct', xff('203.0.113.2'));
    t.after(() => Promise.all([a.close(), b.close()]));
    assert.equal(await upgradeRefusal(server.port, '/ws/direct', xff('203.0.113.3')), 503);
  });
});
