/**
 * Readable logs for a person at a terminal. smegchat logs bunyan JSON, one
 * record a line, which is right for journald, files and pipes; on a terminal
 * the supervisor's lines and every worker's (the workers share its stdout)
 * go through bunyan's own CLI, `bunyan -o short`, which writes them there.
 *
 * The CLI runs in a session of its own. A Ctrl-C reaches the whole foreground
 * process group, and bunyan's CLI exits at once on SIGINT: the supervisor's
 * last lines ("stopping", "stopped") would be lost and its writes would meet
 * a closed pipe. Out of the group, it reads to the end of its input, which
 * comes once the supervisor has closed its end (close()) and the workers have
 * exited. It runs as the service user, like everything of smegchat after
 * start-up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import type { Config } from './options.js';
import type { Identity } from './privileges.js';

/** How long close() waits for the CLI to write what it was given. */
const CLOSE_TIMEOUT_MS = 3_000;

/** True where a person reads stdout: a terminal, no log file, not under systemd or as a daemon. */
export function wantsPrettyLog(c: Config, stdout: { isTTY?: boolean } = process.stdout): boolean {
  return stdout.isTTY === true && c.logFile === null && !c.service && !c.daemon;
}

export class PrettyLog {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private closing: Promise<void> | undefined;

  /** Starts the CLI (as `who` when started as root), writing to this process's stdout. */
  constructor(who: Identity | null) {
    const cli = createRequire(import.meta.url).resolve('bunyan/bin/bunyan');
    this.child = spawn(process.execPath, [cli, '--output', 'short', '--no-pager'], {
      stdio: ['pipe', 'inherit', 'inherit'],
      detached: true, // setsid(): out of the terminal's process group, so a Ctrl-C leaves it reading
      ...(who === null ? {} : { uid: who.uid, gid: who.gid }),
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.once('error', () => resolve());
    });
    // A CLI that died (killed by hand) must not take the supervisor with it: its lines are lost, not the service.
    this.child.stdin!.on('error', () => undefined);
  }

  /** Where the supervisor writes its JSON lines, and the workers' stdout. */
  get stream(): Writable {
    return this.child.stdin!;
  }

  /** A line for the person reading, passed through unchanged (the CLI keeps lines that are not JSON). */
  say(lines: readonly string[]): void {
    this.stream.write(lines.map((l) => `${l}\n`).join(''));
  }

  /** Ends the input and waits (bounded) until the CLI has written everything. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_TIMEOUT_MS);
      void this.exited.then(() => {
        clearTimeout(timer);
        resolve();
      });
      this.stream.end();
    });
    return this.closing;
  }
}
