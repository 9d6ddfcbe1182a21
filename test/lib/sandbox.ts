/**
 * A real systemd for a test (test/lib/systemd-sandbox.sh): booted as PID 1 in its own
 * namespaces on an overlay of this machine, so that what a test installs, starts or
 * breaks there is gone when the test ends, and the host's services and /tmp are never
 * touched. The network is the host's: tests reach services in it on loopback.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { REPO_ROOT, isRoot, scratchBase } from './scratch.js';

const SCRIPT = path.join(REPO_ROOT, 'test/lib/systemd-sandbox.sh');

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Sandbox {
  /** The sandbox systemd's pid on the host. */
  readonly pid: number;
  /** Runs a command inside (root, all namespaces); never rejects: look at code. */
  run(args: readonly string[], timeoutMs?: number): Promise<Run>;
  /** Like run, but rejects with the command's output unless it exits 0. */
  ok(args: readonly string[], timeoutMs?: number): Promise<string>;
}

function exec(args: readonly string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    // The checkout, read-only inside, wherever it lives: install.sh runs from it there.
    const env = { ...process.env, SANDBOX_SHARE: REPO_ROOT };
    execFile(SCRIPT, [...args], { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 32 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}\n(${err.message})` : stderr });
    });
  });
}

/** Why this machine cannot boot a sandbox, or null when it can. */
export function sandboxUnavailable(): string | null {
  if (!isRoot) return 'needs root (namespaces, mounts, a PID 1)';
  for (const bin of ['/lib/systemd/systemd', '/usr/bin/unshare', '/usr/bin/nsenter']) {
    if (!existsSync(bin)) return `${bin} is missing`;
  }
  return null;
}

/** Boots a sandbox for this test; it is powered off and removed when the test ends. */
export async function bootSandbox(t: TestContext): Promise<Sandbox> {
  const base = mkdtempSync(path.join(scratchBase(), 'sandbox-'));
  // One hook, in this order: power off, then remove the directory it ran from.
  t.after(async () => {
    const down = await exec(['teardown', base], 30_000);
    if (down.code !== 0) t.diagnostic(`sandbox teardown: ${down.stderr}`);
    if (!process.env['KEEP_ARTIFACTS']) rmSync(base, { recursive: true, force: true });
  });
  const booted = await exec(['boot', base], 30_000);
  if (booted.code !== 0) throw new Error(`sandbox did not boot (${booted.code}):\n${booted.stderr}`);
  const pid = Number(booted.stdout.trim());
  const run = (args: readonly string[], timeoutMs = 60_000): Promise<Run> => exec(['run', base, ...args], timeoutMs);
  return {
    pid,
    run,
    async ok(args, timeoutMs) {
      const r = await run(args, timeoutMs);
      if (r.code !== 0) throw new Error(`${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    },
  };
}
