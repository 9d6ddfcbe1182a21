/**
 * The board as a file to take away: a PNG, or an SVG (strokes are
 * polylines smoothed by quadratic curves, which SVG paths say exactly).
 *
 * Both are drawn from the confirmed strokes only, what everyone sees, not
 * what this page still waits to have confirmed; and at the board's extent,
 * what the strokes cover with a margin (the home sheet when there are none),
 * whatever this page's zoom. The PNG is one pixel per board unit unless the
 * extent is too large for a canvas a phone can hold.
 */
import { HOME, padOut, type Rect } from './geometry.js';
import { PAPER } from './board-canvas.js';
import { drawStroke, preparePen, traceStroke, type PathSink } from './render.js';
import type { StrokeStore } from './stroke-store.js';

/** Board units of paper around the strokes. */
export const EXPORT_MARGIN = 16;
/** Browsers refuse canvases above about 16k on a side or 268M pixels; phones run out of memory well before. */
const MAX_SIDE = 8192;
const MAX_PIXELS = 4096 * 4096;
const COLOR = /^#[0-9a-fA-F]{6}$/;

export interface Extent extends Rect {
  /** Pixels per board unit in the PNG. */
  readonly scale: number;
}

export function exportExtent(store: StrokeStore): Extent {
  const r = store.bounds();
  const e = r === null ? HOME : padOut(r, EXPORT_MARGIN);
  const w = e.right - e.left;
  const h = e.bottom - e.top;
  return { ...e, scale: Math.min(1, MAX_SIDE / w, MAX_SIDE / h, Math.sqrt(MAX_PIXELS / (w * h))) };
}

export function renderPng(store: StrokeStore): Promise<Blob> {
  const e = exportExtent(store);
  const c = document.createElement('canvas');
  c.width = Math.max(1, Math.round((e.right - e.left) * e.scale));
  c.height = Math.max(1, Math.round((e.bottom - e.top) * e.scale));
  const ctx = c.getContext('2d', { alpha: false });
  if (ctx === null) return Promise.reject(new Error('this browser cannot draw on a canvas'));
  ctx.fillStyle = PAPER;
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.setTransform(e.scale, 0, 0, e.scale, -e.left * e.scale, -e.top * e.scale);
  preparePen(ctx);
  for (const s of store.visible()) drawStroke(ctx, s);
  return new Promise((resolve, reject) =>
    c.toBlob((b) => (b === null ? reject(new Error('the PNG could not be made')) : resolve(b)), 'image/png'),
  );
}

export function renderSvg(store: StrokeStore): string {
  const e = exportExtent(store);
  const [w, h] = [e.right - e.left, e.bottom - e.top];
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="${e.left} ${e.top} ${w} ${h}">`,
    `<rect x="${e.left}" y="${e.top}" width="${w}" height="${h}" fill="${PAPER}"/>`,
    '<g fill="none" stroke-linecap="round" stroke-linejoin="round">',
  ];
  for (const s of store.visible()) {
    // The server validated these; a file someone opens later is still no place to trust them blindly.
    if (!COLOR.test(s.color) || !Number.isFinite(s.width)) continue;
    const first = s.points[0];
    if (first === undefined) continue;
    if (s.points.length === 1) {
      out.push(`<circle cx="${num(first[0])}" cy="${num(first[1])}" r="${num(s.width / 2)}" fill="${s.color}"/>`);
    } else {
      const d = new SvgPath();
      traceStroke(d, s.points);
      out.push(`<path d="${d.text}" stroke="${s.color}" stroke-width="${num(s.width)}"/>`);
    }
  }
  out.push('</g>', '</svg>', '');
  return out.join('\n');
}

/** Saves a file through the browser's download, as a link the user clicked would. */
export function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has taken the blob by then; the URL would otherwise hold it for the page's life.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

class SvgPath implements PathSink {
  text = '';
  moveTo(x: number, y: number): void {
    this.text += `M${num(x)} ${num(y)}`;
  }
  quadraticCurveTo(cx: number, cy: number, x: number, y: number): void {
    this.text += `Q${num(cx)} ${num(cy)} ${num(x)} ${num(y)}`;
  }
  lineTo(x: number, y: number): void {
    this.text += `L${num(x)} ${num(y)}`;
  }
}

/** Points have one decimal and midpoints two: two decimals say them exactly, without float noise. */
function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}
