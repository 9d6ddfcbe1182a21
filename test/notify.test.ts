/**
 * sd-notify: what createNotifier sends, checked against a NOTIFY_SOCKET this test
 * listens on, with the sender's pid as systemd would see it (NotifyAccess=main).
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createNotifier, notifySocketAddress, watchdogIntervalMs } from '@smegchat/supervisor/dist/sd-notify.js';
import { BoardClient } from './lib/client.js';
import { NotifyListener, type NotifyMessage } from './lib/notify-listener.js';
import { isRoot, scratchDir } from './lib/scratch.js';
import { startSmegchat, until, type Smegchat } from './lib/smegchat.js';

const WAIT_MS = 5000;
const SD_NOTIFY_JS = import.meta.resolve('@smegchat/supervisor/dist/sd-notify.js');

function listen(t: TestContext, socketPath: string): NotifyListener {
  const l = NotifyListener.open(socketPath);
  t.after(() => l.close());
  return l;
}

/** A name in the abstract namespace no other run uses (no file anywhere). */
function abstractName(): string {
  return `@smegchat-test-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** Runs a node ES module snippet as a child; resolves with its stdout, bounded. */
function runNode(code: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', code], { env, timeout: 20_000, cwd: '/' }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

describe('sd-notify', () => {
  describe('createNotifier without NOTIFY_SOCKET', () => {
    it('is a no-op that loads nothing native', async () => {
      const out = await runNode(
        `import { createRequire } from 'node:module';
         const { createNotifier } = await import(${JSON.stringify(SD_NOTIFY_JS)});
         const n = createNotifier();
         const r = [n.ready('x'), n.reloading(), n.stopping(), n.status('s'), n.watchdog()];
         const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('koffi'));
         console.log(JSON.stringify({ enabled: n.enabled, wd: n.watchdogIntervalMs, r, loaded }));`,
        { PATH: process.env['PATH'], WATCHDOG_USEC: '1000000' },
      );
      assert.deepEqual(JSON.parse(out), { enabled: false, wd: null, r: [null, null, null, null, null], loaded: [] });
    });
  });

  describe('sending', () => {
    for (const kind of ['path', 'abstract'] as const) {
      it(`sends each state to a ${kind} socket, from our own pid`, async (t) => {
        const socketPath = kind === 'path' ? path.join(scratchDir(t, 'notify'), 'notify.sock') : abstractName();
        const l = listen(t, socketPath);
        const n = createNotifier({ NOTIFY_SOCKET: socketPath });
        t.after(() => n.close());
        assert.equal(n.enabled, true);
        assert.equal(n.watchdogIntervalMs, null);

        assert.equal(n.ready('2 of 2 workers ready'), null);
        assert.equal(n.reloading('reloading\nworker 1'), null);
        assert.equal(n.status('1 of 2 workers reloaded'), null);
        assert.equal(n.ready(), null);
        assert.equal(n.watchdog(), null);
        assert.equal(n.stopping(), null);
        const { index } = await l.waitFor((m) => m.fields['STOPPING'] === '1', WAIT_MS);
        const got = l.messages.slice(0, index + 1);
        assert.deepEqual(
          got.map((m) => m.raw.replace(/MONOTONIC_USEC=\d+/, 'MONOTONIC_USEC=N')),
          [
            'READY=1\nSTATUS=2 of 2 workers ready',
            // a STATUS= value is one line: the newline became a space
            'RELOADING=1\nMONOTONIC_USEC=N\nSTATUS=reloading worker 1',
            'STATUS=1 of 2 workers reloaded',
            'READY=1',
            'WATCHDOG=1',
            'STOPPING=1',
          ],
        );
        for (const m of got) assert.equal(m.pid, process.pid, 'the kernel names our pid as the sender');
        // systemd compares MONOTONIC_USEC with its own CLOCK_MONOTONIC: ours must be that clock.
        const mono = Number(got[1]!.fields['MONOTONIC_USEC']);
        const uptimeUs = Number(process.hrtime.bigint() / 1000n);
        assert.ok(mono > 0 && mono <= uptimeUs, `MONOTONIC_USEC ${mono} within CLOCK_MONOTONIC ${uptimeUs}`);
      });
    }

    it('returns an error instead of throwing when nobody listens, and sends once someone does', async (t) => {
      const socketPath = path.join(scratchDir(t, 'notify'), 'late.sock');
      const n = createNotifier({ NOTIFY_SOCKET: socketPath });
      t.after(() => n.close());
      assert.equal(n.enabled, true);
      const err = n.ready() as NodeJS.ErrnoException | null;
      assert.ok(err instanceof Error);
      assert.equal(err.code, 'ENOENT');
      assert.match(err.message, /late\.sock/);
      const l = listen(t, socketPath);
      assert.equal(n.ready('late'), null);
      await l.waitFor((m) => m.fields['READY'] === '1', WAIT_MS);
    });

    it('reconnects when the listener is recreated (systemctl daemon-reexec)', async (t) => {
      const socketPath = path.join(scratchDir(t, 'notify'), 'reexec.sock');
      const first = NotifyListener.open(socketPath);
      const n = createNotifier({ NOTIFY_SOCKET: socketPath });
      t.after(() => n.close());
      assert.equal(n.status('one'), null);
      await first.waitFor((m) => m.fields['STATUS'] === 'one', WAIT_MS);
      first.close();
      unlinkSync(socketPath);
      const second = listen(t, socketPath);
      assert.equal(n.status('two'), null);
      await second.waitFor((m) => m.fields['STATUS'] === 'two', WAIT_MS);
    });

    it('refuses a relative NOTIFY_SOCKET with an error, not a throw', (t) => {
      const n = createNotifier({ NOTIFY_SOCKET: 'relative/notify.sock' });
      t.after(() => n.close());
      assert.equal(n.enabled, true);
      assert.match(String(n.ready()), /absolute path/);
    });

    it('encodes abstract addresses with their exact length', () => {
      const a = notifySocketAddress('@abc');
      assert.deepEqual([...a], [1, 0, 0, 0x61, 0x62, 0x63]);
      assert.equal(notifySocketAddress('/run/systemd/notify').toString('latin1', 2, 21), '/run/systemd/notify');
    });
  });

  describe('watchdog', () => {
    it('asks for half of WATCHDOG_USEC, only when it is meant for us', () => {
      assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '2000000' }, 42), 1000);
      assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '2000000', WATCHDOG_PID: '42' }, 42), 1000);
      assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '2000000', WATCHDOG_PID: '43' }, 42), null);
      assert.equal(watchdogIntervalMs({}, 42), null);
      assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: 'x' }, 42), null);
      assert.equal(watchdogIntervalMs({ WATCHDOG_USEC: '0' }, 42), null);
      const n = createNotifier({ NOTIFY_SOCKET: abstractName(), WATCHDOG_USEC: '3000000' }, { pid: 7 });
      assert.equal(n.watchdogIntervalMs, 1500);
      n.close();
    });

    it('takes NOTIFY_SOCKET and WATCHDOG_* out of the environment workers will inherit', () => {
      const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: abstractName(), WATCHDOG_USEC: '1000', WATCHDOG_PID: '1', KEEP: 'x' };
      const n = createNotifier(env, { unsetEnvironment: true });
      n.close();
      assert.deepEqual(env, { KEEP: 'x' });
      const kept: NodeJS.ProcessEnv = { NOTIFY_SOCKET: abstractName() };
      createNotifier(kept).close(); // not process.env: left alone by default
      assert.ok(kept['NOTIFY_SOCKET']);
    });
  });

  describe('after the privilege drop', () => {
    for (const kind of ['path', 'abstract'] as const) {
      it(
        `still reaches ${kind === 'path' ? 'a path' : 'an abstract'} socket the new user could not open`,
        { skip: !isRoot && 'needs root to setuid' },
        async (t) => {
          let socketPath: string;
          if (kind === 'path') {
            // A directory only root may enter, as /run/systemd is for everyone but root to write.
            const dir = path.join(scratchDir(t, 'notify'), 'root-only');
            mkdirSync(dir);
            chmodSync(dir, 0o700);
            socketPath = path.join(dir, 'notify.sock');
          } else {
            socketPath = abstractName();
          }
          const l = listen(t, socketPath);
          const out = await runNode(
            `const { createNotifier } = await import(${JSON.stringify(SD_NOTIFY_JS)});
           const n = createNotifier();               // connects now, as root
           process.setgroups([]); process.setgid(65534); process.setuid(65534);
           let regained = true; try { process.setuid(0); } catch { regained = false; }
           const err = n.ready('dropped');
           const fresh = createNotifier({ NOTIFY_SOCKET: ${JSON.stringify(socketPath)} }).ready('fresh');
           console.log(JSON.stringify({ err: err && err.message, fresh: fresh && fresh.code, regained, pid: process.pid,
                                        env: process.env.NOTIFY_SOCKET ?? null }));`,
            { PATH: process.env['PATH'], NOTIFY_SOCKET: socketPath },
          );
          const r = JSON.parse(out) as { err: string | null; fresh: string | null; regained: boolean; pid: number; env: string | null };
          assert.equal(r.regained, false);
          assert.equal(r.err, null, 'the socket connected before the drop still sends');
          assert.equal(r.env, null, 'NOTIFY_SOCKET is gone from process.env, so workers would not inherit it');
          const { message } = await l.waitFor((m) => m.fields['STATUS'] === 'dropped', WAIT_MS);
          assert.equal(message.pid, r.pid);
          assert.equal(message.uid, 65534);
          if (kind === 'path') {
            // Proof the test means something: opened after the drop, the path is out of reach.
            assert.equal(r.fresh, 'EACCES');
          } else {
            assert.equal(r.fresh, null);
          }
        },
      );
    }
  });

  describe('smegchat --service', () => {
    /**
     * A supervisor with NOTIFY_SOCKET set, listened on by the test. As root it drops to
     * nobody, and the socket sits in a directory only root may enter: every message
     * after the drop proves the socket opened before it still works.
     */
    async function serve(t: TestContext, env: NodeJS.ProcessEnv = {}): Promise<{ s: Smegchat; l: NotifyListener; ready: NotifyMessage }> {
      const dir = path.join(scratchDir(t, 'notify'), 'root-only');
      mkdirSync(dir, { mode: 0o700 });
      const l = listen(t, path.join(dir, 'notify.sock'));
      const s = await startSmegchat(t, { workers: 2, args: ['--service'], env: { NOTIFY_SOCKET: l.socketPath, ...env }, waitReady: false });
      const { message: ready } = await l.waitFor((m) => m.fields['READY'] === '1', 30_000);
      return { s, l, ready };
    }

    const ours = (s: Smegchat, m: NotifyMessage): void => {
      // NotifyAccess=main: systemd takes a message only from the main pid.
      assert.equal(m.pid, s.pid, `${JSON.stringify(m.raw)} sent by pid ${m.pid}, not the supervisor ${s.pid}`);
      if (isRoot) assert.equal(m.uid, 65534, 'sent after the drop to nobody');
    };

    async function workersReady(s: Smegchat): Promise<{ id: number; pid: number | null; state: string }[]> {
      const out = await new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          [path.join(path.dirname(fileURLToPath(SD_NOTIFY_JS)), '../bin/smegctl.js'), '--control', s.control, 'status', '--json'],
          { timeout: 10_000 },
          (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout)),
        ),
      );
      return (JSON.parse(out) as { workers: { id: number; pid: number | null; state: string }[] }).workers;
    }

    it('sends READY=1 only when a client connecting gets its welcome at once', async (t) => {
      const { s, l, ready } = await serve(t);
      // Right now, before anything else happens: every worker serves and a client is welcomed.
      const workers = await workersReady(s);
      assert.deepEqual(
        workers.map((w) => w.state),
        ['ready', 'ready'],
      );
      const rec = await s.waitForLog((r) => r.msg === 'ready', 5000);
      const c = await BoardClient.open(rec['port'] as number, 'notify-ready', { ms: 2000 });
      await c.close();
      ours(s, ready);
      assert.match(ready.fields['STATUS'] ?? '', /^2\/2 workers ready/);
      // Nothing claimed readiness earlier.
      assert.equal(l.messages.filter((m) => m.fields['READY'] === '1').length, 1);
      assert.equal(
        l.messages.findIndex((m) => m.fields['READY'] === '1'),
        l.messages.indexOf(ready),
      );
    });

    it('sends RELOADING=1, then READY=1 once the reload is done, around SIGHUP', async (t) => {
      const { s, l, ready } = await serve(t);
      const before = s.workerPids();
      s.proc.kill('SIGHUP');
      const reloading = await l.waitFor((m) => m.fields['RELOADING'] === '1', 10_000, l.messages.indexOf(ready) + 1);
      ours(s, reloading.message);
      assert.match(reloading.message.fields['MONOTONIC_USEC'] ?? '', /^\d+$/);
      const again = await l.waitFor((m) => m.fields['READY'] === '1', 30_000, reloading.index + 1);
      ours(s, again.message);
      // READY=1 again means done: every worker replaced, serving.
      const workers = await workersReady(s);
      assert.deepEqual(
        workers.map((w) => w.state),
        ['ready', 'ready'],
      );
      for (const w of workers) assert.ok(!before.includes(w.pid!), `worker ${w.id} was replaced`);
      await s.waitForLog((r) => r.msg === 'rolling reload done', 5000);
    });

    it('sends STOPPING=1 on SIGTERM, and exits cleanly', async (t) => {
      const { s, l, ready } = await serve(t);
      const exit = s.stop('SIGTERM');
      const stopping = await l.waitFor((m) => m.fields['STOPPING'] === '1', 10_000, l.messages.indexOf(ready) + 1);
      ours(s, stopping.message);
      assert.deepEqual(await exit, { code: 0, signal: null });
    });

    it('sends WATCHDOG=1 at half of WATCHDOG_USEC, and withholds it while a worker does not answer', async (t) => {
      const intervalMs = 100;
      const { s, l } = await serve(t, { WATCHDOG_USEC: String(intervalMs * 2 * 1000) });
      const dogs = (): NotifyMessage[] => l.messages.filter((m) => m.fields['WATCHDOG'] === '1');
      await until('10 keep-alives', () => dogs().length >= 10, 20_000);
      const d = dogs().slice(0, 10);
      for (const m of d) ours(s, m);
      // The sender's ticks are intervalMs apart; the receiving side can only bunch them up
      // a little (it reads them in batches), never spread ten over less than 9 intervals' worth.
      const span = d[9]!.at - d[0]!.at;
      assert.ok(span >= 9 * intervalMs * 0.7, `10 keep-alives over ${span.toFixed(0)} ms: faster than every ${intervalMs} ms`);
      assert.ok(span <= 9 * intervalMs * 5, `10 keep-alives over ${span.toFixed(0)} ms: far slower than every ${intervalMs} ms`);

      // A worker that stops answering: the keep-alive stops (systemd would then restart us).
      const [stuck] = s.workerPids();
      process.kill(stuck!, 'SIGSTOP');
      t.after(() => {
        try {
          process.kill(stuck!, 'SIGCONT');
        } catch {
          // gone
        }
      });
      const withheld = (r: { msg: string }): boolean => /keep-alive withheld/.test(r.msg);
      await s.waitForLog(withheld, 10_000);
      const atFirst = dogs().length;
      await until('two more withheld ticks', () => s.logs.filter(withheld).length >= 3, 10_000);
      // One keep-alive sent just before the first withheld tick may still have been in flight.
      assert.ok(dogs().length - atFirst <= 1, `${dogs().length - atFirst} keep-alives while a worker was stopped`);
      process.kill(stuck!, 'SIGCONT');
      const resumedFrom = dogs().length;
      await until('keep-alives again', () => dogs().length > resumedFrom + 1, 10_000);
    });

    it('sends no WATCHDOG=1 when WATCHDOG_PID names another process', async (t) => {
      const { s, l } = await serve(t, { WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' });
      // Absence needs a wait: 20 intervals of the 50 ms it would have used.
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(l.messages.filter((m) => m.fields['WATCHDOG'] === '1').length, 0);
      ours(s, l.messages[0]!);
    });
  });
});
