/** The pure parts of metrics and status: rates, bucket counts, adding up worker reports, the IPC message, the registry's text. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_LIMITS,
  JOIN_SECONDS_BUCKETS,
  bucketIndex,
  closeCodeLabel,
  parseWorkerMessage,
  type MetricsMessage,
} from '@smegchat/protocol';
import { parseListenAddress, ConfigError } from '@smegchat/supervisor/dist/options.js';
import { RateMeter } from '@smegchat/supervisor/dist/metrics/rate-meter.js';
import { BucketCounts, Tallies, WorkerTally } from '@smegchat/supervisor/dist/metrics/tallies.js';
import { createRegistry, type MetricsSource } from '@smegchat/supervisor/dist/metrics/prometheus.js';
import { renderFrame } from '@smegchat/supervisor/dist/status-watch.js';
import { parsePrometheus } from '../lib/prometheus.js';

const T0 = Date.parse('2026-05-01T12:00:00.000Z');

function report(over: Partial<MetricsMessage> = {}): MetricsMessage {
  return {
    t: 'metrics',
    clients: 0,
    received: 0,
    delivered: 0,
    slowDropped: 0,
    closed: {},
    refused: {},
    joins: new Array<number>(JOIN_SECONDS_BUCKETS.length + 1).fill(0),
    joinSeconds: 0,
    ...over,
  };
}

describe('RateMeter', () => {
  it('divides by its age while younger than the window, then by the window', () => {
    const m = new RateMeter(10, T0);
    m.add(20, T0 + 500);
    assert.equal(m.perSecond(T0 + 1000), 20, 'one second old: the whole count in one second');
    m.add(20, T0 + 1500);
    assert.equal(m.perSecond(T0 + 2000), 20);
    // Long after: only what fell in the last ten seconds counts, over the ten.
    for (let s = 20; s < 30; s++) m.add(5, T0 + s * 1000);
    assert.equal(m.perSecond(T0 + 30_000), 5);
  });

  it('forgets counts older than the window', () => {
    const m = new RateMeter(10, T0);
    m.add(100, T0);
    assert.equal(m.perSecond(T0 + 60_000), 0);
  });
});

describe('BucketCounts', () => {
  it('puts a value in the first bucket whose bound is at or above it, the rest in the overflow', () => {
    const b = new BucketCounts([0.01, 0.1, 1]);
    for (const v of [0.005, 0.01, 0.05, 1, 3]) b.observe(v);
    assert.deepEqual(b.counts, [2, 1, 1, 1]);
    assert.equal(b.count, 5);
    assert.ok(Math.abs(b.sum - 4.065) < 1e-9);
    assert.equal(bucketIndex(JOIN_SECONDS_BUCKETS, 100), JOIN_SECONDS_BUCKETS.length);
  });

  it('adds up counts made elsewhere with the same bounds, and refuses others', () => {
    const b = new BucketCounts([1, 2]);
    b.add([1, 2, 3], 10);
    b.add([1, 0, 0], 0.5);
    assert.deepEqual(b.counts, [2, 2, 3]);
    assert.equal(b.sum, 10.5);
    assert.throws(() => b.add([1, 2], 1));
  });
});

describe('Tallies', () => {
  it("adds each worker's reports to its process, to its slot and to the totals", () => {
    const t = new Tallies(JOIN_SECONDS_BUCKETS, T0);
    const first = new WorkerTally(T0);
    const second = new WorkerTally(T0);
    const joins = [3, ...new Array<number>(JOIN_SECONDS_BUCKETS.length).fill(0)];
    t.workerReport(
      1,
      first,
      report({ clients: 4, received: 10, delivered: 40, closed: { '1000': 1 }, joins, joinSeconds: 0.002 }),
      T0 + 1000,
    );
    t.workerReport(2, second, report({ clients: 1, received: 1, delivered: 4, slowDropped: 1, refused: { origin: 2 } }), T0 + 1000);
    t.workerReport(1, first, report({ clients: 3, received: 5, delivered: 20, closed: { '1000': 1, other: 2 } }), T0 + 2000);
    assert.deepEqual([first.clients, first.received, first.delivered], [3, 15, 60]);
    assert.equal(first.receivedRate.perSecond(T0 + 2000), 7.5);
    assert.deepEqual(
      [...t.receivedBySlot],
      [
        [1, 15],
        [2, 1],
      ],
    );
    assert.deepEqual(
      [...t.deliveredBySlot],
      [
        [1, 60],
        [2, 4],
      ],
    );
    assert.deepEqual(
      [...t.clientsClosed],
      [
        ['1000', 2],
        ['other', 2],
      ],
    );
    assert.equal(t.connectionsRefused.get('origin'), 2);
    assert.equal(t.slowClientsDropped, 1);
    assert.equal(t.joins.count, 3);

    // A replacement process of slot 1 starts its own tally; the slot's total goes on.
    const replacement = new WorkerTally(T0 + 3000);
    t.workerReport(1, replacement, report({ received: 2 }), T0 + 4000);
    assert.equal(replacement.received, 2);
    assert.equal(t.receivedBySlot.get(1), 17);
  });

  it("counts what the engine published, by type what this host's clients sent, and samples the rate once a second", () => {
    const t = new Tallies(JOIN_SECONDS_BUCKETS, T0);
    for (let i = 0; i < 30; i++) t.messageSequenced(i % 3 === 0 ? 'chat' : 'stroke');
    t.framesPublished(20);
    t.framesPublished(10);
    t.tick(T0 + 1000);
    assert.equal(t.sequenced, 30);
    assert.deepEqual(
      [...t.sequencedByType],
      [
        ['chat', 10],
        ['stroke', 20],
      ],
    );
    assert.equal(t.sequencedRate.perSecond(T0 + 1000), 30);
  });
});

describe('the metrics IPC message', () => {
  const valid = report({
    clients: 2,
    received: 3,
    delivered: 6,
    closed: { '1012': 2, other: 1 },
    refused: { 'tls-handshake': 1 },
    joinSeconds: 0.5,
  });

  it('passes a well-formed report, rebuilt from its known fields', () => {
    assert.deepEqual(parseWorkerMessage({ ...valid, extra: 'dropped' }, DEFAULT_LIMITS), valid);
  });

  it('drops a report with a label outside the closed lists, or counts that are not counts', () => {
    for (const bad of [
      { ...valid, closed: { '4321': 1 } }, // the worker labels codes itself: only the known labels pass
      { ...valid, refused: { 'max-connections': 1 } }, // the supervisor's reason, not a worker's
      { ...valid, received: -1 },
      { ...valid, delivered: 1.5 },
      { ...valid, joins: [1, 2, 3] },
      { ...valid, joinSeconds: Infinity },
      { ...valid, closed: { '1000': '1' } },
    ]) {
      assert.equal(parseWorkerMessage(bad, DEFAULT_LIMITS), null, JSON.stringify(bad));
    }
  });

  it('labels close codes from a closed list', () => {
    assert.deepEqual([1000, 1006, 1012, 1004, 3000, 4999].map(closeCodeLabel), ['1000', '1006', '1012', 'other', 'other', 'other']);
  });
});

describe('the Prometheus registry', () => {
  it('renders the tallies and the live state as the text format, every series of a declared family', async () => {
    const tallies = new Tallies(JOIN_SECONDS_BUCKETS, T0);
    tallies.messageSequenced('stroke');
    tallies.messageSequenced('stroke');
    tallies.framesPublished(2);
    tallies.connectionRefused('max-connections');
    tallies.workerRestarts = 3;
    tallies.joins.add([1, 1, ...new Array<number>(JOIN_SECONDS_BUCKETS.length - 1).fill(0)], 0.003);
    const source: MetricsSource = {
      version: '9.9.9',
      tallies,
      connections: () => 7,
      workers: () => [
        { slot: 1, state: 'ready', connections: 4, clients: 3, ipcQueue: 2 },
        { slot: 1, state: 'draining', connections: 1, clients: 1, ipcQueue: 0 },
        { slot: 2, state: 'backoff', connections: 0, clients: 0, ipcQueue: 0 },
      ],
      engine: () => ({ engine: 'embedded', boards: 5, loaded: 2, historyBytes: 1234, sequenced: 2, healthy: true }),
      loopDelay: () => ({ p50: 0.001, p99: 0.02, max: 0.05 }),
      certificateNotAfter: () => 1_800_000_000,
    };
    const s = parsePrometheus(await createRegistry(source, { tls: true, localHistory: true }).metrics());
    assert.equal(s.value('smegchat_messages_total'), 2);
    assert.equal(s.value('smegchat_messages_by_type_total', { type: 'stroke' }), 2);
    assert.equal(s.value('smegchat_connections'), 7);
    assert.equal(s.value('smegchat_worker_connections', { worker: '1' }), 5, "a slot's two processes add up");
    assert.equal(s.value('smegchat_ipc_queue_messages', { worker: '1' }), 2);
    assert.equal(s.value('smegchat_workers', { state: 'ready' }), 1);
    assert.equal(s.value('smegchat_workers', { state: 'backoff' }), 1);
    assert.equal(s.value('smegchat_workers', { state: 'starting' }), 0);
    assert.equal(s.value('smegchat_worker_restarts_total'), 3);
    assert.equal(s.value('smegchat_connections_refused_total', { reason: 'max-connections' }), 1);
    assert.equal(s.value('smegchat_connections_refused_total', { reason: 'max-per-address' }), 0);
    assert.equal(s.value('smegchat_boards'), 5);
    assert.equal(s.value('smegchat_history_bytes'), 1234);
    assert.equal(s.value('smegchat_history_writable'), 1);
    assert.equal(s.value('smegchat_join_duration_seconds_bucket', { le: '0.001' }), 1);
    assert.equal(s.value('smegchat_join_duration_seconds_bucket', { le: '0.0025' }), 2);
    assert.equal(s.value('smegchat_join_duration_seconds_bucket', { le: '+Inf' }), 2);
    assert.equal(s.value('smegchat_join_duration_seconds_count'), 2);
    assert.equal(s.value('smegchat_sequencer_event_loop_delay_seconds', { stat: 'p99' }), 0.02);
    assert.equal(s.value('smegchat_tls_certificate_expiry_timestamp_seconds'), 1_800_000_000);
    assert.equal(s.value('smegchat_info', { version: '9.9.9', engine: 'embedded' }), 1);

    // Without TLS no certificate; with Redis no history on this host's disk.
    const plain = parsePrometheus(await createRegistry(source, { tls: false, localHistory: false }).metrics());
    assert.equal(plain.types.has('smegchat_tls_certificate_expiry_timestamp_seconds'), false);
    assert.equal(plain.types.has('smegchat_history_bytes'), false);
    assert.equal(plain.types.has('smegchat_history_sync_duration_seconds'), false);
    assert.equal(plain.types.has('smegchat_history_writable'), false);
  });
});

describe('parseListenAddress', () => {
  it('takes HOST:PORT and [IPv6]:PORT, and nothing without a host', () => {
    assert.deepEqual(parseListenAddress('metrics', '127.0.0.1:9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseListenAddress('metrics', '[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListenAddress('metrics', 'metrics.internal:80'), { host: 'metrics.internal', port: 80 });
    for (const bad of ['9464', ':9464', '::1:9464', '127.0.0.1:', '127.0.0.1:65536', 'a b:1']) {
      assert.throws(() => parseListenAddress('metrics', bad), ConfigError, bad);
    }
  });
});

describe('renderFrame', () => {
  it('sends the cursor home, writes every line over the old one cleared to its end, then clears the rest', () => {
    assert.equal(renderFrame('ab\ncd\n', 80, 24), '\x1b[Hab\x1b[K\r\ncd\x1b[K\x1b[J');
  });

  it('cuts lines to the width and the frame to the height, saying what did not fit', () => {
    const frame = renderFrame('0123456789\nb\nc\nd\ne\n', 4, 3);
    const lines = frame.slice(3, -3).split('\r\n');
    assert.deepEqual(lines, ['0123\x1b[K', 'b\x1b[K', '... \x1b[K']);
    assert.ok(!frame.includes('\x1b[2J'), 'never blanks the screen first');
  });
});
