/**
 * The Redis engine (docs/ARCHITECTURE.md#the-redis-engine): every board's
 * order and history in one Redis, shared by every smegchat host started with
 * the same URL. It keeps the promises of engine.ts across hosts:
 *
 * - **One order.** Seq is assigned inside Redis by one script (scripts.ts)
 *   that also dedupes, appends the frame with stream ID `<seq>-0` and checks
 *   the board's bounds, atomically.
 * - **Stored before seen.** Nothing is published from what this host sent:
 *   one reader per host (XREAD BLOCK over the subscribed boards' streams)
 *   publishes what it reads back, in stream order, this host's own messages
 *   included. A join's replay is read from the stream too.
 * - **A join before what follows its head.** Joins are answered through a
 *   {@link Later}, settled synchronously against what the reader has
 *   published: if the reader is past the join's head, the replay is extended
 *   to where it is, from the frames it just published.
 * - **No message applied twice.** Dedupe by (session tag, id) inside the
 *   script; the client is fail-fast (no offline queue, no retry, no
 *   automatic resend), and this engine resends in order what got no answer,
 *   each operation with this host's increasing id, which the script checks
 *   against the host's high-water mark: a resend after Redis died before
 *   answering is never applied twice.
 * - **Nothing refused silently.** While Redis cannot be reached, submits are
 *   refused `unavailable` and joins closed with 1013; Redis out of memory is
 *   `storage`.
 *
 * A watchdog probes Redis every second: a reader that stopped is restarted,
 * and Redis found to have gone back (a lower write clock or another
 * generation: restarted from an older file, or emptied) gets a new
 * generation (every public epoch changes) and every subscribed board is
 * resynced: their clients resume and are told `reset`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import { RedisConfigError } from './redis-config-error.js';
import type { Logger } from '@smegchat/common';
import { CloseCode, RefusalCode, targetsOf, type ClientMessage, type DeliverItem, type Limits } from '@smegchat/protocol';
import { Later, type Engine, type EngineListener, type EngineStats, type JoinOutcome, type SubmitOutcome } from '../engine.js';
import { isTargeting } from '../targets.js';
import type { PresenceHub } from '../../presence/presence-hub.js';
import { RedisPresenceRelay } from './presence-relay.js';
import { batchFits, classifyError, framesBetween, isConfigFault, readOutcomes, wentBack } from './decisions.js';
import type { RedisTarget } from './redis-url.js';
import { CREATE, JOIN, keys, PROBE, REGENERATE, SUBMIT, WAKE } from './scripts.js';

/** The ids remembered per session and board, and for how long: enough for any resend after a reconnect. */
const IDS_PER_SESSION = 4096;
const IDS_TTL_S = 7 * 24 * 3600;
/** How long a host's operation marks outlive its last write (a host that died leaves them behind). */
const OP_TTL_S = 24 * 3600;
/** Stream entries kept before a clear, for readers that had not read up to it yet. */
const KEEP_BEFORE_CLEAR = 1000;
/** The reader's longest block, and how long past it the watchdog waits before it calls the reader stopped. */
const BLOCK_MS = 2000;
const READER_STALL_MS = BLOCK_MS + 5000;
const READ_COUNT = 1000;
/** A command without an answer by then counts as lost (and the connection is made anew). */
const COMMAND_TIMEOUT_MS = 5000;
/** How long operations without an answer are resent (in order, once Redis is back) before they are refused `unavailable`. */
const RESEND_FOR_MS = 10_000;
const PROBE_EVERY_MS = 1000;
/** Frames kept per subscribed board to extend a join's replay to what the reader has published. */
const RING = 2048;

export interface RedisEngineSettings {
  readonly target: RedisTarget;
  readonly caFile: string | null;
  /** This host's name (for logs and the operation marks). */
  readonly hostName: string;
}

/** A board this host's reader follows. */
interface Following {
  /** The last seq published. */
  cursor: number;
  /** Recently published frames, dense, ending with `cursor`. */
  ring: { seq: number; frame: string }[];
}

/** One submit: sent, answered, or waiting to be sent again after a lost answer. */
interface Operation {
  readonly op: number;
  readonly keys: string[];
  readonly args: (string | number)[];
  readonly count: number;
  readonly board: string;
  readonly later: Later<readonly SubmitOutcome[]>;
  /** When the first attempt got no answer; 0 while none failed. */
  lostSince: number;
  /** Sent on the current connection and not yet answered. */
  inFlight: boolean;
}

type ScriptName = 'smegJoin' | 'smegCreate' | 'smegSubmit' | 'smegProbe' | 'smegRegenerate' | 'smegWake';
type Scripted = Redis & Record<ScriptName, (...args: (string | number)[]) => Promise<unknown>>;

const SCRIPTS: Record<ScriptName, [source: string, keyCount: number]> = {
  smegJoin: [JOIN, 3],
  smegCreate: [CREATE, 3],
  smegSubmit: [SUBMIT, 5],
  smegProbe: [PROBE, 3],
  smegRegenerate: [REGENERATE, 1],
  smegWake: [WAKE, 1],
};

export { RedisConfigError };

function randomHex(bytes: number): string {
  return crypto.randomBytes(bytes).toString('hex');
}

export class RedisEngine implements Engine {
  private readonly hostId: string;
  private cmd!: Scripted;
  private reader!: Redis;
  private closed = false;
  private readonly following = new Map<string, Following>();
  /** Heads of joins just settled for a board not followed yet: the sequencer subscribes right after. */
  private readonly startAt = new Map<string, number>();
  private readonly ops: Operation[] = [];
  private nextOp = 0;
  private sequenced = 0;
  private boards = 0;
  /** What this host last saw of Redis's write clock and generation (for the watchdog). */
  private seenClock = 0;
  private seenGen: string | null = null;
  private lastProbeOk = 0;
  private lastReaderTurn = Date.now();
  private policyOk = true;
  private healthy = false;
  private wakeQueued = false;
  private probeTimer: NodeJS.Timeout | undefined;
  private resendTimer: NodeJS.Timeout | undefined;
  private readerRunning: Promise<void> | undefined;
  private readonly wakeKey: string;
  private readonly opKey: string;
  private lastErrorLogged = '';
  private presenceHub: PresenceHub | null = null;
  private relay: RedisPresenceRelay | null = null;

  constructor(
    private readonly settings: RedisEngineSettings,
    private readonly limits: () => Limits,
    private readonly listener: EngineListener,
    private readonly log: Logger,
    /** Told whenever the engine starts or stops being able to take writes. */
    private readonly onHealth: (healthy: boolean) => void,
  ) {
    this.hostId = `${settings.hostName}-${randomHex(6)}`;
    this.wakeKey = keys.wake(this.hostId);
    this.opKey = keys.op(this.hostId);
  }

  private options(): RedisOptions {
    const t = this.settings.target;
    let tls: RedisOptions['tls'];
    if (t.tls) {
      // SNI takes a host name only; an address is checked against the certificate's IP entries.
      tls = net.isIP(t.host) === 0 ? { servername: t.host } : {};
      if (this.settings.caFile !== null) {
        try {
          tls.ca = fs.readFileSync(this.settings.caFile);
        } catch (err) {
          throw new RedisConfigError(
            `cannot read --redis-ca ${this.settings.caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
          );
        }
      }
    }
    return {
      host: t.host,
      port: t.port,
      db: t.db,
      ...(t.username !== undefined ? { username: t.username } : {}),
      ...(t.password !== undefined ? { password: t.password } : {}),
      ...(tls !== undefined ? { tls } : {}),
      lazyConnect: true,
      // Fail fast: a command is answered or fails; this engine decides what is resent, and in what order.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      enableReadyCheck: true,
      connectTimeout: 5000,
      // Reconnect for ever, quickly at first: 50 ms, doubling to 1 s.
      retryStrategy: (times: number) => Math.min(1000, 50 * 2 ** Math.min(times - 1, 5)),
      reconnectOnError: () => false,
      connectionName: `smegchat:${this.hostId}`,
    };
  }

  /** Presence of this host's boards goes to and comes from the other hosts (through pub/sub): set before open(). */
  relayPresence(hub: PresenceHub): void {
    this.presenceHub = hub;
  }

  /**
   * Connects. A wrong password, a TLS certificate that does not check out, or
   * an evicting `maxmemory-policy` throws {@link RedisConfigError}; a Redis
   * that cannot be reached is not an error: the engine serves unhealthy and
   * keeps trying.
   */
  async open(): Promise<void> {
    const options = this.options();
    this.cmd = new Redis({ ...options, commandTimeout: COMMAND_TIMEOUT_MS }) as Scripted;
    for (const [name, [lua, numberOfKeys]] of Object.entries(SCRIPTS)) this.cmd.defineCommand(name, { lua, numberOfKeys });
    let firstError: unknown;
    const onFirstError = (err: unknown): void => {
      firstError ??= err;
    };
    this.cmd.on('error', onFirstError);
    try {
      await this.cmd.connect();
    } catch (err) {
      const cause = firstError ?? err;
      if (isConfigFault(cause)) {
        this.cmd.disconnect();
        throw new RedisConfigError(`Redis at ${this.settings.target.display} refused smegchat: ${(cause as Error).message}`);
      }
      this.log.warn(
        { redis: this.settings.target.display, err: (cause as Error).message },
        'Redis cannot be reached: serving, /healthz 503, retrying',
      );
    }
    this.cmd.off('error', onFirstError);
    if (this.cmd.status === 'ready') {
      const policy = await this.checkPolicy();
      if (policy !== null) {
        this.cmd.disconnect();
        throw new RedisConfigError(policy);
      }
    }
    this.cmd.on('error', (err: Error) => this.logRedisError('commands', err));
    this.cmd.on('ready', () => void this.onCommandsReady());
    this.cmd.on('close', () => this.updateHealth());

    // The reader blocks; its command timeout is past the block, so a silent connection is found.
    this.reader = new Redis({
      ...options,
      commandTimeout: BLOCK_MS + COMMAND_TIMEOUT_MS,
      connectionName: `smegchat:${this.hostId}:reader`,
    });
    this.reader.on('error', (err: Error) => this.logRedisError('reader', err));
    this.reader.on('ready', () => this.updateHealth());
    this.reader.on('close', () => this.updateHealth());
    this.reader.connect().catch(() => undefined);
    this.readerRunning = this.readLoop();

    if (this.presenceHub !== null) {
      this.relay = new RedisPresenceRelay(options, () => this.cmd, this.hostId, this.presenceHub, this.log);
    }

    this.probeTimer = setInterval(() => void this.probe(), PROBE_EVERY_MS);
    this.probeTimer.unref();
    if (this.cmd.status === 'ready') await this.probe();
    this.log.info({ redis: this.settings.target.display, host: this.hostId, healthy: this.healthy }, 'Redis engine open');
  }

  /** Null when the policy is safe (or cannot be read), else the one line that says why not. */
  private async checkPolicy(): Promise<string | null> {
    try {
      const reply = (await this.cmd.config('GET', 'maxmemory-policy')) as string[];
      const policy = reply[1];
      if (policy === undefined) return null;
      if (policy !== 'noeviction') {
        return `Redis at ${this.settings.target.display} has maxmemory-policy ${policy}: it may evict board history or dedupe ids; set maxmemory-policy noeviction`;
      }
      return null;
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        'cannot read maxmemory-policy (CONFIG GET refused): make sure it is noeviction, or boards may be lost silently',
      );
      return null;
    }
  }

  private async onCommandsReady(): Promise<void> {
    this.lastErrorLogged = '';
    const policy = await this.checkPolicy();
    this.policyOk = policy === null;
    if (policy !== null) this.log.error(policy + ': writes refused until it is');
    this.log.info({ redis: this.settings.target.display }, 'Redis reachable');
    await this.probe();
    this.resendLost();
  }

  private logRedisError(which: string, err: Error): void {
    // Once per distinct error until the next recovery: a Redis that is away would otherwise fill the log.
    const line = `${which}: ${err.message}`;
    if (line === this.lastErrorLogged) return;
    this.lastErrorLogged = line;
    const kind = classifyError(err);
    this.log[kind === 'auth' ? 'error' : 'warn'](
      { redis: this.settings.target.display, err: err.message },
      `Redis ${which} connection: ${kind === 'auth' ? 'login refused' : 'error'}`,
    );
    this.updateHealth();
  }

  // ------------------------------------------------------------ health and the watchdog

  private computeHealth(): boolean {
    if (this.closed) return false;
    return (
      this.cmd.status === 'ready' &&
      this.reader.status === 'ready' &&
      this.policyOk &&
      Date.now() - this.lastProbeOk < PROBE_EVERY_MS * 3 + COMMAND_TIMEOUT_MS &&
      Date.now() - this.lastReaderTurn < READER_STALL_MS
    );
  }

  private updateHealth(): void {
    const now = this.computeHealth();
    if (now === this.healthy) return;
    this.healthy = now;
    this.log[now ? 'info' : 'warn']({ redis: this.settings.target.display }, now ? 'engine healthy' : 'engine unavailable');
    this.onHealth(now);
  }

  /** Once a second: is Redis there, did it go back, does the reader turn? */
  private async probe(): Promise<void> {
    if (this.closed) return;
    if (Date.now() - this.lastReaderTurn > READER_STALL_MS && this.reader.status === 'ready') {
      this.log.warn({ sinceMs: Date.now() - this.lastReaderTurn }, 'watchdog: the reader stopped; connecting it anew');
      this.lastReaderTurn = Date.now(); // one restart per stall
      this.reader.disconnect(true);
    }
    if (this.cmd.status === 'ready') {
      try {
        const [clock, gen, boards] = (await this.cmd.smegProbe(keys.clock, keys.gen, keys.boards)) as [number, string | null, number];
        this.boards = boards;
        this.lastProbeOk = Date.now();
        if (wentBack(this.seenClock, this.seenGen, clock, gen)) await this.wentBack(clock, gen);
        else {
          this.seenClock = Math.max(this.seenClock, clock);
          if (gen !== null) this.seenGen = gen;
        }
      } catch (err) {
        this.logRedisError('probe', err as Error);
      }
    }
    this.updateHealth();
  }

  /**
   * Redis is not what this host saw (restarted from an older file, emptied,
   * or another host found so and replaced the generation): what clients here
   * were shown may differ from what Redis holds. New generation (so every
   * public epoch changes), and every followed board resyncs.
   */
  private async wentBack(clock: number, gen: string | null): Promise<void> {
    let now = gen;
    if (this.seenGen === null || gen === this.seenGen || gen === null) {
      now = (await this.cmd.smegRegenerate(keys.gen, gen ?? '', randomHex(4))) as string;
    }
    this.log.error(
      { seenClock: this.seenClock, clock, seenGeneration: this.seenGen, generation: now },
      'Redis went back (restarted from older data, or emptied): new epochs, every client resumes and is told reset',
    );
    this.seenGen = now;
    this.seenClock = clock;
    this.resyncBoards([...this.following.keys()]);
  }

  private resyncBoards(boards: string[]): void {
    if (boards.length === 0) return;
    for (const board of boards) this.following.delete(board);
    this.listener.resync(boards);
  }

  // ------------------------------------------------------------ the reader

  private wake(): void {
    if (this.wakeQueued || this.cmd.status !== 'ready') return;
    this.wakeQueued = true;
    queueMicrotask(() => {
      this.wakeQueued = false;
      this.cmd.smegWake(this.wakeKey, OP_TTL_S).catch(() => undefined);
    });
  }

  /** Waits (bounded) for a connection to be ready; false if it is not. */
  private waitReady(conn: Redis, ms: number): Promise<boolean> {
    if (conn.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        conn.off('ready', onReady);
        resolve(ok);
      };
      const onReady = (): void => done(true);
      const timer = setTimeout(() => done(false), ms);
      conn.on('ready', onReady);
    });
  }

  private async readLoop(): Promise<void> {
    let wakeId = '0-0';
    while (!this.closed) {
      if (!(await this.waitReady(this.reader, 1000))) {
        this.lastReaderTurn = Date.now(); // waiting for Redis is not a stall
        continue;
      }
      const snapshot = [...this.following].map(([board, f]) => ({ board, f, from: f.cursor }));
      const streamKeys = [this.wakeKey, ...snapshot.map((s) => keys.log(s.board))];
      const ids = [wakeId, ...snapshot.map((s) => `${s.from}-0`)];
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await this.reader.xread('COUNT', READ_COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', ...streamKeys, ...ids)) as typeof reply;
      } catch (err) {
        if (this.closed) return;
        this.logRedisError('reader', err as Error);
        if ((err as Error).message.includes('timed out')) this.reader.disconnect(true);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      this.lastReaderTurn = Date.now();
      if (reply === null) continue;
      const byBoard = new Map(snapshot.map((s) => [keys.log(s.board), s]));
      const gaps: string[] = [];
      for (const [key, entries] of reply) {
        if (key === this.wakeKey) {
          wakeId = entries[entries.length - 1]?.[0] ?? wakeId;
          continue;
        }
        const s = byBoard.get(key);
        if (s === undefined || entries.length === 0) continue;
        // Followed still, by the same subscription?
        if (this.following.get(s.board) !== s.f) continue;
        const first = Number.parseInt(entries[0]![0], 10);
        const fits = batchFits(s.f.cursor, s.from, first);
        if (fits === 'stale') continue;
        if (fits === 'gap') {
          this.log.warn({ board: s.board, cursor: s.f.cursor, next: first }, 'board stream has a gap for this host: its clients resume');
          gaps.push(s.board);
          continue;
        }
        this.publishEntries(s.board, s.f, entries);
      }
      this.resyncBoards(gaps);
    }
  }

  private publishEntries(board: string, f: Following, entries: [string, string[]][]): void {
    const items: DeliverItem[] = [];
    for (const [id, fields] of entries) {
      const seq = Number.parseInt(id, 10);
      if (seq !== f.cursor + 1) break; // dense by construction; anything else waits for the next read
      let frame: string | undefined;
      for (let j = 0; j < fields.length; j += 2) if (fields[j] === 'f') frame = fields[j + 1];
      if (frame === undefined) break;
      items.push({ board, seq, frame });
      f.cursor = seq;
      f.ring.push({ seq, frame });
    }
    if (f.ring.length > RING) f.ring.splice(0, f.ring.length - RING);
    if (items.length > 0) this.listener.publish(board, items);
  }

  // ------------------------------------------------------------ the engine interface

  join(board: string, since: number | undefined, epoch: string | undefined): JoinOutcome | Later<JoinOutcome> {
    if (!this.healthy) return unavailableJoin();
    const later = new Later<JoinOutcome>();
    this.runJoin(board, since, epoch).then(
      (outcome) => this.settleJoin(board, outcome, later, 0),
      (err: unknown) => {
        this.log.warn({ board, err: (err as Error).message }, 'join failed in Redis');
        later.resolve(
          classifyError(err) === 'oom'
            ? { ok: false, code: CloseCode.TryAgainLater, reason: 'Redis is full: try again later' }
            : unavailableJoin(),
        );
      },
    );
    return later;
  }

  private async runJoin(board: string, since: number | undefined, epoch: string | undefined): Promise<JoinOutcome> {
    const args = [keys.meta(board), keys.log(board), keys.gen, since === undefined ? '' : String(since), epoch ?? ''];
    let reply = (await this.cmd.smegJoin(...args)) as (string | number)[];
    if (reply[0] === 'missing') {
      const created = await this.cmd.smegCreate(
        keys.meta(board),
        keys.boards,
        keys.gen,
        board,
        this.limits().maxBoards,
        randomHex(8),
        randomHex(4),
      );
      if (created === 'full') {
        this.log.warn({ board, maxBoards: this.limits().maxBoards }, 'new board refused: board limit reached');
        return { ok: false, code: CloseCode.TryAgainLater, reason: 'this server holds as many boards as it may; use an existing board' };
      }
      reply = (await this.cmd.smegJoin(...args)) as (string | number)[];
      if (reply[0] === 'missing') throw new Error('board missing right after it was created');
    }
    const [pubEpoch, head, reset, ...frames] = reply;
    return { ok: true, board, head: Number(head), epoch: String(pubEpoch), reset: Number(reset) === 1, frames: frames as string[] };
  }

  /**
   * Hands a join's outcome to the sequencer, now, against what the reader has
   * published of the board: a replay that stops short of it is extended.
   */
  private settleJoin(board: string, outcome: JoinOutcome, later: Later<JoinOutcome>, tries: number): void {
    if (!outcome.ok) return later.resolve(outcome);
    if (this.seenGen !== null && !outcome.epoch.endsWith(this.seenGen)) {
      // Read before this host found Redis had gone back: the client tries again, and is told reset.
      return later.resolve(unavailableJoin());
    }
    const f = this.following.get(board);
    if (f === undefined) {
      this.startAt.set(board, outcome.head);
      later.resolve(outcome);
      this.startAt.delete(board);
      return;
    }
    const missing = framesBetween(f.ring, outcome.head, f.cursor);
    if (missing !== null) {
      later.resolve(missing.length === 0 ? outcome : { ...outcome, head: f.cursor, frames: [...outcome.frames, ...missing] });
      return;
    }
    if (tries >= 3) return later.resolve(unavailableJoin());
    // The reader is far past the head: read what lies between and try again.
    const target = f.cursor;
    this.cmd.xrange(keys.log(board), `${outcome.head + 1}-0`, `${target}-0`).then(
      (entries) => {
        const frames = entries.map(([, fields]) => fields[fields.indexOf('f') + 1]!);
        if (frames.length !== target - outcome.head) return later.resolve(unavailableJoin());
        this.settleJoin(board, { ...outcome, head: target, frames: [...outcome.frames, ...frames] }, later, tries + 1);
      },
      () => later.resolve(unavailableJoin()),
    );
  }

  submit(board: string, tag: string, messages: readonly ClientMessage[]): readonly SubmitOutcome[] | Later<readonly SubmitOutcome[]> {
    if (!this.writable()) return messages.map(() => unavailable());
    const limits = this.limits();
    const op = ++this.nextOp;
    const args: (string | number)[] = [
      op,
      limits.maxBoardMessages,
      limits.maxBoardBytes,
      IDS_PER_SESSION,
      IDS_TTL_S,
      OP_TTL_S,
      tag,
      KEEP_BEFORE_CLEAR,
    ];
    for (const msg of messages) {
      const prefix = JSON.stringify(msg).slice(0, -1);
      args.push(msg.id, kindArg(msg), prefix, prefix.length, isTargeting(msg) ? targetsOf(msg).join(' ') : '');
    }
    const operation: Operation = {
      op,
      keys: [keys.meta(board), keys.log(board), keys.ids(board, tag), this.opKey, keys.clock],
      args,
      count: messages.length,
      board,
      later: new Later(),
      lostSince: 0,
      inFlight: false,
    };
    this.ops.push(operation);
    this.send(operation);
    return operation.later;
  }

  /** New operations go out only when none waits to be resent: the script's high-water mark needs them in order. */
  private writable(): boolean {
    return this.healthy && !this.closed && !this.ops.some((o) => o.lostSince !== 0);
  }

  private send(o: Operation): void {
    o.inFlight = true;
    this.cmd.smegSubmit(...o.keys, ...o.args).then(
      (reply) => this.answered(o, reply as [string, string | null, number?]),
      (err: unknown) => this.failed(o, err),
    );
  }

  private answered(o: Operation, reply: [string, string | null, number?]): void {
    this.finish(o);
    const [status, outcomes, clock] = reply;
    if (status === 'lost') {
      this.log.error({ board: o.board }, 'board state missing in Redis (lost?): its clients resume');
      this.resyncBoards([o.board]);
      o.later.resolve(Array.from({ length: o.count }, () => unavailable()));
      return;
    }
    if (status === 'replayed')
      this.log.info({ op: o.op, board: o.board }, 'resent operation was applied before Redis answered: not applied again');
    if (typeof clock === 'number') this.seenClock = Math.max(this.seenClock, clock);
    const result = readOutcomes(outcomes, o.count);
    for (const r of result) if (r.kind === 'sequenced') this.sequenced++;
    o.later.resolve(result);
  }

  private failed(o: Operation, err: unknown): void {
    o.inFlight = false;
    const kind = classifyError(err);
    if (kind === 'unknown' && !this.closed) {
      // No answer: it may have been applied. Kept, in order, to be sent again once Redis is back.
      if (o.lostSince === 0) o.lostSince = Date.now();
      if ((err as Error).message.includes('timed out') && this.cmd.status === 'ready') this.cmd.disconnect(true);
      this.armResendDeadline();
      this.updateHealth();
      return;
    }
    this.finish(o);
    if (kind === 'oom') {
      this.log.warn({ board: o.board }, 'Redis is out of memory (maxmemory): messages refused with storage');
      o.later.resolve(
        Array.from({ length: o.count }, () => refused(RefusalCode.Storage, 'Redis is full: not stored, send it again later')),
      );
    } else {
      if (!this.closed) this.log.error({ board: o.board, err: (err as Error).message }, 'Redis refused a submit');
      o.later.resolve(
        Array.from({ length: o.count }, () =>
          kind === 'refused' ? refused(RefusalCode.Storage, 'not stored: send it again later') : unavailable(),
        ),
      );
    }
  }

  private finish(o: Operation): void {
    const i = this.ops.indexOf(o);
    if (i >= 0) this.ops.splice(i, 1);
  }

  /** Redis is back: every operation that got no answer goes again, in order, before any new one. */
  private resendLost(): void {
    if (this.cmd.status !== 'ready') return;
    for (const o of this.ops) if (o.lostSince !== 0 && !o.inFlight) this.send(o);
  }

  private armResendDeadline(): void {
    if (this.resendTimer !== undefined) return;
    this.resendTimer = setInterval(() => {
      const now = Date.now();
      // Past the bound, refused in order from the oldest: their senders send them again on the same session.
      while (
        this.ops.length > 0 &&
        this.ops[0]!.lostSince !== 0 &&
        !this.ops[0]!.inFlight &&
        now - this.ops[0]!.lostSince > RESEND_FOR_MS
      ) {
        const o = this.ops.shift()!;
        this.log.warn({ op: o.op, board: o.board }, 'no answer from Redis in time: messages refused with unavailable');
        o.later.resolve(Array.from({ length: o.count }, () => unavailable()));
      }
      this.resendLost();
      if (!this.ops.some((o) => o.lostSince !== 0)) {
        clearInterval(this.resendTimer);
        this.resendTimer = undefined;
      }
    }, 250);
    this.resendTimer.unref();
  }

  subscribe(board: string): void {
    const head = this.startAt.get(board);
    if (head === undefined) {
      // Only ever subscribed right after a join's outcome: anything else is a bug, and resuming is the safe answer.
      this.log.error({ board }, 'subscribe without a join: its clients resume');
      queueMicrotask(() => this.listener.resync([board]));
      return;
    }
    this.following.set(board, { cursor: head, ring: [] });
    this.wake();
    this.relay?.follow(board);
  }

  unsubscribe(board: string): void {
    this.following.delete(board);
    this.relay?.unfollow(board);
  }

  stats(): EngineStats {
    return { engine: 'redis', boards: this.boards, sequenced: this.sequenced, healthy: this.healthy, url: this.settings.target.display };
  }

  /** Waits (bounded) for the answers to what was sent, then disconnects. */
  async close(): Promise<void> {
    const deadline = Date.now() + 3000;
    while (this.ops.some((o) => o.inFlight) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    this.relay?.close();
    clearInterval(this.probeTimer);
    clearInterval(this.resendTimer);
    for (const o of this.ops.splice(0)) o.later.resolve(Array.from({ length: o.count }, () => unavailable()));
    this.cmd?.disconnect();
    this.reader?.disconnect();
    await this.readerRunning?.catch(() => undefined);
  }
}

/** A message's kind as the SUBMIT script reads it. */
function kindArg(msg: ClientMessage): string {
  if (msg.t === 'clear') return 'c';
  if (msg.t === 'erase') return 'e';
  return isTargeting(msg) ? 'u' : 'm';
}

function unavailable(): SubmitOutcome {
  return refused(RefusalCode.Unavailable, 'boards are unavailable (Redis cannot be reached): not stored, send it again later');
}

function refused(code: RefusalCode, message: string): SubmitOutcome {
  return { kind: 'refused', code, message };
}

function unavailableJoin(): JoinOutcome {
  return { ok: false, code: CloseCode.TryAgainLater, reason: 'boards are unavailable right now: try again' };
}
