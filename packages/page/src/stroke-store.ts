/**
 * The confirmed strokes of the board since its last clear, in seq order:
 * what every redraw and every export is made from. Pure, no DOM.
 *
 * Each keeps its bounds, computed once, so a redraw at any pan or zoom skips
 * what is off screen without looking at points, and the board's extent is a
 * running union rather than a scan per stroke. A stroke can be hidden and
 * shown again by its seq (what an undo or an eraser will do), which the
 * store counts as a revision: a renderer that drew the old revision starts
 * over, since hiding one stroke uncovers whatever was beneath it.
 */
import type { Point } from '@smegchat/protocol';
import { strokeBounds, union, type Rect } from './geometry.js';

export interface ConfirmedStroke {
  readonly seq: number;
  readonly color: string;
  readonly width: number;
  readonly points: readonly Point[];
  readonly bounds: Rect;
  readonly hidden: boolean;
}

interface Entry extends ConfirmedStroke {
  hidden: boolean;
}

export class StrokeStore {
  private entries: Entry[] = [];
  /** Union of the visible strokes' bounds; null for none, undefined when it must be recomputed. */
  private extent: Rect | null | undefined = null;
  private rev = 0;

  /** Changes whenever strokes already added change (a clear, a hide, a show); adding does not change it. */
  get revision(): number {
    return this.rev;
  }

  get length(): number {
    return this.entries.length;
  }

  /** The `i`th stroke in seq order, hidden or not. */
  at(i: number): ConfirmedStroke | undefined {
    return this.entries[i];
  }

  /** Appends a stroke; seqs only grow (the link delivers them in order, each once). */
  add(s: { readonly seq: number; readonly color: string; readonly width: number; readonly points: readonly Point[] }): ConfirmedStroke {
    const last = this.entries[this.entries.length - 1];
    if (last !== undefined && s.seq <= last.seq) throw new Error(`stroke seq ${s.seq} added after seq ${last.seq}`);
    const e: Entry = {
      seq: s.seq,
      color: s.color,
      width: s.width,
      points: s.points,
      bounds: strokeBounds(s.points, s.width),
      hidden: false,
    };
    this.entries.push(e);
    if (this.extent !== undefined) this.extent = union(this.extent, e.bounds);
    return e;
  }

  clear(): void {
    this.entries = [];
    this.extent = null;
    this.rev++;
  }

  /** Hides or shows the stroke with `seq`; false if there is none, or it already was. */
  setHidden(seq: number, hidden: boolean): boolean {
    const e = this.find(seq);
    if (e === undefined || e.hidden === hidden) return false;
    e.hidden = hidden;
    if (hidden) this.extent = undefined;
    else if (this.extent !== undefined) this.extent = union(this.extent, e.bounds);
    this.rev++;
    return true;
  }

  get(seq: number): ConfirmedStroke | undefined {
    return this.find(seq);
  }

  /** The visible strokes, in seq order. */
  *visible(): Generator<ConfirmedStroke> {
    for (const e of this.entries) if (!e.hidden) yield e;
  }

  /** What the visible strokes cover; null when there are none. */
  bounds(): Rect | null {
    if (this.extent === undefined) {
      let r: Rect | null = null;
      for (const e of this.entries) if (!e.hidden) r = union(r, e.bounds);
      this.extent = r;
    }
    return this.extent;
  }

  /** Seqs grow along the list: a binary search. */
  private find(seq: number): Entry | undefined {
    let lo = 0;
    let hi = this.entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = this.entries[mid]!;
      if (e.seq === seq) return e;
      if (e.seq < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }
}
