/**
 * One board's history on disk: an append-only file of lines,
 * `DATA/boards/BOARD.log`. The first line is a JSON header naming the format
 * version and the board's epoch; each other line is `TAG<TAB>FRAME<TAB>CRC`,
 * where FRAME is the sequenced frame exactly as clients receive it, TAG is a
 * hash of the sender's session (never the session itself), so that resent
 * ids are still recognised after a restart, and CRC is the CRC-32 of
 * `TAG<TAB>FRAME` in 8 hex digits: a line proves itself, and one changed
 * byte is found, never served. Version 1 files (no CRC) are read, and
 * rewritten as version 2 when opened.
 *
 * Writes are synchronous and land in the page cache before any client is
 * sent the frame, so a kill -9 of the supervisor at any instant loses
 * nothing a client saw. A write the disk refuses part way is cut back to the
 * whole lines that landed. fdatasync runs on a timer, off the event loop
 * (the power-cut policy); a clear replaces the file (new file, rename), and
 * the same timer then syncs the file and its directory.
 *
 * Every system call that can fail on a sick disk goes through {@link Disk},
 * so that tests can make it fail on demand (no device here fails at will).
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import {
  fsyncDirectory,
  fsyncDirectorySync,
  isDiskFault,
  replaceFile,
  writeAll,
  writeFileDurably,
  type PartialWriteError,
} from '@smegchat/common';

export const LOG_VERSION = 2;

export interface LogHeader {
  readonly v: 1 | 2;
  readonly epoch: string;
  readonly created: string;
}

export interface LogEntry {
  readonly tag: string;
  readonly frame: string;
}

/** A whole line that failed its check: where, and why. */
export interface BadLine {
  /** 1-based, the header being line 1. */
  readonly line: number;
  readonly why: string;
}

export interface LoadedLog {
  /** Null when the first line is not a valid header (the entries are then read as the current version, else as version 1). */
  readonly header: LogHeader | null;
  /** The entries that proved themselves, in file order. */
  readonly entries: LogEntry[];
  /** Bytes after the last newline: a line torn by a crash mid-write, the one thing that may be cut. */
  readonly truncated: number;
  /** Whole lines that failed their check: corruption, never cut. */
  readonly bad: BadLine[];
}

/** The calls a sick disk can fail: the real ones by default, a test's in tests. */
export interface Disk {
  write(fd: number, buf: Buffer, offset: number, length: number): number;
  truncate(fd: number, length: number): void;
  fdatasync(fd: number, done: (err: NodeJS.ErrnoException | null) => void): void;
  /** Replaces a file whole (new file, rename); `durable`: synced, with its directory, before it returns. */
  replace(file: string, text: string, durable: boolean): void;
}

export const REAL_DISK: Disk = {
  write: (fd, buf, offset, length) => fs.writeSync(fd, buf, offset, length),
  truncate: (fd, length) => fs.ftruncateSync(fd, length),
  fdatasync: (fd, done) => fs.fdatasync(fd, done),
  replace: (file, text, durable) => (durable ? writeFileDurably(file, text) : replaceFile(file, text)),
};

/** The seq a log entry's frame carries. */
export function seqOf(frame: string): number {
  return (JSON.parse(frame) as { seq: number }).seq;
}

/** A filter keeping entries whose seq rises (a line copied twice, or out of place, is left out). */
export function inOrder(): (e: { frame: string }) => boolean {
  let last = 0;
  return (e) => {
    const seq = seqOf(e.frame);
    if (seq <= last) return false;
    last = seq;
    return true;
  };
}

function isHeader(v: unknown): v is LogHeader {
  const h = v as LogHeader;
  return typeof v === 'object' && v !== null && (h.v === 1 || h.v === 2) && typeof h.epoch === 'string';
}

function crcOf(text: string): string {
  return zlib.crc32(text).toString(16).padStart(8, '0');
}

/** One entry as a line of the current version, newline included. */
export function entryLine(e: LogEntry): string {
  const body = `${e.tag}\t${e.frame}`;
  return `${body}\t${crcOf(body)}\n`;
}

/** The whole text of a log holding `header` (made current) and `entries`. */
export function logText(header: LogHeader, entries: readonly LogEntry[]): string {
  let text = JSON.stringify({ ...header, v: LOG_VERSION }) + '\n';
  for (const e of entries) text += entryLine(e);
  return text;
}

/** What an append left behind when the disk refused it part way. */
export interface AppendFailure {
  readonly err: NodeJS.ErrnoException;
  /** Entries, from the first, that are whole in the file. */
  readonly kept: number;
  /** The file could not be cut back to them: it must be rewritten before anything else is appended. */
  readonly tailLeft: boolean;
}

export class BoardLog {
  /** Null while the file cannot be opened for writing (a read-only disk): it is still read, and writes fail. */
  private fd: number | null;
  private unsynced = false;
  /** A rename (clear, new board) since the last sync: the directory needs an fsync too. */
  private dirUnsynced = false;
  /** An fdatasync is running in libuv's pool: fds must not be closed under it. */
  private syncing = false;
  /** Fds replaced by a rewrite while a sync ran, closed when it ends. */
  private retired: number[] = [];
  /**
   * The file must be rewritten whole before anything is appended: a failed
   * append left bytes past `size` it could not cut, a torn tail could not be
   * cut at open, or the file is of an older version that could not be upgraded.
   */
  private rewriteFirst = false;
  /** Closed (the board was unloaded, or the history stopped): nothing more is written or synced through it. */
  private closed = false;

  private constructor(
    readonly file: string,
    fd: number | null,
    /** Bytes in the file, as this process wrote or found them. */
    public size: number,
    private readonly disk: Disk,
  ) {
    this.fd = fd;
  }

  static fileFor(dir: string, board: string): string {
    return path.join(dir, `${board}.log`);
  }

  /** Creates a new log holding only its header. */
  static create(dir: string, board: string, header: LogHeader, disk: Disk = REAL_DISK): BoardLog {
    const file = BoardLog.fileFor(dir, board);
    const text = logText(header, []);
    disk.replace(file, text, false);
    const log = new BoardLog(file, fs.openSync(file, 'a', 0o600), Buffer.byteLength(text), disk);
    log.unsynced = true;
    log.dirUnsynced = true;
    return log;
  }

  /** Reads an existing log, changing nothing: the caller decides what to keep (History). */
  static read(dir: string, board: string): LoadedLog & { readonly bytes: number } {
    const text = fs.readFileSync(BoardLog.fileFor(dir, board), 'utf8');
    return { ...parseLog(text), bytes: Buffer.byteLength(text) };
  }

  /**
   * Opens an existing log to append to it, cutting it to `size` first: a
   * torn tail the caller chose to cut. On a disk that takes no writes it is
   * opened all the same: it serves what it holds, and its writes fail until
   * the disk takes them.
   */
  static open(dir: string, board: string, size: number, disk: Disk = REAL_DISK): BoardLog {
    const file = BoardLog.fileFor(dir, board);
    let rewriteFirst = false;
    try {
      if (fs.statSync(file).size > size) fs.truncateSync(file, size);
    } catch (err) {
      if (!isDiskFault(err)) throw err;
      rewriteFirst = true;
    }
    const log = new BoardLog(file, openForAppend(file), size, disk);
    log.rewriteFirst = rewriteFirst;
    return log;
  }

  /** The file is of an older version that could not be upgraded: the next write rewrites it whole. */
  upgradeAtNextWrite(): void {
    this.rewriteFirst = true;
  }

  /**
   * Appends lines; they are in the page cache when this returns, or, when
   * the disk refused them part way, the whole lines that landed are kept and
   * the rest cut back: the failure says how many were kept.
   */
  append(entries: readonly LogEntry[]): AppendFailure | null {
    if (this.rewriteFirst) throw new Error('append to a log that must be rewritten first');
    const lines = entries.map(entryLine);
    const buf = Buffer.from(lines.join(''));
    try {
      this.fd ??= fs.openSync(this.file, 'a', 0o600);
      writeAll(this.fd, buf, (fd, b, off, len) => this.disk.write(fd, b, off, len));
    } catch (e) {
      const err = e as PartialWriteError;
      let kept = 0;
      let keptBytes = 0;
      for (const line of lines) {
        const n = Buffer.byteLength(line);
        if (keptBytes + n > (err.written ?? 0)) break;
        keptBytes += n;
        kept++;
      }
      this.size += keptBytes;
      if (keptBytes > 0) this.unsynced = true;
      let tailLeft = false;
      if ((err.written ?? 0) > keptBytes) {
        try {
          this.disk.truncate(this.fd!, this.size);
        } catch {
          tailLeft = this.rewriteFirst = true;
        }
      }
      return { err, kept, tailLeft };
    }
    this.size += buf.length;
    this.unsynced = true;
    return null;
  }

  /** Replaces the whole file (after a clear, or to heal); `durable`: synced before it returns. */
  rewrite(header: LogHeader, entries: readonly LogEntry[], durable = false): void {
    if (this.closed) throw new Error(`${this.file}: rewrite of a closed log`);
    const text = logText(header, entries);
    this.disk.replace(this.file, text, durable);
    this.size = Buffer.byteLength(text);
    this.rewriteFirst = false;
    this.retire(this.fd);
    this.fd = null;
    this.fd = openForAppend(this.file);
    this.unsynced = !durable;
    this.dirUnsynced = !durable;
  }

  /** The file must be rewritten whole before the next append (see {@link rewriteFirst}). */
  get needsRewrite(): boolean {
    return this.rewriteFirst;
  }

  /**
   * Starts an fdatasync if anything was written since the last one. It runs
   * off the event loop: a synchronous one held the sequencer for up to 172 ms
   * under load (the benchmark's profile), delaying every board. `done` hears
   * the error, or how long a successful one took, in seconds.
   *
   * A failed fdatasync is never retried: Linux may have dropped the pages it
   * could not write and marked them clean, so a second one would "succeed"
   * with the data gone. The caller rewrites the file from what it holds.
   */
  syncSoon(done: (err: NodeJS.ErrnoException | null, seconds: number) => void): void {
    if (!this.unsynced || this.syncing || this.fd === null || this.closed) return;
    const fd = this.fd;
    const dir = this.dirUnsynced;
    this.unsynced = false;
    this.dirUnsynced = false;
    this.syncing = true;
    const started = performance.now();
    this.disk.fdatasync(fd, (err) => {
      const finish = (err: NodeJS.ErrnoException | null): void => {
        this.syncing = false;
        for (const fd of this.retired.splice(0)) closeQuietly(fd);
        done(err, (performance.now() - started) / 1000);
      };
      if (err || !dir) return finish(err);
      fsyncDirectory(path.dirname(this.file), finish);
    });
  }

  /**
   * Syncs what is unsynced, now, and closes the file (at stop, or when the
   * board is unloaded). Throws if the sync failed: the caller rewrites the
   * file from what it holds (a failed sync is never retried and trusted).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.unsynced && this.fd !== null) fs.fdatasyncSync(this.fd);
      if (this.dirUnsynced) fsyncDirectorySync(path.dirname(this.file));
    } finally {
      this.unsynced = false;
      this.dirUnsynced = false;
      this.retire(this.fd);
      this.fd = null;
    }
  }

  private retire(fd: number | null): void {
    if (fd === null) return;
    if (this.syncing) this.retired.push(fd);
    else closeQuietly(fd);
  }
}

/** Closes an fd; a close that fails (EIO from a sick disk) is nothing more to do about it. */
function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // the fd is gone either way
  }
}

/**
 * Cuts whatever follows a log's last newline (a line torn by a crash), reading
 * back from the end, not the whole file. The bytes cut; 0 when it ends whole.
 */
export function cutTornTail(file: string): number {
  const fd = fs.openSync(file, 'r+');
  try {
    const size = fs.fstatSync(fd).size;
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const n = fs.readSync(fd, chunk, 0, end - start, start);
      const nl = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (nl >= 0) {
        const keep = start + nl + 1;
        if (keep < size) fs.ftruncateSync(fd, keep);
        return size - keep;
      }
      end = start;
    }
    // Not one whole line (not even the header): left for the load to keep aside.
    return 0;
  } finally {
    fs.closeSync(fd);
  }
}

/** An fd to append to, or null on a disk that takes no writes now. */
function openForAppend(file: string): number | null {
  try {
    return fs.openSync(file, 'a', 0o600);
  } catch (err) {
    if (isDiskFault(err)) return null;
    throw err;
  }
}

/**
 * Reads a log's text: the header, the entries that prove themselves, the
 * whole lines that do not, and how many bytes follow the last newline (a
 * torn tail, the one thing that may be cut).
 */
export function parseLog(text: string): LoadedLog {
  const lines = text.split('\n');
  // A file ending in '\n' splits into [..., '']: the last piece is whatever follows the last whole line.
  const tail = lines.pop()!;
  let header: LogHeader | null = null;
  try {
    const v: unknown = JSON.parse(lines[0] ?? '');
    if (isHeader(v)) header = v;
  } catch {
    // not a header: reported as line 1
  }
  const read = (version: 1 | 2): { entries: LogEntry[]; bad: BadLine[] } => {
    const entries: LogEntry[] = [];
    const bad: BadLine[] = header === null && lines.length > 0 ? [{ line: 1, why: 'not a valid header' }] : [];
    for (let i = 1; i < lines.length; i++) {
      const checked = checkLine(lines[i]!, version);
      if (typeof checked === 'string') bad.push({ line: i + 1, why: checked });
      else entries.push(checked);
    }
    return { entries, bad };
  };
  let body = read(header?.v ?? LOG_VERSION);
  if (header === null && body.entries.length === 0) body = read(1);
  return { header, ...body, truncated: Buffer.byteLength(tail) };
}

function checkLine(line: string, version: 1 | 2): LogEntry | string {
  let body = line;
  if (version === 2) {
    const last = line.lastIndexOf('\t');
    if (last < 0) return 'no checksum';
    body = line.slice(0, last);
    if (crcOf(body) !== line.slice(last + 1)) return 'checksum mismatch';
  }
  const tab = body.indexOf('\t');
  if (tab < 0) return 'no tag';
  const frame = body.slice(tab + 1);
  if (!validFrame(frame)) return 'not a sequenced frame';
  return { tag: body.slice(0, tab), frame };
}

function validFrame(frame: string): boolean {
  try {
    const v = JSON.parse(frame) as { seq?: unknown; id?: unknown };
    return typeof v === 'object' && v !== null && Number.isInteger(v.seq) && typeof v.id === 'string';
  } catch {
    return false;
  }
}
