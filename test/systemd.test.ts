/**
 * smegchat installed by deploy/install.sh into a real systemd (PID 1 in a sandbox of
 * namespaces, test/lib/systemd-sandbox.sh) and run by the hardened unit, on the port
 * its socket unit holds, as smegchat from the start: start returns
 * on READY=1 with every worker serving, smegctl reaches it as root and as the group
 * only, reload replaces the workers, a kill -9 of the supervisor is undone by Restart=
 * with the board intact, stop is graceful, and the journal holds our bunyan lines.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { BoardClient, stroke } from './lib/client.js';
import { bootSandbox, sandboxUnavailable, type Sandbox } from './lib/sandbox.js';
import { UNIT, freePrivilegedPort, installService, show, start, status } from './lib/service.js';
import { REPO_ROOT } from './lib/scratch.js';

const BOARD = 'systemd-board';
/** The installed unit's `systemd-analyze security` figure at most (deploy.test.ts checks the file offline). */
const MAX_EXPOSURE = 1.1;

/** Polls cond until it holds, at most ms: for state systemd only shows when asked. */
async function until(what: string, cond: () => Promise<boolean>, ms = 30_000, stepMs = 100): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Real, effective, saved and file-system uid and gid of a process in the sandbox, from /proc. */
async function ids(sb: Sandbox, pid: number): Promise<{ uid: number[]; gid: number[] }> {
  const lines = (await sb.ok(['cat', `/proc/${pid}/status`])).split('\n');
  const field = (key: string): number[] =>
    lines
      .find((l) => l.startsWith(`${key}:`))!
      .split(/\s+/)
      .slice(1)
      .map(Number);
  return { uid: field('Uid'), gid: field('Gid') };
}

describe('smegchat under a real systemd', { skip: sandboxUnavailable() ?? false }, () => {
  it('installs, starts on READY=1, serves as smegchat, reloads, restarts after kill -9 and a watchdog timeout, stops, uninstalls', async (t) => {
    const t0 = performance.now();
    const sb = await bootSandbox(t);
    t.diagnostic(`sandbox booted in ${Math.round(performance.now() - t0)} ms`);
    const port = await freePrivilegedPort();

    const { uid, gid, config } = await installService(sb, port);

    // --- start: returns on READY=1, and READY=1 means a client is welcomed at once.
    await start(sb);
    const c1 = await BoardClient.open(port, BOARD, { ms: 3000 });
    const started = await show(sb, 'MainPID', 'ActiveState', 'SubState', 'StatusText', 'NRestarts');
    assert.equal(started['ActiveState'], 'active');
    assert.equal(started['SubState'], 'running');
    assert.match(started['StatusText']!, /^2\/2 workers ready/);
    const mainPid = Number(started['MainPID']);
    c1.send(stroke('first'));
    await c1.waitForSeq(1);

    // --- nothing of ours runs as root, ever, nor holds a capability; the port is the socket unit's.
    const socketUnit = (await sb.ok(['systemctl', 'show', '-p', 'ActiveState', '-p', 'Listen', 'smegchat.socket'])).trim().split('\n');
    assert.deepEqual(socketUnit.sort(), ['ActiveState=active', `Listen=127.0.0.1:${port} (Stream)`]);
    const st = await status(sb);
    assert.equal(st.supervisor.pid, mainPid);
    assert.equal(st.supervisor.uid, uid);
    // The two workers, then the warm spare (the default --spares 1), which has no worker number and runs as they do.
    assert.deepEqual(
      st.workers.map((w) => w.id),
      [1, 2, null],
    );
    for (const pid of [mainPid, ...st.workers.map((w) => w.pid!)]) {
      assert.deepEqual(await ids(sb, pid), { uid: [uid, uid, uid, uid], gid: [gid, gid, gid, gid] }, `pid ${pid}`);
      assert.match(await sb.ok(['grep', '^CapBnd:', `/proc/${pid}/status`]), /^CapBnd:\s+0+$/m, `pid ${pid} has no capability`);
    }

    // --- the installed unit's rating, as systemd itself computes it for the running service.
    const security = await sb.ok(['systemd-analyze', 'security', '--no-pager', UNIT]);
    const rating = /Overall exposure level for smegchat\.service: (\d+\.\d+)/.exec(security);
    assert.ok(rating !== null && Number(rating[1]) <= MAX_EXPOSURE, security.split('\n').slice(-3).join('\n'));
    t.diagnostic(`systemd-analyze security of the running unit: ${rating[1]}`);

    // --- smegctl: root and the group smegchat, nobody else.
    assert.match(await sb.ok(['smegctl', 'status']), /2\/2 ready/);
    assert.equal((await sb.run(['runuser', '-u', 'smegchat', '--', 'smegctl', 'status'])).code, 0);
    assert.notEqual((await sb.run(['runuser', '-u', 'nobody', '--', 'smegctl', 'status'])).code, 0);
    assert.equal((await sb.ok(['stat', '-c', '%a %U %G', '/run/smegchat'])).trim(), '750 smegchat smegchat');
    assert.match((await sb.ok(['stat', '-c', '%a %G', '/run/smegchat/control.sock'])).trim(), /^660 smegchat$/);

    // --- reload: every worker replaced, the supervisor kept, its clients told 1012.
    const before = st.workers.filter((w) => w.id !== null).map((w) => w.pid);
    await sb.ok(['systemctl', 'reload', UNIT]);
    assert.equal((await c1.closed).code, 1012);
    await until('both workers replaced and ready', async () => {
      const s = await status(sb);
      const slots = s.workers.filter((w) => w.id !== null);
      return slots.length === 2 && slots.every((w) => w.state === 'ready' && !before.includes(w.pid));
    });
    await until('systemd back to running after RELOADING=1/READY=1', async () => (await show(sb, 'SubState'))['SubState'] === 'running');
    const reloaded = await show(sb, 'MainPID', 'NRestarts');
    assert.equal(Number(reloaded['MainPID']), mainPid);
    assert.equal(reloaded['NRestarts'], '0');
    const c2 = await BoardClient.open(port, BOARD, { ms: 3000 });
    await c2.waitForSeq(1);
    c2.send(stroke('second'));
    await c2.waitForSeq(2);

    // --- kill -9 of the supervisor: Restart= brings it back, on the same history.
    await sb.ok(['kill', '-9', String(mainPid)]);
    await until('a restarted, ready supervisor', async () => {
      const s = await show(sb, 'MainPID', 'ActiveState', 'SubState', 'NRestarts');
      return (
        s['NRestarts'] === '1' &&
        s['ActiveState'] === 'active' &&
        s['SubState'] === 'running' &&
        !['0', String(mainPid)].includes(s['MainPID']!)
      );
    });
    const c3 = await BoardClient.open(port, BOARD, { ms: 3000 });
    await c3.waitForSeq(2);
    assert.equal(c3.welcome.epoch, c1.welcome.epoch, 'the same history, not a new one');
    assert.deepEqual(
      c3.board.map((m) => m.seq),
      [1, 2],
    );
    // The restarted supervisor, smegchat at once, still appends to the log it wrote before.
    c3.send(stroke('third'));
    await c3.waitForSeq(3);
    const owners = (await sb.ok(['find', '/var/lib/smegchat', '-printf', '%u:%g %p\n'])).trim().split('\n');
    for (const line of owners) assert.match(line, /^smegchat:smegchat /, line);

    // --- stop: graceful, clients told 1001, a clean exit for systemd.
    await sb.ok(['systemctl', 'stop', UNIT], 60_000);
    assert.equal((await c3.closed).code, 1001);
    assert.deepEqual(await show(sb, 'ActiveState', 'Result'), { ActiveState: 'inactive', Result: 'success' });

    // --- the journal: bunyan JSON lines from the supervisor and the workers.
    const journal = await sb.ok(['journalctl', '-u', UNIT, '-o', 'cat', '--no-pager']);
    const records = journal
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { name: string; msg: string; pid: number; level: number });
    assert.ok(records.length > 0, journal);
    for (const r of records) assert.equal(r.name, 'smegchat');
    const msgs = new Set(records.map((r) => r.msg));
    for (const m of ['ready', 'rolling reload done', 'stopped']) assert.ok(msgs.has(m), `journal has "${m}"`);
    assert.ok(
      records.some((r) => r.msg.startsWith('socket activation: serving') && r.pid === mainPid),
      'the supervisor served the passed socket',
    );
    assert.ok(!msgs.has('privileges dropped'), 'nothing to drop: never root');
    assert.ok(records.some((r) => r.msg === 'ready' && r.pid === mainPid));

    // --- the watchdog: a drop-in asks for keep-alives every second.
    await sb.ok(['mkdir', '-p', `/etc/systemd/system/${UNIT}.d`]);
    // SIGKILL, not the default SIGABRT: no core dump from a test, wherever core_pattern points.
    await sb.ok(['sh', '-c', `printf '[Service]\\nWatchdogSec=2s\\nWatchdogSignal=SIGKILL\\n' > /etc/systemd/system/${UNIT}.d/test.conf`]);
    await sb.ok(['systemctl', 'daemon-reload']);
    await start(sb);
    const watched = await show(sb, 'MainPID', 'WatchdogUSec', 'NRestarts');
    assert.equal(watched['WatchdogUSec'], '2s');
    // systemd stamps each WATCHDOG=1 it accepts: from the main pid, after the drop.
    const stamp = async (): Promise<string> => (await show(sb, 'WatchdogTimestampMonotonic'))['WatchdogTimestampMonotonic']!;
    const first = await stamp();
    await until('a keep-alive accepted', async () => (await stamp()) !== first, 10_000);
    const second = await stamp();
    await until('another keep-alive accepted', async () => (await stamp()) !== second, 10_000);
    // A worker that stops answering: no keep-alive, so systemd kills and restarts the service.
    const stuck = (await status(sb)).workers[0]!.pid!;
    await sb.ok(['kill', '-STOP', String(stuck)]);
    await until('a restart by the watchdog', async () => {
      const s = await show(sb, 'MainPID', 'ActiveState', 'SubState', 'NRestarts');
      return Number(s['NRestarts']) > Number(watched['NRestarts']) && s['SubState'] === 'running' && s['MainPID'] !== watched['MainPID'];
    });
    assert.match(await sb.ok(['journalctl', '-u', UNIT, '-o', 'cat', '--no-pager']), /Watchdog timeout/);
    await sb.ok(['systemctl', 'stop', UNIT], 60_000);

    // --- a log file, reopened after logrotate's move by our postrotate script.
    const logFile = '/var/log/smegchat/smegchat.log';
    await sb.ok(['sh', '-c', 'printf %s "$1" > /etc/smegchat/config.json', 'sh', JSON.stringify({ ...config, 'log-file': logFile })]);
    await start(sb);
    assert.equal((await sb.ok(['stat', '-c', '%U:%G', logFile])).trim(), 'smegchat:smegchat');
    assert.match(await sb.ok(['cat', logFile]), /"msg":"ready"/);
    await sb.ok(['mv', logFile, `${logFile}.1`]);
    const rotate = readFileSync(path.join(REPO_ROOT, 'deploy/logrotate.d/smegchat'), 'utf8');
    const postrotate = /^\s*postrotate\n([\s\S]*?)^\s*endscript/m.exec(rotate)![1]!;
    await sb.ok(['sh', '-c', postrotate]);
    await until('the log file reopened', async () => /"msg":"log file reopened"/.test((await sb.run(['cat', logFile])).stdout), 10_000);
    // And a restart finds a log file that belongs to smegchat, not to root, and goes on with it.
    await sb.ok(['systemctl', 'restart', UNIT], 90_000);
    await until(
      'the restarted supervisor logging to the same file',
      async () => {
        const lines = (await sb.run(['cat', logFile])).stdout.split('\n').filter((l) => l.includes('"msg":"ready"'));
        return lines.length >= 1;
      },
      10_000,
    );
    await sb.ok(['systemctl', 'stop', UNIT], 60_000);

    // --- uninstall leaves nothing of the program behind.
    await sb.ok([path.join(REPO_ROOT, 'deploy/install.sh'), '--uninstall', '--purge'], 60_000);
    assert.notEqual((await sb.run(['systemctl', 'cat', UNIT])).code, 0);
    assert.notEqual((await sb.run(['test', '-e', '/usr/lib/smegchat'])).code, 0);
    assert.notEqual((await sb.run(['test', '-e', '/var/lib/smegchat'])).code, 0);
    t.diagnostic(`whole run ${Math.round(performance.now() - t0)} ms`);
  });
});
