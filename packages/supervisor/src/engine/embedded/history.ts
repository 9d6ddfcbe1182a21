/**
 * The board directory: which boards exist on disk, loading them on demand,
 * unloading idle ones, and the data directory's state file, which tells a
 * clean stop from a crash and a crash from a power cut.
 *
 * A kill -9 of the supervisor loses nothing (every write reached the page
 * cache before it was sent). A power cut or kernel crash can lose the last
 * second of writes, so after one (an unclean state file with another boot
 * id) every board gets a new epoch: clients that saw the lost messages are
 * told `reset` instead of being shown a board that differs from ours.
 *
 * A board log with corrupt lines is never cut: it is kept aside, whole
 * (BOARD.log.corrupt-TIME), and the board is served from the lines that
 * proved themselves, under a new epoch, since what is served then differs
 * from what clients saw. A full or read-only disk does not keep the history
 * from opening: boards are read, and writes wait until the state file says
 * the history is in use (see {@link History.writable}).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BOARD_NAME } from '@smegchat/protocol';
import { isDiskFault, writeFileDurably, type Logger } from '@smegchat/common';
import { Board } from './board.js';
import {
  BoardLog,
  cutTornTail,
  inOrder,
  LOG_VERSION,
  logText,
  REAL_DISK,
  seqOf,
  type Disk,
  type LoadedLog,
  type LogEntry,
  type LogHeader,
} from './board-log.js';

/** A board in memory and its log on disk. */
export interface StoredBoard {
  readonly board: Board;
  readonly log: BoardLog;
  /** The head the last successful fdatasync covered. */
  syncedHead: number;
  /** Until then (ms since the epoch) writes to it are refused without trying the disk. */
  refuseUntil: number;
  /** Its log could be neither synced nor rewritten: writes are refused until a heal (retried every second) succeeds. */
  unsafe: boolean;
}

interface StateFile {
  readonly bootId: string;
  readonly running: boolean;
  readonly generation: number;
  /** Boards whose unsynced writes may have been lost (a failed sync nothing could heal): each takes a new epoch at its next load. */
  readonly suspect?: readonly string[];
}

function currentBootId(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export class History {
  private readonly dir: string;
  private readonly stateFile: string;
  private readonly bootId = currentBootId();
  private generation = 0;
  /** Set by open(): before it, close() must not touch the state file (it would lose a power cut's generation). */
  private opened = false;
  private readonly onDisk = new Set<string>();
  private readonly loaded = new Map<string, StoredBoard>();
  /** Bytes of each board's log, and their sum: read once at open, then kept up to date by every write. */
  private readonly sizes = new Map<string, number>();
  private totalBytes = 0;
  /** Boards whose logs were found corrupt and kept aside since start. */
  private readonly quarantined = new Set<string>();
  /** Boards whose unsynced writes may be lost (a failed sync nothing could heal): a new epoch at their next load. */
  private readonly suspect = new Map<string, number>();
  /** The previous supervisor stopped cleanly: its logs end on whole lines. */
  private cleanStart = false;
  /** Boards this process has opened for writing: a torn tail in one of them is its own. */
  private readonly written = new Set<string>();
  /** The state file says the history is in use: until then no write is taken (a power cut would go unseen). */
  private stateWritten = false;
  /** Why the state file could not be written, while it cannot. */
  stateFault: string | null = null;
  private stateTriedAt = -Infinity;

  constructor(
    dataDir: string,
    private readonly log: Logger,
    private readonly disk: Disk = REAL_DISK,
  ) {
    this.dir = path.join(dataDir, 'boards');
    this.stateFile = path.join(dataDir, 'state.json');
  }

  /** Reads the directory and marks the history as in use. Throws with one clear line if it can't. */
  open(): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (const name of fs.readdirSync(this.dir)) {
      if (name.endsWith('.log') && BOARD_NAME.test(name.slice(0, -4))) {
        this.onDisk.add(name.slice(0, -4));
        this.setSize(name.slice(0, -4), fs.statSync(path.join(this.dir, name)).size);
      } else if (name.endsWith('.tmp')) removeLeftover(path.join(this.dir, name));
    }
    const previous = this.readState();
    this.generation = previous?.generation ?? 0;
    this.cleanStart = previous !== null && !previous.running;
    for (const name of previous?.suspect ?? []) if (BOARD_NAME.test(name)) this.suspect.set(name, 1);
    // After a crash a log may end in a torn line no client saw: cut now, so that a later clean stop does not take it for damage.
    if (!this.cleanStart) this.cutTornTails();
    if (previous?.running && previous.bootId !== this.bootId) {
      this.generation++;
      this.log.warn(
        { generation: this.generation },
        'history was open when the machine went down: the last second of writes may be lost, every board gets a new epoch',
      );
    } else if (previous?.running) {
      this.log.warn('the previous supervisor did not stop cleanly; history is intact (every write reached the page cache)');
    }
    this.opened = true;
    try {
      this.writeState(true);
    } catch (err) {
      // A full or read-only disk: serve what is there, and take writes once the state file can be written.
      if (!isDiskFault(err)) throw err;
      this.stateFault = (err as NodeJS.ErrnoException).code ?? 'EIO';
      this.log.error(
        { err, file: this.stateFile },
        'history opened read-only: the state file cannot be written; writes are refused until the disk takes them',
      );
    }
    this.log.info({ dir: this.dir, boards: this.onDisk.size, writable: this.stateWritten }, 'history opened');
  }

  private cutTornTails(): void {
    for (const name of this.onDisk) {
      const file = BoardLog.fileFor(this.dir, name);
      try {
        const bytes = cutTornTail(file);
        if (bytes > 0) {
          this.log.warn({ board: name, bytes }, 'cut a torn line from the end of the board log (a crash mid-write; no client saw it)');
          this.setSize(name, fs.statSync(file).size);
        }
      } catch (err) {
        // A disk that takes no writes: the load cuts it, as a crash's.
        this.written.add(name);
        if (!isDiskFault(err)) this.log.warn({ err, board: name }, 'board log tail not checked at start');
      }
    }
  }

  /**
   * Whether writes may be taken: the state file says the history is in use.
   * When it does not yet, tries to write it, at most once a second (the
   * disk may have healed).
   */
  writable(now = Date.now()): boolean {
    if (this.stateWritten || !this.opened || now - this.stateTriedAt < 1_000) return this.stateWritten;
    this.stateTriedAt = now;
    try {
      this.writeState(true);
      this.log.info('state file written: history takes writes');
    } catch (err) {
      this.stateFault = (err as NodeJS.ErrnoException).code ?? 'EIO';
    }
    return this.stateWritten;
  }

  /** Boards found corrupt (kept aside, served from their valid lines) since start. */
  get quarantinedCount(): number {
    return this.quarantined.size;
  }

  get boardCount(): number {
    return this.onDisk.size;
  }

  get loadedCount(): number {
    return this.loaded.size;
  }

  /** Bytes of history on disk (every board's log). */
  get bytes(): number {
    return this.totalBytes;
  }

  private setSize(name: string, bytes: number): void {
    this.totalBytes += bytes - (this.sizes.get(name) ?? 0);
    this.sizes.set(name, bytes);
  }

  /** Whether the board exists (on disk). */
  has(name: string): boolean {
    return this.onDisk.has(name);
  }

  /** A loaded board, if it is in memory. */
  peek(name: string): StoredBoard | undefined {
    return this.loaded.get(name);
  }

  /** The board, loaded or created. Returns null when a new board would exceed `maxBoards`. */
  get(name: string, maxBoards: number): StoredBoard | null {
    const cached = this.loaded.get(name);
    if (cached) return cached;
    let board: Board;
    let log: BoardLog;
    if (this.onDisk.has(name)) {
      ({ board, log } = this.load(name));
    } else {
      if (this.onDisk.size >= maxBoards) return null;
      const header = newHeader();
      log = BoardLog.create(this.dir, name, header, this.disk);
      board = new Board(name, this.publicEpoch(header.epoch), header);
      this.onDisk.add(name);
      this.written.add(name);
    }
    const stored: StoredBoard = { board, log, syncedHead: board.head, refuseUntil: 0, unsafe: false };
    this.loaded.set(name, stored);
    this.setSize(name, stored.log.size);
    return stored;
  }

  /**
   * A board from its log: a torn tail cut, a damaged log kept aside, a
   * version 1 file upgraded. A torn tail is a crash mid-write (no client saw
   * that line) only if this history was not stopped cleanly, or this
   * process wrote the file: after a clean stop nothing is torn, and a tail
   * cut off then is damage (a truncated file), with lines clients saw gone.
   */
  private load(name: string): { board: Board; log: BoardLog } {
    const loaded = BoardLog.read(this.dir, name);
    const tornByCrash = !this.cleanStart || this.written.has(name);
    let entries = loaded.entries;
    let header: LogHeader;
    let log: BoardLog;
    if (loaded.header === null || loaded.bad.length > 0 || !entries.every(inOrder()) || (loaded.truncated > 0 && !tornByCrash)) {
      entries = entries.filter(inOrder());
      ({ log, header } = this.quarantine(name, loaded, entries));
    } else {
      header = loaded.header;
      if (loaded.truncated > 0) {
        this.log.warn(
          { board: name, bytes: loaded.truncated },
          'cut a torn line from the end of the board log (a crash mid-write; no client saw it)',
        );
      }
      log = BoardLog.open(this.dir, name, loaded.bytes - loaded.truncated, this.disk);
    }
    this.written.add(name);
    if (header.v !== LOG_VERSION) {
      try {
        log.rewrite(header, entries, true);
        this.log.info({ board: name, from: header.v, to: LOG_VERSION }, 'board log upgraded to the current format');
      } catch (err) {
        if (!isDiskFault(err)) throw err;
        log.upgradeAtNextWrite();
        this.log.warn({ err, board: name }, 'board log not upgraded to the current format yet: it is, at its next write');
      }
    }
    if (this.suspect.has(name)) ({ header } = this.newEpochFor(name, header, entries, log));
    const suspectGeneration = this.suspect.get(name);
    const epoch = this.publicEpoch(header.epoch) + (suspectGeneration === undefined ? '' : `s${suspectGeneration}`);
    return { board: Board.restore(name, epoch, header, entries), log };
  }

  /**
   * A board whose unsynced writes may have been lost: its log gets a new
   * epoch, written durably, and it is suspect no more. If the disk refuses,
   * it stays suspect and is served under a changed epoch all the same.
   */
  private newEpochFor(name: string, header: LogHeader, entries: readonly LogEntry[], log: BoardLog): { header: LogHeader } {
    const fresh = newHeader();
    try {
      log.rewrite(fresh, entries, true);
    } catch (err) {
      this.log.warn({ err, board: name }, 'new epoch of a board at risk not written yet: served under a changed epoch');
      return { header };
    }
    this.suspect.delete(name);
    this.saveState();
    this.log.warn(
      { board: name, epoch: fresh.epoch },
      'board whose last writes may have been lost gets a new epoch: its clients are told reset',
    );
    return { header: fresh };
  }

  /**
   * A log with lines that fail their check: the file is kept aside whole,
   * and a new log holds the lines that proved themselves, under a new epoch.
   */
  private quarantine(name: string, loaded: LoadedLog, kept: readonly LogEntry[]): { log: BoardLog; header: LogHeader } {
    const file = BoardLog.fileFor(this.dir, name);
    const aside = `${file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '')}`;
    fs.renameSync(file, aside);
    const header = newHeader();
    let log: BoardLog;
    try {
      log = BoardLog.create(this.dir, name, header, this.disk);
    } catch (err) {
      fs.renameSync(aside, file);
      throw err;
    }
    try {
      log.rewrite(header, kept, true);
    } catch (err) {
      log.close();
      fs.renameSync(aside, file);
      throw err;
    }
    this.quarantined.add(name);
    this.log.error(
      {
        board: name,
        badLines: loaded.bad.slice(0, 20),
        bad: loaded.bad.length,
        tornBytes: loaded.truncated,
        outOfOrder: loaded.entries.length - kept.length,
        kept: kept.length,
        keptAside: aside,
        epoch: header.epoch,
      },
      'board log has corrupt lines: the file is kept aside, the valid lines are served under a new epoch (clients are told reset)',
    );
    return { log, header };
  }

  /**
   * Writes what the board sequenced since the last call (in the page cache
   * when this returns), or as much of it as the disk takes: the board then
   * holds exactly what the file holds. Null, or the disk's error.
   */
  persist({ board, log }: StoredBoard): NodeJS.ErrnoException | null {
    const write = board.takeWrite();
    if (write.kind === 'none') return null;
    let failure: NodeJS.ErrnoException | null = null;
    let upTo = board.head;
    if (write.kind === 'append' && !log.needsRewrite) {
      const failed = log.append(write.entries);
      if (failed !== null) {
        failure = failed.err;
        upTo = failed.kept === 0 ? board.storedHead : seqOf(write.entries[failed.kept - 1]!.frame);
      }
    } else {
      // A clear, or a failed append whose tail could not be cut: the file becomes what the board holds.
      try {
        log.rewrite(board.header, write.kind === 'rewrite' ? write.entries : board.entries());
      } catch (err) {
        failure = err as NodeJS.ErrnoException;
        upTo = board.storedHead;
      }
    }
    board.stored(upTo);
    this.setSize(board.name, log.size);
    return failure;
  }

  /**
   * After a failed fdatasync (never retried: the kernel may have dropped the
   * pages), the log is rewritten from memory and synced. Null, or why even
   * that failed: then what was not synced may be lost, and the board gets a
   * new epoch at its next load.
   */
  heal(stored: StoredBoard): Error | null {
    const err = this.rewriteDurably(stored);
    const name = stored.board.name;
    if (err !== null) {
      stored.unsafe = true;
      this.suspect.set(name, (this.suspect.get(name) ?? 0) + 1);
      this.saveState();
    } else if (stored.unsafe) {
      // Healed after all: the file holds everything again, durably.
      stored.unsafe = false;
      this.suspect.delete(name);
      this.saveState();
    }
    return err;
  }

  /** Boards whose writes are refused until a heal succeeds. */
  unsafeBoards(): StoredBoard[] {
    return [...this.loaded.values()].filter((s) => s.unsafe);
  }

  /** Writes the state file as it stands (suspect boards changed); a disk that refuses it is said by the next write. */
  private saveState(): void {
    if (!this.stateWritten) return;
    try {
      this.writeState(true);
    } catch (err) {
      this.log.warn({ err, file: this.stateFile }, 'state file not updated');
    }
  }

  /** Writes a small file beside the logs, syncs and removes it: whether the disk takes writes again (null), or why not. */
  probe(): Error | null {
    const file = path.join(this.dir, '.write-probe.tmp');
    try {
      this.disk.replace(file, 'x'.repeat(PROBE_BYTES), true);
      fs.rmSync(file, { force: true });
      return null;
    } catch (err) {
      removeLeftover(file);
      return err as Error;
    }
  }

  /** Rewrites a board's log from memory and syncs it: null, or why the disk refused. */
  private rewriteDurably(stored: StoredBoard): Error | null {
    try {
      stored.log.rewrite(stored.board.header, stored.board.entries(), true);
    } catch (err) {
      return err as Error;
    }
    stored.syncedHead = stored.board.storedHead;
    this.setSize(stored.board.name, stored.log.size);
    return null;
  }

  /** Drops a board from memory (it stays on disk). */
  unload(name: string): void {
    const stored = this.loaded.get(name);
    if (!stored) return;
    this.loaded.delete(name);
    const { board, log } = stored;
    try {
      if (log.needsRewrite) log.rewrite(board.header, board.entries());
      log.close();
    } catch (err) {
      // A failed sync is never retried and trusted: the file is written anew from memory, durably.
      try {
        this.disk.replace(log.file, logText(board.header, board.entries()), true);
        this.log.warn({ err, board: name }, 'board log not synced when unloaded: rewritten from memory and synced');
      } catch (err2) {
        this.suspect.set(name, (this.suspect.get(name) ?? 0) + 1);
        this.saveState();
        this.log.error(
          { err, err2, board: name, atRisk: { from: stored.syncedHead + 1, to: board.storedHead } },
          'board log could be neither synced nor rewritten when unloaded: those seqs may be lost at a power cut; a new epoch at its next load',
        );
      }
    }
  }

  /** Starts an fdatasync of every board written since the last call: the power-cut policy. `done` hears each outcome. */
  sync(done: (stored: StoredBoard, err: NodeJS.ErrnoException | null, seconds: number) => void): void {
    for (const stored of this.loaded.values()) {
      const head = stored.board.storedHead;
      stored.log.syncSoon((err, seconds) => {
        if (err === null) stored.syncedHead = Math.max(stored.syncedHead, head);
        done(stored, err, seconds);
      });
    }
  }

  /** Loaded boards. */
  boards(): IterableIterator<StoredBoard> {
    return this.loaded.values();
  }

  /** Flushes, syncs and closes everything, and records a clean stop. */
  close(): void {
    if (!this.opened) return;
    this.opened = false;
    for (const name of [...this.loaded.keys()]) this.unload(name);
    try {
      this.writeState(false);
    } catch (err) {
      this.log.error({ err, file: this.stateFile }, 'state file not written at stop: the next start will take it for a crash');
    }
    this.log.info('history closed cleanly');
  }

  /** The epoch clients see: a new generation (after an unclean reboot) gives every board a new one. */
  private publicEpoch(epoch: string): string {
    return this.generation === 0 ? epoch : `${epoch}g${this.generation}`;
  }

  private readState(): StateFile | null {
    try {
      const v = JSON.parse(fs.readFileSync(this.stateFile, 'utf8')) as StateFile;
      return typeof v.generation === 'number' ? v : null;
    } catch {
      return null;
    }
  }

  private writeState(running: boolean): void {
    const state: StateFile = { bootId: this.bootId, running, generation: this.generation, suspect: [...this.suspect.keys()] };
    writeFileDurably(this.stateFile, JSON.stringify(state) + '\n');
    this.stateWritten = running;
    this.stateFault = null;
  }
}

/** What a write probe writes: a little more than a turn's lines of a busy board. */
const PROBE_BYTES = 64 * 1024;

function newHeader(): LogHeader {
  return { v: LOG_VERSION, epoch: crypto.randomBytes(8).toString('hex'), created: new Date().toISOString() };
}

/** A temporary file a crash left: removed, unless the disk takes no writes (it is then left for a later start). */
function removeLeftover(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch (err) {
    if (!isDiskFault(err)) throw err;
  }
}
