/**
 * The scenarios of issue 6, each bounded in time, each run against every
 * server under the same load before moving on to the next, so the figures
 * compared with each other are taken minutes apart at most.
 */
import { monoUs, sleep, sleepUntil } from './clock.js';
import type { ClientSpec, ServerKind, Target } from './gen-protocol.js';
import type { GeneratorPool } from './generator-pool.js';
import { measure, type MeasureOptions, type Measurement } from './measure.js';
import { machineCpuSeconds, treeRssBytes } from './proc-stats.js';
import { runRedisHosts, type RedisHostsConfig, type RedisHostsResult } from './redis-scenario.js';
import { runCeiling, type CeilingConfig, type CeilingResult } from './ceiling.js';
import { runIdleCurve, type IdleCurveConfig, type IdleCurveResult } from './idle-curve.js';
import { runRespawn, type RespawnResult } from './respawn.js';
import { median } from './stats.js';
import { controlRequest, smegchatHelpText, smegctl, startServer, SERVER_LABEL, type RunningServer } from './servers.js';

export type ScenarioName = 'fanout' | 'boards' | 'memory' | 'restart' | 'redis' | 'ceiling' | 'idle';
export const SCENARIOS: readonly ScenarioName[] = ['fanout', 'boards', 'memory', 'restart', 'redis', 'ceiling', 'idle'];

export interface BenchConfig {
  readonly servers: readonly ServerKind[];
  readonly scenarios: readonly ScenarioName[];
  readonly generators: number;
  readonly socketioClient: Target['socketioClient'];
  readonly client: Target['client'];
  /** Points per stroke. */
  readonly points: number;
  readonly fanout: {
    readonly clients: number;
    readonly senders: number;
    readonly workers: number;
    /** Offered deliveries a second, stepped up until one does not hold. */
    readonly steps: readonly number[];
    readonly warmupMs: number;
    readonly windowMs: number;
    readonly drainMs: number;
    /** The moderate load the latency figures are taken at. */
    readonly latencyPerSec: number;
    readonly latencyWindowMs: number;
    /** The load the headline CPU-per-delivery figure is taken at. */
    readonly cpuAtPerSec: number;
  };
  readonly boards: {
    readonly clients: number;
    readonly boards: number;
    readonly sendersPerBoard: number;
    readonly workers: number;
    readonly offeredPerSec: number;
    readonly windowMs: number;
  };
  readonly memory: { readonly connections: number; readonly boards: number; readonly workers: number };
  readonly restart: {
    readonly workers: number;
    readonly clients: number;
    readonly boards: number;
    readonly sendersPerBoard: number;
    readonly offeredPerSec: number;
  };
  /** Two hosts on one Redis: smegchat's Redis engine against socket.io's Redis Streams adapter. */
  readonly redis: RedisHostsConfig;
  /** smegchat's supervisor under many boards, stepped up, at 1 and 2 workers. */
  readonly ceiling: CeilingConfig;
  /** smegchat with a big idle crowd, up to 100,000: RSS and connect time, with the spare and without. */
  readonly idle: IdleCurveConfig;
  /** Latency above which a fan-out step does not hold. */
  readonly p99LimitMs: number;
  /** Before each scenario, wait up to this long for other load on the machine to drop. */
  readonly quietWaitMs: number;
}

export interface FanoutResult {
  readonly latency: Measurement;
  readonly steps: Measurement[];
  /** Deliveries a second of the highest step that held (p99 within the limit, nothing lost); 0 if none did. */
  readonly maxHeldPerSec: number;
  /** A run at the headline load (whether or not it holds there), for its CPU per delivery. */
  readonly atCpuLoad: Measurement;
}

export interface MemoryResult {
  readonly connections: number;
  readonly baselineBytes: number;
  readonly loadedBytes: number;
  readonly perConnectionBytes: number;
  readonly connectMs: number;
}

export interface OutageSummary {
  /** Clients whose connection dropped. */
  readonly affectedClients: number;
  /** Dropped clients that never got a stroke again within the run. */
  readonly unrecovered: number;
  /** Close to the next welcome, ms. */
  readonly reconnectMsP50: number;
  readonly reconnectMsMax: number;
  /** Last stroke before the drop to the first one after it, ms. */
  readonly gapMsP50: number;
  readonly gapMsMax: number;
  readonly resumed: number;
  readonly resets: number;
}

export interface RestartResult {
  readonly killedPid: number;
  /** kill -9 to the replacement worker reported ready (ms), or null when not seen. */
  readonly replacementReadyMs: number | null;
  readonly outage: OutageSummary;
  readonly m: Measurement;
}

export interface ReloadResult {
  readonly durationMs: number;
  readonly exitCode: number | null;
  readonly output: string;
  readonly outage: OutageSummary;
  readonly m: Measurement;
}

export interface ServerResults {
  fanout?: FanoutResult;
  boards?: Measurement;
  memory?: MemoryResult;
  restart?: RestartResult;
  reload?: ReloadResult;
  /** smegchat with a build that has warm spares: kill -9 → serving, with a spare, with a fork, and a bare node start. */
  respawn?: RespawnResult;
  /** smegchat only: where the supervisor and the workers would be full, many boards. */
  ceiling?: CeilingResult;
  /** smegchat only: the idle crowd's curve. */
  idle?: IdleCurveResult;
  redis?: RedisHostsResult;
  errors: string[];
}

export type Log = (line: string) => void;

/**
 * Clients `i` go to board `i % boards`; the first `sendersPerBoard` on each
 * board send; the first `samplePerBoard` on the first `sampleBoards` boards
 * keep their order for the check.
 */
export function layout(
  clients: number,
  boards: number,
  sendersPerBoard: number,
  sampleBoards: number,
  samplePerBoard: number,
): ClientSpec[] {
  const onBoard = new Array<number>(boards).fill(0);
  let nextSender = 0;
  const out: ClientSpec[] = [];
  for (let i = 0; i < clients; i++) {
    const board = i % boards;
    const k = onBoard[board]!++;
    out.push({
      board,
      sender: k < sendersPerBoard ? nextSender++ : -1,
      sample: board < sampleBoards && k < samplePerBoard,
    });
  }
  return out;
}

export function boardNames(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
}

function fmtRate(perSec: number): string {
  return `${(perSec / 1000).toFixed(1)}k/s`;
}

export function describe(m: Measurement): string {
  return (
    `${fmtRate(m.deliveriesPerSec)} p50 ${m.p50Ms.toFixed(1)} p99 ${m.p99Ms.toFixed(1)} max ${m.maxMs.toFixed(0)} ms, ` +
    `lost ${m.lost}, server ${m.serverCpuPercent.toFixed(0)}% (sys ${m.serverSysShare.toFixed(0)}%) ${m.serverCpuPerDeliveryUs.toFixed(2)} µs/deliv, ` +
    `gen ${m.generatorCpuPercent.toFixed(0)}% (loop p99 ${m.generatorLoopDelayP99Ms.toFixed(0)} ms), ` +
    `other ${otherLoad(m).toFixed(0)}%` +
    (m.order.sampledClients > 0 ? `, order ${m.order.sampledClients - m.order.disagreeing}/${m.order.sampledClients} agree` : '') +
    (m.duplicates || m.seqGaps || m.resent ? `, dup ${m.duplicates} seq-gaps ${m.seqGaps} resent ${m.resent}` : '') +
    (m.firstProblem ? `, problem: ${m.firstProblem}` : '')
  );
}

export function holds(m: Measurement, p99LimitMs: number): boolean {
  return m.p99Ms <= p99LimitMs && m.lost === 0 && m.unexpectedCloses === 0 && m.received > 0;
}

/** CPU the machine spent on neither the server nor the generators during a run, in % of one core. */
export function otherLoad(m: Measurement): number {
  return Math.max(0, m.machineCpuPercent - m.serverCpuPercent - m.generatorCpuPercent);
}

/** Above this much other load (% of a core) a run is taken again, once the machine is quiet. */
const NOISY_PERCENT = 33;
/** Bounded, so a machine that never goes quiet costs minutes, not forever. */
const MAX_RETRIES = 2;

/**
 * A steady-load measurement that other work on the machine disturbed is
 * taken again after waiting for quiet (at most twice); the least disturbed
 * is kept. So a shared machine costs time rather than a wrong figure.
 */
export async function measureSteady(ctx: Ctx, server: RunningServer, o: MeasureOptions): Promise<Measurement> {
  let best = (await measure(ctx.pool, server, o)).m;
  for (let retry = 0; retry < MAX_RETRIES && otherLoad(best) > NOISY_PERCENT && ctx.cfg.quietWaitMs > 0; retry++) {
    ctx.log(`    (other load ${otherLoad(best).toFixed(0)}% of a core during that run: taking it again)`);
    await waitForQuiet(ctx.cfg.quietWaitMs, ctx.log);
    const { m } = await measure(ctx.pool, server, o);
    if (otherLoad(m) < otherLoad(best)) best = m;
  }
  return best;
}

export interface Ctx {
  readonly cfg: BenchConfig;
  readonly pool: GeneratorPool;
  readonly log: Log;
}

export function target(ctx: Ctx, server: RunningServer): Target {
  return { kind: server.kind, port: server.port, socketioClient: ctx.cfg.socketioClient, client: ctx.cfg.client };
}

/** Fan-out on one board: the CPU run at the headline load, the latency run at a moderate one, then the steps. */
export async function runFanout(ctx: Ctx, kind: ServerKind): Promise<FanoutResult> {
  const f = ctx.cfg.fanout;
  const server = await startServer(kind, { workers: f.workers });
  try {
    const { ms } = await ctx.pool.connect(target(ctx, server), ['fanout'], layout(f.clients, 1, f.senders, 1, 20));
    ctx.log(`  ${f.clients} clients connected in ${ms} ms`);
    const rateFor = (perSec: number): number => perSec / f.clients / f.senders;
    const base = { points: ctx.cfg.points, drainMs: f.drainMs };
    const atCpuLoad = await measureSteady(ctx, server, {
      ...base,
      offeredPerSec: f.cpuAtPerSec,
      rate: rateFor(f.cpuAtPerSec),
      warmupMs: 2 * f.warmupMs,
      windowMs: f.windowMs,
    });
    ctx.log(`  CPU @${fmtRate(f.cpuAtPerSec)}: ${describe(atCpuLoad)}`);
    // The latency run comes second, so that no server is measured while still warming up.
    const latency = await measureSteady(ctx, server, {
      ...base,
      offeredPerSec: f.latencyPerSec,
      rate: rateFor(f.latencyPerSec),
      warmupMs: f.warmupMs,
      windowMs: f.latencyWindowMs,
    });
    ctx.log(`  latency @${fmtRate(f.latencyPerSec)}: ${describe(latency)}`);
    const steps: Measurement[] = [];
    let maxHeldPerSec = 0;
    for (const perSec of f.steps) {
      const m = await measureSteady(ctx, server, {
        ...base,
        offeredPerSec: perSec,
        rate: rateFor(perSec),
        warmupMs: f.warmupMs,
        windowMs: f.windowMs,
      });
      steps.push(m);
      const ok = holds(m, ctx.cfg.p99LimitMs);
      ctx.log(`  step ${fmtRate(perSec)} ${ok ? 'holds' : 'FAILS'}: ${describe(m)}`);
      if (!ok) break;
      maxHeldPerSec = Math.max(maxHeldPerSec, m.deliveriesPerSec);
    }
    await ctx.pool.disconnect();
    return { latency, steps, maxHeldPerSec, atCpuLoad };
  } finally {
    await server.stop();
  }
}

export async function runBoards(ctx: Ctx, kind: ServerKind): Promise<Measurement> {
  const b = ctx.cfg.boards;
  const server = await startServer(kind, { workers: b.workers });
  try {
    const { ms } = await ctx.pool.connect(
      target(ctx, server),
      boardNames('board', b.boards),
      layout(b.clients, b.boards, b.sendersPerBoard, 3, 10),
    );
    ctx.log(`  ${b.clients} clients over ${b.boards} boards connected in ${ms} ms`);
    const perBoard = b.clients / b.boards;
    const m = await measureSteady(ctx, server, {
      offeredPerSec: b.offeredPerSec,
      rate: b.offeredPerSec / perBoard / (b.boards * b.sendersPerBoard),
      points: ctx.cfg.points,
      warmupMs: 2000,
      windowMs: b.windowMs,
      drainMs: 1000,
    });
    ctx.log(`  many boards @${fmtRate(b.offeredPerSec)}: ${describe(m)}`);
    await ctx.pool.disconnect();
    return m;
  } finally {
    await server.stop();
  }
}

export async function runMemory(ctx: Ctx, kind: ServerKind): Promise<MemoryResult> {
  const c = ctx.cfg.memory;
  const server = await startServer(kind, { workers: c.workers });
  try {
    await sleep(1000); // let start-up garbage settle before the baseline
    const baselineBytes = treeRssBytes(server.pid);
    const { ms } = await ctx.pool.connect(
      target(ctx, server),
      boardNames('idle', c.boards),
      layout(c.connections, c.boards, 0, 0, 0),
      100,
      120_000,
    );
    await sleep(2000);
    const loadedBytes = treeRssBytes(server.pid);
    const r: MemoryResult = {
      connections: c.connections,
      baselineBytes,
      loadedBytes,
      perConnectionBytes: (loadedBytes - baselineBytes) / c.connections,
      connectMs: ms,
    };
    ctx.log(
      `  ${c.connections} idle connections (opened in ${ms} ms): RSS ${(baselineBytes / 2 ** 20).toFixed(0)} → ${(loadedBytes / 2 ** 20).toFixed(0)} MiB, ` +
        `${(r.perConnectionBytes / 1024).toFixed(1)} KiB per connection`,
    );
    await ctx.pool.disconnect();
    return r;
  } finally {
    await server.stop();
  }
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

function summariseOutage(events: Awaited<ReturnType<typeof measure>>['reconnects']): OutageSummary {
  const reconnect = events.filter((e) => e.welcomeAt !== null).map((e) => (e.welcomeAt! - e.closedAt) / 1000);
  const gaps = events.filter((e) => e.firstStrokeAt !== null).map((e) => (e.firstStrokeAt! - e.lastStrokeAt) / 1000);
  return {
    affectedClients: events.length,
    unrecovered: events.filter((e) => e.firstStrokeAt === null).length,
    reconnectMsP50: percentile(reconnect, 0.5),
    reconnectMsMax: reconnect.length ? Math.max(...reconnect) : NaN,
    gapMsP50: percentile(gaps, 0.5),
    gapMsMax: gaps.length ? Math.max(...gaps) : NaN,
    resumed: events.filter((e) => e.resumed).length,
    resets: events.filter((e) => e.reset).length,
  };
}

function outageText(o: OutageSummary): string {
  return `resumed ${o.resumed}, reset ${o.resets}, unrecovered ${o.unrecovered}, reconnect max ${o.reconnectMsMax.toFixed(0)} ms`;
}

interface StatusReply {
  ok?: boolean;
  status?: { workers?: { id: number | null; pid: number | null; state: string }[] };
}

/**
 * A worker to kill: for smegchat a serving one (never its warm spare, which
 * serves nobody), with its slot; for the socket.io peer any worker process.
 */
async function pickVictim(server: RunningServer): Promise<{ pid: number; slot: number | null }> {
  if (server.kind === 'smegchat') {
    const r = (await controlRequest(server, { v: 1, cmd: 'status' }, 1000)) as StatusReply;
    const w = r.status?.workers?.find((x) => x.id !== null && x.pid !== null && x.state === 'ready');
    if (w !== undefined) return { pid: w.pid!, slot: w.id };
  }
  return { pid: server.workerPids()[0]!, slot: null };
}

/**
 * Resolves with the instant (shared clock, µs) the victim's replacement is
 * ready: smegchat says so on its control socket (the victim's slot ready
 * under another pid: a warm spare that took it, or a fork), the socket.io
 * peer in a log line (a worker not in `oldPids`). Null when none is within
 * `timeoutMs`.
 */
async function replacementReady(
  server: RunningServer,
  victim: { pid: number; slot: number | null },
  oldPids: Set<number>,
  timeoutMs: number,
): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  if (server.kind === 'socketio') {
    try {
      await server.waitForLine((l) => l.msg === 'worker ready' && !oldPids.has(Number(l['workerPid'])), timeoutMs);
      return monoUs();
    } catch {
      return null;
    }
  }
  // Polled every 5 ms: cheap for the supervisor, and fine enough against a 250 ms target.
  while (Date.now() < deadline) {
    try {
      const r = (await controlRequest(server, { v: 1, cmd: 'status' }, 1000)) as StatusReply;
      const now = monoUs();
      const replaced = (w: { id: number | null; pid: number | null; state: string }): boolean =>
        w.state === 'ready' &&
        w.pid !== null &&
        (victim.slot !== null ? w.id === victim.slot && w.pid !== victim.pid : !oldPids.has(w.pid));
      if (r.status?.workers?.some(replaced)) return now;
    } catch {
      // The supervisor is busy or its socket not there yet: ask again.
    }
    await sleep(5);
  }
  return null;
}

/** kill -9 of a worker under load, then (smegchat only) a rolling reload under load. */
export async function runRestart(ctx: Ctx, kind: ServerKind): Promise<{ restart: RestartResult; reload?: ReloadResult }> {
  const r = ctx.cfg.restart;
  const server = await startServer(kind, { workers: r.workers });
  try {
    const { ms } = await ctx.pool.connect(
      target(ctx, server),
      boardNames('live', r.boards),
      layout(r.clients, r.boards, r.sendersPerBoard, 2, 20),
    );
    ctx.log(`  ${r.clients} clients over ${r.boards} boards connected in ${ms} ms`);
    const perBoard = r.clients / r.boards;
    const base = {
      offeredPerSec: r.offeredPerSec,
      rate: r.offeredPerSec / perBoard / (r.boards * r.sendersPerBoard),
      points: ctx.cfg.points,
      warmupMs: 1000,
      drainMs: 2000,
      reconnect: true,
    };
    const killRun = await measure(ctx.pool, server, { ...base, windowMs: 6000 }, async (t0) => {
      await sleepUntil(t0 + 1e6);
      const pids = server.workerPids();
      const victim = await pickVictim(server);
      const killedAt = monoUs();
      process.kill(victim.pid, 'SIGKILL');
      const readyAt = await replacementReady(server, victim, new Set(pids), 4000);
      return { victim: victim.pid, readyMs: readyAt === null ? null : (readyAt - killedAt) / 1000 };
    });
    const restart: RestartResult = {
      killedPid: killRun.extra!.victim,
      replacementReadyMs: killRun.extra!.readyMs,
      outage: summariseOutage(killRun.reconnects),
      m: killRun.m,
    };
    ctx.log(
      `  kill -9: replacement ready in ${restart.replacementReadyMs?.toFixed(0) ?? 'never'} ms; ` +
        `${restart.outage.affectedClients} clients dropped, reconnect p50 ${restart.outage.reconnectMsP50.toFixed(0)} ms, ` +
        `stroke gap max ${restart.outage.gapMsMax.toFixed(0)} ms; ${outageText(restart.outage)}; ${describe(restart.m)}`,
    );
    if (kind !== 'smegchat') {
      await ctx.pool.disconnect();
      return { restart };
    }
    await sleep(1000);
    const reloadRun = await measure(ctx.pool, server, { ...base, windowMs: 12_000 }, async (t0) => {
      await sleepUntil(t0 + 0.5e6);
      return smegctl(server, ['reload'], 60_000);
    });
    const done = reloadRun.extra!;
    const reload: ReloadResult = {
      durationMs: done.ms,
      exitCode: done.code,
      output: done.out.slice(0, 500),
      outage: summariseOutage(reloadRun.reconnects),
      m: reloadRun.m,
    };
    ctx.log(
      `  reload of ${r.workers} workers: ${(reload.durationMs / 1000).toFixed(2)} s (exit ${reload.exitCode}); ` +
        `${reload.outage.affectedClients} clients moved, stroke gap max ${reload.outage.gapMsMax.toFixed(0)} ms; ${outageText(reload.outage)}; ${describe(reload.m)}`,
    );
    await ctx.pool.disconnect();
    return { restart, reload };
  } finally {
    await server.stop();
  }
}

/** Busy CPU of the whole machine over `ms`, in % of one core. */
async function machineBusyPercent(ms: number): Promise<number> {
  const a = machineCpuSeconds();
  await sleep(ms);
  const b = machineCpuSeconds();
  return ((b.busy - a.busy) / (ms / 1000)) * 100;
}

/**
 * On a shared machine, other work skews every figure: wait (bounded) until
 * it is below a third of a core. Returns the load last seen.
 */
export async function waitForQuiet(maxWaitMs: number, log: Log): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  let busy = await machineBusyPercent(500);
  if (busy < 33 || maxWaitMs <= 0) return busy;
  log(`  waiting for the machine to be quiet (other load ${busy.toFixed(0)}% of a core)`);
  while (busy >= 33 && Date.now() < deadline) busy = await machineBusyPercent(1000);
  if (busy >= 33) log(`  still ${busy.toFixed(0)}% busy with other work: figures will be noisy`);
  return busy;
}

/** Runs every selected scenario against every selected server. */
export async function runAll(cfg: BenchConfig, pool: GeneratorPool, log: Log): Promise<Record<string, ServerResults>> {
  const ctx: Ctx = { cfg, pool, log };
  const results: Record<string, ServerResults> = {};
  for (const kind of cfg.servers) results[kind] = { errors: [] };
  const attempt = async (kind: ServerKind, name: string, fn: () => Promise<void>): Promise<void> => {
    log(`${name}: ${SERVER_LABEL[kind]}`);
    try {
      await waitForQuiet(cfg.quietWaitMs, log);
      await fn();
    } catch (error) {
      const text = `${name}: ${(error as Error).message}`;
      log(`  FAILED ${text}`);
      results[kind]!.errors.push(text);
      // Leave the generators clean for the next scenario.
      await pool.disconnect().catch(() => {});
    }
  };
  for (const scenario of cfg.scenarios) {
    for (const kind of cfg.servers) {
      const res = results[kind]!;
      switch (scenario) {
        case 'fanout':
          await attempt(kind, 'fan-out', async () => void (res.fanout = await runFanout(ctx, kind)));
          break;
        case 'boards':
          await attempt(kind, 'many boards', async () => void (res.boards = await runBoards(ctx, kind)));
          break;
        case 'memory':
          await attempt(kind, 'memory', async () => void (res.memory = await runMemory(ctx, kind)));
          break;
        case 'restart':
          if (kind === 'ws' || kind === 'floor') break; // one process: nothing to restart while serving
          await attempt(kind, 'restart', async () => {
            const out = await runRestart(ctx, kind);
            res.restart = out.restart;
            if (out.reload) res.reload = out.reload;
          });
          if (kind === 'smegchat' && /--spares\b/.test(smegchatHelpText())) {
            await attempt(kind, 'respawn', async () => {
              const r = (res.respawn = await runRespawn(ctx.cfg.restart.workers, 3));
              const ms = (xs: number[]): string => xs.map((x) => x.toFixed(0)).join(' ');
              ctx.log(
                `  kill -9 of an idle worker → its slot ready: warm spare ${ms(r.spareMs)} ms, fork ${ms(r.forkMs)} ms; ` +
                  `node -e 0 ${ms(r.nodeMs)} ms; spare ÷ node (medians) ${(median(r.spareMs) / median(r.nodeMs)).toFixed(2)}`,
              );
            });
          }
          break;
        case 'idle':
          if (kind !== 'smegchat') break; // the moonshot is smegchat's own
          await attempt(kind, 'idle crowd', async () => void (res.idle = await runIdleCurve(ctx, cfg.idle)));
          break;
        case 'ceiling':
          if (kind !== 'smegchat') break; // the sequencer's ceiling: only smegchat has one
          await attempt(kind, 'supervisor ceiling', async () => void (res.ceiling = await runCeiling(ctx, cfg.ceiling)));
          break;
        case 'redis':
          if (kind === 'ws' || kind === 'floor') break; // one process: no hosts to share a Redis
          await attempt(kind, 'two hosts on one Redis', async () => void (res.redis = await runRedisHosts(ctx, kind)));
          break;
      }
    }
  }
  return results;
}
