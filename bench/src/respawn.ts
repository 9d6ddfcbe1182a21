/**
 * How fast a killed worker's slot serves again, against how fast Node
 * itself starts, in one run (issue 16, point 3): smegchat with its warm
 * spare (the default), smegchat with `--spares 0` (a fork), and a bare
 * `node -e 0`, spawn to exit. Idle servers, one kill a slot (so that no
 * slot's crash backoff comes into it), each timed from the kill to the
 * slot's `ready` row in the status, asked every 2 ms.
 */
import { spawn } from 'node:child_process';
import { monoUs, sleep } from './clock.js';
import { controlRequest, startServer, type RunningServer } from './servers.js';

export interface RespawnResult {
  /** kill -9 → the slot ready again, with a warm spare, ms, one per kill. */
  readonly spareMs: number[];
  /** The same with `--spares 0`: the slot is refilled by a fork. */
  readonly forkMs: number[];
  /** `node -e 0`, spawn to exit, ms, in the same run. */
  readonly nodeMs: number[];
}

interface Row {
  readonly id: number | null;
  readonly pid: number | null;
  readonly state: string;
}

async function rows(server: RunningServer): Promise<Row[]> {
  const r = (await controlRequest(server, { v: 1, cmd: 'status' }, 1000)) as { status?: { workers?: Row[] } };
  return r.status?.workers ?? [];
}

/** Polls the status until `cond` holds of its rows; the instant (µs) it did, or null past `timeoutMs`. */
async function until(server: RunningServer, cond: (rows: Row[]) => boolean, timeoutMs: number): Promise<number | null> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await rows(server);
      const now = monoUs();
      if (cond(r)) return now;
    } catch {
      // busy, or not up yet: ask again
    }
    await sleep(2);
  }
  return null;
}

/** Kills slots 1..kills in turn, each once its predecessor's slot (and, with spares, a new spare) is ready. */
async function killSlots(server: RunningServer, kills: number, spares: boolean): Promise<number[]> {
  const times: number[] = [];
  for (let slot = 1; slot <= kills; slot++) {
    const ready = await until(
      server,
      (r) => r.some((w) => w.id === slot && w.state === 'ready') && (!spares || r.some((w) => w.id === null && w.state === 'spare')),
      15_000,
    );
    if (ready === null) break;
    const victim = (await rows(server)).find((w) => w.id === slot && w.state === 'ready')!.pid!;
    const killedAt = monoUs();
    process.kill(victim, 'SIGKILL');
    const back = await until(server, (r) => r.some((w) => w.id === slot && w.pid !== victim && w.state === 'ready'), 5_000);
    if (back === null) break;
    times.push((back - killedAt) / 1000);
  }
  return times;
}

function nodeStart(): Promise<number> {
  const started = monoUs();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve((monoUs() - started) / 1000));
  });
}

export async function runRespawn(workers: number, kills: number): Promise<RespawnResult> {
  const measureWith = async (args: string[], spares: boolean): Promise<number[]> => {
    const server = await startServer('smegchat', { workers, args });
    try {
      return await killSlots(server, kills, spares);
    } finally {
      await server.stop();
    }
  };
  const spareMs = await measureWith(['--spares', '1'], true);
  const forkMs = await measureWith(['--spares', '0'], false);
  const nodeMs: number[] = [];
  for (let i = 0; i < kills * 2; i++) nodeMs.push(await nodeStart());
  return { spareMs, forkMs, nodeMs };
}
