/**
 * The supervisor: started (often as root) by systemd, a daemon launcher or a
 * terminal. It sets up everything that needs root, drops privileges, starts
 * the workers, and then serves: the listening socket, the sequencer, the
 * control socket, signals, and systemd's notifications.
 */
import fs from 'node:fs';
import path from 'node:path';
import pidusage from 'pidusage';
import {
  CONTROL_VERSION,
  JOIN_SECONDS_BUCKETS,
  type ControlReply,
  type ControlRequest,
  type Limits,
  type ReloadSummary,
  type Status,
} from '@smegchat/protocol';
import { createLogger, isDiskFault, LogSink, TrustedProxies, type Logger } from '@smegchat/common';
import type net from 'node:net';
import { Dispatcher } from './connections/dispatcher.js';
import { Listener } from './connections/listener.js';
import { loadCertificatePair, samePair, type CertificatePair, type Reader } from './certificate.js';
import { ControlServer } from './control-server.js';
import { disableCoreDumps } from './core-dumps.js';
import { EmbeddedEngine } from './engine/embedded/embedded-engine.js';
import { RedisConfigError } from './engine/redis/redis-config-error.js';
import type { Engine } from './engine/engine.js';
import { Lifecycle } from './lifecycle.js';
import type { MetricsServer } from './metrics/metrics-server.js';
import { Tallies } from './metrics/tallies.js';
import { ConfigError, type Config } from './options.js';
import { removePidFile, writePidFile } from './pid-file.js';
import { PrettyLog, wantsPrettyLog } from './pretty-log.js';
import { dropPrivileges, handOver, isRoot, resolveIdentity, type Identity } from './privileges.js';
import { refuseUnreachable } from './reach.js';
import { createNotifier, type Notifier } from './sd-notify.js';
import { Sequencer } from './sequencer/sequencer.js';
import { setCloseOnExec } from './close-on-exec.js';
import { ActivationError, takeActivation, type Activation } from './socket-activation.js';
import { WorkerPool, type PoolSettings } from './workers/worker-pool.js';

const VERSION = '0.1.0';

/** Options a reload cannot change: they need a restart of the supervisor. */
const RESTART_ONLY: readonly (keyof Config)[] = [
  'port',
  'host',
  'user',
  'group',
  'dataDir',
  'control',
  'pidFile',
  'logFile',
  'name',
  'redis',
  'metrics',
];

export class Supervisor {
  private config: Config;
  private log!: Logger;
  private sink!: LogSink;
  private listener!: Listener;
  private sequencer!: Sequencer;
  private engine!: Engine;
  private dispatcher!: Dispatcher;
  private pool!: WorkerPool;
  private control!: ControlServer;
  private notifier!: Notifier;
  private metricsServer: MetricsServer | undefined;
  /** The certificate the port serves, with TLS; who reads its files (the service user). */
  private tls: CertificatePair | null = null;
  private tlsReader: Reader = null;
  private metricsAddress: string | null = null;
  private readonly tallies = new Tallies(JOIN_SECONDS_BUCKETS);
  private readonly tallyTimer = setInterval(() => this.tallies.tick(), 1000).unref();
  /** At a terminal: bunyan's CLI, which turns the JSON lines into readable ones. */
  private pretty: PrettyLog | undefined;
  private readonly startedAt = Date.now();
  private readonly life = new Lifecycle();
  private stopped: Promise<void> | undefined;
  private watchdogTimer: NodeJS.Timeout | undefined;

  constructor(
    config: Config,
    /** Parses the command line and config file again, for a reload. */
    private readonly reparse: () => Config,
  ) {
    this.config = config;
  }

  private limits(): Limits {
    return this.config.limits;
  }

  /** Starts everything; resolves with the bound port once every worker serves. Throws ConfigError for what the user must fix. */
  async start(): Promise<number> {
    try {
      return await this.run();
    } catch (err) {
      // What was logged comes out before the line that says why start-up failed.
      await this.pretty?.close();
      throw err;
    }
  }

  private async run(): Promise<number> {
    const c = this.config;
    // Read and removed from the environment first: no worker forked later may see LISTEN_*.
    let activation: Activation | null;
    try {
      activation = takeActivation();
    } catch (err) {
      if (err instanceof ActivationError) throw new ConfigError(`socket activation: ${err.message}`);
      throw err;
    }
    const resolved = isRoot() ? resolveIdentity(c.user, c.group) : null;
    const identity = resolved?.identity ?? null;
    // Before anything is created or forked: a service user that cannot load the workers'
    // code (a checkout in root's home) ends start-up here, in one line.
    if (identity !== null) refuseUnreachable(identity, c.dataDir);

    // Everything root must create, created and handed to the service user.
    // Until the drop, logs go to stdout; the file is opened as its owner.
    if (c.logFile !== null) prepareFile(c.logFile, identity);
    if (wantsPrettyLog(c)) this.pretty = new PrettyLog(identity);
    this.sink = new LogSink(c.logFile, this.pretty?.stream);
    this.log = createLogger(c.logLevel, this.sink, { role: 'supervisor' });
    if (resolved?.warning) this.log.warn(resolved.warning);
    prepareDir(c.dataDir, identity);
    for (const dir of [path.dirname(c.control), ...(c.pidFile ? [path.dirname(c.pidFile)] : [])]) {
      if (!fs.existsSync(dir)) prepareDir(dir, identity);
    }
    this.notifier = createNotifier();

    const tallies = this.tallies;
    this.sequencer = new Sequencer(this.log, tallies);
    const onHealth = (healthy: boolean): void => this.pool?.setEngineHealth(healthy);
    const engine: Engine & { open(): void | Promise<void> } =
      c.redis === null
        ? new EmbeddedEngine(c.dataDir, () => this.limits(), this.sequencer, this.log, {
            synced: (seconds) => tallies.historySyncs.observe(seconds),
            onHealth,
            historyBudget: c.historyBudget,
            minFree: c.minFree,
          })
        : await this.redisEngine(c.redis, c.name, onHealth);
    this.engine = engine;
    this.sequencer.use(engine);
    const refused = tallies.connectionRefused.bind(tallies);
    this.dispatcher = new Dispatcher(() => this.pool.processes(), refused);
    this.pool = new WorkerPool(
      this.poolSettings(c),
      this.sequencer,
      this.dispatcher,
      tallies,
      this.log,
      () => this.onPoolChange(),
      this.pretty?.stream ?? null,
    );
    this.dispatcher.trust(TrustedProxies.parse(c.trustedProxies));
    this.listener = new Listener(this.dispatcher, () => this.limits(), this.log, { tls: c.tlsCert !== null, refused });
    const address = activation === null ? await this.listener.listen(c.port, c.host) : await this.adopt(activation);
    const metricsAt = activation?.metrics ? { fd: activation.metrics.fd } : c.metrics;
    const metricsPort = metricsAt === null ? null : await this.serveMetrics(c, metricsAt);
    this.control = new ControlServer(c.control, (req, socket) => this.onControl(req, socket), this.log);
    try {
      await this.control.listen(identity);
    } catch (err) {
      // A full or read-only disk under the socket must not keep boards from being served: smegctl cannot reach this one.
      if (!isDiskFault(err)) throw err;
      this.log.error(
        { err: (err as Error).message, control: c.control },
        'control socket not created (its disk takes no writes): serving without it; smegctl cannot reach this smegchat, signals still work',
      );
    }
    if (c.pidFile !== null) writePidFile(c.pidFile);

    if (identity !== null) dropPrivileges(identity);
    try {
      this.sink.open();
    } catch (err) {
      throw new ConfigError(
        `cannot open log file ${c.logFile}${identity ? ` as user ${identity.user}` : ''}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    if (identity !== null) {
      this.log.info({ user: identity.user, uid: identity.uid, gid: identity.gid }, 'privileges dropped');
    } else {
      this.log.info({ uid: process.getuid?.() }, 'not started as root: running as the current user (--user/--group ignored)');
    }
    // Read as the service user, who reads them again at every reload: a pair only root can read is refused now.
    this.tlsReader = identity !== null ? { user: identity.user, group: identity.group } : null;
    if (c.tlsCert !== null && c.tlsKey !== null) {
      this.tls = loadCertificatePair(c.tlsCert, c.tlsKey, this.tlsReader);
      this.pool.applySettings(this.poolSettings(c));
      // The key is in memory from now on, here and in every worker: no core file may hold it.
      const err = disableCoreDumps();
      if (err) this.log.warn({ err: err.message }, 'core dumps could not be disabled: set the core limit to 0 (ulimit -c 0, LimitCORE=0)');
    }
    // Opened as the service user, so a directory it cannot write is found now, in one line.
    try {
      await engine.open();
    } catch (err) {
      if (err instanceof RedisConfigError) throw new ConfigError(err.message);
      const e = err as NodeJS.ErrnoException;
      throw new ConfigError(
        `data directory ${c.dataDir} is not usable${identity ? ` by user ${identity.user}` : ''}: ${e.code ?? e.message}`,
      );
    }
    this.pool.setEngineHealth(engine.stats().healthy);

    this.log.info(
      {
        port: address.port,
        host: c.host ?? '*',
        workers: c.workers,
        dataDir: c.dataDir,
        control: c.control,
        pidFile: c.pidFile,
        logFile: c.logFile,
        logLevel: c.logLevel,
        mode: c.service ? 'service' : c.daemon ? 'daemon' : 'foreground',
        socketActivation: activation !== null,
        origins: c.origins,
        trustedProxies: c.trustedProxies,
        limits: c.limits,
        tls: this.tls === null ? null : { cert: c.tlsCert, ...this.tls.status },
        hostName: c.name,
        engine: engine.stats().engine,
        ...(c.redis !== null ? { redis: c.redis.target.display } : {}),
      },
      'starting',
    );
    this.installSignals();
    try {
      await this.pool.start(c.workers);
    } catch (err) {
      await this.pool.stop();
      await this.closeEngine(); // a clean close: the history was opened
      throw new ConfigError(`workers failed to start: ${(err as Error).message}`);
    }
    this.life.move('served');
    this.startWatchdog();
    this.notify((n) => n.ready(this.statusLine()));
    this.log.info({ port: address.port, workers: this.pool.readyCount(), metricsPort }, 'ready');
    this.pretty?.say(greeting(c, address.port, identity));
    return address.port;
  }

  /**
   * The Redis engine, with presence relayed between hosts. ioredis is loaded
   * only by a supervisor that uses it: a tenth of a second of every start.
   */
  private async redisEngine(
    redis: NonNullable<Config['redis']>,
    hostName: string,
    onHealth: (healthy: boolean) => void,
  ): Promise<Engine & { open(): Promise<void> }> {
    const { RedisEngine } = await import('./engine/redis/redis-engine.js');
    const engine = new RedisEngine(
      { target: redis.target, caFile: redis.caFile, hostName },
      () => this.limits(),
      this.sequencer,
      this.log,
      onHealth,
    );
    engine.relayPresence(this.sequencer.presence);
    return engine;
  }

  /**
   * Serves the sockets systemd passed: the socket unit owns the port, so it is
   * never refused while this supervisor restarts. The config's port and host
   * are not used; the log says so, and what is served instead.
   */
  private async adopt(activation: Activation): Promise<{ port: number }> {
    for (const s of [...activation.web, ...(activation.metrics ? [activation.metrics] : [])]) {
      const err = setCloseOnExec(s.fd);
      if (err) this.log.warn({ fd: s.fd, err: err.message }, 'a passed socket could not be made close-on-exec: workers inherit it');
    }
    const addresses = await this.listener.adopt(activation.web.map((s) => s.fd));
    const sockets = activation.web.map((s, i) => ({ fd: s.fd, name: s.name, address: describe(addresses[i]!) }));
    this.log.info(
      { sockets, ignored: { port: this.config.port, host: this.config.host ?? null } },
      "socket activation: serving the sockets systemd passed, binding nothing (the config's port and host are not used)",
    );
    const first = addresses.find((a): a is net.AddressInfo => typeof a !== 'string');
    return { port: first?.port ?? 0 };
  }

  /** Binds the metrics address (as root if need be: before the drop), or serves the passed socket; resolves with the port. */
  private async serveMetrics(c: Config, where: NonNullable<Config['metrics']> | { readonly fd: number }): Promise<number> {
    // prom-client is loaded only by a supervisor that serves metrics.
    const [{ createRegistry }, { MetricsServer }, { LoopDelay }] = await Promise.all([
      import('./metrics/prometheus.js'),
      import('./metrics/metrics-server.js'),
      import('./metrics/loop-delay.js'),
    ]);
    const loopDelay = new LoopDelay();
    const registry = createRegistry(
      {
        version: VERSION,
        tallies: this.tallies,
        connections: () => this.dispatcher.totalConnections(),
        workers: () => this.pool.samples(),
        engine: () => this.engine.stats(),
        loopDelay: () => loopDelay.snapshot(),
        certificateNotAfter: () => this.tls?.notAfter ?? null,
      },
      { tls: c.tlsCert !== null, localHistory: c.redis === null },
    );
    this.metricsServer = new MetricsServer(registry, this.log);
    const bound = await this.metricsServer.listen(where);
    this.metricsAddress = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
    this.log.info({ address: this.metricsAddress }, 'metrics served at /metrics');
    return bound.port;
  }

  /** Graceful stop: clients closed with 1001, history flushed, every process gone. Idempotent. */
  stop(reason: string): Promise<void> {
    this.stopped ??= this.runStop(reason);
    return this.stopped;
  }

  private async runStop(reason: string): Promise<void> {
    this.life.move('stop');
    this.log.info({ reason }, 'stopping');
    this.notify((n) => n.stopping('stopping: closing clients'));
    clearInterval(this.watchdogTimer);
    this.listener.close();
    await this.pool.stop();
    await this.closeEngine();
    if (this.config.pidFile !== null) removePidFile(this.config.pidFile);
    this.log.info('stopped');
    this.control.close();
    this.metricsServer?.close();
    clearInterval(this.tallyTimer);
    this.notifier.close();
    await this.pretty?.close();
  }

  /** Rolling reload with the configuration re-read; refused while one is running. */
  reload(): Promise<ReloadSummary> {
    try {
      this.life.move('reload');
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.runReload()
      .then(
        (summary) => {
          this.tallies.reloads.ok++;
          return summary;
        },
        (err: unknown) => {
          this.tallies.reloads.failed++;
          throw err;
        },
      )
      .finally(() => {
        this.life.move('done');
        // Never READY=1 after STOPPING=1: a stop may have begun during the reload.
        if (this.life.state !== 'stopping') this.notify((n) => n.ready(this.statusLine()));
      });
  }

  /** Runs N workers; refused while another reload or scale runs. */
  private async scale(workers: number): Promise<number> {
    this.life.move('scale');
    try {
      await this.pool.scale(workers);
    } finally {
      this.life.move('done');
    }
    this.pool.scheduleRebalance();
    this.config = { ...this.config, workers };
    return this.pool.size;
  }

  private async runReload(): Promise<ReloadSummary> {
    const t0 = performance.now();
    this.notify((n) => n.reloading('reloading'));
    let next: Config;
    try {
      next = this.reparse();
    } catch (err) {
      throw new Error(`configuration not reloaded: ${(err as Error).message}`);
    }
    for (const key of RESTART_ONLY) {
      if (JSON.stringify(next[key]) !== JSON.stringify(this.config[key])) {
        this.log.warn({ option: key }, 'option changed but needs a restart of smegchat; keeping the running value');
      }
    }
    next = { ...next, ...Object.fromEntries(RESTART_ONLY.map((k) => [k, this.config[k]])) } as Config;
    if ((next.tlsCert === null) !== (this.config.tlsCert === null)) {
      // The port's protocol, HTTP or HTTPS, is chosen at start: every client would have to change it at once.
      this.log.warn({ option: 'tls-cert' }, 'option changed but needs a restart of smegchat; keeping the running value');
      next = { ...next, tlsCert: this.config.tlsCert, tlsKey: this.config.tlsKey };
    }
    // The files are read again, as the service user; a pair that will not do keeps the old one serving and changes nothing.
    let tls = this.tls;
    if (next.tlsCert !== null && next.tlsKey !== null) {
      try {
        tls = loadCertificatePair(next.tlsCert, next.tlsKey, this.tlsReader);
      } catch (err) {
        throw new Error(`${(err as Error).message}; reload aborted, the running certificate keeps serving`);
      }
    }
    const renewed = !samePair(tls, this.tls);
    const onlyCertificate = renewed && sameApartFromTls(next, this.config);
    this.config = next;
    this.tls = tls;
    this.log.level(this.config.logLevel);
    this.dispatcher.trust(TrustedProxies.parse(this.config.trustedProxies));
    this.pool.applySettings(this.poolSettings(this.config));
    if (renewed) this.log.info({ cert: next.tlsCert, ...tls!.status }, 'TLS certificate renewed: new handshakes get it');
    if (onlyCertificate) {
      // Swapped in place: no worker is replaced, no client disconnected.
      const summary: ReloadSummary = { replaced: 0, seconds: (performance.now() - t0) / 1000, workers: [], certificate: 'renewed' };
      this.log.info(summary, 'reload done: only the certificate changed');
      return summary;
    }
    this.log.info({ workers: this.config.workers }, 'rolling reload begins');
    const replaced = await this.pool.reload();
    if (this.config.workers !== this.pool.size) await this.pool.scale(this.config.workers);
    // The last worker replaced ends up with the fewest clients: even them out.
    this.pool.scheduleRebalance();
    const summary: ReloadSummary = {
      replaced: replaced.length,
      seconds: (performance.now() - t0) / 1000,
      workers: replaced,
      ...(tls !== null && { certificate: renewed ? 'renewed' : 'unchanged' }),
    };
    this.log.info(summary, 'rolling reload done');
    return summary;
  }

  async status(): Promise<Status> {
    const now = Date.now();
    const rows = this.pool.rows(now);
    const engine = this.engine.stats();
    const pids = [process.pid, ...rows.flatMap((r) => (r.pid ? [r.pid] : []))];
    let usage: Record<number, { cpu: number; memory: number }> = {};
    try {
      usage = await pidusage(pids);
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'pidusage failed (a worker exited meanwhile)');
    }
    const self = usage[process.pid];
    return {
      supervisor: {
        pid: process.pid,
        uid: process.getuid?.() ?? -1,
        gid: process.getgid?.() ?? -1,
        uptime: Math.round((Date.now() - this.startedAt) / 1000),
        cpu: round(self?.cpu ?? 0),
        memory: self?.memory ?? process.memoryUsage.rss(),
        version: VERSION,
        state: this.life.state,
        metrics: this.metricsAddress,
        tls: this.tls?.status ?? null,
      },
      workers: rows.map((r) => ({
        ...r,
        messagesInPerSecond: round(r.messagesInPerSecond),
        deliveriesPerSecond: round(r.deliveriesPerSecond),
        cpu: round(r.pid ? (usage[r.pid]?.cpu ?? 0) : 0),
        memory: r.pid ? (usage[r.pid]?.memory ?? 0) : 0,
      })),
      totals: {
        connections: this.dispatcher.totalConnections(),
        boards: engine.boards,
        relayed: engine.sequenced,
        engine: engine.engine,
        boardsLoaded: engine.loaded ?? 0,
        historyBytes: engine.historyBytes ?? 0,
        sequencedPerSecond: round(this.tallies.sequencedRate.perSecond(now)),
        engineReachable: engine.healthy,
        ...(engine.fault !== undefined ? { engineFault: engine.fault } : {}),
        ...(engine.quarantined !== undefined ? { boardsQuarantined: engine.quarantined } : {}),
        ...(engine.budget !== undefined
          ? {
              historyBudgetBytes: engine.budget.historyBytes,
              minFreeBytes: engine.budget.minFreeBytes,
              diskFreeBytes: engine.budget.freeBytes,
              historyFull: engine.budget.full,
            }
          : {}),
        ...(engine.url !== undefined ? { engineUrl: engine.url } : {}),
        host: this.config.name,
      },
    };
  }

  private async onControl(req: ControlRequest, socket: import('node:net').Socket): Promise<ControlReply> {
    const v = CONTROL_VERSION;
    switch (req.cmd) {
      case 'status':
        return { v, ok: true, status: await this.status() };
      case 'reload':
        return { v, ok: true, reload: await this.reload() };
      case 'stop':
        this.control.hold(socket);
        setImmediate(() => void this.stop('smegctl stop').then(() => process.exit(0)));
        return { v, ok: true, stopping: true };
      case 'scale':
        return { v, ok: true, scaled: await this.scale(req.workers) };
    }
  }

  private installSignals(): void {
    const stopOn = (signal: NodeJS.Signals): void => {
      process.on(signal, () => void this.stop(signal).then(() => process.exit(0)));
    };
    stopOn('SIGTERM');
    stopOn('SIGINT');
    process.on('SIGHUP', () => {
      this.reload().then(
        (s) => this.log.info({ seconds: s.seconds }, 'SIGHUP reload finished'),
        (err: Error) => this.log.error({ err: err.message }, 'SIGHUP reload failed'),
      );
    });
    process.on('SIGUSR1', () => {
      const err = this.sink.reopen();
      if (err) this.log.error({ err: err.message, file: this.sink.file }, 'log file not reopened; still writing to the old one');
      else this.log.info({ file: this.sink.file }, 'log file reopened');
      this.pool.reopenLogs();
    });
  }

  private startWatchdog(): void {
    const interval = this.notifier.watchdogIntervalMs;
    if (interval === null) return;
    // WATCHDOG=1 goes out only while every serving worker answers its pings.
    this.watchdogTimer = setInterval(() => {
      if (this.pool.pingAll()) this.notify((n) => n.watchdog());
      else this.log.warn('watchdog: a worker did not answer its ping; keep-alive withheld');
    }, interval);
  }

  private notifyFailed = false;
  /** Sends a notification to systemd; a failure is logged once (the service goes on). */
  private notify(send: (n: Notifier) => Error | null): void {
    const err = send(this.notifier);
    if (err === null || this.notifyFailed) return;
    this.notifyFailed = true;
    this.log.warn({ err: err.message }, 'notification to systemd failed (further failures are not logged)');
  }

  private lastStatusLine = '';
  private onPoolChange(): void {
    if (this.notifier === undefined) return;
    const line = this.statusLine();
    if (line === this.lastStatusLine) return;
    this.lastStatusLine = line;
    this.notify((n) => n.status(line));
  }

  private statusLine(): string {
    return `${this.pool.readyCount()}/${this.pool.size} workers ready, ${this.dispatcher.totalConnections()} connections`;
  }

  private poolSettings(c: Config): PoolSettings {
    return {
      limits: c.limits,
      logLevel: c.logLevel,
      logFile: c.logFile,
      origins: c.origins,
      drainTimeoutMs: c.drainTimeoutMs,
      tls: this.tls === null ? null : { cert: this.tls.cert, key: this.tls.key },
      trustedProxies: c.trustedProxies,
      host: c.name,
      spares: c.spares,
    };
  }

  /** Last resort: keep the history whole even when the supervisor itself fails. */
  emergencyClose(err: unknown): void {
    this.log?.fatal({ err }, 'supervisor failed');
    try {
      void this.closeEngine().catch(() => undefined);
    } catch {
      // nothing more can be done
    }
  }

  /** What was sequenced reaches the history and the workers, then the history closes. */
  private async closeEngine(): Promise<void> {
    const closing = this.engine?.close();
    if (closing instanceof Promise) {
      this.sequencer?.flush(); // what is already answered leaves first
      await closing;
    }
    this.sequencer?.flush();
  }
}

function describe(a: net.AddressInfo | string): string {
  if (typeof a === 'string') return a;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** Two configurations that differ at most in where the certificate and key are read from. */
function sameApartFromTls(a: Config, b: Config): boolean {
  const strip = (c: Config): string => JSON.stringify({ ...c, tlsCert: null, tlsKey: null });
  return strip(a) === strip(b);
}

/** What a person at a terminal needs: where to point the browser, where the boards are, how to stop. */
function greeting(c: Config, port: number, who: Identity | null): string[] {
  const host = c.host === undefined ? 'localhost' : c.host.includes(':') ? `[${c.host}]` : c.host;
  const as = who === null ? '' : `, as ${who.user}:${who.group}`;
  return [
    '',
    `  smegchat serves ${c.tlsCert !== null ? 'https' : 'http'}://${host}:${port}/ : open it in a browser (${c.workers} workers${as})`,
    `  board data is kept in ${c.dataDir}`,
    '  press Ctrl-C to stop',
    '',
  ];
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/** Creates a directory (as root: for the service user); one already theirs is left as it is (it may be on a read-only disk). */
function prepareDir(dir: string, who: Identity | null): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
    const st = fs.statSync(dir);
    if (who !== null && (st.uid !== who.uid || st.gid !== who.gid)) handOver(dir, who);
  } catch (err) {
    throw new ConfigError(`cannot create directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Creates the log file if missing (as root: for the service user, who opens it after the drop and after each rotation). */
function prepareFile(file: string, who: Identity | null): void {
  try {
    // A directory made here for the log is the service user's too (an existing one, like /var/log, is left alone).
    const created = fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
    if (who === null) return;
    if (created !== undefined) handOver(path.dirname(file), who);
    try {
      fs.closeSync(fs.openSync(file, 'wx', 0o640));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    handOver(file, who);
  } catch (err) {
    throw new ConfigError(`cannot open log file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
