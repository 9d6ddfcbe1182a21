/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up. The
 * worker keeps one per connection and checks it before a frame is even
 * parsed; the page keeps one to stay under that limit when it sends (or
 * resends) in bursts. Pure arithmetic on the times it is given.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private rate: number,
    private burst: number,
    now = performance.now(),
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token; false when the bucket is empty. */
  take(now = performance.now()): boolean {
    return this.takeMany(1, now);
  }

  /** Takes `n` tokens (bytes, say), all or none; false when fewer are left. */
  takeMany(n: number, now = performance.now()): boolean {
    this.refill(now);
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }

  /** Milliseconds until a token can be taken (0 if one can now). */
  msUntilToken(now = performance.now()): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.rate) * 1000;
  }

  /** New limits from a reload; the saved tokens are kept within the new burst. */
  setLimits(rate: number, burst: number): void {
    this.rate = rate;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }
}
