/** Runs smegctl as a separate process, as an operator does, every run bounded. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { Status } from '@smegchat/protocol';
import { SMEGCTL, until, type Smegchat } from './smegchat.js';

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

/** `smegctl status --json` of a test's smegchat. */
export async function statusOf(server: Smegchat): Promise<Status> {
  const r = await smegctl(['--control', server.control, 'status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as Status;
}

/** Asks for the status until `cond` holds (workers report once a second), bounded; the last status is in the error. */
export async function statusUntil(server: Smegchat, what: string, cond: (s: Status) => boolean, ms = 20_000): Promise<Status> {
  let last: Status | undefined;
  await until(what, async () => cond((last = await statusOf(server))), ms, 200).catch((e: Error) => {
    throw new Error(`${e.message}; last status: ${JSON.stringify(last)}`);
  });
  return last!;
}
