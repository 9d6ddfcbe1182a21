/**
 * The Prometheus view of the supervisor (docs/METRICS.md): prom-client's
 * default process metrics for this process, and smegchat's own series, each
 * read at scrape time from the tallies and the live state, so that nothing is
 * spent on metrics between scrapes. Label values come from closed lists only
 * (states, message types, refusal reasons, close-code labels, worker slots):
 * never a board, a session or an address.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { WorkerState } from '@smegchat/protocol';
import type { EngineStats } from '../engine/engine.js';
import type { LoopDelaySnapshot } from './loop-delay.js';
import type { BucketCounts, Tallies } from './tallies.js';

/** One worker process as the metrics see it. */
export interface WorkerSample {
  /** Its slot; null for a spare (counted by state only). */
  readonly slot: number | null;
  readonly state: WorkerState;
  readonly connections: number;
  readonly clients: number;
  /** Messages sent to it that its IPC channel has not taken yet. */
  readonly ipcQueue: number;
}

/** Where the metrics read the live state from. */
export interface MetricsSource {
  readonly version: string;
  readonly tallies: Tallies;
  connections(): number;
  workers(): readonly WorkerSample[];
  engine(): EngineStats;
  loopDelay(): LoopDelaySnapshot;
  /** When the served certificate expires (seconds since the epoch), or null without TLS. */
  certificateNotAfter(): number | null;
}

const WORKER_STATES: readonly WorkerState[] = ['starting', 'ready', 'draining', 'stopping', 'backoff', 'spare'];

/** A counter that shows a running total kept elsewhere: set at each scrape from what it mirrors. */
function mirror(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** The same with one label, from a map of label value to total. */
function mirrorBy<K extends string | number>(
  registry: Registry,
  name: string,
  help: string,
  label: string,
  read: () => ReadonlyMap<K, number>,
  always: readonly K[] = [],
): void {
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      this.reset();
      const totals = read();
      // Series an operator alerts on exist from the start, at 0, so that rate() and absent() work.
      for (const key of always) this.inc({ [label]: String(key) }, 0);
      for (const [key, n] of totals) this.inc({ [label]: String(key) }, n);
    },
  });
}

function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/** A gauge per worker slot; during a reload a slot's two processes add up. */
function gaugeBySlot(registry: Registry, name: string, help: string, source: MetricsSource, read: (w: WorkerSample) => number): void {
  new Gauge({
    name,
    help,
    labelNames: ['worker'],
    registers: [registry],
    collect() {
      this.reset();
      const bySlot = new Map<number, number>();
      for (const w of source.workers()) if (w.slot !== null) bySlot.set(w.slot, (bySlot.get(w.slot) ?? 0) + read(w));
      for (const [slot, n] of bySlot) this.set({ worker: String(slot) }, n);
    },
  });
}

/**
 * A histogram whose buckets are counted elsewhere (by the workers, or the
 * history): prom-client's Histogram only takes single observations, so this
 * is a metric object of its own, answering `get()` in the shape the registry
 * renders. prom-client's AggregatorRegistry registers its merged metrics the
 * same way; its type declarations only name its own classes, hence the cast.
 */
function bucketHistogram(registry: Registry, name: string, help: string, read: () => BucketCounts): void {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const h = read();
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      let cumulative = 0;
      h.bounds.forEach((bound, i) => {
        cumulative += h.counts[i]!;
        values.push({ metricName: `${name}_bucket`, labels: { le: bound }, value: cumulative });
      });
      cumulative += h.counts[h.bounds.length]!;
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: cumulative });
      values.push({ metricName: `${name}_sum`, labels: {}, value: h.sum });
      values.push({ metricName: `${name}_count`, labels: {}, value: cumulative });
      return Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values });
    },
  };
  registry.registerMetric(metric as unknown as Metric);
}

/**
 * Builds the registry; scraping it reads `source`. The certificate's expiry is a
 * series only with `tls`; the history's only with an engine that keeps it on
 * this host's disk (`localHistory`: the embedded one).
 */
export function createRegistry(source: MetricsSource, { tls, localHistory }: { tls: boolean; localHistory: boolean }): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const t = source.tallies;

  new Gauge({
    name: 'smegchat_info',
    help: 'Always 1: the version and engine of this smegchat',
    labelNames: ['version', 'engine'],
    registers: [registry],
    collect() {
      this.reset();
      this.set({ version: source.version, engine: source.engine().engine }, 1);
    },
  });
  gauge(registry, 'smegchat_connections', 'Open client connections, of all workers and held by the supervisor', () => source.connections());
  gaugeBySlot(registry, 'smegchat_worker_connections', 'Open connections handed to each worker', source, (w) => w.connections);
  gaugeBySlot(
    registry,
    'smegchat_clients',
    'WebSocket clients of each worker, joining or live, at its last report',
    source,
    (w) => w.clients,
  );
  gaugeBySlot(
    registry,
    'smegchat_ipc_queue_messages',
    'Messages to each worker that its IPC channel has not taken yet (deliveries pile up here when a worker falls behind)',
    source,
    (w) => w.ipcQueue,
  );
  new Gauge({
    name: 'smegchat_workers',
    help: 'Worker slots by state (backoff: waiting to replace a crashed worker), and the spares (spare: warm, waiting to take a slot)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const n = new Map<WorkerState, number>(WORKER_STATES.map((s) => [s, 0]));
      for (const w of source.workers()) n.set(w.state, (n.get(w.state) ?? 0) + 1);
      for (const [state, count] of n) this.set({ state }, count);
    },
  });
  mirror(
    registry,
    'smegchat_worker_restarts_total',
    'Workers replaced after a crash (not those a reload or scale replaced)',
    () => t.workerRestarts,
  );
  mirrorBy(
    registry,
    'smegchat_reloads_total',
    'Rolling reloads and certificate renewals, by result',
    'result',
    () => new Map(Object.entries(t.reloads)),
    ['ok', 'failed'],
  );

  mirror(
    registry,
    'smegchat_messages_total',
    'Messages sequenced on the boards this host serves (with Redis: delivered to this host, whichever host sequenced them)',
    () => t.sequenced,
  );
  mirrorBy(
    registry,
    'smegchat_messages_by_type_total',
    "Messages of this host's clients sequenced, by type",
    'type',
    () => t.sequencedByType,
  );
  mirrorBy(
    registry,
    'smegchat_messages_refused_total',
    'Submitted messages refused with an error frame, by code',
    'code',
    () => t.messagesRefused,
  );
  mirrorBy(registry, 'smegchat_client_messages_received_total', 'Client messages each worker took in', 'worker', () => t.receivedBySlot);
  mirrorBy(registry, 'smegchat_deliveries_total', 'Sequenced frames each worker wrote to live clients', 'worker', () => t.deliveredBySlot);
  mirrorBy(registry, 'smegchat_connections_refused_total', 'Connections refused, by reason', 'reason', () => t.connectionsRefused, [
    'max-connections',
    'max-per-address',
  ]);
  mirrorBy(
    registry,
    'smegchat_clients_closed_total',
    'WebSocket clients closed, by close code (other: codes of 3000 and up)',
    'code',
    () => t.clientsClosed,
  );
  mirror(
    registry,
    'smegchat_slow_clients_dropped_total',
    'Clients dropped for reading too slowly (max-buffered-bytes)',
    () => t.slowClientsDropped,
  );
  bucketHistogram(registry, 'smegchat_join_duration_seconds', 'From a WebSocket accepted to its welcome and replay written', () => t.joins);

  gauge(registry, 'smegchat_boards', 'Boards that exist', () => source.engine().boards);
  if (localHistory) {
    gauge(
      registry,
      'smegchat_boards_loaded',
      'Boards in memory (someone was on them in the last minute)',
      () => source.engine().loaded ?? 0,
    );
    gauge(registry, 'smegchat_history_bytes', 'Size of the board history on disk', () => source.engine().historyBytes ?? 0);
    gauge(registry, 'smegchat_history_writable', '1 while board history can be written, 0 during a storage fault', () =>
      source.engine().healthy ? 1 : 0,
    );
    gauge(
      registry,
      'smegchat_history_budget_bytes',
      'Bytes all board logs may take (--history-budget; 0: none)',
      () => source.engine().budget?.historyBytes ?? 0,
    );
    gauge(
      registry,
      'smegchat_history_disk_free_bytes',
      'Free space on the data disk, as last asked (with --min-free)',
      () => source.engine().budget?.freeBytes ?? 0,
    );
    gauge(
      registry,
      'smegchat_history_corrupt_boards',
      'Board logs found corrupt since start (kept aside)',
      () => source.engine().quarantined ?? 0,
    );
    bucketHistogram(
      registry,
      'smegchat_history_sync_duration_seconds',
      "One fdatasync of a board's log (the once-a-second power-cut policy)",
      () => t.historySyncs,
    );
  }
  new Gauge({
    name: 'smegchat_sequencer_event_loop_delay_seconds',
    help: "How late the supervisor's event loop (the sequencer) ran, over the last 10 s window",
    labelNames: ['stat'],
    registers: [registry],
    collect() {
      const d = source.loopDelay();
      this.set({ stat: 'p50' }, d.p50);
      this.set({ stat: 'p99' }, d.p99);
      this.set({ stat: 'max' }, d.max);
    },
  });
  if (tls) {
    gauge(
      registry,
      'smegchat_tls_certificate_expiry_timestamp_seconds',
      'When the served certificate expires',
      () => source.certificateNotAfter() ?? 0,
    );
  }
  return registry;
}
