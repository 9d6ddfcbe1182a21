/**
 * Which tree the tests run smegchat from: this checkout, or where its users
 * cannot read it, a copy of it.
 *
 * Started as root, smegchat forks its workers as the service user (nobody in
 * these tests), and they load their code from the tree smegchat runs from; a
 * checkout in root's 0700 home is out of that user's reach, and smegchat then
 * refuses to start, as it should. So there each test process copies this
 * checkout as it is built (its tracked files, every build output and
 * node_modules: about 100 MB, a second) into its scratch directory and runs
 * that: the same code, at a path the service user can read, removed with the
 * scratch directory. Anywhere else (CI's clone, a user's own checkout) the
 * checkout itself runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { blockerOf } from '@smegchat/supervisor/dist/reach.js';
import { REPO_ROOT, isRoot, scratchBase } from './scratch.js';

/** The user the tests drop to as root (identityArgs): nobody:nogroup. */
const SERVICE_ASKER = { uid: 65534, groups: [65534] };

/** The checkout's tracked files, as they are in its work tree (a file deleted there is left out). */
function trackedFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z'], { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 16 << 20 });
  return out.split('\0').filter((f) => f !== '' && existsSync(path.join(REPO_ROOT, f)));
}

/** What `tsc -b` made: each project's dist/ and tsbuildinfo, beside its tsconfig.json. */
function buildOutputs(tracked: readonly string[]): string[] {
  return tracked
    .filter((f) => path.basename(f) === 'tsconfig.json')
    .flatMap((f) => ['dist', 'tsconfig.tsbuildinfo'].map((out) => path.join(path.dirname(f), out)))
    .filter((f) => existsSync(path.join(REPO_ROOT, f)));
}

/**
 * Copies this checkout into `dest` (created): its tracked files and its
 * node_modules (their own symlinks kept, so the workspace packages point into
 * the copy), and with `built` its build outputs too (timestamps kept, so that
 * `tsc -b` finds the copy up to date). Like a clone plus `npm ci`, without the network.
 */
export function copyCheckout(dest: string, opts: { built: boolean }): void {
  mkdirSync(dest, { recursive: true });
  const tracked = trackedFiles();
  const extra = ['node_modules', ...(opts.built ? buildOutputs(tracked) : [])];
  execFileSync('cp', ['-a', '--parents', '-t', dest, ...tracked, ...extra], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** REPO_ROOT where nobody can read it, else a copy of it made for this process. */
function treeToRun(): string {
  if (!isRoot) return REPO_ROOT;
  const code = ['packages/worker/dist/main.js', 'node_modules/ws/package.json'];
  if (code.every((f) => blockerOf(path.join(REPO_ROOT, f), SERVICE_ASKER) === null)) return REPO_ROOT;
  const copy = path.join(scratchBase(), 'checkout');
  copyCheckout(copy, { built: true });
  return copy;
}

/** The tree whose bin/ (and bench/) the tests start. */
export const TREE: string = treeToRun();
