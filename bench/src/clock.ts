/**
 * One clock for every bench process. Send times travel inside stroke ids from
 * a generator process to whichever generator process receives them, so the
 * clock must be the same across processes: CLOCK_MONOTONIC (what
 * process.hrtime reads) is system-wide. performance.now() reads the same
 * clock without allocating a bigint, offset by this process's start; the
 * offset is taken once.
 */
import { performance } from 'node:perf_hooks';

const offsetUs = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;

/** Microseconds on the system's monotonic clock, comparable across processes. */
export function monoUs(): number {
  return performance.now() * 1000 + offsetUs;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when the monotonic clock reaches `atUs` (at once when it already has). */
export function sleepUntil(atUs: number): Promise<void> {
  return sleep(Math.max(0, (atUs - monoUs()) / 1000));
}
