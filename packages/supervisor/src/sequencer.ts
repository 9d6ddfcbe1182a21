/**
 * The one sequencer. Workers hand it their clients' messages; it gives each
 * the board's next seq, has the board log it, and then sends it to every
 * worker with clients on that board. The cost of a message here is
 * O(workers), never O(clients): a worker fans out to its own clients.
 *
 * Order of a turn: messages are sequenced as they arrive; at the end of the
 * turn every board writes its new lines (page cache), and only then do the
 * outboxes go out. So no client ever sees a seq the history lacks.
 */
import crypto from 'node:crypto';
import { CloseCode, SESSION_TOKEN, type JoinMessage, type Limits, type RejectItem, type SubmitItem } from '@smegchat/protocol';
import type { Logger } from '@smegchat/worker';
import type { Board } from './board.js';
import type { History } from './history.js';
import type { Outbox } from './outbox.js';

const UNLOAD_AFTER_MS = 60_000;
const SYNC_INTERVAL_MS = 1_000;

export class Sequencer {
  private readonly subscribers = new Map<string, Set<Outbox>>();
  private readonly idleSince = new Map<string, number>();
  private readonly touched = new Set<Board>();
  private readonly pendingOutboxes = new Set<Outbox>();
  private readonly tags = new Map<string, string>();
  private flushScheduled = false;
  private readonly syncTimer: NodeJS.Timeout;
  private readonly unloadTimer: NodeJS.Timeout;
  /** Messages sequenced since start. */
  relayed = 0;

  constructor(
    private readonly history: History,
    private readonly limits: () => Limits,
    private readonly log: Logger,
  ) {
    this.syncTimer = setInterval(() => this.sync(), SYNC_INTERVAL_MS);
    this.unloadTimer = setInterval(() => this.unloadIdle(), UNLOAD_AFTER_MS / 2);
    this.syncTimer.unref();
    this.unloadTimer.unref();
  }

  get boardCount(): number {
    return this.history.boardCount;
  }

  join(outbox: Outbox, m: JoinMessage): void {
    let board: Board | null;
    try {
      board = this.history.get(m.board, this.limits().maxBoards);
    } catch (err) {
      this.log.error({ err, board: m.board }, 'board history cannot be read');
      this.queue(outbox, { t: 'refused', req: m.req, code: CloseCode.InternalError, reason: 'board history unavailable' });
      return;
    }
    if (board === null) {
      this.log.warn({ board: m.board, maxBoards: this.limits().maxBoards }, 'new board refused: board limit reached');
      this.queue(outbox, {
        t: 'refused',
        req: m.req,
        code: CloseCode.TryAgainLater,
        reason: 'this server holds as many boards as it may; use an existing board',
      });
      return;
    }
    const session = m.session !== undefined && SESSION_TOKEN.test(m.session) ? m.session : crypto.randomBytes(16).toString('hex');
    const replay = board.replay(m.since, m.epoch);
    this.queue(outbox, {
      t: 'joined',
      req: m.req,
      board: board.name,
      seq: board.head,
      epoch: board.epoch,
      session,
      reset: replay.reset,
      frames: replay.frames,
    });
    // From here on this worker gets the board's live messages, all with seqs above board.head.
    let subs = this.subscribers.get(board.name);
    if (subs === undefined) this.subscribers.set(board.name, (subs = new Set()));
    subs.add(outbox);
    this.idleSince.delete(board.name);
  }

  leave(outbox: Outbox, name: string): void {
    const subs = this.subscribers.get(name);
    if (!subs) return;
    subs.delete(outbox);
    if (subs.size === 0) {
      this.subscribers.delete(name);
      this.idleSince.set(name, Date.now());
    }
  }

  /** A worker is gone: it gets nothing more. */
  detach(outbox: Outbox): void {
    for (const name of [...this.subscribers.keys()]) this.leave(outbox, name);
    this.pendingOutboxes.delete(outbox);
  }

  submit(from: Outbox, items: readonly SubmitItem[]): void {
    const limits = this.limits();
    for (const item of items) {
      const subs = this.subscribers.get(item.board);
      const board = this.history.peek(item.board);
      if (board === undefined || subs === undefined || !subs.has(from)) {
        this.log.warn({ worker: from.label, board: item.board }, 'submit for a board the worker has not joined: dropped');
        continue;
      }
      const result = board.sequence(item.msg, this.tagOf(item.session), limits);
      switch (result.kind) {
        case 'duplicate':
          this.log.debug({ board: item.board, id: item.msg.id }, 'resent message already sequenced: not applied again');
          break;
        case 'rejected':
          this.queue(from, { t: 'reject', items: [{ cid: item.cid, id: item.msg.id, code: result.code, message: result.message }] });
          break;
        case 'sequenced': {
          this.relayed++;
          this.touched.add(board);
          const deliver = { board: item.board, seq: result.seq, frame: result.frame };
          for (const outbox of subs) {
            outbox.pushDeliver(deliver);
            this.pendingOutboxes.add(outbox);
          }
          this.scheduleFlush();
          break;
        }
      }
    }
  }

  /** Tells senders their messages were refused (they broke the limits): the connections stay. */
  refuse(to: Outbox, items: RejectItem[]): void {
    this.log.info({ worker: to.label, refused: items.length }, 'messages refused: over the current limits');
    this.queue(to, { t: 'reject', items });
  }

  /** Writes this turn's history, then sends this turn's messages. */
  flush(): void {
    this.flushScheduled = false;
    for (const board of this.touched) board.persist();
    this.touched.clear();
    for (const outbox of this.pendingOutboxes) outbox.flush();
    this.pendingOutboxes.clear();
  }

  /** Flushes and closes the history: the last step of a stop. */
  close(): void {
    this.flush();
    clearInterval(this.syncTimer);
    clearInterval(this.unloadTimer);
    this.history.close();
  }

  private queue(outbox: Outbox, msg: Parameters<Outbox['push']>[0]): void {
    outbox.push(msg);
    this.pendingOutboxes.add(outbox);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** A session is never stored: its hash tags the ids it sent. */
  private tagOf(session: string): string {
    let tag = this.tags.get(session);
    if (tag === undefined) {
      tag = crypto.createHash('sha256').update(session).digest('hex').slice(0, 24);
      if (this.tags.size >= 100_000) this.tags.clear();
      this.tags.set(session, tag);
    }
    return tag;
  }

  private sync(): void {
    this.history.sync((board, err) => this.log.error({ err, board }, 'fdatasync of board history failed; will retry'));
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
