/**
 * The page's list of confirmed strokes (packages/page/src/stroke-store.ts),
 * without a browser: seq order, bounds, and hiding by seq for a later undo
 * or eraser.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StrokeStore } from '@smegchat/page/stroke-store.js';

const stroke = (seq: number, points: [number, number][], width = 2) => ({ seq, color: '#1e1e24', width, points });

describe('StrokeStore', () => {
  it('keeps strokes in seq order with their bounds, and refuses a seq that goes back', () => {
    const s = new StrokeStore();
    s.add(stroke(3, [[10, 10]]));
    s.add(
      stroke(
        7,
        [
          [0, 50],
          [100, -20],
        ],
        10,
      ),
    );
    assert.equal(s.length, 2);
    assert.deepEqual(s.at(1)?.bounds, { left: -5, top: -25, right: 105, bottom: 55 });
    assert.deepEqual(s.bounds(), { left: -5, top: -25, right: 105, bottom: 55 });
    assert.throws(() => s.add(stroke(7, [[0, 0]])), /seq 7 added after seq 7/);
    assert.equal(s.length, 2);
  });

  it('hides and shows a stroke by seq: a new revision each time, bounds of what is visible', () => {
    const s = new StrokeStore();
    for (let seq = 1; seq <= 100; seq++) s.add(stroke(seq * 2, [[seq, seq]]));
    const rev = s.revision;
    assert.equal(s.setHidden(200, true), true, 'the last one hidden');
    assert.equal(s.setHidden(200, true), false, 'already hidden');
    assert.equal(s.setHidden(201, true), false, 'no such seq');
    assert.equal(s.revision, rev + 1);
    assert.deepEqual(s.bounds(), { left: 0, top: 0, right: 100, bottom: 100 });
    assert.equal([...s.visible()].length, 99);
    assert.equal(s.get(200)?.hidden, true);
    assert.equal(s.setHidden(200, false), true);
    assert.equal(s.revision, rev + 2);
    assert.deepEqual(s.bounds(), { left: 0, top: 0, right: 101, bottom: 101 });
  });

  it('is empty after a clear, with no bounds, and takes seqs again from the start', () => {
    const s = new StrokeStore();
    s.add(stroke(5, [[1, 1]]));
    const rev = s.revision;
    s.clear();
    assert.equal(s.length, 0);
    assert.equal(s.bounds(), null);
    assert.ok(s.revision > rev);
    s.add(stroke(1, [[2, 2]]));
    assert.equal(s.length, 1);
  });
});
