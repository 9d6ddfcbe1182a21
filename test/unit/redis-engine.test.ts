/** The Redis engine's pure parts: the URL and its mask, the options, the engine's decisions, Later, resync. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bunyan from 'bunyan';
import type { Status, SupervisorMessage } from '@smegchat/protocol';
import { parseSupervisorMessage, parseWorkerConfig, IPC_VERSION, DEFAULT_LIMITS } from '@smegchat/protocol';
import { maskRedisUrl, parseRedisUrl, RedisUrlError, urlHasPassword } from '@smegchat/supervisor/dist/engine/redis/redis-url.js';
import {
  batchFits,
  classifyError,
  framesBetween,
  isConfigFault,
  readOutcomes,
  wentBack,
} from '@smegchat/supervisor/dist/engine/redis/decisions.js';
import { Later, whenReady } from '@smegchat/supervisor/dist/engine/engine.js';
import { ConfigError, parseOptions } from '@smegchat/supervisor/dist/options.js';
import { engineLine } from '@smegchat/supervisor/dist/status-table.js';
import { Outbox } from '@smegchat/supervisor/dist/sequencer/outbox.js';
import { Sequencer } from '@smegchat/supervisor/dist/sequencer/sequencer.js';
import { MemoryEngine } from './memory-engine.js';

describe('Redis URL', () => {
  it('parses host, port, database, user, password and TLS', () => {
    const t = parseRedisUrl('rediss://smegchat:s3cr%40t@db.example:6380/2');
    assert.deepEqual(
      { tls: t.tls, host: t.host, port: t.port, db: t.db, username: t.username, password: t.password },
      { tls: true, host: 'db.example', port: 6380, db: 2, username: 'smegchat', password: 's3cr@t' },
    );
    assert.equal(t.display, 'rediss://smegchat:****@db.example:6380/2');
    const d = parseRedisUrl('redis://127.0.0.1');
    assert.deepEqual([d.tls, d.port, d.db, d.username, d.password], [false, 6379, 0, undefined, undefined]);
    assert.equal(parseRedisUrl('redis://[::1]:7000').host, '::1');
  });

  it('refuses what is not a Redis URL, in one line that never shows the password', () => {
    for (const bad of ['http://h', 'redis://', 'redis://h:0', 'redis://h/x', 'redis://h/1?tls=1', 'not a url', 'redis://:pw@h/abc']) {
      assert.throws(
        () => parseRedisUrl(bad),
        (err: Error) => err instanceof RedisUrlError && !err.message.includes('pw@') && !err.message.includes('\n'),
        bad,
      );
    }
  });

  it('masks any password wherever the URL is shown', () => {
    assert.equal(maskRedisUrl('redis://:pw@h:1/0'), 'redis://:****@h:1/0');
    assert.equal(maskRedisUrl('redis://user:p:w@x@h'), 'redis://user:****@h');
    assert.equal(maskRedisUrl('redis://smegchat@h'), 'redis://smegchat@h', 'a user name alone is no secret');
    assert.equal(maskRedisUrl('redis://h:6379'), 'redis://h:6379');
    assert.equal(maskRedisUrl('garbage:pw@x'), '****');
    assert.equal(urlHasPassword('redis://:pw@h'), true);
    assert.equal(urlHasPassword('redis://h'), false);
    assert.equal(urlHasPassword('redis://smegchat@h'), false);
  });
});

describe('--redis options', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'smegchat-unit-'));
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };

  it('is off by default (the embedded engine) and names the host', () => {
    const c = parseOptions([], '/srv/x')!;
    assert.equal(c.redis, null);
    assert.match(c.name, /^[A-Za-z0-9._-]{1,64}$/);
    assert.equal(parseOptions(['--name', 'web-1'], '/srv/x')!.name, 'web-1');
    assert.throws(() => parseOptions(['--name', 'a b'], '/srv/x'), ConfigError);
  });

  it('refuses a password on the command line, takes one from the config file or a password file', () => {
    assert.throws(
      () => parseOptions(['--redis', 'redis://:pw@h'], '/srv/x'),
      (err: Error) => err instanceof ConfigError && /readable by every local user/.test(err.message) && !err.message.includes('pw'),
    );
    const conf = write('c.json', JSON.stringify({ redis: 'redis://:fromfile@h:7000/1' }));
    const fromConf = parseOptions(['--config', conf], '/srv/x')!;
    assert.equal(fromConf.redis?.target.password, 'fromfile');
    assert.equal(fromConf.redis?.target.display, 'redis://:****@h:7000/1');
    const pw = write('pw', 'hunter2\n');
    const fromFile = parseOptions(['--redis', 'redis://h', '--redis-password-file', pw], '/srv/x')!;
    assert.equal(fromFile.redis?.target.password, 'hunter2');
    assert.throws(() => parseOptions(['--config', conf, '--redis-password-file', pw], '/srv/x'), /keep one/);
    assert.throws(() => parseOptions(['--redis', 'redis://h', '--redis-password-file', write('empty', '\n')], '/srv/x'), /empty/);
    assert.throws(() => parseOptions(['--redis-password-file', pw], '/srv/x'), /need --redis/);
    assert.throws(() => parseOptions(['--redis', 'redis://h', '--redis-ca', pw], '/srv/x'), /rediss/);
    assert.equal(parseOptions(['--redis', 'rediss://h', '--redis-ca', pw], '/srv/x')!.redis?.caFile, pw);
  });
});

describe('Redis engine decisions', () => {
  const reply = (message: string): Error => Object.assign(new Error(message), { name: 'ReplyError' });

  it('tells a full Redis, a refusal, a login refused and no answer apart', () => {
    assert.equal(classifyError(reply("OOM command not allowed when used memory > 'maxmemory'.")), 'oom');
    assert.equal(classifyError(reply('WRONGPASS invalid username-password pair')), 'auth');
    assert.equal(classifyError(reply('NOPERM this user has no permissions')), 'auth');
    assert.equal(classifyError(reply("READONLY You can't write against a read only replica.")), 'refused');
    assert.equal(classifyError(new Error('Connection is closed.')), 'unknown');
    assert.equal(classifyError(new Error('Command timed out')), 'unknown');
    assert.equal(isConfigFault(reply('WRONGPASS x')), true);
    assert.equal(isConfigFault(Object.assign(new Error('self-signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })), true);
    assert.equal(isConfigFault(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), false);
  });

  it('reads the submit script outcomes; a replayed operation without them is duplicates', () => {
    assert.deepEqual(
      readOutcomes('s41,d,f', 3).map((o) => o.kind),
      ['sequenced', 'duplicate', 'refused'],
    );
    assert.deepEqual(readOutcomes('s41', 1), [{ kind: 'sequenced', seq: 41 }]);
    const full = readOutcomes('f', 1)[0]!;
    assert.ok(full.kind === 'refused' && full.code === 'board-full');
    assert.deepEqual(readOutcomes(null, 2), [{ kind: 'duplicate' }, { kind: 'duplicate' }]);
    const [notYours, noSuch] = readOutcomes('y7,n12', 2);
    assert.ok(notYours!.kind === 'refused' && notYours!.code === 'not-yours' && notYours!.message.includes('7'));
    assert.ok(noSuch!.kind === 'refused' && noSuch!.code === 'no-such-stroke' && noSuch!.message.includes('12'));
  });

  it("judges a reader's batch against the board's cursor", () => {
    assert.equal(batchFits(10, 10, 11), 'publish');
    assert.equal(batchFits(10, 10, 15), 'gap', 'entries trimmed before this host read them');
    assert.equal(batchFits(10, 7, 8), 'stale', 'read from an older cursor');
    assert.equal(batchFits(10, 10, 9), 'stale');
  });

  it("extends a join's replay from the frames just published, or says it cannot", () => {
    const ring = [5, 6, 7, 8].map((seq) => ({ seq, frame: `f${seq}` }));
    assert.deepEqual(framesBetween(ring, 8, 8), []);
    assert.deepEqual(framesBetween(ring, 6, 8), ['f7', 'f8']);
    assert.deepEqual(framesBetween(ring, 4, 8), ['f5', 'f6', 'f7', 'f8']);
    assert.equal(framesBetween(ring, 3, 8), null, 'the ring does not reach back');
    assert.equal(framesBetween([], 3, 8), null);
    assert.deepEqual(framesBetween([], 9, 8), [], 'the reader is behind the head: nothing to add');
  });

  it('finds Redis gone back by its write clock or generation', () => {
    assert.equal(wentBack(0, null, 0, null), false, 'nothing seen yet');
    assert.equal(wentBack(10, 'g1', 12, 'g1'), false);
    assert.equal(wentBack(10, 'g1', 9, 'g1'), true, 'an older file');
    assert.equal(wentBack(10, 'g1', 0, null), true, 'emptied');
    assert.equal(wentBack(10, 'g1', 20, 'g2'), true, 'another host found it and replaced the generation');
  });
});

describe('Later', () => {
  it('hands its value over synchronously, before or after the sequencer waits on it', () => {
    const never = (): void => assert.fail('not expected');
    const got: number[] = [];
    const a = new Later<number>();
    whenReady(a, (v) => got.push(v), never);
    a.resolve(1);
    assert.deepEqual(got, [1], 'at once, not on a later microtask');
    const b = new Later<number>();
    b.resolve(2);
    b.resolve(3);
    whenReady(b, (v) => got.push(v), never);
    assert.deepEqual(got, [1, 2]);
    const c = new Later<number>();
    let failed: unknown;
    whenReady(c, never, (err) => (failed = err));
    c.reject(new Error('x'));
    assert.equal((failed as Error).message, 'x');
  });
});

describe('Sequencer.resync', () => {
  it("tells each subscribed worker to resume the board's clients and drops the subscriptions", async () => {
    const log = bunyan.createLogger({ name: 'test', level: 'fatal' });
    const sequencer = new Sequencer(log);
    const engine = new MemoryEngine(sequencer);
    sequencer.use(engine);
    const sent: SupervisorMessage[] = [];
    const outbox = new Outbox('1', (m) => sent.push(m));
    sequencer.join(outbox, { t: 'join', req: 1, board: 'b' });
    await new Promise((r) => setImmediate(r));
    sequencer.resync(['b', 'unknown']);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sent.at(-1), { t: 'resync', boards: ['b'] });
    // A later join subscribes afresh.
    engine.subscribed.clear();
    sequencer.join(outbox, { t: 'join', req: 2, board: 'b' });
    await new Promise((r) => setImmediate(r));
    assert.ok(engine.subscribed.has('b'));
  });
});

describe('IPC health and resync, and status', () => {
  it('validates health and resync, and the worker config carries the host', () => {
    assert.deepEqual(parseSupervisorMessage({ t: 'health', engine: false }), { t: 'health', engine: false });
    assert.equal(parseSupervisorMessage({ t: 'health', engine: 'no' }), null);
    assert.deepEqual(parseSupervisorMessage({ t: 'resync', boards: ['a', 'b-1'] }), { t: 'resync', boards: ['a', 'b-1'] });
    assert.equal(parseSupervisorMessage({ t: 'resync', boards: ['a b'] }), null);
    const config = { id: 1, ipcVersion: IPC_VERSION, limits: DEFAULT_LIMITS, logLevel: 'info', logFile: null, origins: null };
    assert.throws(() => parseWorkerConfig(JSON.stringify(config)));
    assert.equal(
      parseWorkerConfig(
        JSON.stringify({ ...config, host: 'h1', engineHealthy: true, tls: false, trustedProxies: [], drainTimeoutMs: 10_000 }),
      ).host,
      'h1',
    );
  });

  it('shows the engine, where it is (masked) and whether it is reachable', () => {
    const totals = { connections: 0, boards: 0, relayed: 0 };
    const status = (t: Partial<Status['totals']>): Status => ({ totals: { ...totals, engine: 'embedded', ...t } }) as unknown as Status;
    assert.equal(engineLine(status({ engineReachable: true, host: 'h1' })), 'host h1, engine: embedded (reachable)');
    assert.equal(
      engineLine(status({ engine: 'redis', engineUrl: 'redis://:****@db:6379', engineReachable: false, host: 'h2' })),
      'host h2, engine: redis redis://:****@db:6379 (UNREACHABLE)',
    );
  });
});
