/**
 * HTTP on the shared port: the WebSocket upgrade at /ws/BOARD, /healthz, and
 * the page's static files. Sockets arrive from the supervisor already
 * accepted; this server never listens itself.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { parseJoinUrl, type ConnectionRefusal, type JoinRequest, type Limits } from '@smegchat/protocol';
import { WebSocketServer, type WebSocket } from 'ws';
import { handleStatic } from './static-files.js';
import { httpReply, TOO_MANY_CONNECTIONS, type Logger } from '@smegchat/common';
import type { Resolution } from './connection-addresses.js';

export interface HttpHost {
  readonly workerId: number;
  readonly log: Logger;
  limits(): Limits;
  origins(): readonly string[] | null;
  serving(): boolean;
  /** A handshake was refused, for the metrics. */
  refused(reason: ConnectionRefusal): void;
  /** Whether the engine takes writes: /healthz says 503 while it does not. */
  engineHealthy(): boolean;
  accept(ws: WebSocket, request: JoinRequest, address: string): void;
  /** Whom a request on `socket` is from (behind a trusted proxy, its X-Forwarded-For says), once counted as such. */
  whoIs(socket: Duplex, forwardedFor: string | undefined, done: (r: Resolution) => void): void;
  /**
   * The socket's first request has been dealt with: answered, refused, or
   * (an upgrade) accepted as a client whose join is asked. Called after that,
   * never before: between the two, a stop would see neither a request nor a
   * join to wait for, and close the new client before its welcome.
   */
  handshakeDone(socket: Duplex): void;
}

/** Module level, so it captures no request: see the upgrade handler. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

function refuseUpgrade(socket: Duplex, status: number, why: string): void {
  socket.end(httpReply(status, `${why}\n`));
}

/**
 * A request target as logs may show it: the path only, at most 200 characters.
 * The query string never reaches a log line: a resuming client's holds its
 * secret session.
 */
export function loggablePath(url: string | undefined): string {
  const target = url ?? '';
  const q = target.indexOf('?');
  return (q === -1 ? target : target.slice(0, q)).slice(0, 200);
}

/** The X-Forwarded-For header, its repeats joined (Node joins them with ", "). */
function forwardedFor(req: http.IncomingMessage): string | undefined {
  const v = req.headers['x-forwarded-for'];
  return Array.isArray(v) ? v.join(', ') : v;
}

export function createHttpServer(host: HttpHost): http.Server {
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: host.limits().maxFrameBytes,
  });
  const server = http.createServer({ requestTimeout: 30_000, headersTimeout: 15_000, maxHeaderSize: 16 * 1024 });
  server.keepAliveTimeout = 5_000;

  server.on('request', (req, res) => {
    const socket = req.socket;
    host.whoIs(socket, forwardedFor(req), (who) => {
      try {
        if ('refused' in who) return refuseRequest(res, who);
        onRequest(req, res);
      } catch (err) {
        // A bug here must cost one request, never the worker and its other clients.
        host.log.error({ err, path: loggablePath(req.url) }, 'request handler failed');
        res.destroy();
      } finally {
        host.handshakeDone(socket);
      }
    });
  });

  const refuseRequest = (res: http.ServerResponse, who: Exclude<Resolution, { address: string }>): void => {
    const [status, body] = who.refused === 'bad-request' ? [400, `${who.why}\n`] : [503, 'too many connections; try again later\n'];
    if (who.refused === 'bad-request') host.refused('bad-request');
    res.writeHead(status, {
      'content-type': 'text/plain; charset=utf-8',
      connection: 'close',
      ...(status === 503 && { 'retry-after': '5' }),
    });
    res.end(body);
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/healthz') {
      const engine = host.engineHealthy();
      const ok = host.serving() && engine;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ ok, worker: host.workerId, engine: engine ? 'ok' : 'unavailable' }) + '\n');
      return;
    }
    if (path?.startsWith('/ws/')) {
      res.writeHead(426, { 'content-type': 'text/plain; charset=utf-8', upgrade: 'websocket', connection: 'Upgrade' });
      res.end('this endpoint speaks WebSocket only\n');
      return;
    }
    handleStatic(req, res);
  };

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', destroyOnError);
    host.whoIs(socket, forwardedFor(req), (who) => {
      try {
        if (!('refused' in who)) return onUpgrade(req, socket, head, who.address);
        if (who.refused === 'max-per-address') return void socket.end(TOO_MANY_CONNECTIONS);
        host.refused('bad-request');
        refuseUpgrade(socket, 400, who.why);
      } catch (err) {
        host.log.error({ err, path: loggablePath(req.url) }, 'upgrade handler failed');
        socket.destroy();
      } finally {
        // After onUpgrade: the client it accepted is joining by now, and the stop waits for its answer.
        host.handshakeDone(socket);
      }
    });
  });

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer, address: string): void => {
    if (!host.serving()) {
      host.refused('stopping');
      return refuseUpgrade(socket, 503, 'this worker is stopping; try again');
    }
    const parsed = parseJoinUrl(req.url ?? '/');
    if (typeof parsed === 'string') {
      host.refused('bad-request');
      return refuseUpgrade(socket, 400, parsed);
    }
    const origins = host.origins();
    if (origins !== null && !origins.includes(req.headers.origin ?? '')) {
      host.log.info({ origin: req.headers.origin, address }, 'WebSocket refused: origin not allowed');
      host.refused('origin');
      return refuseUpgrade(socket, 403, 'origin not allowed');
    }
    wss.options.maxPayload = host.limits().maxFrameBytes;
    // Nothing the upgrade's callback keeps may refer to req: a closure over it held
    // every upgrade request (about 1.5 KiB) for the connection's whole life.
    wss.handleUpgrade(req, socket, head, (ws) => host.accept(ws, parsed, address));
  };

  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    host.log.debug({ err: err.message, code: err.code }, 'bad HTTP request');
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    if (socket.writable && !socket.destroyed) socket.end(httpReply(status));
    else socket.destroy();
  });

  return server;
}
