/**
 * --daemon, for inits other than systemd: the launching command starts the
 * server detached in a new session (no controlling terminal), with cwd /,
 * umask 027 and stdio on /dev/null or the log file, and exits 0 only once
 * the server listens and every worker serves; otherwise non-zero with the
 * reason.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';

/** Set in the daemon's environment so it knows it is the detached one. */
const DAEMON_ENV = 'SMEGCHAT_DAEMON_CHILD';
const START_TIMEOUT_MS = 60_000;

type DaemonReport = { t: 'daemon-ready'; port: number } | { t: 'daemon-failed'; message: string };

export function isDaemonChild(): boolean {
  return process.env[DAEMON_ENV] === '1' && typeof process.send === 'function';
}

/** In the launcher: starts the daemon and waits for its word. Resolves with the exit status. */
export function launchDaemon(argv: readonly string[], logFile: string | null): Promise<number> {
  const out = logFile === null ? 'ignore' : fs.openSync(logFile, 'a', 0o640);
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...argv], {
    detached: true, // setsid(): a new session, no controlling terminal
    stdio: ['ignore', out, out, 'ipc'],
    env: { ...process.env, [DAEMON_ENV]: '1' },
  });
  return new Promise((resolve) => {
    const done = (status: number, line: string | null): void => {
      clearTimeout(timer);
      if (line !== null) (status === 0 ? process.stdout : process.stderr).write(`smegchat: ${line}\n`);
      child.removeAllListeners();
      if (child.connected) child.disconnect();
      child.unref();
      resolve(status);
    };
    const timer = setTimeout(
      () => done(1, `the daemon did not become ready within ${START_TIMEOUT_MS / 1000} s; see its log`),
      START_TIMEOUT_MS,
    );
    child.on('message', (m: DaemonReport) => {
      if (m.t === 'daemon-ready') done(0, `running in the background as pid ${child.pid}, port ${m.port}`);
      else done(1, m.message);
    });
    child.on('exit', (code, signal) => done(1, `the daemon exited during start-up (${signal ?? `exit code ${code}`}); see its log`));
  });
}

/** In the daemon: the rest of the classic procedure, before anything else runs. */
export function becomeDaemon(): void {
  process.chdir('/');
  process.umask(0o027);
}

/** In the daemon: tells the launcher how start-up went, and lets it go. */
export function reportToLauncher(report: DaemonReport): void {
  if (!process.send) return;
  process.send(report, undefined, {}, () => {
    if (process.connected) process.disconnect();
  });
}
