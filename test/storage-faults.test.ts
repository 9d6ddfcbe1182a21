/**
 * Storage faults on a real filesystem (README.md, "History: what survives what"):
 * a small tmpfs, mounted by the test (root only, skipped otherwise), filled
 * under load while a bystander uses another board; remounted read-only;
 * full before the server even starts; and a board log with a byte changed in
 * its middle. Each asserts what a user would check: the supervisor alive,
 * the bystander untouched, the writer told (`storage`, naming the id),
 * nothing any client saw lost, and recovery without a restart.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { Status } from '@smegchat/protocol';
import { BoardClient, stroke } from './lib/client.js';
import { healthIs } from './lib/healthz.js';
import { isRoot } from './lib/scratch.js';
import { smegctl } from './lib/smegctl.js';
import { isAlive, reachableScratchDir, startSmegchat, type Smegchat } from './lib/smegchat.js';

const skip = isRoot ? false : 'needs root to mount a tmpfs (CI runs as root)';
/** Points in a filling stroke: ~13 KB a line, so a 2 MiB disk fills in ~150 strokes. */
const BIG = 1000;
const MAX_FILL = 2000;
const FAULT_LOGGED = /board history cannot be written/;
/** The disk fills for reasons of its own here (another process, say): no budget or floor of smegchat's comes first. */
const NO_BUDGET = ['--history-budget', '0', '--min-free', '0'];

/**
 * A tmpfs of `size` (mount -o size=) mounted on the data directory it
 * returns, reachable by the service user, unmounted (lazily) when the test
 * ends. Its parent, not on it, holds the control socket (as /run does).
 */
function smallDisk(t: TestContext, size: string): string {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'smegchat-disk-'));
  fs.chmodSync(parent, 0o755);
  const dir = path.join(parent, 'data');
  fs.mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
  t.after(() => {
    execFileSync('umount', ['-l', dir]);
    fs.rmSync(parent, { recursive: true, force: true });
  });
  return dir;
}

const remount = (dir: string, options: string): void => void execFileSync('mount', ['-o', `remount,${options}`, dir]);

async function statusTotals(s: Smegchat): Promise<Status['totals']> {
  const r = await smegctl(['--control', s.control, 'status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as Status).totals;
}

/** Sends big strokes one at a time until one is refused; returns the refused one's id. */
async function fillUntilRefused(writer: BoardClient): Promise<string> {
  for (let i = 0; i < MAX_FILL; i++) {
    const m = stroke('fill', BIG);
    writer.send(m);
    await writer.waitFor(
      `stroke ${i} sequenced or refused`,
      () => !writer.unconfirmed.has(m.id) || writer.errors.some((e) => e.id === m.id),
      20_000,
    );
    if (writer.errors.some((e) => e.id === m.id)) return m.id;
  }
  throw new Error(`the disk refused nothing within ${MAX_FILL} strokes`);
}

/** A server on `dataDir` draws three strokes on `board` and stops cleanly. */
async function drawThreeAndStop(t: TestContext, dataDir: string, board: string): Promise<void> {
  const first = await startSmegchat(t, { workers: 1, dataDir, args: NO_BUDGET });
  const drawer = await BoardClient.open(first.port, board);
  for (let i = 0; i < 3; i++) drawer.send(stroke(board));
  await drawer.waitForSeq(3, 20_000);
  await drawer.close();
  assert.deepEqual(await first.stop(), { code: 0, signal: null });
}

/** The board as a newcomer gets it, as "seq:id" lines. */
async function historyOf(s: Smegchat, board: string): Promise<string[]> {
  const witness = await BoardClient.open(s.port, board);
  await witness.waitForSeq(witness.welcome.seq, 20_000);
  await witness.close();
  return witness.board.map((m) => `${m.seq}:${m.id}`);
}

describe('storage faults on a real filesystem', { skip }, () => {
  it('a full disk under load: the writer is told, the bystander untouched, nothing seen lost, healed without a restart', async (t) => {
    const disk = smallDisk(t, '2m');
    const s = await startSmegchat(t, { workers: 2, dataDir: disk, args: NO_BUDGET });
    const workers = s.workerPids();

    const bystander = await BoardClient.open(s.port, 'bystander');
    for (let i = 0; i < 5; i++) bystander.send(stroke('b'));
    await bystander.waitForSeq(5, 20_000);
    const writer = await BoardClient.open(s.port, 'big');
    const watcher = await BoardClient.open(s.port, 'big');
    t.after(() => Promise.all([bystander, writer, watcher].map((c) => c.close())));

    const refusedId = await fillUntilRefused(writer);
    const error = writer.errors.find((e) => e.id === refusedId)!;
    assert.equal(error.code, 'storage', JSON.stringify(error));
    assert.match(error.message, /ENOSPC/);
    assert.equal(writer.ws.readyState, writer.ws.OPEN, 'the writer stays connected');
    assert.ok(isAlive(s.pid), 'the supervisor is alive');
    assert.deepEqual(s.workerPids(), workers, 'no worker restarted');
    await healthIs(s, 503);
    const faulted = await statusTotals(s);
    assert.equal(faulted.engineReachable, false);
    assert.match(faulted.engineFault ?? '', /ENOSPC/);

    // Nobody saw a seq the history lacks: the watcher's board is the history, and the refused stroke is in neither.
    const seen = watcher.board.map((m) => `${m.seq}:${m.id}`);
    await writer.waitForSeq(watcher.lastSeq, 20_000);
    assert.deepEqual(await historyOf(s, 'big'), seen);
    assert.ok(!seen.some((line) => line.endsWith(`:${refusedId}`)));
    // The bystander's board reads as it was, and its connection stayed.
    assert.equal((await historyOf(s, 'bystander')).length, 5);
    assert.equal(bystander.ws.readyState, bystander.ws.OPEN);

    // Room again: the writer's resends (every second, like the page's) are sequenced, once; nothing restarted.
    remount(disk, 'size=64m');
    await writer.waitFor('the refused stroke sequenced after its resend', () => writer.unconfirmed.size === 0, 30_000);
    await healthIs(s, 200);
    const healed = await historyOf(s, 'big');
    const ids = healed.map((line) => line.split(':')[1]);
    assert.equal(new Set(ids).size, ids.length, 'a stroke twice in the history');
    assert.ok(ids.includes(refusedId));
    assert.deepEqual(healed.slice(0, seen.length), seen, 'what was seen is kept, in its order');
    assert.deepEqual(s.workerPids(), workers);
    await s.waitForLog((r) => /storage fault over/.test(r.msg));
    assert.equal(s.logs.filter((r) => FAULT_LOGGED.test(r.msg)).length, 1, 'the fault is logged once, not once a message');
  });

  it('starts on a full disk: serves the boards there, refuses writes, takes them once there is room', async (t) => {
    const dataDir = smallDisk(t, '1m');
    await drawThreeAndStop(t, dataDir, 'kept');

    // Fill what is left, to the last page.
    const filler = path.join(dataDir, 'filler');
    const fd = fs.openSync(filler, 'w');
    try {
      for (;;) fs.writeSync(fd, Buffer.alloc(64 * 1024));
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      fs.closeSync(fd);
    }

    const s = await startSmegchat(t, { workers: 1, dataDir, args: NO_BUDGET });
    const client = await BoardClient.open(s.port, 'kept');
    t.after(() => client.close());
    await client.waitForSeq(3, 20_000);
    assert.equal(client.board.length, 3, 'the board is served as it was');
    await healthIs(s, 503);
    const m = stroke('full');
    client.send(m);
    await client.waitFor('the stroke refused', () => client.errors.some((e) => e.id === m.id), 20_000);
    assert.equal(client.errors.find((e) => e.id === m.id)!.code, 'storage');

    fs.rmSync(filler);
    await client.waitFor('the stroke sequenced once there is room', () => !client.unconfirmed.has(m.id), 30_000);
    await healthIs(s, 200);
    assert.equal((await historyOf(s, 'kept')).length, 4);
  });
});

describe('storage faults on a real filesystem: read-only', { skip }, () => {
  it('starts on a read-only disk: serves the boards there, refuses writes with EROFS, takes them once writable', async (t) => {
    const dataDir = smallDisk(t, '4m');
    await drawThreeAndStop(t, dataDir, 'ro');
    // Remounted read-only with nothing open on it (one with files open for writing is refused: EBUSY).
    remount(dataDir, 'ro');

    // The control socket on the read-only disk too (as DATA-DIR/control.sock, the default): it cannot be made, and the start goes on.
    const s = await startSmegchat(t, { workers: 1, dataDir, args: [...NO_BUDGET, '--control', path.join(dataDir, 'control.sock')] });
    await s.waitForLog((r) => /control socket not created/.test(r.msg));
    const client = await BoardClient.open(s.port, 'ro');
    t.after(() => client.close());
    await client.waitForSeq(3, 20_000);
    await healthIs(s, 503);
    const m = stroke('ro');
    client.send(m);
    await client.waitFor('the stroke refused', () => client.errors.some((e) => e.id === m.id), 20_000);
    assert.match(client.errors.find((e) => e.id === m.id)!.message, /EROFS/);

    remount(dataDir, 'rw');
    await client.waitFor('the stroke sequenced once writable', () => !client.unconfirmed.has(m.id), 30_000);
    await healthIs(s, 200);
    assert.equal((await historyOf(s, 'ro')).length, 4);
    assert.ok(isAlive(s.pid));
  });
});

describe('a board log with a byte changed in its middle', () => {
  it('is kept aside, never cut: its valid lines are served under a new epoch, and the log and status say so', async (t) => {
    const dataDir = path.join(reachableScratchDir(t, 'rot'), 'data');
    const first = await startSmegchat(t, { workers: 1, dataDir, args: NO_BUDGET });
    const drawer = await BoardClient.open(first.port, 'rot');
    for (let i = 0; i < 100; i++) drawer.send(stroke('r'));
    await drawer.waitForSeq(100, 20_000);
    const seen = drawer.welcome;
    await drawer.close();
    assert.deepEqual(await first.stop(), { code: 0, signal: null });

    // One byte of stroke 20 (line 21: the header is line 1).
    const file = path.join(dataDir, 'boards', 'rot.log');
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    const line = lines[20]!;
    const at = line.indexOf('"color"') + 10;
    lines[20] = line.slice(0, at) + (line[at] === '3' ? '4' : '3') + line.slice(at + 1);
    const damaged = lines.join('\n');
    fs.writeFileSync(file, damaged);

    // The offline check finds it, like redis-check-aof, and changes nothing.
    const check = await smegctl(['check-history', '--data-dir', dataDir]);
    assert.equal(check.code, 1, check.stderr);
    assert.match(check.stdout, /^rot: CORRUPT: 1 bad lines \(line 21: checksum mismatch\); 99 valid lines, up to seq 100$/m);
    assert.match(check.stdout, /1 board logs checked in .*: 0 whole, 0 with a torn last line, 1 corrupt\n$/);
    assert.equal(fs.readFileSync(file, 'utf8'), damaged);

    const s = await startSmegchat(t, { workers: 1, dataDir, args: NO_BUDGET });
    const resumed = await BoardClient.open(s.port, 'rot', { since: 100, epoch: seen.epoch, session: seen.session });
    t.after(() => resumed.close());
    assert.equal(resumed.welcome.reset, true, 'a client that saw the old board is told reset');
    assert.notEqual(resumed.welcome.epoch, seen.epoch);
    await resumed.waitForSeq(100, 20_000);
    assert.equal(resumed.board.length, 99, 'every valid stroke served, the corrupt one left out');
    assert.ok(!resumed.board.some((m) => m.seq === 20));

    const record = await s.waitForLog((r) => /corrupt lines/.test(r.msg));
    assert.deepEqual(record['badLines'], [{ line: 21, why: 'checksum mismatch' }]);
    const aside = String(record['keptAside']);
    assert.equal(fs.readFileSync(aside, 'utf8'), damaged, 'the damaged file is kept aside, whole');
    assert.equal((await statusTotals(s)).boardsQuarantined, 1);
    const after = await smegctl(['check-history', '--data-dir', dataDir]);
    assert.equal(after.code, 0, after.stdout);
    assert.match(after.stdout, /rot\.log\.corrupt-.*: kept aside earlier by smegchat/);
  });
});

describe('the history disk budget', () => {
  it('refuses new boards and messages with a final disk-full past it, still takes a clear, and has room again after', async (t) => {
    const s = await startSmegchat(t, { workers: 2, args: ['--history-budget', '300K', '--min-free', '0'] });
    const writer = await BoardClient.open(s.port, 'budget');
    const watcher = await BoardClient.open(s.port, 'budget');
    t.after(() => Promise.all([writer, watcher].map((c) => c.close())));

    const refusedId = await fillUntilRefused(writer);
    const error = writer.errors.find((e) => e.id === refusedId)!;
    assert.equal(error.code, 'disk-full', JSON.stringify(error));
    assert.equal(writer.unconfirmed.has(refusedId), false, 'final: not to be sent again');
    assert.equal(writer.ws.readyState, writer.ws.OPEN);
    const totals = await statusTotals(s);
    assert.equal(totals.historyFull, true);
    assert.equal(totals.historyBudgetBytes, 300 * 1024);
    await healthIs(s, 200); // a budget reached is policy, not a fault
    await assert.rejects(BoardClient.open(s.port, 'another'), /closed before welcome: 1013 no room for new boards/);
    await s.waitForLog((r) => /disk budget used up/.test(r.msg));

    // Existing boards stay readable, and a clear is taken: it is what frees room.
    await writer.waitForSeq(watcher.lastSeq, 20_000);
    assert.deepEqual(
      await historyOf(s, 'budget'),
      watcher.board.map((m) => `${m.seq}:${m.id}`),
    );
    writer.send({ t: 'clear', id: `clear-${process.pid}` });
    await watcher.waitFor('the clear relayed', () => watcher.board.length === 1 && watcher.board[0]!.t === 'clear', 20_000);
    const after = stroke('after');
    writer.send(after);
    await watcher.waitFor('a stroke after the clear', () => watcher.board.some((m) => m.id === after.id), 20_000);
    assert.equal((await statusTotals(s)).historyFull, false);
  });
});
