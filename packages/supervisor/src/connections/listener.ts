/**
 * The listening socket, owned by the supervisor for its whole life: bound
 * once (as root if need be, before the privilege drop), or passed by systemd
 * (socket activation, which outlives the supervisor itself), never closed
 * while workers come and go. Each connection is accepted here without
 * reading a byte, checked against the connection caps, and handed to a worker.
 */
import net from 'node:net';
import type { ConnectionRefusal, Limits } from '@smegchat/protocol';
import { TOO_MANY_CONNECTIONS, type Logger } from '@smegchat/common';
import { ConfigError } from '../options.js';
import type { Dispatcher } from './dispatcher.js';

/**
 * The accept queue of a port smegchat binds, and of a passed socket: Node
 * calls listen(2) again on a passed fd, with 511 unless told otherwise, which
 * would undo the socket unit's Backlog=. This is that Backlog= (the kernel
 * caps both at net.core.somaxconn): room for the connections that arrive
 * while a supervisor restarts, which wait in this queue.
 */
export const BACKLOG = 4096;

export class Listener {
  private readonly servers: net.Server[] = [];
  private refusedSinceLog = 0;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly limits: () => Limits,
    private readonly log: Logger,
    private readonly opts: {
      /** The port serves TLS: a refusal cannot be written here in plaintext. */
      readonly tls: boolean;
      readonly refused: (reason: ConnectionRefusal) => void;
    },
  ) {}

  private newServer(): net.Server {
    const server = net.createServer({ pauseOnConnect: true });
    server.on('connection', (socket) => this.onConnection(socket));
    server.on('error', (err) => this.log.error({ err }, 'listening socket error'));
    this.servers.push(server);
    return server;
  }

  /** Binds the port; a port in use or not ours to bind is refused with one clear line. */
  listen(port: number, host: string | undefined): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const where = `${host ?? '*'}:${port}`;
        if (err.code === 'EADDRINUSE')
          reject(new ConfigError(`port ${where} is already in use: stop whatever holds it or pick another --port`));
        else if (err.code === 'EACCES')
          reject(
            new ConfigError(
              `not allowed to bind ${where}: ports below 1024 need root (start smegchat as root; it drops privileges after binding)`,
            ),
          );
        else if (err.code === 'EADDRNOTAVAIL')
          reject(new ConfigError(`cannot listen on ${where}: no such address on this machine (--host)`));
        else reject(new ConfigError(`cannot listen on ${where}: ${err.code ?? err.message}`));
      };
      const server = this.newServer();
      server.once('error', onError);
      server.listen({ port, host, backlog: BACKLOG }, () => {
        server.off('error', onError);
        resolve(server.address() as net.AddressInfo);
      });
    });
  }

  /**
   * Serves listening sockets systemd passed (already bound, often below 1024,
   * by the socket unit); resolves with their addresses. Binds nothing.
   */
  adopt(fds: readonly number[]): Promise<(net.AddressInfo | string)[]> {
    return Promise.all(
      fds.map(
        (fd) =>
          new Promise<net.AddressInfo | string>((resolve, reject) => {
            const server = this.newServer();
            const onError = (err: NodeJS.ErrnoException): void =>
              reject(new ConfigError(`cannot serve the socket systemd passed as fd ${fd}: ${err.code ?? err.message}`));
            server.once('error', onError);
            // The backlog as a separate argument: with { fd }, Node reads no backlog from the options.
            server.listen({ fd }, BACKLOG, () => {
              server.off('error', onError);
              resolve(server.address() ?? `fd ${fd}`);
            });
          }),
      ),
    );
  }

  close(): void {
    for (const server of this.servers) server.close();
  }

  private onConnection(socket: net.Socket): void {
    socket.on('error', () => undefined);
    const limits = this.limits();
    const address = socket.remoteAddress ?? 'unknown';
    const over =
      this.dispatcher.totalConnections() >= limits.maxConnections
        ? 'max-connections'
        : !this.dispatcher.isTrustedProxy(address) && this.dispatcher.connectionsFrom(address) >= limits.maxConnectionsPerAddress
          ? 'max-per-address'
          : null;
    if (over !== null) {
      this.opts.refused(over);
      // Logged at most once a second, so a flood cannot flood the log too.
      if (this.refusedSinceLog++ === 0) {
        setTimeout(() => {
          this.log.warn(
            { refused: this.refusedSinceLog, maxConnections: limits.maxConnections, maxPerAddress: limits.maxConnectionsPerAddress },
            'connections refused: connection limit reached',
          );
          this.refusedSinceLog = 0;
        }, 1000).unref();
      }
      if (this.opts.tls) this.dispatcher.refuseOverTls(socket);
      else socket.end(TOO_MANY_CONNECTIONS);
      return;
    }
    this.dispatcher.dispatch(socket);
  }
}
