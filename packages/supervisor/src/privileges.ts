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
  readonly group: string;
  readonly uid: number;
  readonly gid: number;
}

/** The service's own user and group, which deploy/install.sh creates. */
const SERVICE_USER = 'smegchat';
const SERVICE_GROUP = 'smegchat';
/** Who serves when root starts smegchat without --user on a machine without the service user. */
const FALLBACK_USER = 'nobody';

export function isRoot(): boolean {
  return process.geteuid?.() === 0;
}

/** getent asks NSS, so users from LDAP and the like resolve as well as /etc/passwd's. */
function getent(db: 'passwd' | 'group', key: string): string[] | null {
  try {
    return execFileSync('getent', [db, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split(':');
  } catch {
    return null;
  }
}

/** A user's name for a message, or its number when it has none. */
export function userName(uid: number): string {
  return getent('passwd', String(uid))?.[0] ?? `uid ${uid}`;
}

/** Resolves a named user (its passwd entry, if looked up already) and group; refuses (one line) if either is missing or is root. */
function resolveNamed(user: string, group: string, pw = getent('passwd', user)): Identity {
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
  return { user, group, uid, gid };
}

export interface Resolved {
  readonly identity: Identity;
  /** Set when smegchat fell back to nobody: the one warning to log. */
  readonly warning: string | null;
}

/**
 * Who to drop to. A user given by --user (or the config file) must exist.
 * Without one, the service user smegchat, and where it does not exist (root
 * trying `npm start` in a container or a fresh VM) nobody and its group, with
 * a warning, as mosquitto does: never root, and no user created behind the
 * admin's back.
 */
export function resolveIdentity(user: string | null, group: string | null): Resolved {
  if (user !== null) return { identity: resolveNamed(user, group ?? SERVICE_GROUP), warning: null };
  // Looked up once: the entry decided on is the one used.
  const service = getent('passwd', SERVICE_USER);
  if (service !== null) return { identity: resolveNamed(SERVICE_USER, group ?? SERVICE_GROUP, service), warning: null };
  const pw = getent('passwd', FALLBACK_USER);
  if (pw === null) {
    throw new ConfigError(
      `neither user "${SERVICE_USER}" nor "${FALLBACK_USER}" exists: create ${SERVICE_USER} (deploy/install.sh does) or pass --user`,
    );
  }
  const fallbackGroup = group ?? getent('group', pw[3] ?? '')?.[0];
  if (fallbackGroup === undefined) throw new ConfigError(`the group of user "${FALLBACK_USER}" does not exist: pass --user and --group`);
  const identity = resolveNamed(FALLBACK_USER, fallbackGroup, pw);
  return {
    identity,
    warning: `user "${SERVICE_USER}" does not exist: serving as ${identity.user}:${identity.group} instead (deploy/install.sh creates ${SERVICE_USER}; --user chooses another)`,
  };
}

/**
 * The groups the process holds after the drop: the service group only, none of
 * the user's supplementary groups (what it can reach is decided here, not in /etc/group).
 */
export function groupsAfterDrop(who: Identity): number[] {
  return [who.gid];
}

/** Gives a file or directory we created as root to the service user. */
export function handOver(file: string, who: Identity): void {
  fs.chownSync(file, who.uid, who.gid);
}

/** Drops root for good, then proves it cannot be regained. */
export function dropPrivileges(who: Identity): void {
  process.setgroups!(groupsAfterDrop(who));
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
