/**
 * One board in memory: its frames since the last clear, its head `seq`, and
 * the ids already sequenced per session. Pure bookkeeping, no I/O: what must
 * be written and what may then be published are handed out by `takeWrite()`
 * and `takeUnpublished()`, and the engine writes before it publishes.
 */
import { RefusalCode, sequencedFrame, type ClientMessage, type DeliverItem, type Limits } from '@smegchat/protocol';
import { checkTargets, frameKind, isTargeting, type TargetInfo } from '../targets.js';
import type { LogEntry, LogHeader } from './board-log.js';

/** Ids remembered per session, and sessions per board: enough to recognise any resend after a reconnect. */
const IDS_PER_SESSION = 4096;
const SESSIONS_PER_BOARD = 10_000;

export type SequenceResult =
  | { readonly kind: 'sequenced'; readonly seq: number }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'refused'; readonly code: RefusalCode; readonly message: string };

export interface Replay {
  readonly reset: boolean;
  readonly frames: string[];
}

/** What the log must receive before anything sequenced since the last call is sent. */
export type PendingWrite =
  | { readonly kind: 'none' }
  | { readonly kind: 'append'; readonly entries: readonly LogEntry[] }
  /** After a clear: the file becomes the header and these entries (what follows the clear). */
  | { readonly kind: 'rewrite'; readonly header: LogHeader; readonly entries: readonly LogEntry[] };

export class Board {
  /** Frames since the last clear, in seq order; the first is the clear itself, if there was one. */
  private frames: string[] = [];
  /** The session tag of each frame in `frames`, so that a rewrite keeps them. */
  private tags: string[] = [];
  private firstSeq = 1;
  private bytes = 0;
  private headSeq = 0;
  private readonly idsBySession = new Map<string, Set<string>>();
  private unwritten: LogEntry[] = [];
  private rewriteNeeded = false;
  private unpublished: DeliverItem[] = [];

  constructor(
    readonly name: string,
    /** The epoch clients see: the log's, changed if the history may have been lost. */
    readonly epoch: string,
    readonly header: LogHeader,
  ) {}

  /** A board as its log holds it (entries in seq order). */
  static restore(name: string, epoch: string, header: LogHeader, entries: readonly LogEntry[]): Board {
    const board = new Board(name, epoch, header);
    for (const entry of entries) {
      const msg = JSON.parse(entry.frame) as { t: string; id: string; seq: number };
      if (msg.t === 'clear') board.reset();
      if (board.frames.length === 0) board.firstSeq = msg.seq;
      board.remember(entry.tag, msg.id);
      board.headSeq = msg.seq;
      board.frames.push(entry.frame);
      board.bytes += entry.frame.length;
    }
    return board;
  }

  get head(): number {
    return this.headSeq;
  }

  /** Messages held since the last clear. */
  get size(): number {
    return this.frames.length;
  }

  /**
   * What a joining client is sent after its welcome: everything after `since`
   * in the same epoch, else the whole board with `reset` when it asked to
   * resume and that cannot be served.
   */
  replay(since: number | undefined, epoch: string | undefined): Replay {
    if (since === undefined) return { reset: false, frames: this.frames.slice() };
    if (epoch !== this.epoch || since > this.headSeq) return { reset: true, frames: this.frames.slice() };
    // Before the last clear: the clear itself (the first frame) wipes what was missed.
    const from = Math.max(0, since + 1 - this.firstSeq);
    return { reset: false, frames: this.frames.slice(from) };
  }

  /** Gives a message the board's next seq, unless it is a resend or the board is full. */
  sequence(msg: ClientMessage, tag: string, limits: Limits): SequenceResult {
    if (this.idsBySession.get(tag)?.has(msg.id)) return { kind: 'duplicate' };
    if (isTargeting(msg)) {
      const refusal = checkTargets(msg, tag, (seq) => this.target(seq));
      if (refusal !== null) return refusal;
    }
    const seq = this.headSeq + 1;
    const frame = sequencedFrame(msg, seq);
    if (msg.t === 'clear') {
      this.reset();
      this.firstSeq = seq;
      this.rewriteNeeded = true;
    } else if (this.frames.length >= limits.maxBoardMessages || this.bytes + frame.length > limits.maxBoardBytes) {
      return {
        kind: 'refused',
        code: RefusalCode.BoardFull,
        message: `board is full (${limits.maxBoardMessages} messages or ${limits.maxBoardBytes} bytes): clear it to draw again`,
      };
    }
    this.headSeq = seq;
    this.frames.push(frame);
    this.bytes += frame.length;
    this.remember(tag, msg.id);
    this.unwritten.push({ tag, frame });
    this.unpublished.push({ board: this.name, seq, frame });
    return { kind: 'sequenced', seq };
  }

  /** What to write now; the board then counts it as written. */
  takeWrite(): PendingWrite {
    if (this.rewriteNeeded) {
      // The file becomes what follows the last clear: its growth is bounded by the board's limits.
      this.rewriteNeeded = false;
      this.unwritten = [];
      return { kind: 'rewrite', header: this.header, entries: this.frames.map((frame, i) => ({ tag: this.tags[i] ?? '-', frame })) };
    }
    if (this.unwritten.length === 0) return { kind: 'none' };
    const entries = this.unwritten;
    this.unwritten = [];
    return { kind: 'append', entries };
  }

  /** Sequenced frames not yet handed to subscribers, in order. Call only once they are written. */
  takeUnpublished(): DeliverItem[] {
    const items = this.unpublished;
    this.unpublished = [];
    return items;
  }

  /** A seq since the last clear: its frame's kind and its sender's tag. */
  private target(seq: number): TargetInfo | undefined {
    const i = seq - this.firstSeq;
    if (!Number.isInteger(i) || i < 0 || i >= this.frames.length) return undefined;
    return { kind: frameKind(this.frames[i]!), tag: this.tags[i] ?? '-' };
  }

  private reset(): void {
    this.frames = [];
    this.bytes = 0;
    this.tags = [];
  }

  private remember(tag: string, id: string): void {
    this.tags.push(tag);
    let ids = this.idsBySession.get(tag);
    if (ids === undefined) {
      if (this.idsBySession.size >= SESSIONS_PER_BOARD) {
        this.idsBySession.delete(this.idsBySession.keys().next().value!);
      }
      this.idsBySession.set(tag, (ids = new Set()));
    }
    ids.add(id);
    if (ids.size > IDS_PER_SESSION) ids.delete(ids.values().next().value!);
  }
}
