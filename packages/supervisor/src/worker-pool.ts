/**
 * The workers: N slots, each holding at most one serving process. Crashed
 * processes are replaced, at once the first time and with exponential
 * backoff when they keep crashing; reloads replace them one slot at a time;
 * accepted connections go to the ready process with the fewest.
 */
import cluster from 'node:cluster';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import {
  IPC_VERSION,
  WORKER_CONFIG_ENV,
  parseWorkerMessage,
  type Limits,
  type LogLevel,
  type WorkerConfig,
  type WorkerMessage,
  type WorkerStatus,
} from '@smegchat/protocol';
import { WORKER_ENTRY, type Logger } from '@smegchat/worker';
import type { Sequencer } from './sequencer.js';
import { WorkerProcess } from './worker-process.js';

/** A process that lived this long was not crash-looping: its slot's backoff starts over. */
const STABLE_AFTER_MS = 30_000;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_CAP_MS = 30_000;
/** How long a new worker may take to report ready. */
const START_TIMEOUT_MS = 20_000;
/** How long after a replacement serves before connections are evened out: the reconnects settle first. */
const REBALANCE_AFTER_MS = 2_000;
/** A worker is only asked to shed clients when it has this many (or 10 %) more than its share. */
const REBALANCE_SLACK = 2;
/** Accepted sockets held while no worker is ready (all crashed at once, say). */
const MAX_HELD_SOCKETS = 1024;
const HOLD_SOCKET_MS = 10_000;

/** What the pool forks its workers with; changed by a reload. */
export interface PoolSettings {
  readonly limits: Limits;
  readonly logLevel: LogLevel;
  readonly logFile: string | null;
  readonly origins: readonly string[] | null;
  readonly drainTimeoutMs: number;
  readonly failWorkerStart: boolean;
}

class Slot {
  current: WorkerProcess | null = null;
  restarts = 0;
  /** Crashes in a row without a stable run between them. */
  crashStreak = 0;
  backoffTimer: NodeJS.Timeout | undefined;
  /** False once the slot is being removed (scale down) or the pool stops. */
  wanted = true;
  /**
   * Resolves when a process of this slot first serves. A process killed by a
   * signal on the way is replaced like any crash; one that exits by itself
   * before serving (it refused to start) rejects it.
   */
  readonly serving: Promise<void>;
  markServing!: () => void;
  failServing!: (err: Error) => void;
  constructor(readonly id: number) {
    this.serving = new Promise<void>((resolve, reject) => {
      this.markServing = resolve;
      this.failServing = reject;
    });
    this.serving.catch(() => undefined);
  }
}

export class ReloadError extends Error {
  override readonly name = 'ReloadError';
}

export class WorkerPool {
  private readonly slots = new Map<number, Slot>();
  private readonly processes = new Set<WorkerProcess>();
  private readonly held: { socket: Socket; timer: NodeJS.Timeout }[] = [];
  private stopping = false;
  private rebalanceTimer: NodeJS.Timeout | undefined;
  private rotate = 0;
  private pingSeq = 0;

  constructor(
    private settings: PoolSettings,
    private readonly sequencer: Sequencer,
    private readonly log: Logger,
    /** Called when a process becomes ready or dies, for status and readiness notifications. */
    private readonly changed: () => void,
    /** The workers' stdout when it is not the supervisor's own (the pretty printer at a terminal). */
    stdout: Writable | null = null,
  ) {
    cluster.setupPrimary({
      exec: WORKER_ENTRY,
      args: [],
      silent: false,
      ...(stdout === null ? {} : { stdio: ['inherit', stdout, 'inherit', 'ipc'] }),
      // A small young generation: during a burst of connections V8 otherwise grows it to its
      // maximum in every worker, which the benchmark saw as most of the memory per connection
      // (16 KiB against 6-9 with this); CPU and latency stayed within noise.
      execArgv: [...process.execArgv, '--max-semi-space-size=1'],
    });
  }

  /** Starts `count` workers and waits until every one serves. */
  async start(count: number): Promise<void> {
    const started: Promise<void>[] = [];
    for (let id = 1; id <= count; id++) started.push(this.addSlot(id));
    await Promise.all(started);
  }

  get size(): number {
    return this.slots.size;
  }

  readyCount(): number {
    let n = 0;
    for (const p of this.processes) if (p.state === 'ready') n++;
    return n;
  }

  totalConnections(): number {
    let n = this.held.length;
    for (const p of this.processes) n += p.connections;
    return n;
  }

  connectionsFrom(address: string): number {
    let n = 0;
    for (const p of this.processes) n += p.addresses.get(address) ?? 0;
    for (const h of this.held) if (h.socket.remoteAddress === address) n++;
    return n;
  }

  /** Hands an accepted socket to the ready worker with the fewest connections, or holds it until one is ready. */
  dispatch(socket: Socket): void {
    const target = this.leastLoaded();
    if (target !== null) return target.adopt(socket);
    if (this.held.length >= MAX_HELD_SOCKETS || this.stopping) {
      socket.destroy();
      return;
    }
    const entry = {
      socket,
      timer: setTimeout(() => {
        const i = this.held.indexOf(entry);
        if (i >= 0) this.held.splice(i, 1);
        socket.destroy();
      }, HOLD_SOCKET_MS),
    };
    socket.on('error', () => undefined);
    this.held.push(entry);
  }

  /** Rows for `smegctl status`, without CPU and memory (the supervisor adds those). */
  rows(): Omit<WorkerStatus, 'cpu' | 'memory'>[] {
    const rows: Omit<WorkerStatus, 'cpu' | 'memory'>[] = [];
    const now = Date.now();
    for (const p of [...this.processes].sort((a, b) => a.slot - b.slot || a.startedAt - b.startedAt)) {
      rows.push({
        id: p.slot,
        pid: p.pid,
        state: p.state,
        uptime: Math.round((now - p.startedAt) / 1000),
        restarts: this.slots.get(p.slot)?.restarts ?? 0,
        connections: p.connections,
      });
    }
    for (const slot of this.slots.values()) {
      if (slot.current === null && slot.backoffTimer !== undefined) {
        rows.push({ id: slot.id, pid: null, state: 'backoff', uptime: 0, restarts: slot.restarts, connections: 0 });
      }
    }
    return rows;
  }

  /** Sends every ready worker a ping; true if each answered the previous one. */
  pingAll(): boolean {
    const expect = this.pingSeq;
    let allAnswered = true;
    for (const p of this.processes) {
      if (p.state === 'ready' && expect > 0 && p.lastPong < expect && Date.now() - p.startedAt > 1000) allAnswered = false;
    }
    this.pingSeq++;
    for (const p of this.processes) p.send({ t: 'ping', n: this.pingSeq });
    return allAnswered && this.readyCount() > 0;
  }

  reopenLogs(): void {
    for (const p of this.processes) p.send({ t: 'reopen-log' });
  }

  /** New limits, log level and origins for the running workers; new workers get them at fork. */
  applySettings(settings: PoolSettings): void {
    this.settings = settings;
    for (const p of this.processes) {
      p.send({ t: 'config', limits: settings.limits, logLevel: settings.logLevel, origins: settings.origins });
    }
  }

  /**
   * Replaces every worker, one slot at a time: fork the new one, wait until
   * it serves, then retire the old one (clients closed with 1012 reconnect
   * to the others and resume). A replacement that fails to start aborts the
   * reload and the old worker keeps serving.
   */
  async reload(): Promise<{ id: number; oldPid: number | null; newPid: number }[]> {
    const replaced: { id: number; oldPid: number | null; newPid: number }[] = [];
    for (const slot of [...this.slots.values()].sort((a, b) => a.id - b.id)) {
      if (!slot.wanted || this.stopping) break;
      const old = slot.current;
      const fresh = this.fork(slot.id);
      try {
        await withTimeout(fresh.ready, START_TIMEOUT_MS, `worker ${slot.id}: replacement not ready within ${START_TIMEOUT_MS / 1000} s`);
      } catch (err) {
        fresh.retiring = true;
        fresh.worker.process.kill('SIGKILL');
        throw new ReloadError(`${(err as Error).message}; reload aborted, the old workers keep serving`);
      }
      // The old one may have crashed and been replaced meanwhile: retire whichever serves now.
      const previous = slot.current;
      slot.current = fresh;
      clearTimeout(slot.backoffTimer);
      slot.backoffTimer = undefined;
      this.drainHeld();
      this.changed();
      if (previous !== null) await this.retire(previous, 1012);
      replaced.push({ id: slot.id, oldPid: old?.pid ?? null, newPid: fresh.pid });
    }
    return replaced;
  }

  /**
   * Evens out long-lived connections, once the reconnects after a restart or
   * reload have settled: clients that fled a dead worker crowd the survivors
   * while its replacement starts. A worker with more than its share plus some
   * slack is asked to close the surplus with 1012; those clients resume, with
   * nothing lost, on the least loaded worker. It runs once per event, never
   * in a loop.
   */
  scheduleRebalance(): void {
    clearTimeout(this.rebalanceTimer);
    this.rebalanceTimer = setTimeout(() => this.rebalance(), REBALANCE_AFTER_MS);
    this.rebalanceTimer.unref();
  }

  private rebalance(): void {
    const ready = [...this.processes].filter((p) => p.state === 'ready');
    if (ready.length < 2 || this.stopping) return;
    const total = ready.reduce((n, p) => n + p.connections, 0);
    const share = Math.ceil(total / ready.length);
    const slack = Math.max(REBALANCE_SLACK, Math.ceil(share / 10));
    for (const p of ready) {
      const surplus = p.connections - share;
      if (surplus > slack) {
        this.log.info({ worker: p.slot, connections: p.connections, share }, 'moving clients to even out the workers');
        p.send({ t: 'shed', count: surplus });
      }
    }
  }

  /** Changes the number of workers: new slots start, surplus slots are retired (their clients resume elsewhere). */
  async scale(count: number): Promise<void> {
    const ids = [...this.slots.keys()].sort((a, b) => a - b);
    const starts: Promise<void>[] = [];
    for (let id = 1; id <= count; id++) if (!this.slots.has(id)) starts.push(this.addSlot(id));
    await Promise.all(starts);
    const retiring = ids.filter((id) => id > count).map((id) => this.removeSlot(id));
    await Promise.all(retiring);
  }

  /** Closes every worker's clients with 1001 and waits until every worker has exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.rebalanceTimer);
    for (const h of this.held.splice(0)) {
      clearTimeout(h.timer);
      h.socket.destroy();
    }
    for (const slot of this.slots.values()) {
      slot.wanted = false;
      clearTimeout(slot.backoffTimer);
    }
    await Promise.all([...this.processes].map((p) => this.retire(p, 1001)));
  }

  // ------------------------------------------------------------ internals

  private async addSlot(id: number): Promise<void> {
    const slot = new Slot(id);
    this.slots.set(id, slot);
    slot.current = this.fork(id);
    await withTimeout(slot.serving, START_TIMEOUT_MS, `worker ${id} not ready within ${START_TIMEOUT_MS / 1000} s`);
  }

  private async removeSlot(id: number): Promise<void> {
    const slot = this.slots.get(id);
    if (!slot) return;
    slot.wanted = false;
    clearTimeout(slot.backoffTimer);
    this.slots.delete(id);
    if (slot.current) await this.retire(slot.current, 1012);
  }

  private fork(slot: number): WorkerProcess {
    const config: WorkerConfig = {
      id: slot,
      ipcVersion: IPC_VERSION,
      limits: this.settings.limits,
      logLevel: this.settings.logLevel,
      logFile: this.settings.logFile,
      origins: this.settings.origins,
      ...(this.settings.failWorkerStart && { failStart: true }),
    };
    const worker = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(config) });
    const proc = new WorkerProcess(slot, worker);
    this.processes.add(proc);
    const log = this.log.child({ worker: slot, workerPid: proc.pid });
    log.debug('worker forked');
    worker.on('message', (raw: unknown) => {
      const msg = parseWorkerMessage(raw, this.settings.limits);
      if (msg === null) {
        if (!(typeof raw === 'object' && raw !== null && 'cmd' in raw))
          log.warn({ raw: String(JSON.stringify(raw)).slice(0, 200) }, 'malformed IPC message from worker: dropped');
        return;
      }
      this.onMessage(proc, msg, log);
    });
    worker.on('error', (err) => log.warn({ err: err.message }, 'IPC channel error'));
    void proc.gone.then(({ code, signal }) => this.onExit(proc, code, signal, log));
    return proc;
  }

  private onMessage(proc: WorkerProcess, msg: WorkerMessage, log: Logger): void {
    switch (msg.t) {
      case 'ready':
        if (msg.v !== IPC_VERSION) {
          log.error({ workerIpc: msg.v, ipc: IPC_VERSION }, 'worker speaks another IPC version: killed');
          proc.worker.process.kill('SIGKILL');
          return;
        }
        proc.becameReady();
        this.slots.get(proc.slot)?.markServing();
        log.info('worker ready');
        if ((this.slots.get(proc.slot)?.restarts ?? 0) > 0) this.scheduleRebalance();
        this.drainHeld();
        this.changed();
        return;
      case 'join':
        return this.sequencer.join(proc.outbox, msg);
      case 'leave':
        return this.sequencer.leave(proc.outbox, msg.board);
      case 'submit':
        if (msg.invalid) this.sequencer.refuse(proc.outbox, msg.invalid);
        return this.sequencer.submit(proc.outbox, msg.items);
      case 'stats':
        return proc.closed(msg.closed);
      case 'pong':
        proc.lastPong = Math.max(proc.lastPong, msg.n);
        return;
    }
  }

  private onExit(proc: WorkerProcess, code: number | null, signal: string | null, log: Logger): void {
    this.processes.delete(proc);
    this.sequencer.detach(proc.outbox);
    const slot = this.slots.get(proc.slot);
    this.changed();
    if (proc.retiring || this.stopping) {
      log.info({ code, signal }, 'worker exited');
      return;
    }
    if (slot === undefined || slot.current !== proc) {
      log.warn({ code, signal }, 'worker not in service died');
      return;
    }
    if (proc.state === 'starting' && code !== null) {
      slot.failServing(new Error(`worker ${proc.slot} exited before it was ready (exit code ${code})`));
    }
    // A crash: replace it, at once the first time, then backing off.
    slot.current = null;
    slot.restarts++;
    const lived = Date.now() - proc.startedAt;
    slot.crashStreak = lived >= STABLE_AFTER_MS ? 1 : slot.crashStreak + 1;
    const delay = slot.crashStreak <= 1 ? 0 : Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** (slot.crashStreak - 2));
    log.error(
      { code, signal, livedMs: lived, restarts: slot.restarts, crashStreak: slot.crashStreak, delayMs: delay },
      delay === 0 ? 'worker died: replacing it now' : `worker died again: replacing it in ${delay} ms`,
    );
    slot.backoffTimer = setTimeout(() => {
      slot.backoffTimer = undefined;
      if (!slot.wanted || this.stopping || slot.current !== null) return;
      slot.current = this.fork(slot.id);
      this.changed();
    }, delay);
  }

  /** Asks a process to close its clients with `code` and exit; kills it past the drain timeout. */
  private async retire(proc: WorkerProcess, code: 1001 | 1012): Promise<void> {
    proc.retiring = true;
    proc.state = code === 1012 ? 'draining' : 'stopping';
    this.changed();
    proc.send({ t: 'stop', code });
    const timer = setTimeout(() => {
      this.log.warn(
        { worker: proc.slot, workerPid: proc.pid, timeoutMs: this.settings.drainTimeoutMs },
        'worker did not exit in time: killed',
      );
      proc.worker.process.kill('SIGKILL');
    }, this.settings.drainTimeoutMs);
    await proc.exited;
    clearTimeout(timer);
  }

  private leastLoaded(): WorkerProcess | null {
    let best: WorkerProcess | null = null;
    const all = [...this.processes];
    const n = all.length;
    this.rotate = (this.rotate + 1) % Math.max(1, n);
    for (let i = 0; i < n; i++) {
      const p = all[(this.rotate + i) % n]!;
      if (p.state !== 'ready' || !p.worker.isConnected()) continue;
      if (best === null || p.connections < best.connections) best = p;
    }
    return best;
  }

  private drainHeld(): void {
    while (this.held.length > 0) {
      const target = this.leastLoaded();
      if (target === null) return;
      const h = this.held.shift()!;
      clearTimeout(h.timer);
      target.adopt(h.socket);
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
