/**
 * Scratch directories for tests: in one fresh temporary directory per test
 * process (under os.tmpdir()), removed when the process exits, so that a test
 * leaves nothing behind. Not inside the checkout: started as root, smegchat
 * drops to a service user (nobody in these tests) who must reach its data, and
 * a checkout in root's home (mode 0700) is out of that user's reach.
 *
 * The base is mode 0711: other users may pass through it to a directory whose
 * name they are given (reachableScratchDir opens one to them), not list it.
 * Set KEEP_ARTIFACTS to keep everything; the base's path is then printed.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/** The repository root (this file runs from test/dist/lib/). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** True when the tests run as root (needed for setuid, system users and systemd). */
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const keep = Boolean(process.env['KEEP_ARTIFACTS']);
let base: string | undefined;

/** This process's temporary directory, made on first use. */
export function scratchBase(): string {
  if (base === undefined) {
    const made = mkdtempSync(path.join(os.tmpdir(), 'smegchat-test-'));
    chmodSync(made, 0o711);
    process.once('exit', () => {
      if (keep) process.stderr.write(`test scratch kept in ${made}\n`);
      else rmSync(made, { recursive: true, force: true });
    });
    base = made;
  }
  return base;
}

/** A fresh directory (mode 0700), removed when the test ends. */
export function scratchDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(path.join(scratchBase(), `${prefix}-`));
  t.after(() => {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}
