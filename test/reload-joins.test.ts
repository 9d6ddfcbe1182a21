/**
 * A reload while a handshake is under way (docs/IPC.md#stop-and-drain): the
 * retiring worker waits for it, so the client gets its welcome and then a
 * 1012 it resumes from, never a 1012 before its welcome.
 *
 * - A join waiting for its answer: the answer is held up for real, Redis
 *   paused (CLIENT PAUSE ALL), so the join's script waits in Redis for ~4 s.
 * - A request still arriving when the stop comes: its last line is sent once
 *   the worker says it is waiting for it.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { parseServerMessage, type ServerMessage } from '@smegchat/protocol';
import { BoardClient, rawSocket } from './lib/client.js';
import { startRedis } from './lib/redis.js';
import { smegctl } from './lib/smegctl.js';
import { startSmegchat, until, type Smegchat } from './lib/smegchat.js';

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

describe('reload while a request is still arriving', () => {
  it('upgrades it, welcomes it, then closes it 1012', async (t) => {
    const s = await startSmegchat(t, { workers: 1 });
    const socket = net.connect(s.port, '127.0.0.1');
    t.after(() => socket.destroy());
    const received: Buffer[] = [];
    socket.on('data', (b) => received.push(b));
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    // All of the upgrade request but the blank line that ends it.
    socket.write(
      'GET /ws/arriving HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n',
    );
    // Handed to the worker: its handover is queued before any stop the reload sends it.
    await until('the connection counted on worker 1', async () => (await connectionsOf(s)) === 1);

    const reload = smegctl(['--control', s.control, 'reload'], { ms: 120_000 });
    await s.waitForLog((r) => r.msg === 'stop asked: waiting for the handshakes under way' && r['requests'] === 1);
    socket.write('\r\n');
    const r = await reload;
    assert.equal(r.code, 0, r.stderr);
    await ended;

    const reply = Buffer.concat(received);
    const headEnd = reply.indexOf('\r\n\r\n');
    assert.match(reply.subarray(0, headEnd).toString(), /^HTTP\/1\.1 101 /);
    const frames = serverFrames(reply.subarray(headEnd + 4));
    assert.equal(frames[0]?.opcode, 1, `the first frame is text, not a close: opcodes ${frames.map((f) => f.opcode).join(',')}`);
    const welcome = parseServerMessage(frames[0]!.payload.toString());
    assert.equal(welcome?.t, 'welcome');
    const close = frames.at(-1)!;
    assert.equal(close.opcode, 8);
    assert.equal(close.payload.readUInt16BE(0), 1012);
  });
});

async function connectionsOf(s: Smegchat): Promise<number> {
  const r = await smegctl(['--control', s.control, 'status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const status = JSON.parse(r.stdout) as { workers: { connections: number }[] };
  return status.workers[0]?.connections ?? 0;
}

/** The frames a server sent (unmasked, none fragmented here): opcode and payload each. */
function serverFrames(bytes: Buffer): { opcode: number; payload: Buffer }[] {
  const frames: { opcode: number; payload: Buffer }[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at]! & 0x0f;
    let length = bytes[at + 1]! & 0x7f;
    let start = at + 2;
    if (length === 126) {
      length = bytes.readUInt16BE(start);
      start += 2;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(start));
      start += 8;
    }
    frames.push({ opcode, payload: bytes.subarray(start, start + length) });
    at = start + length;
  }
  return frames;
}
