/**
 * The default engine: every board's order and history in this process and
 * on its disk (one log file a board), nothing else to run. It answers
 * synchronously. Messages are sequenced as they arrive; at the end of the
 * turn every board writes its new lines (one write a board), and only then
 * are they published: the "stored before seen" promise of the engine
 * interface is kept here, in `endTurn()` and in `join()`.
 *
 * Its own affairs: the fdatasync timer (the power-cut policy, see History)
 * and unloading boards nobody is on.
 */
import { TurnBatcher, type Logger } from '@smegchat/common';
import { CloseCode, RefusalCode, type ClientMessage, type Limits } from '@smegchat/protocol';
import type { Engine, EngineListener, EngineStats, JoinOutcome, SubmitOutcome } from '../engine.js';
import { History, type StoredBoard } from './history.js';

const UNLOAD_AFTER_MS = 60_000;
const SYNC_INTERVAL_MS = 1_000;

export class EmbeddedEngine implements Engine {
  private readonly history: History;
  private readonly touched = new Set<StoredBoard>();
  private readonly subscribed = new Set<string>();
  private readonly idleSince = new Map<string, number>();
  private readonly turn = new TurnBatcher(() => this.endTurn());
  private syncTimer: NodeJS.Timeout | undefined;
  private unloadTimer: NodeJS.Timeout | undefined;
  private sequenced = 0;

  constructor(
    dataDir: string,
    private readonly limits: () => Limits,
    private readonly listener: EngineListener,
    private readonly log: Logger,
    /** Hears how long each successful fdatasync of a board's log took, in seconds (for the metrics). */
    private readonly synced?: (seconds: number) => void,
  ) {
    this.history = new History(dataDir, log);
  }

  /** Opens the history (as the service user: a directory it cannot use is found here). */
  open(): void {
    this.history.open();
    this.syncTimer = setInterval(() => this.sync(), SYNC_INTERVAL_MS);
    this.unloadTimer = setInterval(() => this.unloadIdle(), UNLOAD_AFTER_MS / 2);
    this.syncTimer.unref();
    this.unloadTimer.unref();
  }

  join(name: string, since: number | undefined, epoch: string | undefined): JoinOutcome {
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
    this.history.persist(stored);
    const { board } = stored;
    const replay = board.replay(since, epoch);
    return { ok: true, board: board.name, head: board.head, epoch: board.epoch, reset: replay.reset, frames: replay.frames };
  }

  submit(name: string, tag: string, messages: readonly ClientMessage[]): SubmitOutcome[] {
    const stored = this.history.peek(name);
    if (stored === undefined) {
      // A board is loaded from its first join until nobody has been on it for a while.
      return messages.map(() => ({ kind: 'refused', code: RefusalCode.Unavailable, message: 'board not loaded: join it first' }));
    }
    const limits = this.limits();
    const outcomes: SubmitOutcome[] = [];
    for (const msg of messages) {
      const result = stored.board.sequence(msg, tag, limits);
      if (result.kind === 'sequenced') {
        this.sequenced++;
        this.touched.add(stored);
        this.turn.schedule();
      }
      outcomes.push(result);
    }
    return outcomes;
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
      healthy: true,
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
    for (const stored of this.touched) this.history.persist(stored);
    for (const stored of this.touched) {
      const items = stored.board.takeUnpublished();
      if (items.length > 0 && this.subscribed.has(stored.board.name)) this.listener.publish(stored.board.name, items);
    }
    this.touched.clear();
  }

  private sync(): void {
    this.history.sync((board, err) => this.log.error({ err, board }, 'fdatasync of board history failed; will retry'), this.synced);
  }

  private unloadIdle(): void {
    const now = Date.now();
    for (const [name, since] of this.idleSince) {
      if (now - since < UNLOAD_AFTER_MS) continue;
      this.idleSince.delete(name);
      this.history.unload(name);
    }
  }
}
