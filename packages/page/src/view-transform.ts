/**
 * The view: where the board is on this page's screen. Pure arithmetic, no
 * DOM, so it is tested without a browser (test/unit/view-transform.test.ts).
 *
 * Strokes are always in board units; the view only maps them to CSS pixels
 * of the board's canvas (`css = board × scale + (x, y)`). It is this page's
 * own business: zooming or panning changes nothing that is sent, so every
 * viewer sees the same board whatever their zoom. The one view serves both
 * ways: drawing (board → screen) and pointer input (screen → board).
 */
import type { Rect } from './geometry.js';

export interface View {
  /** CSS pixels per board unit. */
  readonly scale: number;
  /** Where the board's origin is, in CSS pixels from the canvas's top left. */
  readonly x: number;
  readonly y: number;
}

/**
 * Zoom bounds, as CSS pixels per board unit. Out to a fiftieth, so a board
 * fifty times the home sheet still fits a window; in to sixteen, where the
 * one-decimal coordinates the page sends are still finer than two pixels.
 */
export const MIN_SCALE = 0.02;
export const MAX_SCALE = 16;

export const IDENTITY: View = Object.freeze({ scale: 1, x: 0, y: 0 });

export function clampScale(s: number): number {
  return s < MIN_SCALE ? MIN_SCALE : s > MAX_SCALE ? MAX_SCALE : s;
}

/** A CSS-pixel position within the canvas to the board point under it. */
export function toBoard(v: View, cssX: number, cssY: number): [number, number] {
  return [(cssX - v.x) / v.scale, (cssY - v.y) / v.scale];
}

/** A board point to its CSS-pixel position within the canvas. */
export function toScreen(v: View, boardX: number, boardY: number): [number, number] {
  return [boardX * v.scale + v.x, boardY * v.scale + v.y];
}

/** The board rectangle a canvas of `width` × `height` CSS pixels shows. */
export function visibleRect(v: View, width: number, height: number): Rect {
  const [left, top] = toBoard(v, 0, 0);
  const [right, bottom] = toBoard(v, width, height);
  return { left, top, right, bottom };
}

/**
 * The view that shows `r` whole in `width` × `height` CSS pixels with
 * `margin` around it ("contain"), centred; but on a tall narrow screen (a
 * phone held upright) at the top, where the hand and the eye are, leaving
 * the space below for the chat. An empty rectangle is shown at the most zoom.
 */
export function fitRect(r: Rect, width: number, height: number, margin: number): View {
  const w = Math.max(1, width - 2 * margin);
  const h = Math.max(1, height - 2 * margin);
  const rw = r.right - r.left;
  const rh = r.bottom - r.top;
  const scale = clampScale(Math.min(rw > 0 ? w / rw : Infinity, rh > 0 ? h / rh : Infinity));
  const spare = height - rh * scale;
  const top = spare > height / 3 ? margin : spare / 2;
  return { scale, x: (width - rw * scale) / 2 - r.left * scale, y: top - r.top * scale };
}

/** Zooms by `factor` about a CSS-pixel position: the board point under it stays under it. */
export function zoomAt(v: View, cssX: number, cssY: number, factor: number): View {
  const scale = clampScale(v.scale * factor);
  const [bx, by] = toBoard(v, cssX, cssY);
  return { scale, x: cssX - bx * scale, y: cssY - by * scale };
}

/** Moves the board by a drag of `dx`, `dy` CSS pixels. */
export function panBy(v: View, dx: number, dy: number): View {
  return { scale: v.scale, x: v.x + dx, y: v.y + dy };
}

type Xy = readonly [number, number];

/**
 * Two fingers: `start` was the view when they were at `a0` and `b0`; they
 * are now at `a1` and `b1`. The board point under their midpoint follows the
 * midpoint, and the board scales as the distance between them does, so the
 * board sticks to the fingers.
 */
export function pinch(start: View, a0: Xy, b0: Xy, a1: Xy, b1: Xy): View {
  const d0 = Math.hypot(b0[0] - a0[0], b0[1] - a0[1]);
  const d1 = Math.hypot(b1[0] - a1[0], b1[1] - a1[1]);
  const m0: Xy = [(a0[0] + b0[0]) / 2, (a0[1] + b0[1]) / 2];
  const m1: Xy = [(a1[0] + b1[0]) / 2, (a1[1] + b1[1]) / 2];
  // Fingers that land on one spot have no distance to scale by: pan only.
  const zoomed = d0 > 0 && d1 > 0 ? zoomAt(start, m0[0], m0[1], d1 / d0) : start;
  return panBy(zoomed, m1[0] - m0[0], m1[1] - m0[1]);
}

/**
 * How much one wheel event zooms. Mouse wheels send about 100 pixels a
 * notch (or lines, or pages, by `deltaMode`); trackpad pinches arrive as
 * wheel events with `ctrlKey` and small deltas, so they get a steeper curve.
 * Exponential, so zooming in and out by the same amount returns to where it
 * began, and capped so a fast spin cannot jump the whole range at once.
 */
export function wheelZoomFactor(deltaY: number, deltaMode: number, pinching: boolean): number {
  const px = deltaY * (deltaMode === 1 ? 16 : deltaMode === 2 ? 800 : 1);
  const step = Math.max(-300, Math.min(300, px));
  return Math.exp(-step * (pinching ? 0.01 : 0.0015));
}

/**
 * Keeps the board point at the canvas's centre within ±`limit` on both
 * axes (the protocol's `maxCoordinate`), so no view is lost beyond where
 * anything could be drawn; and the scale within bounds.
 */
export function constrain(v: View, width: number, height: number, limit: number): View {
  const scale = clampScale(v.scale);
  const [cx, cy] = toBoard(v, width / 2, height / 2);
  const bx = Math.max(-limit, Math.min(limit, cx));
  const by = Math.max(-limit, Math.min(limit, cy));
  if (scale === v.scale && bx === cx && by === cy) return v;
  return { scale, x: width / 2 - bx * scale, y: height / 2 - by * scale };
}

/**
 * The CSS transform that shows a picture drawn at view `from` as if drawn at
 * `to` (a scale about the top left, then a translation, in CSS pixels): how
 * the canvas of confirmed strokes follows a gesture before it is redrawn.
 */
export function between(from: View, to: View): View {
  const scale = to.scale / from.scale;
  return { scale, x: to.x - from.x * scale, y: to.y - from.y * scale };
}

export function sameView(a: View, b: View): boolean {
  return a.scale === b.scale && a.x === b.x && a.y === b.y;
}
