/**
 * rediss:// (docs/OPTIONS.md#redis): smegchat to a redis-server that serves
 * TLS only (`tls-port`, no plain port), its certificate made by openssl for
 * 127.0.0.1. Trusted through --redis-ca it serves and survives a kill -9 of
 * Redis; a certificate that does not check out ends start-up with exit 78
 * and one line.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { BoardClient, stroke } from './lib/client.js';
import { healthIs } from './lib/healthz.js';
import { refusedAtStart, startRedis } from './lib/redis.js';
import { smegctl } from './lib/smegctl.js';
import { reachableScratchDir, startSmegchat } from './lib/smegchat.js';
import { makePair } from './lib/tls.js';

/** A certificate and key for 127.0.0.1 in files: readable by all (the CA copy is what smegchat reads). */
function certFiles(t: TestContext, name: string): { certFile: string; keyFile: string } {
  const dir = reachableScratchDir(t, `redis-tls-${name}`);
  const pair = makePair(dir, name);
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  fs.writeFileSync(certFile, pair.cert, { mode: 0o644 });
  fs.writeFileSync(keyFile, pair.key, { mode: 0o600 });
  return { certFile, keyFile };
}

async function refused(t: TestContext, args: string[], pattern: RegExp): Promise<void> {
  t.diagnostic(await refusedAtStart(t, args, pattern));
}

describe('Redis engine over TLS (rediss://)', () => {
  it('serves boards through a TLS-only Redis trusted with --redis-ca, through a kill -9 of Redis', async (t) => {
    const server = certFiles(t, 'redis');
    const redis = await startRedis(t, { tls: server });
    assert.match(redis.url, /^rediss:\/\//);
    // The plain port is off: this Redis speaks TLS only.
    assert.equal(await redis.cli('PING'), 'PONG');

    const s = await startSmegchat(t, { workers: 2, args: ['--redis', redis.url, '--redis-ca', server.certFile, '--name', 'tls1'] });
    await healthIs(s, 200);
    const a = await BoardClient.open(s.port, 'secure');
    const b = await BoardClient.open(s.port, 'secure');
    for (let i = 0; i < 5; i++) a.send(stroke('tls'));
    await b.waitForSeq(5, 20_000);
    await a.waitForSeq(5, 20_000);
    assert.deepEqual(
      b.board.map((m) => m.id),
      a.board.map((m) => m.id),
    );
    const stored = await redis.cli('HGET', 'smegchat:b:{secure}:meta', 'h');
    assert.equal(stored, '5', 'the frames are in Redis');

    const status = await smegctl(['--control', s.control, 'status', '--json']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /rediss:\/\/127\.0\.0\.1/);

    // kill -9 of Redis: the engine connects again over TLS and the client's resend is sequenced once.
    a.autoResume(200);
    b.autoResume(200);
    await redis.kill();
    await healthIs(s, 503, 30_000);
    const during = stroke('during');
    a.send(during);
    await redis.start();
    await healthIs(s, 200, 30_000);
    await b.waitFor('the stroke sent while Redis was away', () => b.board.some((m) => m.id === during.id), 30_000);
    assert.equal(b.board.filter((m) => m.id === during.id).length, 1);
    assert.equal(b.lastSeq, 6);
    await a.close();
    await b.close();
  });

  it('exits 78 with one line when the certificate does not check out', async (t) => {
    const server = certFiles(t, 'redis');
    const other = certFiles(t, 'other');
    const redis = await startRedis(t, { tls: server });
    // Trusting another CA, and trusting only the system's: both refuse the self-signed certificate.
    await refused(t, ['--redis', redis.url, '--redis-ca', other.certFile], /refused smegchat|certificate/i);
    await refused(t, ['--redis', redis.url], /refused smegchat|certificate/i);
    // A CA file that cannot be read is named.
    await refused(t, ['--redis', redis.url, '--redis-ca', path.join(path.dirname(other.certFile), 'missing.pem')], /missing\.pem/);
  });
});
