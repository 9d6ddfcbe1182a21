/**
 * A real Redis for a test: Debian's redis-server on a free loopback port, in
 * a scratch directory, with the settings the deploy docs require
 * (deploy/redis.conf: AOF, appendfsync always, no RDB snapshots, noeviction). It can be killed -9
 * and started again on the same files. Every wait is on an event, bounded.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { TREE } from './checkout.js';
import { reachableScratchDir, startSmegchat } from './smegchat.js';

const REDIS_CONF = path.join(TREE, 'deploy/redis.conf');

export interface RedisServer {
  readonly port: number;
  readonly dir: string;
  readonly url: string;
  proc: ChildProcess;
  /** kill -9, and wait for it to be gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and files; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Runs one command with redis-cli and returns its output. */
  cli(...args: string[]): Promise<string>;
}

export interface RedisOptions {
  /** Extra redis-server arguments (e.g. --requirepass, --maxmemory-policy). */
  readonly args?: readonly string[];
  /** Do not start it yet (to test smegchat with Redis down at start). */
  readonly started?: boolean;
  /** Serve TLS only (`tls-port`, no plain port) with this certificate and key (PEM files); the URL is rediss://. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

/** A port nothing listens on right now (the kernel's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function startRedis(t: TestContext, opts: RedisOptions = {}): Promise<RedisServer> {
  const dir = path.join(reachableScratchDir(t, 'redis'));
  const port = await freePort();
  const listen = opts.tls
    ? ['--port', '0', '--tls-port', String(port), '--tls-cert-file', opts.tls.certFile, '--tls-key-file', opts.tls.keyFile]
    : ['--port', String(port)];
  // Clients are not asked for certificates: smegchat checks the server's, and logs in with a password if any.
  const tlsArgs = opts.tls ? ['--tls-auth-clients', 'no'] : [];
  // The settings the deploy docs require, from the file they ship.
  const args = [REDIS_CONF, ...listen, ...tlsArgs, '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', ...(opts.args ?? [])];
  const password = (() => {
    const i = (opts.args ?? []).indexOf('--requirepass');
    return i >= 0 ? opts.args![i + 1] : undefined;
  })();
  let proc: ChildProcess | undefined;
  const server: RedisServer = {
    port,
    dir,
    url: `${opts.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    get proc() {
      return proc!;
    },
    set proc(p) {
      proc = p;
    },
    async kill() {
      const p = proc;
      if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
      const gone = new Promise((resolve) => p.once('exit', resolve));
      p.kill('SIGKILL');
      await gone;
    },
    start() {
      const p = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      proc = p;
      return new Promise<void>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`redis-server not ready within 20 s: ${out.slice(-500)}`)), 20_000);
        p.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          if (/Ready to accept connections/.test(out)) {
            clearTimeout(timer);
            resolve();
          }
        });
        p.stderr!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
        p.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`redis-server exited (${code ?? signal}) before it was ready: ${out.slice(-500)}`));
        });
      });
    },
    cli(...cmd: string[]) {
      const auth = password !== undefined ? ['-a', password, '--no-auth-warning'] : [];
      if (opts.tls) auth.push('--tls', '--cacert', opts.tls.certFile);
      return new Promise<string>((resolve, reject) => {
        const c = spawn('redis-cli', ['-p', String(port), ...auth, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
        c.once('exit', (code) => {
          clearTimeout(timer);
          if (code === 0) resolve(out.trim());
          else reject(new Error(`redis-cli ${cmd.join(' ')} exited ${code}`));
        });
      });
    },
  };
  t.after(() => server.kill());
  if (opts.started !== false) await server.start();
  return server;
}

/**
 * Starts smegchat with `args` and expects start-up to end with exit 78 and one
 * line matching `pattern` on stderr (never showing `secret`, in it or the log).
 * Returns that line.
 */
export async function refusedAtStart(t: TestContext, args: string[], pattern: RegExp, secret?: string): Promise<string> {
  const s = await startSmegchat(t, { workers: 1, args, waitReady: false });
  const exit = await s.exited;
  assert.equal(exit.code, 78, `exit status for ${args.join(' ')}: ${s.stderr()}`);
  const lines = s.stderr().trim().split('\n');
  assert.equal(lines.length, 1, s.stderr());
  assert.match(lines[0]!, pattern);
  if (secret !== undefined) {
    assert.ok(!s.stderr().includes(secret), 'the password is not shown');
    assert.ok(!JSON.stringify(s.logs).includes(secret), 'the password is not logged');
  }
  return lines[0]!;
}
