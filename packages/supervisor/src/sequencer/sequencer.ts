/**
 * The sequencer's front: workers hand it their clients' joins and messages;
 * it issues sessions, asks the engine to order and store, and sends every
 * published frame to each worker subscribed to its board. The cost of a
 * message here is O(workers), never O(clients): a worker fans out to its own
 * clients. Where boards live, and the rule that a frame is stored before
 * anyone sees it, are the engine's (engine/engine.ts).
 *
 * Everything queued for workers leaves at the end of the current task (a
 * microtask), so the engine's publishes of one turn, and the answers to one
 * read of a worker's channel, each leave as one IPC message per worker.
 */
import crypto from 'node:crypto';
import type { Logger } from '@smegchat/common';
import {
  CloseCode,
  RefusalCode,
  SESSION_TOKEN,
  type ClientMessage,
  type DeliverItem,
  type JoinMessage,
  type RejectItem,
  type SubmitItem,
} from '@smegchat/protocol';
import { whenReady, type Engine, type EngineListener, type JoinOutcome, type SubmitOutcome } from '../engine/engine.js';
import { PresenceHub, type PresenceFanout } from '../presence/presence-hub.js';
import type { Outbox } from './outbox.js';

/** Session tags kept in memory (a cache: a tag is a pure function of its session). */
const MAX_TAGS = 100_000;

/** What the sequencer counts, for status and metrics (metrics/tallies.ts). */
export interface SequencerTally {
  /** A message of this host's clients was sequenced. */
  messageSequenced(type: string): void;
  messageRefused(code: string): void;
  /** Frames the engine handed this host for its workers (with Redis, whichever host sequenced them). */
  framesPublished(count: number): void;
}

const NO_TALLY: SequencerTally = {
  messageSequenced: () => undefined,
  messageRefused: () => undefined,
  framesPublished: () => undefined,
};

/** A worker's subscription to a board: frames at or below `head` (its first join's replay) are not sent again. */
interface Subscription {
  head: number;
}

export class Sequencer implements EngineListener, PresenceFanout {
  private engine!: Engine;
  /** Who is on each board: not sequenced, it only rides the same outboxes. */
  readonly presence = new PresenceHub(this);
  private readonly subscribers = new Map<string, Map<Outbox, Subscription>>();
  private readonly pending = new Set<Outbox>();
  private flushQueued = false;
  private readonly tags = new Map<string, string>();

  constructor(
    private readonly log: Logger,
    private readonly tally: SequencerTally = NO_TALLY,
  ) {}

  /** The engine publishes to this sequencer; they are made for each other, so they are tied after both exist. */
  use(engine: Engine): void {
    this.engine = engine;
  }

  join(outbox: Outbox, m: JoinMessage): void {
    const session = m.session !== undefined && SESSION_TOKEN.test(m.session) ? m.session : crypto.randomBytes(16).toString('hex');
    whenReady(
      this.engine.join(m.board, m.since, m.epoch),
      (outcome) => this.joined(outbox, m, session, outcome),
      (err) => {
        this.log.error({ err, board: m.board }, 'join failed in the engine');
        this.queue(outbox, { t: 'refused', req: m.req, code: CloseCode.InternalError, reason: 'board history unavailable' });
      },
    );
  }

  leave(outbox: Outbox, name: string): void {
    const subs = this.subscribers.get(name);
    if (subs === undefined || !subs.delete(outbox)) return;
    this.presence.dropFrom(outbox, name);
    if (subs.size === 0) {
      this.subscribers.delete(name);
      this.engine.unsubscribe(name);
    }
  }

  /** A worker is gone: it gets nothing more. */
  detach(outbox: Outbox): void {
    for (const name of [...this.subscribers.keys()]) this.leave(outbox, name);
    this.presence.dropFrom(outbox);
    this.pending.delete(outbox);
  }

  /** Messages from a worker's clients, in the order they were sent; consecutive ones of one sender go to the engine together. */
  submit(from: Outbox, items: readonly SubmitItem[]): void {
    let i = 0;
    while (i < items.length) {
      const first = items[i]!;
      let j = i + 1;
      while (j < items.length && items[j]!.board === first.board && items[j]!.cid === first.cid) j++;
      const run = items.slice(i, j);
      i = j;
      if (!this.subscribers.get(first.board)?.has(from)) {
        this.log.warn({ worker: from.label, board: first.board }, 'submit for a board the worker has not joined: dropped');
        continue;
      }
      const messages: ClientMessage[] = run.map((item) => item.msg);
      whenReady(
        this.engine.submit(first.board, this.tagOf(first.session), messages),
        (outcomes) => this.submitted(from, run, outcomes),
        (err) => {
          this.log.error({ err, board: first.board }, 'submit failed in the engine');
          this.submitted(
            from,
            run,
            run.map(() => ({ kind: 'refused', code: RefusalCode.Unavailable, message: 'not stored: send it again later' })),
          );
        },
      );
    }
  }

  /** Tells senders their messages were refused (they broke the limits): the connections stay. */
  refuse(to: Outbox, items: RejectItem[]): void {
    this.log.info({ worker: to.label, refused: items.length }, 'messages refused: over the current limits');
    for (const item of items) this.tally.messageRefused(item.code);
    this.queue(to, { t: 'reject', items });
  }

  /** From the engine: stored frames of a subscribed board, in seq order. */
  publish(board: string, items: readonly DeliverItem[]): void {
    const subs = this.subscribers.get(board);
    if (subs === undefined) return;
    this.tally.framesPublished(items.length);
    for (const [outbox, sub] of subs) {
      for (const item of items) {
        if (item.seq <= sub.head) continue;
        outbox.pushDeliver(item);
      }
      this.pending.add(outbox);
    }
    this.scheduleFlush();
  }

  /**
   * From the engine: these boards' history changed under their subscribers.
   * Each worker on them is told to make its clients resume there; the
   * subscriptions end here (the engine has dropped them), and the next join
   * starts afresh from what the engine stores now.
   */
  resync(boards: readonly string[]): void {
    const byWorker = new Map<Outbox, string[]>();
    for (const board of boards) {
      const subs = this.subscribers.get(board);
      if (subs === undefined) continue;
      this.subscribers.delete(board);
      for (const outbox of subs.keys()) {
        let list = byWorker.get(outbox);
        if (list === undefined) byWorker.set(outbox, (list = []));
        list.push(board);
      }
    }
    for (const [outbox, list] of byWorker) this.queue(outbox, { t: 'resync', boards: list });
    this.log.warn({ boards: boards.length, workers: byWorker.size }, 'board history changed in the engine: subscribers resume');
  }

  /** Sends whatever is queued now (the end of the task, or a stop). */
  flush(): void {
    this.flushQueued = false;
    for (const outbox of this.pending) outbox.flush();
    this.pending.clear();
  }

  private joined(outbox: Outbox, m: JoinMessage, session: string, outcome: JoinOutcome): void {
    if (!outcome.ok) {
      this.queue(outbox, { t: 'refused', req: m.req, code: outcome.code, reason: outcome.reason });
      return;
    }
    this.queue(outbox, {
      t: 'joined',
      req: m.req,
      board: outcome.board,
      seq: outcome.head,
      epoch: outcome.epoch,
      session,
      reset: outcome.reset,
      frames: outcome.frames,
    });
    // From here on this worker gets the board's frames above the head (a worker already subscribed keeps its own).
    let subs = this.subscribers.get(outcome.board);
    if (subs === undefined) {
      this.subscribers.set(outcome.board, (subs = new Map()));
      this.engine.subscribe(outcome.board);
    }
    if (!subs.has(outbox)) {
      subs.set(outbox, { head: outcome.head });
      this.presence.subscribed(outbox, outcome.board);
    }
  }

  /** The workers subscribed to a board (for presence). */
  *workersOn(board: string): Generator<Outbox> {
    const subs = this.subscribers.get(board);
    if (subs !== undefined) yield* subs.keys();
  }

  private submitted(from: Outbox, run: readonly SubmitItem[], outcomes: readonly SubmitOutcome[]): void {
    let rejected: RejectItem[] | null = null;
    for (let k = 0; k < run.length; k++) {
      const outcome = outcomes[k]!;
      if (outcome.kind === 'sequenced') {
        this.tally.messageSequenced(run[k]!.msg.t);
      } else if (outcome.kind === 'duplicate') {
        this.log.debug({ board: run[k]!.board, id: run[k]!.msg.id }, 'resent message already sequenced: not applied again');
      } else {
        this.tally.messageRefused(outcome.code);
        (rejected ??= []).push({ cid: run[k]!.cid, id: run[k]!.msg.id, code: outcome.code, message: outcome.message });
      }
    }
    if (rejected !== null) this.queue(from, { t: 'reject', items: rejected });
  }

  /** Queues a message for a worker, sent with the next flush (the end of this task). */
  queue(outbox: Outbox, msg: Parameters<Outbox['push']>[0]): void {
    outbox.push(msg);
    this.pending.add(outbox);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  /** A session is never stored: its hash tags the ids it sent. */
  private tagOf(session: string): string {
    let tag = this.tags.get(session);
    if (tag === undefined) {
      tag = crypto.createHash('sha256').update(session).digest('hex').slice(0, 24);
      if (this.tags.size >= MAX_TAGS) this.tags.clear();
      this.tags.set(session, tag);
    }
    return tag;
  }
}
