/**
 * HTTP on the shared port: the WebSocket upgrade at /ws/BOARD, /healthz, and
 * the page's static files. Sockets arrive from the supervisor already
 * accepted; this server never listens itself.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { BOARD_NAME, EPOCH, SESSION_TOKEN, type Limits } from '@smegchat/protocol';
import { WebSocketServer, type WebSocket } from 'ws';
import { handleStatic } from './static-files.js';
import type { Logger } from './logger.js';

/** What a WebSocket URL asked for. */
export interface JoinRequest {
  readonly board: string;
  readonly since?: number;
  readonly epoch?: string;
  readonly session?: string;
}

export interface HttpHost {
  readonly workerId: number;
  readonly log: Logger;
  limits(): Limits;
  origins(): readonly string[] | null;
  serving(): boolean;
  accept(ws: WebSocket, request: JoinRequest, address: string): void;
  socketClosed(address: string): void;
  /** The socket's first request arrived. */
  handshakeDone(socket: Duplex): void;
}

const SINCE = /^\d{1,15}$/;

/** Parses /ws/BOARD?since=S&epoch=E&session=K; a string says what is wrong. */
export function parseJoinUrl(url: string): JoinRequest | string {
  let u: URL;
  let board: string;
  try {
    u = new URL(url, 'http://localhost');
    const match = /^\/ws\/([^/]*)$/.exec(u.pathname);
    if (match === null) return 'no such endpoint: WebSocket URLs are /ws/BOARD';
    board = decodeURIComponent(match[1]!);
  } catch {
    // new URL and decodeURIComponent throw on what a client may well send ("//", "%zz").
    return 'malformed URL';
  }
  if (!BOARD_NAME.test(board)) return 'board names are 1 to 64 characters of A-Z a-z 0-9 _ -';
  const since = u.searchParams.get('since');
  const epoch = u.searchParams.get('epoch');
  const session = u.searchParams.get('session');
  if (since !== null && !SINCE.test(since)) return 'since must be a whole number';
  if (epoch !== null && !EPOCH.test(epoch)) return 'epoch is malformed';
  if (session !== null && !SESSION_TOKEN.test(session)) return 'session is malformed';
  return {
    board,
    ...(since !== null && { since: Number(since) }),
    ...(epoch !== null && { epoch }),
    ...(session !== null && { session }),
  };
}

/** Module level, so it captures no request: see the upgrade handler. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

function refuseUpgrade(socket: Duplex, status: number, text: string, why: string): void {
  const body = `${why}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
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

  server.on('connection', (socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    socket.once('close', () => host.socketClosed(address));
  });

  server.on('request', (req, res) => {
    try {
      onRequest(req, res);
    } catch (err) {
      // A bug here must cost one request, never the worker and its other clients.
      host.log.error({ err, url: req.url?.slice(0, 200) }, 'request handler failed');
      res.destroy();
    }
  });

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    host.handshakeDone(req.socket);
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path === '/healthz') {
      const ok = host.serving();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ ok, worker: host.workerId }) + '\n');
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
    try {
      onUpgrade(req, socket, head);
    } catch (err) {
      host.log.error({ err, url: req.url?.slice(0, 200) }, 'upgrade handler failed');
      socket.destroy();
    }
  });

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', destroyOnError);
    host.handshakeDone(socket);
    if (!host.serving()) return refuseUpgrade(socket, 503, 'Service Unavailable', 'this worker is stopping; try again');
    const parsed = parseJoinUrl(req.url ?? '/');
    if (typeof parsed === 'string') return refuseUpgrade(socket, 400, 'Bad Request', parsed);
    const origins = host.origins();
    if (origins !== null && !origins.includes(req.headers.origin ?? '')) {
      host.log.info({ origin: req.headers.origin }, 'WebSocket refused: origin not allowed');
      return refuseUpgrade(socket, 403, 'Forbidden', 'origin not allowed');
    }
    wss.options.maxPayload = host.limits().maxFrameBytes;
    // Nothing the upgrade's callback keeps may refer to req: a closure over it held
    // every upgrade request (about 1.5 KiB) for the connection's whole life.
    const address = req.socket.remoteAddress ?? 'unknown';
    wss.handleUpgrade(req, socket, head, (ws) => host.accept(ws, parsed, address));
  };

  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    host.log.debug({ err: err.message, code: err.code }, 'bad HTTP request');
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : '400 Bad Request';
    if (socket.writable && !socket.destroyed) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    else socket.destroy();
  });

  return server;
}
