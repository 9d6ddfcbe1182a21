/**
 * Undo, redo and erase on the wire (docs/PROTOCOL.md#undo-and-redo,
 * #erase), end to end with both engines: the embedded one across two
 * workers and a supervisor restart, and Redis across two hosts and a host
 * restart. Ownership is the session's, so it holds for a client that comes
 * back with its session on another worker, host or supervisor.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { ClientMessage } from '@smegchat/protocol';
import { BoardClient, stroke } from './lib/client.js';
import { startRedis } from './lib/redis.js';
import { startSmegchat, type Smegchat } from './lib/smegchat.js';

let n = 0;
const id = (what: string): string => `${what}-${n++}`;

/** Sends and waits for the echo (its seq), or for an error frame naming the id (its code). */
async function outcome(c: BoardClient, msg: ClientMessage): Promise<number | string> {
  c.send(msg);
  let result: number | string | undefined;
  await c.waitFor(`the answer to ${msg.id}`, () => {
    const echo = c.received.find((m) => m.id === msg.id);
    const error = c.errors.find((e) => e.id === msg.id);
    result = echo?.seq ?? error?.code;
    return result !== undefined;
  });
  return result!;
}

/** The client's session, on a new connection (no resume: the whole board again). */
function sameSession(port: number, c: BoardClient): Promise<BoardClient> {
  return BoardClient.open(port, c.name, { session: c.welcome.session });
}

/** Ann and Bob each draw; each may undo and redo their own, only; anyone may erase; the eraser undoes the erase. */
async function ownershipRules(ann: BoardClient, bob: BoardClient): Promise<{ annStroke: number; bobStroke: number }> {
  const annStroke = (await outcome(ann, stroke('ann'))) as number;
  const annPiece = (await outcome(ann, stroke('ann'))) as number;
  const bobStroke = (await outcome(bob, stroke('bob'))) as number;

  assert.equal(await outcome(bob, { t: 'undo', id: id('u'), target: annStroke }), 'not-yours');
  assert.equal(await outcome(bob, { t: 'undo', id: id('u'), targets: [bobStroke, annStroke] }), 'not-yours', 'all or nothing');
  assert.equal(await outcome(bob, { t: 'undo', id: id('u'), target: 9999 }), 'no-such-stroke');
  assert.equal(bob.ws.readyState, bob.ws.OPEN, 'a refusal keeps the connection');

  const undo = await outcome(ann, { t: 'undo', id: id('u'), targets: [annStroke, annPiece] });
  assert.equal(typeof undo, 'number');
  await bob.waitForSeq(undo as number);
  assert.deepEqual(bob.board.at(-1), { t: 'undo', id: bob.board.at(-1)!.id, targets: [annStroke, annPiece], seq: undo });
  assert.equal(typeof (await outcome(ann, { t: 'undo', id: id('u'), targets: [annStroke, annPiece] })), 'number', 'a repeat is accepted');
  assert.equal(typeof (await outcome(ann, { t: 'redo', id: id('r'), targets: [annStroke, annPiece] })), 'number');

  const erase = (await outcome(bob, { t: 'erase', id: id('e'), targets: [annStroke, bobStroke] })) as number;
  assert.equal(typeof erase, 'number');
  assert.equal(await outcome(bob, { t: 'erase', id: id('e'), targets: [erase] }), 'no-such-stroke', 'an erase erases strokes only');
  assert.equal(await outcome(ann, { t: 'undo', id: id('u'), target: erase }), 'not-yours', 'only the eraser undoes an erase');
  assert.equal(typeof (await outcome(bob, { t: 'undo', id: id('u'), target: erase })), 'number');
  return { annStroke, bobStroke };
}

/** After a restart: the same sessions keep what is theirs. */
async function stillOwned(annAgain: BoardClient, bobAgain: BoardClient, s: { annStroke: number; bobStroke: number }): Promise<void> {
  assert.equal(await outcome(bobAgain, { t: 'undo', id: id('u'), target: s.annStroke }), 'not-yours');
  const undo = await outcome(annAgain, { t: 'undo', id: id('u'), target: s.annStroke });
  assert.equal(typeof undo, 'number');
  await bobAgain.waitForSeq(undo as number);
  assert.equal(typeof (await outcome(bobAgain, { t: 'redo', id: id('r'), target: s.bobStroke })), 'number');
}

async function onTwoWorkers(server: Smegchat, board: string): Promise<[BoardClient, BoardClient]> {
  const ann = await BoardClient.open(server.port, board);
  for (let i = 0; i < 20; i++) {
    const bob = await BoardClient.open(server.port, board);
    if (bob.welcome.worker !== ann.welcome.worker) return [ann, bob];
    await bob.close();
  }
  throw new Error('no second worker took a client in 20 tries');
}

describe('undo, redo and erase', () => {
  it('embedded engine: per session across workers, and after a supervisor restart', async (t: TestContext) => {
    const server = await startSmegchat(t, { workers: 2 });
    const [ann, bob] = await onTwoWorkers(server, 'undo');
    const seqs = await ownershipRules(ann, bob);
    await server.stop('SIGTERM');
    const again = await startSmegchat(t, { workers: 2, dataDir: server.dataDir });
    await stillOwned(await sameSession(again.port, ann), await sameSession(again.port, bob), seqs);
  });

  it('Redis engine: per session across hosts, and after a host restart', async (t: TestContext) => {
    const redis = await startRedis(t);
    const args = (name: string): string[] => ['--redis', redis.url, '--name', name];
    const one = await startSmegchat(t, { workers: 1, args: args('host1') });
    const two = await startSmegchat(t, { workers: 1, args: args('host2') });
    const ann = await BoardClient.open(one.port, 'undo');
    const bob = await BoardClient.open(two.port, 'undo');
    const seqs = await ownershipRules(ann, bob);
    await one.stop('SIGTERM');
    const back = await startSmegchat(t, { workers: 1, args: args('host1') });
    await stillOwned(await sameSession(two.port, ann), await sameSession(back.port, bob), seqs);
  });
});
