/**
 * Turns pointer events (mouse, pen, a finger) into stroke segments in board
 * coordinates, through the page's one view (view-transform.ts).
 * Pointers that move the view are ViewGestures'; a second finger joining a
 * drawing one makes the two a pinch, and ends the stroke. A stroke is sent while it is being
 * drawn, as a segment every FLUSH_MS, so others see it grow instead of
 * appearing when the pointer lifts; each segment starts at the point where
 * the previous one ended, so the pieces join into one line. Long strokes are
 * also split at MAX_SEGMENT_POINTS, well within the protocol's `maxPoints`.
 */
import { DEFAULT_LIMITS, type Point } from '@smegchat/protocol';
import { snapPoint } from './geometry.js';
import type { StrokeLike } from './render.js';
import type { ViewGestures } from './view-gestures.js';
import { toBoard, type View } from './view-transform.js';

export interface Pen {
  readonly color: string;
  readonly width: number;
}

/**
 * How often a stroke in progress is sent. Each segment is one message of the
 * board's history, which is capped (`maxBoardMessages`), so this trades how
 * live a stroke looks to others against how much a board holds: ten a second
 * still reads as a line growing, and is an hour of drawing per 36,000 messages.
 */
const FLUSH_MS = 100;
const MAX_SEGMENT_POINTS = Math.min(400, DEFAULT_LIMITS.maxPoints);
/** Board units a pointer must move before a new point is kept: drops jitter, not shape. */
const MIN_STEP = 0.6;
/**
 * A finger's stroke is not sent before it is this old (unless it ends), so
 * a second finger landing a moment after the first makes a pinch without a
 * stray mark on everyone's board.
 */
const PINCH_GRACE_MS = 150;

interface ActiveStroke {
  readonly pen: Pen;
  readonly touch: boolean;
  readonly startedAt: number;
  /** Where the pointer last was, in client pixels: where a pinch it turns into starts. */
  clientX: number;
  clientY: number;
  /** Points not sent yet; after the first segment, [0] is the last point already sent. */
  points: Point[];
  sentAny: boolean;
  /** This line's number on this page, and how many pieces of it were sent. */
  readonly line: number;
  pieces: number;
  /** Canvas position on screen at pointerdown (it does not move while drawing). */
  readonly left: number;
  readonly top: number;
}

export class PointerInput {
  private readonly active = new Map<number, ActiveStroke>();
  private flushTimer: ReturnType<typeof setInterval> | null = null;
  private lines = 0;

  constructor(
    private readonly target: HTMLElement,
    private readonly view: () => View,
    private readonly gestures: ViewGestures,
    private readonly pen: () => Pen,
    /** Receives each finished segment, to be sent: `line` names the drawn line it is a piece of (its `piece`th, from 0). */
    private readonly emit: (segment: StrokeLike, line: number, piece: number) => void,
    /** The in-progress strokes changed: the overlay needs drawing. */
    private readonly changed: () => void,
  ) {
    target.addEventListener('pointerdown', (e) => this.down(e));
    target.addEventListener('pointermove', (e) => this.move(e));
    target.addEventListener('pointerup', (e) => this.up(e));
    target.addEventListener('pointercancel', (e) => this.up(e));
    target.addEventListener('lostpointercapture', (e) => this.up(e));
    // A long press on touch screens would otherwise open a context menu mid-stroke.
    target.addEventListener('contextmenu', (e) => e.preventDefault());
  }

  /** The parts of in-progress strokes not yet sent, for the overlay. */
  *live(): Generator<StrokeLike> {
    for (const a of this.active.values()) {
      if (a.points.length > 0) yield { color: a.pen.color, width: a.pen.width, points: a.points };
    }
  }

  get drawing(): boolean {
    return this.active.size > 0;
  }

  private down(e: PointerEvent): void {
    if (this.gestures.tool === 'erase' || this.active.has(e.pointerId) || this.gestures.claim(e)) return;
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    if (e.pointerType === 'touch') {
      const fingers = [...this.active].filter(([, a]) => a.touch);
      if (fingers.length === 1) {
        const [id, first] = fingers[0]!;
        this.end(id, first, false);
        this.gestures.pinchWith({ id, clientX: first.clientX, clientY: first.clientY }, e);
        return;
      }
    }
    e.preventDefault();
    try {
      // Capture keeps the stroke going when the pointer leaves the canvas.
      this.target.setPointerCapture(e.pointerId);
    } catch {
      // A pointer that is no longer active (or a synthetic event): draw without capture.
    }
    const rect = this.target.getBoundingClientRect();
    const a: ActiveStroke = {
      pen: this.pen(),
      touch: e.pointerType === 'touch',
      startedAt: performance.now(),
      clientX: e.clientX,
      clientY: e.clientY,
      points: [],
      sentAny: false,
      line: ++this.lines,
      pieces: 0,
      left: rect.left,
      top: rect.top,
    };
    a.points.push(this.toBoard(a, e));
    this.active.set(e.pointerId, a);
    this.flushTimer ??= setInterval(() => this.flushAll(), FLUSH_MS);
    this.changed();
  }

  private move(e: PointerEvent): void {
    const a = this.active.get(e.pointerId);
    if (a === undefined) return;
    // Coalesced events carry every sample the hardware made since the last
    // frame (often 2-8 per event for pens and fast mice): smoother curves.
    const samples = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
    for (const s of samples.length > 0 ? samples : [e]) this.add(a, this.toBoard(a, s));
    this.changed();
  }

  private up(e: PointerEvent): void {
    const a = this.active.get(e.pointerId);
    if (a === undefined) return;
    if (e.type === 'pointerup') this.add(a, this.toBoard(a, e));
    this.end(e.pointerId, a, true);
  }

  /**
   * Ends a stroke: `keep`, its last points are sent; else (it turned into a
   * pinch) what was not sent yet is dropped, which within PINCH_GRACE_MS is
   * all of it.
   */
  private end(id: number, a: ActiveStroke, keep: boolean): void {
    this.active.delete(id);
    if (keep || a.sentAny) this.flush(a, true);
    if (this.active.size === 0 && this.flushTimer !== null) {
      clearInterval(this.flushTimer);
      this.flushTimer = null;
    }
    this.changed();
  }

  private toBoard(a: ActiveStroke, e: PointerEvent): Point {
    a.clientX = e.clientX;
    a.clientY = e.clientY;
    const [x, y] = toBoard(this.view(), e.clientX - a.left, e.clientY - a.top);
    return snapPoint(x, y, DEFAULT_LIMITS.maxCoordinate);
  }

  private add(a: ActiveStroke, p: Point): void {
    const last = a.points[a.points.length - 1];
    if (last !== undefined && Math.hypot(p[0] - last[0], p[1] - last[1]) < MIN_STEP) return;
    a.points.push(p);
    if (a.points.length >= MAX_SEGMENT_POINTS) this.flush(a, false);
  }

  private flushAll(): void {
    const now = performance.now();
    for (const a of this.active.values()) {
      if (a.touch && !a.sentAny && now - a.startedAt < PINCH_GRACE_MS) continue;
      this.flush(a, false);
    }
  }

  private flush(a: ActiveStroke, final: boolean): void {
    // After the first segment, points[0] was already sent: one point is nothing new.
    const fresh = a.sentAny ? a.points.length > 1 : final || a.points.length > 1;
    if (!fresh) return;
    this.emit({ color: a.pen.color, width: a.pen.width, points: a.points }, a.line, a.pieces++);
    a.sentAny = true;
    a.points = [a.points[a.points.length - 1]!];
  }
}
