/**
 * The control protocol between smegctl and the supervisor, over a unix
 * socket: one JSON request line, one JSON reply line, per connection.
 * Every request and reply carries `v`; a supervisor answers a request of
 * another version with an error that names both, so a newer smegctl talking
 * to an older supervisor says so in one line.
 */
import { isInt, isObject } from './check.js';
import { MAX_WORKERS, MIN_WORKERS } from './limits.js';

export const CONTROL_VERSION = 1;

/** Largest request line the supervisor reads before it closes the connection. */
export const MAX_CONTROL_REQUEST_BYTES = 4096;

export type ControlRequest =
  | { readonly v: number; readonly cmd: 'status' }
  | { readonly v: number; readonly cmd: 'reload' }
  | { readonly v: number; readonly cmd: 'stop' }
  | { readonly v: number; readonly cmd: 'scale'; readonly workers: number };

/**
 * `spare`: a pre-forked process, loaded and waiting to take the slot of a
 * worker that dies; it has no worker number (`id` null) and gets no sockets.
 * A spare still loading shows as `starting`, also with `id` null.
 */
export type WorkerState = 'starting' | 'ready' | 'draining' | 'stopping' | 'backoff' | 'spare';

/** How a worker process ended: the last one of its slot, shown beside the one that replaced it. */
export interface WorkerExit {
  /** Its exit status, or null when a signal ended it. */
  readonly code: number | null;
  /** The signal that ended it (`SIGKILL`), or null. */
  readonly signal: string | null;
  /** When it exited, ISO 8601 (UTC). */
  readonly at: string;
  /** Seconds it had run, whole. */
  readonly ran: number;
  /** `crash`: nobody asked it to go; `retired`: a reload or scale-down replaced it; `stopped`: a stop, or a start given up. */
  readonly reason: 'crash' | 'retired' | 'stopped';
}

/** One worker's row in `smegctl status` (or a spare's). */
export interface WorkerStatus {
  /** The slot, 1..N, as its clients see it in `welcome.worker`; null for a spare, which has none. */
  readonly id: number | null;
  readonly pid: number | null;
  readonly state: WorkerState;
  /** Seconds since this process started; 0 when none runs. */
  readonly uptime: number;
  /** How many times this slot's process was replaced after dying. */
  readonly restarts: number;
  readonly connections: number;
  /** CPU use in percent of one core, from pidusage. */
  readonly cpu: number;
  /** Resident memory in bytes, from pidusage. */
  readonly memory: number;
  /** WebSocket clients, joining or live, at its last report (once a second). */
  readonly clients: number;
  /** Client messages it took in per second, over the last 10 s. */
  readonly messagesInPerSecond: number;
  /** Frames it wrote to live clients per second, over the last 10 s. */
  readonly deliveriesPerSecond: number;
  /** Client messages it took in since it started. */
  readonly messagesIn: number;
  /** Frames it wrote to live clients since it started. */
  readonly deliveries: number;
  /** How the slot's previous process ended; null if it has had none. */
  readonly lastExit: WorkerExit | null;
}

/** What `smegctl status --json` prints (docs/CONTROL.md#status-json). */
export interface Status {
  readonly supervisor: {
    readonly pid: number;
    readonly uid: number;
    readonly gid: number;
    readonly uptime: number;
    readonly cpu: number;
    readonly memory: number;
    readonly version: string;
    /** starting until every worker of the first start serves; scaling during `smegctl scale`. */
    readonly state: 'starting' | 'running' | 'reloading' | 'scaling' | 'stopping';
    /** Where `GET /metrics` is served (`HOST:PORT`), or null when it is off. */
    readonly metrics: string | null;
    /** The certificate served on the port, or null without TLS. */
    readonly tls: CertificateStatus | null;
  };
  readonly workers: WorkerStatus[];
  readonly totals: {
    readonly connections: number;
    readonly boards: number;
    /** Messages sequenced since start. */
    readonly relayed: number;
    /** Where boards live: `embedded` (this supervisor's disk) or `redis`. */
    readonly engine: string;
    /** Boards held in memory (someone was on them in the last minute). */
    readonly boardsLoaded: number;
    /** Bytes of board history on this host's disk. */
    readonly historyBytes: number;
    /** Messages sequenced per second, over the last 10 s. */
    readonly sequencedPerSecond: number;
    /** Whether the engine can take writes now (the embedded one always can). */
    readonly engineReachable?: boolean;
    /** While the engine cannot take writes: what is wrong, in one line (a full disk, say). */
    readonly engineFault?: string;
    /** Boards whose history was found corrupt since start: kept aside, served from their valid records. */
    readonly boardsQuarantined?: number;
    /** The embedded engine's disk budget for board logs (0: none), the free space kept, the free space now, in bytes. */
    readonly historyBudgetBytes?: number;
    readonly minFreeBytes?: number;
    readonly diskFreeBytes?: number;
    /** The budget or the floor is reached: new boards and messages are refused with `disk-full`, clears still taken. */
    readonly historyFull?: boolean;
    /** Where the engine is, for people: the Redis URL with its password masked; absent for `embedded`. */
    readonly engineUrl?: string;
    /** This host's name (`--name`), as clients see it in `welcome.host`. */
    readonly host?: string;
  };
}

/** The certificate a TLS port serves. */
export interface CertificateStatus {
  /** The subject, as OpenSSL prints it (`CN=chat.example.org`). */
  readonly subject: string;
  /** When it expires, ISO 8601 (UTC). */
  readonly notAfter: string;
  /** SHA-256 fingerprint of the DER, colon-separated hex, as `openssl x509 -fingerprint -sha256` prints it. */
  readonly fingerprint: string;
}

/** What a finished reload reports. */
export interface ReloadSummary {
  readonly replaced: number;
  readonly seconds: number;
  readonly workers: { readonly id: number; readonly oldPid: number | null; readonly newPid: number }[];
  /**
   * With TLS: whether the files held a new pair. A reload that finds only the
   * certificate changed swaps it in place and replaces no worker (`replaced` 0).
   */
  readonly certificate?: 'renewed' | 'unchanged';
}

export type ControlReply =
  | { readonly v: number; readonly ok: true; readonly status: Status }
  | { readonly v: number; readonly ok: true; readonly reload: ReloadSummary }
  | { readonly v: number; readonly ok: true; readonly stopping: true }
  | { readonly v: number; readonly ok: true; readonly scaled: number }
  | { readonly v: number; readonly ok: false; readonly error: string };

/** Validates a request; returns an error line for the client when it is not one. */
export function parseControlRequest(line: string): ControlRequest | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { error: 'request is not JSON' };
  }
  if (!isObject(v)) return { error: 'request is not a JSON object' };
  if (v['v'] !== CONTROL_VERSION) {
    return {
      error: `control protocol version ${String(v['v'])} is not supported by this supervisor (it speaks ${CONTROL_VERSION}); use the smegctl that came with it`,
    };
  }
  switch (v['cmd']) {
    case 'status':
    case 'reload':
    case 'stop':
      return { v: CONTROL_VERSION, cmd: v['cmd'] };
    case 'scale':
      return isInt(v['workers'], MIN_WORKERS, MAX_WORKERS)
        ? { v: CONTROL_VERSION, cmd: 'scale', workers: v['workers'] }
        : { error: `scale needs a worker count from ${MIN_WORKERS} to ${MAX_WORKERS}` };
    default:
      return { error: `unknown command ${JSON.stringify(v['cmd'])}` };
  }
}

/** Validates a reply, for smegctl. */
export function parseControlReply(line: string): ControlReply | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { error: 'the supervisor answered something that is not JSON' };
  }
  if (!isObject(v) || typeof v['ok'] !== 'boolean') return { error: 'the supervisor answered something that is not a reply' };
  if (v['v'] !== CONTROL_VERSION) {
    return {
      error: `the supervisor speaks control protocol ${String(v['v'])}, this smegctl ${CONTROL_VERSION}: use the smegctl that came with it`,
    };
  }
  return v as unknown as ControlReply;
}
