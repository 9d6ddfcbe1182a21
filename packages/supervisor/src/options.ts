/**
 * smegchat's command line and config file (docs/OPTIONS.md). One definition of
 * every option; a config file uses the long names as keys and the command
 * line wins over it. A bad value ends start-up with one clear line.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yargs from 'yargs';
import { DEFAULT_LIMITS, LOG_LEVELS, MAX_WORKERS, MIN_WORKERS, type Limits, type LogLevel } from '@smegchat/protocol';
import { TrustedProxies } from '@smegchat/common';
import { defaultControlPath } from './control-path.js';
import { parseRedisUrl, RedisUrlError, urlHasPassword, type RedisTarget } from './engine/redis/redis-url.js';

/** Where boards live when they are not on this host's disk: the Redis engine's settings. */
export interface RedisConfig {
  readonly target: RedisTarget;
  /** CA certificates (PEM) to check a rediss:// server against; null for the system's. */
  readonly caFile: string | null;
}

export interface Config {
  readonly port: number;
  /** Listen address; undefined for all interfaces. */
  readonly host: string | undefined;
  readonly workers: number;
  /** Warm spare workers kept forked, to take a crashed worker's slot at once (0: none). */
  readonly spares: number;
  /** Who to drop to when started as root; null when not given (smegchat, else nobody: see privileges.ts). */
  readonly user: string | null;
  readonly group: string | null;
  readonly dataDir: string;
  readonly control: string;
  readonly pidFile: string | null;
  readonly logFile: string | null;
  readonly logLevel: LogLevel;
  readonly configFile: string | null;
  readonly service: boolean;
  readonly daemon: boolean;
  readonly quit: boolean;
  readonly interactive: boolean;
  readonly origins: readonly string[] | null;
  readonly limits: Limits;
  /** How long a retiring worker may take to close its clients before it is killed. */
  readonly drainTimeoutMs: number;
  /** Where to serve `GET /metrics`, or null (off). */
  readonly metrics: ListenAddress | null;
  /** The certificate chain and key files of a TLS port; both null for plain HTTP. */
  readonly tlsCert: string | null;
  readonly tlsKey: string | null;
  /** Reverse proxies (addresses, `A/N` networks) whose X-Forwarded-For names the client. */
  readonly trustedProxies: readonly string[];
  /** This host's name, as clients see it in `welcome.host`. */
  readonly name: string;
  /** The Redis engine's settings; null for the embedded engine (the default). */
  readonly redis: RedisConfig | null;
  /** Bytes all board logs may take together (embedded engine); 0: no budget. */
  readonly historyBudget: DiskSize;
  /** Free space on the data directory's disk below which new writes are refused (embedded engine); 0: no floor. */
  readonly minFree: DiskSize;
}

/** A size on disk: bytes, or a share of the filesystem it is on (resolved when the history opens). */
export type DiskSize = { readonly bytes: number } | { readonly percent: number };

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Reads `500M`, `2G`, `1048576` (bytes; K M G T are powers of 1024) or `10%` (of the filesystem). */
export function parseDiskSize(option: string, v: unknown): DiskSize {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$|^(\d+(?:\.\d+)?)%$/i.exec(String(v).trim());
  if (m === null)
    throw new ConfigError(`--${option} must be a size like 500M, 2G or 1048576, or a share of the disk like 10% (got ${String(v)})`);
  if (m[3] !== undefined) {
    const percent = Number(m[3]);
    if (percent > 100) throw new ConfigError(`--${option} must be at most 100% (got ${String(v)})`);
    return { percent };
  }
  return { bytes: Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]!) };
}

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Reads `HOST:PORT` (`[ADDR]:PORT` for IPv6). The host is required: an
 * unauthenticated endpoint is bound where it is meant to be, never to every
 * interface by omission.
 */
export function parseListenAddress(option: string, text: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (m === null || port > 65535) {
    throw new ConfigError(`--${option} must be HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464 (got "${text}")`);
  }
  return { host: m[1] ?? m[2]!, port };
}

/**
 * One spare by default: it costs one idle worker's memory and covers one
 * crash at a time; more only help when several workers die within the time
 * a spare takes to load. Capped at the most workers there can be.
 */
export const DEFAULT_SPARES = 1;
export const MAX_SPARES = MAX_WORKERS;

/** A configuration the user must fix: the message is the one line they see. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Limit options: name → [limit key, description]. */
const LIMIT_OPTIONS: Record<string, [keyof Limits, string]> = {
  'max-frame-bytes': ['maxFrameBytes', 'largest frame a client may send (bytes)'],
  'max-points': ['maxPoints', 'most points in one stroke'],
  'max-text-length': ['maxTextLength', 'longest chat text (characters)'],
  rate: ['ratePerSecond', 'messages a second per connection, sustained'],
  'rate-burst': ['rateBurst', 'messages per connection in one burst'],
  'byte-rate': ['bytesPerSecond', 'bytes a second per connection, sustained'],
  'byte-burst': ['bytesBurst', 'bytes per connection in one burst (at least --max-frame-bytes)'],
  'address-byte-rate': ['addressBytesPerSecond', 'bytes a second from one address to one worker (0: no limit)'],
  'max-buffered-bytes': ['maxBufferedBytes', 'bytes queued to a client before it is dropped as too slow'],
  'max-connections': ['maxConnections', 'open connections in total'],
  'max-connections-per-ip': ['maxConnectionsPerAddress', 'open connections from one address (0: no limit)'],
  'max-boards': ['maxBoards', 'boards kept; a new board past this is refused'],
  'max-board-messages': ['maxBoardMessages', 'messages a board holds since its last clear'],
  'max-board-bytes': ['maxBoardBytes', 'bytes a board holds since its last clear'],
  'ping-interval': ['pingIntervalSeconds', 'seconds between pings; a silent client is dropped (0: off)'],
};

const KNOWN_KEYS = new Set([
  'port',
  'host',
  'workers',
  'spares',
  'user',
  'group',
  'data-dir',
  'control',
  'pid-file',
  'log-file',
  'log-level',
  'service',
  'daemon',
  'origins',
  'drain-timeout',
  'metrics',
  'tls-cert',
  'tls-key',
  'trusted-proxies',
  'name',
  'redis',
  'redis-password-file',
  'redis-ca',
  'history-budget',
  'min-free',
  ...Object.keys(LIMIT_OPTIONS),
]);

/** Reads a config file: a JSON object keyed by long option names. */
export function loadConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`config file ${file} must hold a JSON object`);
  for (const key of Object.keys(v)) {
    if (!KNOWN_KEYS.has(key))
      throw new ConfigError(`config file ${file}: unknown key "${key}" (keys are the long option names, e.g. "port", "data-dir")`);
  }
  return v as Record<string, unknown>;
}

function limitsEpilogue(): string {
  const lines = Object.entries(LIMIT_OPTIONS).map(([flag, [key]]) => `  ${flag.padEnd(24)} ${DEFAULT_LIMITS[key]}`);
  return (
    `Limits (defaults; each can be set by option or config file):\n${lines.join('\n')}\n\n` +
    'Signals: SIGHUP rolling reload, SIGTERM/SIGINT graceful stop, SIGUSR1 reopen the log file.'
  );
}

function parser(argv: readonly string[]) {
  let y = yargs([...argv])
    .scriptName('smegchat')
    // An option given twice takes its last value, as in most daemons (a wrapper's default, then the user's).
    .parserConfiguration({ 'duplicate-arguments-array': false })
    .usage('smegchat [options]\n\nCollaborative whiteboard and chat server: a supervisor and N workers sharing one port.')
    .option('port', { alias: 'p', type: 'number', default: 8080, describe: 'listen port' })
    .option('host', { type: 'string', describe: 'listen address (default: all interfaces)' })
    .option('workers', { alias: 'n', type: 'number', default: os.availableParallelism(), describe: 'worker processes' })
    .option('spares', {
      type: 'number',
      default: DEFAULT_SPARES,
      describe: "warm spare workers, forked ahead to take a crashed worker's slot at once (0: none)",
    })
    .option('user', { type: 'string', describe: 'when started as root: user to drop to (default: smegchat, else nobody)' })
    .option('group', { type: 'string', describe: "when started as root: group to drop to (default: smegchat, else nobody's)" })
    .option('data-dir', { type: 'string', default: './data', describe: 'where board history is kept' })
    .option('control', { type: 'string', describe: 'control socket for smegctl (default: DATA-DIR/control.sock)' })
    .option('pid-file', { type: 'string', describe: 'pid file' })
    .option('log-file', { type: 'string', describe: 'append bunyan JSON lines here (default: stdout)' })
    .option('log-level', { type: 'string', choices: LOG_LEVELS, default: 'info' as LogLevel, describe: 'log level' })
    .option('config', { type: 'string', describe: 'JSON file of options (long names as keys); flags win' })
    .option('service', { alias: 'S', type: 'boolean', default: false, describe: 'run under systemd: notify readiness, log to stdout' })
    .option('daemon', {
      type: 'boolean',
      default: false,
      describe: 'detach as a classic daemon (new session, cwd /, stdio to /dev/null or the log)',
    })
    .option('Q', { type: 'boolean', default: false, describe: 'ask the running server to quit, like smegctl stop' })
    .option('I', { type: 'boolean', default: false, describe: 'interactive command shell, like smegctl shell' })
    .option('origins', { type: 'string', describe: 'comma-separated Origins allowed to open a WebSocket (default: any)' })
    .option('drain-timeout', { type: 'number', default: 10, describe: 'seconds a retiring worker has to close its clients' })
    .option('metrics', {
      type: 'string',
      describe: 'serve Prometheus metrics at http://HOST:PORT/metrics (off by default; bind it to loopback or a private address)',
    })
    .option('tls-cert', { type: 'string', describe: 'serve HTTPS and WSS with this certificate chain (PEM); with --tls-key' })
    .option('tls-key', { type: 'string', describe: 'the private key of --tls-cert (PEM; readable by its owner and group only)' })
    .option('trusted-proxies', {
      type: 'string',
      describe: 'comma-separated reverse proxies (addresses, A/N networks): their X-Forwarded-For names the client',
    })
    .option('name', { type: 'string', describe: "this host's name, shown to clients as welcome.host (default: the machine's hostname)" })
    .option('redis', {
      type: 'string',
      describe:
        'keep boards in Redis (redis://HOST[:PORT][/DB], rediss:// for TLS): every smegchat with the same URL serves the same boards',
    })
    .option('redis-password-file', { type: 'string', describe: "file holding the Redis password (or the URL's user's), read at start" })
    .option('redis-ca', { type: 'string', describe: 'PEM file of CA certificates for a rediss:// server (default: the system CAs)' })
    .option('history-budget', {
      type: 'string',
      default: '50%',
      describe: 'disk all board logs may take (500M, 2G, or a share of the disk like 50%; 0: none); past it, only clears are taken',
    })
    .option('min-free', {
      type: 'string',
      default: '5%',
      describe: 'free space kept on the data disk (like --history-budget; 0: none); below it, only clears are taken',
    })
    .config('config', 'JSON file of options', (file: string) => loadConfigFile(file))
    .strictOptions()
    .help('help')
    .alias('help', '?')
    .version(false)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .epilogue(limitsEpilogue())
    .exitProcess(false)
    .fail((msg, err) => {
      throw err instanceof ConfigError ? err : new ConfigError(msg ?? err?.message ?? 'bad arguments');
    });
  for (const [flag, [key, describe]] of Object.entries(LIMIT_OPTIONS)) {
    y = y.option(flag, { type: 'number', default: DEFAULT_LIMITS[key], describe });
  }
  return y;
}

function whole(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`--${name} must be a whole number from ${min} to ${max} (got ${String(v)})`);
  }
  return v;
}

/** A comma-separated option: each entry trimmed, empty ones dropped. */
function commaList(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function text(name: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new ConfigError(`--${name} must be a non-empty string`);
  return v;
}

/** A host name: what `welcome.host` carries. */
const HOST_NAME = /^[A-Za-z0-9._-]{1,64}$/;

function hostName(v: unknown): string {
  const given = text('name', v);
  if (given !== undefined) {
    if (!HOST_NAME.test(given)) throw new ConfigError('--name must be 1 to 64 characters of A-Z a-z 0-9 . _ -');
    return given;
  }
  const fallback = os
    .hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 64);
  return fallback === '' ? 'smegchat' : fallback;
}

/** Whether `--redis` was given on the command line itself (not only by the config file). */
function redisOnCommandLine(argv: readonly string[]): boolean {
  return argv.some((arg) => arg === '--redis' || arg.startsWith('--redis='));
}

function redisConfig(
  a: Record<string, unknown>,
  argv: readonly string[],
  abs: (p: string | undefined) => string | null,
): RedisConfig | null {
  const url = text('redis', a['redis']);
  const passwordFile = abs(text('redis-password-file', a['redis-password-file']));
  const caFile = abs(text('redis-ca', a['redis-ca']));
  if (url === undefined) {
    if (passwordFile !== null || caFile !== null) throw new ConfigError('--redis-password-file and --redis-ca need --redis');
    return null;
  }
  if (redisOnCommandLine(argv) && urlHasPassword(url)) {
    throw new ConfigError(
      'a password in --redis on the command line is readable by every local user (/proc): put the URL in the config file, or use --redis-password-file',
    );
  }
  let target: RedisTarget;
  try {
    target = parseRedisUrl(url);
  } catch (err) {
    throw new ConfigError(err instanceof RedisUrlError ? err.message : `--redis: ${(err as Error).message}`);
  }
  if (passwordFile !== null) {
    if (target.password !== undefined) throw new ConfigError('--redis has a password and --redis-password-file gives one too: keep one');
    target = { ...target, password: readPasswordFile(passwordFile) };
  }
  if (caFile !== null && !target.tls) throw new ConfigError('--redis-ca is for rediss:// (TLS) URLs');
  return { target, caFile };
}

/** The password file's first line (a trailing newline is not part of it). */
export function readPasswordFile(file: string): string {
  let content: string;
  try {
    content = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read --redis-password-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const password = content.split(/\r?\n/, 1)[0] ?? '';
  if (password === '') throw new ConfigError(`--redis-password-file ${file} is empty`);
  return password;
}

/**
 * Parses the command line (and the config file it names). Returns null when
 * it printed help and there is nothing to run.
 */
export function parseOptions(argv: readonly string[], cwd = process.cwd()): Config | null {
  let helped = false;
  const a = parser(argv).showHelpOnFail(false).parseSync() as Record<string, unknown>;
  if (a['help']) helped = true;
  if (helped) return null;
  const extra = (a['_'] as unknown[]) ?? [];
  if (extra.length > 0) throw new ConfigError(`unexpected argument "${String(extra[0])}" (see smegchat --help)`);

  const limits = { ...DEFAULT_LIMITS } as Record<keyof Limits, number>;
  for (const [flag, [key]] of Object.entries(LIMIT_OPTIONS)) {
    limits[key] = whole(flag, a[flag], 0, Number.MAX_SAFE_INTEGER);
  }
  if (limits.maxFrameBytes < 1024) throw new ConfigError('--max-frame-bytes must be at least 1024');
  if (limits.ratePerSecond < 1) throw new ConfigError('--rate must be at least 1');
  if (limits.rateBurst < 1) throw new ConfigError('--rate-burst must be at least 1');
  if (limits.bytesPerSecond < 1) throw new ConfigError('--byte-rate must be at least 1');
  if (limits.bytesBurst < limits.maxFrameBytes) throw new ConfigError('--byte-burst must be at least --max-frame-bytes');
  if (limits.maxConnectionsPerAddress === 0) limits.maxConnectionsPerAddress = Number.MAX_SAFE_INTEGER;

  const abs = (p: string | undefined): string | null => (p === undefined ? null : path.resolve(cwd, p));
  const dataDir = abs(text('data-dir', a['data-dir']))!;
  const originsText = text('origins', a['origins']);
  const tlsCert = abs(text('tls-cert', a['tls-cert']));
  const tlsKey = abs(text('tls-key', a['tls-key']));
  if ((tlsCert === null) !== (tlsKey === null)) throw new ConfigError('--tls-cert and --tls-key go together: give both, or neither');
  const proxiesText = text('trusted-proxies', a['trusted-proxies']);
  const trustedProxies = proxiesText === undefined ? [] : commaList(proxiesText);
  try {
    TrustedProxies.parse(trustedProxies);
  } catch (err) {
    throw new ConfigError(`--trusted-proxies: ${(err as Error).message}`);
  }
  const logLevel = a['log-level'] as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);

  return {
    port: whole('port', a['port'], 0, 65535),
    host: text('host', a['host']),
    workers: whole('workers', a['workers'], MIN_WORKERS, MAX_WORKERS),
    spares: whole('spares', a['spares'], 0, MAX_SPARES),
    user: text('user', a['user']) ?? null,
    group: text('group', a['group']) ?? null,
    dataDir,
    control: abs(text('control', a['control'])) ?? defaultControlPath(dataDir),
    pidFile: abs(text('pid-file', a['pid-file'])),
    logFile: abs(text('log-file', a['log-file'])),
    logLevel,
    configFile: abs(text('config', a['config'])),
    service: a['service'] === true,
    daemon: a['daemon'] === true,
    quit: a['Q'] === true,
    interactive: a['I'] === true,
    origins: originsText === undefined ? null : commaList(originsText),
    limits,
    drainTimeoutMs: whole('drain-timeout', a['drain-timeout'], 1, 3600) * 1000,
    metrics: a['metrics'] === undefined ? null : parseListenAddress('metrics', text('metrics', a['metrics'])!),
    tlsCert,
    tlsKey,
    trustedProxies,
    name: hostName(a['name']),
    redis: redisConfig(a, argv, abs),
    historyBudget: parseDiskSize('history-budget', a['history-budget']),
    minFree: parseDiskSize('min-free', a['min-free']),
  };
}
