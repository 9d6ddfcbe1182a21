/** Bounded waits: every wait on another process has a deadline that says what was awaited. */

export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
}

/** Resolves or rejects like `p`, or rejects with `message` after `ms`. */
export function withDeadline<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(message)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
