/**
 * Socket activation outside the service manager, with systemd's own
 * systemd-socket-activate: it binds the port and the metrics address, then
 * execs smegchat with LISTEN_FDS. smegchat serves what it was passed, binds
 * nothing (the configured port is held by the launcher itself, so a bind
 * would fail), and no worker inherits the sockets or the variables.
 * Restarts under a real systemd: systemd.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { BoardClient, stroke } from './lib/client.js';
import { freePort } from './lib/redis.js';
import { startSmegchat } from './lib/smegchat.js';

const ACTIVATE = ['/usr/bin/systemd-socket-activate', '/bin/systemd-socket-activate', '/lib/systemd/systemd-socket-activate'].find((f) =>
  existsSync(f),
);

/** GET /healthz on a fresh connection, retried while the port is not yet bound: the status code. */
async function healthz(port: number, ms = 30_000): Promise<number> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      return (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(end - Date.now()) })).status;
    } catch (err) {
      if (Date.now() > end) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function socketsOf(pid: number): Set<string> {
  const found = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith('socket:')) found.add(target);
    } catch {
      // closed while we looked
    }
  }
  return found;
}

describe('socket activation', { skip: ACTIVATE === undefined && 'systemd-socket-activate is not installed' }, () => {
  it('serves the passed port and metrics sockets, binds nothing, and keeps them from the workers', async (t) => {
    const [port, metrics] = [await freePort(), await freePort()];
    // systemd-socket-activate starts smegchat at the first connection, which waits in the queue meanwhile.
    const first = healthz(port);
    const sc = await startSmegchat(t, {
      launcher: [ACTIVATE!, '-l', `127.0.0.1:${port}`, '--fdname=web', '-l', `127.0.0.1:${metrics}`, '--fdname=metrics'],
      // The very addresses the launcher holds: a bind of either would fail with EADDRINUSE.
      args: ['--port', String(port), '--metrics', `127.0.0.1:${metrics}`],
    });
    assert.equal(await first, 200, 'the connection that came before smegchat ran is served');
    assert.equal(sc.port, port);
    assert.equal(sc.metricsPort, metrics);
    const said = await sc.waitForLog((r) => r.msg.startsWith('socket activation: serving'));
    assert.deepEqual(said['sockets'], [{ fd: 3, name: 'web', address: `127.0.0.1:${port}` }]);

    const c = await BoardClient.open(port, 'activated');
    c.send(stroke('a'));
    await c.waitForSeq(1);
    const res = await fetch(`http://127.0.0.1:${metrics}/metrics`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^smegchat_connections\b/m);

    // fd 3 and 4 are the supervisor's alone: close-on-exec, and LISTEN_* gone from what workers inherit.
    const passed = new Set([readlinkSync(`/proc/${sc.pid}/fd/3`), readlinkSync(`/proc/${sc.pid}/fd/4`)]);
    const workers = sc.workerPids();
    assert.equal(workers.length, 2);
    for (const pid of workers) {
      for (const s of socketsOf(pid)) assert.equal(passed.has(s), false, `worker ${pid} holds a passed socket ${s}`);
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      assert.deepEqual(
        env.filter((v) => v.startsWith('LISTEN_')),
        [],
      );
    }
    await c.close();
    assert.deepEqual(await sc.stop(), { code: 0, signal: null });
  });

  it('refuses a LISTEN_FDS systemd would never write, in one line, exit 78', async (t) => {
    const sc = await startSmegchat(t, {
      launcher: ['/bin/sh', '-c', 'LISTEN_PID=$$ LISTEN_FDS=many exec "$@"', 'sh'],
      waitReady: false,
    });
    assert.deepEqual(await sc.exited, { code: 78, signal: null });
    assert.equal(sc.stderr(), 'smegchat: socket activation: LISTEN_FDS must be a number of sockets from 0 to 64, got "many"\n');
  });
});
