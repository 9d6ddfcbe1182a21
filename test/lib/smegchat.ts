/**
 * Starts a real smegchat (supervisor and workers) for a test, on a port the
 * kernel picks, with its own data directory, and tears it down afterwards.
 * Everything waits on events (log lines, exits), each wait bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';
import { TREE } from './checkout.js';
import { scratchDir } from './scratch.js';

export const SMEGCHAT = path.join(TREE, 'packages/supervisor/bin/smegchat.js');
export const SMEGCTL = path.join(TREE, 'packages/supervisor/bin/smegctl.js');

export type LogRecord = Record<string, unknown> & { msg: string; pid: number };

export interface StartOptions {
  readonly workers?: number;
  /**
   * Warm spares (`--spares`), 0 unless asked: the tests that count workers
   * and child processes, or kill one of them, are about the workers; the spare
   * has tests of its own (spare.test.ts), and on a 2-core machine one more
   * Node process starting beside every test's workers slows them all.
   */
  readonly spares?: number;
  readonly args?: readonly string[];
  /** Reuse a data directory (to restart on the same history). */
  readonly dataDir?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Wait for the "ready" log line (default true). */
  readonly waitReady?: boolean;
  /** As root, leave --user/--group out and let smegchat choose (smegchat, else nobody). */
  readonly defaultUser?: boolean;
  /** A command that runs node in the end (it execs it, as systemd-socket-activate does): its arguments come first. */
  readonly launcher?: readonly string[];
}

export interface Smegchat {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** The port of GET /metrics, when started with --metrics (from the ready line). */
  readonly metricsPort: number | null;
  readonly dataDir: string;
  readonly control: string;
  readonly logs: LogRecord[];
  stderr(): string;
  waitForLog(pred: (r: LogRecord) => boolean, ms?: number): Promise<LogRecord>;
  /** Sends a signal and waits for the supervisor to exit. */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Pids of the supervisor's live child processes (the workers, and the spares if any), from /proc. */
  workerPids(): number[];
}

/** A scratch directory the service user (nobody, when tests run as root) can reach into. */
export function reachableScratchDir(t: TestContext, prefix: string): string {
  const dir = scratchDir(t, prefix);
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** Arguments that make a root test run drop to nobody:nogroup, as a real install drops to smegchat. */
export function identityArgs(args: readonly string[] = []): string[] {
  if (process.getuid?.() !== 0 || args.includes('--user')) return [];
  return ['--user', 'nobody', '--group', 'nogroup'];
}

/**
 * Environment that preloads test/lib/fail-worker-start: workers started while
 * `marker` exists fail at once (a reload's replacements, say).
 */
export function failWorkerStartEnv(marker: string): NodeJS.ProcessEnv {
  // From the tree the tests run (a reachable copy where the service user cannot read the checkout).
  const preload = pathToFileURL(path.join(TREE, 'test/dist/lib/fail-worker-start.js')).href;
  const options = [process.env['NODE_OPTIONS'], `--import=${preload}`].filter(Boolean).join(' ');
  return { NODE_OPTIONS: options, SMEGCHAT_TEST_FAIL_START: marker };
}

export function childPids(ppid: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the command name, which is in parentheses and may hold spaces.
      const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(after[1]) === ppid && after[0] !== 'Z') pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids.sort((a, b) => a - b);
}

/** Every live descendant of a process, from /proc. */
export function descendantPids(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const children = childPids(queue.shift()!);
    found.push(...children);
    queue.push(...children);
  }
  return found;
}

/** The Uid, Gid and Groups lines of /proc/PID/status. */
export function procIds(pid: number): { uid: number[]; gid: number[]; groups: number[] } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = (name: string): number[] =>
    (new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  return { uid: line('Uid'), gid: line('Gid'), groups: line('Groups') };
}

export function isAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Polls a condition that has no event to wait on (a process gone from /proc), bounded. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000, stepMs = 25): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export async function startSmegchat(t: TestContext, opts: StartOptions = {}): Promise<Smegchat> {
  // Registered before the scratch directory's own clean-up, so the server is gone before its files are.
  const started: { proc?: ChildProcess } = {};
  t.after(async () => {
    const proc = started.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    const workers = childPids(proc.pid!);
    proc.kill('SIGKILL');
    for (const pid of workers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await exited;
  });
  const dataDir = opts.dataDir ?? path.join(reachableScratchDir(t, 'smegchat'), 'data');
  // In a directory of its own, which the supervisor creates for the service user (as /run/smegchat is).
  const control = path.join(path.dirname(dataDir), 'run', 'control.sock');
  const args = [
    SMEGCHAT,
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--workers',
    String(opts.workers ?? 2),
    '--spares',
    String(opts.spares ?? 0),
    '--data-dir',
    dataDir,
    '--control',
    control,
    ...(opts.defaultUser ? [] : identityArgs(opts.args)),
    ...(opts.args ?? []),
  ];
  const [command, ...before] = [...(opts.launcher ?? []), process.execPath];
  const proc = spawn(command!, [...before, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  started.proc = proc;
  const logs: LogRecord[] = [];
  const waiters = new Set<{ pred: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }>();
  let stderr = '';
  let partial = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      let rec: LogRecord;
      try {
        rec = JSON.parse(line) as LogRecord;
      } catch {
        continue;
      }
      logs.push(rec);
      for (const w of waiters) {
        if (w.pred(rec)) {
          waiters.delete(w);
          w.resolve(rec);
        }
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );

  const waitForLog = (pred: (r: LogRecord) => boolean, ms = 15_000): Promise<LogRecord> => {
    const found = logs.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (r: LogRecord) => (clearTimeout(timer), resolve(r)) };
      const timer = setTimeout(() => {
        waiters.delete(w);
        const recent = logs.filter((r) => (r['level'] as number) >= 40 || /died|exited|ready/.test(r.msg)).slice(-10);
        reject(
          new Error(
            `timed out after ${ms} ms waiting for a log line; stderr: ${stderr.trim()}; recent: ${recent.map((r) => `${r.msg} (worker ${String(r['worker'])}, pid ${String(r['workerPid'] ?? r.pid)})`).join('; ')}`,
          ),
        );
      }, ms);
      waiters.add(w);
      void exited.then(() => {
        if (!waiters.has(w)) return;
        waiters.delete(w);
        clearTimeout(timer);
        reject(new Error(`smegchat exited while a test waited for a log line; stderr: ${stderr.trim()}`));
      });
    });
  };

  let port = 0;
  let metricsPort: number | null = null;
  if (opts.waitReady !== false) {
    const ready = await waitForLog((r) => r.msg === 'ready', 30_000);
    port = ready['port'] as number;
    metricsPort = (ready['metricsPort'] as number | null | undefined) ?? null;
  }

  const server: Smegchat = {
    proc,
    pid: proc.pid!,
    port,
    metricsPort,
    dataDir,
    control,
    logs,
    exited,
    stderr: () => stderr,
    waitForLog,
    async stop(signal = 'SIGTERM', ms = 20_000) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`smegchat did not exit within ${ms} ms of ${signal}`)), ms);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    workerPids: () => childPids(proc.pid!),
  };

  return server;
}
