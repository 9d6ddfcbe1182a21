/** Small pure parts: the rate limiter, raw HTTP replies, options, the status table. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LIMITS, TokenBucket, type Status } from '@smegchat/protocol';
import { httpReply } from '@smegchat/common';
import { ConfigError, parseOptions } from '@smegchat/supervisor/dist/options.js';
import { formatBytes, formatExit, formatRate, formatStatusTable, formatUptime } from '@smegchat/supervisor/dist/status-table.js';

describe('TokenBucket', () => {
  it('allows a burst, then the rate, and says how long until the next token', () => {
    const bucket = new TokenBucket(10, 3, 0);
    assert.deepEqual([bucket.take(0), bucket.take(0), bucket.take(0), bucket.take(0)], [true, true, true, false]);
    assert.equal(bucket.msUntilToken(0), 100);
    assert.equal(bucket.take(100), true);
    assert.equal(bucket.take(100), false);
    assert.equal(bucket.take(10_000), true, 'a long pause refills at most the burst');
    assert.deepEqual([bucket.take(10_000), bucket.take(10_000), bucket.take(10_000)], [true, true, false]);
  });

  it('keeps saved tokens within a burst lowered by a reload', () => {
    const bucket = new TokenBucket(10, 100, 0);
    bucket.setLimits(10, 1);
    assert.deepEqual([bucket.take(0), bucket.take(0)], [true, false]);
  });
});

describe('httpReply', () => {
  it('declares the body in bytes, with the status text from Node', () => {
    const body = 'too many connections; try again later — é\n';
    const reply = httpReply(503, body, { 'Retry-After': '5' });
    assert.match(reply, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(reply, new RegExp(`Content-Length: ${Buffer.byteLength(body)}\r\n`));
    assert.match(reply, /Retry-After: 5\r\n/);
    assert.ok(reply.endsWith(`\r\n\r\n${body}`));
    assert.match(httpReply(400), /Content-Length: 0\r\nConnection: close\r\n\r\n$/);
  });
});

describe('parseOptions', () => {
  it('fills the defaults, with paths relative to where it was started', () => {
    const c = parseOptions(['--port', '9000', '-n', '3'], '/srv/x')!;
    assert.equal(c.port, 9000);
    assert.equal(c.workers, 3);
    assert.equal(c.dataDir, '/srv/x/data');
    assert.deepEqual(c.limits, DEFAULT_LIMITS);
  });

  it('takes -p8080 as the seed did', () => {
    assert.equal(parseOptions(['-p8080'], '/srv/x')!.port, 8080);
  });

  it('refuses a bad value with a ConfigError that names it', () => {
    assert.throws(
      () => parseOptions(['--workers', '0'], '/srv/x'),
      (err: Error) => err instanceof ConfigError && /workers/.test(err.message),
    );
    assert.throws(() => parseOptions(['--port', '70000'], '/srv/x'), ConfigError);
    assert.throws(() => parseOptions(['--log-level', 'loud'], '/srv/x'), ConfigError);
  });

  it('reads disk sizes as bytes (K M G T are powers of 1024) or as a share of the disk', () => {
    const c = parseOptions(['--history-budget', '1.5G', '--min-free', '10%'], '/srv/x')!;
    assert.deepEqual(c.historyBudget, { bytes: 1.5 * 1024 ** 3 });
    assert.deepEqual(c.minFree, { percent: 10 });
    assert.deepEqual(parseOptions([], '/srv/x')!.historyBudget, { percent: 50 });
    assert.deepEqual(parseOptions(['--min-free', '0'], '/srv/x')!.minFree, { bytes: 0 });
    assert.deepEqual(parseOptions(['--min-free', '300KiB'], '/srv/x')!.minFree, { bytes: 300 * 1024 });
    for (const bad of ['lots', '-1M', '101%', '5X']) {
      assert.throws(
        () => parseOptions([`--history-budget=${bad}`], '/srv/x'),
        (err: Error) => err instanceof ConfigError && /--history-budget must be/.test(err.message),
      );
    }
  });

  it('keeps one warm spare unless told otherwise: --spares 0 turns it off, a bad count is refused by name', () => {
    assert.equal(parseOptions([], '/srv/x')!.spares, 1);
    assert.equal(parseOptions(['--spares', '0'], '/srv/x')!.spares, 0);
    assert.equal(parseOptions(['--spares=3'], '/srv/x')!.spares, 3);
    for (const bad of ['-1', '1.5', '257', 'many']) {
      assert.throws(
        () => parseOptions(['--spares', bad], '/srv/x'),
        (err: Error) => err instanceof ConfigError && /^--spares must be a whole number from 0 to 256/.test(err.message),
        bad,
      );
    }
  });
});

describe('formatStatusTable', () => {
  const now = Date.parse('2026-05-01T12:00:00Z');
  const idle = { clients: 0, messagesInPerSecond: 0, deliveriesPerSecond: 0, messagesIn: 0, deliveries: 0, lastExit: null };
  const status: Status = {
    supervisor: {
      pid: 10,
      uid: 65534,
      gid: 65534,
      uptime: 3661,
      cpu: 1.25,
      memory: 50 * 1024 * 1024,
      version: '0.1.0',
      state: 'running',
      metrics: '127.0.0.1:9464',
      tls: null,
    },
    workers: [
      {
        id: 2,
        pid: null,
        state: 'backoff',
        uptime: 0,
        restarts: 3,
        connections: 0,
        cpu: 0,
        memory: 0,
        ...idle,
        lastExit: { code: 70, signal: null, at: '2026-05-01T11:59:58Z', ran: 1, reason: 'crash' },
      },
      {
        id: 1,
        pid: 11,
        state: 'ready',
        uptime: 65,
        restarts: 0,
        connections: 1234,
        cpu: 10,
        memory: 60 * 1024 * 1024,
        clients: 1200,
        messagesInPerSecond: 12.5,
        deliveriesPerSecond: 15000.4,
        messagesIn: 500,
        deliveries: 600_000,
        lastExit: { code: null, signal: 'SIGKILL', at: '2026-05-01T11:58:55Z', ran: 303, reason: 'crash' },
      },
    ],
    totals: {
      connections: 1234,
      boards: 1,
      relayed: 1_234_567,
      engine: 'embedded',
      boardsLoaded: 1,
      historyBytes: 3 * 1024 * 1024 + 512 * 1024,
      sequencedPerSecond: 12.5,
    },
  };

  it('shows one row per worker, by id, with its traffic and last exit, and the totals below a rule', () => {
    const lines = formatStatusTable(status, now).split('\n');
    assert.match(lines[0]!, /^WORKER\s+PID\s+STATE\s+UPTIME\s+RESTARTS\s+CONNS\s+CLIENTS\s+IN\/S\s+OUT\/S\s+CPU %\s+MEMORY\s+LAST EXIT$/);
    assert.match(lines[1]!, /^supervisor\s+10\s+running\s+1h 01m\s+-\s+-\s+-\s+-\s+-\s+1\.3\s+50\.0 MiB$/);
    assert.match(
      lines[2]!,
      /^1\s+11\s+ready\s+1m 05s\s+0\s+1234\s+1200\s+12\.5\s+15,000\s+10\.0\s+60\.0 MiB\s+SIGKILL \(crash\) after 5m 03s, 1m 05s ago$/,
    );
    assert.match(lines[3]!, /^2\s+-\s+backoff\s+-\s+3\s+0\s+-\s+-\s+-\s+-\s+-\s+exit 70 \(crash\) after 1s, 2s ago$/);
    assert.match(lines[4]!, /^-+/);
    assert.match(lines[5]!, /^total\s+1\/2 ready\s+3\s+1234\s+1200\s+12\.5\s+15,000\s+11\.3\s+110\.0 MiB$/);
    assert.match(lines[7]!, /^engine: embedded \(reachable\)$/);
    assert.match(lines[8]!, /1,234 connections, 1 board, 1,234,567 messages relayed$/);
    assert.equal(lines[9], '1 of 1 board loaded, history 3.5 MiB on disk, 12.5 messages/s sequenced');
    assert.equal(lines[10], 'metrics: http://127.0.0.1:9464/metrics');
    // Columns line up: every MEMORY ends in the same column, whatever follows it.
    const memoryEnds = lines
      .slice(0, 6)
      .flatMap((l) => (l.includes('MiB') ? [l.indexOf('MiB') + 3] : l.includes('MEMORY') ? [l.indexOf('MEMORY') + 6] : []));
    assert.equal(new Set(memoryEnds).size, 1, lines.join('\n'));
  });

  it('shows a spare after the slots, named spare, and does not count it among the workers ready', () => {
    const spare = {
      ...status.workers[1]!,
      id: null,
      pid: 12,
      state: 'spare' as const,
      uptime: 30,
      connections: 0,
      clients: 0,
      lastExit: null,
    };
    const lines = formatStatusTable({ ...status, workers: [spare, ...status.workers] }, now).split('\n');
    assert.match(lines[2]!, /^1\s+11\s+ready\s/);
    assert.match(lines[3]!, /^2\s+-\s+backoff\s/);
    assert.match(lines[4]!, /^spare\s+12\s+spare\s+30s\s+0\s+0\s+0\s/);
    assert.match(lines[6]!, /^total\s+1\/2 ready\s/);
  });

  it('says how the last process of a slot ended: crash, retired or stopped', () => {
    const exit = (over: Partial<NonNullable<Status['workers'][number]['lastExit']>>) =>
      formatExit({ code: 0, signal: null, at: '2026-05-01T11:57:00Z', ran: 7620, reason: 'retired', ...over }, now);
    assert.equal(exit({}), 'retired (exit 0) after 2h 07m, 3m 00s ago');
    assert.equal(exit({ reason: 'stopped', code: null, signal: 'SIGKILL' }), 'stopped (SIGKILL) after 2h 07m, 3m 00s ago');
    assert.equal(exit({ reason: 'crash', code: 70 }), 'exit 70 (crash) after 2h 07m, 3m 00s ago');
    assert.equal(formatExit(null, now), '-');
  });

  it('reads sizes and rates as an operator does', () => {
    assert.deepEqual([0, 1023, 1024, 1536 * 1024, 5 * 2 ** 30].map(formatBytes), ['0 B', '1023 B', '1.0 KiB', '1.5 MiB', '5.0 GiB']);
    assert.deepEqual([0, 0.04, 99.94, 100, 123456.7].map(formatRate), ['0.0', '0.0', '99.9', '100', '123,457']);
  });

  it('reads uptimes as an operator does', () => {
    assert.deepEqual([0, 59, 60, 3600, 86400 + 3600].map(formatUptime), ['0s', '59s', '1m 00s', '1h 00m', '1d 01h']);
  });
});
