/**
 * Bad input gets its close code (docs/PROTOCOL.md#close-codes) or a 4xx, only the offending
 * connection suffers, and the limits hold: connection caps, board bounds,
 * slow readers, dead connections.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { BoardClient, stroke, upgradeRefusal } from './lib/client.js';
import { startSmegchat } from './lib/smegchat.js';

/** Sends raw bytes over TCP and returns the whole response. */
function rawHttp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(10_000, () => reject(new Error('no response')));
    s.write(request);
  });
}

function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
}

/** Byte rates out of the way, for tests that send faster than any client may. */
const NO_BYTE_RATES = ['--byte-rate', '1000000000', '--byte-burst', '1000000000', '--address-byte-rate', '0'];

describe('bad frames', () => {
  it('closes each kind of bad frame with its code, and the others never notice', async (t) => {
    const server = await startSmegchat(t, { workers: 2, args: ['--max-frame-bytes', '65536'] });
    const bystander = await BoardClient.open(server.port, 'bad');
    const cases: [string, (c: BoardClient) => void, number][] = [
      ['not JSON', (c) => c.sendRaw('{"t":"stroke",'), 1007],
      ['not an object', (c) => c.sendRaw('[1,2,3]'), 1007],
      ['unknown type', (c) => c.sendRaw(JSON.stringify({ t: 'explode', id: 'x' })), 1007],
      ['bad colour', (c) => c.sendRaw(JSON.stringify({ ...stroke(), color: 'red' })), 1007],
      ['NaN-ish points', (c) => c.sendRaw('{"t":"stroke","id":"p","color":"#000000","width":2,"points":[[1e999,0]]}'), 1007],
      ['no id', (c) => c.sendRaw(JSON.stringify({ t: 'chat', name: 'a', text: 'b' })), 1007],
      ['id too long', (c) => c.sendRaw(JSON.stringify({ t: 'clear', id: 'x'.repeat(65) })), 1007],
      ['binary frame', (c) => c.sendRaw(Buffer.from([1, 2, 3]), true), 1003],
      ['frame too large', (c) => c.sendRaw(JSON.stringify({ t: 'chat', id: 'big', name: 'a', text: 'x'.repeat(70_000) })), 1009],
      ['invalid UTF-8', (c) => c.ws.send(Buffer.from([0x22, 0xff, 0xfe, 0x22]), { binary: false }), 1007],
    ];
    for (const [what, send, code] of cases) {
      const c = await BoardClient.open(server.port, 'bad');
      send(c);
      const closed = await c.closed;
      assert.equal(closed.code, code, `${what}: closed with ${closed.code} ${closed.reason}`);
    }
    // The bystander saw none of it and still works.
    bystander.send(stroke());
    await bystander.waitForSeq(1);
    assert.equal(bystander.board.length, 1);
    assert.equal(bystander.ws.readyState, bystander.ws.OPEN);
    assert.equal(server.workerPids().length, 2);
  });

  it('accepts a real drawing: a 64 KiB frame and 100 messages a second', async (t) => {
    const server = await startSmegchat(t, { workers: 1 });
    const c = await BoardClient.open(server.port, 'big');
    const points: [number, number][] = [];
    while (JSON.stringify(points).length < 64 * 1024) points.push([points.length * 1.5, 1000 + points.length]);
    c.send({ t: 'stroke', id: 'big', color: '#000000', width: 2, points: points.slice(0, 10_000) });
    await c.waitForSeq(1);
    // 300 messages over 3 s: 100 a second, sustained.
    for (let i = 0; i < 300; i++) {
      c.send(stroke());
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 100));
    }
    await c.waitForSeq(301, 15_000);
    assert.equal(c.ws.readyState, c.ws.OPEN);
  });

  it('closes a client over the rate limit with 1008', async (t) => {
    const server = await startSmegchat(t, { workers: 1, args: ['--rate', '5', '--rate-burst', '5'] });
    const bystander = await BoardClient.open(server.port, 'rate');
    const c = await BoardClient.open(server.port, 'rate');
    for (let i = 0; i < 20; i++) c.send(stroke());
    assert.equal((await c.closed).code, 1008);
    bystander.send(stroke());
    await bystander.waitForSeq(6);
  });

  it('closes a client over its byte rate, and one address over its byte rate, with 1008', async (t) => {
    // A stroke of 2,000 points is ~20 KB: a burst of 64 KiB takes three.
    const args = ['--byte-rate', '1024', '--byte-burst', '262144', '--max-frame-bytes', '262144', '--address-byte-rate', '0'];
    const server = await startSmegchat(t, { workers: 1, args });
    const bystander = await BoardClient.open(server.port, 'bytes');
    const c = await BoardClient.open(server.port, 'bytes');
    for (let i = 0; i < 20; i++) c.send(stroke('big', 2000));
    const closed = await c.closed;
    assert.equal(closed.code, 1008);
    assert.match(closed.reason, /over the byte rate of 1024 bytes\/s/);
    bystander.send(stroke());
    await bystander.waitFor('the bystander still served', () => bystander.board.some((m) => m.id.startsWith('s-')), 10_000);

    // Two connections from one address share its budget on a worker.
    const perAddress = await startSmegchat(t, { workers: 1, args: ['--address-byte-rate', '100000'] });
    const a = await BoardClient.open(perAddress.port, 'shared');
    const b = await BoardClient.open(perAddress.port, 'shared');
    for (let i = 0; i < 12; i++) (i % 2 === 0 ? a : b).send(stroke('big', 2000));
    const first = await Promise.race([a.closed, b.closed]);
    assert.equal(first.code, 1008);
    assert.match(first.reason, /from one address/);
  });
});

describe('bad HTTP', () => {
  it('answers 4xx and nothing else', async (t) => {
    const server = await startSmegchat(t, { workers: 1 });
    const health = await rawHttp(server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(statusOf(health), 200);
    assert.equal(statusOf(await rawHttp(server.port, 'GARBAGE\r\n\r\n')), 400);
    assert.equal(statusOf(await rawHttp(server.port, 'GET /no/such/file HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), 404);
    assert.equal(statusOf(await rawHttp(server.port, 'GET /ws/board HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), 426);
    assert.equal(statusOf(await rawHttp(server.port, `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)), 431);
    assert.equal(await upgradeRefusal(server.port, '/ws/bad%20name'), 400);
    assert.equal(await upgradeRefusal(server.port, '/ws/b?since=abc'), 400);
    assert.equal(await upgradeRefusal(server.port, '/ws/b?session=short'), 400);
    assert.equal(await upgradeRefusal(server.port, '/elsewhere'), 400);
    // Things that make URL parsing throw: answered, and no worker dies of them.
    const workers = server.workerPids();
    assert.equal(await upgradeRefusal(server.port, '/ws/%zz'), 400);
    assert.equal(await upgradeRefusal(server.port, '/ws/%E0%A4%A'), 400);
    assert.equal(
      statusOf(
        await rawHttp(
          server.port,
          'GET // HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        ),
      ),
      400,
    );
    assert.deepEqual(server.workerPids(), workers);
    // Still serving.
    assert.equal(statusOf(await rawHttp(server.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')), 200);
  });

  it('lets only allowed Origins open a WebSocket when a list is set', async (t) => {
    const server = await startSmegchat(t, { workers: 1, args: ['--origins', 'https://draw.example'] });
    assert.equal(await upgradeRefusal(server.port, '/ws/o', { origin: 'https://evil.example' }), 403);
    assert.equal(await upgradeRefusal(server.port, '/ws/o'), 403);
    const ok = await BoardClient.open(server.port, 'o', { origin: 'https://draw.example' });
    assert.equal(ok.welcome.board, 'o');
  });
});

describe('limits', () => {
  it('caps connections per address and in total with a 503', async (t) => {
    const server = await startSmegchat(t, { workers: 2, args: ['--max-connections-per-ip', '3'] });
    const open = [];
    for (let i = 0; i < 3; i++) open.push(await BoardClient.open(server.port, 'cap'));
    assert.equal(await upgradeRefusal(server.port, '/ws/cap'), 503);
    await open[0]!.close();
    // Once the worker reports the close, there is room again.
    let again: BoardClient | null = null;
    for (let i = 0; i < 100 && again === null; i++) {
      again = await BoardClient.open(server.port, 'cap').catch(() => null);
      if (again === null) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(again, 'a connection was refused after another closed');
  });

  it('refuses a new board past --max-boards with 1013, keeping the old ones', async (t) => {
    const server = await startSmegchat(t, { workers: 1, args: ['--max-boards', '2'] });
    await BoardClient.open(server.port, 'one');
    await BoardClient.open(server.port, 'two');
    await assert.rejects(BoardClient.open(server.port, 'three'), /closed before welcome: 1013/);
    const one = await BoardClient.open(server.port, 'one');
    assert.equal(one.welcome.board, 'one');
  });

  it('refuses strokes on a full board with an error frame, and accepts clear', async (t) => {
    const server = await startSmegchat(t, { workers: 1, args: ['--max-board-messages', '3'] });
    const c = await BoardClient.open(server.port, 'full');
    for (let i = 0; i < 3; i++) c.send(stroke());
    await c.waitForSeq(3);
    const refused = stroke('late');
    c.send(refused);
    await c.waitFor('board-full error', () => c.errors.length === 1);
    assert.equal(c.errors[0]!.code, 'board-full');
    assert.equal(c.errors[0]!.id, refused.id);
    c.send({ t: 'clear', id: 'clr' });
    await c.waitForSeq(4);
    c.send(stroke());
    await c.waitForSeq(5);
    assert.deepEqual(
      c.board.map((m) => m.t),
      ['clear', 'stroke'],
    );
  });

  it('drops a client that stops reading before it costs unbounded memory', async (t) => {
    const server = await startSmegchat(t, {
      workers: 1,
      // The writer outruns the byte rates on purpose: only the slow reader's buffer is under test.
      args: ['--max-buffered-bytes', '1048576', '--rate', '100000', '--rate-burst', '100000', ...NO_BYTE_RATES],
    });
    const slow = await BoardClient.open(server.port, 'slow');
    (slow.ws as unknown as { _socket: net.Socket })._socket.pause();
    const writer = await BoardClient.open(server.port, 'slow');
    const points: [number, number][] = Array.from({ length: 4000 }, (_, i) => [i, i]);
    let sent = 0;
    const dropped = server.waitForLog((r) => r.msg === 'client too slow: dropped', 30_000);
    let done = false;
    void dropped.then(
      () => (done = true),
      () => (done = true),
    );
    while (!done && sent < 2000) {
      writer.send({ t: 'stroke', id: `w${sent++}`, color: '#000000', width: 1, points });
      if (sent % 20 === 0) await writer.waitForSeq(sent, 20_000);
    }
    const rec = await dropped;
    assert.equal(rec['limit'], 1048576);
    assert.equal(writer.ws.readyState, writer.ws.OPEN);
  });

  it('drops a connection that stops answering pings', async (t) => {
    const server = await startSmegchat(t, { workers: 1, args: ['--ping-interval', '1'] });
    const alive = await BoardClient.open(server.port, 'ping');
    const dead = await BoardClient.open(server.port, 'ping');
    (dead.ws as unknown as { _socket: net.Socket })._socket.pause();
    await server.waitForLog((r) => r.msg === 'client did not answer its ping: dropped', 10_000);
    alive.send(stroke());
    await alive.waitForSeq(1);
    assert.equal(alive.ws.readyState, alive.ws.OPEN);
  });
});
