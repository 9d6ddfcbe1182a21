/**
 * A reload while a join waits for its answer (docs/IPC.md#stop-and-drain):
 * the retiring worker waits for the answer itself, not a fixed 2 s, so the
 * client gets its welcome and then a 1012 it resumes from, never a 1012
 * before its welcome. The answer is held up for real: Redis is paused
 * (CLIENT PAUSE ALL), so the join's script waits in Redis for ~4 s.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseServerMessage, type ServerMessage } from '@smegchat/protocol';
import { BoardClient, rawSocket } from './lib/client.js';
import { startRedis } from './lib/redis.js';
import { smegctl } from './lib/smegctl.js';
import { startSmegchat } from './lib/smegchat.js';

/** Past the old fixed 2 s grace, short of the engine's 5 s command timeout. */
const PAUSE_MS = 4000;

describe('reload while a join is unanswered', () => {
  it('answers the join with its welcome before closing it 1012, and the client resumes', async (t) => {
    const redis = await startRedis(t);
    const s = await startSmegchat(t, { workers: 1, args: ['--redis', redis.url, '--name', 'h1'] });
    // The board exists, so the join is one read-only script, held up by the pause alone.
    const first = await BoardClient.open(s.port, 'slow');
    await first.close();

    await redis.cli('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
    const ws = rawSocket(s.port, '/ws/slow');
    const frames: ServerMessage[] = [];
    ws.on('message', (data) => {
      const m = parseServerMessage(data.toString());
      if (m !== null) frames.push(m);
    });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    // Upgraded: the worker has asked for the join, and Redis holds it.
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    assert.equal(frames.length, 0, 'no welcome while Redis is paused');

    const reload = await smegctl(['--control', s.control, 'reload'], { ms: 120_000 });
    assert.equal(reload.code, 0, reload.stderr);
    const code = await closed;
    assert.equal(code, 1012);
    const welcome = frames[0];
    assert.ok(welcome?.t === 'welcome', `the first frame is the welcome, not a close: ${JSON.stringify(frames)}`);
    assert.ok(!s.logs.some((r) => /joins still unanswered/.test(r.msg)), 'no join was cut at the bound');

    // And it resumes on the new worker from what it was told.
    const again = await BoardClient.open(s.port, 'slow', { since: welcome.seq, epoch: welcome.epoch, session: welcome.session });
    assert.equal(again.welcome.reset, false);
    await again.close();
  });
});
