/**
 * The control socket smegctl talks to: a unix socket, mode 0660, owned by
 * the service user and group, so root and the group's members can use it
 * and nobody else can. One request line, one reply line, per connection.
 */
import fs from 'node:fs';
import net from 'node:net';
import {
  CONTROL_VERSION,
  MAX_CONTROL_REQUEST_BYTES,
  parseControlRequest,
  type ControlReply,
  type ControlRequest,
} from '@smegchat/protocol';
import type { Logger } from '@smegchat/common';
import { ConfigError } from './options.js';

export type ControlHandler = (req: ControlRequest, connection: net.Socket) => Promise<ControlReply>;

/** True if something answers on the socket: another supervisor is running. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class ControlServer {
  private readonly server: net.Server;
  /** Connections kept open until the process exits (a `stop` waits on its own). */
  private readonly held = new Set<net.Socket>();

  constructor(
    readonly path: string,
    private readonly handler: ControlHandler,
    private readonly log: Logger,
  ) {
    this.server = net.createServer((socket) => this.onConnection(socket));
  }

  /** Creates the socket; a live one refuses start-up, a stale one is replaced. */
  async listen(owner: { uid: number; gid: number } | null): Promise<void> {
    if (fs.existsSync(this.path)) {
      if (await answers(this.path)) {
        throw new ConfigError(`another smegchat already answers on control socket ${this.path}: stop it first (smegctl stop)`);
      }
      fs.rmSync(this.path, { force: true });
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', (err: NodeJS.ErrnoException) =>
        reject(Object.assign(new ConfigError(`cannot create control socket ${this.path}: ${err.code ?? err.message}`), { code: err.code })),
      );
      this.server.listen(this.path, () => resolve());
    });
    fs.chmodSync(this.path, 0o660);
    if (owner !== null) fs.chownSync(this.path, owner.uid, owner.gid);
  }

  close(): void {
    this.server.close();
    for (const s of this.held) s.destroy();
    try {
      fs.rmSync(this.path, { force: true });
    } catch (err) {
      // Its directory is not ours to write since the privilege drop; the next start replaces it as stale.
      this.log.debug({ err: (err as Error).message, path: this.path }, 'control socket left behind');
    }
  }

  /** Keeps a connection open until close(): `smegctl stop` returns when the server is gone. */
  hold(socket: net.Socket): void {
    this.held.add(socket);
    socket.once('close', () => this.held.delete(socket));
  }

  private onConnection(socket: net.Socket): void {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    const onData = (chunk: string): void => {
      buffered += chunk;
      const nl = buffered.indexOf('\n');
      if (nl < 0) {
        if (buffered.length > MAX_CONTROL_REQUEST_BYTES) {
          socket.off('data', onData);
          this.reply(socket, { v: CONTROL_VERSION, ok: false, error: `request longer than ${MAX_CONTROL_REQUEST_BYTES} bytes` });
        }
        return;
      }
      socket.off('data', onData);
      const parsed = parseControlRequest(buffered.slice(0, nl));
      if ('error' in parsed) return this.reply(socket, { v: CONTROL_VERSION, ok: false, error: parsed.error });
      this.log.info({ cmd: parsed.cmd }, 'control request');
      this.handler(parsed, socket).then(
        (reply) => this.reply(socket, reply),
        (err: Error) => {
          this.log.error({ err, cmd: parsed.cmd }, 'control request failed');
          this.reply(socket, { v: CONTROL_VERSION, ok: false, error: err.message });
        },
      );
    };
    socket.on('data', onData);
  }

  private reply(socket: net.Socket, reply: ControlReply): void {
    if (socket.destroyed) return;
    socket.write(JSON.stringify(reply) + '\n');
    if (!this.held.has(socket)) socket.end();
  }
}
