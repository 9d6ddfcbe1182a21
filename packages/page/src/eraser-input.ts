/**
 * The eraser tool: a drag removes the visible strokes it touches. They are
 * hidden at once on this page, and sent as one `erase` when the pointer
 * lifts (docs/PROTOCOL.md#erase), which everyone, this page included, then
 * applies in seq order. Pointers that move the view stay ViewGestures'.
 */
import { touchesStroke } from './geometry.js';
import type { StrokeStore } from './stroke-store.js';
import type { ViewGestures } from './view-gestures.js';
import { toBoard, type View } from './view-transform.js';

/** The eraser's radius on screen, in CSS pixels, whatever the zoom. */
const RADIUS_PX = 10;

export class EraserInput {
  private pointer: number | null = null;
  private touched = new Set<number>();
  /** The last point looked at, in board units: the path between samples is swept too. */
  private last: [number, number] | null = null;

  constructor(
    private readonly target: HTMLElement,
    private readonly gestures: ViewGestures,
    private readonly view: () => View,
    private readonly strokes: StrokeStore,
    /** Hides a touched stroke on this page, before the erase is sequenced. */
    private readonly hide: (seq: number) => void,
    /** The drag ended having touched these strokes, in seq order. */
    private readonly erase: (seqs: number[]) => void,
  ) {
    target.addEventListener('pointerdown', (e) => this.down(e));
    target.addEventListener('pointermove', (e) => this.move(e));
    for (const type of ['pointerup', 'pointercancel', 'lostpointercapture'] as const) target.addEventListener(type, (e) => this.up(e));
  }

  get erasing(): boolean {
    return this.pointer !== null;
  }

  private down(e: PointerEvent): void {
    if (this.gestures.tool !== 'erase' || this.pointer !== null || this.gestures.claim(e)) return;
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    e.preventDefault();
    try {
      this.target.setPointerCapture(e.pointerId);
    } catch {
      // A pointer no longer active: erase without capture.
    }
    this.pointer = e.pointerId;
    this.last = null;
    this.sweep(e);
  }

  private move(e: PointerEvent): void {
    if (e.pointerId !== this.pointer) return;
    const samples = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
    for (const s of samples.length > 0 ? samples : [e]) this.sweep(s);
  }

  private up(e: PointerEvent): void {
    if (e.pointerId !== this.pointer) return;
    this.pointer = null;
    const seqs = [...this.touched].sort((a, b) => a - b);
    this.touched = new Set();
    if (seqs.length > 0) this.erase(seqs);
  }

  /** Erases along the path from the last point to this one, in steps of the radius. */
  private sweep(e: PointerEvent): void {
    const v = this.view();
    const rect = this.target.getBoundingClientRect();
    const [x, y] = toBoard(v, e.clientX - rect.left, e.clientY - rect.top);
    const r = RADIUS_PX / v.scale;
    const from = this.last ?? [x, y];
    const steps = Math.min(200, Math.ceil(Math.hypot(x - from[0], y - from[1]) / r));
    for (let i = 1; i <= Math.max(1, steps); i++) {
      const f = steps === 0 ? 1 : i / steps;
      this.touch(from[0] + (x - from[0]) * f, from[1] + (y - from[1]) * f, r);
    }
    this.last = [x, y];
  }

  private touch(x: number, y: number, r: number): void {
    const hit: number[] = [];
    for (const s of this.strokes.visible()) {
      const b = s.bounds;
      if (x < b.left - r || x > b.right + r || y < b.top - r || y > b.bottom + r) continue;
      if (touchesStroke(s.points, s.width, x, y, r)) hit.push(s.seq);
    }
    for (const seq of hit) {
      this.touched.add(seq);
      this.hide(seq);
    }
  }
}
