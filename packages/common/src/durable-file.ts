/**
 * Whole-file writes that a crash cannot leave half done: write a temporary
 * file beside the target, then rename it over the target. A crash of the
 * process leaves the old file or the new one, never a mix.
 *
 * `replaceFile` stops there (the page cache holds the new file; the caller
 * syncs later, off its event loop); `writeFileDurably` also syncs the file and
 * its directory before it returns, so the new file survives a power cut.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface ReplaceOptions {
  /** Mode of a newly created file (default 0600). */
  readonly mode?: number;
  /** Name of the temporary file (default FILE.tmp); give a unique one where two processes may race. */
  readonly tmp?: string;
}

/** Errors that say the disk, not the program, is at fault: full, over quota, failing, read-only. */
const DISK_FAULTS = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EFBIG']);

export function isDiskFault(err: unknown): boolean {
  return DISK_FAULTS.has((err as NodeJS.ErrnoException | null)?.code ?? '');
}

/** A write that failed part way: `written` bytes of it reached the file before the error. */
export type PartialWriteError = NodeJS.ErrnoException & { written: number };

/**
 * Writes all of `data` at the file's position, looping over short writes.
 * On an error (a full disk mid-way, say) it throws a {@link PartialWriteError}
 * saying how many bytes did land, so that the caller can cut them back.
 */
export function writeAll(
  fd: number,
  data: string | Buffer,
  write: (fd: number, buf: Buffer, offset: number, length: number) => number = fs.writeSync,
): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  let off = 0;
  try {
    while (off < buf.length) off += write(fd, buf, off, buf.length - off);
  } catch (err) {
    throw Object.assign(err as NodeJS.ErrnoException, { written: off });
  }
}

function writeTmp(file: string, text: string, opts: ReplaceOptions, sync: boolean): string {
  const tmp = opts.tmp ?? `${file}.tmp`;
  const fd = fs.openSync(tmp, 'w', opts.mode ?? 0o600);
  try {
    writeAll(fd, text);
    if (sync) fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  return tmp;
}

/** Replaces a file whole (new file, rename); not yet synced when it returns. */
export function replaceFile(file: string, text: string, opts: ReplaceOptions = {}): void {
  fs.renameSync(writeTmp(file, text, opts, false), file);
}

/** Replaces a file whole and makes it durable (file and directory synced) before returning. */
export function writeFileDurably(file: string, text: string, opts: ReplaceOptions = {}): void {
  fs.renameSync(writeTmp(file, text, opts, true), file);
  fsyncDirectorySync(path.dirname(file));
}

export function fsyncDirectorySync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** fsync of a directory (a rename in it), in libuv's pool. */
export function fsyncDirectory(dir: string, done: (err: NodeJS.ErrnoException | null) => void): void {
  fs.open(dir, 'r', (err, fd) => {
    if (err) return done(err);
    fs.fsync(fd, (syncErr) => fs.close(fd, () => done(syncErr)));
  });
}
