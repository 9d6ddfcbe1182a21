/** Small pure parts: the rate limiter, raw HTTP replies, options, the status table. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LIMITS, TokenBucket, type Status } from '@smegchat/protocol';
import { httpReply } from '@smegchat/common';
import { ConfigError, parseOptions } from '@smegchat/supervisor/dist/options.js';
import { formatStatusTable, formatUptime } from '@smegchat/supervisor/dist/status-table.js';

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
});

describe('formatStatusTable', () => {
  const status: Status = {
    supervisor: { pid: 10, uid: 65534, gid: 65534, uptime: 3661, cpu: 1.25, memory: 50 * 1024 * 1024, version: '0.1.0', state: 'running' },
    workers: [
      { id: 2, pid: null, state: 'backoff', uptime: 0, restarts: 3, connections: 0, cpu: 0, memory: 0 },
      { id: 1, pid: 11, state: 'ready', uptime: 65, restarts: 0, connections: 1234, cpu: 10, memory: 60 * 1024 * 1024 },
    ],
    totals: { connections: 1234, boards: 1, relayed: 1_234_567, engine: 'embedded' },
  };

  it('shows one row per worker, by id, and the totals below a rule', () => {
    const lines = formatStatusTable(status).split('\n');
    assert.match(lines[0]!, /^WORKER\s+PID\s+STATE/);
    assert.match(lines[1]!, /^supervisor\s+10\s+running\s+1h 01m/);
    assert.match(lines[2]!, /^1\s+11\s+ready\s+1m 05s\s+0\s+1234\s+10\.0\s+60\.0 MiB$/);
    assert.match(lines[3]!, /^2\s+-\s+backoff\s+-\s+3\s+0\s+-\s+-$/);
    assert.match(lines[4]!, /^-+/);
    assert.match(lines[5]!, /^total\s+1\/2 ready\s+3\s+1234\s+11\.3\s+110\.0 MiB$/);
    assert.match(lines.at(-2)!, /1,234 connections, 1 board, 1,234,567 messages relayed$/);
  });

  it('reads uptimes as an operator does', () => {
    assert.deepEqual([0, 59, 60, 3600, 86400 + 3600].map(formatUptime), ['0s', '59s', '1m 00s', '1h 00m', '1d 01h']);
  });
});
