/**
 * The board on screen: two canvases stacked in one host element.
 *
 * - `base` holds every confirmed stroke, in seq order. Strokes are drawn onto
 *   it incrementally from a queue, in animation frames with a time budget, so
 *   replaying a board of thousands of strokes costs a few frames instead of
 *   one layout per message, and the page stays responsive while it happens.
 * - `overlay` holds what this page drew that the server has not confirmed
 *   yet, and the stroke under the pointer. It is small, so it is simply
 *   redrawn whole when it changes.
 *
 * Both are sized in device pixels (CSS size × devicePixelRatio) so lines are
 * sharp on high-density screens; a resize or a change of screen redraws
 * everything from the confirmed strokes.
 */
import type { StrokeMessage } from '@smegchat/protocol';
import { BOARD_HEIGHT, BOARD_WIDTH, Viewport } from './geometry.js';
import { drawStroke, preparePen, type StrokeLike } from './render.js';

/** Milliseconds of stroke drawing per animation frame before yielding. */
const FRAME_BUDGET_MS = 10;
/** CSS pixels between the board's edge and the canvas's. */
const MARGIN = 16;
const SURROUND = '#e8eaee';
export const PAPER = '#ffffff';

export class BoardCanvas {
  readonly viewport = new Viewport();
  readonly base: HTMLCanvasElement;
  readonly overlay: HTMLCanvasElement;
  private readonly baseCtx: CanvasRenderingContext2D;
  private readonly overlayCtx: CanvasRenderingContext2D;
  private dpr = 1;

  /** Confirmed strokes since the last clear, in seq order: what a full redraw draws. */
  private strokes: StrokeMessage[] = [];
  /** Index in `strokes` of the first one not yet on the base canvas. */
  private drawn = 0;
  private wipe = true;
  private overlayDirty = true;
  private frame: number | null = null;

  constructor(
    private readonly host: HTMLElement,
    /** What the overlay shows: pending and in-progress strokes, in drawing order. */
    private readonly overlaySource: () => Iterable<StrokeLike>,
  ) {
    this.base = makeCanvas('board-base');
    this.overlay = makeCanvas('board-overlay');
    host.append(this.base, this.overlay);
    this.baseCtx = context(this.base);
    this.overlayCtx = context(this.overlay);
    new ResizeObserver(() => this.resize()).observe(host);
    this.watchPixelRatio();
    this.resize();
  }

  /** Strokes confirmed but not yet painted; 0 when the canvas shows the whole board. */
  get backlog(): number {
    return this.strokes.length - this.drawn + (this.wipe ? 1 : 0);
  }

  get strokeCount(): number {
    return this.strokes.length;
  }

  addConfirmed(s: StrokeMessage): void {
    this.strokes.push(s);
    this.schedule();
  }

  /** Empties the board (a clear, or a reset before the full board is replayed). */
  clear(): void {
    this.strokes = [];
    this.drawn = 0;
    this.wipe = true;
    this.schedule();
  }

  invalidateOverlay(): void {
    this.overlayDirty = true;
    this.schedule();
  }

  private resize(): void {
    const rect = this.host.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(rect.width * this.dpr));
    const h = Math.max(1, Math.round(rect.height * this.dpr));
    for (const c of [this.base, this.overlay]) {
      if (c.width !== w) c.width = w;
      if (c.height !== h) c.height = h;
    }
    this.viewport.fit(rect.width, rect.height, rect.width < 600 ? 4 : MARGIN);
    // Resizing a canvas empties it: everything is drawn again.
    this.drawn = 0;
    this.wipe = true;
    this.overlayDirty = true;
    this.schedule();
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

  private schedule(): void {
    this.frame ??= requestAnimationFrame(() => this.paint());
  }

  private boardTransform(ctx: CanvasRenderingContext2D): void {
    const v = this.viewport;
    const k = this.dpr * v.scale;
    ctx.setTransform(k, 0, 0, k, this.dpr * v.offsetX, this.dpr * v.offsetY);
  }

  private paint(): void {
    this.frame = null;
    const start = performance.now();
    const ctx = this.baseCtx;
    if (this.wipe) {
      this.wipe = false;
      this.drawn = 0;
      paintBackground(ctx, this.base, this.dpr, this.viewport);
    }
    if (this.drawn < this.strokes.length) {
      ctx.save();
      this.boardTransform(ctx);
      clipToBoard(ctx);
      preparePen(ctx);
      while (this.drawn < this.strokes.length) {
        drawStroke(ctx, this.strokes[this.drawn++]!);
        // Checking the clock every stroke costs more than drawing a short one.
        if ((this.drawn & 31) === 0 && performance.now() - start > FRAME_BUDGET_MS) break;
      }
      ctx.restore();
    }
    if (this.overlayDirty) {
      this.overlayDirty = false;
      const o = this.overlayCtx;
      o.setTransform(1, 0, 0, 1, 0, 0);
      o.clearRect(0, 0, this.overlay.width, this.overlay.height);
      o.save();
      this.boardTransform(o);
      clipToBoard(o);
      preparePen(o);
      for (const s of this.overlaySource()) drawStroke(o, s);
      o.restore();
    }
    if (this.drawn < this.strokes.length) this.schedule();
  }
}

function makeCanvas(id: string): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.id = id;
  c.className = 'board-layer';
  return c;
}

function context(c: HTMLCanvasElement): CanvasRenderingContext2D {
  // `desynchronized` lets the browser show pen strokes with less latency where it can.
  const ctx = c.getContext('2d', { alpha: c.id !== 'board-base', desynchronized: c.id === 'board-overlay' });
  if (ctx === null) throw new Error('this browser cannot draw on a canvas');
  return ctx;
}

function clipToBoard(ctx: CanvasRenderingContext2D): void {
  ctx.beginPath();
  ctx.rect(0, 0, BOARD_WIDTH, BOARD_HEIGHT);
  ctx.clip();
}

/** The grey surround and the sheet of paper, with a soft shadow so the board's edge is clear. */
function paintBackground(ctx: CanvasRenderingContext2D, c: HTMLCanvasElement, dpr: number, v: Viewport): void {
  ctx.save();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = SURROUND;
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.shadowColor = 'rgba(20, 30, 50, 0.18)';
  ctx.shadowBlur = 12;
  ctx.shadowOffsetY = 2;
  ctx.fillStyle = PAPER;
  ctx.fillRect(v.offsetX, v.offsetY, BOARD_WIDTH * v.scale, BOARD_HEIGHT * v.scale);
  ctx.restore();
}
