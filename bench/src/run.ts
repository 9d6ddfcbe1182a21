/**
 * `npm run bench`: smegchat side by side with socket.io (cluster adapter), a
 * single `ws` process and the floor (a minimal writer, peers/floor-peer.ts),
 * under the same load from the same generators, in one run. `--quick` is the
 * bench's own sanity check, used by `npm test`.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { renderChart } from './chart.js';
import type { ServerKind, Target } from './gen-protocol.js';
import { GeneratorPool } from './generator-pool.js';
import { measure, type Measurement } from './measure.js';
import { buildRows, renderTable } from './report.js';
import { layout, otherLoad, runAll, SCENARIOS, type BenchConfig, type ScenarioName, type ServerResults } from './scenarios.js';
import { killAllServers, REPO_ROOT, SERVER_LABEL, startServer } from './servers.js';

const USAGE = `usage: npm run bench -- [options]

  The redis scenario (two hosts on one Redis: smegchat --redis against socket.io with
  @socket.io/redis-streams-adapter) starts Debian's redis-server on a free loopback port.

  --quick                 sanity check only: tiny load, exact delivery count and order (npm test runs it)
  --json                  print the result as JSON on stdout (progress goes to stderr)
  --servers LIST          of smegchat,socketio,ws,floor (default: all four; floor is the minimal
                          writer every server is reported against, see bench/src/peers/floor-peer.ts)
  --scenarios LIST        of ${SCENARIOS.join(',')} (default: all)
  --generators N          load-generator processes (default 2)
  --workers N             workers for fan-out, many boards and memory (default 2; restart uses 4)
  --steps LIST            fan-out steps, deliveries/s (default 25000,50000,...,300000)
  --client C              raw (default: a minimal WebSocket client on a bare socket, the cheapest
                          the generator can be) or ws (the ws package's client)
  --socketio-client C     lean (default: socket.io's wire protocol on a bare ws client, as cheap
                          as the others') or official (socket.io-client, about twice the cost)
  --quiet-wait S          before each scenario wait up to S seconds for other load to settle (default 20)
  --out DIR               where latest.json, latest.svg and latest.txt go (default bench/results)
  --no-write              write no files
  --profile DIR           run smegchat's processes with --cpu-prof, profiles into DIR
  --help                  this text
`;

const FULL: Omit<BenchConfig, 'servers' | 'scenarios' | 'generators' | 'socketioClient' | 'client'> = {
  points: 16,
  p99LimitMs: 100,
  quietWaitMs: 20_000,
  fanout: {
    clients: 1000,
    senders: 10,
    workers: 2,
    steps: [25_000, 50_000, 75_000, 100_000, 125_000, 150_000, 175_000, 200_000, 250_000, 300_000],
    warmupMs: 1000,
    windowMs: 3000,
    drainMs: 1000,
    latencyPerSec: 50_000,
    latencyWindowMs: 5000,
    cpuAtPerSec: 100_000,
  },
  boards: { clients: 1000, boards: 100, sendersPerBoard: 1, workers: 2, offeredPerSec: 50_000, windowMs: 5000 },
  memory: { connections: 10_000, boards: 100, workers: 2 },
  restart: { workers: 4, clients: 1000, boards: 10, sendersPerBoard: 2, offeredPerSec: 20_000 },
  redis: { hosts: 2, workersPerHost: 1, clients: 1000, senders: 10, cpuAtPerSec: 100_000, latencyPerSec: 50_000, windowMs: 3000 },
  ceiling: { boards: 1000, workers: [1, 2], steps: [2000, 5000, 10_000, 15_000, 20_000, 30_000, 40_000, 50_000], windowMs: 3000 },
  idle: { points: [10_000, 50_000, 100_000], boards: 100, workers: 2, perAddress: 20_000 },
};

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function list<T extends string>(text: string | undefined, allowed: readonly T[], what: string): T[] {
  if (text === undefined) return [...allowed];
  const items = text.split(',').filter(Boolean);
  for (const i of items) if (!allowed.includes(i as T)) throw new TypeError(`--${what}: unknown "${i}" (one of ${allowed.join(', ')})`);
  return items as T[];
}

function openFilesLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m?.[1] === 'unlimited' ? Infinity : Number(m?.[1] ?? 1024);
  } catch {
    return 1024;
  }
}

function machine(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

interface QuickResult {
  readonly expected: number;
  readonly received: number;
  readonly lost: number;
  readonly duplicates: number;
  readonly seqGaps: number;
  readonly unexpectedCloses: number;
  readonly sampledClients: number;
  readonly disagreeing: number;
  readonly firstProblem: string | null;
  /** Exact count and, where the server has a sequencer, the same order everywhere. */
  readonly ok: boolean;
}

/**
 * Ten clients on one board, two of them sending a known number of strokes:
 * every client must get every stroke once, so the count is exact.
 */
async function quick(
  servers: readonly ServerKind[],
  pool: GeneratorPool,
  socketioClient: Target['socketioClient'],
  client: Target['client'],
): Promise<Record<string, QuickResult>> {
  const clients = 10;
  const senders = 2;
  const strokes = 25;
  const out: Record<string, QuickResult> = {};
  for (const kind of servers) {
    log(`quick: ${SERVER_LABEL[kind]}`);
    const server = await startServer(kind, { workers: 2 });
    try {
      await pool.connect({ kind, port: server.port, socketioClient, client }, ['quick'], layout(clients, 1, senders, 1, clients));
      const { m } = await measure(pool, server, {
        offeredPerSec: 0,
        rate: 50,
        points: 4,
        count: strokes,
        warmupMs: 0,
        windowMs: 3000,
        drainMs: 1000,
      });
      await pool.disconnect();
      const expectedExact = senders * strokes * clients;
      // socket.io has no sequencer: its clients may disagree on order, which is what the bench shows.
      const orderMatters = kind !== 'socketio';
      const ok =
        m.expected === expectedExact &&
        m.received === expectedExact &&
        m.duplicates === 0 &&
        m.seqGaps === 0 &&
        m.unexpectedCloses === 0 &&
        (!orderMatters || m.order.disagreeing === 0);
      out[kind] = {
        expected: m.expected,
        received: m.received,
        lost: m.lost,
        duplicates: m.duplicates,
        seqGaps: m.seqGaps,
        unexpectedCloses: m.unexpectedCloses,
        sampledClients: m.order.sampledClients,
        disagreeing: m.order.disagreeing,
        firstProblem: m.firstProblem,
        ok,
      };
      log(
        `  expected ${m.expected}, received ${m.received}, order ${m.order.sampledClients - m.order.disagreeing}/${m.order.sampledClients} agree: ${ok ? 'ok' : 'WRONG'}`,
      );
    } finally {
      await server.stop();
    }
  }
  return out;
}

function allMeasurements(results: Record<string, ServerResults>): Measurement[] {
  return Object.values(results).flatMap((r) => [
    ...(r.fanout ? [r.fanout.latency, ...r.fanout.steps] : []),
    ...(r.boards ? [r.boards] : []),
    ...(r.restart ? [r.restart.m] : []),
    ...(r.reload ? [r.reload.m] : []),
    ...(r.redis ? [r.redis.atCpuLoad, r.redis.latency] : []),
  ]);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      servers: { type: 'string' },
      scenarios: { type: 'string' },
      generators: { type: 'string', default: '2' },
      workers: { type: 'string', default: '2' },
      steps: { type: 'string' },
      'socketio-client': { type: 'string', default: 'lean' },
      client: { type: 'string', default: 'raw' },
      'quiet-wait': { type: 'string', default: '20' },
      out: { type: 'string', default: path.join(REPO_ROOT, 'bench/results') },
      'no-write': { type: 'boolean', default: false },
      profile: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const servers = list<ServerKind>(values.servers, ['smegchat', 'socketio', 'ws', 'floor'], 'servers');
  const scenarios = list<ScenarioName>(values.scenarios, SCENARIOS, 'scenarios');
  const generators = Number(values.generators);
  if (!Number.isInteger(generators) || generators < 1 || generators > 16) throw new TypeError('--generators must be 1..16');
  const socketioClient = values['socketio-client'];
  if (socketioClient !== 'lean' && socketioClient !== 'official') throw new TypeError('--socketio-client must be lean or official');
  const client = values.client;
  if (client !== 'raw' && client !== 'ws') throw new TypeError('--client must be raw or ws');
  const steps = values.steps?.split(',').map(Number) ?? FULL.fanout.steps;
  if (steps.some((s) => !(s > 0))) throw new TypeError('--steps: deliveries a second, comma-separated');
  if (values.profile) {
    const dir = path.resolve(values.profile);
    mkdirSync(dir, { recursive: true });
    // smegchat's workers run as an unprivileged user when the bench runs as root: they must write here.
    if (process.getuid?.() === 0) chmodSync(dir, 0o777);
    process.env['SMEGCHAT_BENCH_PROFILE_DIR'] = dir;
  }

  const pool = new GeneratorPool(generators);
  process.on('exit', () => pool.kill());
  try {
    if (values.quick) {
      const results = await quick(servers, pool, socketioClient, client);
      const allOk = Object.values(results).every((r) => r.ok);
      if (values.json) process.stdout.write(`${JSON.stringify({ quick: true, servers: results }, null, 2)}\n`);
      return allOk ? 0 : 1;
    }

    const quietWaitMs = Number(values['quiet-wait']) * 1000;
    if (!(quietWaitMs >= 0)) throw new TypeError('--quiet-wait: seconds, 0 or more');
    const workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new TypeError('--workers must be 1..64');
    const cfg: BenchConfig = {
      ...FULL,
      quietWaitMs,
      fanout: { ...FULL.fanout, steps, workers },
      boards: { ...FULL.boards, workers },
      memory: { ...FULL.memory, workers },
      servers,
      scenarios,
      generators,
      socketioClient,
      client,
    };
    // The idle crowd brings generators of its own, sized to the limit.
    const needFiles = scenarios.includes('memory') ? cfg.memory.connections / generators + 1000 : 4000;
    if (openFilesLimit() < needFiles) {
      log(
        `warning: open files limit ${openFilesLimit()} is below the ${Math.ceil(needFiles)} a generator needs; run through npm run bench (it raises it) or ulimit -n`,
      );
    }
    const started = new Date();
    log(`smegchat bench, ${started.toISOString()}, ${JSON.stringify(machine())}, ${generators} generator processes`);
    const results = await runAll(cfg, pool, log);
    const rows = buildRows(cfg, results);
    const table = renderTable(rows, servers);
    const minutes = ((Date.now() - started.getTime()) / 60_000).toFixed(1);
    const m = machine();
    const worstOther = Math.max(0, ...allMeasurements(results).map(otherLoad));
    const header =
      `smegchat bench ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${m['cores']} × ${m['cpu']}, ${m['node']}, ${minutes} min; ` +
      `other load on the machine during a measurement: up to ${worstOther.toFixed(0)}% of a core`;
    const given = process.argv.slice(2);
    const command = given.length > 0 ? `npm run bench -- ${given.join(' ')}` : 'npm run bench';
    const summary = { date: started.toISOString(), machine: m, command, config: cfg, results, table: rows };
    if (!values['no-write']) {
      mkdirSync(values.out!, { recursive: true });
      writeFileSync(path.join(values.out!, 'latest.json'), `${JSON.stringify(summary, null, 2)}\n`);
      writeFileSync(path.join(values.out!, 'latest.txt'), `${header}\ncommand: ${command}\n\n${table}\n`);
      const series = servers
        .filter((k) => results[k]?.fanout)
        .map((k) => {
          const fan = results[k]!.fanout!;
          const pts: Measurement[] = [...fan.steps];
          return { kind: k, label: SERVER_LABEL[k], points: pts.sort((a, b) => a.deliveriesPerSec - b.deliveriesPerSec) };
        });
      if (series.length > 0) {
        const svg = renderChart(
          series,
          `Fan-out: p99 latency vs delivery rate, ${cfg.fanout.clients} clients on one board, ${cfg.fanout.workers} workers`,
          `${started.toISOString().slice(0, 10)}, ${m['cores']} cores (${m['cpu']}), server and load generator on the same machine`,
          cfg.p99LimitMs,
        );
        writeFileSync(path.join(values.out!, 'latest.svg'), `${svg}\n`);
      }
      log(`wrote ${path.relative(process.cwd(), values.out!) || '.'}/latest.{json,txt,svg}`);
    }
    if (values.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else process.stdout.write(`\n${header}\n\n${table}\n`);
    const failures = Object.entries(results).flatMap(([k, r]) => r.errors.map((e) => `${k}: ${e}`));
    for (const f of failures) log(`error: ${f}`);
    return failures.length > 0 ? 1 : 0;
  } finally {
    await pool.close();
    killAllServers();
  }
}

process.on('exit', killAllServers);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`bench: ${signal}, stopping the servers and generators`);
    killAllServers();
    process.exit(130);
  });
}
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`bench: ${(error as Error).message}`);
    killAllServers();
    process.exit(error instanceof TypeError ? 2 : 1);
  },
);
