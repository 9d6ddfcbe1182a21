/**
 * TLS on the port, with certificates the test makes with openssl: HTTPS and
 * WSS served by the workers; a renewal by `smegctl reload` swapped in place
 * while WSS clients stay connected, a new handshake getting the new
 * certificate; a mismatched, unreadable or too open pair refused by a reload
 * (exit 1, one line, the old one still served) and at start (exit 78); and
 * the 503 past the caps sent over TLS.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import type { Status } from '@smegchat/protocol';
import { BoardClient, stroke, upgradeRefusal } from './lib/client.js';
import { scrapeUntil } from './lib/prometheus.js';
import { reachableScratchDir, startSmegchat } from './lib/smegchat.js';
import { isRoot } from './lib/scratch.js';
import { smegctl } from './lib/smegctl.js';
import { httpsGet, installFile, installPair, makePair, servedFingerprint } from './lib/tls.js';

function tlsArgs(files: { certFile: string; keyFile: string }): string[] {
  return ['--tls-cert', files.certFile, '--tls-key', files.keyFile];
}

/** One line on stderr, naming the program. */
function assertOneLine(stderr: string, program: string, pattern: RegExp): void {
  assert.match(stderr, new RegExp(`^${program}: [^\\n]+\\n$`), `not one line: ${JSON.stringify(stderr)}`);
  assert.match(stderr, pattern);
}

describe('TLS', () => {
  it('serves HTTPS and WSS, and renews the certificate in place: clients stay, new handshakes get the new one', async (t) => {
    const dir = reachableScratchDir(t, 'tls');
    const first = makePair(dir, 'first');
    const files = installPair(dir, first);
    const server = await startSmegchat(t, { workers: 2, args: tlsArgs(files) });

    assert.deepEqual(await httpsGet(server.port, '/healthz', first.cert).then((r) => r.status), 200);
    assert.equal(await servedFingerprint(server.port, first.cert), first.fingerprint);
    // A client on each worker, over WSS; what one sends reaches both.
    const clients = [
      await BoardClient.open(server.port, 'secure', { ca: first.cert }),
      await BoardClient.open(server.port, 'secure', { ca: first.cert }),
    ];
    t.after(() => Promise.all(clients.map((c) => c.close())));
    assert.deepEqual(new Set(clients.map((c) => c.welcome.worker)), new Set([1, 2]));
    clients[0]!.send(stroke('before'));
    await Promise.all(clients.map((c) => c.waitForSeq(1)));
    let closedEarly = false;
    for (const c of clients) void c.closed.then(() => (closedEarly = true));
    const pidsBefore = server.workerPids();

    // Renewed as certbot's hook installs it: new files renamed over the old, then a reload.
    const second = makePair(dir, 'second');
    installPair(dir, second);
    const r = await smegctl(['--control', server.control, 'reload'], { ms: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^TLS certificate renewed in place in \d+\.\d\d s; no worker replaced, no client disconnected\n$/);

    assert.equal(await servedFingerprint(server.port, second.cert), second.fingerprint);
    assert.deepEqual(server.workerPids(), pidsBefore, 'no worker was replaced');
    // The clients connected before kept their connection, and it still carries messages both ways.
    clients[1]!.send(stroke('after'));
    await Promise.all(clients.map((c) => c.waitForSeq(2)));
    assert.equal(closedEarly, false);
    const late = await BoardClient.open(server.port, 'secure', { ca: second.cert });
    t.after(() => late.close());
    await late.waitForSeq(2);

    const status = JSON.parse((await smegctl(['--control', server.control, 'status', '--json'])).stdout) as Status;
    assert.equal(status.supervisor.tls?.fingerprint, second.fingerprint);
    assert.equal(status.supervisor.tls?.subject, 'CN=second');
    // The key reaches no log line, of the supervisor or of a worker.
    const keyBody = second.key.split('\n')[1]!;
    assert.ok(!server.logs.some((rec) => JSON.stringify(rec).includes(keyBody)));
    assert.ok(server.logs.some((rec) => rec.msg === 'TLS certificate renewed: new handshakes get it'));
  });

  it('keeps the served pair when a reload finds it mismatched, unreadable or open to others: exit 1, one line', async (t) => {
    const dir = reachableScratchDir(t, 'tls-bad');
    const good = makePair(dir, 'good');
    const files = installPair(dir, good);
    const server = await startSmegchat(t, { workers: 1, args: tlsArgs(files), dataDir: path.join(dir, 'data') });
    const client = await BoardClient.open(server.port, 'keep', { ca: good.cert });
    t.after(() => client.close());

    const reloadFails = async (pattern: RegExp): Promise<void> => {
      const r = await smegctl(['--control', server.control, 'reload'], { ms: 120_000 });
      assert.equal(r.code, 1, r.stdout);
      assertOneLine(r.stderr, 'smegctl', pattern);
      assert.match(r.stderr, /reload aborted, the running certificate keeps serving/);
      assert.equal(await servedFingerprint(server.port, good.cert), good.fingerprint);
    };
    // Another certificate beside the old key.
    installFile(files.certFile, makePair(dir, 'stranger').cert, 0o644);
    await reloadFails(/TLS key \S+server\.key does not belong to certificate \S+server\.crt/);
    installFile(files.certFile, good.cert, 0o644);
    // A key the service user cannot read (root only, when tests run as root).
    installFile(files.keyFile, good.key, isRoot ? 0o600 : 0o000);
    await reloadFails(/cannot read TLS key \S+server\.key( as user nobody)?: EACCES/);
    // A key anyone may read.
    installFile(files.keyFile, good.key, 0o644);
    await reloadFails(/TLS key \S+server\.key is open to other users \(mode 0644\): refused/);

    // Through it all the client stayed, and a fixed pair reloads again.
    installFile(files.keyFile, good.key, 0o640);
    client.send(stroke());
    await client.waitForSeq(1);
    const r = await smegctl(['--control', server.control, 'reload'], { ms: 120_000 });
    assert.equal(r.code, 0, r.stderr);
  });

  it('refuses to start with a pair it could not serve, in one line, exit 78', async (t) => {
    const dir = reachableScratchDir(t, 'tls-start');
    const pair = makePair(dir, 'start');
    const files = installPair(dir, pair);
    const run = async (args: string[]): Promise<{ status: number | null; stderr: string }> => {
      const server = await startSmegchat(t, { workers: 1, args, dataDir: path.join(dir, 'data'), waitReady: false });
      const { code } = await server.exited;
      return { status: code, stderr: server.stderr() };
    };
    let r = await run(['--tls-cert', files.certFile]);
    assert.equal(r.status, 78);
    assertOneLine(r.stderr, 'smegchat', /--tls-cert and --tls-key go together/);
    r = await run(['--tls-cert', files.certFile, '--tls-key', path.join(dir, 'missing.key')]);
    assert.equal(r.status, 78);
    assertOneLine(r.stderr, 'smegchat', /cannot read TLS key \S+missing\.key( as user nobody)?: ENOENT/);
    installFile(files.keyFile, makePair(dir, 'other').key, 0o640);
    r = await run(tlsArgs(files));
    assert.equal(r.status, 78);
    assertOneLine(r.stderr, 'smegchat', /does not belong to certificate/);
    if (isRoot) {
      // Readable by root only: the service user, who reads it again at every reload, could not.
      installFile(files.keyFile, pair.key, 0o600);
      r = await run(tlsArgs(files));
      assert.equal(r.status, 78);
      assertOneLine(
        r.stderr,
        'smegchat',
        /cannot read TLS key \S+ as user nobody: EACCES: every reload reads it again as that user, so install it root:nogroup mode 0640/,
      );
    }
  });

  it('answers past the connection caps with a 503 over TLS, never in plaintext on the TLS port', async (t) => {
    const dir = reachableScratchDir(t, 'tls-cap');
    const pair = makePair(dir, 'cap');
    const files = installPair(dir, pair);
    const server = await startSmegchat(t, {
      workers: 1,
      args: [...tlsArgs(files), '--max-connections-per-ip', '1', '--metrics', '127.0.0.1:0'],
    });
    const first = await BoardClient.open(server.port, 'cap', { ca: pair.cert });
    t.after(() => first.close());
    // The refusal is a real HTTPS answer: the handshake succeeds and the status reads 503.
    assert.equal(await upgradeRefusal(server.port, '/ws/cap', { ca: pair.cert }), 503);
    assert.equal((await httpsGet(server.port, '/', pair.cert)).status, 503);
    // A plaintext client gets no plaintext: its bytes fail the handshake, and it is closed.
    const plain = net.connect(server.port, '127.0.0.1');
    plain.on('error', () => undefined);
    let answer = '';
    plain.on('data', (d) => (answer += d.toString('latin1')));
    plain.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => plain.once('close', r));
    assert.doesNotMatch(answer, /HTTP\/1\.1/);
    const s = await scrapeUntil(
      server.metricsPort!,
      'the refusals counted',
      (m) => m.value('smegchat_connections_refused_total', { reason: 'tls-handshake' }) === 1,
    );
    assert.equal(s.value('smegchat_connections_refused_total', { reason: 'max-per-address' }), 3);
    assert.ok((s.value('smegchat_tls_certificate_expiry_timestamp_seconds') ?? 0) > Date.now() / 1000);
  });
});
