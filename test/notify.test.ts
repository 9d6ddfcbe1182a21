/**
 * sd-notify: what createNotifier sends, checked against a NOTIFY_SOCKET this test
 * listens on, with the sender's pid as systemd would see it (NotifyAccess=main).
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createNotifier, notifySocketAddress, watchdogIntervalMs } from '@smegchat/supervisor/dist/sd-notify.js';
import { NotifyListener } from './lib/notify-listener.js';
import { isRoot, scratchDir } from './lib/scratch.js';

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
    execFile(
      process.execPath,
      ['--input-type=module', '-e', code],
      { env, timeout: 20_000, cwd: '/' },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
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
      it(`still reaches ${kind === 'path' ? 'a path' : 'an abstract'} socket the new user could not open`, { skip: !isRoot && 'needs root to setuid' }, async (t) => {
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
      });
    }
  });
});
