/**
 * deploy/: the unit passes systemd's own checks without a warning and keeps its
 * security rating; install.sh stages a complete, production-only program, keeps an
 * admin's config, and removes what it installed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BACKLOG } from '@smegchat/supervisor/dist/connections/listener.js';
import { REPO_ROOT, scratchDir } from './lib/scratch.js';

const DEPLOY = path.join(REPO_ROOT, 'deploy');
/** The worst rating we accept; lower it when the unit gets better (deploy/README.md says why it is here). */
const MAX_EXPOSURE = 1.1;

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { ...opts, timeout: 120_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const hasSystemdAnalyze = existsSync('/usr/bin/systemd-analyze') || existsSync('/bin/systemd-analyze');

/** The unit with an ExecStart that exists here, so verify checks everything else; its socket unit beside it. */
function unitForAnalysis(dir: string): string {
  const unit = readFileSync(path.join(DEPLOY, 'smegchat.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/smegchat --service --config \/etc\/smegchat\/config\.json$/m);
  const file = path.join(dir, 'smegchat.service');
  writeFileSync(file, unit.replace(/^ExecStart=\/usr\/bin\/smegchat /m, `ExecStart=${process.execPath} `));
  writeFileSync(path.join(dir, 'smegchat.socket'), readFileSync(path.join(DEPLOY, 'smegchat.socket')));
  return file;
}

describe('deploy/smegchat.service', { skip: !hasSystemdAnalyze && 'systemd-analyze is not installed' }, () => {
  it('passes systemd-analyze verify without a single warning', async (t) => {
    const file = unitForAnalysis(scratchDir(t, 'verify'));
    const r = await run('systemd-analyze', ['verify', file, path.join(path.dirname(file), 'smegchat.socket')]);
    // verify exits 0 even on unknown keys: its stderr is the verdict.
    assert.equal(r.stderr.trim(), '', `systemd-analyze verify complained:\n${r.stderr}`);
    assert.equal(r.code, 0);
  });

  it(`rates at most ${MAX_EXPOSURE} in systemd-analyze security`, async (t) => {
    const file = unitForAnalysis(scratchDir(t, 'security'));
    const r = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', file]);
    const m = /Overall exposure level for smegchat\.service: (\d+\.\d+) (\S+)/.exec(r.stdout);
    assert.ok(m, `no rating in:\n${r.stdout}\n${r.stderr}`);
    const rating = Number(m[1]);
    t.diagnostic(`systemd-analyze security: ${rating} ${m[2]}`);
    assert.ok(rating <= MAX_EXPOSURE, `exposure ${rating} > ${MAX_EXPOSURE}:\n${r.stdout}`);
    // The design: the service user from the start, no capability at all, the port in the socket unit; no MDWE (V8's JIT).
    const unit = readFileSync(file, 'utf8');
    assert.match(unit, /^User=smegchat$/m);
    assert.match(unit, /^CapabilityBoundingSet=$/m);
    assert.match(unit, /^Requires=smegchat\.socket$/m);
    assert.match(unit, /^NotifyAccess=main$/m);
    assert.match(unit, /^KillMode=mixed$/m);
    assert.match(unit, /^SystemCallFilter=~@privileged /m);
    assert.doesNotMatch(unit, /^MemoryDenyWriteExecute=yes/m);
    const socket = readFileSync(path.join(DEPLOY, 'smegchat.socket'), 'utf8');
    assert.match(socket, /^FileDescriptorName=web$/m);
    // The backlog the supervisor listens with again on the passed socket (Listener's BACKLOG).
    assert.match(socket, new RegExp(`^Backlog=${BACKLOG}$`, 'm'));
  });
});

describe(
  'deploy/sysusers.d',
  { skip: !existsSync('/usr/bin/systemd-sysusers') && !existsSync('/bin/systemd-sysusers') && 'no systemd-sysusers' },
  () => {
    it('creates the system user and group smegchat', async (t) => {
      const root = scratchDir(t, 'sysroot');
      mkdirSync(path.join(root, 'etc'));
      const r = await run('systemd-sysusers', [`--root=${root}`, path.join(DEPLOY, 'sysusers.d/smegchat.conf')]);
      assert.equal(r.code, 0, r.stderr);
      const passwd = readFileSync(path.join(root, 'etc/passwd'), 'utf8');
      const m = /^smegchat:x:(\d+):(\d+):[^:]*:\/var\/lib\/smegchat:\/usr\/sbin\/nologin$/m.exec(passwd);
      assert.ok(m, passwd);
      assert.ok(Number(m[1]) > 0 && Number(m[1]) < 1000, `a system uid, got ${m[1]}`);
      assert.match(readFileSync(path.join(root, 'etc/group'), 'utf8'), new RegExp(`^smegchat:x:${m[2]}:`, 'm'));
    });
  },
);

describe('deploy/config.example.json', () => {
  it('uses the long option names and the service paths', () => {
    const config = JSON.parse(readFileSync(path.join(DEPLOY, 'config.example.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(config, {
      port: 80,
      user: 'smegchat',
      group: 'smegchat',
      'data-dir': '/var/lib/smegchat',
      control: '/run/smegchat/control.sock',
      'pid-file': '/run/smegchat/smegchat.pid',
      'log-level': 'info',
    });
  });
});

describe('deploy/install.sh', () => {
  it('stages the program with production dependencies only, keeps the config, and uninstalls', async (t) => {
    const dest = scratchDir(t, 'destdir');
    const install = path.join(DEPLOY, 'install.sh');
    const first = await run(install, ['--destdir', dest, '--prefix', '/opt/sc']);
    assert.equal(first.code, 0, first.stderr + first.stdout);
    const lib = path.join(dest, 'opt/sc/lib/smegchat');

    // The program, its runtime dependencies with koffi's prebuilt binary, no dev tools.
    assert.ok(existsSync(path.join(lib, 'packages/supervisor/bin/smegchat.js')));
    assert.ok(existsSync(path.join(lib, 'packages/supervisor/dist/sd-notify.js')));
    assert.ok(existsSync(path.join(lib, 'node_modules/koffi/package.json')));
    assert.ok(existsSync(path.join(lib, 'node_modules/bunyan/package.json')));
    assert.equal(existsSync(path.join(lib, 'node_modules/typescript')), false, 'dev dependencies are pruned');
    assert.equal(existsSync(path.join(lib, 'packages/supervisor/src/sd-notify.ts')), false, 'no TypeScript sources');
    assert.equal(readlinkSync(path.join(lib, 'node_modules/@smegchat/supervisor')), '../../packages/supervisor');
    // koffi loads from the staged tree alone.
    const koffi = await run(process.execPath, ['-e', 'require(process.argv[1]).load("libc.so.6")', path.join(lib, 'node_modules/koffi')]);
    assert.equal(koffi.code, 0, koffi.stderr);

    // Commands point at the final location, not the staging one.
    assert.equal(readlinkSync(path.join(dest, 'opt/sc/bin/smegctl')), '/opt/sc/lib/smegchat/bin/smegctl');
    assert.match(
      readFileSync(path.join(lib, 'bin/smegchat'), 'utf8'),
      /^exec '\/.+\/node' '\/opt\/sc\/lib\/smegchat\/packages\/supervisor\/bin\/smegchat\.js' "\$@"$/m,
    );
    const unit = readFileSync(path.join(dest, 'opt/sc/lib/systemd/system/smegchat.service'), 'utf8');
    assert.match(unit, /^ExecStart=\/opt\/sc\/bin\/smegchat --service --config \/etc\/smegchat\/config\.json$/m);
    // The port is in the socket unit, from the config (the example's port 80, every interface).
    const socket = path.join(dest, 'opt/sc/lib/systemd/system/smegchat.socket');
    assert.match(readFileSync(socket, 'utf8'), /^ListenStream=80$/m);
    for (const f of ['opt/sc/lib/sysusers.d/smegchat.conf', 'etc/logrotate.d/smegchat', 'opt/sc/share/doc/smegchat/README.md']) {
      assert.ok(existsSync(path.join(dest, f)), f);
    }

    // A second run upgrades in place and never overwrites the admin's config.
    const config = path.join(dest, 'etc/smegchat/config.json');
    writeFileSync(config, '{"port": 8081}\n');
    const second = await run(install, ['--destdir', dest, '--prefix', '/opt/sc']);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(readFileSync(config, 'utf8'), '{"port": 8081}\n');
    assert.match(readFileSync(socket, 'utf8'), /^ListenStream=8081$/m, 'the socket unit follows the config');
    writeFileSync(config, '{"port": 8082, "host": "::1"}\n');
    assert.equal((await run(install, ['--destdir', dest, '--prefix', '/opt/sc'])).code, 0);
    assert.match(readFileSync(socket, 'utf8'), /^ListenStream=\[::1\]:8082$/m);
    writeFileSync(config, '{"port": 8081}\n');
    assert.equal(existsSync(`${lib}.new`) || existsSync(`${lib}.old`), false, 'no staging leftovers');

    const un = await run(install, ['--destdir', dest, '--prefix', '/opt/sc', '--uninstall']);
    assert.equal(un.code, 0, un.stderr);
    assert.equal(existsSync(lib), false);
    assert.equal(existsSync(socket), false);
    assert.throws(() => lstatSync(path.join(dest, 'opt/sc/bin/smegchat')));
    assert.ok(existsSync(config), 'uninstall keeps the config');
    const purge = await run(install, ['--destdir', dest, '--prefix', '/opt/sc', '--uninstall', '--purge']);
    assert.equal(purge.code, 0, purge.stderr);
    assert.equal(existsSync(config), false);
  });

  it('refuses a config the socket unit cannot be written from, before it installs anything', async (t) => {
    const dest = scratchDir(t, 'badhost');
    mkdirSync(path.join(dest, 'etc/smegchat'), { recursive: true });
    writeFileSync(path.join(dest, 'etc/smegchat/config.json'), '{"host": "localhost"}\n');
    const r = await run(path.join(DEPLOY, 'install.sh'), ['--destdir', dest]);
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr, 'install.sh: /etc/smegchat/config.json: "host" must be an IP address for the socket unit, got "localhost"\n');
    assert.equal(existsSync(path.join(dest, 'usr')), false, 'nothing installed');
  });

  it('refuses what it does not understand, with one line', async () => {
    const r = await run(path.join(DEPLOY, 'install.sh'), ['--frobnicate']);
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr, 'install.sh: unknown option --frobnicate (try --help)\n');
  });
});
