/** Drawing one stroke on a 2D context whose transform maps board units to device pixels. */
import type { Point } from '@smegchat/protocol';

export interface StrokeLike {
  readonly color: string;
  readonly width: number;
  readonly points: readonly Point[];
}

/** What a stroke's outline is traced into: a canvas context, a Path2D, or SVG path data. */
export interface PathSink {
  moveTo(x: number, y: number): void;
  quadraticCurveTo(cx: number, cy: number, x: number, y: number): void;
  lineTo(x: number, y: number): void;
}

/**
 * Traces a stroke of two or more points as a smooth curve: quadratic
 * segments through the midpoints of successive points, with each sampled
 * point as the control point. The curve starts and ends on the first and
 * last points, so a long stroke split into several messages (each starting
 * where the last one ended) joins up.
 */
export function traceStroke(sink: PathSink, pts: readonly Point[]): void {
  const first = pts[0]!;
  sink.moveTo(first[0], first[1]);
  for (let i = 1; i < pts.length - 1; i++) {
    const p = pts[i]!;
    const q = pts[i + 1]!;
    sink.quadraticCurveTo(p[0], p[1], (p[0] + q[0]) / 2, (p[1] + q[1]) / 2);
  }
  const last = pts[pts.length - 1]!;
  sink.lineTo(last[0], last[1]);
}

export function drawStroke(ctx: CanvasRenderingContext2D, s: StrokeLike): void {
  const pts = s.points;
  const first = pts[0];
  if (first === undefined) return;
  ctx.strokeStyle = s.color;
  ctx.fillStyle = s.color;
  ctx.lineWidth = s.width;
  ctx.beginPath();
  if (pts.length === 1) {
    // A tap: a dot as wide as the pen.
    ctx.arc(first[0], first[1], s.width / 2, 0, Math.PI * 2);
    ctx.fill();
    return;
  }
  traceStroke(ctx, pts);
  ctx.stroke();
}

/** Round caps and joins: what a pen does, and what makes segments of one stroke meet without gaps. */
export function preparePen(ctx: CanvasRenderingContext2D): void {
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
}
