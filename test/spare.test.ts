/**
 * The warm spare (`--spares`): a worker process forked and loaded ahead,
 * serving nothing, that takes a killed worker's slot at once. Checked against
 * a real smegchat: status (JSON, table, metrics) shows it without a worker
 * number; a kill -9 of a serving worker hands its slot to the spare, whose
 * pid then serves the clients that reconnect, and a new spare comes behind
 * it; a reload replaces it; on a TLS port it serves the certificate of the
 * moment it is assigned; spares that die at every start are forked under the
 * crash backoff; `--spares 0` has none.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Status, WorkerStatus } from '@smegchat/protocol';
import { BoardClient } from './lib/client.js';
import { scrape } from './lib/prometheus.js';
import { installPair, makePair, servedFingerprint } from './lib/tls.js';
import { childPids, failWorkerStartEnv, isAlive, reachableScratchDir, startSmegchat, until } from './lib/smegchat.js';
import { smegctl, statusOf, statusUntil } from './lib/smegctl.js';

const spareRows = (s: Status): WorkerStatus[] => s.workers.filter((w) => w.id === null);
const warmSpare = (s: Status): WorkerStatus | undefined => spareRows(s).find((w) => w.state === 'spare');

describe('warm spare', () => {
  it('shows in status as `spare`, without a worker number, and is handed no connection', async (t) => {
    const server = await startSmegchat(t, { workers: 2, spares: 1, args: ['--metrics', '127.0.0.1:0'] });
    const s = await statusUntil(server, 'the spare warm', (x) => warmSpare(x) !== undefined);
    const spare = warmSpare(s)!;
    assert.equal(spareRows(s).length, 1);
    assert.deepEqual(
      s.workers.map((w) => w.id),
      [1, 2, null],
      'the slots in order, then the spare',
    );
    assert.ok(childPids(server.pid).includes(spare.pid!), 'the spare is a child of the supervisor');
    assert.ok(spare.memory > 0, 'its memory is shown: what it costs');
    assert.equal(spare.lastExit, null);

    // Clients go to the workers only, however many come.
    const clients: BoardClient[] = [];
    t.after(() => Promise.all(clients.map((c) => c.close())));
    for (let i = 0; i < 4; i++) clients.push(await BoardClient.open(server.port, 'spare-status'));
    assert.deepEqual(clients.map((c) => c.welcome.worker).sort(), [1, 1, 2, 2]);
    const loaded = await statusOf(server);
    assert.equal(warmSpare(loaded)?.connections, 0);
    assert.equal(warmSpare(loaded)?.pid, spare.pid);

    const table = await smegctl(['--control', server.control, 'status']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`^spare\\s+${spare.pid}\\s+spare\\s`, 'm'));
    assert.match(table.stdout, /^total\s+2\/2 ready/m, 'the spare is not a worker that is not ready');

    const metrics = await scrape(server.metricsPort!);
    assert.equal(metrics.value('smegchat_workers', { state: 'spare' }), 1);
    assert.equal(metrics.value('smegchat_workers', { state: 'ready' }), 2);
  });

  it('takes the slot of a worker killed with -9: reconnecting clients are served by its pid, and a new spare comes behind it', async (t) => {
    const server = await startSmegchat(t, { workers: 2, spares: 1 });
    const clients: BoardClient[] = [];
    t.after(() => Promise.all(clients.map((c) => (c.ws.readyState === c.ws.OPEN ? c.close() : undefined))));
    // One client on each worker (the balancing alternates).
    for (let i = 0; i < 2; i++) clients.push(await BoardClient.open(server.port, 'spare-kill'));
    const onOne = clients.find((c) => c.welcome.worker === 1)!;
    assert.ok(onOne, 'a client on worker 1');

    const before = await statusUntil(server, 'the spare warm', (x) => warmSpare(x) !== undefined);
    const spare = warmSpare(before)!;
    const victim = before.workers.find((w) => w.id === 1)!;
    const other = before.workers.find((w) => w.id === 2)!;
    process.kill(victim.pid!, 'SIGKILL');
    await server.waitForLog((r) => r.msg === 'spare takes the slot' && r['workerPid'] === spare.pid && r['worker'] === 1);
    const after = await statusUntil(server, 'slot 1 served by the former spare', (x) =>
      x.workers.some((w) => w.id === 1 && w.state === 'ready' && w.pid === spare.pid),
    );
    const slot = after.workers.find((w) => w.id === 1)!;
    assert.equal(slot.restarts, 1, 'a crash replacement, counted as one');
    assert.equal(slot.lastExit?.reason, 'crash');
    assert.equal(slot.lastExit?.signal, 'SIGKILL');
    assert.equal(after.workers.find((w) => w.id === 2)!.pid, other.pid, 'the other worker is untouched');

    // The client of the killed worker resumes: the least loaded worker is the former spare.
    assert.equal((await onOne.closed).code, 1006);
    const back = await BoardClient.open(server.port, 'spare-kill', {
      since: onOne.lastSeq,
      epoch: onOne.welcome.epoch,
      session: onOne.welcome.session,
    });
    clients.push(back);
    assert.equal(back.welcome.worker, 1);
    const serving = await statusOf(server);
    assert.equal(serving.workers.find((w) => w.id === 1)!.pid, spare.pid);
    assert.equal(serving.workers.find((w) => w.id === 1)!.connections, 1, 'the former spare holds the reconnected client');

    const next = await statusUntil(server, 'a new spare behind it', (x) => {
      const s = warmSpare(x);
      return s !== undefined && s.pid !== spare.pid;
    });
    const fresh = warmSpare(next)!;
    assert.ok(![victim.pid, other.pid, spare.pid].includes(fresh.pid), 'a process of its own');
    assert.equal(spareRows(next).length, 1, 'one spare, as asked');
    assert.ok(!isAlive(victim.pid!));
  });

  it('is replaced by a reload, from the code now on disk', async (t) => {
    const server = await startSmegchat(t, { workers: 2, spares: 1 });
    const before = warmSpare(await statusUntil(server, 'the spare warm', (x) => warmSpare(x) !== undefined))!;
    const r = await smegctl(['--control', server.control, 'reload'], { ms: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const after = await statusUntil(server, 'a new spare warm', (x) => {
      const s = warmSpare(x);
      return s !== undefined && s.pid !== before.pid;
    });
    assert.equal(spareRows(after).length, 1);
    await until('the old spare gone', () => !isAlive(before.pid!));
    assert.deepEqual(
      after.workers.filter((w) => w.id !== null).map((w) => w.lastExit?.reason),
      ['retired', 'retired'],
      'the workers were replaced as before',
    );
  });

  it('is forked under the crash backoff when spares die at every start', async (t) => {
    const dir = reachableScratchDir(t, 'spare-backoff');
    const marker = path.join(dir, 'fail-worker-start');
    const server = await startSmegchat(t, { workers: 1, spares: 1, env: failWorkerStartEnv(marker) });
    const first = warmSpare(await statusUntil(server, 'the spare warm', (x) => warmSpare(x) !== undefined))!;
    // From now on every process forked fails at once; the spare is killed, so its successors are those.
    writeFileSync(marker, '');
    process.kill(first.pid!, 'SIGKILL');
    await server.waitForLog((r) => r.msg.includes('(crash backoff)') && r['delayMs'] === 1000, 30_000);
    const delays = server.logs.filter((r) => r.msg.includes('(crash backoff)')).map((r) => r['delayMs']);
    assert.deepEqual(delays, [250, 500, 1000], 'the delays double, as a crashing worker slot backs off');
    const died = server.logs.filter((r) => r.msg === 'spare died');
    assert.equal(died.length, 4, 'the one killed, then one death per start: no tight loop');
    assert.equal(died[0]!['signal'], 'SIGKILL');
    assert.ok(
      died.slice(1).every((r) => r['code'] === 70),
      'the others refused to start',
    );

    // Once starts work again, a spare comes up, and the worker never noticed.
    rmSync(marker);
    await statusUntil(server, 'a spare warm again', (x) => warmSpare(x) !== undefined, 30_000);
    const s = await statusOf(server);
    assert.equal(s.workers.find((w) => w.id === 1)!.restarts, 0);
  });

  it('on a TLS port: a renewal in place keeps the spare, which then serves WSS with the renewed certificate', async (t) => {
    const dir = reachableScratchDir(t, 'spare-tls');
    const first = makePair(dir, 'first');
    const files = installPair(dir, first);
    const server = await startSmegchat(t, { workers: 1, spares: 1, args: ['--tls-cert', files.certFile, '--tls-key', files.keyFile] });
    const spare = warmSpare(await statusUntil(server, 'the spare warm', (x) => warmSpare(x) !== undefined))!;

    const second = makePair(dir, 'second');
    installPair(dir, second);
    const r = await smegctl(['--control', server.control, 'reload'], { ms: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no worker replaced/);
    assert.equal(warmSpare(await statusOf(server))?.pid, spare.pid, 'a spare holds no certificate: nothing to replace');

    const victim = (await statusOf(server)).workers.find((w) => w.id === 1)!;
    process.kill(victim.pid!, 'SIGKILL');
    await statusUntil(server, 'slot 1 served by the former spare', (x) =>
      x.workers.some((w) => w.id === 1 && w.state === 'ready' && w.pid === spare.pid),
    );
    assert.equal(await servedFingerprint(server.port, second.cert), second.fingerprint);
    const client = await BoardClient.open(server.port, 'spare-tls', { ca: second.cert });
    t.after(() => client.close());
    assert.equal(client.welcome.worker, 1);
  });

  it('--spares 0: none is forked, and a killed worker is replaced by a fresh fork', async (t) => {
    const server = await startSmegchat(t, { workers: 2, spares: 0 });
    const before = await statusOf(server);
    assert.deepEqual(spareRows(before), []);
    assert.equal(childPids(server.pid).length, 2);
    const victim = before.workers.find((w) => w.id === 1)!;
    process.kill(victim.pid!, 'SIGKILL');
    const after = await statusUntil(server, 'slot 1 replaced', (x) =>
      x.workers.some((w) => w.id === 1 && w.state === 'ready' && w.pid !== victim.pid),
    );
    assert.deepEqual(spareRows(after), []);
    assert.ok(!server.logs.some((r) => r.msg === 'spare takes the slot' || r.msg === 'spare forked'));
  });
});
