/**
 * The page's view arithmetic (packages/page/src/view-transform.ts), without a
 * browser: the one transform that both drawing and pointer input go through.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HOME } from '@smegchat/page/geometry.js';
import {
  between,
  constrain,
  fitRect,
  MAX_SCALE,
  MIN_SCALE,
  panBy,
  pinch,
  toBoard,
  toScreen,
  visibleRect,
  wheelZoomFactor,
  zoomAt,
  type View,
} from '@smegchat/page/view-transform.js';

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual}, expected ${expected}`);

function closeXy(actual: readonly [number, number], expected: readonly [number, number], what: string): void {
  close(actual[0], expected[0], `${what} x`);
  close(actual[1], expected[1], `${what} y`);
}

describe('view-transform', () => {
  const v: View = { scale: 2, x: 100, y: -50 };

  describe('toScreen and toBoard', () => {
    it('map css = board × scale + offset, and back', () => {
      assert.deepEqual(toScreen(v, 10, 20), [120, -10]);
      assert.deepEqual(toBoard(v, 120, -10), [10, 20]);
      for (const p of [
        [0, 0],
        [-1234.5, 987.25],
        [1e6, -1e6],
      ] as const) {
        closeXy(toBoard(v, ...toScreen(v, p[0], p[1])), p, `round trip of ${p}`);
      }
    });
  });

  describe('fitRect', () => {
    it('fits the home sheet into a wide window, centred, with the margin on the tighter side', () => {
      const f = fitRect(HOME, 1280, 800, 16);
      close(f.scale, Math.min(1248 / 1600, 768 / 1000), 'scale');
      closeXy(toScreen(f, 800, 500), [640, 400], 'the centre of the sheet');
      const [left, top] = toScreen(f, 0, 0);
      const [right, bottom] = toScreen(f, 1600, 1000);
      close(left, 1280 - right, 'equal side margins');
      assert.ok(top >= 16 - 1e-9 && bottom <= 800 - 16 + 1e-9, `top ${top}, bottom ${bottom}`);
    });

    it('puts the sheet at the top of a tall phone, leaving room below', () => {
      const f = fitRect(HOME, 390, 700, 4);
      close(f.scale, 382 / 1600, 'scale');
      close(toScreen(f, 0, 0)[1], 4, 'top at the margin');
    });

    it('fits any rectangle, off the origin, and clamps the zoom for a tiny one', () => {
      const r = { left: -500, top: 2000, right: -300, bottom: 2200 };
      const f = fitRect(r, 1000, 1000, 0);
      close(f.scale, 5, 'scale');
      closeXy(toScreen(f, -400, 2100), [500, 500], 'centred');
      assert.equal(fitRect({ left: 5, top: 5, right: 5, bottom: 5 }, 800, 600, 10).scale, MAX_SCALE, 'a point is fitted at the most zoom');
      assert.equal(fitRect({ left: -1e6, top: -1e6, right: 1e6, bottom: 1e6 }, 800, 600, 10).scale, MIN_SCALE);
    });
  });

  describe('zoomAt', () => {
    it('keeps the board point under the pointer where it is', () => {
      const before = toBoard(v, 300, 200);
      const z = zoomAt(v, 300, 200, 1.7);
      close(z.scale, 3.4, 'scale');
      closeXy(toBoard(z, 300, 200), before, 'the point under the pointer');
    });

    it('is undone by the inverse factor, and stops at the bounds', () => {
      const back = zoomAt(zoomAt(v, 40, 60, 1.5), 40, 60, 1 / 1.5);
      close(back.scale, v.scale, 'scale');
      close(back.x, v.x, 'x');
      close(back.y, v.y, 'y');
      assert.equal(zoomAt(v, 0, 0, 1000).scale, MAX_SCALE);
      assert.equal(zoomAt(v, 0, 0, 1e-6).scale, MIN_SCALE);
      // Held at the bound, the point under the pointer still does not move.
      const held = zoomAt({ scale: MAX_SCALE, x: 3, y: 4 }, 500, 300, 2);
      assert.deepEqual(held, { scale: MAX_SCALE, x: 3, y: 4 });
    });
  });

  describe('panBy', () => {
    it('moves the board with the drag, at any zoom', () => {
      const p = panBy(v, 30, -20);
      assert.deepEqual(p, { scale: 2, x: 130, y: -70 });
      const [bx, by] = toBoard(v, 500, 500);
      closeXy(toScreen(p, bx, by), [530, 480], 'a board point follows the pointer');
    });
  });

  describe('pinch', () => {
    it('scales by the change of distance and keeps the board under the fingers', () => {
      const a0 = [100, 100] as const;
      const b0 = [200, 100] as const;
      const a1 = [50, 150] as const;
      const b1 = [250, 150] as const;
      const p = pinch(v, a0, b0, a1, b1);
      close(p.scale, 4, 'twice as far apart, twice the zoom');
      closeXy(toScreen(p, ...toBoard(v, 150, 100)), [150, 150], 'the point under the midpoint follows it');
      closeXy(toScreen(p, ...toBoard(v, ...a0)), a1, 'the point under one finger stays under it');
    });

    it('pans only when the fingers did not spread, or started on one spot', () => {
      assert.deepEqual(pinch(v, [0, 0], [10, 0], [5, 5], [15, 5]), { scale: 2, x: 105, y: -45 });
      assert.deepEqual(pinch(v, [7, 7], [7, 7], [9, 7], [30, 7]).scale, 2);
    });
  });

  describe('wheelZoomFactor', () => {
    it('zooms in for a wheel rolled away (negative delta), out towards the user, symmetrically', () => {
      const inward = wheelZoomFactor(-100, 0, false);
      assert.ok(inward > 1 && inward < 1.5, `one notch: ${inward}`);
      close(inward * wheelZoomFactor(100, 0, false), 1, 'in then out');
      close(wheelZoomFactor(-3, 1, false), wheelZoomFactor(-48, 0, false), 'lines are 16 pixels');
      assert.ok(wheelZoomFactor(-10, 0, true) > wheelZoomFactor(-10, 0, false), 'a trackpad pinch zooms more per pixel');
      close(wheelZoomFactor(-1e6, 0, false), wheelZoomFactor(-300, 0, false), 'a fast spin is capped');
    });
  });

  describe('visibleRect', () => {
    it('is the board rectangle under the canvas', () => {
      assert.deepEqual(visibleRect(v, 200, 100), { left: -50, top: 25, right: 50, bottom: 75 });
    });
  });

  describe('constrain', () => {
    it('leaves a view within the limit alone, and pulls a lost one back to the edge', () => {
      assert.equal(constrain(v, 800, 600, 1e6), v);
      const far = { scale: 1, x: -5e6, y: 0 };
      const c = constrain(far, 800, 600, 1e6);
      closeXy(toBoard(c, 400, 300), [1e6, 300], 'the centre at the limit');
      assert.equal(constrain({ scale: 1000, x: 0, y: 0 }, 800, 600, 1e6).scale, MAX_SCALE);
    });
  });

  describe('between', () => {
    it('maps a picture drawn at one view onto another', () => {
      const to = zoomAt(panBy(v, 40, 10), 100, 100, 1.5);
      const m = between(v, to);
      for (const p of [
        [0, 0],
        [33, -7],
        [-500, 250],
      ] as const) {
        const [fx, fy] = toScreen(v, p[0], p[1]);
        closeXy([fx * m.scale + m.x, fy * m.scale + m.y], toScreen(to, p[0], p[1]), `board point ${p}`);
      }
      assert.deepEqual(between(v, v), { scale: 1, x: 0, y: 0 });
    });
  });
});
