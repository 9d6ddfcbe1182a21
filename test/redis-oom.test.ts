/**
 * Redis out of memory (`maxmemory` reached, `maxmemory-policy noeviction`,
 * as the deploy docs require): a write Redis refuses is refused to its
 * sender with `storage`, naming its id, and is neither sequenced nor lost;
 * reads (joins of existing boards, replays, live delivery) keep working;
 * once Redis has room again the sender's resend is sequenced, once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BoardClient, stroke } from './lib/client.js';
import { healthz } from './lib/healthz.js';
import { startRedis } from './lib/redis.js';
import { startSmegchat } from './lib/smegchat.js';

/** Room left in Redis above what it uses once the board exists: a few dozen strokes. */
const ROOM_BYTES = 256 * 1024;
/** Bound of the fill: far more than ROOM_BYTES of strokes. */
const MAX_STROKES = 2000;

describe('Redis engine: Redis out of memory', () => {
  it('refuses writes to their sender with storage, keeps reads working, and resumes once there is room', async (t) => {
    const redis = await startRedis(t);
    const s = await startSmegchat(t, { workers: 2, args: ['--redis', redis.url, '--name', 'oom'] });
    const sender = await BoardClient.open(s.port, 'full');
    const watcher = await BoardClient.open(s.port, 'full');
    sender.send(stroke('first'));
    await watcher.waitForSeq(1, 20_000);

    const used = Number(/used_memory:(\d+)/.exec(await redis.cli('INFO', 'memory'))![1]);
    assert.equal(await redis.cli('CONFIG', 'SET', 'maxmemory', String(used + ROOM_BYTES)), 'OK');

    // Fill the board one stroke at a time until Redis refuses one.
    let refusedId: string | undefined;
    for (let i = 0; i < MAX_STROKES && refusedId === undefined; i++) {
      const m = stroke('fill', 100);
      sender.send(m);
      await sender.waitFor(
        `stroke ${i} sequenced or refused`,
        () => !sender.unconfirmed.has(m.id) || sender.errors.some((e) => e.id === m.id),
        20_000,
      );
      if (sender.errors.some((e) => e.id === m.id)) refusedId = m.id;
    }
    assert.ok(refusedId !== undefined, `Redis refused nothing within ${MAX_STROKES} strokes`);
    const error = sender.errors.find((e) => e.id === refusedId)!;
    assert.equal(error.code, 'storage', JSON.stringify(error));
    assert.match(error.message, /Redis is full/);
    assert.equal(sender.ws.readyState, sender.ws.OPEN, 'the sender stays connected');
    await s.waitForLog((r) => /Redis is out of memory/.test(r.msg), 10_000);

    // Not sequenced: Redis's head is what the clients saw, and the refused id is in no stream entry.
    // The sender has each of its strokes back before it sends the next; the watcher, on another worker, may lag.
    const head = sender.lastSeq;
    await watcher.waitForSeq(head, 20_000);
    assert.equal(await redis.cli('HGET', 'smegchat:b:{full}:meta', 'h'), String(head));
    assert.ok(!(await redis.cli('XREVRANGE', 'smegchat:b:{full}:log', '+', '-', 'COUNT', '5')).includes(refusedId));
    assert.ok(!watcher.board.some((m) => m.id === refusedId));

    // Reads keep working: a newcomer joins the existing board and gets its whole history.
    const reader = await BoardClient.open(s.port, 'full');
    await reader.waitForSeq(head, 20_000);
    assert.deepEqual(
      reader.board.map((m) => m.id),
      watcher.board.map((m) => m.id),
    );
    assert.equal((await healthz(s.port)).status, 200, 'Redis answers: the host is healthy, only full');
    // Still full: the sender's resends (with backoff, as the page's) are refused again, not applied.
    const refusals = sender.errors.filter((e) => e.id === refusedId).length;
    await sender.waitFor('a resend refused again', () => sender.errors.filter((e) => e.id === refusedId).length > refusals, 20_000);
    assert.equal(await redis.cli('HGET', 'smegchat:b:{full}:meta', 'h'), String(head));

    // Room again: the resend is sequenced, once, and the board goes on.
    assert.equal(await redis.cli('CONFIG', 'SET', 'maxmemory', '0'), 'OK');
    await watcher.waitFor('the refused stroke, resent', () => watcher.board.some((m) => m.id === refusedId), 20_000);
    const after = stroke('after');
    sender.send(after);
    for (const c of [sender, watcher, reader]) {
      await c.waitFor('the stroke after', () => c.board.some((m) => m.id === after.id), 20_000);
      assert.equal(c.board.filter((m) => m.id === refusedId).length, 1, 'sequenced once');
      assert.deepEqual(
        c.board.map((m) => m.seq),
        Array.from({ length: head + 2 }, (_, i) => i + 1),
        'dense, nothing lost',
      );
    }
    assert.equal(sender.unconfirmed.size, 0);
    t.diagnostic(`${head} strokes stored before Redis was full; the refused one was refused ${refusals}+ times, then sequenced once`);
    for (const c of [sender, watcher, reader]) await c.close();
  });
});
