/**
 * One board in the sequencer's memory: its history since the last clear,
 * its head `seq`, and the ids already sequenced per session. Sequencing is
 * pure bookkeeping here; the log is written when the sequencer flushes.
 */
import type { ClientMessage, Limits } from '@smegchat/protocol';
import { sequencedFrame } from '@smegchat/protocol';
import { BoardLog, type LogEntry, type LogHeader } from './board-log.js';

/** Ids remembered per session, and sessions per board: enough to recognise any resend after a reconnect. */
const IDS_PER_SESSION = 4096;
const SESSIONS_PER_BOARD = 10_000;

export type SequenceResult =
  | { readonly kind: 'sequenced'; readonly seq: number; readonly frame: string }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'rejected'; readonly code: string; readonly message: string };

export interface Replay {
  readonly reset: boolean;
  readonly frames: string[];
}

export class Board {
  /** Frames since the last clear, in seq order; the first is the clear itself, if there was one. */
  private frames: string[] = [];
  /** The session tag of each frame in `frames`, so that a rewrite keeps them. */
  private tagsSinceClear: string[] = [];
  private firstSeq = 1;
  private bytes = 0;
  private headSeq = 0;
  private readonly idsBySession = new Map<string, Set<string>>();
  private pending: LogEntry[] = [];
  private rewritePending = false;

  private constructor(
    readonly name: string,
    /** The epoch clients see: the log's, changed if the history may have been lost. */
    readonly epoch: string,
    private readonly header: LogHeader,
    private readonly log: BoardLog,
  ) {}

  static create(dir: string, name: string, epoch: string, generation: number): Board {
    const log = BoardLog.create(dir, name, epoch);
    return new Board(name, publicEpoch(epoch, generation), { v: 1, epoch, created: new Date().toISOString() }, log);
  }

  /** Loads a board's log; returns how many bytes of torn tail were cut. */
  static open(dir: string, name: string, generation: number): { board: Board; truncated: number } {
    const { log, loaded } = BoardLog.open(dir, name);
    const board = new Board(name, publicEpoch(loaded.header.epoch, generation), loaded.header, log);
    for (const entry of loaded.entries) {
      const msg = JSON.parse(entry.frame) as { t: string; id: string; seq: number };
      if (msg.t === 'clear') board.reset();
      if (board.frames.length === 0) board.firstSeq = msg.seq;
      board.remember(entry.tag, msg.id);
      board.headSeq = msg.seq;
      board.frames.push(entry.frame);
      board.bytes += entry.frame.length;
    }
    return { board, truncated: loaded.truncated };
  }

  get head(): number {
    return this.headSeq;
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
    const seq = this.headSeq + 1;
    const frame = sequencedFrame(msg, seq);
    if (msg.t === 'clear') {
      this.reset();
      this.firstSeq = seq;
      this.rewritePending = true;
    } else if (this.frames.length >= limits.maxBoardMessages || this.bytes + frame.length > limits.maxBoardBytes) {
      return {
        kind: 'rejected',
        code: 'board-full',
        message: `board is full (${limits.maxBoardMessages} messages or ${limits.maxBoardBytes} bytes): clear it to draw again`,
      };
    }
    this.headSeq = seq;
    this.frames.push(frame);
    this.bytes += frame.length;
    this.remember(tag, msg.id);
    this.pending.push({ tag, frame });
    return { kind: 'sequenced', seq, frame };
  }

  /** Writes what was sequenced since the last call. Must run before any of it is sent. */
  persist(): void {
    if (this.rewritePending) {
      // The file becomes what follows the last clear: growth is bounded by the board's limits.
      this.log.rewrite(
        this.header,
        this.frames.map((frame, i) => ({ tag: this.tagOfFrame(i), frame })),
      );
      this.rewritePending = false;
      this.pending = [];
    } else if (this.pending.length > 0) {
      this.log.append(this.pending);
      this.pending = [];
    }
  }

  sync(onError: (err: Error) => void): void {
    this.log.syncSoon(onError);
  }

  close(): void {
    this.persist();
    this.log.close();
  }

  private reset(): void {
    this.frames = [];
    this.bytes = 0;
    this.tagsSinceClear = [];
  }

  private tagOfFrame(i: number): string {
    return this.tagsSinceClear[i] ?? '-';
  }

  private remember(tag: string, id: string): void {
    this.tagsSinceClear.push(tag);
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

/** The epoch clients see: a new generation (after an unclean reboot) gives every board a new one. */
function publicEpoch(epoch: string, generation: number): string {
  return generation === 0 ? epoch : `${epoch}g${generation}`;
}
