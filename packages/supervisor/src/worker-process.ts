/**
 * One forked worker process as the supervisor sees it: its state, its
 * connection accounting, and its outbox. A planned exit (retired by a reload,
 * scale or stop) and a crash are told apart by `retiring`.
 */
import type { Worker as ClusterWorker } from 'node:cluster';
import type { Socket } from 'node:net';
import type { SupervisorMessage } from '@smegchat/protocol';
import { Outbox } from './outbox.js';

/** How long after a worker's exit its IPC channel may take to be read to the end. */
const DRAIN_AFTER_EXIT_MS = 200;

export type ProcessState = 'starting' | 'ready' | 'draining' | 'stopping';

export class WorkerProcess {
  state: ProcessState = 'starting';
  readonly startedAt = Date.now();
  /** Connections handed to it and not yet reported closed. */
  connections = 0;
  /** Open connections by remote address, for the per-address cap. */
  readonly addresses = new Map<string, number>();
  /** Set when we asked it to go: its exit is not a crash. */
  retiring = false;
  /** The last `ping` it answered, for the watchdog. */
  lastPong = 0;
  readonly outbox: Outbox;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /**
   * Exited, and its IPC channel read to the end: only then has everything it
   * sent (its last submits, say) been handled. 'exit' alone can come first.
   */
  readonly gone: Promise<{ code: number | null; signal: string | null }>;
  private markReady!: () => void;
  /** Resolves when it reports ready; rejects if it exits first. */
  readonly ready: Promise<void>;

  constructor(
    readonly slot: number,
    readonly worker: ClusterWorker,
  ) {
    this.outbox = new Outbox(`${slot}/${worker.process.pid}`, (msg) => this.send(msg));
    this.exited = new Promise((resolve) => worker.once('exit', (code, signal) => resolve({ code, signal })));
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
        reject(new Error(`worker ${slot} exited before it was ready (${signal ?? `exit code ${code}`})`)),
      );
    });
    this.ready.catch(() => undefined);
  }

  get pid(): number {
    return this.worker.process.pid ?? 0;
  }

  becameReady(): void {
    if (this.state === 'starting') this.state = 'ready';
    this.markReady();
  }

  send(msg: SupervisorMessage): void {
    if (!this.worker.isConnected()) return;
    this.worker.send(msg);
  }

  /** Hands over an accepted socket; the socket is closed here once sent. */
  adopt(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    this.connections++;
    this.addresses.set(address, (this.addresses.get(address) ?? 0) + 1);
    this.worker.send({ t: 'conn' }, socket, { keepOpen: false }, (err: Error | null) => {
      if (err) {
        socket.destroy();
        this.closed([address]);
      }
    });
  }

  /** The worker reported these sockets closed. */
  closed(addresses: readonly string[]): void {
    for (const address of addresses) {
      const n = this.addresses.get(address) ?? 0;
      if (n <= 1) this.addresses.delete(address);
      else this.addresses.set(address, n - 1);
      if (this.connections > 0) this.connections--;
    }
  }
}
