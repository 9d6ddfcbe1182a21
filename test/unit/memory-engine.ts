/**
 * An engine with boards in memory only, for testing the sequencer without a
 * disk: the embedded engine's pure Board behind the engine interface. Frames
 * are "stored" the moment they are sequenced, so it publishes at once.
 */
import { CloseCode, DEFAULT_LIMITS, type ClientMessage } from '@smegchat/protocol';
import { Board } from '@smegchat/supervisor/dist/engine/embedded/board.js';
import type { Engine, EngineListener, EngineStats, JoinOutcome, SubmitOutcome } from '@smegchat/supervisor/dist/engine/engine.js';

export class MemoryEngine implements Engine {
  readonly boards = new Map<string, Board>();
  readonly subscribed = new Set<string>();
  private sequenced = 0;
  /** Boards that may exist; a join past it is refused, as the embedded engine's `--max-boards`. */
  maxBoards = Infinity;

  constructor(private readonly listener: EngineListener) {}

  join(name: string, since: number | undefined, epoch: string | undefined): JoinOutcome {
    let board = this.boards.get(name);
    if (board === undefined) {
      if (this.boards.size >= this.maxBoards) return { ok: false, code: CloseCode.TryAgainLater, reason: 'too many boards' };
      board = new Board(name, 'e1', { v: 1, epoch: 'e1', created: '' });
      this.boards.set(name, board);
    }
    const replay = board.replay(since, epoch);
    return { ok: true, board: name, head: board.head, epoch: board.epoch, reset: replay.reset, frames: replay.frames };
  }

  submit(name: string, tag: string, messages: readonly ClientMessage[]): SubmitOutcome[] {
    const board = this.boards.get(name)!;
    const outcomes = messages.map((m) => board.sequence(m, tag, DEFAULT_LIMITS));
    board.takeWrite();
    const items = board.takeUnpublished();
    this.sequenced += items.length;
    if (items.length > 0 && this.subscribed.has(name)) this.listener.publish(name, items);
    return outcomes;
  }

  subscribe(name: string): void {
    this.subscribed.add(name);
  }

  unsubscribe(name: string): void {
    this.subscribed.delete(name);
  }

  stats(): EngineStats {
    return { engine: 'memory', boards: this.boards.size, sequenced: this.sequenced, healthy: true };
  }

  close(): void {}
}
