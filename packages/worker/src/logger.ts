/**
 * One bunyan logger per process: JSON lines, one event a line. bunyan adds
 * `pid` to every record; callers add `worker` (or `role`) with child().
 */
import bunyan from 'bunyan';
import type { LogLevel } from '@smegchat/protocol';

export type Logger = bunyan;

/** A logger writing to `file` (appended) or, when null, to stdout for journald. */
export function createLogger(level: LogLevel, file: string | null, fields: Record<string, unknown>): Logger {
  const stream: bunyan.Stream = file === null ? { stream: process.stdout, level } : { path: file, level };
  return bunyan.createLogger({ name: 'smegchat', level, streams: [stream], ...fields });
}
