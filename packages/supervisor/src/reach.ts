/**
 * Can the service user reach what it needs once root is dropped? Workers are
 * new processes, forked after the drop, that load their code from where
 * smegchat is installed, and the history is opened after the drop too. A
 * checkout in root's home (mode 0700 on Debian and in the official Node
 * images) is out of every other user's reach, so started as root there,
 * smegchat could bind the port and then never serve.
 *
 * So this is found up front, before anything is created or forked, from the
 * mode bits of each component of the path, as the kernel decides: the owner's
 * bits if the user owns it, else the group's if the process will hold its
 * group, else the others'. ACLs are not read: a directory opened to the user
 * by an ACL alone is refused here (its mode bits say no), so use the mode bits.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { WORKER_ENTRY } from '@smegchat/worker';
import { ConfigError } from './options.js';
import { groupsAfterDrop, userName, type Identity } from './privileges.js';

/** Who will ask: the uid and the groups held after the drop. */
export interface Asker {
  readonly uid: number;
  readonly groups: readonly number[];
}

/** The path component that stops the asker, with what makes it stop them. */
export interface Blocker {
  readonly path: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

type Stat = (p: string) => Pick<fs.Stats, 'mode' | 'uid' | 'gid'>;

const READ = 4;
const SEARCH = 1;

function permits(st: Pick<fs.Stats, 'mode' | 'uid' | 'gid'>, who: Asker, bit: number): boolean {
  const shift = st.uid === who.uid ? 6 : who.groups.includes(st.gid) ? 3 : 0;
  return ((st.mode >> shift) & bit) !== 0;
}

/**
 * The first directory on the way to `target` that `who` may not search, or
 * `target` itself when it may not be read (a file) or searched (a directory);
 * null when it is within reach. A component that does not exist, or is not
 * a directory, stops the walk without a verdict: whatever opens it later
 * reports that (ENOENT, ENOTDIR).
 */
export function blockerOf(target: string, who: Asker, stat: Stat = fs.statSync): Blocker | null {
  const abs = path.resolve(target);
  const chain: string[] = [];
  for (let p = abs; ; p = path.dirname(p)) {
    chain.unshift(p);
    if (p === path.dirname(p)) break;
  }
  for (const [i, p] of chain.entries()) {
    let st: ReturnType<Stat>;
    try {
      st = stat(p);
    } catch {
      return null;
    }
    const dir = (st.mode & fs.constants.S_IFMT) === fs.constants.S_IFDIR;
    const last = i === chain.length - 1;
    if (!dir && !last) return null;
    if (!permits(st, who, dir ? SEARCH : READ)) return { path: p, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  }
  return null;
}

/**
 * Like blockerOf, for the path as given and for the real path behind it: a
 * symlink on the way is followed by the kernel, so both chains must be passable.
 */
function blockerOfEither(target: string, who: Asker): Blocker | null {
  const given = blockerOf(target, who);
  if (given !== null) return given;
  let real: string;
  try {
    real = fs.realpathSync(target);
  } catch {
    return null;
  }
  return real === path.resolve(target) ? null : blockerOf(real, who);
}

function describe(b: Blocker): string {
  return `${b.path} is mode ${(b.mode & 0o777).toString(8).padStart(4, '0')}, owner ${userName(b.uid)}`;
}

/**
 * Refuses, in one line naming the directory that blocks and the ways out, a
 * start as root whose service user could not load the workers' code or
 * reach the data directory.
 */
export function refuseUnreachable(who: Identity, dataDir: string): void {
  const asker: Asker = { uid: who.uid, groups: groupsAfterDrop(who) };
  // The workers' entry and the packages it imports (ws stands for node_modules).
  const code = [WORKER_ENTRY, createRequire(WORKER_ENTRY).resolve('ws')];
  for (const file of code) {
    const b = blockerOfEither(file, asker);
    if (b === null) continue;
    const tree = path.resolve(WORKER_ENTRY, '../../../..');
    throw new ConfigError(
      `user ${who.user} cannot read the workers' code in ${tree}: ${describe(b)}. ` +
        `Start smegchat as an ordinary user, clone it where user ${who.user} can read it (under /srv or /opt, say), ` +
        `or install the service with deploy/install.sh`,
    );
  }
  const b = blockerOfEither(dataDir, asker);
  if (b !== null && b.path !== path.resolve(dataDir)) {
    throw new ConfigError(
      `user ${who.user} cannot reach the data directory ${dataDir}: ${describe(b)}. ` +
        `Choose a --data-dir it can reach, or start smegchat as an ordinary user`,
    );
  }
}
