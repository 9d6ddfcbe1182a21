/** The sequencer on an in-memory engine: joins, fan-out to subscribed workers, refusals, leaving. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import bunyan from 'bunyan';
import type { ClientMessage, SupervisorMessage } from '@smegchat/protocol';
import { Outbox } from '@smegchat/supervisor/dist/sequencer/outbox.js';
import { Sequencer } from '@smegchat/supervisor/dist/sequencer/sequencer.js';
import { MemoryEngine } from './memory-engine.js';

const log = bunyan.createLogger({ name: 'test', level: 'fatal' });
const SESSION = 'a'.repeat(32);
const stroke = (id: string): ClientMessage => ({ t: 'stroke', id, color: '#000000', width: 2, points: [[1, 2]] });

function setup(): { sequencer: Sequencer; engine: MemoryEngine; worker: (label: string) => { outbox: Outbox; sent: SupervisorMessage[] } } {
  const sequencer = new Sequencer(log);
  const engine = new MemoryEngine(sequencer);
  sequencer.use(engine);
  const worker = (label: string): { outbox: Outbox; sent: SupervisorMessage[] } => {
    const sent: SupervisorMessage[] = [];
    return { outbox: new Outbox(label, (m) => sent.push(m)), sent };
  };
  return { sequencer, engine, worker };
}

/** What the sequencer queued leaves at the end of the task. */
const endOfTask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const delivered = (sent: SupervisorMessage[]): number[] => sent.flatMap((m) => (m.t === 'deliver' ? m.items.map((i) => i.seq) : []));

describe('Sequencer', () => {
  it('answers a join with the welcome fields and a fresh session, then subscribes the board', async () => {
    const { sequencer, engine, worker } = setup();
    const w = worker('1');
    sequencer.join(w.outbox, { t: 'join', req: 7, board: 'b' });
    await endOfTask();
    const joined = w.sent[0];
    assert.equal(joined?.t, 'joined');
    assert.ok(joined?.t === 'joined' && /^[0-9a-f]{32}$/.test(joined.session));
    assert.deepEqual(joined?.t === 'joined' && [joined.req, joined.seq, joined.frames.length], [7, 0, 0]);
    assert.ok(engine.subscribed.has('b'));
  });

  it('keeps a valid session a client resumes with', async () => {
    const { sequencer, worker } = setup();
    const w = worker('1');
    sequencer.join(w.outbox, { t: 'join', req: 1, board: 'b', session: SESSION });
    await endOfTask();
    assert.equal(w.sent[0]?.t === 'joined' && w.sent[0].session, SESSION);
  });

  it('sends each sequenced frame once to every subscribed worker, the sender included, in one deliver per task', async () => {
    const { sequencer, worker } = setup();
    const a = worker('a');
    const b = worker('b');
    sequencer.join(a.outbox, { t: 'join', req: 1, board: 'b' });
    sequencer.join(b.outbox, { t: 'join', req: 1, board: 'b' });
    await endOfTask();
    sequencer.submit(a.outbox, [
      { board: 'b', session: SESSION, cid: 1, msg: stroke('s1') },
      { board: 'b', session: SESSION, cid: 1, msg: stroke('s2') },
    ]);
    await endOfTask();
    for (const w of [a, b]) {
      assert.deepEqual(delivered(w.sent), [1, 2]);
      assert.equal(w.sent.filter((m) => m.t === 'deliver').length, 1);
    }
  });

  it('does not apply a resend twice, and says nothing about it', async () => {
    const { sequencer, worker } = setup();
    const a = worker('a');
    sequencer.join(a.outbox, { t: 'join', req: 1, board: 'b' });
    await endOfTask();
    const item = { board: 'b', session: SESSION, cid: 1, msg: stroke('s1') };
    sequencer.submit(a.outbox, [item]);
    sequencer.submit(a.outbox, [item]);
    await endOfTask();
    assert.deepEqual(delivered(a.sent), [1]);
    assert.equal(a.sent.filter((m) => m.t === 'reject').length, 0);
  });

  it('replays to a late joiner what it missed and sends it only what follows its head', async () => {
    const { sequencer, worker } = setup();
    const a = worker('a');
    const late = worker('late');
    sequencer.join(a.outbox, { t: 'join', req: 1, board: 'b' });
    await endOfTask();
    sequencer.submit(a.outbox, [{ board: 'b', session: SESSION, cid: 1, msg: stroke('s1') }]);
    sequencer.join(late.outbox, { t: 'join', req: 2, board: 'b' });
    sequencer.submit(a.outbox, [{ board: 'b', session: SESSION, cid: 1, msg: stroke('s2') }]);
    await endOfTask();
    const joined = late.sent[0];
    assert.equal(joined?.t === 'joined' && joined.seq, 1);
    assert.equal(joined?.t === 'joined' && joined.frames.length, 1);
    assert.deepEqual(delivered(late.sent), [2]);
  });

  it('drops a submit for a board the worker has not joined', async () => {
    const { sequencer, engine, worker } = setup();
    const a = worker('a');
    const stranger = worker('s');
    sequencer.join(a.outbox, { t: 'join', req: 1, board: 'b' });
    sequencer.submit(stranger.outbox, [{ board: 'b', session: SESSION, cid: 1, msg: stroke('x') }]);
    await endOfTask();
    assert.equal(engine.boards.get('b')?.head, 0);
  });

  it('refuses a join the engine refuses, with its close code', async () => {
    const { sequencer, engine, worker } = setup();
    engine.maxBoards = 0;
    const a = worker('a');
    sequencer.join(a.outbox, { t: 'join', req: 3, board: 'b' });
    await endOfTask();
    assert.deepEqual(a.sent, [{ t: 'refused', req: 3, code: 1013, reason: 'too many boards' }]);
  });

  it('tells the sender which message was refused, by its connection and id', async () => {
    const { sequencer, worker } = setup();
    const a = worker('a');
    sequencer.refuse(a.outbox, [{ cid: 4, id: 'x', code: 'bad-points', message: 'too many points' }]);
    await endOfTask();
    assert.deepEqual(a.sent, [{ t: 'reject', items: [{ cid: 4, id: 'x', code: 'bad-points', message: 'too many points' }] }]);
  });

  it('unsubscribes the board at the engine when its last worker leaves or dies', async () => {
    const { sequencer, engine, worker } = setup();
    const a = worker('a');
    const b = worker('b');
    sequencer.join(a.outbox, { t: 'join', req: 1, board: 'b' });
    sequencer.join(b.outbox, { t: 'join', req: 1, board: 'b' });
    sequencer.leave(a.outbox, 'b');
    assert.ok(engine.subscribed.has('b'));
    sequencer.detach(b.outbox);
    assert.ok(!engine.subscribed.has('b'));
  });
});
