/**
 * Events per second over the last few seconds, from counts added as they
 * come (a worker's report, a sampler's tick): one slot a second in a ring, so
 * adding costs O(1) and memory stays the window's size, whatever the rate.
 */
export class RateMeter {
  private readonly counts: number[];
  /** The second (since the epoch) each slot of the ring holds. */
  private readonly seconds: number[];

  constructor(
    /** The window, in whole seconds. */
    private readonly windowSeconds = 10,
    /** When counting began: a younger meter divides by its age, not the whole window. */
    private readonly since = Date.now(),
  ) {
    this.counts = new Array<number>(windowSeconds).fill(0);
    this.seconds = new Array<number>(windowSeconds).fill(-1);
  }

  add(n: number, now = Date.now()): void {
    const second = Math.floor(now / 1000);
    const i = second % this.windowSeconds;
    if (this.seconds[i] !== second) {
      this.seconds[i] = second;
      this.counts[i] = 0;
    }
    this.counts[i]! += n;
  }

  /** The mean rate over the window that ends now (the current second counts in part). */
  perSecond(now = Date.now()): number {
    const second = Math.floor(now / 1000);
    let sum = 0;
    for (let i = 0; i < this.windowSeconds; i++) {
      const age = second - this.seconds[i]!;
      if (age >= 0 && age < this.windowSeconds) sum += this.counts[i]!;
    }
    const span = Math.min((now - this.since) / 1000, this.windowSeconds - 1 + (now % 1000) / 1000);
    return sum / Math.max(1, span);
  }
}
