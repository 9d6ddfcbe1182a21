/**
 * Messages between the supervisor and its workers, over node:cluster's IPC
 * channel. Both ends validate what they receive with the parsers below: a
 * worker is the process facing the internet, so the supervisor trusts it no
 * more than it must.
 */
import { isInt, isObject, isString, isStringArray, type Json } from './check.js';
import { CLOSE_CODE_LABELS, JOIN_SECONDS_BUCKETS, WORKER_REFUSALS, type ConnectionRefusal } from './metrics.js';
import { validateClientMessage, type ClientMessage } from './client.js';
import { validPresencePeer, type PresencePeer } from './presence.js';
import { CloseCode } from './close-codes.js';
import { BOARD_NAME, DEFAULT_LIMITS, EPOCH, MAX_WORKERS, MIN_WORKERS, SESSION_TOKEN, type Limits } from './limits.js';

/**
 * The IPC version. A worker whose version differs from its supervisor's
 * refuses to start (and a reload that forked it is aborted), so old and new
 * code never mix on one channel.
 */
export const IPC_VERSION = 10;

/** The environment variable that carries a worker's {@link WorkerConfig}, or a spare's {@link SpareConfig}. */
export const WORKER_CONFIG_ENV = 'SMEGCHAT_WORKER_CONFIG';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

/** What a worker is told at fork, and again (as `config`) when a reload changes it. */
export interface WorkerConfig {
  /** The worker's id, 1..N, as clients see it in `welcome.worker`. */
  readonly id: number;
  readonly ipcVersion: number;
  readonly limits: Limits;
  readonly logLevel: LogLevel;
  /** Where to append log lines; null for stdout. */
  readonly logFile: string | null;
  /** Origins allowed to open a WebSocket; null allows any. */
  readonly origins: readonly string[] | null;
  /**
   * The port serves TLS: the worker waits for its certificate ({@link TlsMessage})
   * before it says `ready`, and terminates TLS on every socket handed to it.
   */
  readonly tls: boolean;
  /**
   * Addresses and networks of reverse proxies (`A`, `A/N`): a request on a
   * connection from one is from the address its X-Forwarded-For names.
   */
  readonly trustedProxies: readonly string[];
  /** Which smegchat host this is, as clients see it in `welcome.host`. */
  readonly host: string;
  /** Whether the engine takes writes at fork; later changes arrive as `health`. */
  readonly engineHealthy: boolean;
  /**
   * How long the supervisor gives this worker to exit once told to `stop`
   * (`--drain-timeout`) before it kills it: a stop waits for the answers to
   * joins already asked within this, less the time its clients get to close.
   */
  readonly drainTimeoutMs: number;
}

/**
 * What a spare is told at fork, in place of a {@link WorkerConfig}: it loads
 * everything a worker runs, says {@link StandbyMessage standby}, and serves
 * nothing (no worker number, no sockets) until an {@link AssignMessage assign}
 * gives it a slot and the configuration of that moment.
 */
export interface SpareConfig {
  readonly spare: true;
  readonly ipcVersion: number;
}

/** Longest address a `claim` may name (an IPv6 address in full is 45 characters). */
export const MAX_ADDRESS_LENGTH = 64;

/** Longest `drainTimeoutMs` a worker config may carry (an hour, as `--drain-timeout` allows). */
export const MAX_DRAIN_TIMEOUT_MS = 3_600_000;

/** Largest PEM text (a certificate chain, a key) a `tls` message may carry. */
export const MAX_PEM_LENGTH = 1024 * 1024;

// ---------------------------------------------------------------- worker → supervisor

/** The worker serves: its HTTP server is ready for connections. */
export interface ReadyMessage {
  readonly t: 'ready';
  readonly v: number;
}

/**
 * A spare is loaded and listens on the channel: from now on it may be
 * assigned a slot. Sent once, first. `v` is its IPC version, as in `ready`.
 */
export interface StandbyMessage {
  readonly t: 'standby';
  readonly v: number;
}

/**
 * A TLS worker asks for its certificate ({@link TlsMessage}), once it listens
 * on the channel: a message sent before would be lost. It says `ready` once
 * it has one.
 */
export interface TlsRequestMessage {
  readonly t: 'tls-request';
}

/** A client asks to join a board; answered by `joined` or `refused` with the same `req`. */
export interface JoinMessage {
  readonly t: 'join';
  readonly req: number;
  readonly board: string;
  readonly since?: number;
  readonly epoch?: string;
  readonly session?: string;
}

/** The worker's last client on a board has left: stop sending it that board. */
export interface LeaveMessage {
  readonly t: 'leave';
  readonly board: string;
}

/** One client message to sequence. */
export interface SubmitItem {
  readonly board: string;
  readonly session: string;
  /** The worker's id for the connection, for sending a refusal back. */
  readonly cid: number;
  readonly msg: ClientMessage;
}

/** Client messages to sequence, batched per turn of the worker's event loop. */
export interface SubmitMessage {
  readonly t: 'submit';
  readonly items: SubmitItem[];
  /**
   * Filled in by {@link parseWorkerMessage}, never sent: items that fail the
   * supervisor's limits (which a reload may have tightened before the worker
   * heard), to be refused to their senders while the rest go on.
   */
  readonly invalid?: RejectItem[];
}

/** Connection accounting: the current count and the remote addresses of sockets closed since the last report. */
export interface StatsMessage {
  readonly t: 'stats';
  readonly connections: number;
  readonly closed: string[];
}

/**
 * Count one connection from `from` (a trusted proxy, as the supervisor
 * counted it at accept) as from `address` (the client its X-Forwarded-For
 * names) instead, if the per-address cap allows: answered by `claimed` with
 * the same `req`. Until the answer the request waits.
 */
export interface ClaimMessage {
  readonly t: 'claim';
  readonly req: number;
  readonly from: string;
  readonly address: string;
}

/**
 * The worker has the socket of `conn` number `id`: the supervisor closes its
 * own copy now. Until then it keeps it, so that a worker that dies with the
 * socket still in its channel loses no connection: it goes to another worker.
 */
export interface TookMessage {
  readonly t: 'took';
  readonly id: number;
}

/** The answer to a `ping`: the worker's event loop turns. */
export interface PongMessage {
  readonly t: 'pong';
  readonly n: number;
}

/**
 * The worker's last message before a planned exit: everything it had to send
 * (its clients' last messages, its closed sockets) went before this.
 */
export interface DrainedMessage {
  readonly t: 'drained';
}

/**
 * What a worker did since its previous report, sent once a second (and once
 * more before `drained`): counts, never one message per event. Every count is
 * the increase since the previous report, except `clients`, the number now.
 */
export interface MetricsMessage {
  readonly t: 'metrics';
  /** WebSocket clients now, joining or live. */
  readonly clients: number;
  /** Client messages accepted and passed on to the sequencer. */
  readonly received: number;
  /** Sequenced frames written to live clients (one per frame per client; replays not counted). */
  readonly delivered: number;
  /** Clients dropped for reading too slowly (`maxBufferedBytes`). */
  readonly slowDropped: number;
  /** WebSocket clients closed, by close-code label ({@link CLOSE_CODE_LABELS}), whoever closed. */
  readonly closed: Readonly<Partial<Record<string, number>>>;
  /** Handshakes this worker refused, by reason ({@link WORKER_REFUSALS}). */
  readonly refused: Readonly<Partial<Record<ConnectionRefusal, number>>>;
  /** Joins by latency bucket ({@link JOIN_SECONDS_BUCKETS}, then the overflow bucket), not cumulative. */
  readonly joins: readonly number[];
  /** The sum of those joins' latencies, in seconds. */
  readonly joinSeconds: number;
}

export type WorkerMessage =
  | ReadyMessage
  | StandbyMessage
  | TlsRequestMessage
  | JoinMessage
  | LeaveMessage
  | SubmitMessage
  | StatsMessage
  | ClaimMessage
  | MetricsMessage
  | PongMessage
  | TookMessage
  | DrainedMessage
  | PresenceIpcMessage;

/**
 * Presence of a board's peers (docs/PROTOCOL.md#presence), the latest per
 * peer, thinned to one message per board per tick: worker → supervisor for
 * the worker's own clients, supervisor → worker for everyone else's (other
 * workers, other hosts). Not sequenced, not stored.
 */
export interface PresenceIpcMessage {
  readonly t: 'presence';
  readonly board: string;
  readonly peers: PresencePeer[];
}

// ---------------------------------------------------------------- supervisor → worker

/**
 * A connection accepted by the supervisor, passed with its socket handle.
 * With `refuse`, it is over the connection caps on a TLS port: the worker
 * answers 503 over TLS (a plaintext reply would be garbage to the client) and
 * closes it; it is counted nowhere.
 */
export interface ConnectionMessage {
  readonly t: 'conn';
  /** The supervisor's number for this handover, which `took` acknowledges. */
  readonly id: number;
  readonly refuse?: true;
}

/**
 * The certificate chain and private key the port serves, PEM: the answer to
 * `tls-request` (before it the worker does not serve), and sent again to every
 * worker when a reload renews them,
 * swapped in for new handshakes while open connections keep theirs. Never
 * logged, by either side.
 */
export interface TlsMessage {
  readonly t: 'tls';
  readonly cert: string;
  readonly key: string;
}

/** The answer to a `join`: the welcome's fields and the frames to replay. */
export interface JoinedMessage {
  readonly t: 'joined';
  readonly req: number;
  readonly board: string;
  readonly seq: number;
  readonly epoch: string;
  readonly session: string;
  readonly reset: boolean;
  /** Serialised sequenced frames, in order, ending with seq `seq`. */
  readonly frames: string[];
}

/** A `join` refused: the client is closed with this code. */
export interface RefusedMessage {
  readonly t: 'refused';
  readonly req: number;
  readonly code: CloseCode;
  readonly reason: string;
}

/** One sequenced message for the worker's clients on a board. */
export interface DeliverItem {
  readonly board: string;
  readonly seq: number;
  /** The frame exactly as clients receive it. */
  readonly frame: string;
}

/** Sequenced messages, batched per turn of the supervisor's event loop. */
export interface DeliverMessage {
  readonly t: 'deliver';
  readonly items: DeliverItem[];
}

/** A submitted message the sequencer refused, to be told to its sender. */
export interface RejectItem {
  readonly cid: number;
  readonly id: string;
  readonly code: string;
  readonly message: string;
}

export interface RejectMessage {
  readonly t: 'reject';
  readonly items: RejectItem[];
}

/** Close every client with `code` (1001 stop, 1012 reload), then exit. */
export interface StopMessage {
  readonly t: 'stop';
  readonly code: 1001 | 1012;
}

/**
 * Close `count` live clients with 1012 so that they reconnect elsewhere:
 * the supervisor evens out long-lived connections after a restart.
 */
export interface ShedMessage {
  readonly t: 'shed';
  readonly count: number;
}

/** Reopen the log file (it was rotated: SIGUSR1 to the supervisor). */
export interface ReopenLogMessage {
  readonly t: 'reopen-log';
}

/** New settings from a reload, applied in place. */
export interface ConfigMessage {
  readonly t: 'config';
  readonly limits: Limits;
  readonly logLevel: LogLevel;
  readonly origins: readonly string[] | null;
  readonly trustedProxies: readonly string[];
}

/**
 * The answer to `claim` `req`: `ok`, the connection now counts as from the
 * claimed address; not ok, that address is at its cap (the worker answers
 * 503 and closes the connection) or the claim made no sense.
 */
export interface ClaimedMessage {
  readonly t: 'claimed';
  readonly req: number;
  readonly ok: boolean;
}

/**
 * Whether the engine (where boards live) can take writes now: a worker's
 * `/healthz` answers 503 while it cannot. Sent on every change, directly.
 */
export interface HealthMessage {
  readonly t: 'health';
  readonly engine: boolean;
}

/**
 * The history these boards' clients saw is not the engine's any more (Redis
 * came back older, or lost them): close their clients with 1012 so that they
 * resume, and are told `reset`. Queued in the outbox, in order with deliveries.
 */
export interface ResyncMessage {
  readonly t: 'resync';
  readonly boards: string[];
}

/**
 * To a spare that said `standby`: become the worker of slot `config.id`, with
 * this configuration (the one a worker forked now would get), and serve: it
 * goes on as a forked worker does, with `tls-request` on a TLS port, then
 * `ready`. Sent once; a spare is never given back.
 */
export interface AssignMessage {
  readonly t: 'assign';
  readonly config: WorkerConfig;
}

/** Liveness check (for the systemd watchdog): answered by `pong` with the same `n`. */
export interface PingMessage {
  readonly t: 'ping';
  readonly n: number;
}

export type SupervisorMessage =
  | PingMessage
  | AssignMessage
  | ConnectionMessage
  | JoinedMessage
  | RefusedMessage
  | DeliverMessage
  | RejectMessage
  | StopMessage
  | ShedMessage
  | ReopenLogMessage
  | ConfigMessage
  | TlsMessage
  | ClaimedMessage
  | HealthMessage
  | ResyncMessage
  | PresenceIpcMessage;

// ---------------------------------------------------------------- validation

const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/** An item, a refusal for its sender (its message breaks the limits), or null (the worker sent garbage). */
function validSubmitItem(v: unknown, limits: Limits): SubmitItem | RejectItem | null {
  if (!isObject(v)) return null;
  const { board, session, cid, msg } = v;
  if (typeof board !== 'string' || !BOARD_NAME.test(board)) return null;
  if (typeof session !== 'string' || !SESSION_TOKEN.test(session)) return null;
  if (!isInt(cid, 0, MAX_SEQ) || !isObject(msg)) return null;
  // Re-validate the client message itself: one definition of what is valid.
  const parsed = validateClientMessage(msg, limits);
  if (parsed.ok) return { board, session, cid, msg: parsed.value };
  const id = typeof msg['id'] === 'string' ? msg['id'] : '';
  return { cid, id, code: parsed.error.reason, message: parsed.error.message };
}

/**
 * Validates a message from a worker. Returns null for anything malformed;
 * the supervisor logs it with the worker's id and drops it.
 */
export function parseWorkerMessage(v: unknown, limits: Limits): WorkerMessage | null {
  if (!isObject(v)) return null;
  switch (v['t']) {
    case 'ready':
      return isInt(v['v'], 0, MAX_SEQ) ? { t: 'ready', v: v['v'] } : null;
    case 'standby':
      return isInt(v['v'], 0, MAX_SEQ) ? { t: 'standby', v: v['v'] } : null;
    case 'tls-request':
      return { t: 'tls-request' };
    case 'join': {
      const { req, board, since, epoch, session } = v;
      if (!isInt(req, 0, MAX_SEQ) || typeof board !== 'string' || !BOARD_NAME.test(board)) return null;
      if (since !== undefined && !isInt(since, 0, MAX_SEQ)) return null;
      if (epoch !== undefined && (typeof epoch !== 'string' || !EPOCH.test(epoch))) return null;
      if (session !== undefined && (typeof session !== 'string' || !SESSION_TOKEN.test(session))) return null;
      const m: Json = { t: 'join', req, board };
      if (since !== undefined) m['since'] = since;
      if (epoch !== undefined) m['epoch'] = epoch;
      if (session !== undefined) m['session'] = session;
      return m as unknown as JoinMessage;
    }
    case 'leave':
      return typeof v['board'] === 'string' && BOARD_NAME.test(v['board']) ? { t: 'leave', board: v['board'] } : null;
    case 'submit': {
      const raw = v['items'];
      if (!Array.isArray(raw)) return null;
      const items: SubmitItem[] = [];
      const invalid: RejectItem[] = [];
      for (const r of raw) {
        const item = validSubmitItem(r, limits);
        if (item === null) return null;
        if ('msg' in item) items.push(item);
        else invalid.push(item);
      }
      return invalid.length > 0 ? { t: 'submit', items, invalid } : { t: 'submit', items };
    }
    case 'pong':
      return isInt(v['n'], 0, MAX_SEQ) ? { t: 'pong', n: v['n'] } : null;
    case 'presence':
      return parsePresenceIpc(v);
    case 'drained':
      return { t: 'drained' };
    case 'took':
      return isInt(v['id'], 0, MAX_SEQ) ? { t: 'took', id: v['id'] } : null;
    case 'stats':
      return isInt(v['connections'], 0, MAX_SEQ) && isStringArray(v['closed'])
        ? { t: 'stats', connections: v['connections'], closed: v['closed'] }
        : null;
    case 'metrics':
      return parseMetrics(v);
    case 'claim': {
      const { req, from, address } = v;
      return isInt(req, 0, MAX_SEQ) && isString(from, 1, MAX_ADDRESS_LENGTH) && isString(address, 1, MAX_ADDRESS_LENGTH)
        ? { t: 'claim', req, from, address }
        : null;
    }
    default:
      return null;
  }
}

/** Presence in either direction; its fields are fixed limits (maxNameLength, maxCoordinate), so the defaults check them. */
function parsePresenceIpc(v: Json): PresenceIpcMessage | null {
  const { board, peers } = v;
  if (typeof board !== 'string' || !BOARD_NAME.test(board) || !Array.isArray(peers)) return null;
  const out: PresencePeer[] = [];
  for (const p of peers) {
    const peer = validPresencePeer(p, DEFAULT_LIMITS);
    if (peer === null) return null;
    out.push(peer);
  }
  return { t: 'presence', board, peers: out };
}

/** A map from a closed list of keys to counts; null if a key is not in the list or a count is not one. */
function countsOf<K extends string>(v: unknown, keys: readonly K[]): Partial<Record<K, number>> | null {
  if (!isObject(v)) return null;
  const out: Partial<Record<K, number>> = {};
  for (const [key, n] of Object.entries(v)) {
    if (!(keys as readonly string[]).includes(key) || !isInt(n, 0, MAX_SEQ)) return null;
    out[key as K] = n;
  }
  return out;
}

function parseMetrics(v: Json): MetricsMessage | null {
  const { clients, received, delivered, slowDropped, joins, joinSeconds } = v;
  if (![clients, received, delivered, slowDropped].every((n) => isInt(n, 0, MAX_SEQ))) return null;
  const closed = countsOf(v['closed'], CLOSE_CODE_LABELS);
  const refused = countsOf(v['refused'], WORKER_REFUSALS);
  if (closed === null || refused === null) return null;
  if (!Array.isArray(joins) || joins.length !== JOIN_SECONDS_BUCKETS.length + 1 || !joins.every((n) => isInt(n, 0, MAX_SEQ))) return null;
  if (typeof joinSeconds !== 'number' || !Number.isFinite(joinSeconds) || joinSeconds < 0) return null;
  return {
    t: 'metrics',
    clients: clients as number,
    received: received as number,
    delivered: delivered as number,
    slowDropped: slowDropped as number,
    closed,
    refused,
    joins: joins as number[],
    joinSeconds,
  };
}

function validLimits(v: unknown): v is Limits {
  if (!isObject(v)) return false;
  return (Object.keys(DEFAULT_LIMITS) as (keyof Limits)[]).every((k) => typeof v[k] === 'number' && v[k] >= 0);
}

function validOrigins(v: unknown): v is readonly string[] | null {
  return v === null || isStringArray(v);
}

function isLogLevel(v: unknown): v is LogLevel {
  return typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v);
}

/** Validates a message from the supervisor. Returns null for anything malformed. */
export function parseSupervisorMessage(v: unknown): SupervisorMessage | null {
  if (!isObject(v)) return null;
  switch (v['t']) {
    case 'conn': {
      const id = v['id'];
      if (!isInt(id, 0, MAX_SEQ)) return null;
      return v['refuse'] === true ? { t: 'conn', id, refuse: true } : { t: 'conn', id };
    }
    case 'tls':
      return isString(v['cert'], 1, MAX_PEM_LENGTH) && isString(v['key'], 1, MAX_PEM_LENGTH)
        ? { t: 'tls', cert: v['cert'], key: v['key'] }
        : null;
    case 'ping':
      return isInt(v['n'], 0, MAX_SEQ) ? { t: 'ping', n: v['n'] } : null;
    case 'assign':
      return validWorkerConfig(v['config']) ? { t: 'assign', config: v['config'] } : null;
    case 'joined': {
      const ok =
        isInt(v['req'], 0, MAX_SEQ) &&
        typeof v['board'] === 'string' &&
        isInt(v['seq'], 0, MAX_SEQ) &&
        typeof v['epoch'] === 'string' &&
        typeof v['session'] === 'string' &&
        typeof v['reset'] === 'boolean' &&
        isStringArray(v['frames']);
      return ok ? (v as unknown as JoinedMessage) : null;
    }
    case 'refused':
      return isInt(v['req'], 0, MAX_SEQ) && isInt(v['code'], 1000, 4999) && typeof v['reason'] === 'string'
        ? (v as unknown as RefusedMessage)
        : null;
    case 'deliver': {
      const items = v['items'];
      const ok =
        Array.isArray(items) &&
        items.every((i) => isObject(i) && typeof i['board'] === 'string' && isInt(i['seq'], 1, MAX_SEQ) && typeof i['frame'] === 'string');
      return ok ? (v as unknown as DeliverMessage) : null;
    }
    case 'reject': {
      const items = v['items'];
      const ok =
        Array.isArray(items) &&
        items.every(
          (i) =>
            isObject(i) &&
            isInt(i['cid'], 0, MAX_SEQ) &&
            typeof i['id'] === 'string' &&
            typeof i['code'] === 'string' &&
            typeof i['message'] === 'string',
        );
      return ok ? (v as unknown as RejectMessage) : null;
    }
    case 'reopen-log':
      return { t: 'reopen-log' };
    case 'health':
      return typeof v['engine'] === 'boolean' ? { t: 'health', engine: v['engine'] } : null;
    case 'presence':
      return parsePresenceIpc(v);
    case 'resync': {
      const boards = v['boards'];
      return isStringArray(boards) && boards.every((b) => BOARD_NAME.test(b)) ? { t: 'resync', boards } : null;
    }
    case 'shed':
      return isInt(v['count'], 1, MAX_SEQ) ? { t: 'shed', count: v['count'] } : null;
    case 'stop':
      return v['code'] === 1001 || v['code'] === 1012 ? { t: 'stop', code: v['code'] } : null;
    case 'config':
      return validLimits(v['limits']) && isLogLevel(v['logLevel']) && validOrigins(v['origins']) && isStringArray(v['trustedProxies'])
        ? { t: 'config', limits: v['limits'], logLevel: v['logLevel'], origins: v['origins'], trustedProxies: v['trustedProxies'] }
        : null;
    case 'claimed':
      return isInt(v['req'], 0, MAX_SEQ) && typeof v['ok'] === 'boolean' ? { t: 'claimed', req: v['req'], ok: v['ok'] } : null;
    default:
      return null;
  }
}

function validWorkerConfig(v: unknown): v is WorkerConfig {
  return (
    isObject(v) &&
    isInt(v['id'], MIN_WORKERS, MAX_WORKERS) &&
    isInt(v['ipcVersion'], 0, MAX_SEQ) &&
    validLimits(v['limits']) &&
    isLogLevel(v['logLevel']) &&
    (v['logFile'] === null || isString(v['logFile'], 1, 4096)) &&
    validOrigins(v['origins']) &&
    typeof v['tls'] === 'boolean' &&
    isStringArray(v['trustedProxies']) &&
    isString(v['host'], 1, 64) &&
    typeof v['engineHealthy'] === 'boolean' &&
    isInt(v['drainTimeoutMs'], 0, MAX_DRAIN_TIMEOUT_MS)
  );
}

function readConfigEnv(text: string | undefined): unknown {
  if (text === undefined) throw new Error(`${WORKER_CONFIG_ENV} is not set: a worker is started by smegchat, not by hand`);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${WORKER_CONFIG_ENV} is not JSON`);
  }
}

/** Reads a worker's configuration from its environment; throws with one clear line if it is unusable. */
export function parseWorkerConfig(text: string | undefined): WorkerConfig {
  const v = readConfigEnv(text);
  if (!validWorkerConfig(v)) throw new Error(`${WORKER_CONFIG_ENV} is not a valid worker configuration`);
  return v;
}

/**
 * Reads what a forked process is told, a worker's or a spare's configuration;
 * throws with one clear line if it is neither.
 */
export function parseForkConfig(text: string | undefined): WorkerConfig | SpareConfig {
  const v = readConfigEnv(text);
  if (isObject(v) && v['spare'] === true) {
    if (!isInt(v['ipcVersion'], 0, MAX_SEQ)) throw new Error(`${WORKER_CONFIG_ENV} is not a valid spare configuration`);
    return { spare: true, ipcVersion: v['ipcVersion'] };
  }
  if (!validWorkerConfig(v)) throw new Error(`${WORKER_CONFIG_ENV} is not a valid worker configuration`);
  return v;
}
