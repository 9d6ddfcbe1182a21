/**
 * What this worker did since its last report, in plain numbers: the hot paths
 * add to them (a delivery costs one increment), and once a second they leave
 * for the supervisor as one `metrics` message and start again from zero. The
 * supervisor keeps the totals, so a worker's restart loses at most a second.
 */
import { JOIN_SECONDS_BUCKETS, bucketIndex, closeCodeLabel, type ConnectionRefusal, type MetricsMessage } from '@smegchat/protocol';

export class WorkerMetrics {
  received = 0;
  delivered = 0;
  slowDropped = 0;
  private closed: Record<string, number> = {};
  private refused: Partial<Record<ConnectionRefusal, number>> = {};
  private joins: number[] = new Array<number>(JOIN_SECONDS_BUCKETS.length + 1).fill(0);
  private joinSeconds = 0;

  clientClosed(code: number): void {
    const label = closeCodeLabel(code);
    this.closed[label] = (this.closed[label] ?? 0) + 1;
  }

  handshakeRefused(reason: ConnectionRefusal): void {
    this.refused[reason] = (this.refused[reason] ?? 0) + 1;
  }

  joined(seconds: number): void {
    this.joins[bucketIndex(JOIN_SECONDS_BUCKETS, seconds)]!++;
    this.joinSeconds += seconds;
  }

  /** The report of everything since the previous one; the counts start again from zero. */
  take(clients: number): MetricsMessage {
    const report: MetricsMessage = {
      t: 'metrics',
      clients,
      received: this.received,
      delivered: this.delivered,
      slowDropped: this.slowDropped,
      closed: this.closed,
      refused: this.refused,
      joins: this.joins,
      joinSeconds: this.joinSeconds,
    };
    this.received = 0;
    this.delivered = 0;
    this.slowDropped = 0;
    this.closed = {};
    this.refused = {};
    this.joins = new Array<number>(JOIN_SECONDS_BUCKETS.length + 1).fill(0);
    this.joinSeconds = 0;
    return report;
  }
}
