/**
 * A load-generator process: opens the clients the bench gives it, sends
 * strokes from some of them at a fixed rate, and measures every delivery.
 *
 * It must cost the server's machine as little CPU as it can, since on a small
 * box it shares the cores with the server it measures. So a delivery is never
 * JSON-parsed: the stroke's id (which carries the sender, its counter and the
 * send time) and seq are read straight from the frame's bytes.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import { io as ioConnect, type Socket as SioSocket } from 'socket.io-client';
import { monoUs } from './clock.js';
import { RawWebSocket } from './raw-websocket.js';
import { LatencyHistogram } from './histogram.js';
import type {
  ClientSpec,
  ConnectCommand,
  ConnectReply,
  GeneratorCommand,
  GeneratorReply,
  ReconnectEvent,
  RunCommand,
  RunReply,
  Target,
} from './gen-protocol.js';

const MAX_RECONNECT_ATTEMPTS = 60;
const MAX_RECONNECT_DELAY_MS = 1000;
const SEND_TICK_MS = 2;
/** A sender this far behind its schedule skips ahead rather than bursting. */
const MAX_SEND_BACKLOG = 20;
const MAX_ID_DIGITS = 20;
const MAX_PENDING = 2000;
const LOOP_DELAY_RESOLUTION_MS = 2;

const ID_KEY = Buffer.from('"id":"');
const SEQ_KEY = Buffer.from('"seq":');
const STROKE_PREFIX = Buffer.from('{"t":"stroke"');
const SIO_STROKE_PREFIX = Buffer.from('42["stroke",');
const SIO_WELCOME_PREFIX = Buffer.from('42["welcome",');
const CHAR_0 = 48;
const CHAR_DOT = 46;
const CHAR_QUOTE = 34;

function hasPrefix(buf: Buffer, start: number, end: number, prefix: Buffer): boolean {
  if (end - start < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false;
  return true;
}

/** What the lean parser reads from a stroke frame. */
const parsed = { sender: 0, n: 0, sentAt: 0, seq: -1 };

/**
 * Reads `"id":"SENDER.N.SENTAT"` (and `"seq":N` when `withSeq`) from the
 * frame `buf[start, end)` into `parsed`. False when it holds no id of ours.
 */
function parseStroke(buf: Buffer, start: number, end: number, withSeq: boolean): boolean {
  let p = buf.indexOf(ID_KEY, start);
  if (p < 0 || p >= end) return false;
  p += ID_KEY.length;
  const values = [0, 0, 0];
  for (let field = 0; field < 3; field++) {
    const stop = field < 2 ? CHAR_DOT : CHAR_QUOTE;
    let v = 0;
    let digits = 0;
    for (;;) {
      if (p >= end) return false;
      const c = buf[p++]!;
      if (c === stop) break;
      if (c < CHAR_0 || c > CHAR_0 + 9 || ++digits > MAX_ID_DIGITS) return false;
      v = v * 10 + (c - CHAR_0);
    }
    values[field] = v;
  }
  parsed.sender = values[0]!;
  parsed.n = values[1]!;
  parsed.sentAt = values[2]!;
  parsed.seq = -1;
  if (withSeq) {
    // The server appends seq after the client's fields: search from the end.
    let q = buf.lastIndexOf(SEQ_KEY, end - SEQ_KEY.length);
    if (q < start) return false;
    q += SEQ_KEY.length;
    let seq = 0;
    for (let digits = 0; digits < MAX_ID_DIGITS && q < end; digits++) {
      const c = buf[q++]!;
      if (c < CHAR_0 || c > CHAR_0 + 9) break;
      seq = seq * 10 + (c - CHAR_0);
    }
    parsed.seq = seq;
  }
  return true;
}

/** Same, from the id string the official socket.io client hands over. */
function parseIdString(id: unknown): boolean {
  if (typeof id !== 'string') return false;
  const parts = id.split('.');
  if (parts.length !== 3) return false;
  parsed.sender = Number(parts[0]);
  parsed.n = Number(parts[1]);
  parsed.sentAt = Number(parts[2]);
  parsed.seq = -1;
  return Number.isFinite(parsed.sender + parsed.n + parsed.sentAt);
}

/** A client connection as the generator uses it, over `ws` or the raw client. */
interface Conn {
  readonly open: boolean;
  send(text: string): void;
  close(code: number): Promise<void>;
  terminate(): void;
}

interface ConnHandlers {
  message(buf: Buffer, start: number, end: number): void;
  close(code: number): void;
  error(error: Error): void;
}

/** The `ws` package's client: the reference implementation, slower (a stream, an event, a Buffer per message). */
class WsLibConn implements Conn {
  private readonly ws: WebSocket;

  constructor(port: number, path: string, on: ConnHandlers, localAddress?: string) {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, {
      ...(localAddress !== undefined && { localAddress }),
      perMessageDeflate: false,
      skipUTF8Validation: true,
      maxPayload: 64 * 1024 * 1024,
    });
    let upgraded = false;
    this.ws.on('open', () => (upgraded = true));
    this.ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) on.message(data, 0, data.length);
    });
    this.ws.on('error', (error) => {
      if (!upgraded) on.error(error);
    });
    this.ws.on('close', (code) => {
      if (upgraded) on.close(code);
      else on.error(new Error(`closed with ${code} before the upgrade`));
    });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(text: string): void {
    if (this.open) this.ws.send(text);
  }

  close(code: number): Promise<void> {
    const ws = this.ws;
    if (ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2000);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close(code);
    });
  }

  terminate(): void {
    this.ws.terminate();
  }
}

interface Welcome {
  seq?: number;
  epoch?: string;
  session?: string;
  worker?: number;
  reset?: boolean;
}

/** The state of the current run; deliveries outside a run are not measured. */
interface RunState {
  readonly cmd: RunCommand;
  readonly histogram: LatencyHistogram;
  readonly sentInWindow: number[];
  sentTotal: number;
  received: number;
  duplicates: number;
  seqGaps: number;
  unexpectedCloses: number;
  errorFrames: number;
  firstProblem: string | null;
  sendLagMaxMs: number;
  resent: number;
  readonly reconnects: ReconnectEvent[];
}

let target: Target | null = null;
let boardNames: readonly string[] = [];
let clients: Client[] = [];
let run: RunState | null = null;
/** Kept between runs so a reconnect that finishes after a run still resumes right. */
let reconnectEnabled = false;

function problem(text: string): void {
  if (run && run.firstProblem === null) run.firstProblem = text;
}

class Client {
  conn: Conn | null = null;
  sio: SioSocket | null = null;
  welcomed = false;
  /** Deliberately closed by the bench: no reconnect. */
  closing = false;
  lastSeq = -1;
  /** History replayed on a fresh join is older than the run: not a delivery to measure. */
  ignoreUpTo = -1;
  epoch: string | null = null;
  session: string | null = null;
  worker: number | null = null;
  attempts = 0;
  lastStrokeAt = 0;
  /** Present between a dropped connection and the first stroke after it. */
  outage: {
    lastStrokeAt: number;
    closedAt: number;
    closeCode: number;
    welcomeAt: number | null;
    resumed: boolean;
    reset: boolean;
    worker: number | null;
  } | null = null;
  sample: number[] | null;
  /**
   * A sender's strokes not yet echoed back to it, by counter: after a resume
   * they are sent again, as the page does (docs/PROTOCOL.md#dedupe: the server dedupes a
   * resent id on the same session). Only where the server can resume.
   */
  pending: Map<number, string> | null = null;
  /** After a resumed welcome: resend what is pending once the replay reached this seq. */
  private resendAfterSeq = -1;
  /** Set while a connect() waits for its welcome. */
  private onWelcome: ((error: Error | null) => void) | null = null;

  constructor(readonly spec: ClientSpec) {
    this.sample = spec.sample ? [] : null;
  }

  /** Opens the connection; resolves once the welcome arrived. */
  connect(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no welcome within ${timeoutMs} ms`)), timeoutMs);
      const done = (error: Error | null): void => {
        clearTimeout(timer);
        this.onWelcome = null;
        if (error) {
          this.dropSocket();
          reject(error);
        } else resolve();
      };
      this.onWelcome = done;
      this.open();
    });
  }

  private open(): void {
    const t = target!;
    const board = boardNames[this.spec.board]!;
    const port = t.ports?.[this.spec.host ?? 0] ?? t.port;
    this.welcomed = false;
    if (t.kind === 'socketio' && t.socketioClient === 'official') {
      this.openOfficialSocketIo(port, board);
      return;
    }
    let path: string;
    if (t.kind === 'socketio') {
      path = `/socket.io/?EIO=4&transport=websocket&board=${board}`;
    } else {
      path = `/ws/${board}`;
      if (this.session !== null && this.epoch !== null && this.lastSeq >= 0) {
        path += `?since=${this.lastSeq}&epoch=${this.epoch}&session=${this.session}`;
      }
    }
    const isSocketIo = t.kind === 'socketio';
    const handlers: ConnHandlers = {
      message: isSocketIo ? (b, s, e) => this.onSocketIoFrame(b, s, e) : (b, s, e) => this.onFrame(b, s, e),
      close: (code) => {
        if (this.conn === conn) this.onClose(code);
      },
      error: (error) => {
        if (this.conn !== conn) return;
        if (this.onWelcome) this.onWelcome(error);
        else this.onClose(1006); // a reconnect attempt that failed: try again
      },
    };
    const conn: Conn =
      t.client === 'raw' ? new RawWebSocket(port, path, handlers, this.spec.from) : new WsLibConn(port, path, handlers, this.spec.from);
    this.conn = conn;
  }

  private openOfficialSocketIo(port: number, board: string): void {
    const socket = ioConnect(`http://127.0.0.1:${port}`, {
      transports: ['websocket'],
      query: { board },
      reconnection: false,
      forceNew: true,
    });
    this.sio = socket;
    socket.on('welcome', (w: Welcome) => this.welcome(w));
    socket.on('stroke', (msg: { id?: unknown }) => {
      if (parseIdString(msg.id)) this.delivered(monoUs());
    });
    socket.on('connect_error', (error: Error) => {
      if (this.onWelcome) this.onWelcome(error);
    });
    socket.on('disconnect', () => {
      if (this.sio === socket) this.onClose(1006);
    });
  }

  send(frame: string, strokeObject: () => object): void {
    if (this.conn) {
      this.conn.send(frame);
    } else if (this.sio?.connected) {
      this.sio.emit('stroke', strokeObject());
    }
  }

  get connected(): boolean {
    return this.welcomed && (this.conn ? this.conn.open : !!this.sio?.connected);
  }

  private onFrame(data: Buffer, start: number, end: number): void {
    if (hasPrefix(data, start, end, STROKE_PREFIX)) {
      if (parseStroke(data, start, end, true)) this.delivered(monoUs());
      else problem(`unparsable stroke: ${data.toString('utf8', start, Math.min(end, start + 200))}`);
      return;
    }
    // Rare frames (welcome, error, anything else): parse them properly.
    let msg: { t?: unknown; seq?: unknown; code?: unknown; message?: unknown; id?: unknown };
    try {
      msg = JSON.parse(data.toString('utf8', start, end)) as typeof msg;
    } catch {
      problem('a frame that is not JSON');
      return;
    }
    if (msg.t === 'welcome') this.welcome(msg as Welcome);
    else if (msg.t === 'stroke') {
      // A stroke whose fields the server put in another order: take the slow path.
      if (parseIdString(msg.id) && typeof msg.seq === 'number') {
        parsed.seq = msg.seq;
        this.delivered(monoUs());
      }
    } else if (msg.t === 'error') {
      if (run) run.errorFrames++;
      problem(`error frame: ${String(msg.code)} ${String(msg.message)}`);
    }
  }

  private onSocketIoFrame(data: Buffer, start: number, end: number): void {
    if (hasPrefix(data, start, end, SIO_STROKE_PREFIX)) {
      if (parseStroke(data, start, end, false)) this.delivered(monoUs());
      else problem('unparsable socket.io stroke');
      return;
    }
    const kind = data[start];
    // A frame may still arrive after the socket was dropped (a disconnect under way): nothing to answer then.
    if (kind === 0x32 /* '2' ping */) this.conn?.send('3');
    else if (kind === 0x30 /* '0' engine.io open */) this.conn?.send('40');
    else if (hasPrefix(data, start, end, SIO_WELCOME_PREFIX)) {
      try {
        const [, w] = JSON.parse(data.toString('utf8', start + 2, end)) as [string, Welcome];
        this.welcome(w);
      } catch {
        problem('bad socket.io welcome');
      }
    }
    // '40{"sid"…}' (namespace joined) needs nothing: the peer's welcome follows it.
  }

  /** For diagnostics: how the current connection was welcomed. */
  lastWelcome = '';

  private welcome(w: Welcome): void {
    const now = monoUs();
    this.lastWelcome = `welcome seq ${w.seq} reset ${w.reset === true} after since ${this.outage ? this.lastSeq : 'none'}`;
    const resumed = this.outage !== null && this.conn !== null && this.session !== null && !w.reset;
    if (!resumed) {
      // A fresh join (or a reset): what is replayed is history, not a delivery.
      this.lastSeq = typeof w.seq === 'number' ? w.seq : -1;
      this.ignoreUpTo = this.lastSeq;
    }
    if (typeof w.epoch === 'string') this.epoch = w.epoch;
    if (typeof w.session === 'string') this.session = w.session;
    if (this.outage) {
      this.outage.welcomeAt = now;
      this.outage.resumed = resumed;
      this.outage.reset = w.reset === true;
    }
    this.worker = typeof w.worker === 'number' ? w.worker : null;
    this.welcomed = true;
    if (resumed && this.pending !== null && this.pending.size > 0) {
      this.resendAfterSeq = typeof w.seq === 'number' ? w.seq : this.lastSeq;
      if (this.lastSeq >= this.resendAfterSeq) this.resendPending();
    }
    this.attempts = 0;
    if (this.onWelcome) this.onWelcome(null);
  }

  /** One delivery, already parsed into `parsed`. */
  private delivered(now: number): void {
    const seq = parsed.seq;
    if (seq >= 0) {
      if (seq <= this.ignoreUpTo) return;
      if (this.lastSeq >= 0) {
        if (seq <= this.lastSeq) {
          if (run) run.duplicates++;
          return;
        }
        if (seq > this.lastSeq + 1 && run) {
          run.seqGaps++;
          problem(`seq gap on ${boardNames[this.spec.board]}: had ${this.lastSeq}, got ${seq} (${this.lastWelcome})`);
        }
      }
      this.lastSeq = seq;
      if (this.pending !== null) {
        if (parsed.sender === this.spec.sender) this.pending.delete(parsed.n);
        if (this.resendAfterSeq >= 0 && seq >= this.resendAfterSeq) this.resendPending();
      }
    }
    this.lastStrokeAt = now;
    if (this.outage) this.finishOutage(now);
    const r = run;
    if (r === null) return;
    const sentAt = parsed.sentAt;
    if (sentAt < r.cmd.t0 || sentAt >= r.cmd.t1) return;
    r.received++;
    r.histogram.record(now - sentAt);
    if (this.sample) this.sample.push(parsed.sender * 1e9 + parsed.n);
  }

  private resendPending(): void {
    this.resendAfterSeq = -1;
    const conn = this.conn;
    if (conn === null || !conn.open) return;
    for (const frame of this.pending!.values()) conn.send(frame);
    if (run) run.resent += this.pending!.size;
  }

  private finishOutage(now: number): void {
    const o = this.outage!;
    this.outage = null;
    run?.reconnects.push({
      board: this.spec.board,
      worker: o.worker,
      lastStrokeAt: o.lastStrokeAt,
      closedAt: o.closedAt,
      closeCode: o.closeCode,
      welcomeAt: o.welcomeAt,
      firstStrokeAt: now,
      resumed: o.resumed,
      reset: o.reset,
    });
  }

  private onClose(code: number): void {
    const wasWelcomed = this.welcomed;
    this.dropSocket();
    if (this.closing) return;
    if (this.onWelcome) {
      this.onWelcome(new Error(`closed with ${code} before the welcome`));
      if (!this.outage) return;
    }
    if (wasWelcomed) {
      if (run) run.unexpectedCloses++;
      this.outage ??= {
        lastStrokeAt: this.lastStrokeAt,
        closedAt: monoUs(),
        closeCode: code,
        welcomeAt: null,
        resumed: false,
        reset: false,
        worker: this.worker,
      };
    }
    if (!reconnectEnabled || this.attempts >= MAX_RECONNECT_ATTEMPTS) {
      if (wasWelcomed) problem(`connection closed with ${code}`);
      return;
    }
    // The first retry at once (with jitter, so a worker's clients don't all
    // land in the same millisecond), then backing off as a real page does.
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, this.attempts === 0 ? Math.random() * 20 : 25 * 2 ** this.attempts);
    this.attempts++;
    setTimeout(() => {
      if (this.closing) return;
      this.onWelcome = null;
      this.open();
    }, delay);
  }

  private dropSocket(): void {
    this.welcomed = false;
    if (this.conn) {
      const conn = this.conn;
      this.conn = null; // its handlers check this, so nothing more comes from it
      conn.terminate();
    }
    if (this.sio) {
      this.sio.removeAllListeners();
      this.sio.disconnect();
      this.sio = null;
    }
  }

  /** Closes for good; resolves once the socket is gone (or after a bounded wait). */
  close(): Promise<void> {
    this.closing = true;
    this.onWelcome = null;
    const conn = this.conn;
    if (conn && conn.open) {
      this.conn = null;
      return conn.close(1000);
    }
    this.dropSocket();
    return Promise.resolve();
  }
}

async function connectAll(cmd: ConnectCommand): Promise<ConnectReply> {
  const started = Date.now();
  target = cmd.target;
  boardNames = cmd.boardNames;
  clients = cmd.clients.map((spec) => new Client(spec));
  let next = 0;
  let failed = 0;
  let firstError: string | null = null;
  const deadline = started + cmd.timeoutMs;
  const lane = async (): Promise<void> => {
    while (next < clients.length) {
      const c = clients[next++]!;
      const left = deadline - Date.now();
      if (left <= 0) {
        failed++;
        continue;
      }
      try {
        await c.connect(left);
      } catch (error) {
        failed++;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, cmd.concurrency) }, lane));
  return { ev: 'connected', opened: clients.length - failed, failed, firstError, ms: Date.now() - started };
}

/** A stroke's points, drawn once per sender: the frame's shape is what matters, not its art. */
function pointsFor(sender: number, count: number): [number, number][] {
  const pts: [number, number][] = [];
  for (let i = 0; i < count; i++) pts.push([100 + ((sender * 37 + i * 7) % 800), 100 + ((sender * 53 + i * 11) % 600)]);
  return pts;
}

async function runLoad(cmd: RunCommand): Promise<RunReply> {
  const state: RunState = {
    cmd,
    histogram: new LatencyHistogram(),
    sentInWindow: new Array<number>(boardNames.length).fill(0),
    sentTotal: 0,
    received: 0,
    duplicates: 0,
    seqGaps: 0,
    unexpectedCloses: 0,
    errorFrames: 0,
    firstProblem: null,
    sendLagMaxMs: 0,
    resent: 0,
    reconnects: [],
  };
  // Only smegchat can resume, so only its senders resend (elsewhere a resend would be a duplicate).
  const canResume = target!.kind === 'smegchat';
  for (const c of clients) {
    if (c.sample) c.sample = [];
    c.pending = canResume && c.spec.sender >= 0 ? new Map() : null;
  }
  reconnectEnabled = cmd.reconnect;
  run = state;
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  loopDelay.enable();

  const senders = clients.filter((c) => c.spec.sender >= 0);
  const intervalUs = 1e6 / cmd.rate;
  const start = monoUs();
  const plan = senders.map((c) => {
    const points = pointsFor(c.spec.sender, cmd.points);
    return {
      client: c,
      sent: 0,
      // Spread the senders' phases so their strokes don't arrive in bursts.
      nextAt: start + Math.random() * intervalUs,
      tail: `","color":"#1e6fd9","width":3,"points":${JSON.stringify(points)}}`,
      points,
    };
  });
  const isSocketIoLean = target!.kind === 'socketio' && target!.socketioClient === 'lean';

  let cpuAtT0: NodeJS.CpuUsage | null = null;
  let cpuAtT1: NodeJS.CpuUsage | null = null;
  const t0Timer = setTimeout(() => (cpuAtT0 = process.cpuUsage()), Math.max(0, (cmd.t0 - start) / 1000));
  const t1Timer = setTimeout(() => (cpuAtT1 = process.cpuUsage()), Math.max(0, (cmd.t1 - start) / 1000));

  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = monoUs();
      if (now >= cmd.stopAt) {
        resolve();
        return;
      }
      let allDone = cmd.count !== null;
      for (const p of plan) {
        if (cmd.count !== null && p.sent >= cmd.count) continue;
        allDone = false;
        let burst = 0;
        while (p.nextAt <= now && burst < MAX_SEND_BACKLOG) {
          if (cmd.count !== null && p.sent >= cmd.count) break;
          burst++;
          p.nextAt += intervalUs;
          if (!p.client.connected) continue; // a dropped sender draws nothing
          const sentAt = Math.round(monoUs());
          const id = `${p.client.spec.sender}.${p.sent}.${sentAt}`;
          const body = `{"t":"stroke","id":"${id}${p.tail}`;
          // Bounded: a sender whose echoes stop coming keeps only its latest strokes to resend.
          if (p.client.pending !== null && p.client.pending.size < MAX_PENDING) p.client.pending.set(p.sent, body);
          p.sent++;
          p.client.send(isSocketIoLean ? `42["stroke",${body}]` : body, () => ({
            t: 'stroke',
            id,
            color: '#1e6fd9',
            width: 3,
            points: p.points,
          }));
          state.sentTotal++;
          if (sentAt >= cmd.t0 && sentAt < cmd.t1) state.sentInWindow[p.client.spec.board]!++;
        }
        const lagMs = (now - p.nextAt) / 1000;
        if (lagMs > state.sendLagMaxMs) state.sendLagMaxMs = lagMs;
        if (p.nextAt < now - MAX_SEND_BACKLOG * intervalUs) p.nextAt = now; // skip, don't burst
      }
      if (allDone) resolve();
      else setTimeout(tick, SEND_TICK_MS);
    };
    tick();
  });
  await new Promise((resolve) => setTimeout(resolve, cmd.drainMs));
  clearTimeout(t0Timer);
  clearTimeout(t1Timer);
  loopDelay.disable();
  run = null;
  const endCpu = process.cpuUsage();
  const a: NodeJS.CpuUsage = cpuAtT0 ?? endCpu;
  const b: NodeJS.CpuUsage = cpuAtT1 ?? endCpu;
  const windowSeconds = Math.max(0, (Math.min(cmd.t1, monoUs()) - cmd.t0) / 1e6);
  // Outages not over by the end are reported as they stand.
  for (const c of clients) {
    const o = c.outage;
    if (o && o.closedAt >= start) {
      state.reconnects.push({
        board: c.spec.board,
        worker: o.worker,
        lastStrokeAt: o.lastStrokeAt,
        closedAt: o.closedAt,
        closeCode: o.closeCode,
        welcomeAt: o.welcomeAt,
        firstStrokeAt: null,
        resumed: o.resumed,
        reset: o.reset,
      });
    }
  }
  return {
    ev: 'ran',
    sentInWindow: state.sentInWindow,
    sentTotal: state.sentTotal,
    received: state.received,
    histogram: Array.from(state.histogram.counts),
    maxLatencyUs: state.histogram.maxUs,
    duplicates: state.duplicates,
    seqGaps: state.seqGaps,
    unexpectedCloses: state.unexpectedCloses,
    errorFrames: state.errorFrames,
    firstProblem: state.firstProblem,
    samples: clients.filter((c) => c.sample).map((c) => ({ board: c.spec.board, keys: c.sample! })),
    cpuSeconds: (b.user - a.user + b.system - a.system) / 1e6,
    windowSeconds,
    // The histogram holds whole intervals between its timer's runs: the delay is what exceeds the interval.
    loopDelayP99Ms: Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_DELAY_RESOLUTION_MS),
    sendLagMaxMs: state.sendLagMaxMs,
    resent: state.resent,
    reconnects: state.reconnects,
  };
}

async function disconnectAll(): Promise<void> {
  reconnectEnabled = false;
  const list = clients;
  clients = [];
  // In slices, so 10,000 closes don't all queue at once.
  for (let i = 0; i < list.length; i += 500) await Promise.all(list.slice(i, i + 500).map((c) => c.close()));
}

async function handle(cmd: GeneratorCommand): Promise<GeneratorReply> {
  switch (cmd.cmd) {
    case 'connect':
      return connectAll(cmd);
    case 'run':
      return runLoad(cmd);
    case 'disconnect':
      await disconnectAll();
      return { ev: 'disconnected' };
  }
}

function reply(r: GeneratorReply): void {
  process.send!(r);
}

if (!process.send) {
  process.stderr.write('generator: run by the bench only (it needs the IPC channel)\n');
  process.exit(2);
}
// Commands are handled one at a time, in order.
let queue: Promise<void> = Promise.resolve();
process.on('message', (cmd: GeneratorCommand) => {
  queue = queue.then(() =>
    handle(cmd).then(reply, (error: unknown) => reply({ ev: 'failed', error: String((error as Error).stack ?? error) })),
  );
});
// An orphaned generator (the bench gone) exits at once.
process.on('disconnect', () => process.exit(0));
