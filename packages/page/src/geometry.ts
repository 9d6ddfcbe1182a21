/**
 * The board's coordinate space, shared by every client. Pure, no DOM.
 *
 * The board has no edge short of the protocol's `maxCoordinate`; what a page
 * shows first, and what fits a window on arrival, is the home sheet of
 * 1600 × 1000 units (16:10, the shape of most screens). Units are close to a
 * CSS pixel at that fit, because stroke widths are in board units too and the
 * protocol caps them at `maxWidth` (200): thin and thick pens both make
 * sense. Coordinates are sent with one decimal, finer than a device pixel at
 * any zoom the page allows but the deepest.
 */
import type { Point } from '@smegchat/protocol';

export const BOARD_WIDTH = 1600;
export const BOARD_HEIGHT = 1000;

/** An axis-aligned rectangle in board units. */
export interface Rect {
  readonly left: number;
  readonly top: number;
  readonly right: number;
  readonly bottom: number;
}

export const HOME: Rect = Object.freeze({ left: 0, top: 0, right: BOARD_WIDTH, bottom: BOARD_HEIGHT });

/** What a stroke of `width` through `points` covers, its round caps included. */
export function strokeBounds(points: readonly Point[], width: number): Rect {
  let left = Infinity;
  let top = Infinity;
  let right = -Infinity;
  let bottom = -Infinity;
  for (const [x, y] of points) {
    if (x < left) left = x;
    if (x > right) right = x;
    if (y < top) top = y;
    if (y > bottom) bottom = y;
  }
  const r = width / 2;
  return { left: left - r, top: top - r, right: right + r, bottom: bottom + r };
}

export function union(a: Rect | null, b: Rect): Rect {
  if (a === null) return b;
  return {
    left: Math.min(a.left, b.left),
    top: Math.min(a.top, b.top),
    right: Math.max(a.right, b.right),
    bottom: Math.max(a.bottom, b.bottom),
  };
}

export function intersects(a: Rect, b: Rect): boolean {
  return a.left <= b.right && b.left <= a.right && a.top <= b.bottom && b.top <= a.bottom;
}

/** `r` grown by `by` on every side, its edges rounded outwards to whole units. */
export function padOut(r: Rect, by: number): Rect {
  return {
    left: Math.floor(r.left - by),
    top: Math.floor(r.top - by),
    right: Math.ceil(r.right + by),
    bottom: Math.ceil(r.bottom + by),
  };
}

/**
 * Whether a round eraser of radius `r` at (x, y) touches a stroke of `width`
 * through `points` (its round caps and joins included).
 */
export function touchesStroke(points: readonly Point[], width: number, x: number, y: number, r: number): boolean {
  const reach = width / 2 + r;
  const reach2 = reach * reach;
  if (points.length === 1) return dist2(x, y, points[0]![0], points[0]![1]) <= reach2;
  for (let i = 1; i < points.length; i++) {
    const [ax, ay] = points[i - 1]!;
    const [bx, by] = points[i]!;
    const dx = bx - ax;
    const dy = by - ay;
    const len2 = dx * dx + dy * dy;
    const t = len2 === 0 ? 0 : clamp(((x - ax) * dx + (y - ay) * dy) / len2, 0, 1);
    if (dist2(x, y, ax + t * dx, ay + t * dy) <= reach2) return true;
  }
  return false;
}

function dist2(ax: number, ay: number, bx: number, by: number): number {
  return (ax - bx) ** 2 + (ay - by) ** 2;
}

/**
 * A board position as the page sends it: within ±`limit` (the protocol's
 * `maxCoordinate`), with one decimal, which keeps frames small.
 */
export function snapPoint(x: number, y: number, limit: number): Point {
  return [round1(clamp(x, -limit, limit)), round1(clamp(y, -limit, limit))];
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
