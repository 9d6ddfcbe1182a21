/**
 * `smegctl status` that explains: per worker, clients, messages in and
 * deliveries out (totals exact, rates consistent with a known load), the last
 * exit of a slot (a kill -9 as a crash with its signal, a reload as retired),
 * the supervisor's engine figures against the disk, and `--watch` redrawing
 * one screen in place in a real terminal (tmux) or appending on a pipe.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Status } from '@smegchat/protocol';
import { BoardClient, stroke } from './lib/client.js';
import { SMEGCTL, isAlive, startSmegchat, until } from './lib/smegchat.js';
import { scratchDir } from './lib/scratch.js';
import { smegctl, statusOf, statusUntil } from './lib/smegctl.js';
import { hasTmux, openTerminal, shellWord as q } from './lib/terminal.js';

describe('smegctl status that explains', () => {
  it('gives each worker its clients, messages in and deliveries out, and the supervisor its engine figures, for a known load', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    // Opened one at a time, so the balancing alternates: two clients on each worker.
    const clients: BoardClient[] = [];
    for (let i = 0; i < 4; i++) clients.push(await BoardClient.open(server.port, 'load'));
    t.after(() => Promise.all(clients.map((c) => c.close())));
    const onWorker = (id: number | null): number => clients.filter((c) => c.welcome.worker === id).length;
    assert.deepEqual([onWorker(1), onWorker(2)], [2, 2]);
    const sender = clients[0]!;
    const senderWorker = sender.welcome.worker;

    // A steady load from one client, kept up while the rates are read.
    let sent = 0;
    let loading = true;
    const load = (async () => {
      while (loading) {
        sender.send(stroke('load'));
        sent++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      const busy = await statusUntil(
        server,
        'the load to show in the rates',
        (s) => s.totals.sequencedPerSecond > 0 && s.workers.every((w) => w.deliveriesPerSecond > 0 && w.clients === 2),
      );
      const byId = new Map(busy.workers.map((w) => [w.id, w]));
      assert.ok(byId.get(senderWorker)!.messagesInPerSecond > 0);
      assert.equal(byId.get(3 - senderWorker)!.messagesInPerSecond, 0, 'nobody sends from the other worker');
      // A rate is a count over at least a second: never above what was sent so far.
      for (const w of busy.workers) {
        assert.ok(w.messagesInPerSecond <= sent, `in ${w.messagesInPerSecond}/s after ${sent} sent`);
        assert.ok(w.deliveriesPerSecond <= sent * 2, `out ${w.deliveriesPerSecond}/s after ${sent} sent`);
      }
      assert.ok(busy.totals.sequencedPerSecond <= sent);
    } finally {
      loading = false;
      await load;
    }
    await Promise.all(clients.map((c) => c.waitForSeq(sent, 20_000)));

    // Once every worker has reported, the totals are exact.
    const s = await statusUntil(server, 'the totals to add up', (x) => x.workers.reduce((a, w) => a + w.deliveries, 0) === sent * 4);
    for (const w of s.workers) {
      assert.equal(w.messagesIn, w.id === senderWorker ? sent : 0, `worker ${w.id} messages in`);
      assert.equal(w.deliveries, sent * onWorker(w.id), `worker ${w.id} deliveries`);
      assert.equal(w.clients, onWorker(w.id), `worker ${w.id} clients`);
      assert.equal(w.lastExit, null);
    }
    assert.equal(s.totals.relayed, sent);
    assert.equal(s.totals.engine, 'embedded');
    assert.equal(s.totals.boards, 1);
    assert.equal(s.totals.boardsLoaded, 1);
    // The history's size is what the disk holds.
    const boards = path.join(server.dataDir, 'boards');
    const onDisk = readdirSync(boards)
      .filter((f) => f.endsWith('.log'))
      .reduce((a, f) => a + statSync(path.join(boards, f)).size, 0);
    assert.equal(s.totals.historyBytes, onDisk);
    assert.equal(s.supervisor.metrics, null);
    assert.equal(s.supervisor.tls, null);

    const table = await smegctl(['--control', server.control, 'status']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^1 of 1 board loaded, history \d+(\.\d)? (B|KiB) on disk, \d+\.\d messages\/s sequenced$/m);
  });

  it('shows how the last process of a slot ended: a kill -9 as a crash with its signal and run time, a reload as retired', async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const before = await statusOf(server);
    const victim = before.workers.find((w) => w.id === 1)!;
    const killedAt = Date.now();
    process.kill(victim.pid!, 'SIGKILL');
    await until('the killed worker to be gone', () => !isAlive(victim.pid!));

    const after = await statusUntil(server, 'the replacement ready', (s) =>
      s.workers.some((w) => w.id === 1 && w.state === 'ready' && w.pid !== victim.pid),
    );
    const row = after.workers.find((w) => w.id === 1)!;
    assert.equal(row.restarts, 1);
    assert.ok(row.lastExit, 'the replacement shows why it came');
    assert.equal(row.lastExit.reason, 'crash');
    assert.equal(row.lastExit.signal, 'SIGKILL');
    assert.equal(row.lastExit.code, null);
    assert.ok(row.lastExit.ran >= victim.uptime && row.lastExit.ran <= after.supervisor.uptime + 1, `ran ${row.lastExit.ran}`);
    const at = Date.parse(row.lastExit.at);
    assert.ok(at >= killedAt - 1000 && at <= Date.now(), row.lastExit.at);
    assert.equal(after.workers.find((w) => w.id === 2)!.lastExit, null);
    const table = await smegctl(['--control', server.control, 'status']);
    assert.match(table.stdout, /^1\s+\d+\s+ready .* SIGKILL \(crash\) after \d+s, \d+s ago$/m);

    const r = await smegctl(['--control', server.control, 'reload'], { ms: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const reloaded = await statusOf(server);
    for (const w of reloaded.workers) {
      assert.equal(w.lastExit?.reason, 'retired', `worker ${w.id}`);
      assert.equal(w.lastExit?.code, 0);
      assert.equal(w.lastExit?.signal, null);
    }
    assert.equal(reloaded.workers.find((w) => w.id === 1)!.restarts, 1, 'a reload is not a restart');
  });

  it('--watch redraws one screen in place in a terminal, and quits on q', { skip: !hasTmux && 'tmux is not installed' }, async (t) => {
    const server = await startSmegchat(t, { workers: 2 });
    const dir = scratchDir(t, 'status-watch');
    const exitFile = path.join(dir, 'exit');
    // A shell line printed before: an in-place screen hides it, and shows it again at the end.
    const term = await openTerminal(
      dir,
      `echo before-the-watch; ${q(process.execPath)} ${q(SMEGCTL)} --control ${q(server.control)} status --watch --interval 0.3; echo "exit=$?" > ${q(exitFile)}; sleep 60`,
      { columns: 160, rows: 40 },
    );
    try {
      let screen = await term.waitScreen('the table', /^total\s+2\/2 ready\s+0\s+0\s/m);
      assert.match(screen, /^smegctl status --watch: every 0\.3 s, q or Ctrl-C to quit/m);
      assert.doesNotMatch(screen, /before-the-watch/, 'the alternate screen');

      const clients = [await BoardClient.open(server.port, 'watch'), await BoardClient.open(server.port, 'watch')];
      t.after(() => Promise.all(clients.map((c) => c.close())));
      screen = await term.waitScreen('the new connections', /^total\s+2\/2 ready\s+0\s+2\s/m);
      // Redrawn in place: one header, one table, whatever the number of refreshes.
      assert.equal(screen.match(/^WORKER /gm)?.length, 1, screen);
      assert.equal(screen.match(/^total /gm)?.length, 1, screen);

      await term.keys('q');
      await until('the watch to end', () => existsSync(exitFile) && readFileSync(exitFile, 'utf8').includes('\n'), 15_000, 50);
      assert.equal(readFileSync(exitFile, 'utf8'), 'exit=0\n');
      screen = await term.waitScreen('the old screen back', /before-the-watch/);
      assert.doesNotMatch(screen, /^WORKER /m);
    } finally {
      await term.kill();
    }
  });

  it('--watch --json on a pipe prints one status object a line, until interrupted', async (t) => {
    const server = await startSmegchat(t, { workers: 1 });
    const child = spawn(process.execPath, [SMEGCTL, '--control', server.control, 'status', '--watch', '--json', '--interval', '0.2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    t.after(() => child.kill('SIGKILL'));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    await until('three statuses', () => out.split('\n').length > 3, 20_000, 50);
    child.kill('SIGINT');
    assert.equal(await exited, 0);
    const lines = out.trimEnd().split('\n');
    for (const line of lines) {
      const s = JSON.parse(line) as Status;
      assert.equal(s.supervisor.pid, server.pid);
      assert.equal(s.workers.length, 1);
    }
  });
});
