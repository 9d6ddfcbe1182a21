/**
 * Dropping root. Everything that needs root is done before (binding the
 * port, creating the control socket, pid file, log file and data directory
 * and handing them to the service user); then supplementary groups, gid and
 * uid are set, in that order, and the drop is checked: a process that could
 * become root again is refused.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { ConfigError } from './options.js';

export interface Identity {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
}

export function isRoot(): boolean {
  return process.geteuid?.() === 0;
}

/** getent asks NSS, so users from LDAP and the like resolve as well as /etc/passwd's. */
function getent(db: 'passwd' | 'group', name: string): string[] | null {
  try {
    return execFileSync('getent', [db, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split(':');
  } catch {
    return null;
  }
}

/** Resolves the service user and group; refuses (one line) if either is missing or is root. */
export function resolveIdentity(user: string, group: string): Identity {
  const pw = getent('passwd', user);
  if (pw === null) {
    throw new ConfigError(`user "${user}" does not exist: create it (deploy/install.sh does) or pass --user`);
  }
  const gr = getent('group', group);
  if (gr === null) {
    throw new ConfigError(`group "${group}" does not exist: create it (deploy/install.sh does) or pass --group`);
  }
  const uid = Number(pw[2]);
  const gid = Number(gr[2]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) throw new ConfigError(`cannot read the ids of ${user}:${group}`);
  if (uid === 0 || gid === 0) {
    throw new ConfigError(
      `refusing to serve as root: --user/--group ${user}:${group} is uid ${uid} gid ${gid}; choose an unprivileged user`,
    );
  }
  return { user, uid, gid };
}

/** Gives a file or directory we created as root to the service user. */
export function handOver(file: string, who: Identity): void {
  fs.chownSync(file, who.uid, who.gid);
}

/** Drops root for good, then proves it cannot be regained. */
export function dropPrivileges(who: Identity): void {
  process.setgroups!([who.gid]);
  process.setgid!(who.gid);
  process.setuid!(who.uid);
  const ids = [process.getuid!(), process.geteuid!(), process.getgid!(), process.getegid!()];
  if (ids.some((id) => id === 0) || process.getgroups!().includes(0)) {
    throw new Error(`privilege drop incomplete: uid/euid/gid/egid ${ids.join('/')}`);
  }
  let regained = false;
  try {
    process.setuid!(0);
    regained = true;
  } catch {
    // expected: EPERM
  }
  if (regained) throw new Error('privilege drop failed: setuid(0) succeeded afterwards');
}
