/**
 * The embedded engine on a sick disk, through the file layer it writes with
 * (no device here fails on demand): a write refused part way, a failed
 * fdatasync, a log that cannot be rewritten, and logs found corrupt or old.
 * Real files in a scratch directory; only the failures are injected.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bunyan from 'bunyan';
import type { ClientMessage, DeliverItem } from '@smegchat/protocol';
import { DEFAULT_LIMITS } from '@smegchat/protocol';
import { whenReady, type SubmitOutcome } from '@smegchat/supervisor/dist/engine/engine.js';
import { REAL_DISK, parseLog, type Disk } from '@smegchat/supervisor/dist/engine/embedded/board-log.js';
import { EmbeddedEngine, type EmbeddedEngineOptions } from '@smegchat/supervisor/dist/engine/embedded/embedded-engine.js';

const log = bunyan.createLogger({ name: 'test', level: process.env.TEST_LOG ?? 'fatal' } as bunyan.LoggerOptions);
const stroke = (id: string): ClientMessage => ({ t: 'stroke', id, color: '#000000', width: 2, points: [[1, 2]] });
const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: injected`), { code });
const endOfTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'smegchat-storage-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;

/** A disk that fails what it is told to, and is otherwise the real one. */
class SickDisk implements Disk {
  /** Writes fail with this code after letting `writeBudget` more bytes through. */
  writeFault: string | null = null;
  writeBudget = 0;
  syncFault: string | null = null;
  replaceFault: string | null = null;
  syncs = 0;
  /** Durable whole-file replaces (rewrites from memory, probes) that succeeded. */
  durableReplaces = 0;

  write(fd: number, buf: Buffer, offset: number, length: number): number {
    if (this.writeFault === null) return REAL_DISK.write(fd, buf, offset, length);
    if (this.writeBudget <= 0) throw errno(this.writeFault);
    const n = REAL_DISK.write(fd, buf, offset, Math.min(length, this.writeBudget));
    this.writeBudget -= n;
    return n;
  }
  truncate(fd: number, length: number): void {
    REAL_DISK.truncate(fd, length);
  }
  fdatasync(fd: number, done: (err: NodeJS.ErrnoException | null) => void): void {
    this.syncs++;
    if (this.syncFault !== null) {
      const code = this.syncFault;
      setImmediate(() => done(errno(code)));
    } else REAL_DISK.fdatasync(fd, done);
  }
  replace(file: string, text: string, durable: boolean): void {
    if (this.replaceFault !== null) throw errno(this.replaceFault);
    REAL_DISK.replace(file, text, durable);
    if (durable) this.durableReplaces++;
  }
}

interface Rig {
  engine: EmbeddedEngine;
  disk: SickDisk;
  dir: string;
  published: DeliverItem[];
  health: boolean[];
  clock: { now: number };
  submit(board: string, ...messages: ClientMessage[]): Promise<readonly SubmitOutcome[]>;
  file(board: string): string;
}

function rig(dir = path.join(scratch, `d${++dirs}`), options: Partial<EmbeddedEngineOptions> = {}): Rig {
  const disk = new SickDisk();
  const published: DeliverItem[] = [];
  const health: boolean[] = [];
  const clock = { now: 1_000_000 };
  const engine = new EmbeddedEngine(
    dir,
    () => DEFAULT_LIMITS,
    { publish: (_board, items) => published.push(...items), resync: () => undefined },
    log,
    { disk, onHealth: (h) => health.push(h), now: () => clock.now, ...options },
  );
  engine.open();
  after(() => engine.close());
  return {
    engine,
    disk,
    dir,
    published,
    health,
    clock,
    submit: (board, ...messages) => new Promise((resolve, reject) => whenReady(engine.submit(board, 'tag', messages), resolve, reject)),
    file: (board) => fs.readFileSync(path.join(dir, 'boards', `${board}.log`), 'utf8'),
  };
}

function joined(r: Rig, board: string): { head: number; epoch: string; frames: string[] } {
  const outcome = r.engine.join(board, undefined, undefined);
  assert.ok(!(outcome instanceof Promise) && 'ok' in outcome && outcome.ok);
  r.engine.subscribe(board);
  return outcome;
}

/** A fresh data directory whose board `name` holds `n` strokes, its engine left open (as a crash leaves it). */
async function boardWithStrokes(name: string, n: number): Promise<{ dir: string; was: { epoch: string }; file: string; whole: string }> {
  const dir = path.join(scratch, `d${++dirs}`);
  const first = rig(dir);
  const was = joined(first, name);
  for (let i = 0; i < n; i++) await first.submit(name, stroke(`${name}${i}`));
  const file = path.join(dir, 'boards', `${name}.log`);
  return { dir, was, file, whole: fs.readFileSync(file, 'utf8') };
}

const kinds = (outcomes: readonly SubmitOutcome[]): string[] =>
  outcomes.map((o) => (o.kind === 'refused' ? o.code : o.kind === 'sequenced' ? `seq ${o.seq}` : o.kind));

describe('EmbeddedEngine on a sick disk', () => {
  it('keeps the whole lines of a write the disk refused part way, refuses the rest with storage, and heals', async () => {
    const r = rig();
    joined(r, 'full');
    assert.deepEqual(kinds(await r.submit('full', stroke('a'))), ['seq 1']);
    // Room for one more line and a half.
    const lineBytes = Buffer.byteLength(r.file('full').split('\n')[1]!) + 1;
    r.disk.writeFault = 'ENOSPC';
    r.disk.writeBudget = Math.floor(lineBytes * 1.5);
    assert.deepEqual(kinds(await r.submit('full', stroke('b'), stroke('c'), stroke('d'))), ['seq 2', 'storage', 'storage']);
    assert.deepEqual(
      r.published.map((i) => i.seq),
      [1, 2],
      'nobody sees a seq the history lacks',
    );
    const onDisk = parseLog(r.file('full'))!;
    assert.equal(onDisk.truncated, 0, 'cut back to the last whole line');
    assert.equal(onDisk.entries.length, 2);
    assert.equal(r.engine.stats().healthy, false);
    assert.match(r.engine.stats().fault ?? '', /ENOSPC/);
    assert.deepEqual(r.health, [false]);

    // Within the retry window: refused without trying the disk; joins still answered.
    r.disk.writeFault = null;
    assert.deepEqual(kinds(await r.submit('full', stroke('c'))), ['storage']);
    assert.equal(joined(r, 'full').head, 2);

    // Space came back and the window passed: the resend is sequenced with the seq it never had, once.
    r.clock.now += 1_001;
    assert.deepEqual(kinds(await r.submit('full', stroke('c'), stroke('b'))), ['seq 3', 'duplicate']);
    assert.equal(r.engine.stats().healthy, true);
    assert.deepEqual(r.health, [false, true]);
    assert.deepEqual(
      parseLog(r.file('full'))!.entries.map((e) => (JSON.parse(e.frame) as { id: string }).id),
      ['a', 'b', 'c'],
    );
  });

  it('heals with no traffic: the tick probes the disk once the fault is over', async () => {
    const r = rig();
    joined(r, 'idle');
    r.disk.writeFault = 'EIO';
    assert.deepEqual(kinds(await r.submit('idle', stroke('a'))), ['storage']);
    r.disk.replaceFault = 'EIO';
    r.engine.tick();
    assert.equal(r.engine.stats().healthy, false, 'the probe failed too');
    r.disk.writeFault = null;
    r.disk.replaceFault = null;
    r.engine.tick();
    assert.equal(r.engine.stats().healthy, true);
    assert.deepEqual(r.health, [false, true]);
    assert.deepEqual(kinds(await r.submit('idle', stroke('a'))), ['seq 1'], 'the retry window ended with the fault');
  });

  it('refuses a clear the disk could not rewrite, and keeps the board as it was', async () => {
    const r = rig();
    joined(r, 'keep');
    await r.submit('keep', stroke('a'), stroke('b'));
    r.disk.replaceFault = 'EIO';
    assert.deepEqual(kinds(await r.submit('keep', { t: 'clear', id: 'x' }, stroke('c'))), ['storage', 'storage']);
    assert.equal(joined(r, 'keep').frames.length, 2);
    assert.equal(parseLog(r.file('keep'))!.entries.length, 2);
  });

  it('never retries a failed fdatasync: the log is rewritten from memory and synced', async () => {
    const r = rig();
    joined(r, 'sync');
    await r.submit('sync', stroke('a'), stroke('b'));
    r.disk.syncFault = 'EIO';
    const before = r.disk.syncs;
    const inode = fs.statSync(path.join(r.dir, 'boards', 'sync.log')).ino;
    r.engine.tick();
    await endOfTurn();
    await endOfTurn();
    assert.equal(r.disk.syncs, before + 1, 'one fdatasync, not retried');
    r.disk.syncFault = null;
    assert.equal(r.disk.durableReplaces, 1, 'the log rewritten from memory, durably');
    assert.notEqual(fs.statSync(path.join(r.dir, 'boards', 'sync.log')).ino, inode, 'a new file, not the one whose pages may be gone');
    assert.equal(parseLog(r.file('sync'))!.entries.length, 2);
    assert.equal(r.engine.stats().healthy, true, 'healed by the rewrite');
    assert.deepEqual(kinds(await r.submit('sync', stroke('c'))), ['seq 3']);
  });

  it('refuses writes to a board whose failed sync could not be healed either', async () => {
    const r = rig();
    joined(r, 'risk');
    await r.submit('risk', stroke('a'));
    r.disk.syncFault = 'EIO';
    r.disk.replaceFault = 'EIO';
    r.engine.tick();
    await endOfTurn();
    await endOfTurn();
    assert.equal(r.engine.stats().healthy, false);
    r.clock.now += 10_000;
    assert.deepEqual(kinds(await r.submit('risk', stroke('b'))), ['storage']);

    // The disk heals: the next tick rewrites the board's log from memory, and it takes writes again.
    r.disk.syncFault = null;
    r.disk.replaceFault = null;
    r.engine.tick();
    assert.equal(r.engine.stats().healthy, true);
    assert.deepEqual(kinds(await r.submit('risk', stroke('b'))), ['seq 2']);
    assert.equal(parseLog(r.file('risk'))!.entries.length, 2);
  });

  it('keeps a log with a corrupt middle line aside, serves its valid lines under a new epoch, and says so', async () => {
    const dir = path.join(scratch, `d${++dirs}`);
    const first = rig(dir);
    const was = joined(first, 'rot');
    for (let i = 0; i < 10; i++) await first.submit('rot', stroke(`s${i}`));
    first.engine.close();
    const file = path.join(dir, 'boards', 'rot.log');
    const text = fs.readFileSync(file, 'utf8');
    const at = text.indexOf('"s4"') + 2;
    fs.writeFileSync(file, text.slice(0, at) + 'X' + text.slice(at + 1));

    const second = rig(dir);
    const now = joined(second, 'rot');
    assert.notEqual(now.epoch, was.epoch, 'what is served differs from what clients saw: a new epoch');
    assert.equal(now.frames.length, 9);
    assert.equal(now.head, 10);
    assert.equal(second.engine.stats().quarantined, 1);
    const aside = fs.readdirSync(path.join(dir, 'boards')).filter((n) => n.startsWith('rot.log.corrupt-'));
    assert.equal(aside.length, 1);
    assert.equal(fs.readFileSync(path.join(dir, 'boards', aside[0]!), 'utf8').length, text.length, 'kept aside whole');
    assert.deepEqual(kinds(await second.submit('rot', stroke('s10'))), ['seq 11']);
  });

  it('cuts a torn tail after a crash, but takes one after a clean stop for damage: kept aside, a new epoch', async () => {
    const { dir, was, file, whole } = await boardWithStrokes('cut', 4);
    const halfway = whole.slice(0, whole.length - 20);

    // The supervisor "crashed" (its state file still says running): a torn line is a crash mid-write.
    fs.writeFileSync(file, halfway);
    const crashed = rig(dir);
    const afterCrash = joined(crashed, 'cut');
    assert.equal(afterCrash.epoch, was.epoch);
    assert.equal(afterCrash.head, 3);
    crashed.engine.close();

    // After that clean stop, the same damage is not a crash: lines clients saw are gone.
    const text = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, text.slice(0, text.length - 20));
    const damaged = rig(dir);
    const afterDamage = joined(damaged, 'cut');
    assert.notEqual(afterDamage.epoch, was.epoch);
    assert.equal(afterDamage.head, 2);
    assert.equal(damaged.engine.stats().quarantined, 1);
  });

  it('past the disk budget refuses new messages with disk-full, a resend of a stored one still as a duplicate', async () => {
    const dir = path.join(scratch, `d${++dirs}`);
    const first = rig(dir);
    joined(first, 'dup');
    await first.submit('dup', stroke('x'));
    first.engine.close();
    const full = rig(dir, { historyBudget: { bytes: 1 } });
    joined(full, 'dup');
    assert.deepEqual(kinds(await full.submit('dup', stroke('x'), stroke('y'), { t: 'clear', id: 'c' })), [
      'duplicate',
      'disk-full',
      'seq 2',
    ]);
    assert.equal(full.engine.join('new', undefined, undefined).ok, false, 'no new board past the budget');
  });

  it("cuts a crash's torn tail at the next start even when the board is not loaded, so a later clean stop keeps its epoch", async () => {
    const { dir, was, file, whole } = await boardWithStrokes('later', 3);
    fs.writeFileSync(file, whole.slice(0, whole.length - 20)); // the "crash": its state file still says running
    const restarted = rig(dir);
    restarted.engine.close(); // nobody joined the board, then a clean stop
    const again = rig(dir);
    const now = joined(again, 'later');
    assert.equal(now.epoch, was.epoch);
    assert.equal(now.head, 2);
    assert.equal(again.engine.stats().quarantined, 0);
  });

  it('reads a version 1 log and rewrites it as version 2, losing nothing', () => {
    const dir = path.join(scratch, `d${++dirs}`);
    fs.mkdirSync(path.join(dir, 'boards'), { recursive: true });
    const frame = (seq: number): string => JSON.stringify({ ...stroke(`v${seq}`), seq });
    fs.writeFileSync(
      path.join(dir, 'boards', 'old.log'),
      `${JSON.stringify({ v: 1, epoch: 'e1', created: 'x' })}\ntag\t${frame(1)}\ntag\t${frame(2)}\n`,
    );
    const r = rig(dir);
    const board = joined(r, 'old');
    assert.equal(board.epoch, 'e1');
    assert.deepEqual(board.frames, [frame(1), frame(2)]);
    const upgraded = parseLog(r.file('old'))!;
    assert.equal(upgraded.header?.v, 2);
    assert.equal(upgraded.entries.length, 2);
  });
});
