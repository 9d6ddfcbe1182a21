/**
 * `npm run bench:ab -- --old DIR`: is this checkout's embedded default as
 * fast as another commit's? The same bench (this one: same generators, same
 * load) drives the old tree's smegchat and this one's in alternation,
 * A B A B ..., each run the fan-out at the headline load; the medians and
 * spreads of CPU per delivery are compared. Alternating spreads drift on a
 * shared machine (other work, thermal) over both sides alike.
 *
 * Build the old commit first in its own worktree:
 *     git worktree add /tmp/old COMMIT && (cd /tmp/old && npm ci)
 */
import { median } from './stats.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Measurement } from './measure.js';
import { otherLoad } from './scenarios.js';
import { REPO_ROOT } from './servers.js';

const USAGE = `usage: npm run bench:ab -- --old DIR [--pairs N] [--per-sec N] [--quiet-wait S] [--out FILE]

  --old DIR        a built checkout of the commit to compare with (npm ci done)
  --pairs N        A B pairs (default 4)
  --per-sec N      the fan-out load, deliveries a second (default 100000)
  --quiet-wait S   passed to each run (default 20)
  --out FILE       the report (default bench/results/ab.txt; - for none)
`;

interface RunFigures {
  readonly side: 'A' | 'B';
  readonly cpuPerDeliveryUs: number;
  /** The second measurement at the same load (the fan-out step), for a check within the run. */
  readonly stepCpuPerDeliveryUs: number;
  readonly p99Ms: number;
  readonly otherLoadPercent: number;
}

function runOnce(side: 'A' | 'B', tree: string, perSec: number, quietWait: string): Promise<RunFigures> {
  const args = [
    path.join(REPO_ROOT, 'bench/run.js'),
    '--servers',
    'smegchat',
    '--scenarios',
    'fanout',
    '--steps',
    String(perSec),
    '--json',
    '--no-write',
    '--quiet-wait',
    quietWait,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, SMEGCHAT_BENCH_TREE: tree },
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('exit', (code) => {
      try {
        const summary = JSON.parse(out) as { results: { smegchat: { fanout?: { atCpuLoad: Measurement; steps: Measurement[] } } } };
        const fan = summary.results.smegchat.fanout;
        if (!fan) throw new Error(`the run failed (exit ${code})`);
        const step = fan.steps[0]!;
        resolve({
          side,
          cpuPerDeliveryUs: fan.atCpuLoad.serverCpuPerDeliveryUs,
          stepCpuPerDeliveryUs: step.serverCpuPerDeliveryUs,
          p99Ms: step.p99Ms,
          otherLoadPercent: Math.max(otherLoad(fan.atCpuLoad), otherLoad(step)),
        });
      } catch (error) {
        reject(new Error(`${side} run: ${(error as Error).message}`));
      }
    });
  });
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      old: { type: 'string' },
      pairs: { type: 'string', default: '4' },
      'per-sec': { type: 'string', default: '100000' },
      'quiet-wait': { type: 'string', default: '20' },
      out: { type: 'string', default: path.join(REPO_ROOT, 'bench/results/ab.txt') },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help || values.old === undefined) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const oldTree = path.resolve(values.old);
  if (!existsSync(path.join(oldTree, 'packages/supervisor/bin/smegchat.js')))
    throw new TypeError(`--old ${oldTree}: not a smegchat checkout`);
  const pairs = Number(values.pairs);
  const perSec = Number(values['per-sec']);
  if (!Number.isInteger(pairs) || pairs < 1 || pairs > 50) throw new TypeError('--pairs must be 1..50');
  if (!(perSec > 0)) throw new TypeError('--per-sec: deliveries a second');

  const runs: RunFigures[] = [];
  for (let i = 0; i < pairs; i++) {
    for (const side of ['A', 'B'] as const) {
      const r = await runOnce(side, side === 'A' ? oldTree : REPO_ROOT, perSec, values['quiet-wait']!);
      runs.push(r);
      process.stderr.write(
        `ab: ${side} ${i + 1}/${pairs}: ${r.cpuPerDeliveryUs.toFixed(2)} µs/deliv (step ${r.stepCpuPerDeliveryUs.toFixed(2)}), other load ${r.otherLoadPercent.toFixed(0)}%\n`,
      );
    }
  }
  const side = (s: 'A' | 'B'): RunFigures[] => runs.filter((r) => r.side === s);
  const line = (s: 'A' | 'B', label: string): string => {
    const v = side(s).map((r) => r.cpuPerDeliveryUs);
    const w = side(s).map((r) => r.stepCpuPerDeliveryUs);
    return (
      `${s} ${label}: CPU per delivery median ${median(v).toFixed(2)} µs (min ${Math.min(...v).toFixed(2)}, max ${Math.max(...v).toFixed(2)}); ` +
      `second measurement median ${median(w).toFixed(2)} µs; p99 median ${median(side(s).map((r) => r.p99Ms)).toFixed(1)} ms`
    );
  };
  const ratio = median(side('B').map((r) => r.cpuPerDeliveryUs)) / median(side('A').map((r) => r.cpuPerDeliveryUs));
  const ratio2 = median(side('B').map((r) => r.stepCpuPerDeliveryUs)) / median(side('A').map((r) => r.stepCpuPerDeliveryUs));
  const report = [
    `smegchat A B bench ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: embedded engine, fan-out 1000 clients, 1 board, 2 workers, ${perSec / 1000}k deliveries/s`,
    `command: npm run bench:ab -- --old ${values.old} --pairs ${pairs} --per-sec ${perSec} --quiet-wait ${values['quiet-wait']}`,
    '',
    line('A', oldTree),
    line('B', REPO_ROOT),
    `B ÷ A (medians): ${ratio.toFixed(3)} (second measurement ${ratio2.toFixed(3)}); within 5 %: ${ratio <= 1.05 ? 'yes' : 'NO'}`,
    '',
    'runs in order (side, µs per delivery, second measurement, p99 ms, other load % of a core):',
    ...runs.map(
      (r) =>
        `  ${r.side}  ${r.cpuPerDeliveryUs.toFixed(2)}  ${r.stepCpuPerDeliveryUs.toFixed(2)}  ${r.p99Ms.toFixed(1)}  ${r.otherLoadPercent.toFixed(0)}`,
    ),
  ].join('\n');
  process.stdout.write(`${report}\n`);
  if (values.out !== '-') {
    mkdirSync(path.dirname(values.out!), { recursive: true });
    writeFileSync(values.out!, `${report}\n`);
  }
  return ratio <= 1.05 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench:ab: ${(error as Error).message}\n`);
    process.exit(error instanceof TypeError ? 2 : 1);
  },
);
