/**
 * One board in memory: its frames since the last clear, its head `seq`, and
 * the ids already sequenced per session. Pure bookkeeping, no I/O: what must
 * be written and what may then be published are handed out by `takeWrite()`
 * and `takeUnpublished()`, and the engine writes before it publishes.
 *
 * The engine then says, with `stored(seq)`, how far the write got. What lies
 * beyond (the disk refused it) is undone as if it had never been sequenced:
 * its seqs are given again, its ids are new again, and it is never published.
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

/** The board as the log holds it for sure (arrays by reference: a clear replaces them, it does not empty them). */
interface Checkpoint {
  readonly frames: string[];
  readonly tags: string[];
  readonly seqs: number[] | null;
  readonly length: number;
  readonly firstSeq: number;
  readonly bytes: number;
  readonly head: number;
}

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
  /**
   * The seq of each frame, only while they are not dense (after corrupt lines
   * were left out of a restore); null while frame i is seq firstSeq + i.
   */
  private seqs: number[] | null = null;
  /** What the log holds for sure: the state to return to when a write fails. */
  private committed: Checkpoint;
  /** Messages sequenced since the checkpoint, for undoing their dedupe. */
  private uncommitted: { readonly tag: string; readonly id: string; readonly seq: number }[] = [];

  constructor(
    readonly name: string,
    /** The epoch clients see: the log's, changed if the history may have been lost. */
    readonly epoch: string,
    readonly header: LogHeader,
  ) {
    this.committed = this.checkpoint();
  }

  /** A board as its log holds it (entries in seq order). */
  static restore(name: string, epoch: string, header: LogHeader, entries: readonly LogEntry[]): Board {
    const board = new Board(name, epoch, header);
    for (const entry of entries) {
      const msg = JSON.parse(entry.frame) as { t: string; id: string; seq: number };
      if (msg.seq <= board.headSeq) throw new Error(`seq ${msg.seq} after ${board.headSeq}: entries out of order`);
      if (msg.t === 'clear') board.reset();
      if (board.frames.length === 0) board.firstSeq = msg.seq;
      else if (board.seqs === null && msg.seq !== board.headSeq + 1) board.seqs = board.frames.map((_, i) => board.firstSeq + i);
      board.seqs?.push(msg.seq);
      board.remember(entry.tag, msg.id);
      board.headSeq = msg.seq;
      board.frames.push(entry.frame);
      board.bytes += entry.frame.length;
    }
    board.committed = board.checkpoint();
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
    return { reset: false, frames: this.frames.slice(this.indexAfter(since)) };
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
    this.seqs?.push(seq);
    this.bytes += frame.length;
    this.remember(tag, msg.id);
    this.uncommitted.push({ tag, id: msg.id, seq });
    this.unwritten.push({ tag, frame });
    this.unpublished.push({ board: this.name, seq, frame });
    return { kind: 'sequenced', seq };
  }

  /** Whether this sender's message `id` was sequenced already (a resend). */
  isDuplicate(tag: string, id: string): boolean {
    return this.idsBySession.get(tag)?.has(id) === true;
  }

  /** What to write now; the board then counts it as written. */
  takeWrite(): PendingWrite {
    if (this.rewriteNeeded) {
      // The file becomes what follows the last clear: its growth is bounded by the board's limits.
      this.rewriteNeeded = false;
      this.unwritten = [];
      return { kind: 'rewrite', header: this.header, entries: this.entries() };
    }
    if (this.unwritten.length === 0) return { kind: 'none' };
    const entries = this.unwritten;
    this.unwritten = [];
    return { kind: 'append', entries };
  }

  /**
   * The log holds everything up to `seq` for sure: that becomes the state a
   * failed write returns to. Anything sequenced above it is undone (the
   * disk refused it): the head goes back, its ids may be sent again, and it
   * is never published. Returns how many messages were undone.
   */
  stored(seq: number): number {
    const c = this.committed;
    const undone = this.uncommitted.filter((u) => u.seq > seq);
    if (undone.length > 0) {
      for (const u of undone) this.idsBySession.get(u.tag)?.delete(u.id);
      if (this.frames !== c.frames) {
        // A clear among what is undone (a rewrite is all or nothing): the frames before it come back.
        this.frames = c.frames;
        this.tags = c.tags;
        this.seqs = c.seqs;
        this.firstSeq = c.firstSeq;
      }
      const keep = c.length + (seq - c.head);
      let bytes = c.bytes;
      for (let i = c.length; i < keep; i++) bytes += this.frames[i]!.length;
      this.frames.length = keep;
      this.tags.length = keep;
      if (this.seqs !== null) this.seqs.length = keep;
      this.bytes = bytes;
      this.headSeq = seq;
      this.unpublished = this.unpublished.filter((item) => item.seq <= seq);
      this.unwritten = [];
      this.rewriteNeeded = false;
    }
    this.uncommitted = [];
    this.committed = this.checkpoint();
    return undone.length;
  }

  /** What is stored for sure, as {@link stored} sees it: the head the log holds. */
  get storedHead(): number {
    return this.committed.head;
  }

  /** The entries the log should hold now (what follows the last clear): for a rewrite from memory. */
  entries(): LogEntry[] {
    return this.frames.map((frame, i) => ({ tag: this.tags[i] ?? '-', frame }));
  }

  /** Sequenced frames not yet handed to subscribers, in order. Call only once they are written. */
  takeUnpublished(): DeliverItem[] {
    const items = this.unpublished;
    this.unpublished = [];
    return items;
  }

  /** A seq since the last clear: its frame's kind and its sender's tag. */
  private target(seq: number): TargetInfo | undefined {
    const i = this.indexAfter(seq - 1);
    if (!Number.isInteger(seq) || i >= this.frames.length || this.seqAt(i) !== seq) return undefined;
    return { kind: frameKind(this.frames[i]!), tag: this.tags[i] ?? '-' };
  }

  private seqAt(i: number): number {
    return this.seqs === null ? this.firstSeq + i : this.seqs[i]!;
  }

  /** The index of the first frame whose seq is above `since`. */
  private indexAfter(since: number): number {
    if (this.seqs === null) return Math.min(this.frames.length, Math.max(0, since + 1 - this.firstSeq));
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.seqs[mid]! <= since) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private checkpoint(): Checkpoint {
    return {
      frames: this.frames,
      tags: this.tags,
      seqs: this.seqs,
      length: this.frames.length,
      firstSeq: this.firstSeq,
      bytes: this.bytes,
      head: this.headSeq,
    };
  }

  private reset(): void {
    this.frames = [];
    this.bytes = 0;
    this.tags = [];
    this.seqs = null;
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
