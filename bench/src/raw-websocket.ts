/**
 * The leanest WebSocket client Node can run, for the load generator: a bare
 * TCP socket reading into one shared buffer (`onread`, so no stream machinery
 * and no allocation per read), frames found in place and handed over as
 * offsets into that buffer, no per-message object or event.
 *
 * It implements only what a load generator needs against a server on
 * loopback: the upgrade, unfragmented text frames, ping/pong and close. A
 * client must mask what it sends (RFC 6455 §5.3); it uses an all-zero mask,
 * which is valid and leaves the payload as it is, so a frame is built with
 * one allocation and no XOR pass. That is fine for a benchmark against our
 * own servers, and it is why this is not a general-purpose client.
 */
import net from 'node:net';

/** Called with the frame's payload as `buf[start, end)`: valid during the call only. */
export type MessageHandler = (buf: Buffer, start: number, end: number) => void;

export interface RawHandlers {
  readonly message: MessageHandler;
  /** The connection ended: the server's close code, or 1006 when it just dropped. */
  readonly close: (code: number) => void;
  /** The upgrade failed (anything but 101), or the socket failed before it. */
  readonly error: (error: Error) => void;
}

const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const MAX_HANDSHAKE_BYTES = 16 * 1024;
const MAX_FRAME_BYTES = 64 * 1024 * 1024;
const CLOSE_WAIT_MS = 2000;

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
const HEADER_END = Buffer.from('\r\n\r\n');

export class RawWebSocket {
  private readonly sock: net.Socket;
  private upgraded = false;
  private closed = false;
  private closeCode = 1006;
  /** Bytes of an incomplete frame (or handshake) carried over to the next read: a copy. */
  private carry: Buffer | null = null;

  constructor(
    port: number,
    path: string,
    private readonly on: RawHandlers,
    localAddress?: string,
  ) {
    this.sock = net.connect({
      port,
      host: '127.0.0.1',
      ...(localAddress !== undefined && { localAddress }),
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => this.onRead(buf as Buffer, n) },
    });
    this.sock.on('connect', () => {
      this.sock.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: c21lZ2NoYXQtYmVuY2gtMQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    this.sock.on('error', (error) => {
      if (!this.upgraded) this.fail(error);
    });
    this.sock.on('close', () => this.finish());
  }

  get open(): boolean {
    return this.upgraded && !this.closed;
  }

  send(text: string): void {
    if (!this.open) return;
    this.sock.write(frame(OP_TEXT, text));
  }

  /** Sends a close frame and waits (bounded) for the server to end the connection. */
  close(code = 1000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.terminate();
        resolve();
      }, CLOSE_WAIT_MS);
      this.sock.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (this.upgraded) {
        const payload = Buffer.alloc(2);
        payload.writeUInt16BE(code);
        this.sock.write(frame(OP_CLOSE, payload));
      } else this.sock.destroy();
    });
  }

  terminate(): void {
    this.sock.destroy();
  }

  private fail(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.destroy();
    this.on.error(error);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.upgraded) this.on.close(this.closeCode);
    else this.on.error(new Error('connection closed before the upgrade'));
  }

  private onRead(buf: Buffer, n: number): boolean {
    let data = buf;
    let end = n;
    if (this.carry !== null) {
      data = Buffer.concat([this.carry, buf.subarray(0, n)]);
      end = data.length;
      this.carry = null;
    }
    let pos = 0;
    if (!this.upgraded) {
      const at = data.indexOf(HEADER_END);
      if (at < 0 || at >= end) {
        if (end > MAX_HANDSHAKE_BYTES) this.fail(new Error('upgrade response too long'));
        else this.carry = Buffer.from(data.subarray(0, end));
        return true;
      }
      const status = data.toString('latin1', 0, Math.min(at, 200)).split('\r\n', 1)[0]!;
      if (!status.startsWith('HTTP/1.1 101')) {
        this.fail(new Error(`upgrade refused: ${status}`));
        return false;
      }
      this.upgraded = true;
      pos = at + HEADER_END.length;
    }
    // Frames, in place. Bounded by the bytes read: every pass consumes one whole frame or stops.
    while (pos + 2 <= end && !this.closed) {
      const b0 = data[pos]!;
      const b1 = data[pos + 1]!;
      let len = b1 & 0x7f;
      let header = 2;
      if (len === 126) {
        if (pos + 4 > end) break;
        len = data.readUInt16BE(pos + 2);
        header = 4;
      } else if (len === 127) {
        if (pos + 10 > end) break;
        len = data.readUInt32BE(pos + 2) * 2 ** 32 + data.readUInt32BE(pos + 6);
        header = 10;
      }
      if (b1 & 0x80 || len > MAX_FRAME_BYTES) {
        this.fail(new Error('masked or oversized frame from the server'));
        return false;
      }
      if (pos + header + len > end) break;
      const start = pos + header;
      pos = start + len;
      const opcode = b0 & 0x0f;
      if (opcode === OP_TEXT && b0 & 0x80) {
        this.on.message(data, start, pos);
      } else if (opcode === OP_PING) {
        this.sock.write(frame(OP_PONG, Buffer.from(data.subarray(start, pos))));
      } else if (opcode === OP_CLOSE) {
        this.closeCode = len >= 2 ? data.readUInt16BE(start) : 1005;
        this.sock.end(frame(OP_CLOSE, Buffer.from(data.subarray(start, Math.min(pos, start + 2)))));
        this.sock.destroy();
        return false;
      } else if (opcode === OP_CONTINUATION || (opcode === OP_TEXT && !(b0 & 0x80))) {
        // None of the servers fragments a message this small; not worth supporting.
        this.fail(new Error('fragmented message from the server'));
        return false;
      }
      // OP_PONG and binary frames: nothing to do (a binary frame is not ours).
    }
    if (pos < end) this.carry = Buffer.from(data.subarray(pos, end));
    return true;
  }
}

/** A client frame: FIN, the opcode, a zero mask, the payload as it is. */
function frame(opcode: number, payload: string | Buffer): Buffer {
  const len = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const header = len < 126 ? 6 : len < 65_536 ? 8 : 14;
  const out = Buffer.allocUnsafe(header + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65_536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  out.writeUInt32BE(0, header - 4); // the mask: zero
  if (typeof payload === 'string') out.write(payload, header, 'utf8');
  else payload.copy(out, header);
  return out;
}
