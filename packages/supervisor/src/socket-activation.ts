/**
 * systemd socket activation (sd_listen_fds(3)), without libsystemd: the
 * service manager binds the port, passes the listening sockets from fd 3 on,
 * and says so in LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES. The sockets are
 * chosen by name, never by position (their order is not stable): `metrics`
 * is the --metrics socket (a second socket unit with
 * FileDescriptorName=metrics), every other one serves the port.
 */

/** The first fd systemd passes (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/** The name FileDescriptorName= gives the --metrics socket. */
export const METRICS_FD_NAME = 'metrics';

export interface PassedSocket {
  readonly fd: number;
  /** FileDescriptorName= of its socket unit (systemd's default: the unit's name); "unknown" without LISTEN_FDNAMES. */
  readonly name: string;
}

export interface Activation {
  /** The sockets that serve the port (at least one). */
  readonly web: readonly PassedSocket[];
  /** The socket of GET /metrics, when the units pass one. */
  readonly metrics: PassedSocket | null;
}

/** LISTEN_* that do not describe a passing systemd could have made: the one line says which. */
export class ActivationError extends Error {
  override readonly name = 'ActivationError';
}

/** More fds than any unit of ours passes; a larger count is a corrupted environment, not a config. */
const MAX_FDS = 64;

/**
 * The sockets passed to `pid`, or null when none were (LISTEN_PID absent or
 * another process's: an environment inherited from a parent that was
 * activated, as sd_listen_fds ignores it too). Pure: reads `env` only.
 */
export function parseListenFds(env: NodeJS.ProcessEnv, pid: number): PassedSocket[] | null {
  const forPid = env['LISTEN_PID'];
  if (forPid === undefined || forPid === '') return null;
  if (!/^[1-9]\d*$/.test(forPid)) throw new ActivationError(`LISTEN_PID must be a process id, got ${JSON.stringify(forPid)}`);
  if (Number(forPid) !== pid) return null;
  const count = env['LISTEN_FDS'] ?? '';
  if (!/^\d+$/.test(count) || Number(count) > MAX_FDS) {
    throw new ActivationError(`LISTEN_FDS must be a number of sockets from 0 to ${MAX_FDS}, got ${JSON.stringify(count)}`);
  }
  const n = Number(count);
  const namesText = env['LISTEN_FDNAMES'];
  const names = namesText === undefined || namesText === '' ? [] : namesText.split(':');
  if (names.length > 0 && names.length !== n) {
    throw new ActivationError(`LISTEN_FDNAMES names ${names.length} sockets but LISTEN_FDS says ${n}`);
  }
  return Array.from({ length: n }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: names[i] ?? 'unknown' }));
}

/** Sorts passed sockets into the port's and the metrics'; null when nothing was passed. */
export function chooseSockets(passed: readonly PassedSocket[] | null): Activation | null {
  if (passed === null || passed.length === 0) return null;
  const metrics = passed.filter((s) => s.name === METRICS_FD_NAME);
  const web = passed.filter((s) => s.name !== METRICS_FD_NAME);
  if (metrics.length > 1)
    throw new ActivationError(`systemd passed ${metrics.length} sockets named "${METRICS_FD_NAME}"; one serves --metrics`);
  if (web.length === 0) {
    throw new ActivationError(`systemd passed only the "${METRICS_FD_NAME}" socket: the port's socket unit (smegchat.socket) is missing`);
  }
  return { web, metrics: metrics[0] ?? null };
}

/**
 * Reads what systemd passed to this process and removes LISTEN_* from
 * `env`, as sd_listen_fds(unset_environment=1) does, so that no worker
 * forked later believes the sockets are its own.
 */
export function takeActivation(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): Activation | null {
  try {
    return chooseSockets(parseListenFds(env, pid));
  } finally {
    delete env['LISTEN_PID'];
    delete env['LISTEN_FDS'];
    delete env['LISTEN_FDNAMES'];
  }
}
