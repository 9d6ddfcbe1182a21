/**
 * The board on screen: two canvases stacked in one host element, and the
 * view (view-transform.ts) that both are drawn with and input is read with.
 *
 * - `base` shows the confirmed strokes (a StrokeStore, in seq order). New
 *   strokes are painted onto it incrementally from the store, in animation
 *   frames with a time budget, so replaying a board of thousands of strokes
 *   costs a few frames instead of one layout per message, and the page stays
 *   responsive while it happens.
 * - `overlay` holds what this page drew that the server has not confirmed
 *   yet, and the stroke under the pointer. It is small, so it is simply
 *   redrawn whole, at the current view, when it changes.
 *
 * A pan or zoom must not wait for a redraw of thousands of strokes, nor
 * show a half-drawn board: the base canvas keeps the picture it has and is
 * moved and scaled by a CSS transform at once (the compositor's work, no
 * drawing), while the board is redrawn for the new view into a canvas off
 * screen, within the same frame budget, skipping strokes off screen by their
 * bounds. When that is done it is copied onto the base in one step and the
 * transform is dropped. A gesture that goes on meanwhile starts the next
 * redraw from the latest view, so the picture catches up every few frames.
 *
 * Both canvases are sized in device pixels (CSS size × devicePixelRatio) so
 * lines are sharp on high-density screens; a resize or a change of screen
 * redraws everything from the store.
 */
import { DEFAULT_LIMITS, type StrokeMessage } from '@smegchat/protocol';
import { HOME, intersects, type Rect } from './geometry.js';
import { drawStroke, preparePen, type StrokeLike } from './render.js';
import { StrokeStore } from './stroke-store.js';
import { between, constrain, fitRect, IDENTITY, panBy, sameView, visibleRect, zoomAt, type View } from './view-transform.js';

/** Milliseconds of stroke drawing per animation frame before yielding. */
const FRAME_BUDGET_MS = 10;
/** CSS pixels between what is fitted and the canvas's edge. */
const MARGIN = 16;
export const PAPER = '#ffffff';

/** A redraw of the whole board for one view, under way off screen. */
interface Redraw {
  readonly view: View;
  readonly revision: number;
  /** Index in the store of the next stroke to draw. */
  next: number;
  /** Milliseconds spent on it so far, over all frames. */
  spent: number;
}

export class BoardCanvas {
  readonly base: HTMLCanvasElement;
  readonly overlay: HTMLCanvasElement;
  /** The confirmed strokes: what the base canvas shows, and what an export draws. */
  readonly strokes = new StrokeStore();
  /** Called after every change of view (to show the zoom, say). */
  onViewChange: (v: View) => void = () => undefined;

  private readonly baseCtx: CanvasRenderingContext2D;
  private readonly overlayCtx: CanvasRenderingContext2D;
  private back: { canvas: HTMLCanvasElement; ctx: CanvasRenderingContext2D } | null = null;
  private dpr = 1;
  private cssWidth = 1;
  private cssHeight = 1;

  private current: View = IDENTITY;
  /** Whether the user moved the view; until then a resize fits the home sheet again. */
  private moved = false;

  /** The view the base canvas's pixels were drawn at; null when it holds nothing of use. */
  private baseView: View | null = null;
  private baseRevision = -1;
  /** Index in the store of the first stroke not yet on the base canvas. */
  private baseNext = 0;
  private redraw: Redraw | null = null;
  private overlayDirty = true;
  private frame: number | null = null;
  private lastRedrawMs: number | null = null;

  constructor(
    private readonly host: HTMLElement,
    /** What the overlay shows: pending and in-progress strokes, in drawing order. */
    private readonly overlaySource: () => Iterable<StrokeLike>,
  ) {
    this.base = makeCanvas('board-base');
    this.overlay = makeCanvas('board-overlay');
    host.append(this.base, this.overlay);
    this.baseCtx = context(this.base, false);
    this.overlayCtx = context(this.overlay, true);
    new ResizeObserver(() => this.resize()).observe(host);
    this.watchPixelRatio();
    this.resize();
  }

  /** Strokes confirmed but not yet painted at the current view (a pending redraw counts one); 0 when the board is shown whole. */
  get backlog(): number {
    const current = this.baseView !== null && this.baseRevision === this.strokes.revision && sameView(this.baseView, this.current);
    return this.strokes.length - this.baseNext + (current ? 0 : 1);
  }

  get strokeCount(): number {
    return this.strokes.length;
  }

  get view(): View {
    return this.current;
  }

  /** The canvas's size in CSS pixels. */
  get size(): { readonly width: number; readonly height: number } {
    return { width: this.cssWidth, height: this.cssHeight };
  }

  /** How long the last full redraw for a new view took, drawing only (ms); null before the first. */
  get lastRedrawTime(): number | null {
    return this.lastRedrawMs;
  }

  addConfirmed(s: StrokeMessage & { readonly seq: number }): void {
    this.strokes.add(s);
    this.schedule();
  }

  /** Empties the board (a clear, or a reset before the full board is replayed). */
  clear(): void {
    this.strokes.clear();
    this.schedule();
  }

  /** Hides or shows one confirmed stroke (for an undo or an eraser): the board is redrawn. */
  setHidden(seq: number, hidden: boolean): void {
    if (this.strokes.setHidden(seq, hidden)) this.schedule();
  }

  invalidateOverlay(): void {
    this.overlayDirty = true;
    this.schedule();
  }

  /** Moves the view (a pan, a zoom, a fit): shown at once, redrawn sharp within frames. */
  setView(v: View): void {
    const next = constrain(v, this.cssWidth, this.cssHeight, DEFAULT_LIMITS.maxCoordinate);
    this.moved = true;
    if (sameView(next, this.current)) return;
    this.current = next;
    this.followView();
    this.onViewChange(next);
  }

  /** Zooms by `factor` about a CSS position within the canvas. */
  zoomAt(cssX: number, cssY: number, factor: number): void {
    this.setView(zoomAt(this.current, cssX, cssY, factor));
  }

  /** Fits a board rectangle into the canvas; by default the confirmed strokes (the home sheet if none). */
  fit(r: Rect = this.strokes.bounds() ?? HOME): void {
    this.setView(fitRect(r, this.cssWidth, this.cssHeight, this.margin()));
  }

  private margin(): number {
    return this.cssWidth < 600 ? 4 : MARGIN;
  }

  private resize(): void {
    const rect = this.host.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    const [oldW, oldH] = [this.cssWidth, this.cssHeight];
    this.cssWidth = Math.max(1, rect.width);
    this.cssHeight = Math.max(1, rect.height);
    const w = Math.max(1, Math.round(this.cssWidth * this.dpr));
    const h = Math.max(1, Math.round(this.cssHeight * this.dpr));
    for (const c of [this.base, this.overlay]) {
      if (c.width !== w) c.width = w;
      if (c.height !== h) c.height = h;
    }
    // The user's view keeps its centre and zoom; the view of someone who has not moved it fits the home sheet again.
    const v = this.moved
      ? panBy(this.current, (this.cssWidth - oldW) / 2, (this.cssHeight - oldH) / 2)
      : fitRect(HOME, this.cssWidth, this.cssHeight, this.margin());
    this.current = constrain(v, this.cssWidth, this.cssHeight, DEFAULT_LIMITS.maxCoordinate);
    // Resizing a canvas empties it: everything is drawn again.
    this.baseView = null;
    this.followView();
    this.onViewChange(this.current);
  }

  /** devicePixelRatio changes when the window moves to another screen or the user zooms. */
  private watchPixelRatio(): void {
    const mq = matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
    mq.addEventListener(
      'change',
      () => {
        this.resize();
        this.watchPixelRatio();
      },
      { once: true },
    );
  }

  /** Shows the base canvas's picture at the current view (by CSS) until it is redrawn. */
  private followView(): void {
    const from = this.baseView;
    if (from === null || sameView(from, this.current)) {
      this.base.style.transform = '';
    } else {
      const m = between(from, this.current);
      this.base.style.transform = `matrix(${m.scale}, 0, 0, ${m.scale}, ${m.x}, ${m.y})`;
    }
    this.overlayDirty = true;
    this.schedule();
  }

  private schedule(): void {
    this.frame ??= requestAnimationFrame(() => this.paint());
  }

  private paint(): void {
    this.frame = null;
    const deadline = performance.now() + FRAME_BUDGET_MS;
    const store = this.strokes;
    // Nothing of use on the base canvas (a resize, a clear, a hidden stroke,
    // or no stroke drawn yet): start it over at the current view, in place.
    if (this.baseView === null || this.baseRevision !== store.revision || (this.baseNext === 0 && !sameView(this.baseView, this.current))) {
      this.redraw = null;
      this.baseView = this.current;
      this.baseRevision = store.revision;
      this.baseNext = 0;
      this.followView();
      fillPaper(this.baseCtx, this.base);
    }
    // New strokes go onto the base canvas at its own view, so they show even
    // while a redraw for a newer view is under way.
    this.baseNext = this.drawFrom(this.baseCtx, this.baseView, this.baseNext, deadline);

    if (this.redraw === null && !sameView(this.baseView, this.current)) this.startRedraw();
    if (this.redraw !== null && performance.now() < deadline) this.continueRedraw(deadline);

    if (this.overlayDirty) {
      this.overlayDirty = false;
      const o = this.overlayCtx;
      o.setTransform(1, 0, 0, 1, 0, 0);
      o.clearRect(0, 0, this.overlay.width, this.overlay.height);
      o.save();
      this.boardTransform(o, this.current);
      preparePen(o);
      for (const s of this.overlaySource()) drawStroke(o, s);
      o.restore();
    }
    if (this.redraw !== null || this.backlog > 0) this.schedule();
  }

  private startRedraw(): void {
    this.back ??= (() => {
      const canvas = document.createElement('canvas');
      return { canvas, ctx: context(canvas, false) };
    })();
    const { canvas, ctx } = this.back;
    if (canvas.width !== this.base.width) canvas.width = this.base.width;
    if (canvas.height !== this.base.height) canvas.height = this.base.height;
    fillPaper(ctx, canvas);
    this.redraw = { view: this.current, revision: this.strokes.revision, next: 0, spent: 0 };
  }

  private continueRedraw(deadline: number): void {
    const r = this.redraw!;
    const back = this.back!;
    const start = performance.now();
    r.next = this.drawFrom(back.ctx, r.view, r.next, deadline);
    r.spent += performance.now() - start;
    if (r.next < this.strokes.length) return;
    this.redraw = null;
    this.lastRedrawMs = r.spent;
    this.baseCtx.setTransform(1, 0, 0, 1, 0, 0);
    this.baseCtx.drawImage(back.canvas, 0, 0);
    this.baseView = r.view;
    this.baseNext = r.next;
    this.followView();
  }

  /** Draws the store's strokes from index `next` on, those on screen, until done or past `deadline`; returns the next index. */
  private drawFrom(ctx: CanvasRenderingContext2D, view: View, next: number, deadline: number): number {
    const store = this.strokes;
    const n = store.length;
    if (next >= n) return next;
    const onScreen = visibleRect(view, this.cssWidth, this.cssHeight);
    ctx.save();
    this.boardTransform(ctx, view);
    preparePen(ctx);
    let i = next;
    while (i < n) {
      const s = store.at(i++)!;
      if (!s.hidden && intersects(s.bounds, onScreen)) drawStroke(ctx, s);
      // Checking the clock every stroke costs more than drawing a short one.
      if ((i & 31) === 0 && performance.now() > deadline) break;
    }
    ctx.restore();
    return i;
  }

  private boardTransform(ctx: CanvasRenderingContext2D, v: View): void {
    const k = this.dpr * v.scale;
    ctx.setTransform(k, 0, 0, k, this.dpr * v.x, this.dpr * v.y);
  }
}

function makeCanvas(id: string): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.id = id;
  c.className = 'board-layer';
  return c;
}

function context(c: HTMLCanvasElement, overlay: boolean): CanvasRenderingContext2D {
  // `desynchronized` lets the browser show pen strokes with less latency where it can.
  const ctx = c.getContext('2d', { alpha: overlay, desynchronized: overlay });
  if (ctx === null) throw new Error('this browser cannot draw on a canvas');
  return ctx;
}

function fillPaper(ctx: CanvasRenderingContext2D, c: HTMLCanvasElement): void {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = PAPER;
  ctx.fillRect(0, 0, c.width, c.height);
}
