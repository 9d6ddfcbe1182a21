/**
 * What both reference servers share: their command line, their one-line
 * JSON log (the bench waits for msg "ready", as it does for smegchat), and
 * an orphan check so a peer never outlives the bench that started it.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';

export interface PeerOptions {
  readonly port: number;
  readonly host: string;
  readonly workers: number;
  /** Share rooms with the other hosts through this Redis (redis://HOST:PORT), or null for this host alone. */
  readonly redis: string | null;
}

export function parsePeerOptions(argv: string[]): PeerOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '8090' },
      host: { type: 'string', default: '127.0.0.1' },
      workers: { type: 'string', default: '2' },
      redis: { type: 'string' },
    },
    strict: true,
  });
  const port = Number(values.port);
  const workers = Number(values.workers);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`--port must be 0..65535, got ${values.port}`);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new TypeError(`--workers must be 1..64, got ${values.workers}`);
  return { port, host: values.host!, workers, redis: values.redis ?? null };
}

export function logLine(fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), pid: process.pid, ...fields })}\n`);
}

/**
 * Exits when the process that started the bench is gone: a bench killed
 * with SIGKILL cannot clean up, so its peers clean up after themselves.
 */
export function exitWhenOrphaned(): void {
  const benchPid = Number(process.env['SMEGCHAT_BENCH_PID']);
  if (!Number.isInteger(benchPid) || benchPid <= 0) return;
  setInterval(() => {
    try {
      process.kill(benchPid, 0);
    } catch {
      process.exit(0);
    }
  }, 1000).unref();
}

/** A single-process peer's HTTP server: /healthz, and 404 for anything but an upgrade. */
export function peerHttpServer(): http.Server {
  return http.createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    res.writeHead(404).end();
  });
}

/** Listens and says ready; exits on SIGTERM or SIGINT, or when the bench is gone. */
export function listenAsPeer(server: http.Server, options: PeerOptions): void {
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  exitWhenOrphaned();
  server.listen(options.port, options.host, () => {
    const address = server.address();
    logLine({ msg: 'ready', port: typeof address === 'object' && address ? address.port : options.port });
  });
}
