/**
 * The client side of the control socket: one connection per request, one JSON
 * line each way (packages/protocol/src/control.ts). Every way this can fail
 * becomes a ControlError whose message is the one line an operator reads, so
 * smegctl, `smegchat -Q` and `smegchat -I` all say the same thing.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import {
  CONTROL_VERSION,
  parseControlReply,
  type ControlReply,
  type ControlRequest,
  type ReloadSummary,
  type Status,
} from '@smegchat/protocol';

/**
 * Why a request failed. `reason` lets callers choose an exit status: a server
 * that is not there is not the same as one that said no.
 */
export type ControlFailure = 'not-running' | 'permission' | 'refused' | 'timeout' | 'protocol' | 'io' | 'interrupted';

export class ControlError extends Error {
  constructor(
    message: string,
    readonly reason: ControlFailure,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

/** Bounds of one exchange; every wait has one. */
export interface RequestTimeouts {
  /** Until the socket accepts the connection. */
  readonly connectMs: number;
  /** From the request sent to the reply line read. */
  readonly replyMs: number;
}

/**
 * A status is answered at once; reload and scale answer when the workers they
 * start are ready, which can take minutes on a loaded machine, so they only
 * get a bound that catches a supervisor that hangs.
 */
export const DEFAULT_TIMEOUTS: Readonly<Record<ControlRequest['cmd'], RequestTimeouts>> = {
  status: { connectMs: 5_000, replyMs: 20_000 },
  stop: { connectMs: 5_000, replyMs: 20_000 },
  reload: { connectMs: 5_000, replyMs: 5 * 60_000 },
  scale: { connectMs: 5_000, replyMs: 5 * 60_000 },
};

/** How long `stop` waits for the supervisor to be gone after it said it is stopping. */
export const STOP_WAIT_MS = 30_000;

/** A reply larger than this is not one the supervisor sends; stop reading. */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

/** The one line for a failed connect, by errno: what the operator can do about it. */
function connectError(socketPath: string, err: NodeJS.ErrnoException): ControlError {
  switch (err.code) {
    case 'ENOENT':
      return new ControlError(`smegchat is not running (no control socket at ${socketPath})`, 'not-running');
    case 'ECONNREFUSED':
      // The file is there but nobody listens: a supervisor that died without removing it.
      return new ControlError(`smegchat is not running (nothing listens on ${socketPath})`, 'not-running');
    case 'EACCES':
    case 'EPERM':
      return new ControlError(`permission denied on ${socketPath}: run as root or as a member of the smegchat group`, 'permission');
    case 'ENOTSOCK':
      return new ControlError(`${socketPath} is not a control socket (is --control right?)`, 'not-running');
    default:
      return new ControlError(`cannot reach smegchat at ${socketPath}: ${err.message}`, 'io');
  }
}

/** An open exchange: the reply, and the moment the supervisor closed the connection. */
interface Exchange {
  readonly reply: Promise<ControlReply>;
  readonly closed: Promise<void>;
  destroy(): void;
}

/** What a caller may add to a request. */
export interface RequestOptions {
  readonly timeouts?: RequestTimeouts;
  /**
   * Stops waiting (the shell's Ctrl-C). The supervisor is not told: a reload
   * it started goes on, and `status` shows it.
   */
  readonly signal?: AbortSignal;
}

function exchange(socketPath: string, req: ControlRequest, opts: RequestOptions): Exchange {
  const timeouts = opts.timeouts ?? DEFAULT_TIMEOUTS[req.cmd];
  const sock = net.createConnection({ path: socketPath });
  let settleReply!: { resolve: (r: ControlReply) => void; reject: (e: Error) => void };
  const reply = new Promise<ControlReply>((resolve, reject) => (settleReply = { resolve, reject }));
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  let replied = false;
  let connected = false;
  let buf = '';

  const fail = (e: ControlError): void => {
    if (replied) return;
    replied = true;
    clearTimeout(timer);
    settleReply.reject(e);
    sock.destroy();
  };

  let timer = setTimeout(
    () => fail(new ControlError(`smegchat did not accept a connection on ${socketPath} within ${seconds(timeouts.connectMs)}`, 'timeout')),
    timeouts.connectMs,
  );

  sock.setEncoding('utf8');
  sock.on('connect', () => {
    connected = true;
    clearTimeout(timer);
    timer = setTimeout(
      () => fail(new ControlError(`smegchat did not answer "${req.cmd}" within ${seconds(timeouts.replyMs)}`, 'timeout')),
      timeouts.replyMs,
    );
    sock.write(JSON.stringify(req) + '\n');
  });
  sock.on('data', (chunk: string) => {
    if (replied) return; // after the reply, only the close matters (stop)
    buf += chunk;
    const nl = buf.indexOf('\n');
    if (nl < 0) {
      if (buf.length > MAX_REPLY_BYTES) fail(new ControlError('the supervisor sent a reply too large to be one', 'protocol'));
      return;
    }
    const parsed = parseControlReply(buf.slice(0, nl));
    if ('error' in parsed && !('ok' in parsed)) {
      fail(new ControlError(parsed.error, 'protocol'));
      return;
    }
    replied = true;
    clearTimeout(timer);
    settleReply.resolve(parsed as ControlReply);
  });
  sock.on('error', (err: NodeJS.ErrnoException) => {
    // Before the connect, the errno says why the server cannot be reached;
    // after it, the server went away mid-exchange.
    fail(connected ? new ControlError(`lost the connection to smegchat: ${err.message}`, 'io') : connectError(socketPath, err));
  });
  const onAbort = (): void => {
    fail(interrupted(req.cmd));
    sock.destroy();
  };
  if (opts.signal?.aborted) queueMicrotask(onAbort);
  else opts.signal?.addEventListener('abort', onAbort, { once: true });
  sock.on('close', () => {
    opts.signal?.removeEventListener('abort', onAbort);
    fail(new ControlError(`smegchat closed the connection without answering "${req.cmd}"`, 'protocol'));
    clearTimeout(timer);
    markClosed();
  });

  return { reply, closed, destroy: () => sock.destroy() };
}

function interrupted(cmd: string): ControlError {
  return new ControlError(`stopped waiting for "${cmd}"; smegchat carries on with it`, 'interrupted');
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Sends one request and resolves with the supervisor's reply, ok or not.
 * Rejects with a ControlError when there is no reply to give.
 */
export async function request(socketPath: string, req: ControlRequest, opts: RequestOptions = {}): Promise<ControlReply> {
  const ex = exchange(socketPath, req, opts);
  try {
    return await ex.reply;
  } finally {
    ex.destroy();
  }
}

/** Unwraps an ok:false reply into the ControlError that carries its line. */
function refused(reply: ControlReply): never {
  throw new ControlError(reply.ok ? 'the supervisor answered with an unexpected reply' : reply.error, reply.ok ? 'protocol' : 'refused');
}

export async function getStatus(socketPath: string, opts: RequestOptions = {}): Promise<Status> {
  const reply = await request(socketPath, { v: CONTROL_VERSION, cmd: 'status' }, opts);
  if (reply.ok && 'status' in reply) return reply.status;
  refused(reply);
}

export async function reload(socketPath: string, opts: RequestOptions = {}): Promise<ReloadSummary> {
  const reply = await request(socketPath, { v: CONTROL_VERSION, cmd: 'reload' }, opts);
  if (reply.ok && 'reload' in reply) return reply.reload;
  refused(reply);
}

export async function scale(socketPath: string, workers: number, opts: RequestOptions = {}): Promise<number> {
  const reply = await request(socketPath, { v: CONTROL_VERSION, cmd: 'scale', workers }, opts);
  if (reply.ok && 'scaled' in reply) return reply.scaled;
  refused(reply);
}

/**
 * Asks the supervisor to stop and resolves once it is gone: the supervisor
 * holds the connection open until it exits, so its close is the signal. When
 * the supervisor's pid is known (from a status asked first), the wait also
 * covers the instant between the socket closing and the process ending.
 */
export async function stop(socketPath: string, opts: RequestOptions & { readonly waitMs?: number } = {}): Promise<void> {
  const waitMs = opts.waitMs ?? STOP_WAIT_MS;
  const deadline = Date.now() + waitMs;
  let pid: number | null = null;
  try {
    pid = (await getStatus(socketPath, { signal: opts.signal })).supervisor.pid;
  } catch (e) {
    // Not running, not ours to ask, interrupted: that is the answer. A supervisor that
    // refuses status but accepts stop is still stopped, only without the pid check.
    if (!(e instanceof ControlError) || (e.reason !== 'refused' && e.reason !== 'protocol')) throw e;
  }
  const ex = exchange(socketPath, { v: CONTROL_VERSION, cmd: 'stop' }, opts);
  try {
    const reply = await ex.reply;
    if (!(reply.ok && 'stopping' in reply)) refused(reply);
    const closed = await within(ex.closed, deadline, opts.signal);
    if (!closed || (pid !== null && !(await processGone(pid, deadline, opts.signal)))) {
      throw new ControlError(`smegchat is still stopping after ${seconds(waitMs)}`, 'timeout');
    }
  } finally {
    ex.destroy();
  }
}

/**
 * Resolves true when p settles before the deadline, false at the deadline;
 * rejects when the signal aborts. Leaves no timer behind either way, so a
 * finished smegctl exits at once.
 */
function within(p: Promise<void>, deadline: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const finish = (settle: () => void): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle();
    };
    const onAbort = (): void => finish(() => reject(interrupted('stop')));
    const timer = setTimeout(() => finish(() => resolve(false)), Math.max(0, deadline - Date.now()));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    p.then(() => finish(() => resolve(true)));
  });
}

const NEVER = new Promise<void>(() => {});

/**
 * True once pid has exited, false if it still runs at the deadline. A zombie
 * counts as gone: it has exited, and only its parent (systemd, a shell, a
 * test) can reap it.
 */
async function processGone(pid: number, deadline: number, signal: AbortSignal | undefined): Promise<boolean> {
  for (;;) {
    if (!processAlive(pid)) return true;
    if (Date.now() >= deadline) return false;
    // Nothing to wait on but the process table: a short poll, bounded by the deadline.
    await within(NEVER, Math.min(Date.now() + 50, deadline), signal);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists, and is not ours to signal (a root supervisor, a group member's smegctl).
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // Field 3 of /proc/PID/stat is the state; the name before it is in parentheses and may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): kill(0) is all we know
  }
}
