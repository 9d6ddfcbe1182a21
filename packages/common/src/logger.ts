/**
 * One bunyan logger per process: JSON lines, one event a line. bunyan adds
 * `pid` to every record; callers add `worker` (or `role`) with child().
 */
import fs from 'node:fs';
import bunyan from 'bunyan';
import type { LogLevel } from '@smegchat/protocol';

export type Logger = bunyan;

/**
 * Where log lines go: stdout (for journald; or another stream, the
 * supervisor's pretty printer at a terminal) until a file is opened, then the
 * file, appended to with one write per line. Reopened on SIGUSR1 after
 * rotation. The supervisor opens it only after dropping root, as the user
 * who owns it: a root without CAP_DAC_OVERRIDE (as the unit runs it) could
 * not open the service user's file anyway.
 */
export class LogSink {
  private fd: number | null = null;

  constructor(
    readonly file: string | null,
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {}

  /** Opens the file, if there is one; throws the open's error. */
  open(): void {
    if (this.file === null) return;
    const fd = fs.openSync(this.file, 'a', 0o640);
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = fd;
  }

  /** Reopens the file after rotation; on failure keeps writing to the old one and says why. */
  reopen(): Error | null {
    try {
      this.open();
      return null;
    } catch (err) {
      return err as Error;
    }
  }

  write(line: string): void {
    if (this.fd === null) {
      this.out.write(line);
      return;
    }
    try {
      fs.writeSync(this.fd, line);
    } catch {
      // A full disk must not take the server down with it.
    }
  }
}

export function createLogger(level: LogLevel, sink: LogSink, fields: Record<string, unknown>): Logger {
  return bunyan.createLogger({
    name: 'smegchat',
    level,
    streams: [{ type: 'stream', stream: sink as unknown as NodeJS.WritableStream, level }],
    // Without it an Error logged as `err` is written as {}: its message and stack would be lost.
    serializers: { err: bunyan.stdSerializers.err },
    ...fields,
  });
}
