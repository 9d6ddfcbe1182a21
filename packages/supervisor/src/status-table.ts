/**
 * `smegctl status` for people: one row per worker, the supervisor's own row
 * above them, totals below, in columns that line up whatever the numbers.
 */
import type { Status, WorkerExit, WorkerStatus } from '@smegchat/protocol';

/** Seconds as an operator reads them: "42s", "5m 03s", "2h 07m", "3d 04h". */
export function formatUptime(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d ${pad(Math.floor(s / 3600) % 24)}h`;
}

/** Bytes in MiB with one decimal: memory of a Node process is tens to hundreds of MiB. */
export function formatMemory(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

export function formatCpu(percent: number): string {
  return percent.toFixed(1);
}

/** A size on disk: bytes up to a KiB, then KiB, MiB, GiB with one decimal. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** Events a second: one decimal while small, whole and grouped once large. */
export function formatRate(perSecond: number): string {
  return perSecond < 100 ? perSecond.toFixed(1) : groupThousands(Math.round(perSecond));
}

/**
 * How the slot's last process ended, and when, as an operator asks it:
 * "SIGKILL (crash) after 5m 03s, 12s ago", "retired (exit 0) after 2h 07m, 3m 10s ago".
 */
export function formatExit(exit: WorkerExit | null, now: number): string {
  if (exit === null) return '-';
  const how = exit.signal ?? `exit ${exit.code ?? '?'}`;
  const what = exit.reason === 'crash' ? `${how} (crash)` : `${exit.reason} (${how})`;
  const ago = formatUptime((now - Date.parse(exit.at)) / 1000);
  return `${what} after ${formatUptime(exit.ran)}, ${ago} ago`;
}

function groupThousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Thousands separated, so a relay count of millions stays readable; "1 board", "2 boards". */
function formatCount(n: number, noun: string): string {
  return `${groupThousands(n)} ${noun}${n === 1 ? '' : 's'}`;
}

const COLUMNS = [
  'WORKER',
  'PID',
  'STATE',
  'UPTIME',
  'RESTARTS',
  'CONNS',
  'CLIENTS',
  'IN/S',
  'OUT/S',
  'CPU %',
  'MEMORY',
  'LAST EXIT',
] as const;
/** Text columns read left-aligned, numbers right-aligned. */
const LEFT = new Set<number>([0, 2, 11]);

function workerRow(w: WorkerStatus, now: number): string[] {
  // A slot without a process (backoff) has no pid, uptime, traffic or usage to show.
  const running = w.pid !== null;
  return [
    w.id === null ? 'spare' : String(w.id),
    running ? String(w.pid) : '-',
    w.state,
    running ? formatUptime(w.uptime) : '-',
    String(w.restarts),
    String(w.connections),
    running ? String(w.clients) : '-',
    running ? formatRate(w.messagesInPerSecond) : '-',
    running ? formatRate(w.deliveriesPerSecond) : '-',
    running ? formatCpu(w.cpu) : '-',
    running ? formatMemory(w.memory) : '-',
    formatExit(w.lastExit, now),
  ];
}

/** Where boards live and whether that can be reached: "engine: redis redis://db1:6379 (reachable)". */
export function engineLine(status: Status): string {
  const t = status.totals;
  const where = t.engineUrl !== undefined ? ` ${t.engineUrl}` : '';
  const reach = t.engineFault ?? (t.engineReachable === false ? 'UNREACHABLE' : 'reachable');
  const host = t.host !== undefined ? `host ${t.host}, ` : '';
  const corrupt = t.boardsQuarantined ? `; ${t.boardsQuarantined} board logs found corrupt, kept aside (see the log)` : '';
  const full = t.historyFull ? '; disk budget used up: only clears taken' : '';
  return `${host}engine: ${t.engine}${where} (${reach})${corrupt}${full}`;
}

/** The whole table, lines joined with "\n", ending with one. `now` dates the last exits. */
export function formatStatusTable(status: Status, now = Date.now()): string {
  const sup = status.supervisor;
  // Slots in order (a stable sort keeps a reload's old and new rows), then the spares, which have no number.
  const order = (w: WorkerStatus): number => w.id ?? Number.MAX_SAFE_INTEGER;
  const workers = [...status.workers].sort((a, b) => order(a) - order(b));
  const slotRows = workers.filter((w) => w.id !== null);
  // Usage of a slot with no process is stale at best: only running ones count.
  const running = workers.filter((w) => w.pid !== null);
  const sum = (list: WorkerStatus[], f: (w: WorkerStatus) => number): number => list.reduce((acc, w) => acc + f(w), 0);
  const rows: string[][] = [
    [...COLUMNS],
    [
      'supervisor',
      String(sup.pid),
      sup.state,
      formatUptime(sup.uptime),
      '-',
      '-',
      '-',
      '-',
      '-',
      formatCpu(sup.cpu),
      formatMemory(sup.memory),
      '',
    ],
    ...workers.map((w) => workerRow(w, now)),
    [
      'total',
      '',
      `${slotRows.filter((w) => w.state === 'ready').length}/${slotRows.length} ready`,
      '',
      String(sum(workers, (w) => w.restarts)),
      String(status.totals.connections),
      String(sum(running, (w) => w.clients)),
      formatRate(sum(running, (w) => w.messagesInPerSecond)),
      formatRate(sum(running, (w) => w.deliveriesPerSecond)),
      formatCpu(sup.cpu + sum(running, (w) => w.cpu)),
      formatMemory(sup.memory + sum(running, (w) => w.memory)),
      '',
    ],
  ];
  const widths = COLUMNS.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string =>
    r
      .map((cell, c) => (LEFT.has(c) ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
      .join('  ')
      .trimEnd();
  const out = rows.map(line);
  // A rule above the totals, so they are not read as one more worker.
  out.splice(rows.length - 1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const t = status.totals;
  out.push(
    '',
    engineLine(status),
    `smegchat ${sup.version}, uid ${sup.uid} gid ${sup.gid}: ` +
      `${formatCount(t.connections, 'connection')}, ` +
      `${formatCount(t.boards, 'board')}, ` +
      `${formatCount(t.relayed, 'message')} relayed`,
    `${groupThousands(t.boardsLoaded)} of ${formatCount(t.boards, 'board')} loaded, ` +
      // With Redis the history is not on this host's disk.
      (t.engine === 'embedded' ? `history ${formatBytes(t.historyBytes)} on disk, ` : '') +
      `${formatRate(t.sequencedPerSecond)} messages/s sequenced`,
  );
  if (sup.metrics !== null) out.push(`metrics: http://${sup.metrics}/metrics`);
  if (sup.tls !== null) out.push(`tls: ${sup.tls.subject}, expires ${sup.tls.notAfter}, sha256 ${sup.tls.fingerprint}`);
  return out.join('\n') + '\n';
}
