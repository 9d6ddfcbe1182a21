/**
 * The page's side of the wire protocol (docs/PROTOCOL.md): one WebSocket to /ws/BOARD at a time,
 * reconnected with exponential backoff and jitter and resumed with
 * `since/epoch/session`, so a worker dying or a rolling reload loses nothing
 * the user drew: every message stays pending until the server's echo (same
 * `id`) confirms it, and pending messages are sent again after a resume on
 * the same session, where the server drops any it had already sequenced.
 * A message refused `unavailable` or `storage` stays pending too and is sent
 * again after a backoff; other refusals are final.
 *
 * The session outlives a reload of the page: it is kept in the tab's
 * sessionStorage with the epoch and the id prefixes this session used, so
 * the reloaded page comes back on the same session (what it drew is still
 * its own to undo) and knows its own messages in the replay.
 */
import {
  CloseCode,
  DEFAULT_LIMITS,
  EPOCH,
  SESSION_TOKEN,
  parseServerMessage,
  TokenBucket,
  validateClientMessage,
  type ClientMessage,
  type PresenceFrame,
  type PresenceMessage,
  type SequencedMessage,
  type WelcomeMessage,
} from '@smegchat/protocol';

/** Where the link is; shown to the user. */
export type LinkState =
  /** Opening a socket, or waiting for its welcome. */
  | 'connecting'
  /** Welcomed: the replay is streaming in, or done and live. */
  | 'live'
  /** Closed; a reconnect is scheduled at `retryAt`. */
  | 'waiting';

/** What a page does with what arrives. */
export interface BoardClientEvents {
  /** A welcome; `wipe` says the board must be emptied before the replay that follows. */
  welcome(w: WelcomeMessage, wipe: boolean): void;
  /** A sequenced message, in seq order, each once; `mine` if this page sent it. */
  message(m: SequencedMessage, mine: boolean): void;
  /** Another client's presence (not sequenced): its latest name and pointer, or that it left. */
  presence(p: PresenceFrame): void;
  /** The server refused one of this page's messages (e.g. the board is full). */
  refused(id: string | undefined, code: string, text: string): void;
  /** Link state, pending count or worker changed. */
  changed(): void;
}

/** What `window.smegchat.state()` shows of the link: read-only copies, for tests and curious users. */
export interface ClientSnapshot {
  readonly board: string;
  readonly link: LinkState;
  readonly worker: number | null;
  readonly epoch: string | null;
  readonly head: number | null;
  readonly lastSeq: number | null;
  readonly welcomes: number;
  readonly resets: number;
  readonly lastClose: { code: number; reason: string } | null;
  /** Every sequenced message seen since the last reset, in order. */
  readonly confirmed: { seq: number; id: string; t: string }[];
  /** Ids this page sent that no echo has confirmed yet. */
  readonly pending: string[];
  /** Ids of every message this page created. */
  readonly created: string[];
  /** Sends of a message already sent on an earlier connection (resends after a resume). */
  readonly resent: number;
}

// The server allows 200 messages a second with a burst of 400 (DEFAULT_LIMITS);
// the page keeps to half that sustained, so even a burst of resends after a
// long outage never trips the limit (1008) and costs a reconnect.
const SEND_RATE = Math.min(100, DEFAULT_LIMITS.ratePerSecond / 2);
const SEND_BURST = Math.min(50, DEFAULT_LIMITS.rateBurst / 4);
/** Above this many unsent bytes in the socket, wait for it to drain before sending more. */
const MAX_BUFFERED = 512 * 1024;
const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 10_000;
/** A socket that has not been welcomed by then is given up and retried. */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * After a welcome, pending messages are resent once the replay has reached
 * the welcome's head (the replay confirms those the server already had). A
 * replay can be empty even when the head is above zero (a board whose last
 * message is a clear), so this much silence after the last frame also ends
 * the wait. Resending early is harmless on a resumed session (the server
 * dedupes by id); the wait avoids resends the server would have to drop.
 */
const RESEND_WAIT_MS = 1_000;

/**
 * Refusals that mean "not known to be applied: send it again later"
 * (docs/PROTOCOL.md#errors): the message stays pending and is sent again on
 * the same session after a backoff (the server's dedupe makes that safe).
 * Every other code is final for its message.
 */
const RETRYABLE = new Set(['unavailable', 'storage']);
const RETRY_BASE_MS = 500;
const RETRY_CAP_MS = 15_000;

/** What a tab keeps of its session on one board across reloads. */
interface StoredSession {
  readonly epoch: string;
  readonly session: string;
  /** The id prefixes of the page loads of this session, newest last. */
  readonly prefixes: string[];
}

const SESSION_KEY = 'smegchat.session.';
/** Page loads of one session whose messages the page still knows as its own. */
const MAX_PREFIXES = 64;

type TimerName = 'retry' | 'connect' | 'pump' | 'resend' | 'retrySend';

export class BoardClient {
  private ws: WebSocket | null = null;
  private link: LinkState = 'connecting';
  private attempt = 0;
  private readonly timers: Partial<Record<TimerName, ReturnType<typeof setTimeout>>> = {};
  retryAt = 0;

  private epoch: string | null = null;
  private session: string | null = null;
  private worker: number | null = null;
  private head: number | null = null;
  /** Highest seq seen, contiguous; null until the first one after a fresh welcome. */
  private lastSeq: number | null = null;
  /** Whether pending messages may go out on this socket (after the replay). */
  private sending = false;
  private welcomes = 0;
  private resets = 0;
  private lastClose: { code: number; reason: string } | null = null;

  /** Unconfirmed messages in the order they were made. */
  private readonly pending = new Map<string, ClientMessage>();
  /** Ids queued to go out on the current socket. */
  private outbox: string[] = [];
  private readonly bucket = new TokenBucket(SEND_RATE, SEND_BURST);

  private readonly confirmed: { seq: number; id: string; t: string }[] = [];
  private readonly created: string[] = [];
  /** Ids sent at least once, on any connection. */
  private readonly sent = new Set<string>();
  private resent = 0;
  /** Pending ids refused for now (RETRYABLE), to be sent again when the timer fires. */
  private readonly retryIds = new Set<string>();
  private retryAttempt = 0;
  private readonly idPrefix = randomTag(8);
  private idCounter = 0;
  /** The id prefixes of this session, this page load's included. */
  private readonly prefixes: Set<string>;
  /** The session came from an earlier load of this tab: the first welcome is a fresh start, not a resume. */
  private restored = false;
  /** What this user last said of itself, for a new connection. */
  private presence: Omit<PresenceMessage, 't'> = {};

  constructor(
    readonly board: string,
    private readonly events: BoardClientEvents,
  ) {
    const stored = loadSession(board);
    this.prefixes = new Set([...(stored?.prefixes ?? []), this.idPrefix].slice(-MAX_PREFIXES));
    if (stored !== null) {
      this.epoch = stored.epoch;
      this.session = stored.session;
      this.restored = true;
    }
    window.addEventListener('online', () => this.reconnectNow());
    // A phone brings a tab back after minutes in the background, deep into
    // its backoff: the user is looking now, so try at once.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.reconnectNow();
    });
  }

  start(): void {
    this.connect();
  }

  get state(): LinkState {
    return this.link;
  }

  get workerId(): number | null {
    return this.worker;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Unconfirmed messages in order, for drawing this page's own strokes before the echo. */
  pendingMessages(): IterableIterator<ClientMessage> {
    return this.pending.values();
  }

  /** A fresh message id: unique to this page load, short, within `maxIdLength`. */
  nextId(): string {
    return `${this.idPrefix}-${(++this.idCounter).toString(36)}`;
  }

  /**
   * Says where this user is (not sequenced, never pending): sent now if the
   * link is live, else dropped; the latest is said again on every new
   * connection, which is a new peer to the others.
   */
  sendPresence(fields: Omit<PresenceMessage, 't'>): void {
    this.presence = { ...this.presence, ...fields };
    if (this.ws !== null && this.link === 'live' && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ t: 'presence', ...fields }));
    }
  }

  /** Whether a message id is one this session sent (on this page load or an earlier one). */
  isMine(id: string): boolean {
    const dash = id.indexOf('-');
    return dash > 0 && this.prefixes.has(id.slice(0, dash));
  }

  /** Queues a message: it is pending until its echo, and sent as soon as the link allows. */
  send(msg: ClientMessage): boolean {
    // The page's own output is validated with the server's validator, so a bug
    // here shows up in the console instead of closing the connection (1007).
    const check = validateClientMessage(msg, DEFAULT_LIMITS);
    if (!check.ok) {
      console.warn('smegchat: not sending an invalid message', check.error.message, msg);
      return false;
    }
    this.pending.set(msg.id, msg);
    this.created.push(msg.id);
    if (this.sending) {
      this.outbox.push(msg.id);
      this.pump();
    }
    this.events.changed();
    return true;
  }

  snapshot(): ClientSnapshot {
    return {
      board: this.board,
      link: this.link,
      worker: this.worker,
      epoch: this.epoch,
      head: this.head,
      lastSeq: this.lastSeq,
      welcomes: this.welcomes,
      resets: this.resets,
      lastClose: this.lastClose && { ...this.lastClose },
      confirmed: this.confirmed.map((c) => ({ ...c })),
      pending: [...this.pending.keys()],
      created: [...this.created],
      resent: this.resent,
    };
  }

  /** Skips the backoff wait (the browser came back online, or the user asked). */
  reconnectNow(): void {
    if (this.link !== 'waiting') return;
    this.clearTimer('retry');
    this.connect();
  }

  private url(): string {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    let url = `${scheme}://${location.host}/ws/${encodeURIComponent(this.board)}`;
    if (this.epoch !== null && this.session !== null) {
      // Nothing seen yet (the link dropped before the replay's first frame, or
      // the replay was empty): ask for everything. Resuming from the welcome's
      // head instead would skip the replay this page never got.
      const since = this.lastSeq ?? 0;
      url += `?since=${since}&epoch=${encodeURIComponent(this.epoch)}&session=${encodeURIComponent(this.session)}`;
    }
    return url;
  }

  private connect(): void {
    this.setLink('connecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url());
    } catch (err) {
      console.warn('smegchat: cannot open a WebSocket', err);
      this.scheduleRetry(false);
      return;
    }
    this.ws = ws;
    this.timers.connect = setTimeout(() => {
      if (this.ws === ws && this.link === 'connecting') ws.close(4000, 'no welcome in time');
    }, CONNECT_TIMEOUT_MS);
    ws.onmessage = (ev) => {
      if (this.ws === ws && typeof ev.data === 'string') this.receive(ev.data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.lastClose = { code: ev.code, reason: ev.reason };
      this.dropSocket();
      // A reload (1012) means another worker is ready at once: come back quickly.
      this.scheduleRetry(ev.code === CloseCode.Restart);
    };
    // Errors are followed by a close event; nothing else to do here.
    ws.onerror = () => undefined;
  }

  private dropSocket(): void {
    const ws = this.ws;
    this.ws = null;
    this.sending = false;
    this.outbox = [];
    this.clearTimer('connect');
    this.clearTimer('pump');
    this.clearTimer('resend');
    // A resumed socket resends every pending message anyway.
    this.clearTimer('retrySend');
    this.retryIds.clear();
    if (ws !== null) {
      ws.onmessage = ws.onclose = ws.onerror = null;
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close();
    }
  }

  private scheduleRetry(quick: boolean): void {
    // Equal jitter: half the exponential delay fixed, half random, so a
    // thousand pages dropped by one dead worker do not come back in one spike
    // yet none retries in a tight loop.
    const exp = quick ? BACKOFF_BASE_MS : Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = exp / 2 + Math.random() * (exp / 2);
    if (!quick) this.attempt = Math.min(this.attempt + 1, 16);
    this.retryAt = Date.now() + delay;
    this.setLink('waiting');
    this.timers.retry = setTimeout(() => {
      delete this.timers.retry;
      this.connect();
    }, delay);
  }

  /**
   * Closes the socket and reconnects, resuming from what was seen. Through
   * the backoff: a server that kept sending gaps must not get a tight loop.
   */
  private resync(why: string): void {
    console.warn(`smegchat: resyncing: ${why}`);
    this.dropSocket();
    this.scheduleRetry(false);
  }

  private receive(text: string): void {
    const msg = parseServerMessage(text);
    if (msg === null) return; // Something newer than this page: ignore it.
    switch (msg.t) {
      case 'welcome':
        this.onWelcome(msg);
        return;
      case 'presence':
        this.events.presence(msg);
        return;
      case 'error':
        if (msg.id !== undefined && RETRYABLE.has(msg.code) && this.pending.has(msg.id)) {
          this.retryLater(msg.id);
          this.events.changed();
          return;
        }
        if (msg.id !== undefined && this.pending.delete(msg.id)) this.events.changed();
        this.events.refused(msg.id, msg.code, msg.message);
        return;
      default:
        this.onSequenced(msg);
    }
  }

  private onWelcome(w: WelcomeMessage): void {
    this.clearTimer('connect');
    // A session kept from an earlier load of this tab joins afresh (this page has nothing to keep).
    const fresh = this.restored;
    this.restored = false;
    const resumed = this.epoch !== null && !fresh;
    // The server says reset when it cannot serve the resume; a changed epoch
    // without the flag would be a server bug, but the page would still be
    // wrong to keep the old board, so it wipes then too.
    const wipe = !fresh && (w.reset === true || (resumed && this.epoch !== w.epoch));
    if (wipe) {
      this.resets++;
      this.confirmed.length = 0;
      this.lastSeq = null;
    } else if (!resumed) {
      this.lastSeq = null;
    }
    this.epoch = w.epoch;
    this.session = w.session;
    this.worker = w.worker;
    this.head = w.seq;
    saveSession(this.board, { epoch: w.epoch, session: w.session, prefixes: [...this.prefixes] });
    this.welcomes++;
    this.attempt = 0;
    this.setLink('live');
    this.events.welcome(w, wipe);
    if (Object.keys(this.presence).length > 0) this.ws?.send(JSON.stringify({ t: 'presence', ...this.presence }));
    // Pending messages go out once the replay is in: the replay confirms those
    // the server had already sequenced, so they need not be sent again.
    if (this.replayDone()) this.startSending();
    else this.armResend();
  }

  /** Starts sending after RESEND_WAIT_MS without a frame: see there. */
  private armResend(): void {
    this.clearTimer('resend');
    this.timers.resend = setTimeout(() => this.startSending(), RESEND_WAIT_MS);
  }

  private replayDone(): boolean {
    if (this.head === null) return false;
    if (this.head === 0) return true;
    return this.lastSeq !== null && this.lastSeq >= this.head;
  }

  private onSequenced(m: SequencedMessage): void {
    if (this.lastSeq !== null) {
      if (m.seq <= this.lastSeq) return; // Already seen: never draw a message twice.
      if (m.seq !== this.lastSeq + 1) {
        // A gap means a lost frame: resume from what was seen instead of
        // drawing an incomplete board.
        this.resync(`expected seq ${this.lastSeq + 1}, got ${m.seq}`);
        return;
      }
    }
    this.lastSeq = m.seq;
    this.confirmed.push({ seq: m.seq, id: m.id, t: m.t });
    const mine = this.pending.delete(m.id);
    if (mine) {
      this.sent.delete(m.id);
      this.retryAttempt = 0;
    }
    this.events.message(m, mine);
    if (mine) this.events.changed();
    if (!this.sending) {
      if (this.replayDone()) this.startSending();
      // Still replaying: the wait counts from the last frame, so a long replay is never cut short.
      else this.armResend();
    }
  }

  /** Sends a refused-for-now message again after a backoff with jitter (500 ms doubling to 15 s), on this socket. */
  private retryLater(id: string): void {
    this.retryIds.add(id);
    if (this.timers.retrySend !== undefined) return;
    const exp = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** this.retryAttempt);
    this.retryAttempt = Math.min(this.retryAttempt + 1, 16);
    this.timers.retrySend = setTimeout(
      () => {
        delete this.timers.retrySend;
        const ids = [...this.retryIds];
        this.retryIds.clear();
        if (!this.sending) return;
        for (const i of ids) if (this.pending.has(i) && !this.outbox.includes(i)) this.outbox.push(i);
        this.pump();
      },
      exp / 2 + Math.random() * (exp / 2),
    );
  }

  /** The replay is in (or waited for long enough): send every pending message, in order. */
  private startSending(): void {
    this.clearTimer('resend');
    if (this.sending || this.ws === null || this.link !== 'live') return;
    this.sending = true;
    this.outbox = [...this.pending.keys()];
    this.pump();
  }

  /** Sends from the outbox within the page's own rate limit and the socket's buffer. */
  private pump(): void {
    this.clearTimer('pump');
    const ws = this.ws;
    if (ws === null || !this.sending || ws.readyState !== WebSocket.OPEN) return;
    while (this.outbox.length > 0) {
      if (ws.bufferedAmount > MAX_BUFFERED) break;
      const id = this.outbox[0]!;
      const msg = this.pending.get(id);
      if (msg === undefined) {
        this.outbox.shift(); // Confirmed while it waited.
        continue;
      }
      if (!this.bucket.take()) break;
      this.outbox.shift();
      ws.send(JSON.stringify(msg));
      if (this.sent.has(id)) this.resent++;
      else this.sent.add(id);
    }
    if (this.outbox.length > 0) {
      const wait = this.bucket.msUntilToken() || 20;
      this.timers.pump = setTimeout(() => this.pump(), Math.max(5, wait));
    }
  }

  private setLink(s: LinkState): void {
    this.link = s;
    this.events.changed();
  }

  private clearTimer(which: TimerName): void {
    clearTimeout(this.timers[which]);
    delete this.timers[which];
  }
}

function loadSession(board: string): StoredSession | null {
  try {
    const raw: unknown = JSON.parse(sessionStorage.getItem(SESSION_KEY + board) ?? 'null');
    if (typeof raw !== 'object' || raw === null) return null;
    const { epoch, session, prefixes } = raw as Record<string, unknown>;
    if (typeof epoch !== 'string' || !EPOCH.test(epoch) || typeof session !== 'string' || !SESSION_TOKEN.test(session)) return null;
    const list = Array.isArray(prefixes) ? prefixes.filter((p): p is string => typeof p === 'string' && /^[a-z0-9]{1,16}$/.test(p)) : [];
    return { epoch, session, prefixes: list };
  } catch {
    return null; // Storage disabled or corrupt: a new session.
  }
}

function saveSession(board: string, s: StoredSession): void {
  try {
    sessionStorage.setItem(SESSION_KEY + board, JSON.stringify(s));
  } catch {
    // Storage disabled: a reload starts a new session.
  }
}

/** Random lowercase letters and digits, for ids that differ between page loads. */
export function randomTag(n: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  let s = '';
  for (const b of bytes) s += (b % 36).toString(36);
  return s;
}
