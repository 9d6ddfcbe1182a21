/**
 * Root starts it, nobody root serves it: the privilege drop, refusals with
 * one clear line, the pid file, and --daemon with -Q. As root (CI runs as
 * root); skipped otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BoardClient, stroke } from './lib/client.js';
import { isRoot, scratchDir } from './lib/scratch.js';
import { freePrivilegedPort } from './lib/service.js';
import { SMEGCHAT, isAlive, procIds, reachableScratchDir, startSmegchat, until } from './lib/smegchat.js';

const USER = 'smegchat-test';
const skip = isRoot ? false : 'needs root (CI runs as root)';

interface Ids {
  uid: number;
  gid: number;
}

function assertRunsAs(pid: number, ids: Ids, groups: number[] = [ids.gid]): void {
  const p = procIds(pid);
  assert.deepEqual(p.uid, [ids.uid, ids.uid, ids.uid, ids.uid], `pid ${pid} Uid`);
  assert.deepEqual(p.gid, [ids.gid, ids.gid, ids.gid, ids.gid], `pid ${pid} Gid`);
  assert.deepEqual(p.groups, groups, `pid ${pid} Groups`);
}

/** Runs smegchat to completion (it is expected to refuse), bounded. */
function runRefused(args: string[], opts: { uid?: number; gid?: number } = {}): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [SMEGCHAT, '--host', '127.0.0.1', '--workers', '1', ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    ...opts,
  });
  return { status: r.status, stderr: r.stderr };
}

function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
  assert.match(lines[0]!, /^smegchat: /);
  assert.match(lines[0]!, pattern);
}

describe('privilege drop', { skip }, () => {
  let ids: Ids;
  before(() => {
    // A system user of the test's own, as deploy/ makes smegchat.
    spawnSync('userdel', [USER], { stdio: 'ignore' });
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
    ids = {
      uid: Number(execFileSync('id', ['-u', USER], { encoding: 'utf8' })),
      gid: Number(execFileSync('id', ['-g', USER], { encoding: 'utf8' })),
    };
  });
  after(() => {
    spawnSync('userdel', [USER], { stdio: 'ignore' });
  });

  it('binds a port below 1024 as root, then serves as the service user only, also after a worker crash', async (t) => {
    const port = await freePrivilegedPort();
    const dir = reachableScratchDir(t, 'priv');
    const logFile = path.join(dir, 'log', 'smegchat.log');
    const pidFile = path.join(dir, 'smegchat.pid');
    const server = await startSmegchat(t, {
      workers: 2,
      args: ['--port', String(port), '--user', USER, '--group', USER, '--log-file', logFile, '--pid-file', pidFile],
      waitReady: false,
    });
    // With --log-file the log goes to the file; wait for the port to serve instead of a log line.
    let client: BoardClient | null = null;
    await until(
      'the server to serve',
      async () => (client = await BoardClient.open(port, 'priv', { ms: 2_000 }).catch(() => null)) !== null,
      20_000,
      100,
    );
    client!.send(stroke());
    await client!.waitForSeq(1);
    // Every worker serves (the log goes to the file here, so read it there).
    await until('the ready line', () => fs.readFileSync(logFile, 'utf8').includes('"msg":"ready"'), 20_000);

    assertRunsAs(server.pid, ids);
    const workers = server.workerPids();
    assert.equal(workers.length, 2);
    for (const pid of workers) assertRunsAs(pid, ids);

    // A replacement forked after the drop is not root either, and serves.
    process.kill(workers[0]!, 'SIGKILL');
    await until(
      'a replacement worker',
      () => {
        const now = server.workerPids();
        return now.length === 2 && !now.includes(workers[0]!);
      },
      15_000,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}; supervisor exit ${server.proc.exitCode}/${server.proc.signalCode}, stderr ${server.stderr()}; children ${server.workerPids().join(',')}; log:\n${fs
          .readFileSync(logFile, 'utf8')
          .split('\n')
          .filter((l) => !l.includes('"level":30'))
          .join('\n')}`,
      );
    });
    const replacement = server.workerPids().find((p) => !workers.includes(p))!;
    assertRunsAs(replacement, ids);
    // Once it serves, it has the fewest connections, so new clients land on it, and see the board.
    const clients: BoardClient[] = [];
    await until(
      'clients on both workers, the replacement included',
      async () => {
        clients.push(await BoardClient.open(port, 'priv'));
        return new Set(clients.map((c) => c.welcome.worker)).size === 2;
      },
      15_000,
    );
    assert.ok(clients.every((c) => c.welcome.seq === 1));

    // Files: the history, log and control socket belong to the service user; the pid file to root.
    const owned = (file: string): [number, number] => {
      const st = fs.statSync(file);
      return [st.uid, st.gid];
    };
    assert.deepEqual(owned(server.dataDir), [ids.uid, ids.gid]);
    assert.deepEqual(owned(path.join(server.dataDir, 'boards', 'priv.log')), [ids.uid, ids.gid]);
    assert.equal(fs.statSync(path.join(server.dataDir, 'boards', 'priv.log')).mode & 0o777, 0o600);
    assert.deepEqual(owned(logFile), [ids.uid, ids.gid]);
    assert.deepEqual(owned(server.control), [ids.uid, ids.gid]);
    assert.equal(fs.statSync(server.control).mode & 0o777, 0o660);
    assert.deepEqual(owned(pidFile), [0, 0]);
    assert.equal(fs.readFileSync(pidFile, 'utf8').trim(), String(server.pid));
    const log = fs
      .readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(log.some((r) => r['msg'] === 'privileges dropped' && r['uid'] === ids.uid));
    assert.ok(log.some((r) => typeof r['worker'] === 'number' && typeof r['pid'] === 'number'));

    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null });
    assert.equal(fs.existsSync(pidFile), true, "the pid file is root's: the service user cannot remove it from a root-owned directory");
  });

  it('refuses an unknown user, a port in use and an unusable data directory, each in one line', async (t) => {
    const dir = reachableScratchDir(t, 'refuse');
    const unknown = runRefused(['--port', '0', '--user', 'no-such-user-here', '--data-dir', path.join(dir, 'd1')]);
    assert.equal(unknown.status, 78);
    assertOneLine(unknown.stderr, /user "no-such-user-here" does not exist/);

    const asRoot = runRefused(['--port', '0', '--user', 'root', '--group', 'root', '--data-dir', path.join(dir, 'd2')]);
    assert.equal(asRoot.status, 78);
    assertOneLine(asRoot.stderr, /refusing to serve as root/);

    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    t.after(() => holder.close());
    const busy = (holder.address() as net.AddressInfo).port;
    const inUse = runRefused(['--port', String(busy), '--user', USER, '--group', USER, '--data-dir', path.join(dir, 'd3')]);
    assert.notEqual(inUse.status, 0);
    assertOneLine(inUse.stderr, new RegExp(`port 127\\.0\\.0\\.1:${busy} is already in use`));

    // A data directory path that cannot be a directory.
    fs.writeFileSync(path.join(dir, 'file'), '');
    const notDir = runRefused(['--port', '0', '--user', USER, '--group', USER, '--data-dir', path.join(dir, 'file', 'data')]);
    assert.notEqual(notDir.status, 0);
    assertOneLine(notDir.stderr, /cannot create directory .*file\/data: ENOTDIR/);

    // Not root: a data directory the user may not write.
    const rootOwned = path.join(dir, 'rootonly');
    fs.mkdirSync(rootOwned, { mode: 0o755 });
    const nobodys = path.join(dir, 'nobodys');
    fs.mkdirSync(nobodys);
    fs.chownSync(nobodys, 65534, 65534);
    const unwritable = runRefused(['--port', '0', '--data-dir', rootOwned, '--control', path.join(nobodys, 'c.sock')], {
      uid: 65534,
      gid: 65534,
    });
    assert.notEqual(unwritable.status, 0);
    assertOneLine(unwritable.stderr, /data directory .*rootonly is not usable: EACCES/);
  });

  it('falls back to nobody, with one warning line, when there is no smegchat user and no --user', async (t) => {
    if (spawnSync('getent', ['passwd', 'smegchat']).status === 0) {
      t.skip('this machine has a smegchat user: smegchat drops to it');
      return;
    }
    const server = await startSmegchat(t, { workers: 1, defaultUser: true });
    const warnings = server.logs.filter((r) => (r['level'] as number) >= 40);
    assert.deepEqual(
      warnings.map((r) => r.msg),
      ['user "smegchat" does not exist: serving as nobody:nogroup instead (deploy/install.sh creates smegchat; --user chooses another)'],
    );
    const nobody = { uid: 65534, gid: 65534 };
    assertRunsAs(server.pid, nobody);
    for (const pid of server.workerPids()) assertRunsAs(pid, nobody);
    assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null });
  });

  it('refuses, before creating anything, a data directory the service user cannot reach', (t) => {
    const locked = scratchDir(t, 'locked'); // mode 0700, root's
    const dataDir = path.join(locked, 'data');
    const r = runRefused(['--port', '0', '--user', USER, '--group', USER, '--data-dir', dataDir]);
    assert.equal(r.status, 78);
    assertOneLine(
      r.stderr,
      new RegExp(`user ${USER} cannot reach the data directory ${dataDir}: ${locked} is mode 0700, owner root\\. Choose a --data-dir`),
    );
    assert.equal(fs.existsSync(dataDir), false);
  });

  it('runs as the invoking user when not started as root', async (t) => {
    const dir = reachableScratchDir(t, 'plain');
    fs.chownSync(dir, 65534, 65534);
    const proc = spawn(
      process.execPath,
      [SMEGCHAT, '--port', '0', '--host', '127.0.0.1', '--workers', '1', '--data-dir', path.join(dir, 'data')],
      {
        uid: 65534,
        gid: 65534,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    t.after(() => proc.kill('SIGKILL'));
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    await until('ready', () => out.includes('"msg":"ready"'), 20_000);
    // Spawned with uid/gid, it has no supplementary groups at all.
    assertRunsAs(proc.pid!, { uid: 65534, gid: 65534 }, []);
    assert.match(out, /not started as root: running as the current user/);
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  });
});

describe('--daemon', { skip }, () => {
  it('detaches into its own session with cwd /, writes its pid file, and -Q stops it', async (t) => {
    const dir = reachableScratchDir(t, 'daemon');
    const pidFile = path.join(dir, 'run', 'smegchat.pid');
    const control = path.join(dir, 'run', 'control.sock');
    const logFile = path.join(dir, 'smegchat.log');
    const common = ['--control', control, '--pid-file', pidFile];
    const launch = spawnSync(
      process.execPath,
      [
        SMEGCHAT,
        '--daemon',
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--workers',
        '2',
        '--user',
        'nobody',
        '--group',
        'nogroup',
        '--data-dir',
        path.join(dir, 'data'),
        '--log-file',
        logFile,
        ...common,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(launch.status, 0, launch.stderr);
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    t.after(() => {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    });
    assert.match(launch.stdout, new RegExp(`running in the background as pid ${pid}`));
    // /proc/PID/stat: field 6 is the session id, field 7 the controlling terminal.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    assert.equal(Number(fields[3]), pid, 'session leader');
    assert.equal(Number(fields[4]), 0, 'no controlling terminal');
    assert.equal(fs.readlinkSync(`/proc/${pid}/cwd`), '/');
    for (const fd of [0, 1, 2]) {
      const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      assert.ok(target === '/dev/null' || target === logFile, `fd ${fd} is ${target}`);
    }
    const port = Number(/port (\d+)/.exec(launch.stdout)![1]);
    const c = await BoardClient.open(port, 'daemon');
    c.send(stroke());
    await c.waitForSeq(1);

    const quit = spawnSync(process.execPath, [SMEGCHAT, '-Q', ...common], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(quit.status, 0, quit.stderr);
    assert.equal(isAlive(pid), false);
    assert.equal((await c.closed).code, 1001);
  });

  it('exits non-zero with the reason when the daemon cannot start', async (t) => {
    const dir = reachableScratchDir(t, 'daemon-fail');
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    t.after(() => holder.close());
    const busy = (holder.address() as net.AddressInfo).port;
    const launch = spawnSync(
      process.execPath,
      [
        SMEGCHAT,
        '--daemon',
        '--port',
        String(busy),
        '--host',
        '127.0.0.1',
        '--user',
        'nobody',
        '--group',
        'nogroup',
        '--data-dir',
        path.join(dir, 'data'),
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.notEqual(launch.status, 0);
    assert.match(launch.stderr, /already in use/);
  });

  it('detects a stale pid file instead of trusting it', async (t) => {
    const dir = reachableScratchDir(t, 'stale');
    const pidFile = path.join(dir, 'smegchat.pid');
    fs.writeFileSync(pidFile, '999999\n'); // no such process
    const server = await startSmegchat(t, { workers: 1, args: ['--pid-file', pidFile] });
    assert.equal(fs.readFileSync(pidFile, 'utf8').trim(), String(server.pid));
    // A live one is not overwritten.
    const second = runRefused([
      '--port',
      '0',
      '--user',
      'nobody',
      '--group',
      'nogroup',
      '--data-dir',
      path.join(dir, 'd2'),
      '--control',
      path.join(dir, 'c2.sock'),
      '--pid-file',
      pidFile,
    ]);
    assert.notEqual(second.status, 0);
    assertOneLine(second.stderr, new RegExp(`already running as pid ${server.pid}`));
  });
});
