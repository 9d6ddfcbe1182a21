/**
 * One forked worker process as the supervisor sees it: its slot (none while
 * it is a spare), its state (one state machine, process-state.ts), its IPC
 * channel, its connection counts, and the moments of its life as promises
 * (ready, exited, gone).
 */
import type { Worker as ClusterWorker } from 'node:cluster';
import type { Logger } from '@smegchat/common';
import type { Limits } from '@smegchat/protocol';
import { ConnectionCount } from '../connections/connection-count.js';
import { WorkerTally } from '../metrics/tallies.js';
import { isPlanned, nextProcessState, type ProcessEvent, type ProcessState } from './process-state.js';
import { WorkerChannel, type WorkerHandlers } from './worker-channel.js';

/** How long after a worker's exit its IPC channel may take to be read to the end. */
const DRAIN_AFTER_EXIT_MS = 200;

export interface Exit {
  readonly code: number | null;
  readonly signal: string | null;
  /** The state it exited in. */
  readonly from: ProcessState;
  /** It exited in a state where we had asked it to (not a crash). */
  readonly planned: boolean;
  /** When it exited (Date.now()). */
  readonly at: number;
}

export class WorkerProcess {
  private current: ProcessState;
  private slotId: number | null;
  readonly startedAt = Date.now();
  readonly load = new ConnectionCount();
  /** What its metrics reports said (clients, messages in, deliveries out). */
  readonly tally = new WorkerTally(this.startedAt);
  /** The last `ping` it answered, for the watchdog. */
  lastPong = 0;
  readonly channel: WorkerChannel;
  readonly exited: Promise<Exit>;
  /**
   * Exited, and its IPC channel read to the end: only then has everything it
   * sent (its last submits, say) been handled. 'exit' alone can come first.
   */
  readonly gone: Promise<Exit>;
  private markReady!: () => void;
  /** Resolves when it reports ready; rejects if it exits first. */
  readonly ready: Promise<void>;

  /**
   * `slot` null forks a spare: it has no slot until {@link assign}. `log` is
   * replaced then, so that its lines name the slot.
   */
  constructor(
    slot: number | null,
    readonly worker: ClusterWorker,
    limits: () => Limits,
    public log: Logger,
    handlers: (proc: WorkerProcess) => WorkerHandlers,
  ) {
    this.slotId = slot;
    this.current = slot === null ? 'warming' : 'starting';
    this.channel = new WorkerChannel(worker, `${slot ?? 'spare'}/${worker.process.pid}`, limits, log, handlers(this));
    this.exited = new Promise((resolve) =>
      worker.once('exit', (code, signal) => {
        const from = this.current;
        this.on('exit');
        resolve({ code, signal, from, planned: isPlanned(from), at: Date.now() });
      }),
    );
    const disconnected = new Promise<void>((resolve) => worker.once('disconnect', () => resolve()));
    // Node holds 'disconnect' back while a socket handed to the worker awaits its
    // acknowledgement, which a killed worker never sends: so after the exit, the
    // channel gets a bounded moment to be read to its end, not forever.
    this.gone = this.exited.then(
      (how) =>
        new Promise((resolve) => {
          const timer = setTimeout(() => resolve(how), DRAIN_AFTER_EXIT_MS);
          void disconnected.then(() => {
            clearTimeout(timer);
            resolve(how);
          });
        }),
    );
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      void this.exited.then(({ code, signal }) =>
        reject(new Error(`worker ${this.slotId ?? 'spare'} exited before it was ready (${signal ?? `exit code ${code}`})`)),
      );
    });
    this.ready.catch(() => undefined);
  }

  get pid(): number {
    return this.worker.process.pid ?? 0;
  }

  get state(): ProcessState {
    return this.current;
  }

  /** Its slot, 1..N; null for a spare. */
  get slot(): number | null {
    return this.slotId;
  }

  /** A spare, warming or waiting: not a slot's process (yet). */
  get isSpare(): boolean {
    return this.slotId === null;
  }

  /** Loaded and listening on its channel: a spare that may be assigned now. */
  get warm(): boolean {
    return this.current === 'spare' && this.channel.connected;
  }

  /** A warm spare becomes slot `slot`'s process, `starting` until it says ready. */
  assign(slot: number, log: Logger): void {
    if (!this.warm || this.slotId !== null) throw new Error(`assertion: only a warm spare is assigned (state ${this.current})`);
    this.slotId = slot;
    this.log = log;
    this.on('assign');
  }

  /** Ready and reachable: may be handed connections. */
  get serving(): boolean {
    return this.current === 'ready' && this.channel.connected;
  }

  on(event: ProcessEvent): void {
    this.current = nextProcessState(this.current, event);
    if (event === 'ready' && this.current === 'ready') this.markReady();
  }

  /** Ends it now, as planned (a start that is given up): its exit is not a crash. */
  kill(): void {
    this.on('stop');
    this.worker.process.kill('SIGKILL');
  }
}
