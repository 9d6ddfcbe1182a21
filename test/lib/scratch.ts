/**
 * Scratch directories for tests, inside the checkout (test/artifacts, git-ignored),
 * never in the host's /tmp: a test must leave nothing of the machine's own behind.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/** The repository root (this file runs from test/dist/lib/). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** A fresh directory under test/artifacts, removed when the test ends (kept if KEEP_ARTIFACTS is set). */
export function scratchDir(t: TestContext, prefix: string): string {
  const base = path.join(REPO_ROOT, 'test', 'artifacts');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, `${prefix}-`));
  t.after(() => {
    if (!process.env['KEEP_ARTIFACTS']) rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** True when the tests run as root (needed for setuid, system users and systemd). */
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
