/**
 * One measured run: the generators send for a warm-up and a window, the
 * server's CPU is sampled from /proc at the window's edges, and everything is
 * reduced to the figures the report shows.
 */
import { monoUs, sleepUntil } from './clock.js';
import type { GeneratorPool, MergedRun } from './generator-pool.js';
import { LatencyHistogram } from './histogram.js';
import { cpuBetween, cpuSecondsByPid, machineCpuSeconds, processTree, sysSecondsByPid } from './proc-stats.js';
import type { RunningServer } from './servers.js';

export interface OrderCheck {
  /** Boards with at least two sampled clients. */
  readonly boards: number;
  readonly sampledClients: number;
  /** Sampled clients whose order differs from their board's most common order. */
  readonly disagreeing: number;
  /** Strokes compared per client (those every sampled client of its board received), summed over boards. */
  readonly strokesCompared: number;
}

export interface Measurement {
  /** Deliveries a second the load was meant to cause. */
  readonly offeredPerSec: number;
  readonly deliveriesPerSec: number;
  readonly expected: number;
  readonly received: number;
  readonly lost: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Server CPU, all its processes summed, in % of one core. */
  readonly serverCpuPercent: number;
  /** The CPU of the server's first process alone (smegchat's supervisor, the sequencer), in % of one core. */
  readonly supervisorCpuPercent: number;
  readonly serverCpuPerDeliveryUs: number;
  /** The kernel's share of the server's CPU, in %: writes to sockets and the loopback TCP stack behind them. */
  readonly serverSysShare: number;
  readonly generatorCpuPercent: number;
  /**
   * The whole machine's busy CPU in % of one core (200 = both cores of two):
   * what it holds beyond server + generators is other load, which makes a
   * run on a shared machine suspect.
   */
  readonly machineCpuPercent: number;
  readonly generatorCpuPerDeliveryUs: number;
  readonly generatorLoopDelayP99Ms: number;
  readonly sendLagMaxMs: number;
  readonly duplicates: number;
  readonly seqGaps: number;
  readonly resent: number;
  readonly unexpectedCloses: number;
  readonly errorFrames: number;
  readonly firstProblem: string | null;
  readonly order: OrderCheck;
  readonly windowSeconds: number;
}

export interface MeasureOptions {
  readonly offeredPerSec: number;
  /** Strokes a second per sender. */
  readonly rate: number;
  readonly points: number;
  readonly warmupMs: number;
  readonly windowMs: number;
  readonly drainMs: number;
  readonly count?: number;
  readonly reconnect?: boolean;
}

/** Compares the order in which each board's sampled clients received the strokes all of them received. */
export function checkOrder(samples: MergedRun['samples']): OrderCheck {
  const byBoard = new Map<number, number[][]>();
  for (const s of samples) {
    const list = byBoard.get(s.board);
    if (list) list.push(s.keys);
    else byBoard.set(s.board, [s.keys]);
  }
  let boards = 0;
  let sampledClients = 0;
  let disagreeing = 0;
  let strokesCompared = 0;
  for (const lists of byBoard.values()) {
    if (lists.length < 2) continue;
    boards++;
    sampledClients += lists.length;
    // Only strokes every sampled client got: a lost stroke is counted as loss, not as disorder.
    const seenBy = new Map<number, number>();
    for (const keys of lists) for (const k of new Set(keys)) seenBy.set(k, (seenBy.get(k) ?? 0) + 1);
    const common = (k: number): boolean => seenBy.get(k) === lists.length;
    const orders = new Map<string, number>();
    const orderOf = lists.map((keys) => keys.filter(common).join(','));
    for (const o of orderOf) orders.set(o, (orders.get(o) ?? 0) + 1);
    let majority = 0;
    for (const n of orders.values()) majority = Math.max(majority, n);
    disagreeing += lists.length - majority;
    strokesCompared += lists[0]!.filter(common).length;
  }
  return { boards, sampledClients, disagreeing, strokesCompared };
}

/**
 * Runs the load once. `during` runs alongside it (a kill, a reload) and gets
 * the window's start on the shared clock; its result is returned with the
 * measurement.
 */
export async function measure<T = undefined>(
  pool: GeneratorPool,
  server: RunningServer,
  o: MeasureOptions,
  during?: (t0: number, t1: number) => Promise<T>,
): Promise<{ m: Measurement; extra: T | undefined; reconnects: MergedRun['reconnects'] }> {
  const now = monoUs();
  const t0 = now + o.warmupMs * 1000;
  const t1 = t0 + o.windowMs * 1000;
  let cpuAt0: Map<number, number> | null = null;
  let cpuAt1: Map<number, number> | null = null;
  let sysAt0: Map<number, number> | null = null;
  let sysAt1: Map<number, number> | null = null;
  let machineAt0 = { busy: 0, total: 0 };
  let machineAt1 = { busy: 0, total: 0 };
  const sampler = (async () => {
    await sleepUntil(t0);
    const tree0 = processTree(server.pid);
    cpuAt0 = cpuSecondsByPid(tree0);
    sysAt0 = sysSecondsByPid(tree0);
    machineAt0 = machineCpuSeconds();
    await sleepUntil(t1);
    const tree1 = processTree(server.pid);
    cpuAt1 = cpuSecondsByPid(tree1);
    sysAt1 = sysSecondsByPid(tree1);
    machineAt1 = machineCpuSeconds();
  })();
  const [run, extra] = await Promise.all([
    pool.run({
      cmd: 'run',
      rate: o.rate,
      points: o.points,
      count: o.count ?? null,
      t0,
      t1,
      stopAt: t1,
      drainMs: o.drainMs,
      reconnect: o.reconnect ?? false,
    }),
    during ? during(t0, t1) : Promise.resolve(undefined),
  ]);
  await sampler;
  const serverCpu = cpuAt0 && cpuAt1 ? cpuBetween(cpuAt0, cpuAt1) : NaN;
  const a0 = (cpuAt0 as Map<number, number> | null)?.get(server.pid);
  const a1 = (cpuAt1 as Map<number, number> | null)?.get(server.pid);
  const supervisorCpu = a0 !== undefined && a1 !== undefined ? a1 - a0 : NaN;
  const serverSys = sysAt0 && sysAt1 ? cpuBetween(sysAt0, sysAt1) : NaN;
  const machineBusy = machineAt1.busy - machineAt0.busy;
  return {
    m: summarise(run, pool.clientsPerBoard, serverCpu, serverSys, machineBusy, o.offeredPerSec, supervisorCpu),
    extra,
    reconnects: run.reconnects,
  };
}

function summarise(
  run: MergedRun,
  clientsPerBoard: number[],
  serverCpuSeconds: number,
  serverSysSeconds: number,
  machineBusySeconds: number,
  offeredPerSec: number,
  supervisorCpuSeconds: number,
): Measurement {
  const h = new LatencyHistogram();
  h.add(run.histogram, run.maxLatencyUs);
  let expected = 0;
  run.sentInWindow.forEach((sent, b) => (expected += sent * (clientsPerBoard[b] ?? 0)));
  const secs = run.windowSeconds;
  const ms = (us: number): number => us / 1000;
  return {
    offeredPerSec,
    deliveriesPerSec: secs > 0 ? run.received / secs : 0,
    expected,
    received: run.received,
    lost: Math.max(0, expected - run.received),
    p50Ms: ms(h.percentileUs(0.5)),
    p90Ms: ms(h.percentileUs(0.9)),
    p99Ms: ms(h.percentileUs(0.99)),
    maxMs: ms(h.maxUs),
    serverCpuPercent: secs > 0 ? (serverCpuSeconds / secs) * 100 : NaN,
    supervisorCpuPercent: secs > 0 ? (supervisorCpuSeconds / secs) * 100 : NaN,
    serverCpuPerDeliveryUs: run.received > 0 ? (serverCpuSeconds * 1e6) / run.received : NaN,
    serverSysShare: serverCpuSeconds > 0 ? (serverSysSeconds / serverCpuSeconds) * 100 : NaN,
    generatorCpuPercent: secs > 0 ? (run.cpuSeconds / secs) * 100 : NaN,
    machineCpuPercent: secs > 0 ? (machineBusySeconds / secs) * 100 : NaN,
    generatorCpuPerDeliveryUs: run.received > 0 ? (run.cpuSeconds * 1e6) / run.received : NaN,
    generatorLoopDelayP99Ms: run.loopDelayP99Ms,
    sendLagMaxMs: run.sendLagMaxMs,
    duplicates: run.duplicates,
    seqGaps: run.seqGaps,
    resent: run.resent,
    unexpectedCloses: run.unexpectedCloses,
    errorFrames: run.errorFrames,
    firstProblem: run.firstProblem,
    order: checkOrder(run.samples),
    windowSeconds: secs,
  };
}
