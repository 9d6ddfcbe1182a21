/**
 * Several hosts of one service on one Redis, as one process tree for the
 * bench: a redis-server on a free loopback port with deploy/redis.conf (AOF,
 * appendfsync always, noeviction: what smegchat's deploy docs require; the
 * same for both services),
 * then `--hosts` hosts of `--kind` (smegchat with `--redis`, or the socket.io
 * peer with @socket.io/redis-streams-adapter), each with `--workers` workers
 * on its own port. Every process is a descendant of this one, so the bench's
 * CPU figure covers the hosts and Redis together. Logs one JSON line
 * `{"msg":"ready","ports":[...]}` once every host serves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, killAllServers, REPO_ROOT, startServer, type RunningServer } from '../servers.js';
import { exitWhenOrphaned, logLine } from './peer-common.js';

const READY_TIMEOUT_MS = 20_000;

function options(): { kind: 'smegchat' | 'socketio'; hosts: number; workers: number } {
  const { values } = parseArgs({
    options: {
      kind: { type: 'string', default: 'smegchat' },
      hosts: { type: 'string', default: '2' },
      workers: { type: 'string', default: '2' },
    },
    strict: true,
  });
  const kind = values.kind;
  if (kind !== 'smegchat' && kind !== 'socketio') throw new TypeError(`--kind must be smegchat or socketio, got ${kind}`);
  const hosts = Number(values.hosts);
  const workers = Number(values.workers);
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > 8) throw new TypeError('--hosts must be 1..8');
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new TypeError('--workers must be 1..64');
  return { kind, hosts, workers };
}

/** redis-server in a scratch directory; resolves once it accepts connections. */
async function startRedis(dir: string): Promise<{ proc: ChildProcess; url: string }> {
  const port = await freePort();
  const conf = path.join(REPO_ROOT, 'deploy/redis.conf');
  const args = [conf, '--port', String(port), '--bind', '127.0.0.1', '--dir', dir];
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`redis-server not ready within ${READY_TIMEOUT_MS} ms: ${out.slice(-300)}`)),
      READY_TIMEOUT_MS,
    );
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`redis-server cannot be started (${err.message}): install Debian's redis-server`));
    });
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}) before it was ready: ${out.slice(-300)}`));
    });
  });
  proc.stdout!.resume();
  proc.stderr!.resume();
  return { proc, url: `redis://127.0.0.1:${port}` };
}

async function main(): Promise<void> {
  const o = options();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'smegchat-bench-redis-'));
  let redis: ChildProcess | undefined;
  const hosts: RunningServer[] = [];
  let stopping = false;
  const stop = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      await Promise.all(hosts.map((h) => h.stop()));
      redis?.kill('SIGKILL');
      killAllServers();
      rmSync(dir, { recursive: true, force: true });
    }
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  process.on('exit', () => {
    redis?.kill('SIGKILL');
    killAllServers();
    rmSync(dir, { recursive: true, force: true });
  });
  exitWhenOrphaned();
  try {
    const r = await startRedis(dir);
    redis = r.proc;
    redis.once('exit', () => {
      if (!stopping) {
        logLine({ msg: 'redis-server exited' });
        void stop(1);
      }
    });
    for (let i = 1; i <= o.hosts; i++) {
      const args = o.kind === 'smegchat' ? ['--redis', r.url, '--name', `host${i}`] : ['--redis', r.url];
      hosts.push(await startServer(o.kind, { workers: o.workers, args }));
    }
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    await stop(1);
  }
  logLine({ msg: 'ready', ports: hosts.map((h) => h.port) });
}

void main();
