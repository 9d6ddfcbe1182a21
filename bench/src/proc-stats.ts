/**
 * CPU time and memory of a process tree, read from /proc (Linux only). The
 * server under test is several processes (a supervisor or cluster primary and
 * its workers), and the figure that matters is their sum.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: what /proc/PID/stat counts CPU time in. 100 on every Linux a bench will meet. */
const CLOCK_TICKS_PER_SECOND = 100;
const PAGE_BYTES = 4096;

interface StatLine {
  readonly ppid: number;
  /** utime + stime, in seconds. */
  readonly cpuSeconds: number;
  /** stime alone: time in the kernel (on loopback, mostly the TCP stack). */
  readonly sysSeconds: number;
}

function readStat(pid: number): StatLine | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined; // gone between listing and reading
  }
  // The command name is in parentheses and may hold spaces: parse after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  const ppid = Number(fields[1]);
  const sys = Number(fields[12]);
  const ticks = Number(fields[11]) + sys;
  return { ppid, cpuSeconds: ticks / CLOCK_TICKS_PER_SECOND, sysSeconds: sys / CLOCK_TICKS_PER_SECOND };
}

/** The pids of `root` and every live descendant of it. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (!stat) continue;
    const list = children.get(stat.ppid);
    if (list) list.push(pid);
    else children.set(stat.ppid, [pid]);
  }
  const out: number[] = [];
  const queue = [root];
  // Bounded: a pid is visited once, and /proc lists finitely many.
  while (queue.length > 0 && out.length < 10_000) {
    const pid = queue.shift()!;
    out.push(pid);
    for (const c of children.get(pid) ?? []) queue.push(c);
  }
  return out;
}

/** CPU seconds (user + system) a set of processes has used so far, per pid. */
export function cpuSecondsByPid(pids: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const stat = readStat(pid);
    if (stat) out.set(pid, stat.cpuSeconds);
  }
  return out;
}

/** System (kernel) CPU seconds a set of processes has used so far, per pid. */
export function sysSecondsByPid(pids: readonly number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const stat = readStat(pid);
    if (stat) out.set(pid, stat.sysSeconds);
  }
  return out;
}

/**
 * CPU seconds a process tree used between two samples: a process present in
 * both counts its difference, one that appeared counts all it used. One that
 * died in between is lost (its time is not in /proc any more); the bench
 * only compares CPU in scenarios where no process dies.
 */
export function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, s] of after) sum += s - (before.get(pid) ?? 0);
  return sum;
}

/** Resident memory of a process, in bytes (0 when it is gone). */
export function rssBytes(pid: number): number {
  try {
    const statm = readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ');
    return Number(statm[1]) * PAGE_BYTES;
  } catch {
    return 0;
  }
}

/** Resident memory of a whole process tree, in bytes. */
export function treeRssBytes(root: number): number {
  let sum = 0;
  for (const pid of processTree(root)) sum += rssBytes(pid);
  return sum;
}

/** Busy and total CPU time of the whole machine so far, in seconds (all cores), from /proc/stat. */
export function machineCpuSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal ...
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = f[3]! + f[4]!;
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / CLOCK_TICKS_PER_SECOND, total: total / CLOCK_TICKS_PER_SECOND };
}
