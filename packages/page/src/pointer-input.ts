/**
 * Turns pointer events (mouse, pen, touch: each finger its own stroke) into
 * stroke segments in board coordinates. A stroke is sent while it is being
 * drawn, as a segment every FLUSH_MS, so others see it grow instead of
 * appearing when the pointer lifts; each segment starts at the point where
 * the previous one ended, so the pieces join into one line. Long strokes are
 * also split at MAX_SEGMENT_POINTS, well within the protocol's `maxPoints`.
 */
import { DEFAULT_LIMITS, type Point } from '@smegchat/protocol';
import type { Viewport } from './geometry.js';
import type { StrokeLike } from './render.js';

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

interface ActiveStroke {
  readonly pen: Pen;
  /** Points not sent yet; after the first segment, [0] is the last point already sent. */
  points: Point[];
  sentAny: boolean;
  /** Canvas position on screen at pointerdown (it does not move while drawing). */
  readonly left: number;
  readonly top: number;
}

export class PointerInput {
  private readonly active = new Map<number, ActiveStroke>();
  private flushTimer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly target: HTMLElement,
    private readonly viewport: Viewport,
    private readonly pen: () => Pen,
    /** Receives each finished segment, to be sent. */
    private readonly emit: (segment: StrokeLike) => void,
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
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    if (this.active.has(e.pointerId)) return;
    e.preventDefault();
    try {
      // Capture keeps the stroke going when the pointer leaves the canvas.
      this.target.setPointerCapture(e.pointerId);
    } catch {
      // A pointer that is no longer active (or a synthetic event): draw without capture.
    }
    const rect = this.target.getBoundingClientRect();
    const a: ActiveStroke = { pen: this.pen(), points: [], sentAny: false, left: rect.left, top: rect.top };
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
    this.active.delete(e.pointerId);
    if (e.type === 'pointerup') this.add(a, this.toBoard(a, e));
    this.flush(a, true);
    if (this.active.size === 0 && this.flushTimer !== null) {
      clearInterval(this.flushTimer);
      this.flushTimer = null;
    }
    this.changed();
  }

  private toBoard(a: ActiveStroke, e: PointerEvent): Point {
    return this.viewport.toBoard(e.clientX - a.left, e.clientY - a.top);
  }

  private add(a: ActiveStroke, p: Point): void {
    const last = a.points[a.points.length - 1];
    if (last !== undefined && Math.hypot(p[0] - last[0], p[1] - last[1]) < MIN_STEP) return;
    a.points.push(p);
    if (a.points.length >= MAX_SEGMENT_POINTS) this.flush(a, false);
  }

  private flushAll(): void {
    for (const a of this.active.values()) this.flush(a, false);
  }

  private flush(a: ActiveStroke, final: boolean): void {
    // After the first segment, points[0] was already sent: one point is nothing new.
    const fresh = a.sentAny ? a.points.length > 1 : final || a.points.length > 1;
    if (!fresh) return;
    this.emit({ color: a.pen.color, width: a.pen.width, points: a.points });
    a.sentAny = true;
    a.points = [a.points[a.points.length - 1]!];
  }
}
