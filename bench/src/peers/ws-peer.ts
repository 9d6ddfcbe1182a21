/**
 * The single-process reference: plain `ws`, one process, each board a set of
 * sockets, a frame serialised once and written to every socket on the board.
 * It speaks smegchat's wire protocol (docs/PROTOCOL.md: welcome, then strokes with
 * a per-board seq) with the same validation, but keeps no history and does
 * no IPC at all: the single-process reference a clustered server is measured
 * against (floor-peer.ts is the floor below it: the writes alone).
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { BOARD_NAME, DEFAULT_LIMITS, parseClientMessage, sequencedFrame } from '@smegchat/protocol';
import { listenAsPeer, parsePeerOptions, peerHttpServer } from './peer-common.js';

interface Board {
  seq: number;
  readonly sockets: Set<WebSocket>;
}

const options = parsePeerOptions(process.argv.slice(2));
const limits = DEFAULT_LIMITS;
const boards = new Map<string, Board>();
const epoch = Date.now().toString(36);

const server = peerHttpServer();
const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxFrameBytes, clientTracking: false });

server.on('upgrade', (req, socket, head) => {
  const m = /^\/ws\/([^/?]+)/.exec(req.url ?? '');
  const name = m?.[1];
  if (name === undefined || !BOARD_NAME.test(name)) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => join(ws, name));
});

function join(ws: WebSocket, name: string): void {
  let board = boards.get(name);
  if (!board) {
    board = { seq: 0, sockets: new Set() };
    boards.set(name, board);
  }
  const b = board;
  b.sockets.add(ws);
  ws.send(JSON.stringify({ t: 'welcome', board: name, seq: b.seq, epoch, session: '0'.repeat(32), worker: 1 }));
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      ws.close(1003);
      return;
    }
    const parsedMsg = parseClientMessage(data.toString('utf8'), limits);
    if (!parsedMsg.ok) {
      ws.close(parsedMsg.error.closeCode, parsedMsg.error.reason);
      return;
    }
    // Serialised once, turned into bytes once, written to every socket.
    const frame = Buffer.from(sequencedFrame(parsedMsg.value, ++b.seq));
    for (const peer of b.sockets) {
      if (peer.bufferedAmount > limits.maxBufferedBytes) peer.terminate();
      else peer.send(frame, { binary: false });
    }
  });
  ws.on('close', () => {
    b.sockets.delete(ws);
  });
  ws.on('error', () => ws.terminate());
}

listenAsPeer(server, options);
