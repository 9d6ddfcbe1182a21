/**
 * Latency histogram, mergeable across generator processes by adding counts.
 * Every delivery is recorded, so the recording must be cheap and the memory
 * fixed: 10 µs buckets below 1 ms, then buckets 1 % wide up to about a minute.
 * A percentile is reported as its bucket's upper bound (at most 1 % high).
 */
const LINEAR_BUCKETS = 100;
const LINEAR_WIDTH_US = 10;
const LINEAR_END_US = LINEAR_BUCKETS * LINEAR_WIDTH_US;
const GROWTH = 1.01;
const INV_LOG_GROWTH = 1 / Math.log(GROWTH);
/** 1 ms × 1.01^1110 ≈ 62 s: anything later lands in the last bucket. */
export const HISTOGRAM_BUCKETS = LINEAR_BUCKETS + 1110;

export function bucketOf(us: number): number {
  if (us < LINEAR_END_US) return us > 0 ? Math.floor(us / LINEAR_WIDTH_US) : 0;
  const i = LINEAR_BUCKETS + Math.floor(Math.log(us / LINEAR_END_US) * INV_LOG_GROWTH);
  return i < HISTOGRAM_BUCKETS ? i : HISTOGRAM_BUCKETS - 1;
}

export function bucketUpperUs(i: number): number {
  if (i < LINEAR_BUCKETS) return (i + 1) * LINEAR_WIDTH_US;
  return LINEAR_END_US * GROWTH ** (i - LINEAR_BUCKETS + 1);
}

export class LatencyHistogram {
  readonly counts: Float64Array;
  total = 0;
  maxUs = 0;

  constructor(counts?: ArrayLike<number>) {
    this.counts = new Float64Array(HISTOGRAM_BUCKETS);
    if (counts) this.add(counts);
  }

  record(us: number): void {
    this.counts[bucketOf(us)]!++;
    this.total++;
    if (us > this.maxUs) this.maxUs = us;
  }

  add(counts: ArrayLike<number>, maxUs = 0): void {
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      const c = counts[i] ?? 0;
      this.counts[i]! += c;
      this.total += c;
    }
    if (maxUs > this.maxUs) this.maxUs = maxUs;
  }

  /** The latency under which a fraction `p` (0..1) of the recorded deliveries fell, in µs. */
  percentileUs(p: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.ceil(p * this.total);
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(bucketUpperUs(i), this.maxUs);
    }
    return this.maxUs;
  }
}
