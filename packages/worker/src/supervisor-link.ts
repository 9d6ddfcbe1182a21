/**
 * The worker's end of the IPC channel, both directions. Incoming messages are
 * validated here and dispatched by kind to the worker (a table, one handler a
 * kind); `ping` and the answers to joins are handled here. Outgoing traffic
 * is batched: every client message and closed socket of one turn of the
 * event loop leaves in a single IPC message, so a busy worker costs the
 * supervisor O(turns), not O(messages).
 */
import type { Socket } from 'node:net';
import { TurnBatcher, type Logger } from '@smegchat/common';
import {
  IPC_VERSION,
  parseSupervisorMessage,
  type ConfigMessage,
  type DeliverItem,
  type JoinMessage,
  type JoinedMessage,
  type MetricsMessage,
  type PresencePeer,
  type RefusedMessage,
  type RejectItem,
  type SubmitItem,
  type SupervisorMessage,
  type TlsMessage,
  type WorkerMessage,
} from '@smegchat/protocol';

type JoinReply = JoinedMessage | RefusedMessage;

/** What the worker does with the supervisor's messages. */
export interface SupervisorHandlers {
  adopt(socket: Socket | undefined, refuse: boolean): void;
  certificate(msg: TlsMessage): void;
  deliver(items: readonly DeliverItem[]): void;
  rejected(items: readonly RejectItem[]): void;
  stop(code: 1001 | 1012): void;
  shed(count: number): void;
  reopenLog(): void;
  configure(msg: ConfigMessage): void;
  engineHealth(healthy: boolean): void;
  resync(boards: readonly string[]): void;
  /** Presence of peers served elsewhere. */
  peers(board: string, peers: readonly PresencePeer[]): void;
}

export class SupervisorLink {
  private submits: SubmitItem[] = [];
  private closed: string[] = [];
  private readonly batcher = new TurnBatcher(() => this.flush());
  private nextReq = 1;
  private readonly pendingJoins = new Map<number, (reply: JoinReply) => void>();
  private nextClaim = 1;
  private readonly pendingClaims = new Map<number, (ok: boolean) => void>();
  private warnedDisconnected = false;
  private readonly table: { [K in SupervisorMessage['t']]: (msg: Extract<SupervisorMessage, { t: K }>, handle: unknown) => void };

  constructor(
    private readonly log: Logger,
    private readonly connections: () => number,
    private readonly metrics: () => MetricsMessage,
    on: SupervisorHandlers,
  ) {
    this.table = {
      conn: (m, handle) => {
        // First, before a byte is read: from now on a crash of this worker is this worker's, not a lost handover.
        this.send({ t: 'took', id: m.id });
        on.adopt(handle as Socket | undefined, m.refuse === true);
      },
      tls: (m) => on.certificate(m),
      // Only a spare is assigned (spare.ts), before it becomes a worker and this link exists.
      assign: () => this.log.error('assign to a worker that already serves: ignored'),
      ping: (m) => this.send({ t: 'pong', n: m.n }),
      joined: (m) => this.answer(m),
      refused: (m) => this.answer(m),
      deliver: (m) => on.deliver(m.items),
      reject: (m) => on.rejected(m.items),
      stop: (m) => on.stop(m.code),
      shed: (m) => on.shed(m.count),
      'reopen-log': () => on.reopenLog(),
      config: (m) => on.configure(m),
      claimed: (m) => {
        const answered = this.pendingClaims.get(m.req);
        if (answered === undefined) return this.log.warn({ req: m.req }, 'claim answer for no pending claim');
        this.pendingClaims.delete(m.req);
        answered(m.ok);
      },
      health: (m) => on.engineHealth(m.engine),
      resync: (m) => on.resync(m.boards),
      presence: (m) => on.peers(m.board, m.peers),
    };
  }

  /** Starts reading the channel. */
  start(): void {
    process.on('message', (raw: unknown, handle: unknown) => this.receive(raw, handle));
  }

  /** Asks for the TLS certificate; the answer is a `tls` message. */
  requestCertificate(): void {
    this.send({ t: 'tls-request' });
  }

  /** Tells the supervisor this worker serves: it may hand it sockets from now on. */
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

  /** Asks the supervisor to count a connection from `from` as from `address` (a proxied client); `answered` hears whether it may. */
  claim(from: string, address: string, answered: (ok: boolean) => void): void {
    if (!process.connected) return answered(false);
    const req = this.nextClaim++;
    this.pendingClaims.set(req, answered);
    this.flush(); // the closes queued this turn are counted before the claim is judged
    this.send({ t: 'claim', req, from, address });
  }

  leave(board: string): void {
    this.flush();
    this.send({ t: 'leave', board });
  }

  /** This worker's clients' presence on a board, thinned by the fan-out's tick. */
  presence(board: string, peers: PresencePeer[]): void {
    this.flush(); // after whatever was queued before it, like a join
    this.send({ t: 'presence', board, peers });
  }

  submit(item: SubmitItem): void {
    this.submits.push(item);
    this.batcher.schedule();
  }

  socketClosed(address: string): void {
    this.closed.push(address);
    this.batcher.schedule();
  }

  /** Sends what the worker did since the last report (the worker's timer, once a second). */
  report(): void {
    this.flush(); // the submits counted in the report go before it
    this.send(this.metrics());
  }

  /**
   * The last word before a planned exit: sends what is queued and the last
   * metrics, then `drained`, and calls `done` once the channel has taken it,
   * so that nothing this worker's clients sent is lost in the exit.
   */
  drain(done: () => void): void {
    this.report();
    if (!process.connected) return done();
    process.send!({ t: 'drained' } satisfies WorkerMessage, undefined, {}, () => done());
  }

  private receive(raw: unknown, handle: unknown): void {
    const msg = parseSupervisorMessage(raw);
    if (msg === null) {
      // Node's own cluster messages share the channel; anything else is a bug. Only its type
      // is logged: a `tls` message holds the private key, which no log line may carry.
      if (!(typeof raw === 'object' && raw !== null && 'cmd' in raw)) {
        this.log.error(
          { t: typeof raw === 'object' && raw !== null ? String((raw as { t?: unknown }).t) : typeof raw },
          'malformed message from supervisor',
        );
      }
      return;
    }
    (this.table[msg.t] as (m: SupervisorMessage, h: unknown) => void)(msg, handle);
  }

  /** Routes the sequencer's answer to the join that asked. */
  private answer(reply: JoinReply): void {
    const resolve = this.pendingJoins.get(reply.req);
    if (resolve === undefined) {
      this.log.warn({ req: reply.req }, 'join answer for no pending join');
      return;
    }
    this.pendingJoins.delete(reply.req);
    resolve(reply);
  }

  private flush(): void {
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
