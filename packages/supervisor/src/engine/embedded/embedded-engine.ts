/**
 * The default engine: every board's order and history in this process and
 * on its disk (one log file a board), nothing else to run. Messages are
 * sequenced as they arrive; at the end of the turn every board writes its
 * new lines (one write a board), and only then are they published and their
 * senders answered: the "stored before seen" promise of the engine interface
 * is kept here, in `store()`.
 *
 * When the disk refuses a write (full, read-only, an I/O error), what it did
 * not take is undone, as if never sequenced, and refused to its senders with
 * `storage`: nobody sees a seq the history lacks. The board then refuses
 * writes for a second without trying the disk; the engine says it is
 * unhealthy (status, /healthz), logs the fault once, and every second tries
 * again, until a write succeeds: it heals by itself. Joins and replays keep
 * working throughout.
 *
 * Its own affairs: the fdatasync timer (the power-cut policy, see History)
 * and unloading boards nobody is on.
 */
import fs from 'node:fs';
import { TurnBatcher, type Logger } from '@smegchat/common';
import { CloseCode, RefusalCode, type ClientMessage, type Limits } from '@smegchat/protocol';
import { Later, type Engine, type EngineListener, type EngineStats, type JoinOutcome, type SubmitOutcome } from '../engine.js';
import type { DiskSize } from '../../options.js';
import { REAL_DISK, type Disk } from './board-log.js';
import { History, type StoredBoard } from './history.js';

const UNLOAD_AFTER_MS = 60_000;
const SYNC_INTERVAL_MS = 1_000;
/** After the disk refused a board's write, its writes are refused this long before the disk is tried again. */
const RETRY_AFTER_MS = 1_000;

/** Answers of one sender's run, given once the turn's write says what was stored. */
interface PendingAnswer {
  readonly later: Later<readonly SubmitOutcome[]>;
  readonly outcomes: SubmitOutcome[];
}

/** What is wrong with the disk, while something is. */
interface StorageFault {
  readonly code: string;
  readonly since: number;
  /** Messages refused for it since it began. */
  refused: number;
  /** Said at warning level: a fault that begins within a minute of the last one said is logged at debug (a disk at its edge flaps). */
  readonly loud: boolean;
}

/** Faults that begin this soon after the last one logged are logged at debug. */
const FAULT_LOG_EVERY_MS = 60_000;

export interface EmbeddedEngineOptions {
  /** Hears how long each successful fdatasync of a board's log took, in seconds (for the metrics). */
  readonly synced?: (seconds: number) => void;
  /** Hears when the engine stops or starts taking writes (a storage fault, and its end). */
  readonly onHealth?: (healthy: boolean) => void;
  /** The system calls a sick disk can fail; tests inject faults here. */
  readonly disk?: Disk;
  /** The clock the retry waits on (ms since the epoch); tests move it. */
  readonly now?: () => number;
  /** Bytes all board logs may take together, or a share of the disk; 0 for none. Default: none. */
  readonly historyBudget?: DiskSize;
  /** Free space kept on the data disk, or a share of it; 0 for none. Default: none. */
  readonly minFree?: DiskSize;
}

/** How often the free space of the data disk is asked for (statfs). */
const FREE_SPACE_EVERY_MS = 1_000;

export class EmbeddedEngine implements Engine {
  private readonly history: History;
  private readonly touched = new Set<StoredBoard>();
  private readonly subscribed = new Set<string>();
  private readonly idleSince = new Map<string, number>();
  private readonly answers = new Map<StoredBoard, PendingAnswer[]>();
  private readonly turn = new TurnBatcher(() => this.endTurn());
  private syncTimer: NodeJS.Timeout | undefined;
  private unloadTimer: NodeJS.Timeout | undefined;
  private sequenced = 0;
  private fault: StorageFault | null = null;
  private faultLoggedAt = -Infinity;
  private readonly now: () => number;
  /** Resolved at open: bytes; 0 for none. */
  private budgetBytes = 0;
  private minFreeBytes = 0;
  private freeBytes = Number.MAX_SAFE_INTEGER;
  private freeAskedAt = -Infinity;
  /** The budget or the floor is reached: only clears are taken (said once in the log, each time it begins). */
  private full = false;

  constructor(
    private readonly dataDir: string,
    private readonly limits: () => Limits,
    private readonly listener: EngineListener,
    private readonly log: Logger,
    private readonly options: EmbeddedEngineOptions = {},
  ) {
    this.history = new History(dataDir, log, options.disk ?? REAL_DISK);
    this.now = options.now ?? Date.now;
  }

  /** Opens the history (as the service user: a directory it cannot use is found here). */
  open(): void {
    this.history.open();
    const disk = diskSize(this.dataDir);
    this.budgetBytes = resolveSize(this.options.historyBudget, disk);
    this.minFreeBytes = resolveSize(this.options.minFree, disk);
    this.log.info({ historyBudget: this.budgetBytes, minFree: this.minFreeBytes, disk }, 'history disk budget');
    if (!this.history.writable()) this.faulted('(state file)', this.history.stateFault ?? 'EIO');
    this.syncTimer = setInterval(() => this.tick(), SYNC_INTERVAL_MS);
    this.unloadTimer = setInterval(() => this.unloadIdle(), UNLOAD_AFTER_MS / 2);
    this.syncTimer.unref();
    this.unloadTimer.unref();
  }

  join(name: string, since: number | undefined, epoch: string | undefined): JoinOutcome {
    if (!this.history.has(name) && this.overBudget()) {
      return { ok: false, code: CloseCode.TryAgainLater, reason: 'no room for new boards (disk budget used up): use an existing board' };
    }
    let stored: StoredBoard | null;
    try {
      stored = this.history.get(name, this.limits().maxBoards);
    } catch (err) {
      this.log.error({ err, board: name }, 'board history cannot be read');
      return { ok: false, code: CloseCode.InternalError, reason: 'board history unavailable' };
    }
    if (stored === null) {
      this.log.warn({ board: name, maxBoards: this.limits().maxBoards }, 'new board refused: board limit reached');
      return { ok: false, code: CloseCode.TryAgainLater, reason: 'this server holds as many boards as it may; use an existing board' };
    }
    // The replay may hold frames sequenced this turn: they are written before anyone sees them.
    this.store(stored);
    const { board } = stored;
    const replay = board.replay(since, epoch);
    return { ok: true, board: board.name, head: board.head, epoch: board.epoch, reset: replay.reset, frames: replay.frames };
  }

  submit(name: string, tag: string, messages: readonly ClientMessage[]): SubmitOutcome[] | Later<readonly SubmitOutcome[]> {
    const stored = this.history.peek(name);
    if (stored === undefined) {
      // A board is loaded from its first join until nobody has been on it for a while.
      return messages.map(() => ({ kind: 'refused', code: RefusalCode.Unavailable, message: 'board not loaded: join it first' }));
    }
    if (stored.unsafe || this.now() < stored.refuseUntil || !this.history.writable(this.now())) {
      return messages.map(() => this.notStored());
    }
    const limits = this.limits();
    const outcomes: SubmitOutcome[] = [];
    let sequenced = false;
    const full = this.overBudget();
    for (const msg of messages) {
      // Past the budget a clear is still taken: it is what frees room; a resend of a stored message is still a duplicate.
      const result =
        full && msg.t !== 'clear' && !stored.board.isDuplicate(tag, msg.id) ? diskFull() : stored.board.sequence(msg, tag, limits);
      if (result.kind === 'sequenced') sequenced = true;
      outcomes.push(result);
    }
    if (!sequenced) return outcomes;
    // Answered once the turn's write says what was stored.
    const later = new Later<readonly SubmitOutcome[]>();
    let pending = this.answers.get(stored);
    if (pending === undefined) this.answers.set(stored, (pending = []));
    pending.push({ later, outcomes });
    this.touched.add(stored);
    this.turn.schedule();
    return later;
  }

  subscribe(name: string): void {
    this.subscribed.add(name);
    this.idleSince.delete(name);
  }

  unsubscribe(name: string): void {
    this.subscribed.delete(name);
    this.idleSince.set(name, Date.now());
  }

  stats(): EngineStats {
    return {
      engine: 'embedded',
      boards: this.history.boardCount,
      loaded: this.history.loadedCount,
      historyBytes: this.history.bytes,
      sequenced: this.sequenced,
      healthy: this.fault === null,
      budget: { historyBytes: this.budgetBytes, minFreeBytes: this.minFreeBytes, freeBytes: this.freeBytes, full: this.full },
      ...(this.fault !== null && { fault: `board history cannot be written (${this.fault.code}): writes refused` }),
      quarantined: this.history.quarantinedCount,
    };
  }

  close(): void {
    this.endTurn();
    clearInterval(this.syncTimer);
    clearInterval(this.unloadTimer);
    this.history.close();
  }

  /** Writes this turn's lines, board by board, then publishes them. */
  private endTurn(): void {
    for (const stored of this.touched) this.store(stored);
    for (const stored of this.touched) {
      const items = stored.board.takeUnpublished();
      if (items.length > 0 && this.subscribed.has(stored.board.name)) this.listener.publish(stored.board.name, items);
    }
    this.touched.clear();
  }

  /**
   * Writes what the board sequenced and answers its senders: what the disk
   * took is sequenced, what it did not is refused with `storage` (the board
   * has undone it: that seq is given again, and never published).
   */
  private store(stored: StoredBoard): void {
    const err = this.history.persist(stored);
    const head = stored.board.head;
    const pending = this.answers.get(stored);
    this.answers.delete(stored);
    if (err !== null) {
      stored.refuseUntil = this.now() + RETRY_AFTER_MS;
      this.faulted(stored.board.name, err.code ?? 'EIO', err);
    }
    for (const { later, outcomes } of pending ?? []) {
      later.resolve(
        outcomes.map((o) => {
          if (o.kind !== 'sequenced') return o;
          if (o.seq > head) return this.notStored();
          this.sequenced++;
          return o;
        }),
      );
    }
    if (err === null && this.fault !== null && pending !== undefined && this.history.unsafeBoards().length === 0) {
      this.healed(stored.board.name);
    }
  }

  /**
   * Whether the history's disk budget is used up, or the disk's free space
   * is below the floor (asked at most once a second). Said in the log when
   * it begins and when it ends.
   */
  private overBudget(): boolean {
    const now = this.now();
    if (this.minFreeBytes > 0 && now - this.freeAskedAt >= FREE_SPACE_EVERY_MS) {
      this.freeAskedAt = now;
      this.freeBytes = freeSpace(this.dataDir) ?? this.freeBytes;
    }
    const full =
      (this.budgetBytes > 0 && this.history.bytes >= this.budgetBytes) || (this.minFreeBytes > 0 && this.freeBytes < this.minFreeBytes);
    if (full !== this.full) {
      this.full = full;
      const fields = { historyBytes: this.history.bytes, budget: this.budgetBytes, freeBytes: this.freeBytes, minFree: this.minFreeBytes };
      if (full) this.log.warn(fields, 'history disk budget used up: new boards and messages refused with disk-full; clears still taken');
      else this.log.info(fields, 'history disk budget has room again');
    }
    return full;
  }

  private notStored(): SubmitOutcome {
    if (this.fault !== null) this.fault.refused++;
    const code = this.fault?.code ?? 'EIO';
    return { kind: 'refused', code: RefusalCode.Storage, message: `not stored: the disk refused it (${code}); send it again later` };
  }

  /** The disk refused a write: said once, in the log and in the health, until a write succeeds again. */
  private faulted(board: string, code: string, err?: Error): void {
    if (this.fault !== null) return;
    const now = Date.now();
    const loud = now - this.faultLoggedAt >= FAULT_LOG_EVERY_MS;
    this.fault = { code, since: now, refused: 0, loud };
    const fields = { err, board, code };
    const msg = 'board history cannot be written: messages are refused with "storage" and retried every second until the disk takes them';
    if (loud) {
      this.faultLoggedAt = now;
      this.log.error(fields, msg);
    } else this.log.debug(fields, msg);
    this.options.onHealth?.(false);
  }

  private healed(board: string): void {
    const fault = this.fault!;
    this.fault = null;
    const fields = { board, code: fault.code, refused: fault.refused, lastedMs: Date.now() - fault.since };
    if (fault.loud) this.log.info(fields, 'board history is written again: storage fault over');
    else this.log.debug(fields, 'board history is written again: storage fault over');
    this.options.onHealth?.(true);
  }

  /** Every second (tests call it directly): the power-cut policy's fdatasync, and, during a fault, a try of the disk. */
  tick(): void {
    this.history.sync((stored, err, seconds) => {
      if (err === null) return this.options.synced?.(seconds);
      this.syncFailed(stored, err);
    });
    // A board whose failed sync could not be healed: its log is rewritten from memory again, until it is.
    for (const stored of this.history.unsafeBoards()) {
      if (this.history.heal(stored) === null)
        this.log.info({ board: stored.board.name }, 'board log rewritten and synced: it takes writes again');
    }
    if (this.fault !== null && this.history.writable(this.now())) this.probe();
  }

  /**
   * During a fault, with or without traffic to try the disk: a small write
   * beside the logs, synced. A success ends the fault (the boards' retry
   * windows too); the next real write that fails begins another.
   */
  private probe(): void {
    if (this.history.unsafeBoards().length > 0 || this.history.probe() !== null) return;
    for (const stored of this.history.boards()) stored.refuseUntil = 0;
    this.healed('(probe)');
  }

  /** A failed fdatasync: never retried and trusted; the log is rewritten from memory, or the board is marked at risk. */
  private syncFailed(stored: StoredBoard, err: NodeJS.ErrnoException): void {
    const name = stored.board.name;
    if (this.history.peek(name) !== stored) {
      // Unloaded while its sync ran: its close synced (or rewrote) the file itself, and it may be loaded anew since.
      this.log.warn({ err, board: name }, 'fdatasync of an unloaded board log failed: its close saw to it');
      return;
    }
    this.store(stored);
    const healErr = this.history.heal(stored);
    if (healErr === null) {
      this.log.warn({ err, board: name }, 'fdatasync of board history failed: the log was rewritten from memory and synced');
      return;
    }
    this.log.error(
      { err, healErr, board: name, atRisk: { from: stored.syncedHead + 1, to: stored.board.storedHead } },
      'fdatasync of board history failed and the log could not be rewritten: those seqs may be lost at a power cut; ' +
        'the board refuses writes and gets a new epoch at its next load',
    );
    this.faulted(name, err.code ?? 'EIO', err);
  }

  private unloadIdle(): void {
    const now = Date.now();
    for (const [name, since] of this.idleSince) {
      if (now - since < UNLOAD_AFTER_MS) continue;
      this.idleSince.delete(name);
      const stored = this.history.peek(name);
      if (stored !== undefined) this.store(stored);
      this.history.unload(name);
    }
  }
}

function diskFull(): SubmitOutcome {
  return {
    kind: 'refused',
    code: RefusalCode.DiskFull,
    message: "not stored: the server's disk budget for board history is used up; clear a board to draw again",
  };
}

/** The size of the filesystem `dir` is on, in bytes (0 if it cannot be asked). */
function diskSize(dir: string): number {
  try {
    const st = fs.statfsSync(dir);
    return st.blocks * st.bsize;
  } catch {
    return 0;
  }
}

/** Bytes an unprivileged process may still write on `dir`'s filesystem, or null if it cannot be asked. */
function freeSpace(dir: string): number | null {
  try {
    const st = fs.statfsSync(dir);
    return st.bavail * st.bsize;
  } catch {
    return null;
  }
}

function resolveSize(size: DiskSize | undefined, disk: number): number {
  if (size === undefined) return 0;
  return 'bytes' in size ? size.bytes : Math.floor((disk * size.percent) / 100);
}
