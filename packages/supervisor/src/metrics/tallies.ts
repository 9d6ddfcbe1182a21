/**
 * What the supervisor counts, in plain numbers: its own events (messages
 * sequenced, connections refused, crashes, reloads, history syncs) and the
 * workers' reports added up. The hot paths add to these and nothing else;
 * status reads them at once and the Prometheus endpoint at each scrape, so
 * neither costs anything between requests. Totals run for the supervisor's
 * life: a worker replaced does not take its counts with it.
 */
import { bucketIndex, type ConnectionRefusal, type MetricsMessage } from '@smegchat/protocol';
import { RateMeter } from './rate-meter.js';

/** A histogram's counts: one per bucket (not cumulative), then the overflow past the last bound. */
export class BucketCounts {
  readonly counts: number[];
  sum = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  get count(): number {
    return this.counts.reduce((a, n) => a + n, 0);
  }

  observe(value: number): void {
    this.counts[bucketIndex(this.bounds, value)]!++;
    this.sum += value;
  }

  /** Adds counts made elsewhere with the same bounds (a worker's report). */
  add(counts: readonly number[], sum: number): void {
    if (counts.length !== this.counts.length) throw new Error(`bucket counts of ${counts.length} buckets for ${this.counts.length}`);
    for (let i = 0; i < counts.length; i++) this.counts[i]! += counts[i]!;
    this.sum += sum;
  }
}

/** One worker process as its reports tell it. */
export class WorkerTally {
  /** WebSocket clients at its last report. */
  clients = 0;
  /** Client messages it took in, since it started. */
  received = 0;
  /** Frames it wrote to live clients, since it started. */
  delivered = 0;
  readonly receivedRate: RateMeter;
  readonly deliveredRate: RateMeter;

  constructor(now = Date.now()) {
    this.receivedRate = new RateMeter(10, now);
    this.deliveredRate = new RateMeter(10, now);
  }
}

/** Upper bounds, in seconds, of the history sync histogram (an fdatasync of one board's log). */
export const SYNC_SECONDS_BUCKETS: readonly number[] = Object.freeze([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

function bump<K>(map: Map<K, number>, key: K, n = 1): void {
  map.set(key, (map.get(key) ?? 0) + n);
}

export class Tallies {
  /**
   * Messages sequenced on the boards this host serves, each counted once: the
   * frames the engine published to it. With the embedded engine, every message
   * this supervisor sequenced; with Redis, every one delivered to this host,
   * whichever host sequenced it.
   */
  sequenced = 0;
  /** Messages of this host's own clients that were sequenced, by type. */
  readonly sequencedByType = new Map<string, number>();
  /** Submitted messages the sequencer refused, by refusal code. */
  readonly messagesRefused = new Map<string, number>();
  readonly connectionsRefused = new Map<ConnectionRefusal, number>();
  /** WebSocket clients closed, by close-code label. */
  readonly clientsClosed = new Map<string, number>();
  slowClientsDropped = 0;
  /** By worker slot, across every process the slot had. */
  readonly receivedBySlot = new Map<number, number>();
  readonly deliveredBySlot = new Map<number, number>();
  readonly joins: BucketCounts;
  readonly historySyncs = new BucketCounts(SYNC_SECONDS_BUCKETS);
  /** Workers replaced after a crash (a reload's replacements are not counted). */
  workerRestarts = 0;
  readonly reloads = { ok: 0, failed: 0 };
  readonly sequencedRate: RateMeter;
  private sampled = 0;

  constructor(joinBuckets: readonly number[], now = Date.now()) {
    this.joins = new BucketCounts(joinBuckets);
    this.sequencedRate = new RateMeter(10, now);
  }

  messageSequenced(type: string): void {
    bump(this.sequencedByType, type);
  }

  framesPublished(count: number): void {
    this.sequenced += count;
  }

  messageRefused(code: string): void {
    bump(this.messagesRefused, code);
  }

  connectionRefused(reason: ConnectionRefusal): void {
    bump(this.connectionsRefused, reason);
  }

  /** Adds a worker's report to its process's tally and to the totals. */
  workerReport(slot: number, worker: WorkerTally, m: MetricsMessage, now = Date.now()): void {
    worker.clients = m.clients;
    worker.received += m.received;
    worker.delivered += m.delivered;
    worker.receivedRate.add(m.received, now);
    worker.deliveredRate.add(m.delivered, now);
    bump(this.receivedBySlot, slot, m.received);
    bump(this.deliveredBySlot, slot, m.delivered);
    this.slowClientsDropped += m.slowDropped;
    for (const [label, n] of Object.entries(m.closed)) bump(this.clientsClosed, label, n ?? 0);
    for (const [reason, n] of Object.entries(m.refused)) bump(this.connectionsRefused, reason as ConnectionRefusal, n ?? 0);
    this.joins.add(m.joins, m.joinSeconds);
  }

  /** Called once a second: feeds the sequenced rate from the running total. */
  tick(now = Date.now()): void {
    this.sequencedRate.add(this.sequenced - this.sampled, now);
    this.sampled = this.sequenced;
  }
}
