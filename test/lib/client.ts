/**
 * A WebSocket client for tests that behaves like the page: it keeps the
 * board as the server told it, and, when asked to, reconnects and resumes
 * with since/epoch/session and sends again what was not confirmed.
 */
import WebSocket from 'ws';
import {
  parseServerMessage,
  type ClientMessage,
  type SequencedMessage,
  type WelcomeMessage,
  type ErrorMessage,
  type PresenceFrame,
} from '@smegchat/protocol';

/** How a socket connects: the Origin it sends, WSS trusting a CA (PEM), extra request headers. */
export interface SocketOptions {
  readonly origin?: string;
  readonly ca?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface OpenOptions {
  /** Speak WSS, trusting this CA certificate (PEM); the client keeps it for its reconnects. */
  readonly ca?: string;
  /** Extra headers of the upgrade request (X-Forwarded-For, say); kept for reconnects too. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly since?: number;
  readonly epoch?: string;
  readonly session?: string;
  readonly origin?: string;
  readonly ms?: number;
}

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

/** Opens a raw WebSocket to a board without waiting for anything; WSS when given the CA to trust. */
export function rawSocket(port: number, pathAndQuery: string, { origin, ca, headers }: SocketOptions = {}): WebSocket {
  const scheme = ca === undefined ? 'ws' : 'wss';
  return new WebSocket(`${scheme}://127.0.0.1:${port}${pathAndQuery}`, {
    ...(origin && { origin }),
    ...(ca !== undefined && { ca }),
    ...(headers && { headers }),
  });
}

/** The HTTP status a WebSocket upgrade was refused with; rejects if it was accepted. */
export function upgradeRefusal(port: number, path: string, opts: SocketOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = rawSocket(port, path, opts);
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => reject(new Error(`upgrade to ${path} was accepted`)));
    ws.on('error', () => undefined);
  });
}

export class BoardClient {
  welcome!: WelcomeMessage;
  /** Every welcome this client got, one per (re)connection. */
  readonly welcomes: WelcomeMessage[] = [];
  /** The board: sequenced messages since the last clear, as this client applied them. */
  board: SequencedMessage[] = [];
  /** Every sequenced message received, replays and resends included: for counting duplicates. */
  readonly received: SequencedMessage[] = [];
  readonly errors: ErrorMessage[] = [];
  /** Every presence frame received, in order. */
  readonly presence: PresenceFrame[] = [];
  lastSeq = 0;
  ws!: WebSocket;
  closed!: Promise<Closed>;
  /** Messages sent and not yet seen back, by id. */
  readonly unconfirmed = new Map<string, ClientMessage>();
  private waiters = new Set<() => void>();
  private resuming = false;
  private ca: string | undefined;
  private headers: Readonly<Record<string, string>> | undefined;

  /** Which server it connects to; a test may move it (a host died: resume on another). */
  port: number;
  /** Resends after `unavailable` or `storage` errors, like the page's. */
  retried = 0;

  private constructor(
    port: number,
    readonly board_: string,
  ) {
    this.port = port;
  }

  static async open(port: number, board: string, opts: OpenOptions = {}): Promise<BoardClient> {
    const c = new BoardClient(port, board);
    c.ca = opts.ca;
    c.headers = opts.headers;
    await c.connect(opts);
    return c;
  }

  get name(): string {
    return this.board_;
  }

  private connect(opts: OpenOptions): Promise<void> {
    const q = new URLSearchParams();
    if (opts.since !== undefined) q.set('since', String(opts.since));
    if (opts.epoch !== undefined) q.set('epoch', opts.epoch);
    if (opts.session !== undefined) q.set('session', opts.session);
    const query = q.size > 0 ? `?${q}` : '';
    const ws = rawSocket(this.port, `/ws/${this.board_}${query}`, { origin: opts.origin, ca: this.ca, headers: this.headers });
    this.ws = ws;
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`no welcome within ${opts.ms ?? 10_000} ms`));
      }, opts.ms ?? 10_000);
      ws.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.once('close', (code, reason) => {
        clearTimeout(timer);
        reject(new Error(`closed before welcome: ${code} ${reason.toString()}`));
      });
      ws.on('message', (data) => {
        const msg = parseServerMessage(data.toString());
        if (msg === null) throw new Error(`server sent something that is not a server message: ${data.toString().slice(0, 200)}`);
        if (msg.t === 'welcome') {
          this.welcome = msg;
          this.welcomes.push(msg);
          if (msg.reset) {
            this.board = [];
            this.lastSeq = 0;
          }
          clearTimeout(timer);
          if (msg.seq === this.lastSeq) this.afterReplay();
          resolve();
        } else if (msg.t === 'presence') {
          this.presence.push(msg);
        } else if (msg.t === 'error') {
          this.errors.push(msg);
          this.retryLater(msg);
        } else {
          this.apply(msg);
        }
        for (const w of this.waiters) w();
      });
    });
  }

  private apply(msg: SequencedMessage): void {
    this.received.push(msg);
    if (msg.seq <= this.lastSeq) throw new Error(`seq ${msg.seq} after ${this.lastSeq}: out of order or twice`);
    if (msg.t === 'clear') this.board = [];
    this.board.push(msg);
    this.lastSeq = msg.seq;
    this.unconfirmed.delete(msg.id);
    if (this.resuming && msg.seq === this.welcome.seq) this.afterReplay();
  }

  /** Once the replay is in: what we sent and never saw is sent again, on the same session. */
  private afterReplay(): void {
    if (!this.resuming) return;
    this.resuming = false;
    for (const msg of this.unconfirmed.values()) this.ws.send(JSON.stringify(msg));
  }

  /**
   * Like the page: a message refused `unavailable` or `storage` was not known
   * to be applied, so it stays unconfirmed and is sent again later on the
   * same session (bounded backoff); any other refusal is final.
   */
  private retryLater(err: ErrorMessage): void {
    if (err.id === undefined || (err.code !== 'unavailable' && err.code !== 'storage')) {
      if (err.id !== undefined) this.unconfirmed.delete(err.id);
      return;
    }
    const id = err.id;
    const ws = this.ws;
    const delay = Math.min(1000, 50 * 2 ** Math.min(this.retried++, 5));
    setTimeout(() => {
      const msg = this.unconfirmed.get(id);
      if (msg !== undefined && this.ws === ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
    }, delay).unref();
  }

  send(msg: ClientMessage): void {
    this.unconfirmed.set(msg.id, msg);
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /** Sends anything at all, for bad-input tests. */
  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  /** Reconnects and resumes from what it has seen; resends what was not confirmed. */
  async resume(ms = 10_000): Promise<void> {
    this.resuming = true;
    await this.connect({ since: this.lastSeq, epoch: this.welcome.epoch, session: this.welcome.session, ms });
  }

  /**
   * Like the page: whenever the connection drops (not by close()), reconnect
   * and resume, retrying a bounded number of times.
   */
  autoResume(attempts = 50, nextPort?: () => number): void {
    const arm = (): void => {
      const ws = this.ws;
      ws.once('close', () => {
        if (this.closing) return;
        void (async () => {
          for (let i = 0; i < attempts && !this.closing; i++) {
            try {
              if (nextPort !== undefined) this.port = nextPort();
              await this.resume();
              arm();
              return;
            } catch {
              await new Promise((r) => setTimeout(r, 50 + 50 * i));
            }
          }
        })();
      });
    };
    arm();
  }

  private closing = false;

  /** Resolves when cond() holds, re-checked on every frame received. */
  waitFor(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!cond()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what} (client at seq ${this.lastSeq})`));
      }, ms);
      this.waiters.add(check);
    });
  }

  waitForSeq(seq: number, ms = 10_000): Promise<void> {
    return this.waitFor(`seq ${seq}`, () => this.lastSeq >= seq, ms);
  }

  close(): Promise<Closed> {
    this.closing = true;
    this.ws.close();
    return this.closed;
  }
}

let nextId = 0;
/** A small valid stroke with a unique id. */
export function stroke(tag = 's', n = 3): ClientMessage {
  const points: [number, number][] = [];
  for (let i = 0; i < n; i++) points.push([i * 10, (nextId % 100) + i]);
  return { t: 'stroke', id: `${tag}-${process.pid}-${nextId++}`, color: '#336699', width: 4, points };
}
