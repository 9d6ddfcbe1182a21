/**
 * Starting and stopping the servers under test, and cleaning up after them
 * whatever happens: each runs in its own process group, which the bench
 * kills when it ends, however it ends.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerKind } from './gen-protocol.js';
import { processTree } from './proc-stats.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/**
 * The smegchat under test: this checkout's, or another built checkout's
 * (SMEGCHAT_BENCH_TREE, for an A B comparison of two commits under one bench:
 * npm run bench:ab).
 */
const SMEGCHAT_TREE = process.env['SMEGCHAT_BENCH_TREE'] ? path.resolve(process.env['SMEGCHAT_BENCH_TREE']) : REPO_ROOT;
const SMEGCHAT_BIN = path.join(SMEGCHAT_TREE, 'packages/supervisor/bin/smegchat.js');
const SMEGCTL_BIN = path.join(SMEGCHAT_TREE, 'packages/supervisor/bin/smegctl.js');
const PEERS = path.join(REPO_ROOT, 'bench/dist/peers');
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 8_000;

export const SERVER_LABEL: Record<ServerKind, string> = {
  smegchat: 'smegchat',
  socketio: 'socket.io',
  ws: 'ws (1 process)',
  floor: 'floor (1 process, writes only)',
};

/** Process groups this bench started and has not yet seen gone. */
const liveGroups = new Set<number>();
/** Fresh data dirs this bench made and has not yet removed. */
const liveDataDirs = new Set<string>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** Kills every server this bench started; safe to call from an 'exit' handler (synchronous). */
export function killAllServers(): void {
  for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
  liveGroups.clear();
  for (const dir of liveDataDirs) rmSync(dir, { recursive: true, force: true });
  liveDataDirs.clear();
}

export interface StartOptions {
  readonly workers: number;
  /** Extra environment for the server's processes (e.g. NODE_OPTIONS for profiling). */
  readonly env?: Record<string, string>;
  /** Extra command-line arguments (e.g. `--redis URL`). */
  readonly args?: readonly string[];
}

export interface LogLine {
  readonly msg?: string;
  readonly [key: string]: unknown;
}

export class RunningServer {
  private readonly lineListeners = new Set<(line: LogLine) => void>();
  private readonly stderrTail: string[] = [];
  private exited: Promise<void>;
  private stopping: Promise<void> | null = null;

  constructor(
    readonly kind: ServerKind,
    readonly port: number,
    readonly workers: number,
    readonly child: ChildProcess,
    readonly dataDir: string | null,
  ) {
    const pid = child.pid!;
    liveGroups.add(pid);
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        // Workers may outlive a supervisor killed hard: the group goes with it.
        killGroup(pid, 'SIGKILL');
        liveGroups.delete(pid);
        resolve();
      });
    });
    let buffered = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const text = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          continue; // not a log line of ours
        }
        for (const l of this.lineListeners) l(line);
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.stderrTail.push(chunk);
      if (this.stderrTail.length > 20) this.stderrTail.shift();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get controlPath(): string | null {
    return this.dataDir ? path.join(this.dataDir, 'control.sock') : null;
  }

  get stderr(): string {
    return this.stderrTail.join('').trim();
  }

  /** Resolves with the first log line (from now on) that `match` accepts. */
  waitForLine(match: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.lineListeners.delete(listener);
        reject(new Error(`${this.kind}: no matching log line within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (line: LogLine): void => {
        if (!match(line)) return;
        clearTimeout(timer);
        this.lineListeners.delete(listener);
        resolve(line);
      };
      this.lineListeners.add(listener);
    });
  }

  /** Pids of the worker processes (the children of the supervisor / primary). */
  workerPids(): number[] {
    return processTree(this.pid).filter((p) => p !== this.pid);
  }

  /** Graceful stop (SIGTERM), escalating to SIGKILL of the group after a bounded wait. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.child.exitCode === null && this.child.signalCode === null) {
        this.child.kill('SIGTERM');
        const timer = setTimeout(() => killGroup(this.pid, 'SIGKILL'), STOP_TIMEOUT_MS);
        await this.exited;
        clearTimeout(timer);
      }
      killGroup(this.pid, 'SIGKILL');
      liveGroups.delete(this.pid);
      if (this.dataDir) {
        rmSync(this.dataDir, { recursive: true, force: true });
        liveDataDirs.delete(this.dataDir);
      }
    })();
    return this.stopping;
  }
}

/** A port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

let smegchatHelp: string | null = null;

/** smegchat's --help, read once: which capacity options this build has. */
export function smegchatHelpText(): string {
  if (smegchatHelp === null) {
    const r = spawnSync(process.execPath, [SMEGCHAT_BIN, '--help'], { encoding: 'utf8', timeout: 15_000 });
    smegchatHelp = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  }
  return smegchatHelp;
}

/**
 * The bench opens up to 10,000 connections from one address, past smegchat's
 * default per-address caps: lift them with whatever options this build has.
 */
function smegchatCapacityArgs(): string[] {
  const help = smegchatHelpText();
  const args: string[] = [];
  const perAddress = /--max-connections-per-(ip|address)\b/.exec(help);
  if (perAddress) args.push(perAddress[0], '0');
  if (/--max-connections\b(?!-)/.test(help)) args.push('--max-connections', '20000');
  // Every generated client shares one address: its byte budget is a limit for the public internet, not for a bench.
  if (/--address-byte-rate\b/.test(help)) args.push('--address-byte-rate', '0');
  return args;
}

export async function startServer(kind: ServerKind, options: StartOptions): Promise<RunningServer> {
  const port = await freePort();
  let args: string[];
  let dataDir: string | null = null;
  switch (kind) {
    case 'smegchat':
      // A fresh data dir each run: history left by an earlier run would be replayed.
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'smegchat-bench-'));
      liveDataDirs.add(dataDir);
      // Started as root, smegchat drops to an unprivileged user, who must reach its data dir.
      if (process.getuid?.() === 0) chmodSync(dataDir, 0o755);
      args = [
        SMEGCHAT_BIN,
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--workers',
        String(options.workers),
        '--data-dir',
        dataDir,
        '--control',
        path.join(dataDir, 'control.sock'),
        '--log-level',
        'info',
        ...smegchatCapacityArgs(),
        // Workers never run as root: as root (a container, CI), drop to nobody.
        ...(process.getuid?.() === 0 ? ['--user', 'nobody', '--group', 'nogroup'] : []),
      ];
      break;
    case 'socketio':
      args = [path.join(PEERS, 'socketio-peer.js'), '--port', String(port), '--workers', String(options.workers)];
      break;
    case 'ws':
      args = [path.join(PEERS, 'ws-peer.js'), '--port', String(port)];
      break;
    case 'floor':
      args = [path.join(PEERS, 'floor-peer.js'), '--port', String(port)];
      break;
  }
  // Node refuses --cpu-prof in NODE_OPTIONS; on the command line node:cluster
  // passes it on to the workers (their execArgv defaults to the primary's).
  args.push(...(options.args ?? []));
  const profileDir = process.env['SMEGCHAT_BENCH_PROFILE_DIR'];
  if (kind === 'smegchat' && profileDir) args.unshift('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    detached: true, // its own process group, so the bench can end all of it
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SMEGCHAT_BENCH_PID: String(process.pid), ...options.env },
  });
  const server = new RunningServer(kind, port, kind === 'ws' || kind === 'floor' ? 1 : options.workers, child, dataDir);
  const failed = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) =>
      reject(new Error(`${kind} exited (${signal ?? code}) before it was ready: ${server.stderr.split('\n').slice(-5).join(' | ')}`)),
    );
    child.once('error', reject);
  });
  failed.catch(() => {}); // only awaited while starting
  try {
    await Promise.race([server.waitForLine((l) => l.msg === 'ready', READY_TIMEOUT_MS), failed]);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

/** Runs `smegctl <args>` against a server; resolves with its exit code, output and duration. */
export function smegctl(
  server: RunningServer,
  args: string[],
  timeoutMs = 60_000,
): Promise<{ code: number | null; out: string; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [SMEGCTL_BIN, '--control', server.controlPath!, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out: out.trim(), ms: Date.now() - started });
    });
  });
}

/** Sends one control request over the server's control socket and returns the reply line, parsed. */
export function controlRequest(server: RunningServer, request: object, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(server.controlPath!);
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('control request timed out'));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify(request)}\n`));
    sock.on('data', (d: string) => {
      data += d;
      const nl = data.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.destroy();
      try {
        resolve(JSON.parse(data.slice(0, nl)));
      } catch (error) {
        reject(error as Error);
      }
    });
    sock.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
