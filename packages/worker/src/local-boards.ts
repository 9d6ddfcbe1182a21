/**
 * The worker's clients by board. A board stays subscribed at the sequencer
 * while any client on it here is joining or live; when the last one goes the
 * worker says `leave`, so the supervisor stops sending it that board.
 */
import { TurnBatcher } from '@smegchat/common';
import type { DeliverItem } from '@smegchat/protocol';
import type { ClientConnection } from './client-connection.js';
import type { WorkerMetrics } from './worker-metrics.js';

export class LocalBoards {
  private readonly boards = new Map<string, Set<ClientConnection>>();
  private readonly byCid = new Map<number, ClientConnection>();

  constructor(
    private readonly metrics: WorkerMetrics,
    private readonly onBoardEmpty: (board: string) => void,
  ) {}

  /** Clients here, joining or live. */
  get size(): number {
    return this.byCid.size;
  }

  add(client: ClientConnection): void {
    let set = this.boards.get(client.board);
    if (set === undefined) this.boards.set(client.board, (set = new Set()));
    set.add(client);
    this.byCid.set(client.cid, client);
  }

  remove(client: ClientConnection): void {
    if (!this.byCid.delete(client.cid)) return;
    const set = this.boards.get(client.board);
    if (set === undefined) return;
    set.delete(client);
    if (set.size === 0) {
      this.boards.delete(client.board);
      this.onBoardEmpty(client.board);
    }
  }

  client(cid: number): ClientConnection | undefined {
    return this.byCid.get(cid);
  }

  /** The live clients on a board here. */
  *liveOn(board: string): Generator<ClientConnection> {
    for (const c of this.boards.get(board) ?? []) if (c.live) yield c;
  }

  clients(): IterableIterator<ClientConnection> {
    return this.byCid.values();
  }

  /**
   * Queues sequenced frames; they are written at the end of this turn of the
   * event loop, so that all the frames one client gets in a turn leave in one
   * write (its socket corked around them) instead of one write each: that
   * per-frame syscall was three quarters of a worker's time under fan-out.
   * A client that joins meanwhile is safe: it skips seqs up to its replay's head.
   */
  deliver(items: readonly DeliverItem[]): void {
    for (const item of items) this.pending.push(item);
    this.writer.schedule();
  }

  private pending: DeliverItem[] = [];
  private readonly writer = new TurnBatcher(() => this.flush());

  private flush(): void {
    // By board, in order: each client is on one board, so it is corked once around all its frames.
    const byBoard = new Map<string, DeliverItem[]>();
    for (const item of this.pending) {
      let items = byBoard.get(item.board);
      if (items === undefined) byBoard.set(item.board, (items = []));
      items.push(item);
    }
    this.pending = [];
    for (const [board, items] of byBoard) {
      const set = this.boards.get(board);
      if (set === undefined) continue;
      // Each frame turned into bytes once, then written to every client on the board.
      const frames = items.map((item) => Buffer.from(item.frame));
      let delivered = 0;
      for (const client of set) {
        client.cork();
        for (let k = 0; k < items.length; k++) if (client.deliver(items[k]!.seq, frames[k]!)) delivered++;
        client.uncork();
      }
      this.metrics.delivered += delivered;
    }
  }
}
