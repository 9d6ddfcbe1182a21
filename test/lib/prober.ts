/**
 * A fresh TCP connection every few milliseconds, each asking GET /healthz and
 * waiting (bounded) for the status line: what a new visitor sees while the
 * service restarts. Every attempt is counted as served, refused, reset,
 * another status or a timeout, with how long it waited.
 */
import net from 'node:net';

export interface Attempt {
  /** ms since the prober started. */
  readonly at: number;
  readonly outcome: 'served' | 'refused' | 'reset' | 'timeout' | `status ${string}` | `error ${string}`;
  /** ms from connect to the status line (or the failure). */
  readonly waitedMs: number;
}

export interface ProbeReport {
  readonly attempts: readonly Attempt[];
  readonly counts: Readonly<Record<string, number>>;
  readonly maxWaitMs: number;
}

/** One attempt: connect, GET /healthz, the status line. */
export function probeOnce(port: number, timeoutMs = 20_000): Promise<Attempt> {
  return attempt(port, timeoutMs, performance.now());
}

function attempt(port: number, timeoutMs: number, t0: number): Promise<Attempt> {
  const at = performance.now() - t0;
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let head = '';
    let done = false;
    const finish = (outcome: Attempt['outcome']): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ at: Math.round(at), outcome, waitedMs: Math.round(performance.now() - t0 - at) });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n'));
    socket.on('data', (chunk: string) => {
      head += chunk;
      const line = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (line) finish(line[1] === '200' ? 'served' : `status ${line[1]!}`);
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      finish(
        err.code === 'ECONNREFUSED'
          ? 'refused'
          : err.code === 'ECONNRESET' || err.code === 'EPIPE'
            ? 'reset'
            : `error ${err.code ?? err.message}`,
      ),
    );
    socket.on('close', () => finish('reset'));
  });
}

/** Starts probing `port` every `everyMs`; stop() waits for the attempts under way and reports. */
export function startProber(port: number, everyMs = 20, timeoutMs = 20_000): { stop(): Promise<ProbeReport>; served(): number } {
  const t0 = performance.now();
  const pending: Promise<Attempt>[] = [];
  let served = 0;
  const timer = setInterval(() => {
    pending.push(
      attempt(port, timeoutMs, t0).then((a) => {
        if (a.outcome === 'served') served++;
        return a;
      }),
    );
  }, everyMs);
  return {
    served: () => served,
    async stop() {
      clearInterval(timer);
      const attempts = await Promise.all(pending);
      const counts: Record<string, number> = {};
      for (const a of attempts) counts[a.outcome] = (counts[a.outcome] ?? 0) + 1;
      return { attempts, counts, maxWaitMs: Math.max(0, ...attempts.map((a) => a.waitedMs)) };
    },
  };
}
