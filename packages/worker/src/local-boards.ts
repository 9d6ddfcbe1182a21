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
      // The board's frames of this turn, WebSocket-framed once into one Buffer that every client on it is written.
      const turn = framedTurn(items);
      let delivered = 0;
      for (const client of set) delivered += client.deliverTurn(turn);
      this.metrics.delivered += delivered;
    }
  }
}

/** A board's sequenced frames of one turn, in seq order, framed as WebSocket text frames, back to back. */
export interface FramedTurn {
  readonly bytes: Buffer;
  readonly seqs: readonly number[];
  /** Where each frame starts in `bytes`. */
  readonly starts: readonly number[];
}

/** A server's text frame header (FIN, not masked) for this many payload bytes: 2, 4 or 10 bytes. */
function headerBytes(payload: number): number {
  return payload < 126 ? 2 : payload < 65_536 ? 4 : 10;
}

export function framedTurn(items: readonly DeliverItem[]): FramedTurn {
  const lengths = items.map((item) => Buffer.byteLength(item.frame));
  let total = 0;
  for (const n of lengths) total += headerBytes(n) + n;
  const bytes = Buffer.allocUnsafe(total);
  const starts: number[] = [];
  let at = 0;
  for (let k = 0; k < items.length; k++) {
    const n = lengths[k]!;
    starts.push(at);
    bytes[at] = 0x81; // FIN, text
    if (n < 126) bytes[at + 1] = n;
    else if (n < 65_536) {
      bytes[at + 1] = 126;
      bytes.writeUInt16BE(n, at + 2);
    } else {
      bytes[at + 1] = 127;
      bytes.writeBigUInt64BE(BigInt(n), at + 2);
    }
    at += headerBytes(n);
    at += bytes.write(items[k]!.frame, at);
  }
  return { bytes, seqs: items.map((item) => item.seq), starts };
}
