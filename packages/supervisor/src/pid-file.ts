/**
 * The pid file: written once the server is up, removed when it stops. One
 * left behind by a crash is detected (its pid is gone, or is not smegchat)
 * and replaced, never trusted.
 */
import fs from 'node:fs';
import { replaceFile } from '@smegchat/common';
import { ConfigError } from './options.js';

/** The pid a pid file names, if that process is alive and is a smegchat supervisor. */
export function livePid(file: string): number | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 1) return null;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('smegchat') ? pid : null;
  } catch {
    return null;
  }
}

export function writePidFile(file: string): void {
  const running = livePid(file);
  if (running !== null && running !== process.pid) {
    throw new ConfigError(`smegchat is already running as pid ${running} (pid file ${file})`);
  }
  try {
    replaceFile(file, `${process.pid}\n`, { mode: 0o644, tmp: `${file}.${process.pid}.tmp` });
  } catch (err) {
    throw new ConfigError(`cannot write pid file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Removes the pid file if it is still ours. */
export function removePidFile(file: string): void {
  try {
    if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file);
  } catch {
    // already gone
  }
}
