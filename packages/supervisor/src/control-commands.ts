/**
 * The operator's commands over the control socket, with their output and exit
 * status, shared by smegctl, its shell, and `smegchat -Q` / `smegchat -I`, so
 * each says the same thing the same way.
 */
import { MAX_WORKERS, MIN_WORKERS, type ReloadSummary } from '@smegchat/protocol';
import { ControlError, getStatus, reload, scale, stop, type ControlFailure } from './control-client.js';
import { formatStatusTable } from './status-table.js';
import { watchStatus } from './status-watch.js';

/**
 * Exit statuses. 3 and 4 are the LSB init-script codes for "not running" and
 * "insufficient privilege", which monitoring scripts already test for; 130 is
 * what a shell reports for a command ended by Ctrl-C.
 */
export const ExitCode = { Ok: 0, Failed: 1, Usage: 2, NotRunning: 3, Permission: 4, Interrupted: 130 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Where a command reads and writes; the process's own stdio unless told. */
export interface ControlIo {
  readonly input: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly output: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly error: NodeJS.WritableStream;
  /** Names the program at the start of each error line ("smegctl", "smegchat"). */
  readonly program: string;
  readonly env: NodeJS.ProcessEnv;
}

export function resolveIo(io: Partial<ControlIo> = {}): ControlIo {
  return {
    input: io.input ?? process.stdin,
    output: io.output ?? process.stdout,
    error: io.error ?? process.stderr,
    program: io.program ?? 'smegctl',
    env: io.env ?? process.env,
  };
}

export type ControlCommand =
  | { readonly cmd: 'status'; readonly json?: boolean; readonly watchMs?: number }
  | { readonly cmd: 'reload' }
  | { readonly cmd: 'stop' }
  | { readonly cmd: 'scale'; readonly workers: number };

const EXIT_BY_FAILURE: Record<ControlFailure, ExitCode> = {
  'not-running': ExitCode.NotRunning,
  permission: ExitCode.Permission,
  refused: ExitCode.Failed,
  timeout: ExitCode.Failed,
  protocol: ExitCode.Failed,
  io: ExitCode.Failed,
  interrupted: ExitCode.Interrupted,
};

export function formatReloadSummary(r: ReloadSummary): string {
  if (r.certificate === 'renewed' && r.replaced === 0) {
    return `TLS certificate renewed in place in ${r.seconds.toFixed(2)} s; no worker replaced, no client disconnected\n`;
  }
  const lines = [`reloaded ${r.replaced} worker${r.replaced === 1 ? '' : 's'} in ${r.seconds.toFixed(2)} s`];
  if (r.certificate === 'renewed') lines.push('  TLS certificate renewed');
  for (const w of [...r.workers].sort((a, b) => a.id - b.id)) {
    lines.push(`  worker ${w.id}: pid ${w.oldPid ?? '-'} -> ${w.newPid}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Runs one command against the supervisor at socketPath; writes its output,
 * or one error line, and resolves with the exit status. Never rejects for
 * anything the supervisor or the socket does. The signal stops the wait
 * (not the command: the supervisor carries on).
 */
export async function runCommand(
  socketPath: string,
  command: ControlCommand,
  ioIn: Partial<ControlIo> = {},
  signal?: AbortSignal,
): Promise<ExitCode> {
  const io = resolveIo(ioIn);
  const opts = { signal };
  try {
    switch (command.cmd) {
      case 'status': {
        if (command.watchMs !== undefined) {
          return await watchStatus(
            socketPath,
            io,
            { json: command.json === true, intervalMs: command.watchMs },
            signal ?? new AbortController().signal,
          );
        }
        const status = await getStatus(socketPath, opts);
        io.output.write(command.json ? JSON.stringify(status, null, 2) + '\n' : formatStatusTable(status));
        break;
      }
      case 'reload':
        io.output.write(formatReloadSummary(await reload(socketPath, opts)));
        break;
      case 'stop':
        await stop(socketPath, opts);
        io.output.write('smegchat stopped\n');
        break;
      case 'scale': {
        // The bounds the supervisor enforces, checked here too so a typo costs no round trip.
        if (!Number.isInteger(command.workers) || command.workers < MIN_WORKERS || command.workers > MAX_WORKERS) {
          io.error.write(`${io.program}: scale needs a worker count from ${MIN_WORKERS} to ${MAX_WORKERS}\n`);
          return ExitCode.Usage;
        }
        const n = await scale(socketPath, command.workers, opts);
        io.output.write(`scaled to ${n} worker${n === 1 ? '' : 's'}\n`);
        break;
      }
    }
    return ExitCode.Ok;
  } catch (e) {
    if (!(e instanceof ControlError)) throw e; // a bug of ours: let it show with its stack
    io.error.write(`${io.program}: ${oneLine(e.message)}\n`);
    return EXIT_BY_FAILURE[e.reason];
  }
}

/** Whatever the supervisor sent, the operator gets one line. */
function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, '; ');
}
