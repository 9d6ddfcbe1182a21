/**
 * The floor: what a Node WebSocket server costs on this machine with nothing
 * but the writes, kernel included (issue 16). One process, no library, no
 * IPC, no JSON: the upgrade by hand, a client's frame unmasked straight into
 * the server frame that carries it on (its closing brace swapped for
 * `,"seq":N}`, which is all the generator needs), and at the end of the turn
 * each board's frames of that turn joined into one Buffer, written to every
 * socket on the board in one write. No validation, no history, no limits but
 * the slow-client drop: nothing a real server could do with less.
 */
import crypto from 'node:crypto';
import type { Socket } from 'node:net';
import { BOARD_NAME, DEFAULT_LIMITS } from '@smegchat/protocol';
import { listenAsPeer, parsePeerOptions, peerHttpServer } from './peer-common.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const CLOSE_BRACE = 0x7d;
const MAX_FRAME_BYTES = DEFAULT_LIMITS.maxFrameBytes;
const MAX_BUFFERED_BYTES = DEFAULT_LIMITS.maxBufferedBytes;

interface Board {
  /** The last seq given out. */
  seq: number;
  /** The last seq already written to the board's sockets: a client joining now is welcomed at it. */
  flushedSeq: number;
  readonly sockets: Set<Socket>;
  /** This turn's frames, in seq order, ready to write. */
  pending: Buffer[];
}

const options = parsePeerOptions(process.argv.slice(2));
const boards = new Map<string, Board>();
const dirty: Board[] = [];
let flushScheduled = false;
const epoch = Date.now().toString(36);

/** A server frame (FIN, unmasked) of `payloadBytes`, header written; returns it and where the payload starts. */
function serverFrame(opcode: number, payloadBytes: number): { frame: Buffer; at: number } {
  const at = payloadBytes < 126 ? 2 : payloadBytes < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(at + payloadBytes);
  frame[0] = 0x80 | opcode;
  if (at === 2) frame[1] = payloadBytes;
  else if (at === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(payloadBytes, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(payloadBytes), 2);
  }
  return { frame, at };
}

function textFrame(text: string): Buffer {
  const bytes = Buffer.byteLength(text);
  const { frame, at } = serverFrame(OP_TEXT, bytes);
  frame.write(text, at);
  return frame;
}

function flush(): void {
  flushScheduled = false;
  for (const b of dirty) {
    const bytes = b.pending.length === 1 ? b.pending[0]! : Buffer.concat(b.pending);
    b.pending = [];
    b.flushedSeq = b.seq;
    for (const sock of b.sockets) {
      // It stopped reading: it cannot take a close frame either.
      if (sock.writableLength > MAX_BUFFERED_BYTES) sock.destroy();
      else sock.write(bytes);
    }
  }
  dirty.length = 0;
}

/** A text frame from a client: sequenced and queued for the board, unmasked into the frame that carries it on. */
function relay(b: Board, data: Buffer, maskAt: number, payloadEnd: number): void {
  const payloadAt = maskAt + 4;
  const seq = ++b.seq;
  const suffix = `,"seq":${seq}}`;
  // The client's payload less its closing brace, then the suffix.
  const kept = payloadEnd - payloadAt - 1;
  const { frame, at } = serverFrame(OP_TEXT, kept + suffix.length);
  for (let i = 0; i < kept; i++) frame[at + i] = data[payloadAt + i]! ^ data[maskAt + (i & 3)]!;
  frame.write(suffix, at + kept, 'latin1');
  if (b.pending.length === 0) dirty.push(b);
  b.pending.push(frame);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}

/** Reads one client's frames; a frame cut by a read waits in `carry` for the rest. */
function attach(sock: Socket, b: Board, head: Buffer): void {
  let carry: Buffer | null = null;
  const onData = (chunk: Buffer): void => {
    const data = carry === null ? chunk : Buffer.concat([carry, chunk]);
    carry = null;
    let p = 0;
    while (data.length - p >= 2) {
      const opcode = data[p]! & 0x0f;
      const masked = (data[p + 1]! & 0x80) !== 0;
      let len = data[p + 1]! & 0x7f;
      let q = p + 2;
      if (len === 126) {
        if (data.length - q < 2) break;
        len = data.readUInt16BE(q);
        q += 2;
      } else if (len === 127) {
        if (data.length - q < 8) break;
        len = Number(data.readBigUInt64BE(q));
        q += 8;
      }
      if (!masked || len > MAX_FRAME_BYTES) {
        sock.destroy();
        return;
      }
      if (data.length - q < 4 + len) break;
      const maskAt = q;
      q += 4;
      if (opcode === OP_TEXT && len > 0 && (data[q + len - 1]! ^ data[maskAt + ((len - 1) & 3)]!) === CLOSE_BRACE) {
        relay(b, data, maskAt, q + len);
      } else if (opcode === OP_CLOSE) {
        sock.end(Buffer.from([0x80 | OP_CLOSE, 2, 0x03, 0xe8])); // 1000
        b.sockets.delete(sock);
        return;
      } else if (opcode === OP_PING) {
        const { frame, at } = serverFrame(0xa, len);
        for (let i = 0; i < len; i++) frame[at + i] = data[q + i]! ^ data[maskAt + (i & 3)]!;
        sock.write(frame);
      }
      p = q + len;
    }
    if (p < data.length) carry = Buffer.from(data.subarray(p));
  };
  sock.on('data', onData);
  if (head.length > 0) onData(head);
}

const server = peerHttpServer();

server.on('upgrade', (req, socket: Socket, head: Buffer) => {
  const name = /^\/ws\/([^/?]+)/.exec(req.url ?? '')?.[1];
  const key = req.headers['sec-websocket-key'];
  if (name === undefined || !BOARD_NAME.test(name) || typeof key !== 'string') {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    return;
  }
  let b = boards.get(name);
  if (b === undefined) boards.set(name, (b = { seq: 0, flushedSeq: 0, sockets: new Set(), pending: [] }));
  const board = b;
  const accept = crypto
    .createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');
  socket.setNoDelay(true);
  socket.setTimeout(0);
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  // Welcomed at what it has not been sent: this turn's frames, still pending, are new to it.
  socket.write(textFrame(JSON.stringify({ t: 'welcome', board: name, seq: board.flushedSeq, epoch, session: '0'.repeat(32), worker: 1 })));
  board.sockets.add(socket);
  socket.on('close', () => board.sockets.delete(socket));
  socket.on('error', () => socket.destroy());
  attach(socket, board, head);
});

listenAsPeer(server, options);
