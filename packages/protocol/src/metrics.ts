/**
 * The vocabulary of smegchat's metrics that more than one process uses: the
 * buckets a worker counts its joins in, the reasons a connection is refused,
 * and how a close code becomes a label. Every label value comes from a closed
 * list here, so no series can multiply with what clients send.
 */

/**
 * Upper bounds, in seconds, of the join latency histogram: from a client's
 * upgrade accepted to its welcome and replay written. A worker counts joins
 * per bucket (plus one overflow bucket past the last bound) and the
 * supervisor adds the counts up, so both must agree on these.
 */
export const JOIN_SECONDS_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** The index of the bucket `seconds` falls in: the first bound at or above it, else the overflow bucket. */
export function bucketIndex(bounds: readonly number[], seconds: number): number {
  let i = 0;
  while (i < bounds.length && seconds > bounds[i]!) i++;
  return i;
}

/**
 * Why a connection was refused. The supervisor refuses at accept
 * (`max-connections`, `max-per-address`, `no-worker`) and when a worker
 * claims a forwarded address over the cap (`max-per-address`); a worker
 * refuses handshakes (`origin`, `bad-request`, `stopping`, `tls-handshake`).
 */
export const CONNECTION_REFUSALS = [
  'max-connections',
  'max-per-address',
  'no-worker',
  'origin',
  'bad-request',
  'stopping',
  'tls-handshake',
] as const;
export type ConnectionRefusal = (typeof CONNECTION_REFUSALS)[number];

/** The refusals a worker makes and reports; the others are the supervisor's own. */
export const WORKER_REFUSALS: readonly ConnectionRefusal[] = ['origin', 'bad-request', 'stopping', 'tls-handshake'];

/** Close codes counted under their own label; any other code (a client may close with any of 3000..4999) counts as `other`. */
const LABELLED_CLOSE_CODES: readonly number[] = [1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 1012, 1013];

/** Every label a close is counted under. */
export const CLOSE_CODE_LABELS: readonly string[] = Object.freeze([...LABELLED_CLOSE_CODES.map(String), 'other']);

/** The label a WebSocket close code is counted under. */
export function closeCodeLabel(code: number): string {
  return LABELLED_CLOSE_CODES.includes(code) ? String(code) : 'other';
}
