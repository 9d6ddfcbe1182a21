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
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { BOARD_NAME } from '@smegchat/protocol';
import { writeFileDurably, type Logger } from '@smegchat/common';
import { Board } from './board.js';
import { BoardLog, type LogHeader } from './board-log.js';

/** A board in memory and its log on disk. */
export interface StoredBoard {
  readonly board: Board;
  readonly log: BoardLog;
}

interface StateFile {
  readonly bootId: string;
  readonly running: boolean;
  readonly generation: number;
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

  constructor(
    dataDir: string,
    private readonly log: Logger,
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
      } else if (name.endsWith('.tmp')) fs.rmSync(path.join(this.dir, name), { force: true });
    }
    const previous = this.readState();
    this.generation = previous?.generation ?? 0;
    if (previous?.running && previous.bootId !== this.bootId) {
      this.generation++;
      this.log.warn(
        { generation: this.generation },
        'history was open when the machine went down: the last second of writes may be lost, every board gets a new epoch',
      );
    } else if (previous?.running) {
      this.log.warn('the previous supervisor did not stop cleanly; history is intact (every write reached the page cache)');
    }
    this.writeState(true);
    this.opened = true;
    this.log.info({ dir: this.dir, boards: this.onDisk.size }, 'history opened');
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

  /** A loaded board, if it is in memory. */
  peek(name: string): StoredBoard | undefined {
    return this.loaded.get(name);
  }

  /** The board, loaded or created. Returns null when a new board would exceed `maxBoards`. */
  get(name: string, maxBoards: number): StoredBoard | null {
    const cached = this.loaded.get(name);
    if (cached) return cached;
    let stored: StoredBoard;
    if (this.onDisk.has(name)) {
      const { log, loaded } = BoardLog.open(this.dir, name);
      if (loaded.truncated > 0) {
        this.log.warn(
          { board: name, bytes: loaded.truncated },
          'cut a torn line from the end of the board log (a crash mid-write; no client saw it)',
        );
      }
      stored = { board: Board.restore(name, this.publicEpoch(loaded.header.epoch), loaded.header, loaded.entries), log };
    } else {
      if (this.onDisk.size >= maxBoards) return null;
      const header: LogHeader = { v: 1, epoch: crypto.randomBytes(8).toString('hex'), created: new Date().toISOString() };
      stored = { board: new Board(name, this.publicEpoch(header.epoch), header), log: BoardLog.create(this.dir, name, header) };
      this.onDisk.add(name);
    }
    this.loaded.set(name, stored);
    this.setSize(name, stored.log.size);
    return stored;
  }

  /** Writes what the board sequenced since the last call: it is in the page cache when this returns. */
  persist({ board, log }: StoredBoard): void {
    const write = board.takeWrite();
    if (write.kind === 'append') log.append(write.entries);
    else if (write.kind === 'rewrite') log.rewrite(write.header, write.entries);
    else return;
    this.setSize(board.name, log.size);
  }

  /** Drops a board from memory (it stays on disk). */
  unload(name: string): void {
    const stored = this.loaded.get(name);
    if (!stored) return;
    this.persist(stored);
    stored.log.close();
    this.loaded.delete(name);
  }

  /** fdatasync every board written since the last call: the power-cut policy. */
  sync(onError: (board: string, err: Error) => void, synced?: (seconds: number) => void): void {
    for (const { board, log } of this.loaded.values()) log.syncSoon((err) => onError(board.name, err), synced);
  }

  /** Flushes, syncs and closes everything, and records a clean stop. */
  close(): void {
    if (!this.opened) return;
    this.opened = false;
    for (const name of [...this.loaded.keys()]) this.unload(name);
    this.writeState(false);
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
    const state: StateFile = { bootId: this.bootId, running, generation: this.generation };
    writeFileDurably(this.stateFile, JSON.stringify(state) + '\n');
  }
}
