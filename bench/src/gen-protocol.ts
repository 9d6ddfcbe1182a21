/**
 * Messages between the bench (parent) and its load-generator processes, over
 * the node IPC channel. Commands are answered in order, one reply each.
 */

/** The servers a bench compares, and the floor (a minimal writer) they are all measured against. */
export type ServerKind = 'smegchat' | 'socketio' | 'ws' | 'floor';

export interface Target {
  readonly kind: ServerKind;
  readonly port: number;
  /** Several hosts of one service (two smegchat or socket.io hosts on one Redis): a client goes to `ports[spec.host]`. */
  readonly ports?: readonly number[];
  /** socket.io wire protocol spoken by a lean ws client, or the official socket.io-client. */
  readonly socketioClient: 'lean' | 'official';
  /** WebSocket client: the raw one (cheapest) or the `ws` package's. */
  readonly client: 'raw' | 'ws';
}

/** One client a generator opens. */
export interface ClientSpec {
  readonly board: number;
  /** Global sender number (unique over all generators), or -1 for a listener. */
  readonly sender: number;
  /** Keep the order of every stroke this client receives, for the order check. */
  readonly sample: boolean;
  /** Which of the target's `ports` it connects to (default the first). */
  readonly host?: number;
  /**
   * The loopback source address it connects from (default the kernel's
   * choice, 127.0.0.1): past ~28,000 connections to one port, one source
   * address runs out of ports, so a big idle crowd is spread over several.
   */
  readonly from?: string;
}

export interface ConnectCommand {
  readonly cmd: 'connect';
  readonly target: Target;
  readonly boardNames: readonly string[];
  readonly clients: readonly ClientSpec[];
  /** Connections opening at once, so the server is not flooded by a SYN storm. */
  readonly concurrency: number;
  readonly timeoutMs: number;
}

export interface RunCommand {
  readonly cmd: 'run';
  /** Strokes a second each sender sends. */
  readonly rate: number;
  readonly points: number;
  /** Each sender stops after this many strokes (the exact-count sanity check), or never. */
  readonly count: number | null;
  /** Measurement window on the shared monotonic clock (µs): strokes sent in it are counted. */
  readonly t0: number;
  readonly t1: number;
  /** Senders stop at this instant (µs). */
  readonly stopAt: number;
  /** Then the generator waits this long for deliveries in flight, and replies. */
  readonly drainMs: number;
  /** Reconnect (resuming where the server can) when a connection drops. */
  readonly reconnect: boolean;
}

export interface DisconnectCommand {
  readonly cmd: 'disconnect';
}

export type GeneratorCommand = ConnectCommand | RunCommand | DisconnectCommand;

export interface ConnectReply {
  readonly ev: 'connected';
  readonly opened: number;
  readonly failed: number;
  readonly firstError: string | null;
  readonly ms: number;
}

/** What happened to one client whose connection dropped during a run. */
export interface ReconnectEvent {
  readonly board: number;
  /** Worker that served it before (as its welcome said), when known. */
  readonly worker: number | null;
  /** µs on the shared clock. */
  readonly lastStrokeAt: number;
  readonly closedAt: number;
  readonly closeCode: number;
  readonly welcomeAt: number | null;
  readonly firstStrokeAt: number | null;
  readonly resumed: boolean;
  readonly reset: boolean;
}

export interface RunReply {
  readonly ev: 'ran';
  /** Strokes sent in the window, per board index. */
  readonly sentInWindow: number[];
  readonly sentTotal: number;
  /** Deliveries of strokes sent in the window (duplicates excluded). */
  readonly received: number;
  readonly histogram: number[];
  readonly maxLatencyUs: number;
  /** Deliveries whose seq the client had already seen. */
  readonly duplicates: number;
  /** Jumps in a client's seq (messages it never got). */
  readonly seqGaps: number;
  readonly unexpectedCloses: number;
  readonly errorFrames: number;
  readonly firstProblem: string | null;
  /** Per sampled client: its board and the keys (sender·1e9 + n) of in-window strokes, in arrival order. */
  readonly samples: { board: number; keys: number[] }[];
  /** CPU this generator used during the window, in seconds. */
  readonly cpuSeconds: number;
  readonly windowSeconds: number;
  /** Event-loop delay p99 during the run, in ms: high means the generator itself was late. */
  readonly loopDelayP99Ms: number;
  readonly sendLagMaxMs: number;
  /** Strokes a sender sent again after resuming (not yet echoed when its connection dropped). */
  readonly resent: number;
  readonly reconnects: ReconnectEvent[];
}

export interface DisconnectReply {
  readonly ev: 'disconnected';
}

export interface FailReply {
  readonly ev: 'failed';
  readonly error: string;
}

export type GeneratorReply = ConnectReply | RunReply | DisconnectReply | FailReply;
