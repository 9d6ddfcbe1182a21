/**
 * The bench's table: one row per figure, one column per server, and the
 * ratios smegchat ÷ socket.io and smegchat ÷ ws, and every server ÷ the floor
 * (the minimal writer, issue 16), since on a shared machine a ratio taken in
 * one run means more than any absolute number.
 */
import type { CeilingResult, CeilingRun } from './ceiling.js';
import { median } from './stats.js';
import type { ServerKind } from './gen-protocol.js';
import { redisRows } from './redis-report.js';
import { holds, type BenchConfig, type ServerResults } from './scenarios.js';

export interface Row {
  readonly label: string;
  readonly unit: string;
  /** Which way is better, for the reader; null where it is informational. */
  readonly better: 'higher' | 'lower' | null;
  readonly digits: number;
  readonly values: Partial<Record<ServerKind, number | null>>;
  /** The target for smegchat, in words. */
  readonly target: string;
  /** The row's ratios (RATIOS' keys), null where a side is missing or zero; in the JSON too. */
  readonly ratios?: Readonly<Record<string, number | null>>;
}

const KINDS: readonly ServerKind[] = ['smegchat', 'socketio', 'ws', 'floor'];

/** The ratios every row gets: numerator, denominator, column heading. */
const RATIOS: readonly (readonly [ServerKind, ServerKind, string])[] = [
  ['smegchat', 'socketio', 'smeg÷sio'],
  ['smegchat', 'ws', 'smeg÷ws'],
  ['smegchat', 'floor', 'smeg÷floor'],
  ['socketio', 'floor', 'sio÷floor'],
  ['ws', 'floor', 'ws÷floor'],
];

function ratioValue(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return null;
  return a / b;
}

function withRatios(row: Row): Row {
  const ratios: Record<string, number | null> = {};
  for (const [a, b, heading] of RATIOS) ratios[heading] = ratioValue(row.values[a], row.values[b]);
  return { ...row, ratios };
}

/**
 * The highest fan-out step smegchat, ws and the floor all held (issue 16's
 * second load for its goals), or null when there is none.
 */
function highestHeldByAll(cfg: BenchConfig, results: Record<string, ServerResults>): number | null {
  const kinds = (['smegchat', 'ws', 'floor'] as const).filter((k) => results[k]?.fanout);
  if (kinds.length === 0) return null;
  const held = (k: ServerKind, perSec: number): boolean => {
    const step = results[k]!.fanout!.steps.find((s) => s.offeredPerSec === perSec);
    return step !== undefined && holds(step, cfg.p99LimitMs);
  };
  const steps = [...cfg.fanout.steps].sort((a, b) => b - a);
  return steps.find((perSec) => kinds.every((k) => held(k, perSec))) ?? null;
}

export function buildRows(cfg: BenchConfig, results: Record<string, ServerResults>): Row[] {
  const pick = (f: (r: ServerResults) => number | null | undefined): Partial<Record<ServerKind, number | null>> => {
    const out: Partial<Record<ServerKind, number | null>> = {};
    for (const k of KINDS) {
      const r = results[k];
      if (!r) continue;
      const v = f(r);
      out[k] = v === undefined || v === null || !Number.isFinite(v) ? null : v;
    }
    return out;
  };
  const k = (n: number): string => `${Math.round(n / 1000)}k`;
  const f = cfg.fanout;
  const allHeld = highestHeldByAll(cfg, results);
  const rows: Row[] = [];
  if (cfg.scenarios.includes('fanout')) {
    rows.push(
      {
        label: `fan-out held (${f.clients} clients, 1 board, ${f.workers} workers, p99 ≤ ${cfg.p99LimitMs} ms, no loss)`,
        unit: 'deliv/s',
        better: 'higher',
        digits: 0,
        values: pick((r) => r.fanout?.maxHeldPerSec),
        target: '≥ ws, > socket.io',
      },
      {
        label: `server CPU per delivery @ ${k(f.cpuAtPerSec)}/s (all processes)`,
        unit: 'µs',
        better: 'lower',
        digits: 2,
        values: pick((r) => r.fanout?.atCpuLoad?.serverCpuPerDeliveryUs),
        target: '≤ 1.15 × floor, ≤ 0.9 × ws',
      },
      {
        label: `server CPU @ ${k(f.cpuAtPerSec)}/s`,
        unit: '% core',
        better: 'lower',
        digits: 0,
        values: pick((r) => r.fanout?.atCpuLoad?.serverCpuPercent),
        target: '',
      },
      {
        label: `generator CPU per delivery @ ${k(f.cpuAtPerSec)}/s`,
        unit: 'µs',
        better: null,
        digits: 2,
        values: pick((r) => r.fanout?.atCpuLoad?.generatorCpuPerDeliveryUs),
        target: '(the load generator itself)',
      },
      {
        label: `p50 latency @ ${k(f.latencyPerSec)}/s, 1 board`,
        unit: 'ms',
        better: 'lower',
        digits: 2,
        values: pick((r) => r.fanout?.latency.p50Ms),
        target: '',
      },
      {
        label: `p99 latency @ ${k(f.latencyPerSec)}/s, 1 board`,
        unit: 'ms',
        better: 'lower',
        digits: 2,
        values: pick((r) => r.fanout?.latency.p99Ms),
        target: '≤ 1.2 × ws',
      },
      ...(allHeld === null
        ? []
        : [
            {
              label: `server CPU per delivery @ ${k(allHeld)}/s, the highest step smegchat, ws and floor all held`,
              unit: 'µs',
              better: 'lower' as const,
              digits: 2,
              values: pick((r) => r.fanout?.steps.find((s) => s.offeredPerSec === allHeld)?.serverCpuPerDeliveryUs),
              target: '≤ 1.15 × floor, ≤ 0.9 × ws',
            },
            {
              label: `p99 latency @ ${k(allHeld)}/s, 1 board`,
              unit: 'ms',
              better: 'lower' as const,
              digits: 2,
              values: pick((r) => r.fanout?.steps.find((s) => s.offeredPerSec === allHeld)?.p99Ms),
              target: '',
            },
          ]),
      {
        label: `server CPU per delivery @ ${k(f.latencyPerSec)}/s`,
        unit: 'µs',
        better: 'lower',
        digits: 2,
        values: pick((r) => r.fanout?.latency.serverCpuPerDeliveryUs),
        target: '',
      },
      {
        label: 'sampled clients (of 20) out of order, fan-out runs',
        unit: 'clients',
        better: 'lower',
        digits: 0,
        values: pick((r) =>
          r.fanout ? Math.max(r.fanout.latency.order.disagreeing, ...r.fanout.steps.map((s) => s.order.disagreeing)) : null,
        ),
        target: '0 always',
      },
    );
  }
  if (cfg.scenarios.includes('boards')) {
    const b = cfg.boards;
    rows.push(
      {
        label: `many boards p50 (${b.clients} clients, ${b.boards} boards @ ${k(b.offeredPerSec)}/s)`,
        unit: 'ms',
        better: 'lower',
        digits: 2,
        values: pick((r) => r.boards?.p50Ms),
        target: '',
      },
      { label: 'many boards p99', unit: 'ms', better: 'lower', digits: 2, values: pick((r) => r.boards?.p99Ms), target: '' },
      {
        label: 'many boards server CPU per delivery',
        unit: 'µs',
        better: 'lower',
        digits: 2,
        values: pick((r) => r.boards?.serverCpuPerDeliveryUs),
        target: '',
      },
      { label: 'many boards lost', unit: 'deliv', better: 'lower', digits: 0, values: pick((r) => r.boards?.lost), target: '0' },
    );
  }
  if (cfg.scenarios.includes('memory')) {
    rows.push({
      label: `memory per connection (${cfg.memory.connections} idle, ${cfg.memory.workers} workers, RSS all processes)`,
      unit: 'KiB',
      better: 'lower',
      digits: 1,
      values: pick((r) => (r.memory ? r.memory.perConnectionBytes / 1024 : null)),
      target: '≤ 0.5 × socket.io',
    });
  }
  if (cfg.scenarios.includes('restart')) {
    const w = cfg.restart.workers;
    rows.push(
      {
        label: `kill -9 a worker (${w} workers): replacement ready`,
        unit: 'ms',
        better: 'lower',
        digits: 0,
        values: pick((r) => r.restart?.replacementReadyMs),
        target: '≤ 250',
      },
      {
        label: 'kill -9: longest stroke gap a dropped client saw',
        unit: 'ms',
        better: 'lower',
        digits: 0,
        values: pick((r) => r.restart?.outage.gapMsMax),
        target: '',
      },
      {
        label: 'kill -9: strokes lost (resume should leave none)',
        unit: 'deliv',
        better: 'lower',
        digits: 0,
        values: pick((r) => r.restart?.m.lost),
        target: '0',
      },
      {
        label: `rolling reload of ${w} workers under load: duration`,
        unit: 's',
        better: 'lower',
        digits: 2,
        values: pick((r) => (r.reload ? r.reload.durationMs / 1000 : null)),
        target: '',
      },
      {
        label: 'reload: longest stroke gap a moved client saw',
        unit: 'ms',
        better: 'lower',
        digits: 0,
        values: pick((r) => r.reload?.outage.gapMsMax),
        target: '',
      },
      { label: 'reload: strokes lost', unit: 'deliv', better: 'lower', digits: 0, values: pick((r) => r.reload?.m.lost), target: '0' },
      {
        label: 'kill -9 of an idle worker → slot serving, warm spare (median of 3)',
        unit: 'ms',
        better: 'lower',
        digits: 0,
        values: pick((r) => medianOrNull(r.respawn?.spareMs)),
        target: '< 0.5 × node start',
      },
      {
        label: 'the same with --spares 0: a fork (median of 3)',
        unit: 'ms',
        better: 'lower',
        digits: 0,
        values: pick((r) => medianOrNull(r.respawn?.forkMs)),
        target: '',
      },
      {
        label: 'a bare `node -e 0`, spawn to exit, same run (median of 6)',
        unit: 'ms',
        better: null,
        digits: 0,
        values: pick((r) => medianOrNull(r.respawn?.nodeMs)),
        target: '',
      },
      {
        label: 'warm spare ÷ bare node start',
        unit: '×',
        better: 'lower',
        digits: 2,
        values: pick((r) => {
          const spare = medianOrNull(r.respawn?.spareMs);
          const node = medianOrNull(r.respawn?.nodeMs);
          return spare !== null && node ? spare / node : null;
        }),
        target: '< 0.5',
      },
    );
  }
  if (cfg.scenarios.includes('redis')) rows.push(...redisRows(cfg, pick));
  if (cfg.scenarios.includes('ceiling')) rows.push(...ceilingRows(cfg, pick, results['smegchat']?.ceiling));
  if (cfg.scenarios.includes('idle')) rows.push(...idleRows(cfg, pick));
  return rows.map(withRatios);
}

/** The idle crowd (smegchat only): RSS of all its processes and connect time per point, with the spare and without. */
function idleRows(
  cfg: BenchConfig,
  pick: (f: (r: ServerResults) => number | null | undefined) => Partial<Record<ServerKind, number | null>>,
): Row[] {
  const rows: Row[] = [];
  const largest = Math.max(...cfg.idle.points);
  for (const n of cfg.idle.points) {
    const at = (r: ServerResults, spares: number | null) => r.idle?.points.find((p) => p.connections === n && p.spares === spares);
    const count = n.toLocaleString('en-US');
    for (const [spares, how] of [
      [1, 'warm spare'],
      [0, 'no spare'],
    ] as const) {
      rows.push({
        label: `${count} idle connections: RSS of all smegchat processes, ${how}`,
        unit: 'MiB',
        better: 'lower',
        digits: 0,
        values: pick((r) => {
          const p = at(r, spares);
          return p ? p.rssBytes / 2 ** 20 : null;
        }),
        target: n === largest ? '≤ 2048' : '',
      });
    }
    rows.push({
      label: `${count} idle connections: connect time (no spare)`,
      unit: 's',
      better: 'lower',
      digits: 1,
      values: pick((r) => {
        const p = at(r, 0);
        return p ? p.connectMs / 1000 : null;
      }),
      target: '',
    });
  }
  return rows;
}

/** The supervisor's ceiling (smegchat only): per worker count what held and where each side would be full, then 16 cores. */
function ceilingRows(
  cfg: BenchConfig,
  pick: (f: (r: ServerResults) => number | null | undefined) => Partial<Record<ServerKind, number | null>>,
  smeg: CeilingResult | undefined,
): Row[] {
  const c = cfg.ceiling;
  const row = (label: string, unit: string, digits: number, f: (r: ServerResults) => number | null | undefined, target = ''): Row => ({
    label,
    unit,
    better: unit === 'µs' ? 'lower' : 'higher',
    digits,
    values: pick(f),
    target,
  });
  const rows: Row[] = [];
  for (const w of c.workers) {
    const run = (r: ServerResults): CeilingRun | undefined => r.ceiling?.runs.find((x) => x.workers === w);
    rows.push(
      row(`${c.boards} boards × 2 clients, ${w} worker${w > 1 ? 's' : ''}: held up to`, 'msg/s', 0, (r) => run(r)?.maxHeldMessagesPerSec),
      row('  supervisor CPU per message (fit)', 'µs', 1, (r) => run(r)?.supervisor?.usPerMessage),
      row('  supervisor full at (estimate)', 'msg/s', 0, (r) => run(r)?.supervisorCeiling),
      row('  workers full at (estimate)', 'msg/s', 0, (r) => run(r)?.workersCeiling),
    );
  }
  rows.push(
    row(
      '16 cores, 1 supervisor + 15 workers (estimate from the widest run)',
      'msg/s',
      0,
      (r) => r.ceiling?.sixteenCores?.messagesPerSec,
      `limited by ${smeg?.sixteenCores?.limitedBy ?? '?'}`,
    ),
  );
  return rows;
}

/** A median for a report cell: none (–) where nothing was measured. */
function medianOrNull(values: readonly number[] | undefined): number | null {
  return values !== undefined && values.length > 0 ? median(values) : null;
}

function fmt(v: number | null | undefined, digits: number): string {
  if (v === null || v === undefined) return '–';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtRatio(v: number | null | undefined): string {
  return v === null || v === undefined ? '–' : `${v.toFixed(2)}×`;
}

/** The table as aligned plain text (also valid inside a Markdown code block). */
export function renderTable(rows: Row[], servers: readonly ServerKind[]): string {
  // smeg÷sio and smeg÷ws always (as before the floor); a ratio to the floor when the floor ran.
  const ratios = RATIOS.filter(([a, b]) => b !== 'floor' || (servers.includes('floor') && servers.includes(a)));
  const header = ['', 'unit', ...servers.map((s) => (s === 'socketio' ? 'socket.io' : s)), ...ratios.map((r) => r[2]), 'target'];
  const body = rows.map((r) => [
    r.label,
    r.unit,
    ...servers.map((s) => fmt(r.values[s], r.digits)),
    ...ratios.map(([, , heading]) => fmtRatio(r.ratios?.[heading])),
    r.target,
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((line) => line[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
