/**
 * The supervisor's end of one worker's IPC channel, both directions. What
 * comes in is validated (a worker faces the internet: it is trusted no more
 * than it must be) and dispatched by kind, one handler a kind; what goes out
 * leaves through the outbox, in order, or as a socket handed over.
 */
import type { Worker as ClusterWorker } from 'node:cluster';
import type { Socket } from 'node:net';
import type { Logger } from '@smegchat/common';
import { parseWorkerMessage, type Limits, type SupervisorMessage, type WorkerMessage } from '@smegchat/protocol';
import { Outbox } from '../sequencer/outbox.js';

export type WorkerHandlers = { readonly [K in WorkerMessage['t']]: (msg: Extract<WorkerMessage, { t: K }>) => void };

export class WorkerChannel {
  readonly outbox: Outbox;
  /** Messages sent that the channel has not taken yet (their send callback has not run): the IPC queue's depth. */
  private inFlight = 0;
  private readonly taken = (): void => {
    this.inFlight--;
  };
  /**
   * Sockets handed over that the worker has not said it took (`took`): our
   * copy stays open, so that if the worker dies first they go to another.
   */
  private readonly untakenSockets = new Map<number, { readonly socket: Socket; readonly refuse: boolean }>();
  private nextHandover = 1;

  constructor(
    private readonly worker: ClusterWorker,
    label: string,
    limits: () => Limits,
    log: Logger,
    on: WorkerHandlers,
  ) {
    this.outbox = new Outbox(label, (msg) => this.send(msg));
    worker.on('message', (raw: unknown) => {
      const msg = parseWorkerMessage(raw, limits());
      if (msg === null) {
        // Node's own cluster messages (with `cmd`) share the channel.
        if (!(typeof raw === 'object' && raw !== null && 'cmd' in raw)) {
          log.warn({ raw: String(JSON.stringify(raw)).slice(0, 200) }, 'malformed IPC message from worker: dropped');
        }
        return;
      }
      (on[msg.t] as (m: WorkerMessage) => void)(msg);
    });
    worker.on('error', (err) => log.warn({ err: err.message }, 'IPC channel error'));
  }

  get connected(): boolean {
    return this.worker.isConnected();
  }

  get queued(): number {
    return this.inFlight;
  }

  send(msg: SupervisorMessage): void {
    if (!this.worker.isConnected()) return;
    this.inFlight++;
    this.worker.send(msg, this.taken);
  }

  /**
   * Hands an accepted socket over; `done` hears whether the channel took it.
   * Our copy is closed once the worker says it has the socket ({@link took}),
   * not once it is sent: a worker killed with the socket still in its channel
   * would otherwise take the connection down with it.
   */
  handOver(socket: Socket, done: (err: Error | null) => void, refuse = false): void {
    this.inFlight++;
    const id = this.nextHandover++;
    const msg: SupervisorMessage = refuse ? { t: 'conn', id, refuse: true } : { t: 'conn', id };
    this.untakenSockets.set(id, { socket, refuse });
    this.worker.send(msg, socket, { keepOpen: true }, (err) => {
      this.inFlight--;
      // Not ours any more (taken, or handed to another worker after this one's exit): nothing failed here.
      if (err && !this.untakenSockets.delete(id)) return done(null);
      done(err);
    });
  }

  /** The worker has the socket of handover `id`: ours is closed (the connection stays, on the worker's copy). */
  took(id: number): void {
    const entry = this.untakenSockets.get(id);
    if (entry === undefined) return;
    this.untakenSockets.delete(id);
    entry.socket.destroy();
  }

  /** After the worker's exit: the sockets it never took, for another worker (refusals only to be closed). */
  untaken(): { readonly socket: Socket; readonly refuse: boolean }[] {
    const all = [...this.untakenSockets.values()];
    this.untakenSockets.clear();
    return all;
  }
}
