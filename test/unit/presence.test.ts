/**
 * Presence's pure parts: the client frame's checks, the merge (latest of
 * each field wins), the relayed message's checks, and the supervisor's hub:
 * what it passes on to which worker, what a newly subscribed worker is
 * told, and who is gone when a worker or a host goes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LIMITS, looksLikePresence, mergePeer, parsePresenceMessage, type SupervisorMessage } from '@smegchat/protocol';
import { PresenceHub } from '@smegchat/supervisor/dist/presence/presence-hub.js';
import { readRelayed } from '@smegchat/supervisor/dist/engine/redis/presence-relay.js';
import { Outbox } from '@smegchat/supervisor/dist/sequencer/outbox.js';

const WHO_A = 'aaaaaaaaaaaaaaaa';
const WHO_B = 'bbbbbbbbbbbbbbbb';

describe('presence frames', () => {
  it('are recognised by their leading t before parsing, and checked like any other input', () => {
    assert.equal(looksLikePresence('{"t":"presence","x":1}'), true);
    assert.equal(looksLikePresence(' { "t" : "presence"}'), true);
    assert.equal(looksLikePresence('{"id":"a","t":"presence"}'), false);
    const p = parsePresenceMessage('{"t":"presence","name":"Ann","x":1.5,"evil":2}', DEFAULT_LIMITS);
    assert.deepEqual(p.ok && p.value, { t: 'presence', name: 'Ann', x: 1.5 });
    for (const bad of [
      '{"t":"presence"}',
      '{"t":"presence","t":"stroke","x":1}',
      '{"t":"presence","y":1e9}',
      '{"t":"presence","name":5}',
    ]) {
      const r = parsePresenceMessage(bad, DEFAULT_LIMITS);
      assert.equal(!r.ok && r.error.closeCode, 1007, bad);
    }
  });

  it('merge: the latest of each field wins; gone replaces everything', () => {
    const a = mergePeer(undefined, { who: WHO_A, name: 'Ann' });
    assert.deepEqual(mergePeer(a, { who: WHO_A, x: 1, y: 2 }), { who: WHO_A, name: 'Ann', x: 1, y: 2 });
    assert.deepEqual(mergePeer(a, { who: WHO_A, gone: true }), { who: WHO_A, gone: true });
  });

  it('relayed between hosts: checked, per board channel', () => {
    assert.deepEqual(readRelayed('smegchat:presence:{b1}', JSON.stringify({ h: 'host1', p: [{ who: WHO_A, x: 1 }] })), {
      board: 'b1',
      host: 'host1',
      peers: [{ who: WHO_A, x: 1 }],
    });
    assert.equal(readRelayed('smegchat:presence:{b1}', JSON.stringify({ h: 'host1', ask: true }))?.peers, 'ask');
    assert.equal(readRelayed('smegchat:presence:{b/1}', JSON.stringify({ h: 'h', p: [] })), null);
    assert.equal(readRelayed('smegchat:presence:{b1}', JSON.stringify({ h: 'h', p: [{ who: 'x' }] })), null);
    assert.equal(readRelayed('smegchat:presence:{b1}', 'not json'), null);
  });
});

describe('PresenceHub', () => {
  function hub() {
    const sent = new Map<Outbox, SupervisorMessage[]>();
    const w1 = new Outbox('w1', () => undefined);
    const w2 = new Outbox('w2', () => undefined);
    const w3 = new Outbox('w3', () => undefined);
    const on = new Map<string, Outbox[]>([['b', [w1, w2]]]);
    const h = new PresenceHub({
      workersOn: (board) => on.get(board) ?? [],
      queue: (o, m) => sent.set(o, [...(sent.get(o) ?? []), m]),
    });
    const peersTo = (o: Outbox) => (sent.get(o) ?? []).flatMap((m) => (m.t === 'presence' ? m.peers : []));
    return { h, w1, w2, w3, on, sent, peersTo };
  }

  it('passes a worker’s changes, merged, to the board’s other workers only, and ignores a worker not on the board', () => {
    const { h, w1, w2, w3, peersTo } = hub();
    h.fromWorker(w1, 'b', [{ who: WHO_A, name: 'Ann' }]);
    h.fromWorker(w1, 'b', [{ who: WHO_A, x: 3 }]);
    assert.deepEqual(peersTo(w2), [
      { who: WHO_A, name: 'Ann' },
      { who: WHO_A, name: 'Ann', x: 3 },
    ]);
    assert.deepEqual(peersTo(w1), [], 'not back to its own worker');
    h.fromWorker(w3, 'b', [{ who: WHO_B, x: 1 }]);
    assert.equal(peersTo(w2).length, 2, 'w3 is not on the board');
  });

  it('tells a newly subscribed worker of everyone, and announces gone the peers of a worker that leaves or dies', () => {
    const { h, w1, w2, w3, on, peersTo } = hub();
    h.fromWorker(w1, 'b', [{ who: WHO_A, name: 'Ann' }]);
    h.fromWorker(w2, 'b', [{ who: WHO_B, name: 'Bob' }]);
    on.set('b', [w1, w2, w3]);
    h.subscribed(w3, 'b');
    assert.deepEqual(
      peersTo(w3).map((p) => p.who),
      [WHO_A, WHO_B],
    );
    h.dropFrom(w1);
    assert.deepEqual(peersTo(w3).at(-1), { who: WHO_A, gone: true });
    h.dropFrom(w1);
    assert.equal(peersTo(w3).length, 3, 'gone once');
  });

  it('expires the peers of a host that stopped saying them, and passes nothing new for a heartbeat', () => {
    const { h, w1, peersTo } = hub();
    h.fromHost('host2', 'b', [{ who: WHO_B, name: 'Bob' }], 1000);
    h.fromHost('host2', 'b', [{ who: WHO_B, name: 'Bob' }], 2000);
    assert.equal(peersTo(w1).length, 1, 'a heartbeat with nothing new is not passed on');
    h.expire(5000);
    assert.equal(peersTo(w1).length, 1, 'heard of 3 s ago: kept');
    h.expire(20_000);
    assert.deepEqual(peersTo(w1).at(-1), { who: WHO_B, gone: true });
  });
});
