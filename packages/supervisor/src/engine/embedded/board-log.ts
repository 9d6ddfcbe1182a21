/**
 * One board's history on disk: an append-only file of JSON lines,
 * `DATA/boards/BOARD.log`. The first line is a header naming the board's
 * epoch; each other line is `TAG<TAB>FRAME`, where FRAME is the sequenced
 * frame exactly as clients receive it and TAG is a hash of the sender's
 * session (never the session itself), so that resent ids are still
 * recognised after a restart.
 *
 * Writes are synchronous and land in the page cache before any client is
 * sent the frame, so a kill -9 of the supervisor at any instant loses
 * nothing a client saw. fdatasync runs on a timer, off the event loop (the power-cut policy);
 * a clear replaces the file (new file, rename), and the same timer then syncs
 * the file and its directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fsyncDirectory, fsyncDirectorySync, replaceFile, writeAll } from '@smegchat/common';

export interface LogHeader {
  readonly v: 1;
  readonly epoch: string;
  readonly created: string;
}

export interface LogEntry {
  readonly tag: string;
  readonly frame: string;
}

export interface LoadedLog {
  readonly header: LogHeader;
  readonly entries: LogEntry[];
  /** Bytes cut from the end: a line torn by a crash mid-write, or a corrupt tail. */
  readonly truncated: number;
}

function isHeader(v: unknown): v is LogHeader {
  return typeof v === 'object' && v !== null && (v as LogHeader).v === 1 && typeof (v as LogHeader).epoch === 'string';
}

export class BoardLog {
  private fd: number;
  private unsynced = false;
  /** A rename (clear, new board) since the last sync: the directory needs an fsync too. */
  private dirUnsynced = false;
  /** An fdatasync is running in libuv's pool: fds must not be closed under it. */
  private syncing = false;
  /** Fds replaced by a rewrite while a sync ran, closed when it ends. */
  private retired: number[] = [];

  private constructor(
    readonly file: string,
    fd: number,
    /** Bytes in the file, as this process wrote or found them. */
    public size: number,
  ) {
    this.fd = fd;
  }

  static fileFor(dir: string, board: string): string {
    return path.join(dir, `${board}.log`);
  }

  /** Creates a new log holding only its header. */
  static create(dir: string, board: string, header: LogHeader): BoardLog {
    const file = BoardLog.fileFor(dir, board);
    const text = JSON.stringify(header) + '\n';
    replaceFile(file, text);
    const log = new BoardLog(file, fs.openSync(file, 'a', 0o600), Buffer.byteLength(text));
    log.unsynced = true;
    log.dirUnsynced = true;
    return log;
  }

  /**
   * Opens an existing log, cutting a torn or corrupt tail so that the file
   * again ends on a whole line.
   */
  static open(dir: string, board: string): { log: BoardLog; loaded: LoadedLog } {
    const file = BoardLog.fileFor(dir, board);
    const text = fs.readFileSync(file, 'utf8');
    const parsed = parseLog(text);
    if (parsed === null) throw new Error(`${file}: no valid header line`);
    const size = Buffer.byteLength(text) - parsed.truncated;
    if (parsed.truncated > 0) fs.truncateSync(file, size);
    return { log: new BoardLog(file, fs.openSync(file, 'a', 0o600), size), loaded: parsed };
  }

  /** Appends lines; they are in the page cache when this returns. */
  append(entries: readonly LogEntry[]): void {
    let text = '';
    for (const e of entries) text += `${e.tag}\t${e.frame}\n`;
    writeAll(this.fd, text);
    this.size += Buffer.byteLength(text);
    this.unsynced = true;
  }

  /** Replaces the whole file (after a clear): durable before it returns. */
  rewrite(header: LogHeader, entries: readonly LogEntry[]): void {
    let text = JSON.stringify(header) + '\n';
    for (const e of entries) text += `${e.tag}\t${e.frame}\n`;
    replaceFile(this.file, text);
    this.size = Buffer.byteLength(text);
    this.retire(this.fd);
    this.fd = fs.openSync(this.file, 'a', 0o600);
    this.unsynced = true;
    this.dirUnsynced = true;
  }

  /**
   * Starts an fdatasync if anything was written since the last one. It runs
   * off the event loop: a synchronous one held the sequencer for up to 172 ms
   * under load (the benchmark's profile), delaying every board. `synced`
   * hears how long a successful one took, in seconds.
   */
  syncSoon(onError: (err: Error) => void, synced?: (seconds: number) => void): void {
    if (!this.unsynced || this.syncing) return;
    const dir = this.dirUnsynced;
    this.unsynced = false;
    this.dirUnsynced = false;
    this.syncing = true;
    const started = performance.now();
    fs.fdatasync(this.fd, (err) => {
      const done = (err: NodeJS.ErrnoException | null): void => {
        this.syncing = false;
        if (!err) synced?.((performance.now() - started) / 1000);
        for (const fd of this.retired.splice(0)) fs.closeSync(fd);
        if (err) {
          this.unsynced = true;
          this.dirUnsynced ||= dir;
          onError(err);
        }
      };
      if (err || !dir) return done(err);
      fsyncDirectory(path.dirname(this.file), done);
    });
  }

  /** Syncs what is unsynced, now, and closes the file (at stop, or when the board is unloaded). */
  close(): void {
    if (this.unsynced) fs.fdatasyncSync(this.fd);
    if (this.dirUnsynced) fsyncDirectorySync(path.dirname(this.file));
    this.unsynced = false;
    this.dirUnsynced = false;
    this.retire(this.fd);
  }

  private retire(fd: number): void {
    if (this.syncing) this.retired.push(fd);
    else fs.closeSync(fd);
  }
}

/**
 * Reads a log's text: the header, the entries, and how many bytes at the end
 * are not whole valid lines (to be cut). Null when there is no valid header.
 */
export function parseLog(text: string): LoadedLog | null {
  const lines = text.split('\n');
  // A file ending in '\n' splits into [..., '']: the last piece is whatever follows the last whole line.
  let good = 0; // bytes of whole, valid lines
  let header: LogHeader | null = null;
  const entries: LogEntry[] = [];
  for (let i = 0; i < lines.length - 1; i++) {
    const line = lines[i]!;
    if (header === null) {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        break;
      }
      if (!isHeader(v)) break;
      header = v;
    } else {
      const tab = line.indexOf('\t');
      if (tab < 0 || !validFrame(line.slice(tab + 1))) break;
      entries.push({ tag: line.slice(0, tab), frame: line.slice(tab + 1) });
    }
    good += Buffer.byteLength(line) + 1;
  }
  if (header === null) return null;
  return { header, entries, truncated: Buffer.byteLength(text) - good };
}

function validFrame(frame: string): boolean {
  try {
    const v = JSON.parse(frame) as { seq?: unknown };
    return typeof v === 'object' && v !== null && Number.isInteger(v.seq);
  } catch {
    return false;
  }
}
