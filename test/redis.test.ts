/**
 * The Redis engine end to end (CONTRACT §4): a real Redis (Debian's
 * redis-server, AOF with appendfsync always), several smegchat hosts (each
 * its own supervisor and data directory) on the same URL, real clients that
 * resume like the page, and real kill -9s of a host's supervisor, of a
 * worker, and of Redis. Every wait is on an event or bounded polling.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { SequencedMessage } from '@smegchat/protocol';
import { BoardClient, rawSocket, stroke } from './lib/client.js';
import { healthIs, healthz } from './lib/healthz.js';
import { refusedAtStart, startRedis, type RedisServer } from './lib/redis.js';
import { isAlive, reachableScratchDir, startSmegchat, until, type Smegchat } from './lib/smegchat.js';

function startHosts(t: TestContext, redis: RedisServer, count: number, workers = 2, extra: string[] = []): Promise<Smegchat[]> {
  const started: Promise<Smegchat>[] = [];
  for (let i = 1; i <= count; i++) {
    started.push(startSmegchat(t, { workers, args: ['--redis', redis.url, '--name', `host${i}`, ...extra] }));
  }
  return Promise.all(started);
}

/** The board as (seq, id) lines: what every client must agree on. */
function order(board: readonly SequencedMessage[]): string[] {
  return board.map((m) => `${m.seq} ${m.id}`);
}

/** Opens a WebSocket and resolves with its close code (or 0 if it got a welcome instead). */
function closeCodeOfJoin(port: number, board: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = rawSocket(port, `/ws/${board}`);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('no welcome and no close within 10 s'));
    }, 10_000);
    ws.on('message', () => {
      clearTimeout(timer);
      ws.close();
      resolve(0);
    });
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    ws.on('error', () => undefined);
  });
}

describe('Redis engine: several hosts, one board', () => {
  it('gives clients on every host one order, and a resend on another host is not applied twice', async (t) => {
    const redis = await startRedis(t);
    const hosts = await startHosts(t, redis, 2);
    const clients: BoardClient[] = [];
    for (const h of hosts) for (let i = 0; i < 3; i++) clients.push(await BoardClient.open(h.port, 'shared'));
    assert.deepEqual(new Set(clients.map((c) => c.welcome.host)), new Set(['host1', 'host2']));
    // The welcome means the same on every host.
    assert.equal(new Set(clients.map((c) => c.welcome.epoch)).size, 1);
    let sent = 0;
    for (let round = 0; round < 20; round++) {
      for (const c of clients) {
        c.send(stroke(`r${round}`));
        sent++;
      }
    }
    await Promise.all(clients.map((c) => c.waitForSeq(sent, 30_000)));
    const reference = order(clients[0]!.board);
    assert.equal(reference.length, sent);
    for (const c of clients) assert.deepEqual(order(c.board), reference);

    // A client of host1 resumes on host2 with its session and sends an id it already had sequenced: not applied.
    const origin = clients.find((c) => c.welcome.host === 'host1')!;
    const mine = stroke('mine');
    origin.send(mine);
    await origin.waitFor('own echo', () => origin.unconfirmed.size === 0, 20_000);
    const elsewhere = await BoardClient.open(hosts[1]!.port, 'shared', {
      since: origin.lastSeq,
      epoch: origin.welcome.epoch,
      session: origin.welcome.session,
    });
    assert.equal(elsewhere.welcome.host, 'host2');
    assert.equal(elsewhere.welcome.reset, false);
    elsewhere.sendRaw(JSON.stringify(mine)); // the resend, on host2
    const marker = stroke('marker');
    elsewhere.send(marker);
    await elsewhere.waitFor('marker', () => elsewhere.board.some((m) => m.id === marker.id), 20_000);
    await origin.waitFor('marker on host1', () => origin.board.some((m) => m.id === marker.id), 20_000);
    assert.equal(origin.board.filter((m) => m.id === mine.id).length, 1, 'the resent id was applied once');
    for (const c of [...clients, elsewhere]) await c.close();
  });

  it('loses nothing and doubles nothing through kill -9 of a host, of a worker and of Redis, under load', async (t) => {
    const redis = await startRedis(t);
    const hosts = await startHosts(t, redis, 3);
    const dead = new Set<Smegchat>();
    let turn = 0;
    // Like a load balancer: the next live host.
    const nextPort = (): number => {
      const live = hosts.filter((h) => !dead.has(h));
      return live[turn++ % live.length]!.port;
    };
    const clients: BoardClient[] = [];
    for (const h of hosts) for (let i = 0; i < 2; i++) clients.push(await BoardClient.open(h.port, 'load'));
    for (const c of clients) c.autoResume(200, nextPort);

    const PER_CLIENT = 120;
    const sentIds: string[] = [];
    const senders = clients.map(async (c, k) => {
      for (let i = 0; i < PER_CLIENT; i++) {
        const m = stroke(`c${k}`);
        sentIds.push(m.id);
        c.send(m);
        await new Promise((r) => setTimeout(r, 15));
      }
    });
    const watcher = clients[5]!; // on host3, which nobody kills
    const seen = (n: number): Promise<void> => watcher.waitFor(`${n} messages`, () => watcher.lastSeq >= n, 60_000);

    // 1. kill -9 of host1's supervisor: its workers lose their channel and close their clients, which resume elsewhere.
    await seen(60);
    const h1 = hosts[0]!;
    const h1Workers = h1.workerPids();
    dead.add(h1);
    process.kill(h1.pid, 'SIGKILL');
    await h1.exited;
    await until('host1 workers gone', () => h1Workers.every((p) => !isAlive(p)), 20_000);

    // 2. kill -9 of one of host2's workers.
    await seen(watcher.lastSeq + 60);
    const victim = hosts[1]!.workerPids()[0]!;
    process.kill(victim, 'SIGKILL');

    // 3. kill -9 of Redis, restarted on the same files once a host noticed.
    await seen(watcher.lastSeq + 60);
    const unhealthy = hosts[2]!.waitForLog((r) => r.msg === 'engine unavailable', 30_000);
    await redis.kill();
    await unhealthy;
    await redis.start();
    for (const h of hosts.slice(1)) await healthIs(h, 200, 30_000);

    await Promise.all(senders);
    // Every sender's stroke ends up sequenced: nothing unconfirmed is left.
    for (const c of clients) await c.waitFor('all confirmed', () => c.unconfirmed.size === 0, 120_000);
    const total = sentIds.length;
    const final = await BoardClient.open(hosts[2]!.port, 'load');
    await final.waitForSeq(total, 30_000);
    const ids = final.board.map((m) => m.id);
    assert.equal(final.board.length, total, 'every stroke once: nothing lost, nothing doubled');
    assert.equal(new Set(ids).size, total, 'no id twice');
    assert.deepEqual(new Set(ids), new Set(sentIds));
    assert.deepEqual(
      final.board.map((m) => m.seq),
      Array.from({ length: total }, (_, i) => i + 1),
      'seqs dense',
    );
    const reference = order(final.board);
    for (const c of clients) {
      await c.waitForSeq(total, 30_000);
      assert.deepEqual(order(c.board), reference, 'no client diverges');
      assert.ok(
        c.welcomes.every((w) => !w.reset),
        'nothing was lost, so nobody was told reset',
      );
      const counts = new Map<number, number>();
      for (const m of c.received) counts.set(m.seq, (counts.get(m.seq) ?? 0) + 1);
      assert.ok(
        [...counts.values()].every((n) => n === 1),
        'no client was sent a seq twice',
      );
    }
    assert.ok(
      clients.some((c) => c.welcomes.some((w) => w.host !== c.welcomes[0]!.host)),
      'some client resumed on another host',
    );
    const replayed = hosts.reduce((n, h) => n + h.logs.filter((r) => /not applied again/.test(r.msg)).length, 0);
    t.diagnostic(
      `${total} strokes; ${clients.reduce((n, c) => n + c.welcomes.length - 1, 0)} resumes; ` +
        `${clients.reduce((n, c) => n + c.errors.filter((e) => e.code === 'unavailable').length, 0)} unavailable refusals resent; ` +
        `${replayed} operations resent after Redis died that it had applied (not applied again)`,
    );
    for (const c of [...clients, final]) await c.close();
  });
});

describe('Redis engine: Redis away', () => {
  it('serves with Redis down at start (/healthz 503, joins 1013, submits unavailable) and recovers by itself', async (t) => {
    const redis = await startRedis(t, { started: false });
    const [host] = await startHosts(t, redis, 1, 1);
    const h = host!;
    const first = await healthz(h.port);
    assert.equal(first.status, 503);
    assert.match(first.body, /"engine":"unavailable"/);
    assert.equal(await closeCodeOfJoin(h.port, 'later'), 1013);

    await redis.start();
    await healthIs(h, 200, 30_000);
    const c = await BoardClient.open(h.port, 'later');
    c.send(stroke('before'));
    await c.waitForSeq(1, 20_000);

    // Redis goes while the client is connected: its message is refused `unavailable`, the connection stays.
    await redis.kill();
    await healthIs(h, 503, 30_000);
    const m = stroke('during');
    c.send(m);
    await c.waitFor('unavailable error', () => c.errors.some((e) => e.id === m.id && e.code === 'unavailable'), 20_000);
    assert.equal(c.ws.readyState, c.ws.OPEN, 'the connection stays open');
    await redis.start();
    await healthIs(h, 200, 30_000);
    // The client sends it again on the same session (as the page does): sequenced once.
    await c.waitFor('the message sequenced after Redis came back', () => c.board.some((x) => x.id === m.id), 30_000);
    assert.equal(c.board.filter((x) => x.id === m.id).length, 1);
    await c.close();
  });

  it('tells clients reset when Redis comes back older than what they saw', async (t) => {
    const redis = await startRedis(t);
    const [h] = await startHosts(t, redis, 1, 1);
    const c = await BoardClient.open(h!.port, 'older');
    for (let i = 0; i < 5; i++) c.send(stroke('a'));
    await c.waitForSeq(5, 20_000);
    // A copy of the files now, then more history, then Redis restarted from the copy.
    const copy = path.join(reachableScratchDir(t, 'aof'), 'copy');
    fs.cpSync(path.join(redis.dir, 'appendonlydir'), copy, { recursive: true });
    for (let i = 0; i < 5; i++) c.send(stroke('b'));
    await c.waitForSeq(10, 20_000);
    const epoch = c.welcome.epoch;
    c.autoResume(200);
    await redis.kill();
    fs.rmSync(path.join(redis.dir, 'appendonlydir'), { recursive: true });
    fs.cpSync(copy, path.join(redis.dir, 'appendonlydir'), { recursive: true });
    await redis.start();
    await h!.waitForLog((r) => /Redis went back/.test(r.msg), 30_000);
    await c.waitFor('a welcome with reset', () => c.welcomes.some((w) => w.reset === true), 30_000);
    assert.notEqual(c.welcome.epoch, epoch, 'a new epoch');
    assert.equal(c.welcome.seq, 5, 'the board as Redis holds it now');
    await c.waitForSeq(5, 10_000);
    assert.equal(c.board.length, 5);
    await c.close();
  });
});

describe('Redis engine: start-up refusals', () => {
  it('exits 78 with one line for a wrong password, an evicting policy, a bad URL, a password on the command line', async (t) => {
    const redis = await startRedis(t, { args: ['--requirepass', 'right-one'] });
    const dir = reachableScratchDir(t, 'redis-conf');
    const conf = (obj: object): string => {
      const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.json`);
      fs.writeFileSync(file, JSON.stringify(obj));
      return file;
    };
    const refused = (args: string[], pattern: RegExp, secret?: string): Promise<string> => refusedAtStart(t, args, pattern, secret);
    await refused(['--config', conf({ redis: `redis://:wrong-one@127.0.0.1:${redis.port}` })], /refused smegchat: WRONGPASS/, 'wrong-one');
    await refused(['--redis', `redis://:right-one@127.0.0.1:${redis.port}`], /readable by every local user/, 'right-one');
    await refused(['--redis', 'http://127.0.0.1:6379'], /scheme must be redis/);
    await refused(['--redis', 'redis://127.0.0.1:6379/x'], /database number/);

    // The right password from a file serves, and status shows the URL masked.
    const pwFile = path.join(dir, 'pw');
    fs.writeFileSync(pwFile, 'right-one\n', { mode: 0o600 });
    const ok = await startSmegchat(t, { workers: 1, args: ['--redis', redis.url, '--redis-password-file', pwFile] });
    await healthIs(ok, 200);
    await ok.stop();

    const evicting = await startRedis(t, { args: ['--maxmemory-policy', 'allkeys-lru'] });
    await refused(['--redis', evicting.url], /maxmemory-policy allkeys-lru/);
  });
});
