/**
 * A big idle crowd (issue 16, point 2's moonshot): 10,000 up to 100,000
 * idle WebSocket clients on smegchat, each point a fresh server, the RSS of
 * all its processes against how many are connected, and how long they took
 * to connect, with the warm spare and without. One source address runs out
 * of ports near 28,000 connections to one port, so the clients are spread
 * over 127.0.0.2, 127.0.0.3, ...; the caps are raised for this scenario
 * alone (`--max-connections`), and the open-files limit it ran under is
 * reported with it (`npm run bench` raises the soft limit to the hard one,
 * and as root with CAP_SYS_RESOURCE the hard one to the kernel's nr_open).
 * Where the hard limit cannot be raised (this machine: 20,000), the crowd
 * is spread over enough worker and generator processes that none holds
 * more than the limit allows: the scenario has generators of its own.
 */
import fs from 'node:fs';
import { sleep } from './clock.js';
import { GeneratorPool } from './generator-pool.js';
import { treeRssBytes } from './proc-stats.js';
import { boardNames, layout, target, type Ctx } from './scenarios.js';
import { smegchatHelpText, startServer } from './servers.js';

export interface IdleCurveConfig {
  readonly points: readonly number[];
  readonly boards: number;
  readonly workers: number;
  /** Clients per loopback source address, well under the ephemeral port range. */
  readonly perAddress: number;
}

export interface IdlePoint {
  readonly connections: number;
  /** `--spares` it ran with; null for a build without spares. */
  readonly spares: number | null;
  readonly baselineBytes: number;
  readonly rssBytes: number;
  readonly connectMs: number;
}

export interface IdleCurveResult {
  readonly points: IdlePoint[];
  /** The open-files limit (soft) the bench, its generators and the server ran under. */
  readonly fileLimit: number;
  /** Worker and generator processes the crowd was spread over. */
  readonly workers: number;
  readonly generators: number;
}

function openFilesLimit(): number {
  const m = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return m ? Number(m[1]) : 0;
}

export async function runIdleCurve(ctx: Ctx, c: IdleCurveConfig): Promise<IdleCurveResult> {
  const fileLimit = openFilesLimit();
  const largest = Math.max(...c.points);
  // No process may hold more sockets than its file limit allows, less a margin for everything else it opens.
  const perProcess = Math.max(1000, fileLimit - 2000);
  const workers = Math.max(c.workers, Math.ceil(largest / perProcess));
  const generators = Math.max(1, Math.ceil(largest / perProcess));
  ctx.log(
    `  open files limit ${fileLimit}: ${workers} workers and ${generators} generators; --max-connections ${largest + 1000} for this scenario`,
  );
  const pool = new GeneratorPool(generators);
  try {
    return { points: await curve({ ...ctx, pool }, c, workers, largest), fileLimit, workers, generators };
  } finally {
    await pool.close();
  }
}

async function curve(ctx: Ctx, c: IdleCurveConfig, workers: number, largest: number): Promise<IdlePoint[]> {
  const spareSettings = /--spares\b/.test(smegchatHelpText()) ? [1, 0] : [null];
  const points: IdlePoint[] = [];
  // Each point connects from addresses of its own: the last point's ports are still in TIME_WAIT.
  let nextAddress = 2;
  for (const spares of spareSettings) {
    for (const n of c.points) {
      const args = ['--max-connections', String(largest + 1000), ...(spares === null ? [] : ['--spares', String(spares)])];
      const server = await startServer('smegchat', { workers, args });
      try {
        await sleep(1500); // the spare loaded, start-up garbage settled
        const baselineBytes = treeRssBytes(server.pid);
        const first = nextAddress;
        nextAddress += Math.ceil(n / c.perAddress);
        if (nextAddress > 254) throw new Error('out of loopback source addresses 127.0.0.2-254 for the idle crowd');
        const clients = layout(n, c.boards, 0, 0, 0).map((s, i) => ({ ...s, from: `127.0.0.${first + Math.floor(i / c.perAddress)}` }));
        const { ms } = await ctx.pool.connect(target(ctx, server), boardNames('crowd', c.boards), clients, 200, 600_000);
        await sleep(2000);
        const rssBytes = treeRssBytes(server.pid);
        points.push({ connections: n, spares, baselineBytes, rssBytes, connectMs: ms });
        ctx.log(
          `  ${n.toLocaleString('en-US')} idle${spares === null ? '' : `, --spares ${spares}`}: connected in ${(ms / 1000).toFixed(1)} s; ` +
            `RSS ${(baselineBytes / 2 ** 20).toFixed(0)} → ${(rssBytes / 2 ** 20).toFixed(0)} MiB, ` +
            `${((rssBytes - baselineBytes) / n / 1024).toFixed(1)} KiB per connection`,
        );
        await ctx.pool.disconnect();
      } finally {
        await server.stop();
      }
    }
  }
  return points;
}
