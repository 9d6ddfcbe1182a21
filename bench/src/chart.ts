/**
 * The fan-out curves as a standalone SVG: p99 latency (log scale) against the
 * delivery rate reached, one line per server, with the p99 limit drawn, so a
 * reader sees where each one bends.
 */
import type { ServerKind } from './gen-protocol.js';
import type { Measurement } from './measure.js';

export interface Series {
  readonly kind: ServerKind;
  readonly label: string;
  readonly points: readonly Measurement[];
}

const COLORS: Record<ServerKind, string> = { smegchat: '#d9480f', socketio: '#1864ab', ws: '#2b8a3e', floor: '#868e96' };
const DASH: Record<ServerKind, string> = { smegchat: '', socketio: '6 4', ws: '2 3', floor: '1 4' };
const W = 860;
const H = 520;
const M = { left: 74, right: 24, top: 64, bottom: 64 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceStep(span: number): number {
  const raw = span / 8;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

export function renderChart(series: readonly Series[], title: string, subtitle: string, limitMs: number): string {
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.p99Ms) && p.deliveriesPerSec > 0);
  const xMax = Math.max(50_000, ...all.map((p) => p.deliveriesPerSec)) * 1.05;
  const yMinLog = Math.floor(Math.log10(Math.max(0.01, Math.min(1, ...all.map((p) => p.p99Ms)))));
  const yMaxLog = Math.ceil(Math.log10(Math.max(limitMs * 2, ...all.map((p) => p.p99Ms))));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (v: number): number => M.left + (v / xMax) * pw;
  const y = (ms: number): number => M.top + ph - ((Math.log10(Math.max(ms, 10 ** yMinLog)) - yMinLog) / (yMaxLog - yMinLog)) * ph;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${M.left}" y="26" font-size="17" font-weight="bold">${esc(title)}</text>`,
    `<text x="${M.left}" y="46" fill="#555">${esc(subtitle)}</text>`,
  );
  // Grid and axes.
  const step = niceStep(xMax);
  for (let v = 0; v <= xMax; v += step) {
    out.push(
      `<line x1="${x(v).toFixed(1)}" y1="${M.top}" x2="${x(v).toFixed(1)}" y2="${M.top + ph}" stroke="#e9ecef"/>`,
      `<text x="${x(v).toFixed(1)}" y="${M.top + ph + 18}" text-anchor="middle" fill="#333">${Math.round(v / 1000)}k</text>`,
    );
  }
  for (let e = yMinLog; e <= yMaxLog; e++) {
    const v = 10 ** e;
    out.push(
      `<line x1="${M.left}" y1="${y(v).toFixed(1)}" x2="${M.left + pw}" y2="${y(v).toFixed(1)}" stroke="#dee2e6"/>`,
      `<text x="${M.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" fill="#333">${v >= 1 ? v : v.toFixed(-e)} ms</text>`,
    );
    for (const m of [2, 5]) {
      if (e < yMaxLog)
        out.push(`<line x1="${M.left}" y1="${y(m * v).toFixed(1)}" x2="${M.left + pw}" y2="${y(m * v).toFixed(1)}" stroke="#f1f3f5"/>`);
    }
  }
  out.push(
    `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#adb5bd"/>`,
    `<line x1="${M.left}" y1="${y(limitMs).toFixed(1)}" x2="${M.left + pw}" y2="${y(limitMs).toFixed(1)}" stroke="#c92a2a" stroke-dasharray="8 5"/>`,
    // Below the line at the left, where the curves (still low there) leave room.
    `<text x="${M.left + 8}" y="${(y(limitMs) + 16).toFixed(1)}" fill="#c92a2a">p99 limit ${limitMs} ms</text>`,
    `<text x="${M.left + pw / 2}" y="${H - 18}" text-anchor="middle" fill="#333">deliveries per second reached (1,000 clients on one board)</text>`,
    `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">p99 latency (log scale)</text>`,
  );
  // The curves; a step that lost deliveries is drawn hollow.
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p.p99Ms) && p.deliveriesPerSec > 0);
    const color = COLORS[s.kind];
    if (pts.length > 1) {
      const d = pts.map((p, j) => `${j ? 'L' : 'M'}${x(p.deliveriesPerSec).toFixed(1)} ${y(p.p99Ms).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2.5" stroke-dasharray="${DASH[s.kind]}"/>`);
    }
    for (const p of pts) {
      const lost = p.lost > 0;
      out.push(
        `<circle cx="${x(p.deliveriesPerSec).toFixed(1)}" cy="${y(p.p99Ms).toFixed(1)}" r="4.5" fill="${lost ? '#fff' : color}" stroke="${color}" stroke-width="2"/>`,
      );
    }
    const ly = M.top + 16 + i * 20;
    const lx = M.left + 14;
    out.push(
      `<rect x="${lx - 6}" y="${ly - 13}" width="200" height="20" fill="#fff" fill-opacity="0.85"/>`,
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 28}" y2="${ly - 4}" stroke="${color}" stroke-width="2.5" stroke-dasharray="${DASH[s.kind]}"/>`,
      `<circle cx="${lx + 14}" cy="${ly - 4}" r="4" fill="${color}"/>`,
      `<text x="${lx + 36}" y="${ly}" fill="#212529">${esc(s.label)}</text>`,
    );
  });
  const ly = M.top + 16 + series.length * 20;
  out.push(
    `<circle cx="${M.left + 28}" cy="${ly - 4}" r="4" fill="#fff" stroke="#495057" stroke-width="2"/>`,
    `<text x="${M.left + 50}" y="${ly}" fill="#495057">deliveries lost at this step</text>`,
    '</svg>',
  );
  return out.join('\n');
}
