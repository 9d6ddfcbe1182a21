/**
 * How late the supervisor's event loop runs its callbacks: the supervisor is
 * the sequencer, so this is how long a message can wait for its seq. Node's
 * own monitor samples it (in C++, off the loop); every ten seconds the window
 * is read and started again, so what a scrape or a status shows is the last
 * whole window, the same whoever asks and however often.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

const WINDOW_MS = 10_000;
/** The sampling timer's period; every sample includes it, so it is taken off. */
const RESOLUTION_MS = 10;

export interface LoopDelaySnapshot {
  /** Seconds. */
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export class LoopDelay {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  private readonly timer: NodeJS.Timeout;
  private last: LoopDelaySnapshot = { p50: 0, p99: 0, max: 0 };

  constructor() {
    this.histogram.enable();
    this.timer = setInterval(() => this.roll(), WINDOW_MS);
    this.timer.unref();
  }

  snapshot(): LoopDelaySnapshot {
    return this.last;
  }

  close(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }

  private roll(): void {
    const h = this.histogram;
    // Nanoseconds, each sample the timer's period plus the delay; a window with no sample reads zeros.
    const s = (ns: number): number => (Number.isFinite(ns) && h.count > 0 ? Math.max(0, ns - RESOLUTION_MS * 1e6) / 1e9 : 0);
    this.last = { p50: s(h.percentile(50)), p99: s(h.percentile(99)), max: s(h.max) };
    h.reset();
  }
}
