/**
 * Two hosts on one Redis (issue 11's bench row): smegchat's Redis engine
 * (`--redis`) against socket.io with @socket.io/redis-streams-adapter, the
 * peer a user would pick for this. Same Redis settings, same load, clients
 * dealt over the hosts as a load balancer would; the CPU figure is the hosts'
 * and Redis's together (bench/src/peers/redis-hosts.ts starts them as one
 * process tree).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { ServerKind } from './gen-protocol.js';
import type { Measurement } from './measure.js';
import { describe, layout, measureSteady, target, type Ctx } from './scenarios.js';
import { REPO_ROOT, RunningServer } from './servers.js';

export interface RedisHostsConfig {
  readonly hosts: number;
  readonly workersPerHost: number;
  readonly clients: number;
  readonly senders: number;
  /** The load of the CPU figure and of the latency figures, deliveries a second. */
  readonly cpuAtPerSec: number;
  readonly latencyPerSec: number;
  readonly windowMs: number;
}

export interface RedisHostsResult {
  readonly hosts: number;
  readonly atCpuLoad: Measurement;
  readonly latency: Measurement;
}

const LAUNCHER = path.join(REPO_ROOT, 'bench/dist/peers/redis-hosts.js');
const READY_TIMEOUT_MS = 60_000;

/** Starts Redis and the hosts; resolves with the tree's root (to measure and stop) and the hosts' ports. */
async function startHosts(kind: 'smegchat' | 'socketio', c: RedisHostsConfig): Promise<{ server: RunningServer; ports: number[] }> {
  const child = spawn(process.execPath, [LAUNCHER, '--kind', kind, '--hosts', String(c.hosts), '--workers', String(c.workersPerHost)], {
    cwd: REPO_ROOT,
    detached: true, // its own process group, so the bench can end all of it
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SMEGCHAT_BENCH_PID: String(process.pid) },
  });
  const server = new RunningServer(kind, 0, c.hosts * c.workersPerHost, child, null);
  const failed = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) =>
      reject(new Error(`${kind} on Redis exited (${signal ?? code}) before it was ready: ${server.stderr}`)),
    ),
  );
  failed.catch(() => {});
  try {
    const ready = await Promise.race([server.waitForLine((l) => l.msg === 'ready' && Array.isArray(l['ports']), READY_TIMEOUT_MS), failed]);
    return { server, ports: ready['ports'] as number[] };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

export async function runRedisHosts(ctx: Ctx, kind: ServerKind): Promise<RedisHostsResult> {
  if (kind === 'ws' || kind === 'floor') throw new TypeError(`the ${kind} reference has no Redis variant`);
  const c = ctx.cfg.redis;
  const { server, ports } = await startHosts(kind, c);
  try {
    // Like a load balancer: client i to host i mod N, senders and sampled clients on every host.
    const specs = layout(c.clients, 1, c.senders, 1, 20).map((spec, i) => ({ ...spec, host: i % ports.length }));
    const { ms } = await ctx.pool.connect({ ...target(ctx, server), port: ports[0]!, ports }, ['redis'], specs);
    ctx.log(`  ${c.clients} clients over ${ports.length} hosts connected in ${ms} ms`);
    const run = (perSec: number, warmupMs: number): Promise<Measurement> =>
      measureSteady(ctx, server, {
        offeredPerSec: perSec,
        rate: perSec / c.clients / c.senders,
        points: ctx.cfg.points,
        warmupMs,
        windowMs: c.windowMs,
        drainMs: 1000,
      });
    const atCpuLoad = await run(c.cpuAtPerSec, 2000);
    ctx.log(`  CPU @${c.cpuAtPerSec / 1000}k/s: ${describe(atCpuLoad)}`);
    const latency = await run(c.latencyPerSec, 1000);
    ctx.log(`  latency @${c.latencyPerSec / 1000}k/s: ${describe(latency)}`);
    await ctx.pool.disconnect();
    return { hosts: ports.length, atCpuLoad, latency };
  } finally {
    await server.stop();
  }
}
