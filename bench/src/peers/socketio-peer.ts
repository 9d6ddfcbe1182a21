/**
 * The clustered reference: what people build today. socket.io 4 on
 * node:cluster workers with @socket.io/cluster-adapter (with `--redis URL`,
 * @socket.io/redis-streams-adapter instead: each worker one node of a service
 * spread over hosts, as its docs set it up), websocket transport
 * only (so no sticky sessions are needed: the primary hands out connections
 * round-robin), a board is a room, a stroke is validated as smegchat does and
 * emitted to the room, the sender included. socket.io has no sequencer, so
 * there is no seq: the bench checks the order of ids instead.
 */
import cluster from 'node:cluster';
import http from 'node:http';
import { Server } from 'socket.io';
import { createAdapter, setupPrimary } from '@socket.io/cluster-adapter';
import { createAdapter as createRedisStreamsAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import { BOARD_NAME, DEFAULT_LIMITS, validateClientMessage } from '@smegchat/protocol';
import { exitWhenOrphaned, logLine, parsePeerOptions } from './peer-common.js';

const options = parsePeerOptions(process.argv.slice(2));
const limits = DEFAULT_LIMITS;

if (cluster.isPrimary) runPrimary();
else runWorker();

function runPrimary(): void {
  setupPrimary();
  let stopping = false;
  let listening = 0;
  const slots = new Map<number, number>(); // cluster worker id -> slot 1..N
  const fork = (slot: number): void => {
    const w = cluster.fork({ BENCH_PEER_SLOT: String(slot) });
    slots.set(w.id, slot);
    w.on('listening', () => {
      logLine({ msg: 'worker ready', worker: slot, workerPid: w.process.pid });
      if (++listening === options.workers) logLine({ msg: 'ready', port: options.port });
    });
  };
  cluster.on('exit', (w, code, signal) => {
    const slot = slots.get(w.id) ?? 0;
    slots.delete(w.id);
    if (stopping) return;
    // Replaced at once, as a cluster primary usually does: the restart scenario times it.
    logLine({ msg: 'worker died', worker: slot, code, signal });
    fork(slot);
  });
  for (let i = 1; i <= options.workers; i++) fork(i);
  const stop = (): void => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  exitWhenOrphaned();
}

function runWorker(): void {
  const slot = Number(process.env['BENCH_PEER_SLOT'] ?? '0');
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') res.writeHead(200).end('ok\n');
    else if (!req.url?.startsWith('/socket.io/')) res.writeHead(404).end();
  });
  const io = new Server(server, {
    transports: ['websocket'],
    serveClient: false,
    maxHttpBufferSize: limits.maxFrameBytes,
    adapter: options.redis === null ? createAdapter() : createRedisStreamsAdapter(new Redis(options.redis)),
  });
  io.on('connection', (socket) => {
    const board = socket.handshake.query['board'];
    if (typeof board !== 'string' || !BOARD_NAME.test(board)) {
      socket.disconnect(true);
      return;
    }
    void socket.join(board);
    socket.emit('welcome', { board, worker: slot });
    socket.on('stroke', (raw: unknown) => {
      const parsed = validateClientMessage(raw, limits);
      if (!parsed.ok) {
        socket.disconnect(true);
        return;
      }
      io.to(board).emit('stroke', parsed.value);
    });
  });
  process.on('SIGTERM', () => {
    io.close();
    process.exit(0);
  });
  server.listen(options.port, options.host);
}
