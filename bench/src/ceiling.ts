/**
 * The supervisor's ceiling (issue 16, point 4): every message of every board
 * crosses the supervisor's one thread (the sequencer), so many boards with
 * few clients each load it the most per delivery. smegchat alone, 1,000
 * boards of two clients (one sender each), at 1 and at 2 workers, stepped
 * up until a step does not hold; at each step the supervisor's own CPU and
 * the workers' are taken apart.
 *
 * On 2 cores the load generator shares the machine, so the steps end where
 * the machine is full, not where the supervisor is. The ceiling is then an
 * estimate: a straight line fitted to the supervisor's CPU against the
 * message rate (a fixed part, plus µs per message) says at what rate it
 * would fill its core; the same for the workers' CPU says what N workers'
 * cores would take. "16 cores" is the lower of the two with the supervisor
 * on one core and the workers on fifteen.
 */
import { describe, holds, layout, boardNames, target, measureSteady, type Ctx } from './scenarios.js';
import type { Measurement } from './measure.js';
import { startServer } from './servers.js';

export interface CeilingStep {
  readonly messagesPerSec: number;
  readonly held: boolean;
  readonly supervisorCpuPercent: number;
  readonly workersCpuPercent: number;
  readonly p99Ms: number;
}

/** A line fitted to CPU (% of a core) against messages a second. */
export interface CpuFit {
  /** µs of CPU per message. */
  readonly usPerMessage: number;
  /** % of a core spent whatever the rate. */
  readonly fixedPercent: number;
}

export interface CeilingRun {
  readonly workers: number;
  readonly steps: CeilingStep[];
  readonly maxHeldMessagesPerSec: number;
  readonly supervisor: CpuFit | null;
  readonly workersFit: CpuFit | null;
  /** Messages a second at which the supervisor's one core would be full. */
  readonly supervisorCeiling: number | null;
  /** The same for `workers` workers on as many cores. */
  readonly workersCeiling: number | null;
}

export interface CeilingResult {
  readonly runs: CeilingRun[];
  /** The supervisor on one core, 15 workers on the rest: the lower of the two ceilings, and which it is. */
  readonly sixteenCores: { readonly messagesPerSec: number; readonly limitedBy: 'supervisor' | 'workers' } | null;
}

export interface CeilingConfig {
  readonly boards: number;
  readonly workers: readonly number[];
  /** Messages a second (each delivered to the board's two clients). */
  readonly steps: readonly number[];
  readonly windowMs: number;
}

/** Least squares of y against x; null with fewer than two distinct points. */
export function fitLine(points: readonly (readonly [number, number])[]): { slope: number; intercept: number } | null {
  const n = points.length;
  if (n < 2) return null;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  if (sxx === 0) return null;
  const slope = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx;
  return { slope, intercept: my - slope * mx };
}

/** CPU% = fixed + rate × µs/msg / 10^4: the fit, and the rate at which `cores` cores would be full. */
function cpuFit(points: readonly (readonly [number, number])[]): CpuFit | null {
  const line = fitLine(points);
  if (line === null || line.slope <= 0) return null;
  return { usPerMessage: line.slope * 1e4, fixedPercent: line.intercept };
}

function full(fit: CpuFit | null, cores: number): number | null {
  if (fit === null) return null;
  return ((cores * 100 - Math.max(0, fit.fixedPercent)) * 1e4) / fit.usPerMessage;
}

export async function runCeiling(ctx: Ctx, c: CeilingConfig): Promise<CeilingResult> {
  const runs: CeilingRun[] = [];
  for (const workers of c.workers) {
    const server = await startServer('smegchat', { workers });
    try {
      const clients = 2 * c.boards;
      const { ms } = await ctx.pool.connect(target(ctx, server), boardNames('ceiling', c.boards), layout(clients, c.boards, 1, 2, 2));
      ctx.log(`  ${workers} worker${workers > 1 ? 's' : ''}: ${clients} clients over ${c.boards} boards connected in ${ms} ms`);
      const steps: CeilingStep[] = [];
      let maxHeld = 0;
      for (const perSec of c.steps) {
        const m: Measurement = await measureSteady(ctx, server, {
          offeredPerSec: 2 * perSec,
          rate: perSec / c.boards,
          points: ctx.cfg.points,
          warmupMs: 1000,
          windowMs: c.windowMs,
          drainMs: 1000,
        });
        const held = holds(m, ctx.cfg.p99LimitMs);
        const step: CeilingStep = {
          messagesPerSec: m.deliveriesPerSec / 2,
          held,
          supervisorCpuPercent: m.supervisorCpuPercent,
          workersCpuPercent: m.serverCpuPercent - m.supervisorCpuPercent,
          p99Ms: m.p99Ms,
        };
        steps.push(step);
        ctx.log(
          `    ${perSec.toLocaleString('en-US')} msg/s ${held ? 'holds' : 'FAILS'}: supervisor ${step.supervisorCpuPercent.toFixed(0)}%, ` +
            `workers ${step.workersCpuPercent.toFixed(0)}%; ${describe(m)}`,
        );
        if (!held) break;
        maxHeld = Math.max(maxHeld, step.messagesPerSec);
      }
      await ctx.pool.disconnect();
      const heldSteps = steps.filter((s) => s.held);
      const supervisor = cpuFit(heldSteps.map((s) => [s.messagesPerSec, s.supervisorCpuPercent] as const));
      const workersFit = cpuFit(heldSteps.map((s) => [s.messagesPerSec, s.workersCpuPercent] as const));
      const run: CeilingRun = {
        workers,
        steps,
        maxHeldMessagesPerSec: maxHeld,
        supervisor,
        workersFit,
        supervisorCeiling: full(supervisor, 1),
        workersCeiling: full(workersFit, workers),
      };
      runs.push(run);
      ctx.log(
        `  ${workers} worker${workers > 1 ? 's' : ''}: held up to ${Math.round(maxHeld).toLocaleString('en-US')} msg/s; supervisor ` +
          (supervisor
            ? `${supervisor.usPerMessage.toFixed(1)} µs/msg + ${supervisor.fixedPercent.toFixed(0)}% fixed, full at ~${Math.round(run.supervisorCeiling!).toLocaleString('en-US')} msg/s`
            : 'not fitted') +
          `; workers ` +
          (workersFit
            ? `${workersFit.usPerMessage.toFixed(1)} µs/msg, full at ~${Math.round(run.workersCeiling!).toLocaleString('en-US')} msg/s`
            : 'not fitted'),
      );
    } finally {
      await server.stop();
    }
  }
  // The widest run's fits stand for the 16-core machine: one core for the supervisor, fifteen workers.
  const widest = runs.at(-1);
  let sixteenCores: CeilingResult['sixteenCores'] = null;
  if (widest?.supervisor && widest.workersFit) {
    const sup = full(widest.supervisor, 1)!;
    const wk = full(widest.workersFit, 15)!;
    sixteenCores = sup <= wk ? { messagesPerSec: sup, limitedBy: 'supervisor' } : { messagesPerSec: wk, limitedBy: 'workers' };
  }
  return { runs, sixteenCores };
}
