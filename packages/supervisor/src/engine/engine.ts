/**
 * Where boards live and who orders them: the one boundary between the
 * sequencer (sessions, subscriptions of workers, fan-out) and the storage of
 * boards. The embedded engine keeps them in this process and on its disk;
 * another engine may keep them elsewhere (Redis), behind the same promises:
 *
 * 1. **One order.** The engine gives each sequenced message its board's next
 *    `seq`: dense, never reused, the same for every reader of the board.
 * 2. **Stored before seen.** A frame is published to the listener, or put in
 *    a join's replay, only once the engine has stored it (the embedded engine:
 *    written to the page cache, so a crash of the process loses nothing a
 *    client saw). This is the only place that rule is kept: the sequencer
 *    forwards what it is given and never sees an unstored frame.
 * 3. **Every frame once, in order.** While a board is subscribed, each frame
 *    sequenced on it (this host's own included) is published exactly once,
 *    in seq order. A join's outcome reaches the sequencer before any publish
 *    of a seq above its head; a publish at or below the head may follow it
 *    (the sequencer drops those for that subscriber).
 * 4. **No message applied twice.** A message whose `id` was already
 *    sequenced under the same session tag is answered `duplicate`.
 * 5. **Nothing refused silently.** A message that is not sequenced is
 *    answered `refused` with a {@link RefusalCode}.
 *
 * 6. **Told when history changed.** Should the engine find that what it
 *    published is no longer what it stores (Redis came back from an older
 *    file, or lost a board), it calls `resync`: the sequencer drops those
 *    boards' subscriptions and their clients resume (and are told `reset`).
 *
 * Answers may come synchronously (the embedded engine: the hot path costs no
 * promise), as promises, or as a {@link Later} (an engine across a network
 * that must decide the moment an answer reaches the sequencer: promise 3).
 */
import type { ClientMessage, CloseCode, DeliverItem, RefusalCode } from '@smegchat/protocol';

export type MaybePromise<T> = T | Promise<T> | Later<T>;

/**
 * An answer that comes later, handed to the sequencer synchronously when the
 * engine settles it (a promise would hand it over on a later microtask, after
 * publishes the engine may make meanwhile).
 */
export class Later<T> {
  private then: ((v: T) => void) | undefined;
  private failed: ((err: unknown) => void) | undefined;
  private settled: { ok: true; value: T } | { ok: false; err: unknown } | undefined;

  /** Called once by the sequencer (through {@link whenReady}). */
  onSettled(then: (v: T) => void, failed: (err: unknown) => void): void {
    const s = this.settled;
    if (s === undefined) {
      this.then = then;
      this.failed = failed;
    } else if (s.ok) then(s.value);
    else failed(s.err);
  }

  resolve(value: T): void {
    if (this.settled !== undefined) return;
    this.settled = { ok: true, value };
    this.then?.(value);
  }

  reject(err: unknown): void {
    if (this.settled !== undefined) return;
    this.settled = { ok: false, err };
    this.failed?.(err);
  }
}

/** The welcome's fields and the replay, or why the join is refused (the client is closed with `code`). */
export type JoinOutcome =
  | {
      readonly ok: true;
      readonly board: string;
      /** The board's head: the replay ends with this seq. */
      readonly head: number;
      readonly epoch: string;
      /** The resume asked for could not be served: the replay is the whole board. */
      readonly reset: boolean;
      /** Serialised sequenced frames, in seq order. */
      readonly frames: string[];
    }
  | { readonly ok: false; readonly code: CloseCode; readonly reason: string };

/** What became of one submitted message. */
export type SubmitOutcome =
  | { readonly kind: 'sequenced'; readonly seq: number }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'refused'; readonly code: RefusalCode; readonly message: string };

/** Where an engine publishes the frames of subscribed boards. */
export interface EngineListener {
  publish(board: string, items: readonly DeliverItem[]): void;
  /** What these boards' subscribers were sent is not the engine's history any more: they must resume (promise 6). */
  resync(boards: readonly string[]): void;
}

export interface EngineStats {
  /** Which engine this is, for status. */
  readonly engine: string;
  /** Boards that exist. */
  readonly boards: number;
  /** Boards this host holds in memory, where the engine knows. */
  readonly loaded?: number;
  /** Bytes of history on this host's disk, where the engine keeps any there. */
  readonly historyBytes?: number;
  /** Messages this engine sequenced since start. */
  readonly sequenced: number;
  /** Whether it can take writes now. */
  readonly healthy: boolean;
  /** While it cannot: what is wrong, in one line. */
  readonly fault?: string;
  /** Boards whose stored history was found corrupt since start (kept aside, served from their valid records). */
  readonly quarantined?: number;
  /** The embedded engine's disk budget (bytes; 0: none), the disk's free space, and whether either is reached. */
  readonly budget?: { readonly historyBytes: number; readonly minFreeBytes: number; readonly freeBytes: number; readonly full: boolean };
  /** Where it is, for people (secrets masked); absent for the embedded engine. */
  readonly url?: string;
}

export interface Engine {
  /** The welcome and replay for a client joining `board`: everything after `since` in `epoch`, else the whole board. */
  join(board: string, since: number | undefined, epoch: string | undefined): MaybePromise<JoinOutcome>;
  /** Sequences messages of one sender (`tag`, a hash of its session) on a joined board, in order; one outcome each. */
  submit(board: string, tag: string, messages: readonly ClientMessage[]): MaybePromise<readonly SubmitOutcome[]>;
  /** Starts publishing the board's frames to the listener. */
  subscribe(board: string): void;
  /** No subscriber is left on this host: the engine may stop publishing and free the board. */
  unsubscribe(board: string): void;
  stats(): EngineStats;
  /** Stores what is pending and releases everything: the last step of a stop (an engine across a network may take a moment). */
  close(): void | Promise<void>;
}

/** Runs `then` on a value or on what a promise resolves to, without a promise for a plain value. */
export function whenReady<T>(value: MaybePromise<T>, then: (v: T) => void, failed: (err: unknown) => void): void {
  if (value instanceof Promise) value.then(then, failed);
  else if (value instanceof Later) value.onSettled(then, failed);
  else then(value);
}
