/**
 * The page's pure parts of undo, redo and the eraser (packages/page/src):
 * which strokes are shown after undo, redo and erase messages in seq order,
 * this user's undo steps rebuilt from the board's messages, and the
 * eraser's hit test.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SequencedMessage } from '@smegchat/protocol';
import { touchesStroke } from '@smegchat/page/geometry.js';
import { StrokeVisibility } from '@smegchat/page/stroke-visibility.js';
import { lineKey, UndoStack } from '@smegchat/page/undo-stack.js';

let seq = 0;
const stroke = (id: string): SequencedMessage => ({ t: 'stroke', id, color: '#000000', width: 2, points: [[0, 0]], seq: ++seq });
const undo = (id: string, targets: number[]): SequencedMessage => ({ t: 'undo', id, targets, seq: ++seq });
const redo = (id: string, target: number): SequencedMessage => ({ t: 'redo', id, target, seq: ++seq });
const erase = (id: string, targets: number[]): SequencedMessage => ({ t: 'erase', id, targets, seq: ++seq });

function hiddenAfter(messages: SequencedMessage[], strokes: number[]): boolean[] {
  const v = new StrokeVisibility();
  for (const m of messages) v.apply(m);
  return strokes.map((s) => v.hidden(s));
}

describe('StrokeVisibility', () => {
  it('hides undone strokes and shows them again on redo; repeats change nothing', () => {
    const a = stroke('a');
    const b = stroke('b');
    const v = new StrokeVisibility();
    v.apply(a);
    v.apply(b);
    assert.deepEqual(v.apply(undo('u', [a.seq, b.seq])), [
      [a.seq, true],
      [b.seq, true],
    ]);
    assert.deepEqual(v.apply(undo('u2', [a.seq])), [], 'a repeated undo changes nothing');
    assert.deepEqual(v.apply(redo('r', a.seq)), [[a.seq, false]]);
    assert.equal(v.hidden(b.seq), true);
  });

  it('an erase hides its strokes until its sender undoes it; a redo of the erase hides them again', () => {
    const a = stroke('a');
    const e = erase('e', [a.seq]);
    assert.deepEqual(hiddenAfter([a, e], [a.seq]), [true]);
    const u = undo('u', [e.seq]);
    assert.deepEqual(hiddenAfter([a, e, u], [a.seq]), [false]);
    assert.deepEqual(hiddenAfter([a, e, u, redo('r', e.seq)], [a.seq]), [true]);
  });

  it('keeps an erased stroke erased when its owner redoes it, and an undone one undone when the erase is undone', () => {
    const a = stroke('a');
    const e = erase('e', [a.seq]);
    assert.deepEqual(hiddenAfter([a, e, undo('u', [a.seq]), redo('r', a.seq)], [a.seq]), [true]);
    const ua = undo('ua', [a.seq]);
    const e2 = erase('e2', [a.seq]);
    assert.deepEqual(hiddenAfter([a, ua, e2, undo('ue', [e2.seq])], [a.seq]), [true]);
  });

  it('needs every erase naming a stroke undone before it shows', () => {
    const a = stroke('a');
    const e1 = erase('e1', [a.seq]);
    const e2 = erase('e2', [a.seq]);
    assert.deepEqual(hiddenAfter([a, e1, e2, undo('u', [e1.seq])], [a.seq]), [true]);
    assert.deepEqual(hiddenAfter([a, e1, e2, undo('u', [e1.seq]), undo('v', [e2.seq])], [a.seq]), [false]);
  });

  it('forgets everything at a clear', () => {
    const a = stroke('a');
    assert.deepEqual(hiddenAfter([a, undo('u', [a.seq]), { t: 'clear', id: 'c', seq: ++seq }], [a.seq]), [false]);
  });
});

describe('UndoStack', () => {
  const mine = (id: string) => id.startsWith('me-');

  it('makes one step of the pieces of a line, and one of an erase, ignoring what others sent', () => {
    assert.equal(lineKey('me-5.3'), 'me-5');
    const s = new UndoStack(mine);
    const p0 = stroke('me-1.0');
    const other = stroke('you-1.0');
    const p1 = stroke('me-1.1');
    const e = erase('me-2', [other.seq]);
    for (const m of [p0, other, p1, e]) s.confirmed(m, false);
    assert.deepEqual(s.takeUndo(), [e.seq]);
    assert.deepEqual(s.takeUndo(), [p0.seq, p1.seq]);
    assert.equal(s.takeUndo(), null);
    assert.deepEqual(s.takeRedo(), [p0.seq, p1.seq]);
    assert.equal(s.canRedo, true);
  });

  it('rebuilds the steps from a replay of its own undo and redo, and a new line forgets the redos', () => {
    const s = new UndoStack(mine);
    const a = stroke('me-1.0');
    const b = stroke('me-2.0');
    for (const m of [a, b, undo('me-3', [b.seq]), undo('me-4', [a.seq]), redo('me-5', a.seq)]) s.confirmed(m, false);
    assert.deepEqual(s.takeRedo(), [b.seq], 'b is still undone');
    assert.deepEqual(s.takeUndo(), [b.seq]);
    s.confirmed(stroke('me-6.0'), false);
    assert.equal(s.canRedo, false);
  });

  it('moves nothing on the echo of an undo this page already took', () => {
    const s = new UndoStack(mine);
    const a = stroke('me-1.0');
    s.confirmed(a, false);
    const targets = s.takeUndo()!;
    s.confirmed(undo('me-2', [...targets]), true);
    assert.equal(s.canUndo, false);
    assert.equal(s.canRedo, true);
  });
});

describe('touchesStroke', () => {
  it('reaches half the width plus the radius from the polyline, caps included', () => {
    const pts: [number, number][] = [
      [0, 0],
      [100, 0],
    ];
    assert.equal(touchesStroke(pts, 10, 50, 14, 10), true);
    assert.equal(touchesStroke(pts, 10, 50, 16, 10), false);
    assert.equal(touchesStroke(pts, 10, -14, 0, 10), true, 'the round cap');
    assert.equal(touchesStroke([[5, 5]], 2, 5, 10, 4), true, 'a dot');
  });
});
