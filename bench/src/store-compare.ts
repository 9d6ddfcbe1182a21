/**
 * `npm run bench:store`: the board log (the real BoardLog of the embedded
 * engine) against one embedded database, LMDB (the `lmdb` package: prebuilt
 * binaries in its optional dependencies, nothing downloaded or compiled at
 * install), on the history's own load (issue 13, point 0):
 *
 * - append: many boards, each turn of the event loop one batch of 1 to 20
 *   stroke frames per board, in the OS before the call returns, and an
 *   fdatasync (LMDB: an env sync) started once a second off the event loop,
 *   as the engine does. LMDB is run three ways: one write transaction per
 *   board per turn (the shape of BoardLog.append: a board's write fails
 *   alone), one per turn for all boards (what an engine on LMDB would do),
 *   and lmdb-js's own asynchronous puts (one transaction per turn, committed
 *   on its thread; the sequencer would answer and publish at the commit);
 * - replay of one board of N strokes: open and read every frame, each record
 *   checked as the engine checks a line (CRC-32, then a sequenced frame),
 *   cold (a new process, the files' pages dropped from the page cache) and
 *   warm (the same process again, median of rounds);
 * - the RSS of each process after each, and the bytes on disk.
 *
 * Every measurement runs in a child process of its own, so that one side's
 * memory never counts for the other. `--full-disk DIR` instead fills DIR (a
 * small file system the caller mounted) with each store in turn and reports
 * the error it gives and what a new process reads back.
 */
import { median } from './stats.js';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';

const USAGE = `usage: npm run bench:store -- [options]

  --seconds S        append run length, each (default 10)
  --boards N         boards written each turn (default 1000)
  --rounds N         append runs per store, alternated (default 3)
  --strokes N        strokes on the replayed board (default 3000)
  --warm N           warm replay rounds (default 20)
  --dir DIR          scratch directory (default: a new one under the system's temp dir, removed after)
  --out FILE         the report (default bench/results/store-compare.txt; - for none)
  --full-disk DIR    instead: fill DIR (a small file system) with each store, report what each does
  --help             this text
`;

const SELF = fileURLToPath(import.meta.url);
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BOARD_LOG = new URL('../../packages/supervisor/dist/engine/embedded/board-log.js', import.meta.url).href;
const LMDB_MAP_BYTES = 2 ** 36;
const SYNC_INTERVAL_MS = 1000;
const MAX_BATCH = 20;
/** Cold replays per store, alternated, each a new process: figures are their median. */
const COLD_RUNS = 3;

type Side = 'log' | 'lmdb-board' | 'lmdb-turn' | 'lmdb-async';
const SIDE_LABEL: Record<Side, string> = {
  log: 'board log',
  'lmdb-board': 'LMDB, 1 txn/board/turn',
  'lmdb-turn': 'LMDB, 1 txn/turn',
  'lmdb-async': 'LMDB, async commits',
};
/** Turns whose commit may be outstanding at once (lmdb-async): the sequencer would hold their answers until then. */
const MAX_PENDING_TURNS = 2;

interface Entry {
  readonly tag: string;
  readonly frame: string;
}

interface Memory {
  readonly rssMiB: number;
  readonly anonMiB: number;
  readonly fileMiB: number;
}

interface DiskUse {
  readonly bytes: number;
  readonly allocated: number;
}

interface AppendResult {
  readonly frames: number;
  readonly seconds: number;
  readonly storeSeconds: number;
  readonly cpuSeconds: number;
  readonly syncs: number;
  readonly syncMaxMs: number;
  readonly memory: Memory;
  readonly disk: DiskUse;
  readonly payloadBytes: number;
}

interface ReplayResult {
  readonly importMs: number;
  readonly coldMs: number;
  readonly warmMs: number;
  readonly reopenMs: number;
  readonly frames: number;
  readonly baseline: Memory;
  readonly afterCold: Memory;
  readonly afterWarm: Memory;
}

// ---------- the load: frames as the sequencer makes them, from a seeded generator ----------

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * A pool of stroke frames without their seq: `prefix + seq + '}'` is what
 * sequencedFrame() makes (the seq is the last key), about 300 bytes each.
 */
function framePool(random: () => number): string[] {
  const pool: string[] = [];
  for (let i = 0; i < 1024; i++) {
    const points: [number, number][] = [];
    for (let p = 0; p < 18; p++) points.push([Math.round(random() * 19200) / 10, Math.round(random() * 10800) / 10]);
    const msg = { t: 'stroke', id: `s${i.toString(36)}-${Math.floor(random() * 1e9).toString(36)}`, color: '#1f77b4', width: 3, points };
    pool.push(JSON.stringify(msg).slice(0, -1) + ',"seq":');
  }
  return pool;
}

class Load {
  private readonly random: () => number;
  private readonly pool: string[];
  private readonly tags: string[] = [];
  private readonly heads: number[];

  constructor(boards: number, seed: number) {
    this.random = rng(seed);
    this.pool = framePool(this.random);
    for (let i = 0; i < 64; i++) this.tags.push(zlib.crc32(`session ${i}`).toString(16).padStart(8, '0').repeat(3));
    this.heads = new Array<number>(boards).fill(0);
  }

  /** The next batch for `board`: `size` frames, or 1 to 20 at random. */
  batch(board: number, size = 1 + Math.floor(this.random() * MAX_BATCH)): Entry[] {
    const out: Entry[] = [];
    const tag = this.tags[board % this.tags.length]!;
    for (let i = 0; i < size; i++) {
      const seq = ++this.heads[board]!;
      out.push({ tag, frame: this.pool[Math.floor(this.random() * this.pool.length)]! + seq + '}' });
    }
    return out;
  }
}

// ---------- the two stores, behind one shape ----------

interface Store {
  /** One turn: each board's batch, in the OS when this returns, or (lmdb-async) when the promise resolves. */
  writeTurn(batches: readonly (readonly [board: number, entries: readonly Entry[]])[]): Promise<unknown> | void;
  /** Starts the once-a-second sync; `done` once per finished fdatasync. */
  sync(done: (err: Error | null) => void): void;
  close(): Promise<void>;
}

type BoardLogModule = typeof import('../../packages/supervisor/dist/engine/embedded/board-log.js');
type LmdbModule = typeof import('lmdb');
type LmdbRoot = ReturnType<LmdbModule['open']>;

const boardName = (board: number): string => `b${board}`;

function newHeader(v: 1 | 2): { v: 1 | 2; epoch: string; created: string } {
  return { v, epoch: 'bench', created: new Date().toISOString() };
}

async function logStore(dir: string, boards: number): Promise<Store> {
  const { BoardLog, LOG_VERSION } = (await import(BOARD_LOG)) as BoardLogModule;
  fs.mkdirSync(dir, { recursive: true });
  const logs = Array.from({ length: boards }, (_, b) => BoardLog.create(dir, boardName(b), newHeader(LOG_VERSION)));
  return {
    writeTurn(batches) {
      for (const [board, entries] of batches) {
        const failed = logs[board]!.append(entries);
        if (failed !== null) throw failed.err;
      }
    },
    sync(done) {
      for (const log of logs) log.syncSoon((err) => done(err));
    },
    async close() {
      for (const log of logs) log.close();
    },
  };
}

/** The record LMDB holds per frame: the same text and CRC-32 as a log line (LMDB checksums nothing itself). */
function lmdbRecord(e: Entry): string {
  const body = `${e.tag}\t${e.frame}`;
  return `${body}\t${zlib.crc32(body).toString(16).padStart(8, '0')}`;
}

const keyPrefixes: Buffer[] = [];

/**
 * A record's key: the board's name, a NUL (never in a name), the seq in 4
 * bytes big-endian, so that a board's records are one range in seq order.
 * Raw bytes: lmdb-js's default (ordered-binary arrays) cost more per put.
 */
function lmdbKey(board: number, seq: number): Buffer {
  const prefix = (keyPrefixes[board] ??= Buffer.from(`${boardName(board)}\0`));
  const key = Buffer.allocUnsafe(prefix.length + 4);
  prefix.copy(key);
  key.writeUInt32BE(seq, prefix.length);
  return key;
}

/** Every record of board 0. */
const BOARD_0 = { start: lmdbKey(0, 0), end: lmdbKey(0, 0xffffffff) };

async function openLmdb(dir: string, mapSize = LMDB_MAP_BYTES): Promise<LmdbRoot> {
  const { open } = (await import('lmdb')) as LmdbModule;
  // noSync: a commit writes its pages into the OS and returns, as the log's write does; the sync is ours, once a second.
  return open({ path: dir, noSync: true, encoding: 'string', keyEncoding: 'binary', mapSize });
}

function lmdbSync(db: LmdbRoot, done: (err: Error | null) => void): void {
  (db as unknown as { sync(cb: (err?: Error) => void): void }).sync((err) => done(err ?? null));
}

async function lmdbStore(dir: string, side: 'lmdb-board' | 'lmdb-turn' | 'lmdb-async'): Promise<Store> {
  const db = await openLmdb(dir);
  let syncing = false;
  const putBatch = (board: number, entries: readonly Entry[]): void => {
    for (const e of entries) db.putSync(lmdbKey(board, seqOf(e.frame)), lmdbRecord(e));
  };
  return {
    writeTurn(batches) {
      if (side === 'lmdb-async') {
        // lmdb-js batches the puts of one event-loop turn into one transaction, committed on its own thread.
        let last: Promise<boolean> | undefined;
        for (const [board, entries] of batches) for (const e of entries) last = db.put(lmdbKey(board, seqOf(e.frame)), lmdbRecord(e));
        return last;
      }
      if (side === 'lmdb-turn') db.transactionSync(() => batches.forEach(([board, entries]) => putBatch(board, entries)));
      else for (const [board, entries] of batches) db.transactionSync(() => putBatch(board, entries));
    },
    sync(done) {
      if (syncing) return;
      syncing = true;
      lmdbSync(db, (err) => {
        syncing = false;
        done(err);
      });
    },
    async close() {
      await new Promise<void>((resolve) => lmdbSync(db, () => resolve()));
      await db.close();
    },
  };
}

/** The seq of a frame made by {@link Load} (its last key), without parsing it. */
function seqOf(frame: string): number {
  return Number(frame.slice(frame.lastIndexOf(':') + 1, -1));
}

function openStore(side: Side, dir: string, boards: number): Promise<Store> {
  return side === 'log' ? logStore(dir, boards) : lmdbStore(dir, side);
}

// ---------- measurements, each in a child process ----------

function memory(): Memory {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rssMiB: kib('VmRSS'), anonMiB: kib('RssAnon'), fileMiB: kib('RssFile') };
}

function diskUse(dir: string): DiskUse {
  let bytes = 0;
  let allocated = 0;
  for (const name of fs.readdirSync(dir)) {
    const st = fs.statSync(path.join(dir, name));
    bytes += st.size;
    allocated += st.blocks * 512;
  }
  return { bytes, allocated };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function childAppend(side: Side, dir: string, boards: number, seconds: number): Promise<AppendResult> {
  const store = await openStore(side, dir, boards);
  const load = new Load(boards, 1);
  let frames = 0;
  let payloadBytes = 0;
  let storeMs = 0;
  let syncs = 0;
  let syncMaxMs = 0;
  let syncError: Error | null = null;
  const pending: unknown[] = [];
  const timer = setInterval(() => {
    const started = performance.now();
    store.sync((err) => {
      syncError ??= err;
      syncs++;
      syncMaxMs = Math.max(syncMaxMs, performance.now() - started);
    });
  }, SYNC_INTERVAL_MS);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const batches: [number, Entry[]][] = [];
    for (let b = 0; b < boards; b++) {
      const entries = load.batch(b);
      frames += entries.length;
      for (const e of entries) payloadBytes += e.frame.length;
      batches.push([b, entries]);
    }
    const s = performance.now();
    const committed = store.writeTurn(batches);
    storeMs += performance.now() - s;
    if (committed) pending.push(committed);
    while (pending.length > MAX_PENDING_TURNS) await pending.shift();
    await tick(); // the sync's callbacks, as the sequencer's event loop would run them
  }
  await Promise.all(pending);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(timer);
  if (syncError) throw syncError;
  const mem = memory();
  await store.close();
  return {
    frames,
    seconds: wall,
    storeSeconds: storeMs / 1000,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    syncs,
    syncMaxMs,
    memory: mem,
    disk: diskUse(dir),
    payloadBytes,
  };
}

async function childPrepare(side: 'log' | 'lmdb', dir: string, strokes: number): Promise<DiskUse> {
  const store = await openStore(side === 'log' ? 'log' : 'lmdb-turn', dir, 1);
  const load = new Load(1, 2);
  for (let n = 0; n < strokes;) {
    const entries = load.batch(0, Math.min(strokes - n, 1 + (n % MAX_BATCH)));
    store.writeTurn([[0, entries]]);
    n += entries.length;
  }
  await store.close();
  return diskUse(dir);
}

/** A record checked as the engine checks a line: its CRC-32, then a sequenced frame with an id. */
function checkedFrame(record: string): string {
  const crcAt = record.lastIndexOf('\t');
  const body = record.slice(0, crcAt);
  if (zlib.crc32(body).toString(16).padStart(8, '0') !== record.slice(crcAt + 1)) throw new Error('bad checksum');
  const frame = body.slice(body.indexOf('\t') + 1);
  const v = JSON.parse(frame) as { seq?: unknown; id?: unknown };
  if (!Number.isInteger(v.seq) || typeof v.id !== 'string') throw new Error('not a sequenced frame');
  return frame;
}

async function childReplay(side: 'log' | 'lmdb', dir: string, warm: number): Promise<ReplayResult> {
  const baseline = memory();
  const i0 = performance.now();
  const mod: unknown = side === 'log' ? await import(BOARD_LOG) : await import('lmdb');
  const importMs = performance.now() - i0;
  let readAll: () => string[];
  let reopen: () => Promise<string[]>;
  let done: () => Promise<void>;
  const c0 = performance.now();
  if (side === 'log') {
    const { BoardLog } = mod as BoardLogModule;
    // What History.load does: read and check every line, then open the file to append.
    const load = (): string[] => {
      const loaded = BoardLog.read(dir, boardName(0));
      if (loaded.bad.length > 0 || loaded.truncated > 0) throw new Error('damaged log');
      BoardLog.open(dir, boardName(0), loaded.bytes).close();
      return loaded.entries.map((e) => e.frame);
    };
    readAll = load;
    reopen = async () => load();
    done = async () => {};
  } else {
    const range = (db: LmdbRoot): string[] => {
      const frames: string[] = [];
      for (const { value } of db.getRange(BOARD_0)) frames.push(checkedFrame(value as string));
      return frames;
    };
    let db = await openLmdb(dir);
    readAll = () => range(db);
    reopen = async () => {
      await db.close();
      db = await openLmdb(dir);
      return range(db);
    };
    done = () => db.close();
  }
  let frames = readAll();
  const coldMs = performance.now() - c0;
  const afterCold = memory();
  const times: number[] = [];
  const reopenTimes: number[] = [];
  for (let i = 0; i < warm; i++) {
    let t = performance.now();
    frames = readAll();
    times.push(performance.now() - t);
    t = performance.now();
    frames = await reopen();
    reopenTimes.push(performance.now() - t);
  }
  const afterWarm = memory();
  await done();
  return {
    importMs,
    coldMs,
    warmMs: median(times),
    reopenMs: median(reopenTimes),
    frames: frames.length,
    baseline,
    afterCold,
    afterWarm,
  };
}

// ---------- a full disk ----------

interface FillResult {
  readonly acked: number;
  readonly error: string;
  readonly kept?: number;
  readonly tailLeft?: boolean;
  readonly again: string;
  readonly readBack: string;
  readonly used: DiskUse;
}

function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return `code ${JSON.stringify(e.code)}: ${e.message}`;
}

async function childFill(side: 'log' | 'lmdb', dir: string): Promise<FillResult> {
  const load = new Load(1, 3);
  let acked = 0;
  if (side === 'log') {
    const { BoardLog, LOG_VERSION } = (await import(BOARD_LOG)) as BoardLogModule;
    const log = BoardLog.create(dir, boardName(0), newHeader(LOG_VERSION));
    for (let i = 0; i < 1e6; i++) {
      const failed = log.append(load.batch(0, 10));
      if (failed === null) {
        acked += 10;
        continue;
      }
      acked += failed.kept;
      const again = log.append(load.batch(0, 1));
      const back = BoardLog.read(dir, boardName(0));
      log.close();
      return {
        acked,
        error: describeError(failed.err),
        kept: failed.kept,
        tailLeft: failed.tailLeft,
        again: again === null ? 'taken' : `refused: ${describeError(again.err)}`,
        readBack: `${back.entries.length} frames, ${back.bad.length} bad lines, ${back.truncated} torn bytes`,
        used: diskUse(dir),
      };
    }
    throw new Error('the disk never filled');
  }
  const db = await openLmdb(dir, 2 ** 30);
  for (let i = 0; i < 1e6; i++) {
    try {
      db.transactionSync(() => {
        for (const e of load.batch(0, 10)) db.putSync(lmdbKey(0, seqOf(e.frame)), lmdbRecord(e));
      });
      acked += 10;
      continue;
    } catch (err) {
      let again = 'taken';
      try {
        db.transactionSync(() => {
          for (const e of load.batch(0, 1)) db.putSync(lmdbKey(0, seqOf(e.frame)), lmdbRecord(e));
        });
      } catch (err2) {
        again = `refused: ${describeError(err2)}`;
      }
      const n = db.getCount(BOARD_0);
      await db.close();
      return { acked, error: describeError(err), again, readBack: `${n} frames`, used: diskUse(dir) };
    }
  }
  throw new Error('the disk never filled');
}

/** In a new process, the disk still full: what the store serves. */
async function childReread(side: 'log' | 'lmdb', dir: string): Promise<string> {
  if (side === 'log') {
    const { BoardLog } = (await import(BOARD_LOG)) as BoardLogModule;
    const back = BoardLog.read(dir, boardName(0));
    return `${back.entries.length} frames, ${back.bad.length} bad lines, ${back.truncated} torn bytes`;
  }
  let db: LmdbRoot;
  try {
    db = await openLmdb(dir, 2 ** 30);
  } catch (err) {
    return `open failed: ${describeError(err)}`;
  }
  const frames: string[] = [];
  for (const { value } of db.getRange(BOARD_0)) frames.push(checkedFrame(value as string));
  await db.close();
  return `${frames.length} frames, every record's checksum good`;
}

// ---------- the parent ----------

/** How a child ended: `ok`, or its exit code or signal (a store may crash after it answered). */
type ChildEnd = 'ok' | `exit ${number}` | `signal ${string}`;

function runChildEnd<T>(args: Record<string, unknown>): Promise<{ value: T; end: ChildEnd }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SELF, '--child', JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('exit', (code, signal) => {
      const end: ChildEnd = signal !== null ? `signal ${signal}` : code === 0 ? 'ok' : `exit ${code ?? -1}`;
      try {
        resolve({ value: JSON.parse(out) as T, end });
      } catch {
        reject(new Error(`child ${JSON.stringify(args)} ended ${end}: ${out.slice(0, 500)}`));
      }
    });
  });
}

/** A measurement: its child must also have ended cleanly. */
async function runChild<T>(args: Record<string, unknown>): Promise<T> {
  const { value, end } = await runChildEnd<T>(args);
  if (end !== 'ok') throw new Error(`child ${JSON.stringify(args)} answered, then ended ${end}`);
  return value;
}

/** Drops a directory's files from the page cache (GNU dd: nocache with no count drops the whole file). */
function dropCache(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name);
    const r = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
    if (r.status !== 0) throw new Error(`dd could not drop ${file} from the page cache: ${r.stderr}`);
  }
}

const f = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ratio = (ours: number, theirs: number): string => `${(ours / theirs).toFixed(2)}x`;
const mib = (bytes: number): string => `${f(bytes / 2 ** 20, 1)} MiB`;

interface Options {
  readonly seconds: number;
  readonly boards: number;
  readonly rounds: number;
  readonly strokes: number;
  readonly warm: number;
}

async function compare(opts: Options, scratch: string): Promise<string[]> {
  const lines: string[] = [];
  const say = (line = ''): void => {
    lines.push(line);
    process.stderr.write(line + '\n');
  };
  const load = (): string =>
    os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  say(`node ${process.version}, ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? ''}; load average at the start ${load()}`);
  say(`scratch: ${scratch} (${fs.statfsSync(scratch).type === 0xef53 ? 'ext4' : `fs type 0x${fs.statfsSync(scratch).type.toString(16)}`})`);
  say();
  say(`(a) append: ${f(opts.boards)} boards, each turn a batch of 1-${MAX_BATCH} stroke frames per board,`);
  say(`    in the OS before the call returns, a sync started every ${SYNC_INTERVAL_MS} ms; ${opts.seconds} s a run,`);
  say(`    ${opts.rounds} runs per store alternated, each a new process; figures: median of runs`);
  const sides: Side[] = ['log', 'lmdb-board', 'lmdb-turn', 'lmdb-async'];
  const runs = new Map<Side, AppendResult[]>(sides.map((s) => [s, []]));
  for (let r = 0; r < opts.rounds; r++) {
    for (const side of sides) {
      const dir = path.join(scratch, `append-${side}-${r}`);
      const res = await runChild<AppendResult>({ mode: 'append', side, dir, boards: opts.boards, seconds: opts.seconds });
      fs.rmSync(dir, { recursive: true, force: true });
      runs.get(side)!.push(res);
      process.stderr.write(`  run ${r + 1} ${SIDE_LABEL[side]}: ${f(res.frames / res.seconds)} frames/s\n`);
    }
  }
  const med = (side: Side, pick: (r: AppendResult) => number): number => median(runs.get(side)!.map(pick));
  const rate = (s: Side): number => med(s, (r) => r.frames / r.seconds);
  const storeUs = (s: Side): number => med(s, (r) => (r.storeSeconds / r.frames) * 1e6);
  const cpuUs = (s: Side): number => med(s, (r) => (r.cpuSeconds / r.frames) * 1e6);
  const perFrame = (s: Side): number => med(s, (r) => r.disk.allocated / r.frames);
  const pad = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(34) : c.padStart(24))).join('');
  say();
  say(pad(['', ...sides.map((s) => SIDE_LABEL[s])]));
  say(pad(['frames/s (wall, whole loop)', ...sides.map((s) => f(rate(s)))]));
  say(
    pad([
      '  each run',
      ...sides.map((s) =>
        runs
          .get(s)!
          .map((r) => f(r.frames / r.seconds / 1000) + 'k')
          .join(' '),
      ),
    ]),
  );
  say(pad(['main-thread us in the store/frame', ...sides.map((s) => f(storeUs(s), 2))]));
  say(pad(['CPU us per frame (all threads)', ...sides.map((s) => f(cpuUs(s), 2))]));
  say(pad(['longest sync round, ms', ...sides.map((s) => f(med(s, (r) => r.syncMaxMs)))]));
  say(pad(['RSS at the end, MiB', ...sides.map((s) => f(med(s, (r) => r.memory.rssMiB)))]));
  say(
    pad([
      '  of it anonymous / file-backed',
      ...sides.map((s) => `${f(med(s, (r) => r.memory.anonMiB))} / ${f(med(s, (r) => r.memory.fileMiB))}`),
    ]),
  );
  say(pad(['disk, bytes per frame (allocated)', ...sides.map((s) => f(perFrame(s)))]));
  say(pad(['  frame bytes alone', ...sides.map((s) => f(med(s, (r) => r.payloadBytes / r.frames)))]));
  say(pad(['disk at the end (allocated)', ...sides.map((s) => mib(med(s, (r) => r.disk.allocated)))]));
  say();
  say('ratios, board log to LMDB (above 1: the board log is faster, uses less CPU, disk or memory)');
  for (const s of ['lmdb-board', 'lmdb-turn', 'lmdb-async'] as const) {
    say(
      `  vs ${SIDE_LABEL[s].padEnd(24)} rate ${ratio(rate('log'), rate(s))}, store time ${ratio(storeUs(s), storeUs('log'))}, ` +
        `CPU ${ratio(cpuUs(s), cpuUs('log'))}, disk ${ratio(perFrame(s), perFrame('log'))}, RSS ${ratio(
          med(s, (r) => r.memory.rssMiB),
          med('log', (r) => r.memory.rssMiB),
        )}`,
    );
  }

  say();
  say(`(b) replay of one board of ${f(opts.strokes)} strokes (open + read + check every frame)`);
  say('    cold: a new process, the store files dropped from the page cache first (import of the module apart);');
  say(`    warm: the same process again, median of ${opts.warm}; LMDB warm on its open env, and with a new env each time;`);
  say(`    ${COLD_RUNS} runs per store alternated, each a new process; figures: median of runs`);
  const disk = new Map<'log' | 'lmdb', DiskUse>();
  const replays = new Map<'log' | 'lmdb', ReplayResult[]>([
    ['log', []],
    ['lmdb', []],
  ]);
  const replayDir = (side: 'log' | 'lmdb'): string => path.join(scratch, `replay-${side}`);
  for (const side of ['log', 'lmdb'] as const)
    disk.set(side, await runChild<DiskUse>({ mode: 'prepare', side, dir: replayDir(side), strokes: opts.strokes }));
  for (let r = 0; r < COLD_RUNS; r++) {
    for (const side of ['log', 'lmdb'] as const) {
      dropCache(replayDir(side));
      const res = await runChild<ReplayResult>({ mode: 'replay', side, dir: replayDir(side), warm: opts.warm });
      if (res.frames !== opts.strokes) throw new Error(`${side} replayed ${res.frames} frames of ${opts.strokes}`);
      replays.get(side)!.push(res);
    }
  }
  for (const side of ['log', 'lmdb'] as const) fs.rmSync(replayDir(side), { recursive: true, force: true });
  const rm = (side: 'log' | 'lmdb', pick: (r: ReplayResult) => number): number => median(replays.get(side)!.map(pick));
  const pad2 = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(36) : c.padStart(22))).join('');
  const row = (label: string, pick: (r: ReplayResult) => number, digits: number, withRatio = true): void =>
    say(pad2([label, f(rm('log', pick), digits), f(rm('lmdb', pick), digits), withRatio ? ratio(rm('lmdb', pick), rm('log', pick)) : '']));
  say();
  say(pad2(['', 'board log', 'LMDB', 'LMDB / log']));
  row('import of the module, ms', (r) => r.importMs, 1, false);
  row('cold open + read, ms', (r) => r.coldMs, 1);
  say(
    pad2([
      '  each run',
      ...(['log', 'lmdb'] as const).map((s) =>
        replays
          .get(s)!
          .map((r) => f(r.coldMs, 1))
          .join(' '),
      ),
      '',
    ]),
  );
  row('warm read, ms', (r) => r.warmMs, 2);
  row('warm reopen + read, ms', (r) => r.reopenMs, 2);
  row('RSS before import, MiB', (r) => r.baseline.rssMiB, 0, false);
  row('RSS after cold read, MiB', (r) => r.afterCold.rssMiB, 0);
  row('RSS after warm reads, MiB', (r) => r.afterWarm.rssMiB, 0);
  row('  of it anonymous, MiB', (r) => r.afterWarm.anonMiB, 0);
  const L = disk.get('log')!;
  const M = disk.get('lmdb')!;
  say(pad2(['(d) the board on disk, bytes', f(L.bytes), f(M.bytes), ratio(M.bytes, L.bytes)]));
  say(pad2(['  allocated', f(L.allocated), f(M.allocated), ratio(M.allocated, L.allocated)]));
  say();
  say(`load average at the end ${load()} (other work on the machine; the alternated runs spread it over every side)`);
  return lines;
}

async function fullDisk(dir: string): Promise<string[]> {
  const lines: string[] = [];
  const say = (line = ''): void => {
    lines.push(line);
    process.stderr.write(line + '\n');
  };
  const st = fs.statfsSync(dir);
  say(`full disk: ${dir}, ${mib(st.blocks * st.bsize)}, fs type 0x${st.type.toString(16)}; 10-frame batches until the disk refuses one`);
  for (const side of ['log', 'lmdb'] as const) {
    const sub = path.join(dir, side);
    fs.mkdirSync(sub);
    const { value: res, end: fillEnd } = await runChildEnd<FillResult>({ mode: 'fill', side, dir: sub });
    const { value: reread, end: rereadEnd } = await runChildEnd<string>({ mode: 'reread', side, dir: sub });
    say();
    say(`${side === 'log' ? 'board log' : 'LMDB'}: ${f(res.acked)} frames acknowledged, ${mib(res.used.allocated)} used`);
    say(`  the refused write: ${res.error}${res.kept === undefined ? '' : ` (whole lines kept: ${res.kept}, tail left: ${res.tailLeft})`}`);
    say(`  the next write, disk still full: ${res.again}`);
    say(`  read back in the same process: ${res.readBack}; then the store closed and the process exited: ${fillEnd}`);
    say(`  read back by a new process, disk still full: ${reread}; its exit: ${rereadEnd}`);
    if (side === 'lmdb') {
      // A lock file lost (it lives beside the data; a tmpfs or a cleanup can lose it): it must be made again on the full disk.
      for (const name of fs.readdirSync(sub)) if (name.includes('lock')) fs.rmSync(path.join(sub, name));
      const again = await runChildEnd<string>({ mode: 'reread', side, dir: sub });
      say(`  the same, its lock file removed first: ${again.value}; its exit: ${again.end}`);
    }
    fs.rmSync(sub, { recursive: true, force: true });
  }
  return lines;
}

async function child(spec: Record<string, unknown>): Promise<unknown> {
  const dir = spec['dir'] as string;
  switch (spec['mode']) {
    case 'append':
      return childAppend(spec['side'] as Side, dir, spec['boards'] as number, spec['seconds'] as number);
    case 'prepare':
      return childPrepare(spec['side'] as 'log' | 'lmdb', dir, spec['strokes'] as number);
    case 'replay':
      return childReplay(spec['side'] as 'log' | 'lmdb', dir, spec['warm'] as number);
    case 'fill':
      return childFill(spec['side'] as 'log' | 'lmdb', dir);
    case 'reread':
      return childReread(spec['side'] as 'log' | 'lmdb', dir);
    default:
      throw new Error(`unknown child mode ${String(spec['mode'])}`);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      seconds: { type: 'string', default: '10' },
      boards: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '3' },
      strokes: { type: 'string', default: '3000' },
      warm: { type: 'string', default: '20' },
      dir: { type: 'string' },
      out: { type: 'string', default: path.join(REPO_ROOT, 'bench/results/store-compare.txt') },
      'full-disk': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (values.child !== undefined) {
    process.stdout.write(JSON.stringify(await child(JSON.parse(values.child) as Record<string, unknown>)) + '\n');
    return;
  }
  const command = `npm run bench:store${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`;
  let lines: string[];
  if (values['full-disk'] !== undefined) {
    lines = await fullDisk(values['full-disk']);
  } else {
    const opts: Options = {
      seconds: Number(values.seconds),
      boards: Number(values.boards),
      rounds: Number(values.rounds),
      strokes: Number(values.strokes),
      warm: Number(values.warm),
    };
    for (const [k, v] of Object.entries(opts))
      if (!(Number.isInteger(v) && v > 0)) throw new TypeError(`--${k} must be a whole number from 1, not ${v}`);
    const scratch = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'smegchat-storecmp-'));
    fs.mkdirSync(scratch, { recursive: true });
    try {
      lines = await compare(opts, scratch);
    } finally {
      if (values.dir === undefined) fs.rmSync(scratch, { recursive: true, force: true });
    }
  }
  if (values.out !== '-') fs.writeFileSync(values.out, [`$ ${command}`, `(${new Date().toISOString()})`, '', ...lines, ''].join('\n'));
}

main().catch((err: unknown) => {
  process.stderr.write(`store-compare: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
