/**
 * A restart of the supervisor refuses nobody and loses nothing, in a real systemd
 * (test/lib/systemd-sandbox.sh) with the installed units: while a prober opens a
 * connection every 20 ms and a client draws, `systemctl restart smegchat` and a
 * kill -9 of the main pid refuse no connection (they wait in smegchat.socket's queue
 * and the new supervisor serves them), and the drawing client, cut off, resumes with
 * `since` and ends with every stroke it sent exactly once, as does a client that only
 * watches. The diagnostics say how long the stop and the start took, from the journal.
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { BoardClient } from './lib/client.js';
import { Drawer } from './lib/drawer.js';
import { startProber, type ProbeReport } from './lib/prober.js';
import { bootSandbox, sandboxUnavailable, type Sandbox } from './lib/sandbox.js';
import { UNIT, freePrivilegedPort, installService, show } from './lib/service.js';
import { until } from './lib/smegchat.js';

const BOARD = 'restart-board';

/** One journal entry of the unit: systemd's own lines and the bunyan lines of ours (ms since the epoch). */
interface Entry {
  readonly at: number;
  readonly pid: number;
  readonly text: string;
  readonly msg: string | null;
}

async function journal(sb: Sandbox): Promise<Entry[]> {
  const out = await sb.ok(['journalctl', '-u', UNIT, '-o', 'json', '--no-pager']);
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      const e = JSON.parse(l) as { __REALTIME_TIMESTAMP: string; _PID?: string; MESSAGE?: string };
      const text = typeof e.MESSAGE === 'string' ? e.MESSAGE : '';
      let msg: string | null = null;
      if (text.startsWith('{')) msg = (JSON.parse(text) as { msg: string }).msg;
      return { at: Number(e.__REALTIME_TIMESTAMP) / 1000, pid: Number(e._PID ?? 0), text, msg };
    });
}

/**
 * Where a restart's time went (ms from `t0`, the host's clock, which the sandbox shares):
 * the old supervisor's stop, its exit as systemd saw it, the new start by systemd, the new
 * supervisor's first line (Node and the modules loaded), its workers forked, ready.
 */
function phases(entries: readonly Entry[], t0: number, oldPid: number, newPid: number): string {
  const after = entries.filter((e) => e.at >= t0 - 1);
  const find = (p: (e: Entry) => boolean): string => {
    const e = after.find(p);
    return e === undefined ? '?' : String(Math.round(e.at - t0));
  };
  return [
    `old stopping ${find((e) => e.pid === oldPid && e.msg === 'stopping')}`,
    `stopped ${find((e) => e.pid === oldPid && e.msg === 'stopped')}`,
    `exit seen ${find((e) => /Deactivated successfully|Main process exited/.test(e.text))}`,
    `new start ${find((e) => /^Starting /.test(e.text))}`,
    `first line ${find((e) => e.pid === newPid && e.msg !== null)}`,
    `workers forked ${find((e) => e.pid === newPid && e.msg === 'starting')}`,
    `ready ${find((e) => e.pid === newPid && e.msg === 'ready')} ms`,
  ].join(', ');
}

function summary(r: ProbeReport): string {
  return `${r.attempts.length} attempts ${JSON.stringify(r.counts)}, longest wait ${r.maxWaitMs} ms`;
}

async function mainPid(sb: Sandbox): Promise<number> {
  return Number((await show(sb, 'MainPID'))['MainPID']);
}

/** Probes while `disrupt` runs and until the service is back and has served probes for a while. */
async function probeAround(t: TestContext, port: number, disrupt: () => Promise<void>, back: () => Promise<boolean>): Promise<ProbeReport> {
  const prober = startProber(port, 20);
  await until('the prober served before the disruption', () => prober.served() >= 10, 20_000);
  await disrupt();
  await until('the service back', back, 60_000, 100);
  const after = prober.served();
  await until('more probes served by the new supervisor', () => prober.served() >= after + 25, 20_000);
  const report = await prober.stop();
  t.diagnostic(summary(report));
  return report;
}

describe('a supervisor restart under socket activation', { skip: sandboxUnavailable() ?? false }, () => {
  it('systemctl restart and kill -9 of the main pid: no connection refused, no stroke lost or twice', async (t) => {
    const sb = await bootSandbox(t);
    const port = await freePrivilegedPort();
    await installService(sb, port);
    // As the README says: one command enables and starts both units (the socket through Also= and Requires=).
    await sb.ok(['systemctl', 'enable', '--now', UNIT], 90_000);
    assert.equal((await sb.ok(['systemctl', 'is-enabled', 'smegchat.socket'])).trim(), 'enabled');
    assert.equal((await sb.ok(['systemctl', 'is-active', 'smegchat.socket', UNIT])).trim(), 'active\nactive');

    const drawing = await BoardClient.open(port, BOARD);
    const watching = await BoardClient.open(port, BOARD);
    const drawer = new Drawer(drawing, 'draw');
    const watcher = new Drawer(watching, 'watch');
    t.after(() => {
      drawer.finish();
      watcher.finish();
      drawing.ws.terminate();
      watching.ws.terminate();
    });
    drawer.start(20);
    await drawing.waitFor('strokes flowing', () => drawing.board.length >= 10, 20_000);

    // --- systemctl restart: the old supervisor stops (clients told 1001), the new one serves the queue.
    const beforeRestart = await mainPid(sb);
    let restartMs = 0;
    let restartAt = 0;
    const restarted = await probeAround(
      t,
      port,
      async () => {
        const t0 = performance.now();
        restartAt = Date.now();
        await sb.ok(['systemctl', 'restart', UNIT], 90_000);
        restartMs = performance.now() - t0;
      },
      async () => drawer.closeCodes.length >= 1 && drawing.ws.readyState === drawing.ws.OPEN,
    );
    const afterRestart = await mainPid(sb);
    assert.notEqual(afterRestart, beforeRestart);
    assert.deepEqual(drawer.closeCodes, [1001], 'told the server was going away, then resumed');
    t.diagnostic(
      `systemctl restart took ${Math.round(restartMs)} ms: ${phases(await journal(sb), restartAt, beforeRestart, afterRestart)}`,
    );

    // --- kill -9 of the main pid: Restart= starts a new one at once; its workers, orphaned, close their clients.
    let killAt = 0;
    const killed = await probeAround(
      t,
      port,
      async () => {
        killAt = Date.now();
        await sb.ok(['kill', '-9', String(afterRestart)]);
      },
      async () => {
        const s = await show(sb, 'MainPID', 'SubState', 'NRestarts');
        return (
          s['NRestarts'] === '1' &&
          s['SubState'] === 'running' &&
          drawer.closeCodes.length >= 2 &&
          drawing.ws.readyState === drawing.ws.OPEN
        );
      },
    );
    const afterKill = await mainPid(sb);
    t.diagnostic(`kill -9 at 0: ${phases(await journal(sb), killAt, afterRestart, afterKill)}`);

    for (const [what, r] of [
      ['restart', restarted],
      ['kill -9', killed],
    ] as const) {
      assert.equal(r.counts['refused'] ?? 0, 0, `${what}: ${summary(r)}`);
      assert.equal(r.counts['served'], r.attempts.length, `${what}: every attempt served, none reset: ${summary(r)}`);
    }

    // --- nothing lost, nothing twice: every stroke drawn is on the board once, in one order for both clients.
    drawer.stopDrawing();
    await drawing.waitFor('every stroke confirmed', () => drawing.unconfirmed.size === 0, 20_000);
    const head = drawing.lastSeq;
    await watching.waitForSeq(head, 20_000);
    const ids = drawing.board.map((m) => m.id);
    assert.equal(new Set(ids).size, ids.length, 'no stroke twice');
    assert.deepEqual(new Set(ids), new Set(drawer.sent), 'every stroke drawn is on the board');
    assert.deepEqual(
      drawing.board.map((m) => m.seq),
      Array.from({ length: head }, (_, i) => i + 1),
      'seq dense from 1',
    );
    assert.deepEqual(
      watching.board.map((m) => m.id),
      ids,
    );
    assert.deepEqual([...drawer.failures, ...watcher.failures], [], 'every resume was welcomed at its first attempt');
    t.diagnostic(`${drawer.sent.length} strokes, resumed after close codes ${drawer.closeCodes.join(', ')}`);
  });
});
