/** The embedded engine's board: sequencing, dedupe, bounds, replay and what it hands the log. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LIMITS, type ClientMessage } from '@smegchat/protocol';
import { Board } from '@smegchat/supervisor/dist/engine/embedded/board.js';

const header = { v: 1, epoch: 'e1', created: '2026-01-01T00:00:00.000Z' } as const;
const stroke = (id: string): ClientMessage => ({ t: 'stroke', id, color: '#000000', width: 2, points: [[1, 2]] });
const clear = (id: string): ClientMessage => ({ t: 'clear', id });
const seqs = (frames: string[]): number[] => frames.map((f) => (JSON.parse(f) as { seq: number }).seq);

function boardWith(...messages: ClientMessage[]): Board {
  const board = new Board('b', 'e1', header);
  for (const m of messages) board.sequence(m, 'tag', DEFAULT_LIMITS);
  return board;
}

describe('Board', () => {
  describe('#sequence', () => {
    it('gives each message the next seq and keeps it in the frame', () => {
      const board = new Board('b', 'e1', header);
      assert.deepEqual(board.sequence(stroke('a'), 't', DEFAULT_LIMITS), { kind: 'sequenced', seq: 1 });
      assert.deepEqual(board.sequence(stroke('b'), 't', DEFAULT_LIMITS), { kind: 'sequenced', seq: 2 });
      assert.equal(board.head, 2);
      assert.deepEqual(JSON.parse(board.replay(undefined, undefined).frames[1]!), { ...stroke('b'), seq: 2 });
    });

    it('answers a resent id of the same session as a duplicate, and the same id of another session as new', () => {
      const board = new Board('b', 'e1', header);
      board.sequence(stroke('a'), 'ann', DEFAULT_LIMITS);
      assert.deepEqual(board.sequence(stroke('a'), 'ann', DEFAULT_LIMITS), { kind: 'duplicate' });
      assert.deepEqual(board.sequence(stroke('a'), 'bob', DEFAULT_LIMITS), { kind: 'sequenced', seq: 2 });
    });

    it('refuses strokes past the message bound with board-full, and still takes a clear', () => {
      const limits = { ...DEFAULT_LIMITS, maxBoardMessages: 2 };
      const board = new Board('b', 'e1', header);
      board.sequence(stroke('a'), 't', limits);
      board.sequence(stroke('b'), 't', limits);
      const refused = board.sequence(stroke('c'), 't', limits);
      assert.equal(refused.kind, 'refused');
      assert.equal(refused.kind === 'refused' && refused.code, 'board-full');
      assert.equal(board.head, 2, 'a refused message takes no seq');
      assert.deepEqual(board.sequence(clear('x'), 't', limits), { kind: 'sequenced', seq: 3 });
      assert.deepEqual(board.sequence(stroke('c'), 't', limits), { kind: 'sequenced', seq: 4 });
    });

    it('refuses past the byte bound too', () => {
      const limits = { ...DEFAULT_LIMITS, maxBoardBytes: 100 };
      const board = new Board('b', 'e1', header);
      assert.equal(board.sequence(stroke('a'), 't', limits).kind, 'sequenced');
      assert.equal(board.sequence(stroke('b'), 't', limits).kind, 'refused');
    });
  });

  describe('#sequence of undo, redo and erase', () => {
    const undo = (id: string, targets: number[]): ClientMessage => ({ t: 'undo', id, targets });
    const redo = (id: string, target: number): ClientMessage => ({ t: 'redo', id, target });
    const erase = (id: string, targets: number[]): ClientMessage => ({ t: 'erase', id, targets });
    const code = (r: ReturnType<Board['sequence']>): string => (r.kind === 'refused' ? r.code : r.kind);

    it("sequences an undo and a redo of the sender's own strokes, again and again", () => {
      const board = new Board('b', 'e1', header);
      board.sequence(stroke('a'), 'ann', DEFAULT_LIMITS);
      board.sequence(stroke('b'), 'ann', DEFAULT_LIMITS);
      assert.deepEqual(board.sequence(undo('u1', [1, 2]), 'ann', DEFAULT_LIMITS), { kind: 'sequenced', seq: 3 });
      assert.deepEqual(board.sequence(undo('u2', [1, 2]), 'ann', DEFAULT_LIMITS), { kind: 'sequenced', seq: 4 });
      assert.deepEqual(board.sequence(redo('r1', 2), 'ann', DEFAULT_LIMITS), { kind: 'sequenced', seq: 5 });
      assert.deepEqual(JSON.parse(board.replay(4, 'e1').frames[0]!), { t: 'redo', id: 'r1', target: 2, seq: 5 });
    });

    it("refuses an undo of another session's stroke with not-yours, all or nothing, and takes no seq", () => {
      const board = new Board('b', 'e1', header);
      board.sequence(stroke('a'), 'ann', DEFAULT_LIMITS);
      board.sequence(stroke('b'), 'bob', DEFAULT_LIMITS);
      assert.equal(code(board.sequence(undo('u1', [1, 2]), 'ann', DEFAULT_LIMITS)), 'not-yours');
      assert.equal(code(board.sequence(redo('r1', 2), 'ann', DEFAULT_LIMITS)), 'not-yours');
      assert.equal(board.head, 2);
      // Refused, so not remembered: the same id may come again once it is right.
      assert.equal(code(board.sequence(undo('u1', [1]), 'ann', DEFAULT_LIMITS)), 'sequenced');
    });

    it('refuses no-such-stroke for a seq beyond the head, a chat, an undo, or a stroke before the last clear', () => {
      const board = new Board('b', 'e1', header);
      board.sequence(stroke('a'), 'ann', DEFAULT_LIMITS); // 1
      board.sequence({ t: 'chat', id: 'c', name: 'Ann', text: 'hi' }, 'ann', DEFAULT_LIMITS); // 2
      board.sequence(undo('u', [1]), 'ann', DEFAULT_LIMITS); // 3
      for (const target of [9, 2, 3])
        assert.equal(code(board.sequence(undo(`x${target}`, [target]), 'ann', DEFAULT_LIMITS)), 'no-such-stroke');
      board.sequence(clear('k'), 'ann', DEFAULT_LIMITS); // 4
      board.sequence(stroke('b'), 'ann', DEFAULT_LIMITS); // 5
      assert.equal(code(board.sequence(undo('y1', [1]), 'ann', DEFAULT_LIMITS)), 'no-such-stroke');
      assert.equal(code(board.sequence(undo('y4', [4]), 'ann', DEFAULT_LIMITS)), 'no-such-stroke', 'the clear itself');
      assert.equal(code(board.sequence(undo('y5', [5]), 'ann', DEFAULT_LIMITS)), 'sequenced');
    });

    it("erases anyone's strokes, only strokes, and lets the eraser (only) undo the erase", () => {
      const board = new Board('b', 'e1', header);
      board.sequence(stroke('a'), 'ann', DEFAULT_LIMITS); // 1
      board.sequence(stroke('b'), 'bob', DEFAULT_LIMITS); // 2
      assert.deepEqual(board.sequence(erase('e', [1, 2]), 'cat', DEFAULT_LIMITS), { kind: 'sequenced', seq: 3 });
      assert.equal(code(board.sequence(erase('e2', [3]), 'cat', DEFAULT_LIMITS)), 'no-such-stroke', 'an erase erases strokes only');
      assert.equal(code(board.sequence(undo('u', [3]), 'ann', DEFAULT_LIMITS)), 'not-yours');
      assert.equal(code(board.sequence(undo('u', [3]), 'cat', DEFAULT_LIMITS)), 'sequenced');
      assert.equal(code(board.sequence(redo('r', 3), 'cat', DEFAULT_LIMITS)), 'sequenced');
    });

    it('keeps who sent what across a restore from the log', () => {
      const original = new Board('b', 'e1', header);
      original.sequence(stroke('a'), 'ann', DEFAULT_LIMITS);
      original.sequence(stroke('b'), 'bob', DEFAULT_LIMITS);
      const write = original.takeWrite();
      const restored = Board.restore('b', 'e1', header, write.kind === 'append' ? write.entries : []);
      assert.equal(code(restored.sequence(undo('u', [2]), 'ann', DEFAULT_LIMITS)), 'not-yours');
      assert.equal(code(restored.sequence(undo('u', [1]), 'ann', DEFAULT_LIMITS)), 'sequenced');
    });
  });

  describe('#replay', () => {
    it('replays the whole board without since, and exactly what followed since in the same epoch', () => {
      const board = boardWith(stroke('a'), stroke('b'), stroke('c'));
      assert.deepEqual(seqs(board.replay(undefined, undefined).frames), [1, 2, 3]);
      assert.deepEqual(board.replay(1, 'e1'), { reset: false, frames: board.replay(undefined, undefined).frames.slice(1) });
      assert.deepEqual(board.replay(3, 'e1'), { reset: false, frames: [] });
    });

    it('says reset and replays everything for another epoch or a since beyond the head', () => {
      const board = boardWith(stroke('a'), stroke('b'));
      assert.deepEqual(board.replay(1, 'other'), { reset: true, frames: board.replay(undefined, undefined).frames });
      assert.equal(board.replay(9, 'e1').reset, true);
    });

    it('starts at the last clear: a client that missed it gets the clear itself first', () => {
      const board = boardWith(stroke('a'), stroke('b'), clear('x'), stroke('c'));
      assert.deepEqual(seqs(board.replay(undefined, undefined).frames), [3, 4]);
      assert.deepEqual(seqs(board.replay(1, 'e1').frames), [3, 4]);
      assert.deepEqual(seqs(board.replay(3, 'e1').frames), [4]);
    });
  });

  describe('#takeWrite and #takeUnpublished', () => {
    it('hands the log each line once, with its session tag, and publishes the same frames', () => {
      const board = new Board('b', 'e1', header);
      board.sequence(stroke('a'), 'ann', DEFAULT_LIMITS);
      board.sequence(stroke('b'), 'bob', DEFAULT_LIMITS);
      const write = board.takeWrite();
      assert.equal(write.kind, 'append');
      assert.deepEqual(write.kind === 'append' && write.entries.map((e) => e.tag), ['ann', 'bob']);
      assert.deepEqual(board.takeWrite(), { kind: 'none' });
      assert.deepEqual(
        board.takeUnpublished().map((i) => i.seq),
        [1, 2],
      );
      assert.deepEqual(board.takeUnpublished(), []);
    });

    it('after a clear, asks for the file to be rewritten with what follows the clear', () => {
      const board = boardWith(stroke('a'), clear('x'), stroke('b'));
      const write = board.takeWrite();
      assert.equal(write.kind, 'rewrite');
      assert.deepEqual(write.kind === 'rewrite' && seqs(write.entries.map((e) => e.frame)), [2, 3]);
    });
  });

  describe('.restore', () => {
    it('rebuilds head, replay and dedupe from the log entries', () => {
      const original = boardWith(stroke('a'), clear('x'), stroke('b'));
      const write = original.takeWrite();
      assert.equal(write.kind, 'rewrite');
      const restored = Board.restore('b', 'e1', header, write.kind === 'rewrite' ? write.entries : []);
      assert.equal(restored.head, 3);
      assert.deepEqual(restored.replay(undefined, undefined), original.replay(undefined, undefined));
      assert.deepEqual(restored.sequence(stroke('b'), 'tag', DEFAULT_LIMITS), { kind: 'duplicate' });
      assert.deepEqual(restored.sequence(stroke('c'), 'tag', DEFAULT_LIMITS), { kind: 'sequenced', seq: 4 });
    });
  });

  describe('#stored', () => {
    it('undoes what the disk did not take: the seqs are given again, the ids are new, nothing of it is published', () => {
      const board = new Board('b', 'e1', header);
      board.sequence(stroke('a'), 't', DEFAULT_LIMITS);
      board.takeWrite();
      assert.equal(board.stored(1), 0);
      board.takeUnpublished();
      board.sequence(stroke('b'), 't', DEFAULT_LIMITS);
      board.sequence(stroke('c'), 't', DEFAULT_LIMITS);
      board.sequence(stroke('d'), 't', DEFAULT_LIMITS);
      board.takeWrite();
      // Only b's line landed whole.
      assert.equal(board.stored(2), 2);
      assert.equal(board.head, 2);
      assert.deepEqual(
        board.takeUnpublished().map((i) => i.seq),
        [2],
      );
      assert.deepEqual(seqs(board.replay(undefined, undefined).frames), [1, 2]);
      assert.deepEqual(board.sequence(stroke('b'), 't', DEFAULT_LIMITS), { kind: 'duplicate' });
      assert.deepEqual(board.sequence(stroke('c'), 't', DEFAULT_LIMITS), { kind: 'sequenced', seq: 3 });
    });

    it('undoes a clear whose rewrite failed: the board before it comes back', () => {
      const board = boardWith(stroke('a'), stroke('b'));
      board.takeWrite();
      board.stored(2);
      board.sequence(stroke('c'), 't', DEFAULT_LIMITS);
      board.sequence(clear('x'), 't', DEFAULT_LIMITS);
      board.sequence(stroke('d'), 't', DEFAULT_LIMITS);
      assert.equal(board.takeWrite().kind, 'rewrite');
      assert.equal(board.stored(2), 3);
      assert.equal(board.head, 2);
      assert.deepEqual(seqs(board.replay(undefined, undefined).frames), [1, 2]);
      assert.deepEqual(board.replay(1, 'e1').frames.length, 1);
      assert.deepEqual(board.sequence(clear('x'), 't', DEFAULT_LIMITS), { kind: 'sequenced', seq: 3 });
    });
  });

  describe('.restore with seqs left out (corrupt lines)', () => {
    it('replays around the gap and finds targets by seq', () => {
      const original = boardWith(stroke('a'), stroke('b'), stroke('c'), stroke('d'));
      const write = original.takeWrite();
      const entries = write.kind === 'append' ? write.entries.filter((_, i) => i !== 1) : [];
      const restored = Board.restore('b', 'e2', header, entries);
      assert.equal(restored.head, 4);
      assert.deepEqual(seqs(restored.replay(undefined, undefined).frames), [1, 3, 4]);
      assert.deepEqual(seqs(restored.replay(1, 'e2').frames), [3, 4]);
      assert.deepEqual(seqs(restored.replay(2, 'e2').frames), [3, 4]);
      const undo = (id: string, targets: number[]): ClientMessage => ({ t: 'undo', id, targets });
      assert.equal(restored.sequence(undo('u1', [2]), 'tag', DEFAULT_LIMITS).kind, 'refused');
      assert.deepEqual(restored.sequence(undo('u2', [3]), 'tag', DEFAULT_LIMITS), { kind: 'sequenced', seq: 5 });
    });
  });
});
