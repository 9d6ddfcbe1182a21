/**
 * `GET /metrics` for Prometheus, served by the supervisor on its own address
 * (`--metrics HOST:PORT`), so it answers whether or not any worker is up.
 * It has no authentication, so it does as little as it can for whoever
 * reaches it: one path, one method, a few connections at once, short
 * timeouts, and one rendering shared by the scrapes that arrive together.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '@smegchat/common';
import { ConfigError, type ListenAddress } from '../options.js';

/** Scrapers at once: Prometheus and a spare (an operator's curl, a second Prometheus). */
const MAX_CONNECTIONS = 4;

function plain(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
    ...headers,
  });
  res.end(body);
}

export class MetricsServer {
  private readonly server: http.Server;
  private rendering: Promise<string> | undefined;
  private failedOnce = false;

  constructor(
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {
    // Timeouts are checked every second (Node's default is every 30 s), so a silent connection goes soon.
    const options = { headersTimeout: 5_000, requestTimeout: 10_000, maxHeaderSize: 8 * 1024, connectionsCheckingInterval: 1_000 };
    this.server = http.createServer(options, (req, res) => this.onRequest(req, res));
    this.server.maxConnections = MAX_CONNECTIONS;
    this.server.keepAliveTimeout = 5_000;
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  /**
   * Binds the address (before the privilege drop, like the main port: it may
   * be below 1024), or serves the socket systemd passed for it (`{ fd }`).
   */
  listen(where: ListenAddress | { readonly fd: number }): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        if ('fd' in where) {
          reject(new ConfigError(`cannot serve metrics on the socket systemd passed as fd ${where.fd}: ${err.code ?? err.message}`));
          return;
        }
        const why =
          err.code === 'EADDRINUSE'
            ? 'already in use'
            : err.code === 'EACCES'
              ? 'not allowed (ports below 1024 need smegchat started as root, or a socket unit)'
              : err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND'
                ? 'no such address on this machine'
                : (err.code ?? err.message);
        reject(new ConfigError(`cannot serve metrics on ${where.host}:${where.port} (--metrics): ${why}`));
      };
      this.server.once('error', onError);
      const listening = (): void => {
        this.server.off('error', onError);
        this.server.on('error', (err) => this.log.error({ err }, 'metrics socket error'));
        resolve(this.server.address() as net.AddressInfo);
      };
      if ('fd' in where) this.server.listen({ fd: where.fd }, listening);
      else this.server.listen({ host: where.host, port: where.port }, listening);
    });
  }

  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== '/metrics') return plain(res, 404, 'not found: metrics are at /metrics\n');
    if (req.method !== 'GET') return plain(res, 405, 'only GET\n', { allow: 'GET' });
    // Scrapes that come while one renders share its text.
    this.rendering ??= this.registry.metrics().finally(() => (this.rendering = undefined));
    this.rendering.then(
      (text) => {
        res.writeHead(200, { 'content-type': this.registry.contentType, 'content-length': String(Buffer.byteLength(text)) });
        res.end(text);
      },
      (err: Error) => {
        if (!this.failedOnce) this.log.error({ err }, 'metrics could not be rendered (further failures are not logged)');
        this.failedOnce = true;
        plain(res, 500, 'metrics unavailable\n');
      },
    );
  }
}
