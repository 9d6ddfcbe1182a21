/**
 * Crash backoff, as arithmetic: a slot whose process keeps dying is restarted
 * at once the first time, then after 250 ms doubling up to 30 s; a process
 * that lived 30 s was not crash-looping, and its slot starts over.
 */
export const STABLE_AFTER_MS = 30_000;
export const BACKOFF_FIRST_MS = 250;
export const BACKOFF_CAP_MS = 30_000;

/** The crash streak after a process that lived `livedMs` died, given the streak before it. */
export function nextCrashStreak(streak: number, livedMs: number): number {
  return livedMs >= STABLE_AFTER_MS ? 1 : streak + 1;
}

/** How long to wait before the next start of a slot with this crash streak. */
export function backoffDelay(streak: number): number {
  if (streak <= 1) return 0;
  return Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** (streak - 2));
}
