/**
 * The newcomer's path (issue 9): a fresh copy of the checkout, the README's
 * start command in it, the page, a welcome, Ctrl-C, exit 0. As root in a
 * directory the service user can read (as in a container's /app, or /srv),
 * as root in one it cannot (root's 0700 home: refused at once, in one line),
 * and as an unprivileged user.
 *
 * The copy is the tracked files plus this checkout's node_modules, as
 * `git clone` and `npm ci` would leave it, without the network; the first
 * case builds it as `npm start` does, the others are handed the build too, to
 * save the half minute a build takes. Each start adds `-- --port 0`, which npm
 * appends to the start script: the kernel picks a free port and smegchat says
 * which, so nothing races for 8080.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { copyCheckout } from './lib/checkout.js';
import { BoardClient, stroke } from './lib/client.js';
import { isRoot, scratchDir } from './lib/scratch.js';
import { descendantPids, procIds, reachableScratchDir } from './lib/smegchat.js';

const START = ['start', '--', '--port', '0'];
const THROWAWAY_USER = 'smegchat-newcomer';
const hasScript = spawnSync('script', ['--version']).status === 0;
const rootOnly = isRoot ? false : 'needs root (CI runs as root)';

type Exit = { code: number | null; signal: NodeJS.Signals | null };

interface Run {
  readonly proc: ChildProcess;
  /** What it printed on stdout so far, terminal colours removed. */
  out(): string;
  err(): string;
  /** Resolves with the first match in stdout; rejects, with the output, on a timeout or an exit. */
  waitFor(re: RegExp, ms: number): Promise<RegExpMatchArray>;
  /** Ctrl-C: a ^C typed at its terminal, or without one SIGINT to its process group; then its exit, bounded. */
  ctrlC(ms?: number): Promise<Exit>;
  readonly exited: Promise<Exit>;
}

/** The environment of a person's shell: none of the npm_* variables of the `npm test` that runs this. */
function shellEnv(home: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_|^INIT_CWD$/i.test(k)));
  return {
    ...env,
    HOME: home,
    npm_config_cache: path.join(home, '.npm'), // npm's cache and logs, not in the machine's home
    npm_config_update_notifier: 'false',
    SHELL: '/bin/sh',
    TERM: 'xterm',
  };
}

/**
 * Runs `npm ARGS` in `cwd`: in a terminal of its own (script(1) gives it a pty, as a
 * person's shell would: npm is its foreground job), or with pipes in a process group
 * of its own. Whatever is left of it is killed when the test ends.
 */
function runNpm(
  t: TestContext,
  args: readonly string[],
  opts: { cwd: string; home: string; tty: boolean; uid?: number; gid?: number },
): Run {
  const ids = opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.gid };
  const env = shellEnv(opts.home);
  const proc = opts.tty
    ? spawn('script', ['-qfec', `exec npm ${args.join(' ')}`, '/dev/null'], { cwd: opts.cwd, env, stdio: 'pipe', ...ids })
    : spawn('npm', args, { cwd: opts.cwd, env, stdio: 'pipe', detached: true, ...ids });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    // eslint-disable-next-line no-control-regex
    out += d.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
    for (const l of listeners) l();
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<Exit>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  t.after(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    for (const pid of [...descendantPids(proc.pid!), proc.pid!]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await exited;
  });
  const bounded = (what: string, ms: number): Promise<never> =>
    new Promise((_, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${ms} ms waiting for ${what}\nstdout:\n${out}\nstderr:\n${err}`)),
        ms,
      );
      void exited.then(() => clearTimeout(timer));
    });
  return {
    proc,
    exited,
    out: () => out,
    err: () => err,
    waitFor(re, ms) {
      return Promise.race([
        new Promise<RegExpMatchArray>((resolve, reject) => {
          const check = (): void => {
            const m = re.exec(out);
            if (m === null) return;
            listeners.delete(check);
            resolve(m);
          };
          listeners.add(check);
          check();
          void exited.then((e) => {
            if (!listeners.delete(check)) return;
            reject(new Error(`npm exited (${JSON.stringify(e)}) before printing ${re}\nstdout:\n${out}\nstderr:\n${err}`));
          });
        }),
        bounded(String(re), ms),
      ]);
    },
    ctrlC(ms = 60_000) {
      if (opts.tty) proc.stdin!.write('\x03');
      else process.kill(-proc.pid!, 'SIGINT');
      return Promise.race([exited, bounded('the exit after Ctrl-C', ms)]);
    },
  };
}

/** The smegchat processes among a run's descendants: the supervisor, its workers, bunyan's CLI. */
function smegchatProcesses(run: Run): { supervisor: number[]; workers: number[]; printer: number[] } {
  const found = { supervisor: [] as number[], workers: [] as number[], printer: [] as number[] };
  for (const pid of descendantPids(run.proc.pid!)) {
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv.some((a) => a.endsWith('supervisor/bin/smegchat.js'))) found.supervisor.push(pid);
    else if (argv.some((a) => a.endsWith('worker/dist/main.js'))) found.workers.push(pid);
    else if (argv.some((a) => a.endsWith('bunyan/bin/bunyan'))) found.printer.push(pid);
  }
  return found;
}

function assertUid(pid: number, uid: number): void {
  assert.deepEqual(procIds(pid).uid, [uid, uid, uid, uid], `pid ${pid} Uid`);
}

/** The page and a welcome, and a stroke that is on the board afterwards. */
async function useBoard(port: number, board: string): Promise<number> {
  const page = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>smegchat<\/title>/);
  const client = await BoardClient.open(port, board);
  client.send(stroke());
  await client.waitForSeq(client.welcome.seq + 1);
  await client.close();
  return client.welcome.seq;
}

/** Mode and owner of everything in a tree (and of the tree's parents), to see that none changed. */
function owners(root: string): Map<string, string> {
  const seen = new Map<string, string>();
  const note = (p: string): void => {
    const st = fs.lstatSync(p);
    seen.set(p, `${st.mode.toString(8)} ${st.uid}:${st.gid}`);
  };
  for (let p = path.dirname(root); p !== path.dirname(p); p = path.dirname(p)) note(p);
  const walk = (dir: string): void => {
    note(dir);
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else note(p);
    }
  };
  walk(root);
  return seen;
}

/** The JSON 'ready' line's port, from a start with pipes. */
async function readyPort(run: Run): Promise<number> {
  const line = await run.waitFor(/^\{.*"msg":"ready".*\}$/m, 120_000);
  return (JSON.parse(line[0]) as { port: number }).port;
}

describe('the newcomer path: npm start in a fresh copy', () => {
  it(
    'as root in a directory the service user can read: serves, nothing as root, readable at a terminal, Ctrl-C exits 0',
    { skip: rootOnly || (!hasScript && 'script (util-linux) is not installed') },
    async (t) => {
      const copy = path.join(reachableScratchDir(t, 'newcomer-srv'), 'smegchat');
      copyCheckout(copy, { built: false });
      const before = owners(copy);
      const home = scratchDir(t, 'newcomer-home');

      const run = runNpm(t, START, { cwd: copy, home, tty: true });
      // npm start builds first: give tsc time on a busy machine.
      const port = Number((await run.waitFor(/smegchat serves http:\/\/127\.0\.0\.1:(\d+)\//, 240_000))[1]);
      await run.waitFor(/press Ctrl-C to stop/, 10_000);
      assert.ok(run.out().includes(`board data is kept in ${path.join(copy, 'data')}`), run.out());
      assert.match(run.out(), /INFO smegchat: ready \(/, 'readable lines');
      assert.doesNotMatch(run.out(), /^\{"name":"smegchat"/m, 'no JSON at a terminal');
      assert.equal(await useBoard(port, 'newcomer'), 0);

      const procs = smegchatProcesses(run);
      assert.equal(procs.supervisor.length, 1, run.out());
      assert.equal(procs.workers.length, 3, 'two workers and the warm spare (--spares 1), forked by the time it serves');
      assert.equal(procs.printer.length, 1);
      for (const pid of [...procs.supervisor, ...procs.workers, ...procs.printer])
        assert.notEqual(procIds(pid).uid[0], 0, `pid ${pid} runs as root`);

      assert.deepEqual(await run.ctrlC(), { code: 0, signal: null }, run.out() + run.err());
      assert.match(run.out(), /INFO smegchat: stopped/);

      // Again, with stdout a pipe: JSON lines, and the board kept under ./data.
      const again = runNpm(t, START, { cwd: copy, home, tty: false });
      const port2 = await readyPort(again);
      assert.equal(await useBoard(port2, 'newcomer'), 1, 'the stroke of the first run survived the restart');
      for (const line of again
        .out()
        .split('\n')
        .filter((l) => l.startsWith('{'))) {
        assert.equal((JSON.parse(line) as { name: string }).name, 'smegchat');
      }
      assert.deepEqual(await again.ctrlC(), { code: 0, signal: null }, again.err());

      // Nothing that was there before changed mode or owner: only ./data is the service user's.
      const after = owners(copy);
      const changed = [...before].filter(([p, v]) => after.get(p) !== v).map(([p, v]) => `${p}: ${v} -> ${after.get(p)}`);
      assert.deepEqual(changed, []);
      const data = fs.statSync(path.join(copy, 'data'));
      assert.notEqual(data.uid, 0);
    },
  );

  it(
    "as root in root's 0700 home: one line naming the directory and the ways out, at once, nothing forked",
    { skip: rootOnly },
    async (t) => {
      const locked = scratchDir(t, 'newcomer-root-home'); // mode 0700, root's, like /root
      const copy = path.join(locked, 'smegchat');
      copyCheckout(copy, { built: true });
      const started = Date.now();
      const run = runNpm(t, START, { cwd: copy, home: locked, tty: false });
      const exit = await Promise.race([
        run.exited,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still running after 120 s: ${run.out()}`)), 120_000).unref()),
      ]);
      t.diagnostic(`npm start ended after ${Date.now() - started} ms (a build check included)`);
      assert.equal(exit.code, 78, run.err());
      const lines = run
        .err()
        .split('\n')
        .filter((l) => l.startsWith('smegchat:'));
      assert.equal(lines.length, 1, run.err());
      const escaped = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      assert.match(
        lines[0]!,
        new RegExp(
          `^smegchat: user \\S+ cannot read the workers' code in ${escaped(copy)}: ${escaped(locked)} is mode 0700, owner root\\. ` +
            'Start smegchat as an ordinary user, clone it where .* can read it \\(under /srv or /opt, say\\), or install the service with deploy/install\\.sh$',
        ),
      );
      assert.doesNotMatch(run.out(), /^\{/m, 'nothing logged: nothing started');
      assert.equal(fs.existsSync(path.join(copy, 'data')), false, 'nothing created');
    },
  );

  it('as an unprivileged user (a throwaway one when the tests run as root)', async (t) => {
    let ids: { uid: number; gid: number } | undefined;
    if (isRoot) {
      spawnSync('userdel', [THROWAWAY_USER], { stdio: 'ignore' });
      execFileSync('useradd', ['--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', THROWAWAY_USER]);
      t.after(() => void spawnSync('userdel', [THROWAWAY_USER], { stdio: 'ignore' }));
      const id = (flag: string): number => Number(execFileSync('id', [flag, THROWAWAY_USER], { encoding: 'utf8' }));
      ids = { uid: id('-u'), gid: id('-g') };
    }
    const parent = reachableScratchDir(t, 'newcomer-user');
    const copy = path.join(parent, 'smegchat');
    const home = path.join(parent, 'home');
    copyCheckout(copy, { built: true });
    fs.mkdirSync(home);
    if (ids !== undefined) execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, copy, home]);
    const uid = ids?.uid ?? process.getuid!();

    const run = runNpm(t, START, { cwd: copy, home, tty: false, ...ids });
    const port = await readyPort(run);
    assert.match(run.out(), /not started as root: running as the current user/);
    assert.equal(await useBoard(port, 'newcomer'), 0);
    const procs = smegchatProcesses(run);
    assert.equal(procs.supervisor.length, 1);
    assert.equal(procs.workers.length, 3, 'two workers and the warm spare');
    for (const pid of [...procs.supervisor, ...procs.workers]) assertUid(pid, uid);
    assert.deepEqual(await run.ctrlC(), { code: 0, signal: null }, run.err());
  });
});
