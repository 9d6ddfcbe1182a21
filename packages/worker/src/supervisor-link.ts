/**
 * The worker's end of the IPC channel. Outgoing traffic is batched: every
 * client message and closed socket of one turn of the event loop leaves in a
 * single IPC message, so a busy worker costs the supervisor O(turns), not
 * O(messages).
 */
import {
  IPC_VERSION,
  type JoinMessage,
  type JoinedMessage,
  type RefusedMessage,
  type SubmitItem,
  type WorkerMessage,
} from '@smegchat/protocol';
import type { Logger } from './logger.js';

type JoinReply = JoinedMessage | RefusedMessage;

export class SupervisorLink {
  private submits: SubmitItem[] = [];
  private closed: string[] = [];
  private flushScheduled = false;
  private nextReq = 1;
  private readonly pendingJoins = new Map<number, (reply: JoinReply) => void>();
  private warnedDisconnected = false;

  constructor(
    private readonly log: Logger,
    private readonly connections: () => number,
  ) {}

  ready(): void {
    this.send({ t: 'ready', v: IPC_VERSION });
  }

  /**
   * Asks the sequencer to join a board. The answer is handed to `answered`
   * synchronously, in channel order: a deliver that follows it in the same
   * read must find the client already live (a Promise would run after it).
   */
  join(fields: Omit<JoinMessage, 't' | 'req'>, answered: (reply: JoinReply) => void): void {
    const req = this.nextReq++;
    this.pendingJoins.set(req, answered);
    this.flush(); // a join must not overtake submits already queued this turn
    this.send({ t: 'join', req, ...fields });
  }

  /** Routes the sequencer's answer to the join that asked. */
  answer(reply: JoinReply): void {
    const resolve = this.pendingJoins.get(reply.req);
    if (resolve === undefined) {
      this.log.warn({ req: reply.req }, 'join answer for no pending join');
      return;
    }
    this.pendingJoins.delete(reply.req);
    resolve(reply);
  }

  pong(n: number): void {
    this.send({ t: 'pong', n });
  }

  leave(board: string): void {
    this.flush();
    this.send({ t: 'leave', board });
  }

  submit(item: SubmitItem): void {
    this.submits.push(item);
    this.schedule();
  }

  socketClosed(address: string): void {
    this.closed.push(address);
    this.schedule();
  }

  /** Sends what is queued now; `done` runs once it has been handed to the channel. */
  flush(done?: () => void): void {
    this.flushScheduled = false;
    if (this.submits.length > 0) {
      const items = this.submits;
      this.submits = [];
      this.send({ t: 'submit', items });
    }
    if (this.closed.length > 0) {
      const closed = this.closed;
      this.closed = [];
      this.send({ t: 'stats', connections: this.connections(), closed });
    }
    if (done) {
      if (process.connected) process.send!({ t: 'stats', connections: this.connections(), closed: [] }, undefined, {}, () => done());
      else done();
    }
  }

  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private send(msg: WorkerMessage): void {
    if (!process.connected) {
      // The supervisor is gone; main.ts exits on 'disconnect'. Say it once.
      if (!this.warnedDisconnected) this.log.warn({ t: msg.t }, 'IPC channel closed; message not sent');
      this.warnedDisconnected = true;
      return;
    }
    process.send!(msg);
  }
}
