/** Runs smegctl as a separate process, as an operator does, every run bounded. */
import { spawn } from 'node:child_process';
import { SMEGCTL } from './smegchat.js';

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly uid?: number;
  readonly gid?: number;
  readonly input?: string;
  /** Bound of the whole run (default 30 s; a reload on a loaded machine may want more). */
  readonly ms?: number;
}

export function smegctl(args: readonly string[], opts: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SMEGCTL, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.ms ?? 30_000,
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== null)
        reject(new Error(`smegctl ${args.join(' ')} ended by ${signal} (bounded at ${opts.ms ?? 30_000} ms)\n${stderr}`));
      else resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}
