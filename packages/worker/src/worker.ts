/**
 * A worker process: clients come in as sockets from the supervisor, their
 * messages go out to the sequencer, sequenced frames come back and are
 * written to the clients on their board.
 */
import { AddressBytes } from './address-bytes.js';
import type { Socket } from 'node:net';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import {
  CloseCode,
  type ClientMessage,
  type ConfigMessage,
  type DeliverItem,
  type JoinRequest,
  type ConnectionRefusal,
  type Limits,
  type PresenceMessage,
  type PresencePeer,
  type RejectItem,
  type TlsMessage,
  type WorkerConfig,
} from '@smegchat/protocol';
import type { WebSocket } from 'ws';
import { ClientConnection, type ConnectionHost } from './client-connection.js';
import { createHttpServer, type HttpHost } from './http-server.js';
import { LocalBoards } from './local-boards.js';
import { PresenceFanout } from './presence-fanout.js';
import { createLogger, LogSink, TOO_MANY_CONNECTIONS, TrustedProxies, type Logger } from '@smegchat/common';
import { ConnectionAddresses, type AddressLink, type Resolution } from './connection-addresses.js';
import { SupervisorLink, type SupervisorHandlers } from './supervisor-link.js';
import { loadStaticFiles } from './static-files.js';
import { TlsTerminator } from './tls-terminator.js';
import { WorkerMetrics } from './worker-metrics.js';

/** How long clients get to take their close frame before they are cut off. */
const CLOSE_GRACE_MS = 3_000;
/**
 * How long a retiring worker waits for sockets handed to it to send their
 * HTTP request: that is the client's doing, so a short bound.
 */
const REQUEST_GRACE_MS = 2_000;
/** Kept free of the drain timeout after the joins' wait, for the exit itself (flush, `drained`). */
const EXIT_MARGIN_MS = 1_000;
/** How long a connection refused over TLS (past the caps) may take to receive its 503. */
const REFUSAL_GRACE_MS = 5_000;
/** How often the worker reports its metrics to the supervisor. */
const METRICS_INTERVAL_MS = 1_000;

export class Worker implements ConnectionHost, HttpHost, SupervisorHandlers, AddressLink {
  readonly workerId: number;
  readonly hostName: string;
  /** Whether the engine takes writes (the supervisor says so on every change): /healthz follows it. */
  private engineOk: boolean;
  readonly log: Logger;
  readonly metrics = new WorkerMetrics();
  private readonly sink: LogSink;
  private currentLimits: Limits;
  private allowedOrigins: readonly string[] | null;
  /** Set once the stop has closed (or is closing) the clients: new handshakes are refused. */
  private stopping = false;
  private openSockets = 0;
  /** Sockets handed to us that have not sent their HTTP request yet. */
  private readonly unparsed = new Set<Duplex>();
  private settled: (() => void) | null = null;
  private readonly boards: LocalBoards;
  private readonly addressBytes = new AddressBytes(() => this.currentLimits);
  private readonly presenceFanout: PresenceFanout;
  private readonly link: SupervisorLink;
  private readonly server: http.Server;
  private pingTimer: NodeJS.Timeout | undefined;
  private metricsTimer: NodeJS.Timeout | undefined;
  /** Terminates TLS on every socket, when the port serves TLS. */
  private readonly tls: TlsTerminator | null;
  private trusted: TrustedProxies;
  private readonly addresses: ConnectionAddresses;
  /** The supervisor kills this worker this long after a stop: the stop's waits fit inside it. */
  private readonly drainTimeoutMs: number;

  constructor(config: WorkerConfig) {
    this.workerId = config.id;
    this.hostName = config.host;
    this.engineOk = config.engineHealthy;
    this.drainTimeoutMs = config.drainTimeoutMs;
    this.currentLimits = config.limits;
    this.allowedOrigins = config.origins;
    this.tls = config.tls ? new TlsTerminator() : null;
    this.trusted = TrustedProxies.parse(config.trustedProxies);
    this.addresses = new ConnectionAddresses(this, () => this.trusted);
    this.sink = new LogSink(config.logFile);
    this.sink.open();
    this.log = createLogger(config.logLevel, this.sink, { worker: config.id });
    this.link = new SupervisorLink(
      this.log,
      () => this.openSockets,
      () => this.metrics.take(this.boards.size),
      this,
    );
    this.boards = new LocalBoards(this.metrics, (board) => this.link.leave(board));
    this.presenceFanout = new PresenceFanout({
      clientsOn: (board) => this.boards.liveOn(board),
      up: (board, peers) => this.link.presence(board, peers),
    });
    this.server = createHttpServer(this);
  }

  start(): void {
    this.schedulePing();
    // Logged before the supervisor hears of it: at a terminal its greeting then follows every worker's line.
    this.log.info(
      { limits: this.currentLimits, origins: this.allowedOrigins, tls: this.tls !== null, trustedProxies: this.trusted.entries },
      'serving',
    );
    this.link.start();
    // A TLS worker serves once it has its certificate, which it asks for now that it listens.
    if (this.tls === null) this.link.ready();
    else this.link.requestCertificate();
    this.metricsTimer = setInterval(() => this.link.report(), METRICS_INTERVAL_MS);
    this.metricsTimer.unref();
    // The page's files are read once, right after ready (a replacement worker serves
    // WebSockets sooner), so a missing build is in the log at start, not found by the
    // first visitor (who would get a 503 saying the same).
    setImmediate(() => {
      try {
        loadStaticFiles();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'whiteboard page unavailable; WebSockets are served');
      }
    });
  }

  // ------------------------------------------------------------ HttpHost / ConnectionHost

  limits(): Limits {
    return this.currentLimits;
  }

  origins(): readonly string[] | null {
    return this.allowedOrigins;
  }

  serving(): boolean {
    return !this.stopping;
  }

  refused(reason: ConnectionRefusal): void {
    this.metrics.handshakeRefused(reason);
  }

  engineHealthy(): boolean {
    return this.engineOk;
  }

  accept(ws: WebSocket, request: JoinRequest, address: string): void {
    const client = new ClientConnection(ws, request.board, address, this);
    this.boards.add(client);
    this.addressBytes.opened(address);
    this.link.join(request, (reply) => {
      if (reply.t === 'refused') client.close(reply.code, reply.reason);
      else {
        client.joined(reply);
        this.presenceFanout.joined(client);
      }
      this.checkSettled();
    });
  }

  /** A socket's request was dealt with (or it went away): it no longer holds up a stop; a join it asked does. */
  handshakeDone(socket: Duplex): void {
    this.unparsed.delete(socket);
    this.checkSettled();
  }

  private joinsPending(): number {
    let n = 0;
    for (const c of this.boards.clients()) if (c.joining) n++;
    return n;
  }

  private checkSettled(): void {
    this.settled?.();
  }

  // AddressLink: the supervisor's counts, per address.
  socketClosed(address: string): void {
    this.openSockets--;
    this.link.socketClosed(address);
  }

  claim(from: string, address: string, answered: (ok: boolean) => void): void {
    this.link.claim(from, address, answered);
  }

  whoIs(socket: Duplex, forwardedFor: string | undefined, done: (r: Resolution) => void): void {
    this.addresses.resolve(socket, forwardedFor, done);
  }

  takeAddressBytes(address: string, bytes: number): boolean {
    return this.addressBytes.take(address, bytes);
  }

  submit(client: ClientConnection, msg: ClientMessage): void {
    this.metrics.received++;
    this.link.submit({ board: client.board, session: client.session, cid: client.cid, msg });
  }

  presence(client: ClientConnection, msg: PresenceMessage): void {
    const { t: _t, ...fields } = msg;
    this.presenceFanout.fromClient(client, { who: client.who, ...fields });
  }

  closed(client: ClientConnection): void {
    this.presenceFanout.left(client);
    this.boards.remove(client);
    this.addressBytes.closed(client.address);
  }

  // ------------------------------------------------------------ SupervisorHandlers

  deliver(items: readonly DeliverItem[]): void {
    this.boards.deliver(items);
  }

  peers(board: string, peers: readonly PresencePeer[]): void {
    this.presenceFanout.fromSupervisor(board, peers);
  }

  rejected(items: readonly RejectItem[]): void {
    for (const item of items) this.boards.client(item.cid)?.rejected(item);
  }

  reopenLog(): void {
    const err = this.sink.reopen();
    if (err) this.log.error({ err: err.message, file: this.sink.file }, 'log file not reopened; still writing to the old one');
  }

  configure(msg: ConfigMessage): void {
    this.currentLimits = msg.limits;
    this.allowedOrigins = msg.origins;
    this.trusted = TrustedProxies.parse(msg.trustedProxies);
    this.log.level(msg.logLevel);
    for (const client of this.boards.clients()) client.setLimits(msg.limits);
    this.addressBytes.setLimits(msg.limits);
    this.schedulePing();
    this.log.info({ limits: msg.limits, logLevel: msg.logLevel }, 'configuration applied');
  }

  engineHealth(healthy: boolean): void {
    if (healthy === this.engineOk) return;
    this.engineOk = healthy;
    this.log.info({ engine: healthy ? 'reachable' : 'unavailable' }, 'engine health changed');
  }

  /** The history these boards' clients saw changed under them: they resume, and are told reset. */
  resync(boards: readonly string[]): void {
    const wanted = new Set(boards);
    let closed = 0;
    for (const client of [...this.boards.clients()]) {
      if (!wanted.has(client.board)) continue;
      client.close(CloseCode.Restart, 'board history changed: reconnect');
      closed++;
    }
    this.log.warn({ boards: boards.length, closed }, 'board history changed in the engine: clients told to resume');
  }

  /** Closes up to `count` live clients with 1012; they resume on a less loaded worker. */
  shed(count: number): void {
    if (this.stopping) return;
    let closed = 0;
    for (const client of this.boards.clients()) {
      if (closed >= count) break;
      if (!client.live) continue;
      client.close(CloseCode.Restart, 'rebalancing: reconnect');
      closed++;
    }
    this.log.info({ asked: count, closed }, 'clients moved to even out the workers');
  }

  /** The certificate to serve: the first one makes this worker ready, a later one is a renewal. */
  certificate(msg: TlsMessage): void {
    if (this.tls === null) {
      this.log.error('TLS certificate sent to a worker not configured for TLS: ignored');
      return;
    }
    const first = !this.tls.ready;
    try {
      this.tls.setSecureContext(msg.cert, msg.key);
    } catch (err) {
      // The supervisor made a secure context of the same pair before sending it: only a bug gets here.
      this.log.error({ err: (err as Error).message }, 'TLS certificate refused; the previous one, if any, keeps serving');
      if (first) process.exit(70);
      return;
    }
    if (first) this.link.ready();
    else this.log.info('TLS certificate renewed: new handshakes get it');
  }

  /**
   * A connection accepted by the supervisor becomes ours. One it refused
   * (over the caps, on a TLS port) is only told so, over TLS, and closed.
   */
  adopt(raw: Socket | undefined, refuse: boolean): void {
    if (raw === undefined) return;
    if (this.stopping) {
      raw.destroy();
      return;
    }
    if (refuse) return this.refuseOverTls(raw);
    this.openSockets++;
    const socket = this.tls === null ? raw : this.tls.wrap(raw, (why) => this.handshakeFailed(raw.remoteAddress ?? 'unknown', why));
    this.addresses.adopt(raw, socket);
    this.unparsed.add(socket);
    socket.once('close', () => this.handshakeDone(socket));
    this.server.emit('connection', socket);
    if (this.tls === null) raw.resume();
  }

  private handshakeFailed(address: string, why: string): void {
    this.metrics.handshakeRefused('tls-handshake');
    this.log.debug({ address, why }, 'TLS handshake failed');
  }

  /** The supervisor's 503 for a connection past the caps, over TLS: a plaintext one would be garbage to the client. */
  private refuseOverTls(raw: Socket): void {
    if (this.tls === null) {
      raw.end(TOO_MANY_CONNECTIONS);
      return;
    }
    const socket = this.tls.wrap(raw, (why) => this.handshakeFailed(raw.remoteAddress ?? 'unknown', why));
    const timer = setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS);
    socket.once('close', () => clearTimeout(timer));
    socket.once('secure', () => {
      socket.resume(); // its request is read and dropped
      socket.end(TOO_MANY_CONNECTIONS);
    });
  }

  private schedulePing(): void {
    clearInterval(this.pingTimer);
    const ms = this.currentLimits.pingIntervalSeconds * 1000;
    if (ms <= 0) return;
    this.pingTimer = setInterval(() => {
      for (const client of this.boards.clients()) client.ping();
    }, ms);
    this.pingTimer.unref();
  }

  /**
   * Before a stop closes its clients: a socket handed over just before gets
   * its welcome (and then a close it can resume from) rather than a refusal.
   * Sockets with no HTTP request yet get {@link REQUEST_GRACE_MS}; a join
   * already asked waits for its answer itself, however busy the sequencer or
   * the engine is, within the drain timeout less the clients' close grace,
   * so that the supervisor never has to kill this worker for it.
   */
  private async settleHandshakes(): Promise<void> {
    const joinBoundMs = Math.max(REQUEST_GRACE_MS, this.drainTimeoutMs - CLOSE_GRACE_MS - EXIT_MARGIN_MS);
    const started = Date.now();
    let requestsOver = false;
    let joinsOver = false;
    // With the channel gone (the supervisor died) no join will be answered.
    const waiting = (): boolean =>
      (this.unparsed.size > 0 && !requestsOver) || (this.joinsPending() > 0 && !joinsOver && process.connected === true);
    if (!waiting()) return;
    this.log.info({ requests: this.unparsed.size, joins: this.joinsPending() }, 'stop asked: waiting for the handshakes under way');
    const onDisconnect = (): void => this.checkSettled();
    process.once('disconnect', onDisconnect);
    await new Promise<void>((resolve) => {
      const timers = [
        setTimeout(() => {
          requestsOver = true;
          this.checkSettled();
        }, REQUEST_GRACE_MS),
        setTimeout(() => {
          joinsOver = true;
          this.checkSettled();
        }, joinBoundMs),
      ];
      this.settled = () => {
        if (waiting()) return;
        for (const t of timers) clearTimeout(t);
        resolve();
      };
    });
    this.settled = null;
    process.off('disconnect', onDisconnect);
    const unanswered = this.joinsPending();
    if (unanswered > 0) {
      this.log.warn(
        { joins: unanswered, waitedMs: Date.now() - started },
        'joins still unanswered at the drain bound: closed without a welcome',
      );
    }
  }

  /**
   * Closes every client with `code`, hands what they sent to the sequencer,
   * and exits. Idempotent.
   */
  private stopped: Promise<void> | undefined;
  stop(code: 1001 | 1012): Promise<void> {
    this.stopped ??= this.runStop(code);
    return this.stopped;
  }

  private async runStop(code: 1001 | 1012): Promise<void> {
    clearInterval(this.pingTimer);
    clearInterval(this.metricsTimer);
    await this.settleHandshakes();
    this.stopping = true;
    const reason = code === CloseCode.Restart ? 'server reloading: reconnect' : 'server stopping';
    const clients = [...this.boards.clients()];
    this.log.info({ code, clients: clients.length }, 'closing clients');
    const allClosed = Promise.all(
      clients.map(
        (c) =>
          new Promise<void>((resolve) => {
            c.ws.once('close', () => resolve());
            c.close(code, reason);
          }),
      ),
    );
    await Promise.race([allClosed, new Promise((r) => setTimeout(r, CLOSE_GRACE_MS).unref())]);
    for (const c of this.boards.clients()) c.ws.terminate();
    await new Promise<void>((resolve) => this.link.drain(resolve));
    this.log.info('worker exiting');
    process.exit(0);
  }
}
