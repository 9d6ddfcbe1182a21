/**
 * smegctl against a real smegchat: status (JSON and table) checked against the
 * process table and the clients connected, the failures an operator meets (not
 * running, permission, another protocol version, bad usage), the shell through
 * a real terminal (tmux) and through a pipe, stop, and rolling reloads: under
 * a continuous stroke load with no stroke lost, and one whose replacement
 * cannot start.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Status } from '@smegchat/protocol';
import { BoardClient, stroke } from './lib/client.js';
import { Drawer } from './lib/drawer.js';
import { childPids, failWorkerStartEnv, isAlive, SMEGCTL, startSmegchat, until, type Smegchat } from './lib/smegchat.js';
import { isRoot, scratchDir } from './lib/scratch.js';
import { smegctl, type Run } from './lib/smegctl.js';
import { hasTmux, openTerminal, shellWord as q } from './lib/terminal.js';

async function statusOf(server: Smegchat): Promise<Status> {
  const r = await smegctl(['--control', server.control, 'status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  return JSON.parse(r.stdout) as Status;
}

/** Exactly one line on stderr, naming the program. */
function assertOneLine(r: Run, pattern: RegExp): void {
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^smegctl: [^\n]+\n$/, `not one line: ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, pattern);
}

/** Opens clients one at a time, so the supervisor's balancing sees each before the next. */
async function openClients(port: number, boards: readonly string[], n: number): Promise<BoardClient[]> {
  const clients: BoardClient[] = [];
  for (let i = 0; i < n; i++) clients.push(await BoardClient.open(port, boards[i % boards.length] as string));
  return clients;
}

function closeAll(t: TestContext, clients: () => readonly BoardClient[]): void {
  t.after(async () => {
    await Promise.all(clients().map((c) => (c.ws.readyState === c.ws.OPEN ? c.close() : undefined)));
  });
}

describe('smegctl status', () => {
  it('--json: one entry per live worker, pids from the process table, connections that add up, cpu and memory', async (t) => {
    const server = await startSmegchat(t, { workers: 3 });
    const clients = await openClients(server.port, ['alpha', 'beta'], 7);
    closeAll(t, () => clients);
    // Something relayed, seen by its sender, so the totals have it.
    clients[0]!.send(stroke('status'));
    await clients[0]!.waitFor('own stroke back', () => clients[0]!.unconfirmed.size === 0);

    const s = await statusOf(server);

    assert.equal(s.supervisor.pid, server.pid);
    assert.equal(typeof s.supervisor.uid, 'number');
    assert.equal(typeof s.supervisor.gid, 'number');
    assert.ok(s.supervisor.uptime >= 0);
    assert.deepEqual(s.workers.map((w) => w.id).sort(), [1, 2, 3]);
    for (const w of s.workers) assert.equal(w.state, 'ready', `worker ${w.id}`);
    // The pids are the supervisor's live children, as the kernel sees them (ppid in /proc).
    assert.deepEqual(
      s.workers.map((w) => w.pid).sort((a, b) => (a ?? 0) - (b ?? 0)),
      childPids(server.pid),
    );
    // Each worker counts exactly the clients whose welcome named it.
    for (const w of s.workers) {
      const mine = clients.filter((c) => c.welcome.worker === w.id).length;
      assert.equal(w.connections, mine, `worker ${w.id} connections`);
    }
    assert.equal(
      s.workers.reduce((a, w) => a + w.connections, 0),
      clients.length,
    );
    assert.equal(s.totals.connections, clients.length);
    assert.equal(s.totals.boards, 2);
    assert.ok(s.totals.relayed >= 1, `relayed ${s.totals.relayed}`);
    for (const p of [s.supervisor, ...s.workers]) {
      assert.ok(Number.isFinite(p.cpu) && p.cpu >= 0, `cpu ${p.cpu}`);
      // Any node process holds more than 10 MiB resident, and none of ours 4 GiB.
      assert.ok(Number.isInteger(p.memory) && p.memory > 10 << 20 && p.memory < 4 * 2 ** 30, `memory ${p.memory}`);
      assert.ok(p.uptime >= 0);
    }
  });

  it('prints a table: the supervisor, one row per worker, totals', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const clients = await openClients(server.port, ['table'], 3);
    closeAll(t, () => clients);
    const s = await statusOf(server);

    const r = await smegctl(['--control', server.control, 'status']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^WORKER\s+PID\s+STATE\s+UPTIME\s+RESTARTS\s+CONNS\s+CLIENTS\s+IN\/S\s+OUT\/S\s+CPU %\s+MEMORY\s+LAST EXIT$/);
    assert.match(
      lines[1]!,
      new RegExp(`^supervisor\\s+${server.pid}\\s+running\\s+\\d+s\\s+-\\s+-\\s+-\\s+-\\s+-\\s+\\d+\\.\\d\\s+\\d+\\.\\d MiB$`),
    );
    for (const w of s.workers) {
      const row = lines.find((l) => l.startsWith(`${w.id} `));
      assert.ok(row, `no row for worker ${w.id}:\n${r.stdout}`);
      // Clients come from the worker's report, once a second: any count here.
      assert.match(
        row,
        new RegExp(
          `^${w.id}\\s+${w.pid}\\s+ready\\s+\\d+s\\s+0\\s+${w.connections}\\s+\\d+\\s+\\d+\\.\\d\\s+\\d+\\.\\d\\s+\\d+\\.\\d\\s+\\d+\\.\\d MiB\\s+-$`,
        ),
      );
    }
    assert.match(r.stdout, /^total\s+2\/2 ready\s+0\s+3\s+\d+\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d MiB$/m);
    assert.match(r.stdout, /: 3 connections, 1 board, \d+ messages? relayed$/m);
    assert.match(lines.at(-1)!, /^1 of 1 board loaded, history \d+(\.\d)? (B|KiB) on disk, \d+\.\d messages\/s sequenced$/);
    // Columns line up: every row's MEMORY ends in the same column.
    const ends = new Set(
      lines.flatMap((l) => (l.includes('MiB') ? [l.indexOf('MiB') + 3] : l.includes('MEMORY') ? [l.indexOf('MEMORY') + 6] : [])),
    );
    assert.equal(ends.size, 1, r.stdout);
  });
});

describe('smegctl without a server to talk to', () => {
  it('says smegchat is not running, in one line, exit 3', async (t) => {
    const dir = scratchDir(t, 'smegctl-none');
    const missing = path.join(dir, 'control.sock');
    const r = await smegctl(['--control', missing, 'status']);
    assert.equal(r.code, 3);
    assertOneLine(r, new RegExp(`^smegctl: smegchat is not running \\(no control socket at ${missing}\\)\\n$`));

    // A file left where the socket was (a supervisor killed hard): nothing listens.
    writeFileSync(missing, '');
    const stale = await smegctl(['--control', missing, 'reload']);
    assert.equal(stale.code, 3);
    assertOneLine(stale, /^smegctl: smegchat is not running \(nothing listens on /);

    // $SMEGCHAT_CONTROL is where it looks without --control.
    const viaEnv = await smegctl(['stop'], { env: { SMEGCHAT_CONTROL: path.join(dir, 'other.sock') } });
    assert.equal(viaEnv.code, 3);
    assertOneLine(viaEnv, /other\.sock/);
  });

  it(
    'says permission denied, and what to do, in one line, exit 4',
    { skip: !isRoot && 'needs root to run smegctl as another user' },
    async (t) => {
      const dir = scratchDir(t, 'smegctl-perm');
      chmodSync(dir, 0o755);
      const sock = path.join(dir, 'control.sock');
      const server = net.createServer((s) => s.destroy());
      await new Promise<void>((resolve) => server.listen(sock, resolve));
      t.after(() => server.close());
      chmodSync(sock, 0o660); // root:root, as the installed socket is root (or smegchat) and its group
      const r = await smegctl(['--control', sock, 'status'], { uid: 65534, gid: 65534 });
      assert.equal(r.code, 4);
      assertOneLine(r, new RegExp(`^smegctl: permission denied on ${sock}: run as root or as a member of the smegchat group\\n$`));
    },
  );

  it('names both protocol versions when the supervisor speaks another', async (t) => {
    const sock = path.join(scratchDir(t, 'smegctl-version'), 'control.sock');
    // A supervisor from the future: it reads the request and answers in version 2.
    const server = net.createServer((s) => s.once('data', () => s.end('{"v":2,"ok":false,"error":"unsupported"}\n')));
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    t.after(() => server.close());
    const r = await smegctl(['--control', sock, 'status']);
    assert.equal(r.code, 1);
    assertOneLine(r, /^smegctl: the supervisor speaks control protocol 2, this smegctl 1: use the smegctl that came with it\n$/);
  });

  it('refuses a bad command line in one line, exit 2', async () => {
    for (const args of [['bogus'], [], ['scale'], ['scale', '0'], ['status', '--jsno']]) {
      const r = await smegctl(['--control', '/nonexistent/control.sock', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assertOneLine(r, /^smegctl: /);
    }
    const help = await smegctl(['--help']);
    assert.equal(help.code, 0);
    for (const cmd of ['status', 'reload', 'stop', 'scale', 'shell', '--control']) assert.match(help.stdout, new RegExp(cmd));
  });
});

describe('smegctl shell', () => {
  it('answers status and quit in a real terminal, and keeps the history', { skip: !hasTmux && 'tmux is not installed' }, async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const dir = scratchDir(t, 'smegctl-tmux');
    const exitFile = path.join(dir, 'exit');
    const env: NodeJS.ProcessEnv = { XDG_STATE_HOME: path.join(dir, 'state'), SMEGCHAT_HISTORY: undefined };
    const term = await openTerminal(
      dir,
      `${q(process.execPath)} ${q(SMEGCTL)} --control ${q(server.control)} shell; echo "exit=$?" > ${q(exitFile)}`,
      {
        env,
      },
    );
    // Ended here, not in t.after: the after hooks remove the scratch directory, and the
    // tmux socket with it, before a later hook could still reach the tmux server.
    try {
      await term.waitScreen('the prompt', /^smegchat>\s*$/m); // tmux trims the trailing space
      await term.keys('status', 'Enter');
      const pids = server.workerPids();
      const screen = await term.waitScreen('the status table', /^total .*$/m);
      assert.match(screen, /^smegchat> status$/m);
      assert.match(screen, new RegExp(`^supervisor\\s+${server.pid}\\s+running`, 'm'));
      for (const pid of pids) assert.match(screen, new RegExp(`^\\d+\\s+${pid}\\s+ready`, 'm'));

      await term.keys('nonsense', 'Enter');
      await term.waitScreen('the hint', /unknown command "nonsense": type help for the list/);
      await term.keys('quit', 'Enter');
      await until('the shell to exit', () => existsSync(exitFile) && readFileSync(exitFile, 'utf8').includes('\n'), 15_000, 50);
      assert.equal(readFileSync(exitFile, 'utf8'), 'exit=0\n');
      assert.equal(readFileSync(path.join(dir, 'state', 'smegchat', 'history'), 'utf8'), 'status\nnonsense\nquit\n');
      // Leaving the shell leaves smegchat running.
      assert.ok(isAlive(server.pid));
    } finally {
      await term.kill();
    }
  });

  it('answers each line read from a pipe, and exits with the first failure', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const r = await smegctl(['--control', server.control, 'shell'], { input: 'status --json\n\nbogus\nhelp\n' });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'smegctl: unknown command "bogus": type help for the list\n');
    // No prompt, no banner on a pipe: the JSON, then the help.
    const jsonEnd = r.stdout.indexOf('\n}\n') + 3;
    const s = JSON.parse(r.stdout.slice(0, jsonEnd)) as Status;
    assert.equal(s.supervisor.pid, server.pid);
    assert.match(r.stdout.slice(jsonEnd), /^ {2}status \[--json\] /);
    assert.match(r.stdout.slice(jsonEnd), /quit, exit/);
  });
});

describe('smegctl scale', () => {
  it("grows and shrinks the pool: the workers status shows are the supervisor's children", async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    for (const n of [3, 1]) {
      const r = await smegctl(['--control', server.control, 'scale', String(n)], { ms: 120_000 });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `scaled to ${n} worker${n === 1 ? '' : 's'}\n`);
      // A retired worker may still be on its way out: wait for the process table to agree, bounded.
      await until(`${n} workers in the process table`, () => server.workerPids().length === n);
      const s = await statusOf(server);
      assert.equal(s.workers.length, n);
      for (const w of s.workers) assert.equal(w.state, 'ready');
      assert.deepEqual(
        s.workers.map((w) => w.pid).sort((a, b) => (a ?? 0) - (b ?? 0)),
        server.workerPids(),
      );
    }
  });
});

describe('smegctl stop', () => {
  it('returns once smegchat and every worker are gone, exit 0', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const workers = server.workerPids();
    assert.equal(workers.length, 2);
    const client = await BoardClient.open(server.port, 'stopping');

    const r = await smegctl(['--control', server.control, 'stop']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'smegchat stopped\n');
    assert.equal(r.stderr, '');
    // No wait here: smegctl returned, so they are gone already.
    assert.equal(isAlive(server.pid), false, 'supervisor still running');
    for (const pid of workers) assert.equal(isAlive(pid), false, `worker ${pid} still running`);
    assert.deepEqual(await server.exited, { code: 0, signal: null });
    assert.equal((await client.closed).code, 1001);
    assert.equal(existsSync(server.control), false, 'control socket left behind');

    const after = await smegctl(['--control', server.control, 'status']);
    assert.equal(after.code, 3);
  });
});

/** Opens connections one after another until stopped, each waiting for its welcome: any failure is a refused attempt. */
function probe(port: number): { stop(): Promise<{ ok: number; failures: string[] }> } {
  let running = true;
  let ok = 0;
  const failures: string[] = [];
  const loop = (async () => {
    while (running) {
      try {
        const c = await BoardClient.open(port, 'probe');
        ok++;
        await c.close();
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ok, failures };
    },
  };
}

/** For a failure message: each welcome (worker, head, since asked) and the first gap in what arrived. */
function describeResumes(c: BoardClient): string {
  const welcomes = c.welcomes.map((w) => `worker ${w.worker} head ${w.seq}${w.reset ? ' reset' : ''}`).join(', ');
  const seqs = c.received.map((m) => m.seq);
  const gap = seqs.findIndex((s, i) => i > 0 && s !== (seqs[i - 1] as number) + 1);
  return `welcomes: ${welcomes}; ${gap < 0 ? 'no gap' : `gap after seq ${seqs[gap - 1]}: next was ${seqs[gap]}`}`;
}

function parseReloadOutput(stdout: string): { replaced: number; seconds: number } {
  const m = /^reloaded (\d+) workers? in (\d+\.\d+) s$/m.exec(stdout);
  assert.ok(m, `no summary in: ${stdout}`);
  return { replaced: Number(m[1]), seconds: Number(m[2]) };
}

describe('smegctl reload', () => {
  it('replaces all 4 workers under a continuous stroke load: no attempt refused, no stroke lost or twice', async (t) => {
    const server = await startSmegchat(t, { workers: 4 });
    const before = await statusOf(server);
    assert.equal(before.workers.length, 4);

    // Two drawers per worker, on one board, so every stroke crosses workers.
    const clients = await openClients(server.port, ['reload'], 8);
    const drawers = clients.map((c, i) => new Drawer(c, `d${i}`));
    closeAll(t, () => clients);
    t.after(() => drawers.forEach((d) => d.finish()));
    assert.deepEqual([...new Set(clients.map((c) => c.welcome.worker))].sort(), [1, 2, 3, 4], 'a client on every worker');

    drawers.forEach((d) => d.start());
    // The load is flowing before the reload begins: every drawer has had strokes back.
    await Promise.all(clients.map((c) => c.waitFor('the first strokes relayed', () => c.board.length >= 100, 20_000)));

    const prober = probe(server.port);
    const started = Date.now();
    const r = await smegctl(['--control', server.control, 'reload'], { ms: 120_000 });
    const wall = (Date.now() - started) / 1000;
    const probed = await prober.stop();
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    const summary = parseReloadOutput(r.stdout);
    assert.equal(summary.replaced, 4);
    t.diagnostic(`reload of 4 workers under load: ${summary.seconds} s by the supervisor, ${wall.toFixed(2)} s for smegctl`);

    // Every worker pid changed, and the new ones are the supervisor's children.
    const after = await statusOf(server);
    const oldPids = new Set(before.workers.map((w) => w.pid));
    assert.equal(after.workers.length, 4);
    for (const w of after.workers) {
      assert.equal(w.state, 'ready');
      assert.ok(!oldPids.has(w.pid), `worker ${w.id} kept pid ${w.pid}`);
    }
    assert.deepEqual(
      after.workers.map((w) => w.pid).sort((a, b) => (a ?? 0) - (b ?? 0)),
      childPids(server.pid),
    );
    for (const pid of oldPids) assert.equal(isAlive(pid as number), false, `old worker ${pid} still running`);

    // No connection attempt refused: not the resumes, not the fresh connections probing meanwhile.
    assert.deepEqual([...drawers.flatMap((d) => d.failures), ...probed.failures.map((f) => `probe: ${f}`)], []);
    assert.ok(probed.ok > 0, 'the prober connected at least once');
    // Every client was on a replaced worker: each was closed with 1012 (service restart) and resumed.
    for (const d of drawers)
      assert.ok(d.closeCodes.length > 0 && d.closeCodes.every((c) => c === 1012), `${d.tag}: ${d.closeCodes.join(',')}`);

    // Drain: stop drawing, wait until each drawer has every stroke of its own back.
    drawers.forEach((d) => d.stopDrawing());
    await Promise.all(clients.map((c) => c.waitFor('every own stroke confirmed', () => c.unconfirmed.size === 0, 30_000)));
    // The server's history, as a newcomer gets it.
    const witness = await BoardClient.open(server.port, 'reload');
    t.after(() => witness.close());
    const head = witness.welcome.seq;
    await witness.waitForSeq(head);
    const history = witness.board.map((m) => `${m.seq}:${m.id}`);
    assert.equal(history.length, head, 'one message per seq, from 1');

    const sent = drawers.flatMap((d) => d.sent);
    const inHistory = witness.board.map((m) => m.id);
    assert.equal(new Set(inHistory).size, inHistory.length, 'a stroke twice in the history');
    assert.deepEqual([...inHistory].sort(), [...sent].sort(), 'the history holds exactly the strokes sent');
    for (const [i, c] of clients.entries()) {
      await c.waitForSeq(head);
      assert.deepEqual(
        c.board.map((m) => `${m.seq}:${m.id}`),
        history,
        `client d${i}'s board differs from the history; ${describeResumes(c)}`,
      );
    }
    t.diagnostic(`${sent.length} strokes from ${drawers.length} clients, ${probed.ok} probe connections during the reload`);
    drawers.forEach((d) => d.finish());
  });

  it('fails cleanly when a replacement cannot start: exit 1, the old workers keep serving', async (t) => {
    const dir = scratchDir(t, 'smegctl-fail');
    chmodSync(dir, 0o755);
    const marker = path.join(dir, 'fail-worker-start');
    const server = await startSmegchat(t, { workers: 2, env: failWorkerStartEnv(marker) });
    const before = await statusOf(server);
    const client = await BoardClient.open(server.port, 'steady');
    closeAll(t, () => [client]);

    writeFileSync(marker, 'replacements fail from now on\n');
    const r = await smegctl(['--control', server.control, 'reload'], { ms: 120_000 });
    assert.equal(r.code, 1);
    assertOneLine(r, /^smegctl: .*\n$/);
    t.diagnostic(`failed reload says: ${r.stderr.trim()}`);

    // The same workers, all ready, nothing left over from the failed start.
    const after = await statusOf(server);
    assert.deepEqual(
      after.workers.map((w) => [w.id, w.pid, w.state]),
      before.workers.map((w) => [w.id, w.pid, 'ready']),
    );
    assert.deepEqual(
      after.workers.map((w) => w.pid).sort((a, b) => (a ?? 0) - (b ?? 0)),
      childPids(server.pid),
    );
    assert.equal(after.supervisor.state, 'running');
    // And they serve: the connected client is still there and relays; a new one joins.
    const s = stroke('after-failed-reload');
    client.send(s);
    await client.waitFor('the stroke back', () => client.unconfirmed.size === 0);
    const late = await BoardClient.open(server.port, 'steady');
    t.after(() => late.close());
    await late.waitForSeq(late.welcome.seq);
    assert.deepEqual(
      late.board.map((m) => m.id),
      [s.id],
    );

    // Once the cause is gone, the next reload goes through.
    rmSync(marker);
    const again = await smegctl(['--control', server.control, 'reload'], { ms: 120_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(parseReloadOutput(again.stdout).replaced, 2);
  });
});
