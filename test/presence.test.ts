/**
 * Presence on the wire (docs/PROTOCOL.md#presence) with real workers and
 * sockets: forwarded to the others on every worker (never to the sender),
 * merged, a snapshot right after a newcomer's replay, `gone` when a client
 * leaves, its own budget (a flood is dropped, the connection stays, and
 * what each client is sent stays bounded), bad fields 1007.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PRESENCE } from '@smegchat/protocol';
import { BoardClient, stroke } from './lib/client.js';
import { startSmegchat } from './lib/smegchat.js';
import { startRedis } from './lib/redis.js';

async function onOtherWorker(port: number, board: string, other: BoardClient): Promise<BoardClient> {
  for (let i = 0; i < 20; i++) {
    const c = await BoardClient.open(port, board);
    if (c.welcome.worker !== other.welcome.worker) return c;
    await c.close();
  }
  throw new Error('no client on another worker in 20 tries');
}

const latest = (c: BoardClient, name: string) => [...c.presence].reverse().find((p) => p.name === name);

describe('presence', () => {
  it('reaches the others on every worker, merged, never the sender; a newcomer gets a snapshot; a leaver is gone', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const ann = await BoardClient.open(server.port, 'here');
    const bob = await onOtherWorker(server.port, 'here', ann);
    ann.sendRaw(JSON.stringify({ t: 'presence', name: 'Ann' }));
    ann.sendRaw(JSON.stringify({ t: 'presence', x: 120.5, y: 80 }));
    await bob.waitFor('Ann at 120.5,80', () => latest(bob, 'Ann')?.x === 120.5);
    const seen = latest(bob, 'Ann')!;
    assert.deepEqual({ ...seen, who: 'w' }, { t: 'presence', who: 'w', name: 'Ann', x: 120.5, y: 80 });
    assert.match(seen.who, /^[0-9a-z]{8,32}$/);
    assert.ok(!ann.welcome.session.includes(seen.who), 'who is not a piece of the session');

    const cat = await BoardClient.open(server.port, 'here');
    await cat.waitFor('the snapshot of Ann', () => latest(cat, 'Ann')?.y === 80);
    assert.equal(cat.presence.filter((p) => p.who !== seen.who).length, 0, 'Bob said nothing: not in the snapshot');
    // Presence is not sequenced: the board is untouched, and strokes still flow.
    ann.send(stroke('a'));
    await cat.waitForSeq(1);
    assert.equal(ann.presence.filter((p) => p.who === seen.who).length, 0, 'never sent its own');

    await ann.close();
    await bob.waitFor('Ann gone', () => bob.presence.some((p) => p.who === seen.who && p.gone === true));
    await cat.waitFor('Ann gone', () => cat.presence.some((p) => p.who === seen.who && p.gone === true));
  });

  it('drops a flood beyond its own budget without closing, and bounds what each client is sent a second', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const movers: BoardClient[] = [];
    for (let i = 0; i < 6; i++) movers.push(await BoardClient.open(server.port, 'busy'));
    const watcher = await BoardClient.open(server.port, 'busy');
    const started = Date.now();
    for (let k = 0; k < 400; k++)
      for (const [i, m] of movers.entries()) m.sendRaw(JSON.stringify({ t: 'presence', name: `m${i}`, x: k, y: i }));
    // The last position of every mover arrives (latest wins), the connections stay.
    for (let i = 0; i < movers.length; i++) {
      await watcher.waitFor(`m${i} seen`, () => watcher.presence.some((p) => p.name === `m${i}`));
    }
    movers[0]!.send(stroke('still-open'));
    await movers[0]!.waitForSeq(1);
    const seconds = Math.max(1, (Date.now() - started) / 1000);
    const bound = (1000 / PRESENCE.tickMs) * PRESENCE.perTick * (seconds + 1);
    assert.ok(watcher.presence.length <= bound, `${watcher.presence.length} presence frames in ${seconds}s, bound ${bound}`);
    assert.ok(watcher.presence.length < 6 * 400, 'thinned: far fewer than were sent');
    for (const m of movers) assert.equal(m.ws.readyState, m.ws.OPEN);
  });

  it('closes with 1007 for bad fields', async (t) => {
    const server = await startSmegchat(t, { workers: 1 });
    for (const bad of ['{"t":"presence"}', '{"t":"presence","name":""}', '{"t":"presence","x":1e9}', '{"t":"presence","x":"1"}']) {
      const c = await BoardClient.open(server.port, 'bad');
      c.sendRaw(bad);
      assert.equal((await c.closed).code, 1007, bad);
    }
  });

  it('crosses hosts through Redis, and a host that dies takes its peers with it', async (t) => {
    const redis = await startRedis(t);
    const one = await startSmegchat(t, { workers: 1, args: ['--redis', redis.url, '--name', 'host1'] });
    const two = await startSmegchat(t, { workers: 1, args: ['--redis', redis.url, '--name', 'host2'] });
    const ann = await BoardClient.open(one.port, 'far');
    const bob = await BoardClient.open(two.port, 'far');
    ann.sendRaw(JSON.stringify({ t: 'presence', name: 'Ann', x: 5, y: 6 }));
    await bob.waitFor('Ann across hosts', () => latest(bob, 'Ann')?.x === 5);
    const late = await BoardClient.open(two.port, 'far');
    await late.waitFor('Ann in the snapshot on the other host', () => latest(late, 'Ann')?.y === 6, 15_000);
    await one.stop('SIGKILL');
    await bob.waitFor('Ann gone with her host', () => bob.presence.some((p) => p.gone === true), 30_000);
  });
});
