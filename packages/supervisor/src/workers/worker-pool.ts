/**
 * The workers' lifecycle: N slots, each holding at most one serving process.
 * Crashed processes are replaced, at once the first time and with
 * exponential backoff when they keep crashing; reloads replace them one slot
 * at a time; a scale adds or retires slots; a stop retires them all. Sockets
 * go out through the dispatcher, client traffic into the sequencer.
 *
 * Beside the slots, `--spares` warm spares: processes forked and loaded
 * ahead, serving nothing, so that a crashed worker's slot is refilled by one
 * of them in the time an IPC message takes rather than the time Node takes to
 * start. A spare taken (or dead) is replaced behind it, under a crash backoff
 * of its own; a reload replaces the spares too, since they run the old code.
 */
import cluster from 'node:cluster';
import type { Writable } from 'node:stream';
import { withDeadline, type Logger } from '@smegchat/common';
import {
  IPC_VERSION,
  WORKER_CONFIG_ENV,
  type Limits,
  type LogLevel,
  type SpareConfig,
  type WorkerConfig,
  type WorkerExit,
  type WorkerState,
  type WorkerStatus,
} from '@smegchat/protocol';
import { WORKER_ENTRY } from '@smegchat/worker';
import type { Dispatcher } from '../connections/dispatcher.js';
import type { Tallies } from '../metrics/tallies.js';
import type { Outbox } from '../sequencer/outbox.js';
import type { Sequencer } from '../sequencer/sequencer.js';
import { backoffDelay, nextCrashStreak } from './backoff.js';
import { rebalancePlan } from './rebalance.js';
import type { WorkerHandlers } from './worker-channel.js';
import type { ProcessState } from './process-state.js';
import { WorkerProcess, type Exit } from './worker-process.js';

/** How long a new worker may take to report ready. */
const START_TIMEOUT_MS = 20_000;
/** How long after a replacement serves before connections are evened out: the reconnects settle first. */
const REBALANCE_AFTER_MS = 2_000;

/** A row of status before the supervisor adds CPU and memory. */
export type WorkerRow = Omit<WorkerStatus, 'cpu' | 'memory'>;

/** What the pool forks its workers with; changed by a reload. */
export interface PoolSettings {
  readonly limits: Limits;
  readonly logLevel: LogLevel;
  readonly logFile: string | null;
  readonly origins: readonly string[] | null;
  readonly drainTimeoutMs: number;
  /** The certificate and key of a TLS port (PEM), or null for plain HTTP. */
  readonly tls: { readonly cert: string; readonly key: string } | null;
  readonly trustedProxies: readonly string[];
  /** This host's name, for `welcome.host`. */
  readonly host: string;
  /** How many warm spares to keep forked (`--spares`; 0: none). */
  readonly spares: number;
}

/** How a process's state reads in status: a spare still loading is `starting` (its `id` null says it is a spare). */
function statusState(state: Exclude<ProcessState, 'exited'>): WorkerState {
  return state === 'warming' ? 'starting' : state;
}

class Slot {
  current: WorkerProcess | null = null;
  restarts = 0;
  /** Crashes in a row without a stable run between them. */
  crashStreak = 0;
  /** How the slot's last process ended, for status. */
  lastExit: WorkerExit | null = null;
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
  private readonly live = new Set<WorkerProcess>();
  private stopping = false;
  private rebalanceTimer: NodeJS.Timeout | undefined;
  private pingSeq = 0;
  private engineHealthy = true;
  /** Spares, warming or warm, in the order they were forked. */
  private readonly spares = new Set<WorkerProcess>();
  /** Spares taken or dead in a row, each within 30 s of its fork: the spares' crash streak (backoff.ts). */
  private spareStreak = 0;
  private spareTimer: NodeJS.Timeout | undefined;
  /** Spares are forked once the first start has every worker serving, never alongside it. */
  private sparesOn = false;

  constructor(
    private settings: PoolSettings,
    private readonly sequencer: Sequencer,
    private readonly dispatcher: Dispatcher,
    private readonly tallies: Tallies,
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

  /** Live processes, for the dispatcher and status. */
  processes(): Iterable<WorkerProcess> {
    return this.live;
  }

  /** Starts `count` workers and waits until every one serves; then forks the spares (not waited for). */
  async start(count: number): Promise<void> {
    const started: Promise<void>[] = [];
    for (let id = 1; id <= count; id++) started.push(this.addSlot(id));
    await Promise.all(started);
    this.sparesOn = true;
    this.fillSpares();
  }

  get size(): number {
    return this.slots.size;
  }

  readyCount(): number {
    let n = 0;
    for (const p of this.live) if (p.state === 'ready') n++;
    return n;
  }

  /** Rows for `smegctl status`, without CPU and memory (the supervisor adds those). */
  rows(now = Date.now()): WorkerRow[] {
    const rows: WorkerRow[] = [];
    // Slots in order, then the spares.
    const order = (p: WorkerProcess): number => p.slot ?? Number.MAX_SAFE_INTEGER;
    for (const p of [...this.live].sort((a, b) => order(a) - order(b) || a.startedAt - b.startedAt)) {
      const state = p.state;
      if (state === 'exited') continue;
      const slot = p.slot === null ? undefined : this.slots.get(p.slot);
      rows.push({
        id: p.slot,
        pid: p.pid,
        state: statusState(state),
        uptime: Math.round((now - p.startedAt) / 1000),
        restarts: slot?.restarts ?? 0,
        connections: p.load.total,
        clients: p.tally.clients,
        messagesInPerSecond: p.tally.receivedRate.perSecond(now),
        deliveriesPerSecond: p.tally.deliveredRate.perSecond(now),
        messagesIn: p.tally.received,
        deliveries: p.tally.delivered,
        // The exit of the process before this one: a replacement shows why it had to come.
        lastExit: slot !== undefined && slot.current === p ? slot.lastExit : null,
      });
    }
    for (const slot of this.slots.values()) {
      if (slot.current === null && slot.backoffTimer !== undefined) {
        rows.push({
          id: slot.id,
          pid: null,
          state: 'backoff',
          uptime: 0,
          restarts: slot.restarts,
          connections: 0,
          clients: 0,
          messagesInPerSecond: 0,
          deliveriesPerSecond: 0,
          messagesIn: 0,
          deliveries: 0,
          lastExit: slot.lastExit,
        });
      }
    }
    return rows;
  }

  /** Per live process, what the metrics read: its slot, state, counts and IPC queue. */
  samples(): { slot: number | null; state: WorkerState; connections: number; clients: number; ipcQueue: number }[] {
    const out = [...this.live]
      .filter((p) => p.state !== 'exited')
      .map((p) => ({
        slot: p.slot,
        state: statusState(p.state as Exclude<ProcessState, 'exited'>),
        connections: p.load.total,
        clients: p.tally.clients,
        ipcQueue: p.channel.queued,
      }));
    for (const slot of this.slots.values()) {
      if (slot.current === null && slot.backoffTimer !== undefined) {
        out.push({ slot: slot.id, state: 'backoff', connections: 0, clients: 0, ipcQueue: 0 });
      }
    }
    return out;
  }

  /** Sends every ready worker a ping; true if each answered the previous one. */
  pingAll(): boolean {
    const expect = this.pingSeq;
    let allAnswered = true;
    for (const p of this.live) {
      if (p.state === 'ready' && expect > 0 && p.lastPong < expect && Date.now() - p.startedAt > 1000) allAnswered = false;
    }
    this.pingSeq++;
    for (const p of this.workers()) p.channel.send({ t: 'ping', n: this.pingSeq });
    return allAnswered && this.readyCount() > 0;
  }

  reopenLogs(): void {
    for (const p of this.workers()) p.channel.send({ t: 'reopen-log' });
  }

  /** Whether the engine takes writes: every worker's /healthz follows it (new ones are told at fork). */
  setEngineHealth(healthy: boolean): void {
    if (healthy === this.engineHealthy) return;
    this.engineHealthy = healthy;
    for (const p of this.workers()) p.channel.send({ t: 'health', engine: healthy });
  }

  /**
   * New limits, log level and origins for the running workers, and a renewed
   * certificate, swapped in at once (new handshakes get it, open connections
   * keep theirs); new workers get them at fork, spares when they are
   * assigned. A new spare count is applied at once.
   */
  applySettings(settings: PoolSettings): void {
    const renewed = settings.tls !== null && settings.tls !== this.settings.tls;
    this.settings = settings;
    this.trimSpares();
    this.fillSpares();
    for (const p of this.workers()) {
      p.channel.send({
        t: 'config',
        limits: settings.limits,
        logLevel: settings.logLevel,
        origins: settings.origins,
        trustedProxies: settings.trustedProxies,
      });
      if (renewed) this.sendCertificate(p);
    }
  }

  private sendCertificate(p: WorkerProcess): void {
    const pair = this.settings.tls;
    if (pair !== null) p.channel.send({ t: 'tls', cert: pair.cert, key: pair.key });
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
        await withDeadline(fresh.ready, START_TIMEOUT_MS, `worker ${slot.id}: replacement not ready within ${START_TIMEOUT_MS / 1000} s`);
      } catch (err) {
        fresh.kill();
        throw new ReloadError(`${(err as Error).message}; reload aborted, the old workers keep serving`);
      }
      // The old one may have crashed and been replaced meanwhile: retire whichever serves now.
      const previous = slot.current;
      slot.current = fresh;
      clearTimeout(slot.backoffTimer);
      slot.backoffTimer = undefined;
      this.dispatcher.drainHeld();
      this.changed();
      if (previous !== null) await this.retire(previous, 1012);
      replaced.push({ id: slot.id, oldPid: old?.pid ?? null, newPid: fresh.pid });
    }
    if (!this.stopping) this.replaceSpares();
    return replaced;
  }

  /**
   * Evens out long-lived connections once the reconnects after a restart or
   * reload have settled (rebalance.ts). It runs once per event, never in a loop.
   */
  scheduleRebalance(): void {
    clearTimeout(this.rebalanceTimer);
    this.rebalanceTimer = setTimeout(() => this.rebalance(), REBALANCE_AFTER_MS);
    this.rebalanceTimer.unref();
  }

  private rebalance(): void {
    if (this.stopping) return;
    const ready = [...this.live].filter((p) => p.state === 'ready');
    const plan = rebalancePlan(ready.map((p) => p.load.total));
    ready.forEach((p, i) => {
      const surplus = plan[i]!;
      if (surplus === 0) return;
      this.log.info({ worker: p.slot, connections: p.load.total, shed: surplus }, 'moving clients to even out the workers');
      p.channel.send({ t: 'shed', count: surplus });
    });
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
    clearTimeout(this.spareTimer);
    this.dispatcher.close();
    for (const slot of this.slots.values()) {
      slot.wanted = false;
      clearTimeout(slot.backoffTimer);
    }
    await Promise.all([...this.live].map((p) => this.retire(p, 1001)));
  }

  // ------------------------------------------------------------ internals

  private async addSlot(id: number): Promise<void> {
    const slot = new Slot(id);
    this.slots.set(id, slot);
    slot.current = this.fork(id);
    await withDeadline(slot.serving, START_TIMEOUT_MS, `worker ${id} not ready within ${START_TIMEOUT_MS / 1000} s`);
  }

  private async removeSlot(id: number): Promise<void> {
    const slot = this.slots.get(id);
    if (!slot) return;
    slot.wanted = false;
    clearTimeout(slot.backoffTimer);
    this.slots.delete(id);
    if (slot.current) await this.retire(slot.current, 1012);
  }

  /** What a worker of `slot` is told: at its fork, or at a spare's assignment. */
  private workerConfig(slot: number): WorkerConfig {
    return {
      id: slot,
      ipcVersion: IPC_VERSION,
      limits: this.settings.limits,
      logLevel: this.settings.logLevel,
      logFile: this.settings.logFile,
      origins: this.settings.origins,
      tls: this.settings.tls !== null,
      trustedProxies: this.settings.trustedProxies,
      host: this.settings.host,
      engineHealthy: this.engineHealthy,
      drainTimeoutMs: this.settings.drainTimeoutMs,
    };
  }

  /** Forks the worker of `slot`, or with `slot` null a spare. */
  private fork(slot: number | null): WorkerProcess {
    const config: WorkerConfig | SpareConfig = slot === null ? { spare: true, ipcVersion: IPC_VERSION } : this.workerConfig(slot);
    const worker = cluster.fork({ [WORKER_CONFIG_ENV]: JSON.stringify(config) });
    const log = this.log.child(
      slot === null ? { spare: true, workerPid: worker.process.pid } : { worker: slot, workerPid: worker.process.pid },
    );
    const proc = new WorkerProcess(
      slot,
      worker,
      () => this.settings.limits,
      log,
      (p) => this.handlers(p),
    );
    this.live.add(proc);
    if (slot === null) this.spares.add(proc);
    log.debug(slot === null ? 'spare forked' : 'worker forked');
    // Read when it exits, not now: an assigned spare's log names its slot by then.
    void proc.gone.then((exit) => this.onExit(proc, exit, proc.log));
    return proc;
  }

  /** Processes that have (or are starting for) a slot: not the spares. */
  private *workers(): Iterable<WorkerProcess> {
    for (const p of this.live) if (!p.isSpare) yield p;
  }

  /**
   * Forks the spares missing, if any: at once while spares last (the first,
   * or after one that waited 30 s), else after the crash backoff of their
   * streak, so that workers that die at every start cannot make the spares
   * a loop of forks. Called whenever a process becomes ready or exits.
   */
  private fillSpares(): void {
    if (!this.sparesOn || this.stopping || this.spareTimer !== undefined) return;
    if (this.spares.size >= this.settings.spares) return;
    const delay = backoffDelay(this.spareStreak);
    const forkMissing = (): void => {
      while (this.spares.size < this.settings.spares) this.fork(null);
      this.changed();
    };
    if (delay === 0) return forkMissing();
    this.log.info({ delayMs: delay, crashStreak: this.spareStreak }, `spare forked in ${delay} ms (crash backoff)`);
    this.spareTimer = setTimeout(() => {
      this.spareTimer = undefined;
      if (!this.stopping) forkMissing();
    }, delay);
  }

  /** Retires the spares past the wanted count, the youngest first (the oldest are likelier warm). */
  private trimSpares(): void {
    const surplus = [...this.spares].slice(this.settings.spares).reverse();
    for (const p of surplus) void this.retire(p, 1001);
  }

  /** A reload's last step: the spares run the code of before it; new ones are forked from the code now on disk. */
  private replaceSpares(): void {
    for (const p of [...this.spares]) void this.retire(p, 1001);
    clearTimeout(this.spareTimer);
    this.spareTimer = undefined;
    this.spareStreak = 0;
    this.fillSpares();
  }

  /**
   * A warm spare for `slot`, assigned and told so, or null when none is warm
   * (then a worker is forked for it, as without spares).
   */
  private takeSpare(slot: number): WorkerProcess | null {
    let spare: WorkerProcess | undefined;
    for (const p of this.spares) {
      if (p.warm) {
        spare = p;
        break;
      }
    }
    if (spare === undefined) return null;
    this.spares.delete(spare);
    const waited = Date.now() - spare.startedAt;
    this.spareStreak = nextCrashStreak(this.spareStreak, waited);
    spare.assign(slot, this.log.child({ worker: slot, workerPid: spare.pid }));
    spare.channel.send({ t: 'assign', config: this.workerConfig(slot) });
    spare.log.info({ spareForMs: waited }, 'spare takes the slot');
    return spare;
  }

  /** What each kind of message from a worker does: lifecycle here, client traffic to the sequencer. */
  private handlers(proc: WorkerProcess): WorkerHandlers {
    // Read when a message comes, not now: the channel is made with these handlers, and an assigned spare's log changes.
    const outbox = (): Outbox => proc.channel.outbox;
    return {
      ready: (m) => this.onReady(proc, m.v, proc.log),
      standby: (m) => this.onStandby(proc, m.v, proc.log),
      'tls-request': () => {
        if (this.settings.tls === null) proc.log.warn('a worker asked for a TLS certificate on a plain port: ignored');
        else this.sendCertificate(proc);
      },
      join: (m) => this.sequencer.join(outbox(), m),
      leave: (m) => this.sequencer.leave(outbox(), m.board),
      presence: (m) => this.sequencer.presence.fromWorker(outbox(), m.board, m.peers),
      submit: (m) => {
        if (m.invalid) this.sequencer.refuse(outbox(), m.invalid);
        this.sequencer.submit(outbox(), m.items);
      },
      stats: (m) => {
        for (const address of m.closed) proc.load.closed(address);
      },
      metrics: (m) => {
        if (proc.slot !== null) this.tallies.workerReport(proc.slot, proc.tally, m);
      },
      claim: (m) => {
        const ok = this.dispatcher.claim(proc, m.from, m.address, this.settings.limits);
        proc.channel.send({ t: 'claimed', req: m.req, ok });
      },
      pong: (m) => {
        proc.lastPong = Math.max(proc.lastPong, m.n);
      },
      drained: () => proc.log.debug('worker drained its channel; exiting'),
      took: (m) => proc.channel.took(m.id),
    };
  }

  private onReady(proc: WorkerProcess, version: number, log: Logger): void {
    if (version !== IPC_VERSION) {
      log.error({ workerIpc: version, ipc: IPC_VERSION }, 'worker speaks another IPC version: killed');
      proc.worker.process.kill('SIGKILL');
      return;
    }
    if (proc.slot === null) {
      log.warn('a spare said ready before it was given a slot: ignored');
      return;
    }
    proc.on('ready');
    // The engine's health may have changed between the fork and now (a send before the channel was up is lost).
    proc.channel.send({ t: 'health', engine: this.engineHealthy });
    this.slots.get(proc.slot)?.markServing();
    log.info('worker ready');
    if ((this.slots.get(proc.slot)?.restarts ?? 0) > 0) this.scheduleRebalance();
    this.dispatcher.drainHeld();
    this.changed();
    // A spare taken for this slot is replaced now, not while its successor was coming up.
    this.fillSpares();
  }

  private onStandby(proc: WorkerProcess, version: number, log: Logger): void {
    if (proc.state !== 'warming') {
      log.warn({ state: proc.state }, 'standby from a process that is not a loading spare: ignored');
      return;
    }
    if (version !== IPC_VERSION) {
      // Killed unplanned: a crash, so the next spare waits out the backoff.
      log.error({ workerIpc: version, ipc: IPC_VERSION }, 'spare speaks another IPC version: killed');
      proc.worker.process.kill('SIGKILL');
      return;
    }
    proc.on('standby');
    log.info({ warmingMs: Date.now() - proc.startedAt }, 'spare standing by');
    this.changed();
  }

  private onSpareExit(proc: WorkerProcess, { code, signal, planned }: Exit, log: Logger): void {
    this.spares.delete(proc);
    this.changed();
    if (planned || this.stopping) {
      log.debug({ code, signal }, 'spare exited');
    } else {
      const lived = Date.now() - proc.startedAt;
      this.spareStreak = nextCrashStreak(this.spareStreak, lived);
      log.error({ code, signal, livedMs: lived, crashStreak: this.spareStreak }, 'spare died');
    }
    this.fillSpares();
  }

  private onExit(proc: WorkerProcess, exit: Exit, log: Logger): void {
    this.live.delete(proc);
    if (proc.slot === null) return this.onSpareExit(proc, exit, log);
    const { code, signal, from, planned, at } = exit;
    this.sequencer.detach(proc.channel.outbox);
    // Its channel is read to the end: what it never took was never read from, and is served elsewhere.
    const untaken = proc.channel.untaken();
    if (untaken.length > 0)
      log.info({ connections: untaken.length }, 'connections handed to the exited worker and never taken: handed to another');
    for (const { socket, refuse } of untaken) {
      if (refuse || this.stopping) socket.destroy();
      else this.dispatcher.dispatch(socket);
    }
    const slot = this.slots.get(proc.slot);
    if (slot !== undefined) {
      slot.lastExit = {
        code,
        signal,
        at: new Date(at).toISOString(),
        ran: Math.round((at - proc.startedAt) / 1000),
        reason: !planned ? 'crash' : from === 'draining' ? 'retired' : 'stopped',
      };
    }
    this.changed();
    if (planned || this.stopping) {
      log.info({ code, signal }, 'worker exited');
      return;
    }
    if (slot === undefined || slot.current !== proc) {
      log.warn({ code, signal }, 'worker not in service died');
      return;
    }
    if (from === 'starting' && code !== null) {
      slot.failServing(new Error(`worker ${proc.slot} exited before it was ready (exit code ${code})`));
    }
    // A crash: replace it, at once the first time, then backing off.
    slot.current = null;
    slot.restarts++;
    this.tallies.workerRestarts++;
    const lived = Date.now() - proc.startedAt;
    slot.crashStreak = nextCrashStreak(slot.crashStreak, lived);
    const delay = backoffDelay(slot.crashStreak);
    log.error(
      { code, signal, livedMs: lived, restarts: slot.restarts, crashStreak: slot.crashStreak, delayMs: delay },
      delay === 0 ? 'worker died: replacing it now' : `worker died again: replacing it in ${delay} ms`,
    );
    slot.backoffTimer = setTimeout(() => {
      slot.backoffTimer = undefined;
      if (!slot.wanted || this.stopping || slot.current !== null) return;
      slot.current = this.takeSpare(slot.id) ?? this.fork(slot.id);
      this.changed();
    }, delay);
  }

  /** Asks a process to close its clients with `code` and exit; kills it past the drain timeout. A spare, with nothing to close, is killed. */
  private async retire(proc: WorkerProcess, code: 1001 | 1012): Promise<void> {
    if (proc.isSpare) {
      this.spares.delete(proc);
      proc.kill();
      this.changed();
      await proc.exited;
      return;
    }
    proc.on(code === 1012 ? 'drain' : 'stop');
    this.changed();
    proc.channel.send({ t: 'stop', code });
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
}
